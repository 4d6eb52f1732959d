//! The sandbox's control socket: a run in another process asks the sandbox that owns Janus and its
//! link to break them (`[[disruption]]` `black_hole` and `kill_media_server`), so the tool never
//! shapes or kills what the asking process did not make.
//!
//! One Unix socket per sandbox, `/run/loadtest-net/sandbox-<api host>-<api port>.sock` (mode 0600),
//! found from the target URL. One line per request, one line per answer (`ok …` or `error …`):
//!
//! | request | effect |
//! |---|---|
//! | `black_hole <seconds>` | drop every packet of the isolated sandbox's link, both ways; lifted by `black_hole off` or, at the latest, after `<seconds>` (so a run that dies cannot leave it on) |
//! | `black_hole off` | carry traffic again |
//! | `kill` | SIGKILL Janus |
//! | `ping` | `ok janus pid <pid>` |

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::Isolated;
use crate::network::registry::STATE_DIR;

/// The socket of the sandbox whose Janus API listens on `host:port`.
pub fn socket_path(host: &str, port: u16) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    PathBuf::from(STATE_DIR).join(format!("sandbox-{host}-{port}.sock"))
}

/// The socket of the sandbox serving the Janus API at `api` (e.g. the scenario's `target.url`).
pub fn socket_for(api: &url::Url) -> Option<PathBuf> {
    Some(socket_path(api.host_str()?, api.port_or_known_default()?))
}

/// What the control socket acts on.
pub(crate) struct State {
    pub(crate) network: Option<Arc<Isolated>>,
    pub(crate) janus_pid: Option<u32>,
    /// Bumped by every black-hole request, so an old deadline does not lift a newer hole.
    generation: AtomicU64,
}

/// A listening control socket; removed when dropped.
#[derive(Debug)]
pub struct Control {
    path: PathBuf,
    task: JoinHandle<()>,
}

impl Drop for Control {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Control {
    /// Listen at `path` (a stale socket of a dead sandbox is replaced).
    pub(crate) fn serve(
        path: PathBuf,
        network: Option<Arc<Isolated>>,
        janus_pid: Option<u32>,
    ) -> std::io::Result<Control> {
        std::fs::create_dir_all(STATE_DIR)?;
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by another sandbox", path.display()),
            ));
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let state = Arc::new(State {
            network,
            janus_pid,
            generation: AtomicU64::new(0),
        });
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, state.clone()));
            }
        });
        Ok(Control { path, task })
    }

    /// Where it listens.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

async fn answer(stream: UnixStream, state: Arc<State>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let reply = match handle(line.trim(), &state).await {
            Ok(detail) => format!("ok {detail}\n"),
            Err(e) => format!("error {e}\n"),
        };
        if write.write_all(reply.as_bytes()).await.is_err() {
            break;
        }
    }
}

async fn black_hole(state: &State, on: bool) -> Result<String, String> {
    let net = state
        .network
        .clone()
        .ok_or("this sandbox is not isolated (start it with --isolated): its media crosses no link of its own")?;
    let link = net.server.link.a.name.clone();
    tokio::task::spawn_blocking(move || net.star.black_hole(&net.server, on))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(format!(
        "link {link} {}",
        if on { "black-holed" } else { "carries traffic" }
    ))
}

async fn handle(line: &str, state: &Arc<State>) -> Result<String, String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some("ping"), None) => Ok(format!("janus pid {}", state.janus_pid.unwrap_or(0))),
        (Some("black_hole"), Some("off")) => {
            state.generation.fetch_add(1, Ordering::SeqCst);
            black_hole(state, false).await
        }
        (Some("black_hole"), Some(secs)) => {
            let secs: f64 = secs
                .parse()
                .ok()
                .filter(|s: &f64| *s > 0.0 && *s <= 86_400.0)
                .ok_or("expected black_hole <seconds> or black_hole off")?;
            let detail = black_hole(state, true).await?;
            let generation = state.generation.fetch_add(1, Ordering::SeqCst) + 1;
            let weak = Arc::downgrade(state);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(secs)).await;
                if let Some(state) = weak.upgrade()
                    && state.generation.load(Ordering::SeqCst) == generation
                {
                    let _ = black_hole(&state, false).await;
                }
            });
            Ok(format!("{detail}, for at most {secs} s"))
        }
        (Some("kill"), None) => {
            let pid = state.janus_pid.ok_or("Janus is not running")?;
            // SAFETY: kill(2) of the sandbox's own child process, by the pid it was started with.
            let rc = unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            if rc == 0 {
                Ok(format!("janus (pid {pid}) killed"))
            } else {
                Err(format!("kill {pid}: {}", std::io::Error::last_os_error()))
            }
        }
        _ => Err(format!(
            "unknown request {line:?} (expected ping, black_hole <seconds>, black_hole off or kill)"
        )),
    }
}

/// Send one request to the sandbox at `socket` and return its answer (`Err`: the socket is missing,
/// or the sandbox said `error …`).
pub async fn request(socket: &std::path::Path, line: &str) -> Result<String, String> {
    let io = async {
        let mut s = UnixStream::connect(socket).await.map_err(|e| {
            format!(
                "no sandbox control socket at {} ({e}): is `loadtest sandbox` serving this target?",
                socket.display()
            )
        })?;
        s.write_all(format!("{line}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        BufReader::new(s)
            .read_line(&mut reply)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<String, String>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(10), io)
        .await
        .map_err(|_| "the sandbox did not answer within 10 s".to_string())??;
    let reply = reply.trim();
    match reply.strip_prefix("ok") {
        Some(rest) => Ok(rest.trim().to_string()),
        None => Err(reply
            .strip_prefix("error")
            .unwrap_or(reply)
            .trim()
            .to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_answered_and_bad_ones_say_what_is_expected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        // A plain sandbox (no link of its own) with no Janus: nothing to break, only answers.
        let _c = Control::serve(path.clone(), None, None).unwrap();
        assert_eq!(request(&path, "ping").await.unwrap(), "janus pid 0");
        let e = request(&path, "black_hole 10").await.unwrap_err();
        assert!(e.contains("not isolated"), "{e}");
        let e = request(&path, "black_hole soon").await.unwrap_err();
        assert!(e.contains("black_hole <seconds>"), "{e}");
        assert!(
            request(&path, "kill")
                .await
                .unwrap_err()
                .contains("not running")
        );
        assert!(
            request(&path, "reboot")
                .await
                .unwrap_err()
                .contains("unknown request")
        );
        let gone = dir.path().join("none.sock");
        assert!(
            request(&gone, "ping")
                .await
                .unwrap_err()
                .contains("no sandbox control socket")
        );
        assert_eq!(
            socket_for(&url::Url::parse("http://10.231.7.6:8088/janus").unwrap()).unwrap(),
            PathBuf::from("/run/loadtest-net/sandbox-10.231.7.6-8088.sock")
        );
    }
}
