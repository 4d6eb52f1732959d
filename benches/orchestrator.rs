//! Orchestrator cost per participant: `loadtest run` with many sessions against a local STAND-IN
//! WebDriver server (not a browser: it answers the WebDriver calls the tool makes, with a realistic
//! stats sample of 10 streams), so only the tool's own CPU and memory are measured.
//!
//! `cargo bench --bench orchestrator [-- PARTICIPANTS [STATS_INTERVAL [no-export]]]` prints the figures recorded in
//! docs/benchmarks.md. Target: under 2 MB and under 0.1 % of a core per participant, and 10,000
//! participants at the default 5 s interval within one core and 1 GB (`-- 10000 5s`). The stand-in
//! grid has one slot per participant on 50 nodes; the run exports its live state (`--metrics-listen`),
//! scraped every 5 s like a Prometheus would.

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

/// Stand-in grid nodes the sessions are spread over (`/graphql` answers).
const NODES: u64 = 50;

/// A minimal HTTP/1.1 server speaking the WebDriver subset `loadtest run` uses, with `slots` slots.
async fn stand_in(sessions: Arc<AtomicU64>, slots: usize) -> u16 {
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
                                (0..slots).map(|_| json!({"session": null})).collect();
                            json!({"value": {"ready": true, "nodes": [{"uri": "http://stand-in", "availability": "UP", "slots": slots}]}}).to_string()
                        }
                        ("POST", ["graphql"]) => {
                            let n = body
                                .bytes()
                                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                            json!({"data": {"session": {"nodeUri": format!("http://stand-in-node-{}:5555", n % NODES)}}}).to_string()
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

/// Open file descriptors and threads of a process.
fn fds_and_threads(pid: u32) -> (usize, usize) {
    let count = |d: String| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0);
    (
        count(format!("/proc/{pid}/fd")),
        count(format!("/proc/{pid}/task")),
    )
}

/// Raise this process's soft open-files limit to its hard limit (the stand-in holds one socket per
/// session); returns the limit it had, which `loadtest` is started with (it raises its own).
fn raise_nofile() -> libc::rlimit {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut l);
        let raised = libc::rlimit {
            rlim_cur: l.rlim_max,
            rlim_max: l.rlim_max,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
    }
    l
}

/// Scrape the run's endpoint every 5 s like a Prometheus would; returns (scrapes, largest body
/// bytes, series in it, slowest scrape).
async fn scrape(
    url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (u32, usize, usize, Duration) {
    let http = reqwest::Client::new();
    let (mut n, mut bytes, mut series, mut slowest) = (0, 0, 0, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let t = Instant::now();
        if let Ok(r) = http.get(&url).send().await
            && let Ok(text) = r.text().await
        {
            slowest = slowest.max(t.elapsed());
            n += 1;
            if text.len() > bytes {
                bytes = text.len();
                series = text.lines().filter(|l| !l.starts_with('#')).count();
            }
        }
    }
    (n, bytes, series, slowest)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);
    let interval = args.get(1).cloned().unwrap_or_else(|| "1s".into());
    let export = args.get(2).is_none_or(|a| a != "no-export");
    let user_limit = raise_nofile();
    let nofile = user_limit.rlim_cur;
    let per_conf = 10.min(n);
    let confs = n.div_ceil(per_conf);
    // Joins spread at 200 per second at most; everyone is in the call for 60 s after the last join.
    let ramp = (u64::from(n) / 200).max(10);
    let duration = ramp + 60;
    let sessions = Arc::new(AtomicU64::new(0));
    let port = stand_in(sessions.clone(), n as usize).await;
    let tmp = std::env::temp_dir().join(format!("lt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let scenario = tmp.join("bench.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"bench\"\n[target]\nkind = \"jitsi\"\nurl = \"http://127.0.0.1:{port}/\"\n[webdriver]\nurl = \"http://127.0.0.1:{port}/\"\n\
             [load]\nconferences = {confs}\nparticipants_per_conference = {per_conf}\naudio_senders = 0\nduration = \"{duration}s\"\nramp = \"{ramp}s\"\n\
             [media]\nvideo = \"tiny\"\n[stats]\ninterval = \"{interval}\"\n[timeouts]\nhangup = \"60s\"\n"
        ),
    )
    .unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let out = tmp.join("run");
    let start = Instant::now();
    let mut child = Command::new(bin);
    child.args([
        "run",
        "-s",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-report",
    ]);
    if export {
        child.args([
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
            "--set",
            "export.linger=0s",
        ]);
    }
    child
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(tmp.join("stderr.txt")).unwrap());
    // SAFETY: setrlimit is async-signal-safe; the child starts with the user's own limit.
    unsafe {
        use std::os::unix::process::CommandExt;
        child.pre_exec(move || {
            libc::setrlimit(libc::RLIMIT_NOFILE, &user_limit);
            Ok(())
        });
    }
    let mut child = child.spawn().unwrap();
    let pid = child.id();
    let stop_scrape = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = tokio::spawn(scrape(
        format!("http://127.0.0.1:{metrics_port}/metrics"),
        stop_scrape.clone(),
    ));
    let (mut peak_rss, mut peak_fds, mut peak_threads) = (0u64, 0usize, 0usize);
    let mut last = (0.0, 0u64);
    let mut steady: HashMap<&str, (f64, Instant)> = HashMap::new();
    let (from, to) = (
        Duration::from_secs(ramp + 5),
        Duration::from_secs(duration - 5),
    );
    loop {
        if let Some(u) = proc_usage(pid) {
            let (fds, threads) = fds_and_threads(pid);
            peak_fds = peak_fds.max(fds);
            peak_threads = peak_threads.max(threads);
            peak_rss = peak_rss.max(u.1);
            last = u;
            let t = start.elapsed();
            // Steady state: every participant in the call.
            if t > from && !steady.contains_key("a") {
                steady.insert("a", (u.0, Instant::now()));
            }
            if t > to && !steady.contains_key("b") {
                steady.insert("b", (u.0, Instant::now()));
            }
            // The hang-up: from the first participant's leave time to the end.
            if t > Duration::from_secs(duration) && !steady.contains_key("c") {
                steady.insert("c", (u.0, Instant::now()));
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let wall = start.elapsed().as_secs_f64();
    let code = child.wait().unwrap().code();
    stop_scrape.store(true, Ordering::Relaxed);
    let (scrapes, body, series, slowest) = scraper.await.unwrap();
    let (a, b, c) = (steady["a"], steady["b"], steady["c"]);
    let steady_core = (b.0 - a.0) / b.1.duration_since(a.1).as_secs_f64();
    let rows = std::fs::read_to_string(out.join("client_stats.csv"))
        .map(|t| t.lines().count().saturating_sub(1))
        .unwrap_or(0);
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap_or_default())
            .unwrap_or_default();
    println!(
        "participants {n} ({confs} x {per_conf}), ramp {ramp} s, {duration} s each, stats interval {interval}, open-files soft limit loadtest starts with {nofile}"
    );
    println!(
        "exit {code:?}, wall {wall:.1} s, sessions created {}, completed {}, failed {}",
        sessions.load(Ordering::Relaxed),
        run["completed"],
        run["failed"]
    );
    println!("client_stats rows written: {rows}");
    println!(
        "loadtest CPU: {:.2} s total, {:.3} % of a core on average",
        last.0,
        100.0 * last.0 / wall
    );
    println!(
        "steady state ({}-{} s, every participant in call): {:.2} % of a core, {:.4} % per participant",
        from.as_secs(),
        to.as_secs(),
        100.0 * steady_core,
        100.0 * steady_core / n as f64
    );
    println!(
        "hang-up (from {duration} s to the end, {:.1} s): {:.2} s CPU",
        c.1.elapsed().as_secs_f64(),
        last.0 - c.0
    );
    println!(
        "peak RSS {:.1} MB, {:.3} MB per participant; peak open files {peak_fds}, peak threads {peak_threads}",
        peak_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0 / n as f64
    );
    println!(
        "metrics endpoint: {scrapes} scrapes, largest {:.1} kB with {series} samples, slowest {} ms",
        body as f64 / 1000.0,
        slowest.as_millis()
    );
    let stderr = std::fs::read_to_string(tmp.join("stderr.txt")).unwrap_or_default();
    for l in stderr
        .lines()
        .filter(|l| l.contains("warning") || l.contains("error"))
        .take(5)
    {
        println!("stderr: {l}");
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
