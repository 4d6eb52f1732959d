//! Helpers for the network lab tests: what the kernel holds (listed with `ip` and `tc`, independent of
//! the tool's own records) and small UDP probes run inside namespaces.

#![allow(dead_code)]

pub mod browser;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loadtest::network::Namespace;

fn run<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything of the tool's kind the kernel holds: namespaces named `lt-…`, root-namespace
/// interfaces named `lt-…` (and their qdiscs), TUN devices in the root namespace, root routes into
/// 10.231.0.0/16, and ownership records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub namespaces: BTreeSet<String>,
    pub links: BTreeSet<String>,
    pub qdiscs: BTreeSet<String>,
    pub tun: BTreeSet<String>,
    pub routes: BTreeSet<String>,
    pub records: BTreeSet<String>,
}

pub fn snapshot() -> Snapshot {
    let namespaces: BTreeSet<String> = run("ip", &["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("lt-"))
        .map(str::to_string)
        .collect();
    let links: BTreeSet<String> = run("ip", &["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .filter(|n| n.starts_with("lt-"))
        .collect();
    // Qdiscs other than the defaults on the tool's root interfaces and inside its namespaces, and
    // TUN devices anywhere the tool works.
    let mut qdiscs = BTreeSet::new();
    let mut tun = BTreeSet::new();
    for ns in std::iter::once(None).chain(namespaces.iter().map(Some)) {
        let with = |args: &[&'static str]| -> Vec<String> {
            let mut v: Vec<String> = ns.map_or(vec![], |n| vec!["-n".into(), n.clone()]);
            v.extend(args.iter().map(|a| a.to_string()));
            v
        };
        for q in run("tc", &with(&["qdisc", "show"])).lines() {
            let dev = q.split_whitespace().nth(4).unwrap_or("");
            if dev.starts_with("lt-") && !q.contains("noqueue") {
                qdiscs.insert(format!("{ns:?} {q}"));
            }
        }
        for t in run("ip", &with(&["-o", "link", "show", "type", "tun"])).lines() {
            tun.insert(format!("{ns:?} {t}"));
        }
    }
    let routes = run("ip", &["-4", "route", "show", "table", "all"])
        .lines()
        .filter(|r| r.contains("10.231."))
        .map(str::to_string)
        .collect();
    let records = std::fs::read_dir("/run/loadtest-net")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    Snapshot {
        namespaces,
        links,
        qdiscs,
        tun,
        routes,
        records,
    }
}

/// True when a namespace with this name exists.
pub fn netns_exists(name: &str) -> bool {
    run("ip", &["netns", "list"])
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// `ip -n <ns> <args>` output.
pub fn ip_n(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// The root namespace's IPv4 forwarding switch.
pub fn root_forwarding() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
        .unwrap()
        .trim()
        .to_string()
}

/// A UDP socket bound inside `ns` (or the root namespace for `None`).
pub fn udp_in(ns: Option<&Namespace>, bind: &str) -> UdpSocket {
    let bind = bind.to_string();
    match ns {
        None => UdpSocket::bind(bind).unwrap(),
        Some(ns) => ns.run_in(move || UdpSocket::bind(bind)).unwrap().unwrap(),
    }
}

/// Echoes every datagram back until dropped.
pub struct Echo {
    stop: Arc<AtomicBool>,
    pub addr: SocketAddr,
    pub received: Arc<AtomicU64>,
    pub bytes: Arc<AtomicU64>,
    reply: bool,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Start an echo (or, with `reply = false`, a counting sink) on `sock`.
pub fn echo(sock: UdpSocket, reply: bool) -> Echo {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let (s, r, b) = (stop.clone(), received.clone(), bytes.clone());
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::SeqCst) {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                r.fetch_add(1, Ordering::Relaxed);
                b.fetch_add(n as u64, Ordering::Relaxed);
                if reply {
                    let _ = sock.send_to(&buf[..n], from);
                }
            }
        }
    });
    Echo {
        stop,
        addr,
        received,
        bytes,
        reply,
    }
}

/// Send `n` numbered probes, one every `gap`, and collect round-trip times of the ones that came
/// back (within `wait` of the last one).
pub fn probe(
    sock: &UdpSocket,
    to: SocketAddr,
    n: u32,
    gap: Duration,
    wait: Duration,
) -> Vec<Duration> {
    let sock = sock.try_clone().unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(2)))
        .unwrap();
    let start = Instant::now();
    let due: Vec<Instant> = (0..n).map(|i| start + gap * i).collect();
    let mut sent = vec![start; n as usize];
    let mut rtts = vec![None; n as usize];
    let mut next = 0u32;
    let end = start + gap * n + wait;
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        while next < n && Instant::now() >= due[next as usize] {
            let mut pkt = [0u8; 64];
            pkt[..4].copy_from_slice(&next.to_le_bytes());
            sent[next as usize] = Instant::now();
            sock.send_to(&pkt, to).unwrap();
            next += 1;
        }
        if let Ok(k) = sock.recv(&mut buf)
            && k >= 4
        {
            let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
            if i < rtts.len() && rtts[i].is_none() {
                rtts[i] = Some(sent[i].elapsed());
            }
        }
    }
    rtts.into_iter().flatten().collect()
}

/// Median of durations (panics on an empty set).
pub fn median(mut v: Vec<Duration>) -> Duration {
    assert!(!v.is_empty(), "no samples");
    v.sort();
    v[v.len() / 2]
}

/// Blast `size`-byte datagrams at `mbit` Mbit/s for `secs`; returns the bytes offered.
pub fn blast(sock: &UdpSocket, to: SocketAddr, mbit: f64, secs: f64, size: usize) -> u64 {
    let pkt = vec![0u8; size];
    let gap = Duration::from_secs_f64(size as f64 * 8.0 / (mbit * 1e6));
    let start = Instant::now();
    let mut sent = 0u64;
    let mut k = 0u32;
    while start.elapsed().as_secs_f64() < secs {
        let due = start + gap * k;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if sock.send_to(&pkt, to).is_ok() {
            sent += size as u64;
        }
        k += 1;
    }
    sent
}

/// The isolated sandbox (Janus in its own namespace behind the server link), files in `dir/janus`.
pub async fn isolated(dir: &std::path::Path) -> loadtest::sandbox::Sandbox {
    loadtest::sandbox::Sandbox::start(&loadtest::sandbox::Options {
        isolated: true,
        dir: Some(dir.join("janus")),
        ..loadtest::sandbox::Options::default()
    })
    .await
    .expect("the isolated sandbox starts (root, janus installed)")
}
