//! Real browsers on this machine: participants per core per media preset before senders' frame rate
//! collapses, the tool's own cost next to the browsers', and join times through a real Selenium Grid.
//!
//! `cargo bench --bench capacity [-- PRESETS]` (default `tiny,small,vga`) starts the Janus sandbox and,
//! per preset, runs one conference of N video senders (no audio) for N = 4, 8, 12, 16 until the median
//! sender frame rate falls under 80 % of the preset's. Then 8 participants join at once through a
//! hub + node grid. Prints the tables recorded in docs/benchmarks.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use loadtest::media::VIDEO_PRESETS;
use loadtest::results::{ClientStatRow, ParticipantRow, read_csv};

/// Machine-wide busy fraction between two /proc/stat readings.
fn cpu_times() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    let f: Vec<u64> = s
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = f[3] + f[4];
    (f.iter().sum(), idle)
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Outcome {
    ok: usize,
    send_fps: f64,
    recv_fps: f64,
    machine: f64,
    tool_cpu: f64,
    tool_rss_mb: f64,
    joins: Vec<f64>,
    sessions: Vec<f64>,
}

fn run(
    janus: &str,
    grid: Option<&str>,
    preset: &str,
    n: u32,
    duration: u64,
    join_delay: &str,
) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec![
        "run".to_string(),
        "-s".into(),
        "scenarios/local-janus.toml".into(),
        "--set".into(),
        format!("target.url={janus}"),
        "--set".into(),
        "load.conferences=1".into(),
        "--set".into(),
        format!("load.participants_per_conference={n}"),
        "--set".into(),
        format!("load.video_senders={n}"),
        "--set".into(),
        format!("load.duration={duration}s"),
        "--set".into(),
        format!("load.join_delay={join_delay}"),
        "--set".into(),
        format!("media.video={preset}"),
        "--set".into(),
        format!("load.room_prefix=cap{preset}{n}x"),
        "--out".into(),
        out.to_str().unwrap().into(),
    ];
    if let Some(g) = grid {
        args.extend(["--set".into(), format!("webdriver.url={g}/wd/hub")]);
    }
    let (t0, i0) = cpu_times();
    let start = Instant::now();
    let mut child = Command::new(common::bin())
        .args(&args)
        .env("LOADTEST_CACHE", common::repo().join(".cache/loadtest"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut tool_cpu, mut rss) = (0.0, 0u64);
    while child.try_wait().unwrap().is_none() {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", child.id())) {
            let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
                .split_whitespace()
                .collect();
            tool_cpu = (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0;
            rss = rss.max(f[21].parse::<u64>().unwrap() * 4);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let wall = start.elapsed().as_secs_f64();
    let (t1, i1) = cpu_times();
    let machine = 1.0 - (i1 - i0) as f64 / (t1 - t0) as f64;
    let parts: Vec<ParticipantRow> = read_csv(&out.join("participants.csv")).unwrap_or_default();
    let stats: Vec<ClientStatRow> = read_csv(&out.join("client_stats.csv")).unwrap_or_default();
    // Steady state: after everyone joined (ts sorted), excluding the last 4 s (hang-up).
    let mut ts: Vec<&str> = stats.iter().map(|r| r.ts.as_str()).collect();
    ts.sort();
    let first = ts.first().copied().unwrap_or("");
    let last = ts.last().copied().unwrap_or("");
    let parse = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp_millis())
            .unwrap_or(0)
    };
    let (from, to) = (parse(first) + 10_000, parse(last) - 4_000);
    let window = |r: &&ClientStatRow| (from..to).contains(&parse(&r.ts));
    let fps = |dir: &str| {
        stats
            .iter()
            .filter(window)
            .filter(|r| r.direction == dir && r.kind == "video")
            .filter_map(|r| r.fps)
            .collect::<Vec<_>>()
    };
    Outcome {
        ok: parts
            .iter()
            .filter(|p| p.outcome == loadtest::results::Outcome::Completed)
            .count(),
        send_fps: median(fps("send")),
        recv_fps: median(fps("recv")),
        machine,
        tool_cpu: 100.0 * tool_cpu / wall,
        tool_rss_mb: rss as f64 / 1024.0,
        joins: parts
            .iter()
            .filter_map(|p| p.join_ms.map(|v| v as f64))
            .collect(),
        sessions: parts
            .iter()
            .filter_map(|p| p.session_ms.map(|v| v as f64))
            .collect(),
    }
}

#[tokio::main]
async fn main() {
    let presets: Vec<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "tiny,small,vga".into())
        .split(',')
        .map(str::to_string)
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let sb = common::janus(tmp.path()).await;
    println!(
        "| preset | participants | ok | sender fps (median) | received fps (median) | machine CPU | loadtest CPU (% of a core) | loadtest RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for preset in &presets {
        let target = VIDEO_PRESETS.iter().find(|p| p.name == preset).unwrap().fps as f64;
        for n in (4..=16).step_by(4) {
            let o = run(&sb.janus_url, None, preset, n, 30, "1s");
            println!(
                "| {preset} | {n} | {}/{n} | {:.1} | {:.1} | {:.0} % | {:.2} | {:.0} MB |",
                o.ok,
                o.send_fps,
                o.recv_fps,
                100.0 * o.machine,
                o.tool_cpu,
                o.tool_rss_mb
            );
            if o.ok < n as usize || o.send_fps.is_nan() || o.send_fps < 0.8 * target {
                println!("| {preset} | collapse at {n} | | | | | | |");
                break;
            }
        }
    }
    let grid = common::start_grid(&tmp.path().join("grid"), 8);
    println!();
    for (delay, how) in [("0s", "joining at once"), ("2s", "2 s apart")] {
        let o = run(&sb.janus_url, Some(&grid.url), "tiny", 8, 15, delay);
        println!(
            "grid (hub + node, 8 participants {how}, tiny): ok {}/8, session p50 {:.0} ms p95 {:.0} ms, join p50 {:.0} ms p95 {:.0} ms",
            o.ok,
            pct(o.sessions.clone(), 0.5),
            pct(o.sessions, 0.95),
            pct(o.joins.clone(), 0.5),
            pct(o.joins, 0.95)
        );
    }
    drop(grid);
    sb.stop().await;
}
