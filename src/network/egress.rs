//! Cohorts whose way out leads off the machine: to a target outside the lab (a Jitsi deployment seen
//! from a load server, or anything this machine reaches), without forwarding or NAT rules in the
//! root namespace.
//!
//! ```text
//!  cohort namespace lt-<id>-c0 ──TUN ⇄ emulator ⇄ UDP NAT (sockets of this process) ──▶ the target's media
//!     browsers ── 127.0.0.1:<p> ── relay ──▶ HTTP proxy on 127.0.0.1:<p> (root) ──▶ the target's pages, signalling
//! ```
//!
//! Media (UDP) crosses the emulated link both ways, so the profile applies to it; TCP (the page,
//! signalling) goes through the tool's HTTP proxy and is not shaped. The browsers are given the
//! proxy with `--proxy-server`. The lab's safety rules hold: the `unreachable` route for its block
//! stays, nothing is routed into the lab from outside, and nothing forwards.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::lab::Lab;
use super::netns::Relay;
use super::star::Cohort;
use super::{NetworkError, Profile, Result};

/// A lab of cohorts that lead out through the tool's UDP NAT and HTTP proxy.
pub struct EgressLab {
    lab: Lab,
    proxy: Proxy,
    relays: Vec<Relay>,
}

impl std::fmt::Debug for EgressLab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EgressLab({:?}, proxy port {})",
            self.lab, self.proxy.port
        )
    }
}

impl EgressLab {
    /// A lab (see [`Lab::create`]) and an HTTP proxy on 127.0.0.1 of this namespace.
    pub fn create() -> Result<EgressLab> {
        let lab = Lab::create()?;
        let proxy = Proxy::start().map_err(|e| NetworkError::io("the cohorts' HTTP proxy", e))?;
        Ok(EgressLab {
            lab,
            proxy,
            relays: Vec::new(),
        })
    }

    /// A cohort namespace `lt-<id>-<role>` whose only way out is an emulated link with `profile` to
    /// the UDP NAT, with the proxy relayed to its own 127.0.0.1. `role` is at most 6 characters.
    pub fn add_cohort(&mut self, role: &str, profile: Profile) -> Result<Cohort> {
        let ns = self.lab.namespace(role)?;
        let link = self.lab.egress_link(role, &ns, profile)?;
        self.relays.push(ns.forward_out(self.proxy.port)?);
        Ok(Cohort { ns, link })
    }

    /// The proxy browsers inside are given: `http://127.0.0.1:<port>` (their own loopback, relayed).
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy.port)
    }

    /// The lab.
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Remove everything now.
    pub fn teardown(self) -> Result<()> {
        drop(self.relays);
        drop(self.proxy);
        self.lab.teardown()
    }
}

/// A small HTTP proxy: `CONNECT host:port` tunnels and absolute-form plain HTTP requests, each on
/// its own connection (`Connection: close` towards the origin); stops when dropped.
struct Proxy {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Proxy {
    fn start() -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lt-proxy".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(c) = conn {
                        let _ = std::thread::Builder::new()
                            .name("lt-proxy-conn".into())
                            .spawn(move || serve(c));
                    }
                }
            })?;
        Ok(Proxy {
            port,
            stop,
            thread: Some(thread),
        })
    }
}

/// The request head (up to the blank line), at most 16 KiB.
fn read_head(c: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        if buf.len() > 16 * 1024 {
            return Err(io::Error::other("request head too long"));
        }
    }
}

/// Where a request goes and what to send the origin first: (host:port, bytes, is CONNECT).
pub fn route(head: &str) -> Option<(String, String, bool)> {
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let mut words = first.split(' ');
    let (method, target, version) = (words.next()?, words.next()?, words.next()?);
    if method == "CONNECT" {
        return Some((target.to_string(), String::new(), true));
    }
    let url = url::Url::parse(target)
        .ok()
        .filter(|u| u.scheme() == "http")?;
    let host = format!("{}:{}", url.host_str()?, url.port_or_known_default()?);
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut out = format!("{method} {path} {version}\r\n");
    for l in lines.filter(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name != "connection" && name != "proxy-connection" && name != "keep-alive" {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    Some((host, out, false))
}

fn serve(mut c: TcpStream) {
    let Ok((head, rest)) = read_head(&mut c) else {
        return;
    };
    let Some((host, first, connect)) = route(&head) else {
        let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        return;
    };
    let upstream = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(10)).ok());
    let Some(mut up) = upstream else {
        let _ = c.write_all(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
        return;
    };
    let ok = if connect {
        c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
    } else {
        up.write_all(first.as_bytes())
    };
    if ok.is_err() || up.write_all(&rest).is_err() {
        return;
    }
    let _ = c.set_nodelay(true);
    let _ = up.set_nodelay(true);
    let (Ok(c2), Ok(up2)) = (c.try_clone(), up.try_clone()) else {
        return;
    };
    let copy = |mut from: TcpStream, mut to: TcpStream| {
        move || {
            let _ = io::copy(&mut from, &mut to);
            let _ = to.shutdown(Shutdown::Write);
        }
    };
    let t = std::thread::spawn(copy(up2, c2));
    copy(c, up)();
    let _ = t.join();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_routed_to_their_origin() {
        let (host, first, connect) =
            route("CONNECT meet.example.com:443 HTTP/1.1\r\nHost: meet.example.com:443\r\n\r\n")
                .unwrap();
        assert_eq!(
            (host.as_str(), first.as_str(), connect),
            ("meet.example.com:443", "", true)
        );
        let (host, first, connect) = route(
            "GET http://10.231.7.6:8088/janus/info?x=1 HTTP/1.1\r\nHost: 10.231.7.6:8088\r\nProxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!(host, "10.231.7.6:8088");
        assert!(!connect);
        assert_eq!(
            first,
            "GET /janus/info?x=1 HTTP/1.1\r\nHost: 10.231.7.6:8088\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        assert!(route("GET /relative HTTP/1.1\r\n\r\n").is_none());
        assert!(route("GET ftp://x/ HTTP/1.1\r\n\r\n").is_none());
    }

    #[test]
    fn the_proxy_tunnels_and_forwards() {
        let origin = TcpListener::bind("127.0.0.1:0").unwrap();
        let at = origin.local_addr().unwrap();
        std::thread::spawn(move || {
            for c in origin.incoming().take(2) {
                let mut c = c.unwrap();
                let (head, _) = read_head(&mut c).unwrap();
                let line = head.lines().next().unwrap().to_string();
                let body = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{line}",
                    line.len()
                );
                c.write_all(body.as_bytes()).unwrap();
            }
        });
        let p = Proxy::start().unwrap();
        let ask = |req: String| {
            let mut c = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            let _ = c.read_to_string(&mut out);
            out
        };
        let plain = ask(format!(
            "GET http://{at}/a?b=1 HTTP/1.1\r\nHost: {at}\r\n\r\n"
        ));
        assert!(plain.ends_with("GET /a?b=1 HTTP/1.1"), "{plain}");
        let mut c = TcpStream::connect(("127.0.0.1", p.port)).unwrap();
        c.write_all(format!("CONNECT {at} HTTP/1.1\r\n\r\n").as_bytes())
            .unwrap();
        c.write_all(b"GET /tunnelled HTTP/1.1\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        assert!(
            out.starts_with("HTTP/1.1 200 Connection established"),
            "{out}"
        );
        assert!(out.ends_with("GET /tunnelled HTTP/1.1"), "{out}");
        let bad = ask("CONNECT 127.0.0.1:1 HTTP/1.1\r\n\r\n".into());
        assert!(bad.starts_with("HTTP/1.1 502"), "{bad}");
    }
}
