//! Shared helpers for the end-to-end tests: real Janus, real Selenium Grid, real browsers, all on
//! loopback. Components are started on free ports and stopped when their guard drops.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use loadtest::results::{self, ClientStatRow, EventRow, ParticipantRow, RunInfo};
use loadtest::sandbox::{Options as SandboxOptions, Sandbox};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A real component a test needs; [`require`] checks they are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Chromium and ChromeDriver (Debian `chromium`, `chromium-driver`).
    Chromium,
    /// Janus and its janus.js (Debian `janus`, `janus-demos`).
    Janus,
    /// Java and the Selenium Grid jar (`scripts/setup.sh` fetches it).
    Grid,
    /// Prometheus and node_exporter.
    Prometheus,
    /// tcpdump (the off-loopback capture).
    Tcpdump,
    /// The Prometheus Pushgateway (Debian `prometheus-pushgateway`).
    Pushgateway,
}

impl Needs {
    fn missing(self) -> Option<&'static str> {
        let file = |p: &str| Path::new(p).is_file();
        let on_path = |cmd: &str| {
            std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        };
        let ok = match self {
            Needs::Chromium => file("/usr/bin/chromium") && file("/usr/bin/chromedriver"),
            Needs::Janus => {
                file("/usr/bin/janus") && file("/usr/share/javascript/janus-gateway/janus.js")
            }
            Needs::Grid => on_path("java") && selenium_jar_path().is_file(),
            Needs::Prometheus => {
                file("/usr/bin/prometheus") && file("/usr/bin/prometheus-node-exporter")
            }
            Needs::Tcpdump => on_path("tcpdump"),
            Needs::Pushgateway => file("/usr/bin/prometheus-pushgateway"),
        };
        (!ok).then_some(match self {
            Needs::Chromium => "Chromium and ChromeDriver",
            Needs::Janus => "Janus",
            Needs::Grid => "Java and the Selenium Grid jar",
            Needs::Prometheus => "Prometheus and node_exporter",
            Needs::Tcpdump => "tcpdump",
            Needs::Pushgateway => "the Prometheus Pushgateway",
        })
    }
}

/// Fail the calling test with one line when a component it needs is missing (no panic backtrace, no
/// cascade of errors from half-started components).
pub fn require(needs: &[Needs]) {
    let missing: Vec<&str> = needs.iter().filter_map(|n| n.missing()).collect();
    if !missing.is_empty() {
        eprintln!(
            "this test needs {} on this machine: run ./scripts/setup.sh",
            missing.join(", ")
        );
        std::panic::resume_unwind(Box::new("missing components"));
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The loadtest binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_loadtest"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Janus sandbox on free ports with its own RTP range.
pub async fn janus(dir: &Path) -> Sandbox {
    sandbox(dir, false).await
}

/// A Janus sandbox on free ports; `isolated`: in its own network namespace behind a veth the test can
/// cap (root, iproute2).
pub async fn sandbox(dir: &Path, isolated: bool) -> Sandbox {
    let base = 21000 + (free_port() % 40) * 1000;
    Sandbox::start(&SandboxOptions {
        http_port: 0,
        ws_port: 0,
        admin_port: 0,
        rtp_ports: format!("{base}-{}", base + 999),
        dir: Some(dir.join("janus")),
        isolated,
        ..SandboxOptions::default()
    })
    .await
    .expect("the Janus sandbox starts (run ./scripts/setup.sh first)")
}

/// The `--set`s that point a scenario's target and Janus admin source at a sandbox.
pub fn sandbox_sets(sb: &Sandbox) -> Vec<String> {
    vec![
        format!("target.url={}", sb.janus_url),
        format!("metrics.janus.admin_url={}", sb.admin_url),
        format!(
            "metrics.janus.admin_secret_file={}",
            sb.dir.join("admin_secret").display()
        ),
    ]
}

fn selenium_jar_path() -> PathBuf {
    std::env::var_os("LOADTEST_SELENIUM_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/selenium/package/jar/selenium-server-4.48.0.jar"))
}

/// The Selenium server jar installed by scripts/setup.sh.
pub fn selenium_jar() -> PathBuf {
    let p = selenium_jar_path();
    assert!(
        p.is_file(),
        "Selenium jar {} missing: run ./scripts/setup.sh",
        p.display()
    );
    p
}

/// Kills its processes when dropped.
pub struct Procs(pub Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real Selenium Grid 4: one hub and one node (Chromium via chromedriver), on loopback.
pub struct Grid {
    pub url: String,
    /// The node of a one-node grid.
    pub node_uri: String,
    /// Every node, in the order given.
    pub node_uris: Vec<String>,
    pub procs: Procs,
}

pub fn start_grid(dir: &Path, slots: usize) -> Grid {
    let mut g = start_grid_nodes(dir, &[(slots, "")]);
    g.node_uri = g.node_uris.remove(0);
    g
}

/// A real Selenium Grid 4: one hub and one node per `(slots, stereotype extra)`; the extra is JSON
/// members added to the node's stereotype, e.g. `"nodename:applicationName": "sender"`.
pub fn start_grid_nodes(dir: &Path, nodes: &[(usize, &str)]) -> Grid {
    let jar = selenium_jar();
    let (hub, publish, subscribe) = (free_port(), free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let hub_toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {hub}\n[events]\npublish = \"tcp://127.0.0.1:{publish}\"\nsubscribe = \"tcp://127.0.0.1:{subscribe}\"\nbind = true\n[sessionqueue]\nsession-request-timeout = 60\nsession-retry-interval = 1\n[distributor]\nreject-unsupported-caps = true\n"
    );
    std::fs::write(dir.join("hub.toml"), hub_toml).unwrap();
    let spawn = |role: &str| {
        Command::new("java")
            .args(["-Xmx256m", "-jar"])
            .arg(&jar)
            .arg(if role == "hub" { "hub" } else { "node" })
            .arg("--config")
            .arg(dir.join(format!("{role}.toml")))
            .args(["--tracing", "false"])
            .stdout(Stdio::from(
                std::fs::File::create(dir.join(format!("{role}.log"))).unwrap(),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join(format!("{role}.err"))).unwrap(),
            ))
            .spawn()
            .unwrap()
    };
    let mut procs = vec![spawn("hub")];
    let mut node_uris = Vec::new();
    for (i, (slots, extra)) in nodes.iter().enumerate() {
        let node = free_port();
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        let node_toml = format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {node}\n[events]\npublish = \"tcp://127.0.0.1:{publish}\"\nsubscribe = \"tcp://127.0.0.1:{subscribe}\"\n[node]\ngrid-url = \"http://127.0.0.1:{hub}\"\ndetect-drivers = false\nselenium-manager = false\nmax-sessions = {slots}\noverride-max-sessions = true\nsession-timeout = 300\nheartbeat-period = 5\n[[node.driver-configuration]]\ndisplay-name = \"Chromium (Debian)\"\nwebdriver-executable = \"/usr/bin/chromedriver\"\nmax-sessions = {slots}\nstereotype = '{{\"browserName\": \"chrome\", \"goog:chromeOptions\": {{\"binary\": \"/usr/bin/chromium\"}}{extra}}}'\n"
        );
        let name = format!("node{i}");
        std::fs::write(dir.join(format!("{name}.toml")), node_toml).unwrap();
        procs.push(spawn(&name));
        node_uris.push(format!("http://127.0.0.1:{node}"));
    }
    let procs = Procs(procs);
    let url = format!("http://127.0.0.1:{hub}");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(s) = grid_status(&url)
            && s["value"]["ready"] == true
            && s["value"]["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == nodes.len())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "grid not ready in 90 s; see {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    Grid {
        url,
        node_uri: String::new(),
        node_uris,
        procs,
    }
}

/// `GET <grid>/status` with curl (a client independent of the tool's own).
pub fn grid_status(url: &str) -> Result<serde_json::Value, String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", &format!("{url}/status")])
        .output()
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Sessions running on the grid right now.
pub fn grid_sessions(url: &str) -> usize {
    let s = grid_status(url).unwrap();
    s["value"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["slots"].as_array().unwrap().iter())
        .filter(|slot| !slot["session"].is_null())
        .count()
}

/// Chromium processes alive (a leak check).
pub fn chromium_processes() -> usize {
    let out = Command::new("pgrep")
        .args(["-f", "chromium.*--use-fake-device-for-media-stream"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Run the binary to completion.
pub fn loadtest(args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .output()
        .unwrap()
}

/// Start the binary in the background.
pub fn spawn_loadtest(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub struct RunFiles {
    pub info: RunInfo,
    pub participants: Vec<ParticipantRow>,
    pub events: Vec<EventRow>,
    pub stats: Vec<ClientStatRow>,
}

/// Read and parse every results file (fails the test if any does not parse).
pub fn read_results(dir: &Path) -> RunFiles {
    RunFiles {
        info: results::read_run(dir).expect("run.json parses"),
        participants: results::read_csv(&dir.join("participants.csv"))
            .expect("participants.csv parses"),
        events: results::read_csv(&dir.join("events.csv")).expect("events.csv parses"),
        stats: results::read_csv(&dir.join("client_stats.csv")).expect("client_stats.csv parses"),
    }
}

impl RunFiles {
    /// Peers from which `participant` received video at fps > 0.
    pub fn video_peers(&self, participant: impl ToString) -> std::collections::BTreeSet<String> {
        let participant = participant.to_string();
        self.stats
            .iter()
            .filter(|r| r.participant.to_string() == participant && r.received() && r.video())
            .filter(|r| r.fps.is_some_and(|f| f > 0.0))
            .map(|r| r.peer.clone())
            .collect()
    }
    pub fn has_event(&self, participant: impl ToString, event: &str) -> bool {
        let participant = participant.to_string();
        self.events
            .iter()
            .any(|e| e.participant == participant && e.event.as_str() == event)
    }
}

/// Poll until `f` is true or the timeout passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    f()
}

/// Captures packets that leave loopback (DNS queries and new TCP connections to any address outside
/// 127.0.0.0/8) while alive; the network rule says there must be none.
pub struct OffLoopback {
    child: Child,
    file: PathBuf,
}

impl OffLoopback {
    pub fn start(dir: &Path) -> OffLoopback {
        let file = dir.join("off-loopback.txt");
        let child = Command::new("tcpdump")
            .args(["-i", "any", "-n", "-l", "-Q", "out"])
            .arg("(udp port 53 or udp port 5353 or (tcp[tcpflags] & tcp-syn != 0)) and not net 127.0.0.0/8 and not ip6 host ::1")
            .stdout(Stdio::from(std::fs::File::create(&file).unwrap()))
            .stderr(Stdio::null())
            .spawn()
            .expect("tcpdump (installed by scripts/setup.sh)");
        std::thread::sleep(Duration::from_millis(500));
        let mut child = child;
        // A capture that is not running would see nothing and pass: make sure it runs.
        assert!(
            child.try_wait().unwrap().is_none(),
            "tcpdump exited at once (bad filter or no permission)"
        );
        OffLoopback { child, file }
    }

    /// Stop and return the captured lines.
    pub fn stop(mut self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(300));
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// A real Prometheus scraping a real node_exporter every second, on free loopback ports. The
/// exporter's textfile directory is returned so a test can publish FIXTURE series through it.
pub struct Prom {
    pub url: String,
    pub exporter: String,
    pub textfile: PathBuf,
    pub procs: Procs,
}

pub fn start_prometheus(dir: &Path) -> Prom {
    start_prometheus_scraping(dir, &[])
}

/// [`start_prometheus`], also scraping each `(job, host:port)` every second.
pub fn start_prometheus_scraping(dir: &Path, jobs: &[(&str, &str)]) -> Prom {
    let (prom, exp) = (free_port(), free_port());
    let extra: String = jobs
        .iter()
        .map(|(job, target)| {
            format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n")
        })
        .collect();
    let textfile = dir.join("textfile");
    std::fs::create_dir_all(&textfile).unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['127.0.0.1:{exp}']\n{extra}"
        ),
    )
    .unwrap();
    let log = |name: &str| Stdio::from(std::fs::File::create(dir.join(name)).unwrap());
    let exporter = Command::new("prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{exp}"))
        .arg("--collector.netdev.device-exclude=^$")
        .arg("--no-collector.systemd")
        .arg(format!(
            "--collector.textfile.directory={}",
            textfile.display()
        ))
        .stdout(log("exporter.out"))
        .stderr(log("exporter.err"))
        .spawn()
        .expect("prometheus-node-exporter (scripts/setup.sh installs it)");
    let server = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom}"))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .stdout(log("prometheus.out"))
        .stderr(log("prometheus.err"))
        .spawn()
        .expect("prometheus (scripts/setup.sh installs it)");
    let url = format!("http://127.0.0.1:{prom}");
    let ready = wait_until(Duration::from_secs(30), || {
        Command::new("curl")
            .args(["-sf", &format!("{url}/-/ready")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    assert!(ready, "prometheus not ready; see {}", dir.display());
    Prom {
        url,
        exporter: format!("127.0.0.1:{exp}"),
        textfile,
        procs: Procs(vec![exporter, server]),
    }
}

/// Write a node_exporter textfile atomically.
pub fn publish(textfile: &Path, name: &str, text: &str) {
    let tmp = textfile.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, textfile.join(format!("{name}.prom"))).unwrap();
}

/// FIXTURE cAdvisor, kube-state-metrics and JVB `/metrics` series of one bridge pod
/// (`shard-0-jvb-0` in namespace `jitsi`), published through node_exporter's textfile collector and
/// advanced every 250 ms until dropped: 1.5 CPU cores of a 4-core limit, 5 MB/s out, 2 MB/s in,
/// 10 % throttled, 2 conferences, stress 0.3.
pub struct BridgeFixture {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    feeder: Option<std::thread::JoinHandle<()>>,
}

impl BridgeFixture {
    pub fn start(textfile: &Path) -> BridgeFixture {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (textfile, s2) = (textfile.to_path_buf(), stop.clone());
        let t0 = Instant::now();
        let feeder = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                let t = t0.elapsed().as_secs_f64() + 100.0;
                let l = "namespace=\"jitsi\",container=\"jvb\",pod=\"shard-0-jvb-0\"";
                let p = "namespace=\"jitsi\",pod=\"shard-0-jvb-0\",interface=\"eth0\"";
                let j = "namespace=\"jitsi\",pod=\"shard-0-jvb-0\"";
                publish(
                    &textfile,
                    "cadvisor_fixture",
                    &format!(
                        "container_cpu_usage_seconds_total{{{l}}} {}\ncontainer_memory_working_set_bytes{{{l}}} 734003200\n\
                         container_network_transmit_bytes_total{{{p}}} {}\ncontainer_network_receive_bytes_total{{{p}}} {}\n\
                         container_cpu_cfs_periods_total{{{l}}} {}\ncontainer_cpu_cfs_throttled_periods_total{{{l}}} {}\n\
                         kube_pod_container_resource_limits{{{l},resource=\"cpu\",unit=\"core\"}} 4\n\
                         jitsi_jvb_conferences{{{j}}} 2\njitsi_jvb_stress{{{j}}} 0.3\n",
                        1.5 * t,
                        5e6 * t,
                        2e6 * t,
                        10.0 * t,
                        1.0 * t
                    ),
                );
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        BridgeFixture {
            stop,
            feeder: Some(feeder),
        }
    }
}

impl Drop for BridgeFixture {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = self.feeder.take() {
            let _ = f.join();
        }
    }
}

/// Serves one JVB FIXTURE: `/colibri/stats` from a file and `/metrics`, refusing requests without an
/// Accept header the way the real bridge fails.
pub async fn jvb_fixture(colibri: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dir = repo().join("tests/fixtures/jvb");
    let stats = std::fs::read_to_string(dir.join(colibri)).unwrap();
    let text = std::fs::read_to_string(dir.join("metrics.txt")).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let (stats, text) = (stats.clone(), text.clone());
            tokio::spawn(async move {
                let Some((head, _)) = read_request(&mut s, &mut Vec::new()).await else {
                    return;
                };
                let head = head.to_lowercase();
                let (status, body) = if !head.contains("\r\naccept:") {
                    ("500 Server Error", "no Accept header".to_string())
                } else if head.starts_with("get /colibri/stats") {
                    ("200 OK", stats)
                } else if head.starts_with("get /metrics") {
                    ("200 OK", text)
                } else {
                    ("404 Not Found", String::new())
                };
                let r = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(r.as_bytes()).await;
            });
        }
    });
    base
}

/// A server that accepts connections and never answers.
pub async fn hanging() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    base
}

/// Read one HTTP/1.1 request (head, and a `Content-Length` body) for the tests' small servers. Bytes
/// past the request stay in `buf` for the next call (keep-alive). `None` when the peer closed.
pub async fn read_request(
    sock: &mut tokio::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, String)> {
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
    buf.drain(..head_end + len);
    Some((head, body))
}

/// Width and height from a PNG's IHDR chunk (asserting it is a PNG).
pub fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &b[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is not a PNG",
        path.display()
    );
    assert_eq!(&b[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}
