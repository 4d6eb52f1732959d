//! Cost of metrics collection: 20 bridges (`/colibri/stats` + `/metrics`) and 10 PromQL queries polled
//! every second, for 30 s, against STAND-IN servers (a python3 stdlib process serving the JVB fixtures
//! and Prometheus-shaped answers), measured as this process's CPU time.
//!
//! `cargo bench --bench metrics_poll` prints the figure recorded in docs/benchmarks.md.
//! Target: under 2 % of one core.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use loadtest::live::Tally;
use loadtest::metrics::{self, Source, colibri::Jvb, prometheus::Prometheus};
use loadtest::results::ResultsDir;
use loadtest::scenario::{JvbSource, PrometheusSource};
use tokio_util::sync::CancellationToken;

const SERVER: &str = r#"
import http.server, json, sys, time
fixtures = sys.argv[2]
stats = open(fixtures + '/colibri-stats-current.json').read().encode()
text = open(fixtures + '/metrics.txt').read().encode()
def vector():
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"pod": "shard-0-jvb-%d" % i}, "value": [time.time(), "1.25"]} for i in range(4)]}}).encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a): pass
    def do_GET(self):
        body = stats if self.path.endswith('/colibri/stats') else text if self.path.endswith('/metrics') else vector()
        self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"#;

fn self_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = common::free_port();
    let fixtures = common::repo().join("tests/fixtures/jvb");
    let _server = common::Procs(vec![
        Command::new("python3")
            .args(["-c", SERVER, &port.to_string(), fixtures.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let base = format!("http://127.0.0.1:{port}");
    let timeout = Duration::from_secs(2);
    let mut sources: Vec<Arc<Source>> = (0..20)
        .map(|i| {
            let cfg = JvbSource {
                name: Some(format!("jvb-{i}")),
                url: format!("{base}/jvb{i}"),
                media_address: None,
                prometheus: true,
            };
            Arc::new(Source::Jvb(Jvb::new(&cfg, timeout)))
        })
        .collect();
    let mut prom: PrometheusSource =
        toml::from_str(&format!("url = \"{base}\"\nbuiltins = []")).unwrap();
    for q in 0..10 {
        prom.queries
            .insert(format!("q{q}"), format!("sum by (pod) (rate(x{q}[1m]))"));
    }
    sources.push(Arc::new(Source::Prometheus(Prometheus::new(
        &prom, "1m", timeout,
    ))));
    let tmp = tempfile::tempdir().unwrap();
    let dir = ResultsDir::create(&tmp.path().join("run")).unwrap();
    let (rec, writer) = dir.spawn_writer().unwrap();
    let stop = CancellationToken::new();
    let secs = 30;
    let cpu0 = self_cpu();
    let t0 = Instant::now();
    let task = tokio::spawn(metrics::collect(
        sources,
        Duration::from_secs(1),
        timeout,
        rec.clone(),
        (Arc::new(Tally::default()), None),
        stop.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.cancel();
    let gaps = task.await.unwrap();
    let (cpu, wall) = (self_cpu() - cpu0, t0.elapsed().as_secs_f64());
    drop(rec);
    writer.await.unwrap().unwrap();
    let rows = std::fs::read_to_string(dir.path().join("server_metrics.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    println!(
        "20 bridges (colibri + /metrics) + 10 PromQL queries every 1 s for {secs} s: {rows} rows, gaps {}",
        gaps.len()
    );
    println!(
        "collector CPU: {cpu:.2} s in {wall:.1} s = {:.2} % of one core",
        100.0 * cpu / wall
    );
}
