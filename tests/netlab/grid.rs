//! A real Selenium Grid 4.48 (hub + one node) on loopback whose node has the driver configurations a
//! test gives it (e.g. one per network, see `loadtest::network::netns::grid_driver_configuration`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn jar() -> PathBuf {
    let p = std::env::var_os("LOADTEST_SELENIUM_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(".cache/selenium/package/jar/selenium-server-4.48.0.jar")
        });
    assert!(
        p.is_file(),
        "{} missing: run ./scripts/setup.sh",
        p.display()
    );
    p
}

/// Hub and node processes, killed when dropped.
pub struct Grid {
    pub url: String,
    procs: Vec<Child>,
}

impl Drop for Grid {
    fn drop(&mut self) {
        for c in &mut self.procs {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Start a hub and a node with `drivers` (TOML `[[node.driver-configuration]]` blocks) and wait
/// until the node is registered.
pub fn start(dir: &Path, drivers: &[String]) -> Grid {
    let (hub, publish, subscribe, node) = (free_port(), free_port(), free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let events = format!(
        "[events]\npublish = \"tcp://127.0.0.1:{publish}\"\nsubscribe = \"tcp://127.0.0.1:{subscribe}\"\n"
    );
    let hub_toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {hub}\n{events}bind = true\n[sessionqueue]\nsession-request-timeout = 60\nsession-retry-interval = 1\n[distributor]\nreject-unsupported-caps = true\n"
    );
    let node_toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {node}\n{events}[node]\ngrid-url = \"http://127.0.0.1:{hub}\"\ndetect-drivers = false\nselenium-manager = false\nmax-sessions = 4\noverride-max-sessions = true\nsession-timeout = 300\nheartbeat-period = 5\n{}",
        drivers.join("")
    );
    std::fs::write(dir.join("hub.toml"), hub_toml).unwrap();
    std::fs::write(dir.join("node.toml"), node_toml).unwrap();
    let spawn = |role: &str| {
        Command::new("java")
            .args(["-Xmx256m", "-jar"])
            .arg(jar())
            .arg(role)
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
    let grid = Grid {
        url: format!("http://127.0.0.1:{hub}"),
        procs: vec![spawn("hub"), spawn("node")],
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "5", &format!("{}/status", grid.url)])
            .output()
            .unwrap();
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if s["value"]["ready"] == true
            && s["value"]["nodes"]
                .as_array()
                .is_some_and(|n| !n.is_empty())
        {
            return grid;
        }
        assert!(
            Instant::now() < deadline,
            "grid not ready in 120 s; see {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
