//! Real browsers on this machine: participants per core per media preset before senders' frame rate
//! collapses, the tool's own cost next to the browsers', and join times through a real Selenium Grid.
//!
//! `cargo bench --bench capacity [-- PRESETS]` (default `tiny,small,vga`) starts the Janus sandbox and,
//! per preset, runs one conference of N video senders (no audio) for N = 4, 8, 12, 16 until the median
//! sender frame rate falls under 80 % of the preset's. Then 8 participants join at once through a
//! hub + node grid. Prints the tables recorded in docs/benchmarks.md.
//!
//! `cargo bench --bench capacity -- --density [PRESET]` (default `small`) measures the density modes side
//! by side instead: one browser per participant, several per browser (`participants_per_browser`),
//! several clients per page (`participants_per_page = 6`, over Janus's WebSocket API), and each with
//! received video discarded (`receive_video = "discard"`). For each mode N grows by 4 until a run stops
//! being valid under the rule: every participant completes, the median sender frame rate stays
//! at 90 % of the camera's or more, and at most 5 % of sent-video samples are limited by `cpu`.
//! `--max N` stops every mode at N (a quick check that the modes run; default 40).

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
    cpu_limited: f64,
    send_fps: f64,
    recv_fps: f64,
    machine: f64,
    tool_cpu: f64,
    tool_rss_mb: f64,
    joins: Vec<f64>,
    sessions: Vec<f64>,
}

/// The demo scenario.
const DEMO: &str = "scenarios/local-janus.toml";

/// The demo scenario without its thresholds (a received-fps threshold is refused with `discard`).
const DENSITY_SCENARIO: &str = "name = \"density\"\n[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n[load]\nconferences = 1\nparticipants_per_conference = 1\naudio_senders = 0\nduration = \"30s\"\n[media]\nreceive_audio = false\n[stats]\ninterval = \"2s\"\n";

#[allow(clippy::too_many_arguments)]
fn run(
    janus: &str,
    grid: Option<&str>,
    preset: &str,
    n: u32,
    duration: u64,
    join_delay: &str,
    scenario: &str,
    extra: &[String],
) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec![
        "run".to_string(),
        "-s".into(),
        scenario.into(),
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
    for e in extra {
        args.extend(["--set".into(), e.clone()]);
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
    let sent: Vec<&ClientStatRow> = stats
        .iter()
        .filter(window)
        .filter(|r| r.direction == "send" && r.kind == "video")
        .collect();
    let limited = sent
        .iter()
        .filter(|r| r.quality_limitation == "cpu")
        .count();
    Outcome {
        cpu_limited: limited as f64 / sent.len().max(1) as f64,
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

/// The density modes side by side (see the module doc).
async fn density(preset: &str, max: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let sb = common::janus(tmp.path()).await;
    let scenario = tmp.path().join("density.toml");
    std::fs::write(&scenario, DENSITY_SCENARIO).unwrap();
    let scenario = scenario.to_str().unwrap();
    let target = VIDEO_PRESETS.iter().find(|p| p.name == preset).unwrap().fps as f64;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", load.trim());
    println!(
        "| mode | participants | ok | sender fps (median) | cpu-limited samples | received fps (median) | machine CPU | valid |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    // (name, pages per browser, clients per page, receive_video)
    let modes: [(&str, u32, u32, &str); 6] = [
        ("one browser per participant", 1, 1, "decode"),
        ("4 per browser", 4, 1, "decode"),
        ("6 per page", 1, 6, "decode"),
        ("one browser per participant, discard", 1, 1, "discard"),
        ("4 per browser, discard", 4, 1, "discard"),
        ("6 per page, discard", 1, 6, "discard"),
    ];
    let mut best = Vec::new();
    for (name, per, page, recv) in modes {
        let mut held = 0;
        for n in (4..=max).step_by(4) {
            let mut extra = vec![
                format!("load.participants_per_browser={per}"),
                format!("load.participants_per_page={page}"),
                format!("media.receive_video={recv}"),
            ];
            if page > 1 {
                // More than 4 Janus sessions per browser: the WebSocket API (scenario::packing).
                extra.push(format!("target.janus.websocket={}", sb.ws_url));
            }
            let o = run(
                &sb.janus_url,
                None,
                preset,
                n,
                30,
                "500ms",
                scenario,
                &extra,
            );
            let valid = o.ok == n as usize && o.send_fps >= 0.9 * target && o.cpu_limited <= 0.05;
            println!(
                "| {name} | {n} | {}/{n} | {:.1} | {:.0} % | {} | {:.0} % | {} |",
                o.ok,
                o.send_fps,
                100.0 * o.cpu_limited,
                if recv == "discard" {
                    "not measured".to_string()
                } else {
                    format!("{:.1}", o.recv_fps)
                },
                100.0 * o.machine,
                if valid { "yes" } else { "no" }
            );
            if !valid {
                break;
            }
            held = n;
        }
        best.push((name, held));
    }
    println!();
    println!("| mode | largest valid N | participants per core | vs one browser |");
    println!("|---|---|---|---|");
    let base = best[0].1.max(1) as f64;
    for (name, held) in &best {
        println!(
            "| {name} | {held} | {:.1} | {:.2}x |",
            *held as f64 / cores,
            *held as f64 / base
        );
    }
    sb.stop().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--density") {
        let preset = args
            .iter()
            .enumerate()
            .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--max"))
            .map_or("small", |(_, a)| a.as_str());
        let max = args
            .iter()
            .position(|a| a == "--max")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(40);
        density(preset, max).await;
        return;
    }
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
            let o = run(&sb.janus_url, None, preset, n, 30, "1s", DEMO, &[]);
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
        let o = run(
            &sb.janus_url,
            Some(&grid.url),
            "tiny",
            8,
            15,
            delay,
            DEMO,
            &[],
        );
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
