//! A lab: one /24 of the tool's range, guarded by an `unreachable` route in the root namespace, and
//! the namespaces and veth pairs made in it. Everything is recorded before it is made and removed
//! when the lab is dropped (or torn down explicitly, or by [`teardown_all`] on a signal).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::addr::{self, Block, LabId, Prefix};
use super::emulator::link::Running;
use super::netns::{self, Relay};
use super::registry::{self, OwnedIface, Record};
use super::shape::Shape;
use super::{NetworkError, Result, cmd};

/// An interface the lab made: its name and namespace (`None`: root).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Iface {
    /// Interface name, `lt-<id>-<role>`.
    pub name: String,
    /// Namespace it sits in, `None` for the root namespace.
    pub ns: Option<String>,
}

/// A veth pair the lab made, with a /30 from the lab's block: `a` has the first address.
#[derive(Debug, Clone)]
pub struct Veth {
    /// First end.
    pub a: Iface,
    /// Second end.
    pub b: Iface,
    /// Address of `a`.
    pub addr_a: Ipv4Addr,
    /// Address of `b`.
    pub addr_b: Ipv4Addr,
}

/// A network namespace the lab made (only the lab constructs these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// A handle on a namespace another live lab made (checked by the caller).
    pub(crate) fn existing(name: &str) -> Namespace {
        Namespace {
            name: name.to_string(),
        }
    }

    /// Its name, `lt-<id>-<role>` (as `ip netns` lists it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Run `f` on a thread inside this namespace (see [`netns::run_in`]).
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        netns::run_in(&self.name, f)
    }

    /// A command that runs inside this namespace (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> std::process::Command {
        netns::command(&self.name, program)
    }

    /// A wrapper that starts `browser` inside this namespace (see [`netns::browser_wrapper`]).
    pub fn browser_wrapper(
        &self,
        browser: &std::path::Path,
        dir: &std::path::Path,
    ) -> Result<std::path::PathBuf> {
        netns::browser_wrapper(&self.name, browser, dir)
    }

    /// Relay 127.0.0.1:`port` inside this namespace to 127.0.0.1:`port` in the root namespace (e.g.
    /// the participant page server, for browsers inside).
    pub fn forward_out(&self, port: u16) -> Result<Relay> {
        Relay::start(Some(&self.name), None, port)
    }

    /// Relay 127.0.0.1:`port` in the root namespace to 127.0.0.1:`port` inside this namespace (e.g. a
    /// WebDriver server or Grid node started inside).
    pub fn forward_in(&self, port: u16) -> Result<Relay> {
        Relay::start(None, Some(&self.name), port)
    }

    /// Switch IPv4 forwarding on inside this namespace.
    pub fn enable_forwarding(&self) -> Result<()> {
        netns::enable_forwarding(&self.name)
    }

    /// `ip -n <ns> <args>` (routes and addresses inside the lab's own namespace).
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        cmd::ip_in(Some(&self.name), args)
    }
}

pub(crate) struct LabInner {
    pub(crate) id: LabId,
    pub(crate) block: Block,
    pub(crate) rec: Mutex<Record>,
    next_slot: Mutex<u8>,
    torn: AtomicBool,
    pub(crate) emulators: Mutex<Vec<Running>>,
    pub(crate) shapes: Mutex<BTreeMap<Iface, Shape>>,
}

static LIVE: Mutex<Vec<Weak<LabInner>>> = Mutex::new(Vec::new());

/// A lab; everything in it is removed when it is dropped.
pub struct Lab {
    pub(crate) inner: Arc<LabInner>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lab({}, {})", self.inner.id, self.inner.block.cidr())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for e in self.inner.teardown() {
            tracing::warn!("network lab {}: {e}", self.inner.id);
        }
    }
}

/// Refuse when a route not made by a lab covers part of the tool's range (the machine uses it).
fn check_range_free() -> Result<()> {
    const TYPES: [&str; 10] = [
        "unicast",
        "local",
        "broadcast",
        "unreachable",
        "blackhole",
        "prohibit",
        "throw",
        "multicast",
        "anycast",
        "nat",
    ];
    let range = Prefix::range();
    for line in cmd::ip(&["-4", "route", "show", "table", "all"])?.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        let (kind, dst) = match t.first() {
            Some(k) if TYPES.contains(k) => (*k, t.get(1).copied().unwrap_or("")),
            Some(d) => ("unicast", *d),
            None => continue,
        };
        let Some(p) = Prefix::parse(dst) else {
            continue;
        };
        let dev = t
            .iter()
            .position(|x| *x == "dev")
            .and_then(|i| t.get(i + 1));
        let ours = dev.is_some_and(|d| addr::parse_name(d).is_some())
            || (kind == "unreachable" && p.len == 24 && range.overlaps(&p));
        if p.len > 0 && range.overlaps(&p) && !ours {
            return Err(NetworkError::Unavailable(format!(
                "the lab's address range {} is in use on this machine (route `{line}`)",
                addr::RANGE
            )));
        }
    }
    Ok(())
}

/// Add the `unreachable` route of a free /24 and record it.
fn claim_block(rec: &mut Record) -> Result<Block> {
    let used: Vec<u8> = registry::records()
        .iter()
        .filter(|r| r.owner_alive())
        .filter_map(|r| r.block)
        .collect();
    let start = (rec.lab_id().map_or(0, |i| i.0) % 256) as u8;
    for k in 0..=255u8 {
        let b = Block(start.wrapping_add(k));
        if used.contains(&b.0) {
            continue;
        }
        match cmd::ip(&["route", "add", "unreachable", &b.cidr()]) {
            Ok(_) => {
                rec.block = Some(b.0);
                rec.save()?;
                return Ok(b);
            }
            Err(NetworkError::Command { detail, .. }) if detail.contains("File exists") => continue,
            Err(e) => return Err(e),
        }
    }
    Err(NetworkError::Unavailable(format!(
        "every /24 of {} is taken",
        addr::RANGE
    )))
}

impl Lab {
    /// Claim a lab: an id, a record, and a /24 whose `unreachable` route is in place before anything
    /// else. Needs root (CAP_NET_ADMIN); refuses when the machine itself uses the range.
    pub fn create() -> Result<Lab> {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(NetworkError::Unavailable(
                "the network lab needs root (network namespaces, veth, TUN, tc)".into(),
            ));
        }
        check_range_free()?;
        let mut rec = Record::claim()?;
        let id = rec.lab_id().expect("claimed ids parse");
        let block = match claim_block(&mut rec) {
            Ok(b) => b,
            Err(e) => {
                registry::remove_all(&rec);
                return Err(e);
            }
        };
        let inner = Arc::new(LabInner {
            id,
            block,
            rec: Mutex::new(rec),
            next_slot: Mutex::new(0),
            torn: AtomicBool::new(false),
            emulators: Mutex::new(Vec::new()),
            shapes: Mutex::new(BTreeMap::new()),
        });
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|w| w.strong_count() > 0);
            live.push(Arc::downgrade(&inner));
        }
        Ok(Lab { inner })
    }

    /// Its id (the `<id>` in `lt-<id>-<role>`).
    pub fn id(&self) -> LabId {
        self.inner.id
    }

    /// Its /24.
    pub fn block(&self) -> Block {
        self.inner.block
    }

    fn record(&self, f: impl FnOnce(&mut Record)) -> Result<()> {
        let mut rec = self
            .inner
            .rec
            .lock()
            .map_err(|_| NetworkError::Unavailable("lab record lock poisoned".into()))?;
        f(&mut rec);
        rec.save()
    }

    /// The next free /30 of the block.
    pub(crate) fn next_link(&self) -> Result<(Ipv4Addr, Ipv4Addr)> {
        let mut slot = self
            .inner
            .next_slot
            .lock()
            .map_err(|_| NetworkError::Unavailable("lab lock poisoned".into()))?;
        let pair = self.inner.block.link(*slot)?;
        *slot += 1;
        Ok(pair)
    }

    /// Record an interface before it is made.
    pub(crate) fn adopt(&self, iface: &Iface) -> Result<()> {
        self.record(|r| {
            r.ifaces.push(OwnedIface {
                ns: iface.ns.clone(),
                name: iface.name.clone(),
            })
        })
    }

    /// True when this lab made the interface (its name is the lab's and its record lists it).
    pub fn owns(&self, iface: &Iface) -> bool {
        addr::parse_name(&iface.name).is_some_and(|(id, _)| id == self.inner.id)
            && self
                .inner
                .rec
                .lock()
                .is_ok_and(|r| r.owns_iface(iface.ns.as_deref(), &iface.name))
    }

    /// Make a namespace `lt-<id>-<role>` with its loopback up.
    pub fn namespace(&self, role: &str) -> Result<Namespace> {
        let name = self.inner.id.name(role)?;
        self.record(|r| r.namespaces.push(name.clone()))?;
        cmd::ip(&["netns", "add", &name])?;
        cmd::ip_in(Some(&name), &["link", "set", "lo", "up"])?;
        let ns = Namespace { name };
        // IPv4 only inside the lab: no link-local IPv6 chatter, no IPv6 ICE candidates.
        let _ = ns.run_in(|| {
            for k in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
            }
        });
        Ok(ns)
    }

    /// Make a veth pair `lt-<id>-<role_a>` (in `a`, `None`: root) ↔ `lt-<id>-<role_b>` (in `b`),
    /// give the ends the next /30 of the block and bring both up.
    pub fn veth(
        &self,
        role_a: &str,
        a: Option<&Namespace>,
        role_b: &str,
        b: Option<&Namespace>,
    ) -> Result<Veth> {
        let end = |role: &str, ns: Option<&Namespace>| -> Result<Iface> {
            Ok(Iface {
                name: self.inner.id.name(role)?,
                ns: ns.map(|n| n.name.clone()),
            })
        };
        let (ea, eb) = (end(role_a, a)?, end(role_b, b)?);
        let (addr_a, addr_b) = self.next_link()?;
        self.adopt(&ea)?;
        self.adopt(&eb)?;
        let mut args = vec!["link", "add", ea.name.as_str()];
        if let Some(ns) = &ea.ns {
            args.extend(["netns", ns.as_str()]);
        }
        args.extend(["type", "veth", "peer", "name", eb.name.as_str()]);
        if let Some(ns) = &eb.ns {
            args.extend(["netns", ns.as_str()]);
        }
        cmd::ip(&args)?;
        for e in [&ea, &eb].into_iter().filter(|e| e.ns.is_none()) {
            // The root end of a lab veth carries IPv4 only (this interface is the lab's own).
            let _ = std::fs::write(
                format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", e.name),
                "1",
            );
        }
        for (e, ip) in [(&ea, addr_a), (&eb, addr_b)] {
            let cidr = format!("{ip}/30");
            cmd::ip_in(e.ns.as_deref(), &["addr", "add", &cidr, "dev", &e.name])?;
            cmd::ip_in(e.ns.as_deref(), &["link", "set", &e.name, "up"])?;
        }
        Ok(Veth {
            a: ea,
            b: eb,
            addr_a,
            addr_b,
        })
    }

    /// In the root namespace, route `dst` (an address of this lab's block) via `gateway` on `dev`, a
    /// root-namespace interface of this lab. The route goes when the interface does.
    pub fn root_route(&self, dst: Ipv4Addr, gateway: Ipv4Addr, dev: &Iface) -> Result<()> {
        if !self.inner.block.contains(dst) || dev.ns.is_some() || !self.owns(dev) {
            return Err(NetworkError::Refused(format!(
                "a root route to {dst} via {} is outside lab {}",
                dev.name, self.inner.id
            )));
        }
        cmd::ip(&[
            "route",
            "add",
            &format!("{dst}/32"),
            "via",
            &gateway.to_string(),
            "dev",
            &dev.name,
        ])
        .map(|_| ())
    }

    /// Remove everything now and report what could not be removed.
    pub fn teardown(self) -> Result<()> {
        let errors = self.inner.teardown();
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl LabInner {
    /// Stop the emulators (their TUN devices vanish with their file descriptors), then remove what
    /// the record lists. Idempotent.
    pub(crate) fn teardown(&self) -> Vec<NetworkError> {
        if self.torn.swap(true, Ordering::SeqCst) {
            return Vec::new();
        }
        let running: Vec<Running> = self
            .emulators
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for r in running {
            r.stop();
        }
        let rec = self.rec.lock().map(|r| r.clone()).unwrap_or_default();
        registry::remove_all(&rec)
    }
}

/// Tear down every lab of this process (for signal handlers; idempotent).
pub fn teardown_all() -> Vec<NetworkError> {
    let labs: Vec<Arc<LabInner>> = LIVE
        .lock()
        .map(|l| l.iter().filter_map(Weak::upgrade).collect())
        .unwrap_or_default();
    labs.iter().flat_map(|l| l.teardown()).collect()
}

/// For a process without Ctrl-C handling of its own (inside a tokio runtime): on SIGINT or SIGTERM,
/// tear down every lab of this process and exit with 130.
pub fn exit_on_signal() {
    tokio::spawn(async {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        let _ = tokio::task::spawn_blocking(teardown_all).await;
        std::process::exit(crate::error::EXIT_INTERRUPTED);
    });
}
