//! Working inside a namespace: running code on a thread that entered it (`setns`), starting programs
//! in it (`ip netns exec`), browsers whose ChromeDriver stays outside, and TCP relays that carry
//! control traffic (a page server, WebDriver, a Grid node) across namespaces without touching the
//! shaped link.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{NetworkError, Result, addr, cmd};

/// The Chrome switch that makes ChromeDriver talk to the browser over inherited pipes (fds 3 and 4)
/// instead of a TCP port — a port that would sit inside the namespace, out of ChromeDriver's reach.
pub const PIPE_ARG: &str = "--remote-debugging-pipe";

fn ns_inode(path: &str) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata(path)?.ino())
}

/// Run `f` on a new thread that first entered network namespace `ns`; sockets it creates (and
/// TUN devices it opens) belong to that namespace for their whole life, whichever thread uses them.
/// Only namespaces named by the tool are entered.
pub fn run_in<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
    if addr::parse_name(ns).is_none() {
        return Err(NetworkError::Refused(format!(
            "{ns:?} is not a namespace the tool made"
        )));
    }
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| NetworkError::io(path.clone(), e))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) on an open namespace file; it changes only this thread, which ends
            // when `f` returns.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(NetworkError::io(
                    format!("entering namespace {ns}"),
                    io::Error::last_os_error(),
                ));
            }
            let here = ns_inode("/proc/thread-self/ns/net");
            let main = ns_inode("/proc/self/ns/net");
            match (here, main) {
                (Ok(h), Ok(m)) if h != m => Ok(f()),
                _ => Err(NetworkError::Refused(format!(
                    "entering {ns} left the thread in the process's own namespace"
                ))),
            }
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetworkError::Unavailable(format!(
                "a thread inside {ns} panicked"
            )))
        })
    })
}

/// Switch IPv4 forwarding on inside `ns` (a namespace the tool made; never the root namespace: the
/// write happens on a thread that is verified to be elsewhere).
pub fn enable_forwarding(ns: &str) -> Result<()> {
    run_in(ns, || {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(|e| NetworkError::io(format!("enabling forwarding in {ns}"), e))
    })?
}

/// `ip netns exec <ns> <program>`: a command that runs inside the namespace (inherited file
/// descriptors included). Convert with `tokio::process::Command::from` for async use.
pub fn command(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
    let mut c = std::process::Command::new(cmd::ip_program());
    c.args(["netns", "exec", ns]).arg(program);
    c
}

/// Write an executable wrapper, `<dir>/browser-<ns>`, that starts `browser` inside `ns`. Give it to
/// ChromeDriver as the browser binary (`goog:chromeOptions.binary`, or a Grid node's stereotype) and
/// add [`PIPE_ARG`] to the browser's arguments: the driver then stays in the root namespace and talks
/// to the browser over pipes, while every packet the browser sends leaves through the namespace's link.
pub fn browser_wrapper(ns: &str, browser: &Path, dir: &Path) -> Result<PathBuf> {
    let text = browser.display().to_string();
    if text.contains('\'') || addr::parse_name(ns).is_none() {
        return Err(NetworkError::bad(
            "browser",
            text,
            "a path without single quotes, and a namespace the tool made",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| NetworkError::io(dir.display().to_string(), e))?;
    let path = dir.join(format!("browser-{ns}"));
    let script = format!(
        "#!/bin/sh\n# loadtest: the browser inside network namespace {ns}, whose only way out is the lab's link.\nexec '{}' netns exec '{ns}' '{text}' \"$@\"\n",
        cmd::ip_program()
    );
    std::fs::write(&path, script).map_err(|e| NetworkError::io(path.display().to_string(), e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| NetworkError::io(path.display().to_string(), e))?;
    Ok(path)
}

/// The capability a Grid node's stereotype carries to say which network its browsers sit behind;
/// a session asks for it to be placed there. Once any node carries it, every session should ask for
/// one (the Grid matches an extension capability only when the request names it), `"none"` for the
/// unshaped nodes.
pub const GRID_CAPABILITY: &str = "loadtest:network";

/// The capability a network node's stereotype carries when its browsers reach the target through
/// the tool's HTTP proxy ([`crate::network::egress`]): the proxy URL sessions give `--proxy-server`.
pub const PROXY_CAPABILITY: &str = "loadtest:proxy";

/// The [`GRID_CAPABILITY`] value of unshaped nodes, and of sessions in no cohort.
pub const UNSHAPED: &str = crate::scenario::NO_COHORT;

/// The capability a network node's stereotype carries to name the namespace its browsers run in, so
/// a run on the same machine can relay its participant page into it. Sessions never ask for it.
pub const NAMESPACE_CAPABILITY: &str = "loadtest:namespace";

/// A Selenium Grid 4 node `[[node.driver-configuration]]` (TOML) whose sessions carry
/// [`GRID_CAPABILITY`] = `network`. With a `wrapper` (see [`browser_wrapper`]) its browsers start
/// inside that namespace while the node and ChromeDriver stay in the root namespace, so WebDriver and
/// Grid traffic is never shaped; the stereotype adds [`PIPE_ARG`].
pub fn grid_driver_configuration(
    network: &str,
    browser: &Path,
    wrapper: Option<&Path>,
    chromedriver: &Path,
    max_sessions: u32,
) -> Result<String> {
    network_driver_configuration(
        network,
        (None, None),
        browser,
        wrapper,
        chromedriver,
        max_sessions,
    )
}

/// [`grid_driver_configuration`] whose stereotype also names the namespace its browsers run in
/// ([`NAMESPACE_CAPABILITY`]) and the proxy they reach the target through ([`PROXY_CAPABILITY`]).
pub fn network_driver_configuration(
    network: &str,
    (namespace, proxy): (Option<&str>, Option<&str>),
    browser: &Path,
    wrapper: Option<&Path>,
    chromedriver: &Path,
    max_sessions: u32,
) -> Result<String> {
    let mut opts =
        serde_json::json!({ "binary": wrapper.unwrap_or(browser).display().to_string() });
    if wrapper.is_some() {
        opts["args"] = serde_json::json!([PIPE_ARG]);
    }
    let mut stereotype = serde_json::json!({
        "browserName": "chrome",
        GRID_CAPABILITY: network,
        "goog:chromeOptions": opts,
    });
    if let Some(ns) = namespace {
        stereotype[NAMESPACE_CAPABILITY] = serde_json::json!(ns);
    }
    if let Some(p) = proxy {
        stereotype[PROXY_CAPABILITY] = serde_json::json!(p);
    }
    let stereotype = stereotype.to_string();
    let driver = chromedriver.display().to_string();
    if stereotype.contains('\'') || driver.contains('"') || network.contains('"') {
        return Err(NetworkError::bad(
            "grid node",
            network,
            "paths and names without quotes",
        ));
    }
    Ok(format!(
        "[[node.driver-configuration]]\ndisplay-name = \"chromium ({network})\"\nwebdriver-executable = \"{driver}\"\nmax-sessions = {max_sessions}\nstereotype = '{stereotype}'\n"
    ))
}

/// Open a TCP connection to `port` on 127.0.0.1 of `ns` (`None`: the root namespace).
fn connect_local(ns: Option<&str>, port: u16) -> io::Result<TcpStream> {
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    match ns {
        None => TcpStream::connect_timeout(&to, Duration::from_secs(5)),
        Some(ns) => run_in(ns, || {
            TcpStream::connect_timeout(&to, Duration::from_secs(5))
        })
        .map_err(io::Error::other)?,
    }
}

/// A TCP relay from 127.0.0.1:`port` in one namespace to 127.0.0.1:`port` in another; it stops
/// accepting and closes its connections when dropped. Control traffic through it never crosses the
/// shaped link.
#[derive(Debug)]
pub struct Relay {
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
    /// The port on both sides.
    pub port: u16,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(conns) = self.conns.lock() {
            for c in conns.iter() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Relay {
    /// Relay connections to 127.0.0.1:`port` inside `from` (`None`: root) to 127.0.0.1:`port` inside
    /// `to` (`None`: root).
    pub fn start(from: Option<&str>, to: Option<&str>, port: u16) -> Result<Relay> {
        let bind = move || TcpListener::bind(("127.0.0.1", port));
        let listener = match from {
            None => bind(),
            Some(ns) => run_in(ns, bind)?,
        }
        .map_err(|e| NetworkError::io(format!("relay listening on 127.0.0.1:{port}"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| NetworkError::io("relay", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let to = to.map(str::to_string);
        let (s, c) = (stop.clone(), conns.clone());
        let thread = std::thread::Builder::new()
            .name(format!("lt-relay-{port}"))
            .spawn(move || accept_loop(listener, to, port, s, c))
            .map_err(|e| NetworkError::io("starting a relay thread", e))?;
        Ok(Relay {
            stop,
            conns,
            thread: Some(thread),
            port,
        })
    }
}

fn accept_loop(
    listener: TcpListener,
    to: Option<String>,
    port: u16,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid pollfd for at most 100 ms.
        unsafe { libc::poll(&mut pfd, 1, 100) };
        let Ok((inbound, _)) = listener.accept() else {
            continue;
        };
        let _ = inbound.set_nonblocking(false);
        let Ok(outbound) = connect_local(to.as_deref(), port) else {
            let _ = inbound.shutdown(Shutdown::Both);
            continue;
        };
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        if let (Ok(mut list), Ok(a), Ok(b)) =
            (conns.lock(), inbound.try_clone(), outbound.try_clone())
        {
            list.retain(|c| c.peer_addr().is_ok());
            list.push(a);
            list.push(b);
        }
        pump(inbound, outbound);
    }
}

/// Copy both ways on two threads; each direction's end shuts down the other side's write half.
fn pump(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let one = |mut from: TcpStream, mut to: TcpStream| {
        move || {
            let mut buf = [0u8; 16384];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        }
    };
    let _ = std::thread::Builder::new()
        .name("lt-relay-io".into())
        .spawn(one(a, b2));
    let _ = std::thread::Builder::new()
        .name("lt-relay-io".into())
        .spawn(one(b, a2));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tool_namespaces_are_entered_or_wrapped() {
        assert!(matches!(
            run_in("default", || ()),
            Err(NetworkError::Refused(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        assert!(browser_wrapper("eth0", Path::new("/usr/bin/chromium"), dir.path()).is_err());
        assert!(browser_wrapper("lt-0001-c0", Path::new("/tmp/it's"), dir.path()).is_err());
        let p = browser_wrapper("lt-0001-c0", Path::new("/usr/bin/chromium"), dir.path()).unwrap();
        let node = grid_driver_configuration(
            "c0",
            Path::new("/usr/bin/chromium"),
            Some(&p),
            Path::new("/usr/bin/chromedriver"),
            2,
        )
        .unwrap();
        let conf: toml::Value = toml::from_str(&node).unwrap();
        let stereo = conf["node"]["driver-configuration"][0]["stereotype"]
            .as_str()
            .unwrap();
        let stereo: serde_json::Value = serde_json::from_str(stereo).unwrap();
        assert_eq!(stereo[GRID_CAPABILITY], "c0");
        assert_eq!(stereo["goog:chromeOptions"]["args"][0], PIPE_ARG);
        assert_eq!(
            stereo["goog:chromeOptions"]["binary"],
            p.display().to_string()
        );
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            text.contains("netns exec 'lt-0001-c0' '/usr/bin/chromium' \"$@\""),
            "{text}"
        );
    }
}
