//! What the quality measurement costs: browser CPU per participant with quality.js on and off.
//!
//! `cargo bench --bench quality_cost [-- PRESETS [N [SECS [REPS]]]]` (default `tiny,small,vga`, 4
//! participants, 30 s, 3) starts the Janus sandbox and, per preset, runs one room of N video senders that
//! all receive each other, REPS times with the measurement off (`?quality=0`) and on, alternately. It reports the
//! CPU time of every browser process (the ChromeDriver's process group, from /proc) per participant, the
//! decoded frame rate, and the measurement's own time in its worker as the page counts it (`cost_ms`).
//! Prints the table recorded in docs/benchmarks.md.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/quality_support/mod.rs"]
mod quality_support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use loadtest::media::VIDEO_PRESETS;
use loadtest::webdriver::chromedriver::ChromeDriver;
use quality_support::*;

/// CPU ticks (user + system) of every process in process group `pgid`.
fn group_ticks(pgid: u32) -> HashMap<u32, u64> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces): state ppid pgrp ... utime(14) stime(15).
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) {
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            out.insert(pid, t(11) + t(12));
        }
    }
    out
}

const FRAMES_DECODED: &str = "var done = arguments[arguments.length - 1];
  Promise.all(__lt.pcs().map(function (pc) { return pc.getStats(); })).then(function (rs) {
    var n = 0; rs.forEach(function (r) { r.forEach(function (s) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.framesDecoded || 0; }); });
    done(n); }, function () { done(0); });";

struct Run {
    cpu_pct: f64,
    recv_fps: f64,
    cost_pct: f64,
}

async fn run(janus: &str, page: &str, preset: usize, n: usize, secs: u64, on: bool) -> Run {
    let driver = ChromeDriver::start(Path::new("/usr/bin/chromedriver"))
        .await
        .unwrap();
    let pgid = driver.pid().unwrap();
    let cam = quality_support::preset(preset);
    let room = format!("cost{}{}", std::process::id(), common::free_port());
    let query = if on { "" } else { "&quality=0" };
    let mut peers = Vec::new();
    for i in 0..n {
        peers.push(join(&driver, page, janus, &room, &format!("p{i}"), &cam, query).await);
    }
    until_receiving(&peers).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let decoded = |p: &Peer| {
        let c = p.client.clone();
        async move {
            c.execute_async(FRAMES_DECODED, vec![])
                .await
                .unwrap()
                .as_f64()
                .unwrap_or(0.0)
        }
    };
    let mut f0 = 0.0;
    for p in &peers {
        f0 += decoded(p).await;
        if on {
            take(p).await;
        }
    }
    let before = group_ticks(pgid);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let after = group_ticks(pgid);
    let (mut f1, mut cost_ms) = (0.0, 0.0);
    for p in &peers {
        f1 += decoded(p).await;
        if on {
            cost_ms += take(p).await.cost_ms;
        }
    }
    let ticks: u64 = after
        .iter()
        .map(|(pid, t)| t.saturating_sub(*before.get(pid).unwrap_or(t)))
        .sum();
    leave(peers).await;
    driver.stop().await;
    let per = |v: f64| v / secs as f64 / n as f64 * 100.0;
    Run {
        cpu_pct: per(ticks as f64 / 100.0),
        recv_fps: (f1 - f0) / secs as f64 / (n * (n - 1)) as f64,
        cost_pct: per(cost_ms / 1000.0),
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let presets = args
        .first()
        .cloned()
        .unwrap_or_else(|| "tiny,small,vga".into());
    let n: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(4);
    let secs: u64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(30);
    let reps: usize = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(3);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tmp = tempfile::tempdir().unwrap();
        let sb = common::janus(tmp.path()).await;
        let page = page_server().await;
        println!("| preset | participants | browser CPU per participant, off / on (% of a core) | extra | received fps off / on | quality.js worker time (% of a core per participant) |");
        println!("|---|---|---|---|---|---|");
        for name in presets.split(',') {
            let i = VIDEO_PRESETS.iter().position(|p| p.name == name).expect("a preset name");
            let (mut off, mut on) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                off.push(run(&sb.janus_url, &page, i, n, secs, false).await);
                on.push(run(&sb.janus_url, &page, i, n, secs, true).await);
            }
            let cpu = |v: &[Run]| mean(&v.iter().map(|r| r.cpu_pct).collect::<Vec<_>>());
            let fps = |v: &[Run]| mean(&v.iter().map(|r| r.recv_fps).collect::<Vec<_>>());
            let (c0, c1) = (cpu(&off), cpu(&on));
            println!(
                "| {name} | {n} | {c0:.1} / {c1:.1} (runs: {}) | {:+.1} % | {:.1} / {:.1} | {:.2} |",
                off.iter().chain(&on).map(|r| format!("{:.1}", r.cpu_pct)).collect::<Vec<_>>().join(", "),
                (c1 - c0) / c0 * 100.0,
                fps(&off),
                fps(&on),
                mean(&on.iter().map(|r| r.cost_pct).collect::<Vec<_>>()),
            );
        }
    });
}
