//! The embedded default: a local ChromeDriver the tool starts and stops itself.

use std::net::TcpListener;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use url::Url;

use crate::error::InfraError;

/// A running ChromeDriver on 127.0.0.1 in a process group of its own; the whole group (the driver and
/// every browser it started) is killed when it is stopped or dropped, so a crash or a panic leaves no
/// browser behind.
#[derive(Debug)]
pub struct ChromeDriver {
    child: Child,
    url: Url,
}

/// SIGKILL a process group (best effort; the group may already be gone). `killpg(2)` directly: no
/// `kill` command spawned, so it also works from `Drop` while the process is being torn down.
fn kill_group(pgid: Option<u32>) {
    let pid = pgid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        kill_group(self.child.id());
    }
}

impl ChromeDriver {
    /// Start `binary` on a free loopback port and wait until it accepts sessions.
    pub async fn start(binary: &Path) -> Result<ChromeDriver, InfraError> {
        let what = || format!("ChromeDriver {}", binary.display());
        if !binary.is_file() {
            return Err(InfraError::new(
                what(),
                "not found (install Debian's chromium-driver, or set webdriver.chromedriver, or give webdriver.url of a grid)",
            ));
        }
        let port =
            free_port().map_err(|e| InfraError::new(what(), format!("no free port: {e}")))?;
        // Quiet: its log would hold page URLs, and URLs can hold tokens.
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--log-level=OFF")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .map_err(|e| InfraError::new(what(), format!("cannot start: {e}")))?;
        let url = Url::parse(&format!("http://127.0.0.1:{port}/")).expect("valid url");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = http.get(url.join("status").expect("url")).send().await
                && let Ok(v) = r.json::<serde_json::Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(ChromeDriver { child, url });
            }
            if Instant::now() > deadline {
                return Err(InfraError::new(what(), "did not become ready within 15 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its process id, which is also the id of its process group (browsers included).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its WebDriver URL (with a trailing slash).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Stop it (sessions should be closed first).
    pub async fn stop(mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait().await;
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
