//! Orchestrator cost per participant: `loadtest run` with many sessions against a local STAND-IN
//! WebDriver server (not a browser: it answers the WebDriver calls the tool makes, with a realistic
//! stats sample of 10 streams), so only the tool's own CPU and memory are measured.
//!
//! `cargo bench --bench orchestrator [-- PARTICIPANTS [STATS_INTERVAL]]` prints the figures recorded in
//! docs/benchmarks.md. Target: under 2 MB and under 0.1 % of a core per participant.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

fn sample_json() -> Value {
    let mut rows = vec![
        json!({"peer": "", "direction": "send", "kind": "video", "bitrate_kbps": 300.0, "fps": 15.0,
        "width": 320, "height": 240, "packets_lost": 0, "loss_ratio": 0.0, "jitter_ms": 1.0, "rtt_ms": 1.0,
        "freeze_count": null, "freeze_ms": null, "quality_limitation": "none", "remote_address": "127.0.0.1:10000", "bytes": 123456}),
    ];
    for i in 0..9 {
        rows.push(json!({"peer": format!("peer{i}"), "direction": "recv", "kind": "video", "bitrate_kbps": 280.5, "fps": 14.9,
            "width": 320, "height": 240, "packets_lost": 1, "loss_ratio": 0.001, "jitter_ms": 2.0, "rtt_ms": 1.0,
            "freeze_count": 0, "freeze_ms": 0, "quality_limitation": null, "remote_address": "127.0.0.1:10000", "bytes": 654321}));
    }
    json!({"ts": 0, "state": {"phase": "joined", "joined": true, "ice": "connected", "error": null, "members": 10, "detail": ""}, "rows": rows})
}

/// A minimal HTTP/1.1 server speaking the WebDriver subset `loadtest run` uses.
async fn stand_in(sessions: Arc<AtomicU64>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sample = Arc::new(json!({ "value": sample_json() }).to_string());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let (sessions, sample) = (sessions.clone(), sample.clone());
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(16384);
                loop {
                    let Some((head, body)) = common::read_request(&mut sock, &mut buf).await else {
                        return;
                    };
                    let mut parts = head.split_whitespace();
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
                    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
                    let value: String = match (method, seg.as_slice()) {
                        ("POST", ["session"]) => {
                            let id = sessions.fetch_add(1, Ordering::Relaxed);
                            json!({"value": {"sessionId": format!("s{id}"), "capabilities": {"browserName": "chrome"}}}).to_string()
                        }
                        ("GET", [""]) | ("GET", []) => "ok".into(),
                        ("GET", ["status"]) => {
                            let slots: Vec<Value> =
                                (0..1000).map(|_| json!({"session": null})).collect();
                            json!({"value": {"ready": true, "nodes": [{"uri": "http://stand-in", "availability": "UP", "slots": slots}]}}).to_string()
                        }
                        ("GET", ["session", _, "url"]) => {
                            json!({"value": "about:blank"}).to_string()
                        }
                        ("POST", ["session", _, "execute", "async"])
                            if !body.contains("__lt.leave") =>
                        {
                            sample.as_str().to_string()
                        }
                        ("POST", ["session", _, "execute", "async"]) => {
                            json!({"value": "ok"}).to_string()
                        }
                        ("POST", ["session", _, "execute", "sync"])
                            if body.contains("readyState") =>
                        {
                            json!({"value": "complete"}).to_string()
                        }
                        _ => json!({"value": null}).to_string(),
                    };
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{value}",
                        value.len()
                    );
                    if sock.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// (utime+stime seconds, RSS kB) of a process.
fn proc_usage(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // CLK_TCK on Linux
    let cpu = (f[11].parse::<f64>().ok()? + f[12].parse::<f64>().ok()?) / ticks;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    Some((cpu, rss))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let interval = args.get(1).cloned().unwrap_or_else(|| "1s".into());
    let per_conf = 10.min(n);
    let confs = n.div_ceil(per_conf);
    let sessions = Arc::new(AtomicU64::new(0));
    let port = stand_in(sessions.clone()).await;
    let tmp = std::env::temp_dir().join(format!("lt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let scenario = tmp.join("bench.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"bench\"\n[target]\nkind = \"jitsi\"\nurl = \"http://127.0.0.1:{port}/\"\n[webdriver]\nurl = \"http://127.0.0.1:{port}/\"\n\
             [load]\nconferences = {confs}\nparticipants_per_conference = {per_conf}\naudio_senders = 0\nduration = \"60s\"\nramp = \"10s\"\n\
             [media]\nvideo = \"tiny\"\n[stats]\ninterval = \"{interval}\"\n"
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let out = tmp.join("run");
    let start = Instant::now();
    let mut child = Command::new(bin)
        .args([
            "run",
            "-s",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak_rss = 0u64;
    let mut last = (0.0, 0u64);
    let mut steady: HashMap<&str, (f64, Instant)> = HashMap::new();
    loop {
        if let Some(u) = proc_usage(pid) {
            peak_rss = peak_rss.max(u.1);
            last = u;
            let t = start.elapsed();
            // Steady state: every session open, between 15 s and 55 s.
            if t > Duration::from_secs(15) && !steady.contains_key("a") {
                steady.insert("a", (u.0, Instant::now()));
            }
            if t > Duration::from_secs(55) && !steady.contains_key("b") {
                steady.insert("b", (u.0, Instant::now()));
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = start.elapsed().as_secs_f64();
    let code = child.wait().unwrap().code();
    let (a, b) = (steady["a"], steady["b"]);
    let steady_core = (b.0 - a.0) / b.1.duration_since(a.1).as_secs_f64();
    let rows = std::fs::read_to_string(out.join("client_stats.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0);
    println!(
        "participants {n} ({confs} x {per_conf}), stats interval {interval}, exit {code:?}, wall {wall:.1} s, sessions created {}",
        sessions.load(Ordering::Relaxed)
    );
    println!("client_stats rows written: {rows}");
    println!(
        "loadtest CPU: {:.2} s total, {:.3} % of a core on average",
        last.0,
        100.0 * last.0 / wall
    );
    println!(
        "steady state (15-55 s, every participant in call): {:.2} % of a core, {:.4} % per participant",
        100.0 * steady_core,
        100.0 * steady_core / n as f64
    );
    println!(
        "peak RSS {:.1} MB, {:.3} MB per participant",
        peak_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0 / n as f64
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
