//! An emulated link: a TUN device inside a namespace (its default route) paired with a TUN device in
//! another namespace, and a thread of the tool carrying packets between the two through one
//! [`Pipe`] per direction. Controls change the profile, black-hole the link or play a schedule while
//! it runs; counters say what happened to every packet.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::loss::LossModel;
use super::nat::Nat;
use super::pipe::{Fate, Params, Pipe};
use super::profile::{Change, Profile, Step};
use super::tun::Tun;
use crate::network::lab::{Iface, Lab, Namespace};
use crate::network::{NetworkError, Result};

/// Counters of one direction.
#[derive(Debug, Default)]
struct DirCounters {
    offered: AtomicU64,
    offered_bytes: AtomicU64,
    delivered: AtomicU64,
    delivered_bytes: AtomicU64,
    lost: AtomicU64,
    queue_full: AtomicU64,
    black_holed: AtomicU64,
}

/// A snapshot of one direction's counters (packets unless named bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Packets that arrived at the link.
    pub offered: u64,
    /// Their bytes.
    pub offered_bytes: u64,
    /// Packets that came out.
    pub delivered: u64,
    /// Their bytes.
    pub delivered_bytes: u64,
    /// Dropped by the loss model.
    pub lost: u64,
    /// Dropped by a full queue.
    pub queue_full: u64,
    /// Dropped by a black-hole.
    pub black_holed: u64,
}

impl DirCounters {
    fn snapshot(&self) -> DirStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        DirStats {
            offered: g(&self.offered),
            offered_bytes: g(&self.offered_bytes),
            delivered: g(&self.delivered),
            delivered_bytes: g(&self.delivered_bytes),
            lost: g(&self.lost),
            queue_full: g(&self.queue_full),
            black_holed: g(&self.black_holed),
        }
    }

    fn count(&self, fate: Fate, len: usize) {
        self.offered.fetch_add(1, Ordering::Relaxed);
        self.offered_bytes.fetch_add(len as u64, Ordering::Relaxed);
        let c = match fate {
            Fate::Deliver(_) => return,
            Fate::Lost => &self.lost,
            Fate::QueueFull => &self.queue_full,
            Fate::BlackHoled => &self.black_holed,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Both directions' counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Out of the namespace.
    pub up: DirStats,
    /// Into the namespace.
    pub down: DirStats,
}

enum Command {
    Profile(Profile),
    BlackHole(bool),
    BlackHoleUntil(Instant),
    Schedule(Instant, Vec<Step>),
}

struct Shared {
    stop: AtomicBool,
    pending: Mutex<Vec<Command>>,
    wake: OwnedFd,
    up: DirCounters,
    down: DirCounters,
    profile: Mutex<Profile>,
    black_holed: AtomicBool,
    tid: AtomicI32,
}

impl Shared {
    fn send(&self, c: Command) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(c);
        }
        let one: u64 = 1;
        // SAFETY: write(2) of 8 bytes to an eventfd we own.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// Controls and counters of a running emulated link (cheap to clone).
#[derive(Clone)]
pub struct LinkControl {
    shared: Arc<Shared>,
    /// The TUN device inside the shaped namespace (its default route).
    pub inner: Iface,
    /// Its peer in the other namespace (`None`: the link leads to the tool's UDP NAT).
    pub outer: Option<Iface>,
    /// Address of the shaped namespace on the link.
    pub inner_addr: Ipv4Addr,
    /// Address of the peer.
    pub outer_addr: Ipv4Addr,
}

impl std::fmt::Debug for LinkControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let outer = self.outer.as_ref().map_or("NAT", |o| o.name.as_str());
        write!(f, "LinkControl({} <-> {outer})", self.inner.name)
    }
}

impl LinkControl {
    /// Switch to another profile now.
    pub fn set_profile(&self, p: Profile) -> Result<()> {
        p.validate()?;
        self.shared.send(Command::Profile(p));
        Ok(())
    }

    /// Drop every packet both ways (`true`) until switched off (`false`).
    pub fn black_hole(&self, on: bool) {
        self.shared.send(Command::BlackHole(on));
    }

    /// Drop every packet both ways for `d` from now.
    pub fn black_hole_for(&self, d: Duration) {
        self.shared
            .send(Command::BlackHoleUntil(Instant::now() + d));
    }

    /// Play `steps`, timed from now (added to any schedule already playing).
    pub fn schedule(&self, steps: Vec<Step>) -> Result<()> {
        for s in &steps {
            if let Change::Profile(p) = &s.change {
                p.validate()?;
            }
        }
        self.shared.send(Command::Schedule(Instant::now(), steps));
        Ok(())
    }

    /// The profile in force.
    pub fn profile(&self) -> Profile {
        self.shared
            .profile
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|_| Profile::clean())
    }

    /// True while black-holed.
    pub fn is_black_holed(&self) -> bool {
        self.shared.black_holed.load(Ordering::Relaxed)
    }

    /// What happened to the packets so far.
    pub fn counters(&self) -> LinkCounters {
        LinkCounters {
            up: self.shared.up.snapshot(),
            down: self.shared.down.snapshot(),
        }
    }

    /// CPU time the emulator thread has used (user + system).
    pub fn cpu_time(&self) -> Option<Duration> {
        let tid = self.shared.tid.load(Ordering::Relaxed);
        let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
        let f: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf(3) has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
    }
}

/// A link's thread, stopped by the lab before its namespaces go.
pub(crate) struct Running {
    shared: Arc<Shared>,
    thread: JoinHandle<()>,
}

impl Running {
    /// Stop the thread and close the devices (they vanish with their descriptors).
    pub(crate) fn stop(self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: write(2) of 8 bytes to an eventfd we own.
        unsafe { libc::write(self.shared.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        let _ = self.thread.join();
    }
}

type Packet = Vec<u8>;

/// Where the link leads: a TUN device in another namespace, or the tool's UDP NAT.
enum Outer {
    Tun(Tun),
    Nat(Nat),
}

impl Outer {
    fn send(&mut self, pkt: &[u8]) -> std::io::Result<usize> {
        match self {
            Outer::Tun(t) => t.send(pkt),
            Outer::Nat(n) => n.send(pkt),
        }
    }
    fn recv(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Outer::Tun(t) => t.recv(buf),
            Outer::Nat(n) => n.recv(buf),
        }
    }
    fn raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Outer::Tun(t) => t.raw_fd(),
            Outer::Nat(n) => n.raw_fd(),
        }
    }
}

struct Engine {
    inner: Tun,
    outer: Outer,
    shared: Arc<Shared>,
    up: Pipe<Packet>,
    down: Pipe<Packet>,
    hole_on: bool,
    hole_until: Option<Instant>,
    schedule: VecDeque<(Instant, Change)>,
    pool: Vec<Packet>,
}

fn pipes_for(p: &Profile) -> (Params, Params, LossModel) {
    (
        Params::of(p, true),
        Params::of(p, false),
        LossModel::new(p.loss, p.loss_burst),
    )
}

impl Engine {
    fn apply(&mut self, c: Change, now: Instant) {
        match c {
            Change::Profile(p) => {
                let (u, d, loss) = pipes_for(&p);
                self.up.set(u, loss.clone());
                self.down.set(d, loss);
                if let Ok(mut cur) = self.shared.profile.lock() {
                    *cur = p;
                }
            }
            Change::BlackHole(d) => {
                let until = now + d;
                self.hole_until = Some(self.hole_until.map_or(until, |u| u.max(until)));
            }
        }
    }

    fn take_commands(&mut self, now: Instant) {
        let cmds: Vec<Command> = self
            .shared
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for c in cmds {
            match c {
                Command::Profile(p) => self.apply(Change::Profile(p), now),
                Command::BlackHole(on) => {
                    self.hole_on = on;
                    if !on {
                        self.hole_until = None;
                    }
                }
                Command::BlackHoleUntil(t) => {
                    self.hole_until = Some(self.hole_until.map_or(t, |u| u.max(t)))
                }
                Command::Schedule(base, steps) => {
                    let mut all: Vec<(Instant, Change)> = self.schedule.drain(..).collect();
                    all.extend(steps.into_iter().map(|s| (base + s.at, s.change)));
                    all.sort_by_key(|(t, _)| *t);
                    self.schedule = all.into();
                }
            }
        }
        while self.schedule.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, c)) = self.schedule.pop_front() {
                self.apply(c, now);
            }
        }
        if self.hole_until.is_some_and(|t| t <= now) {
            self.hole_until = None;
        }
        let hole = self.hole_on || self.hole_until.is_some();
        self.shared.black_holed.store(hole, Ordering::Relaxed);
    }

    fn deliver(&mut self, now: Instant) {
        while let Some(pkt) = self.up.pop_due(now) {
            let sent = self.outer.send(&pkt).is_ok();
            delivered(&self.shared.up, sent, pkt.len());
            self.pool.push(pkt);
        }
        while let Some(pkt) = self.down.pop_due(now) {
            let sent = self.inner.send(&pkt).is_ok();
            delivered(&self.shared.down, sent, pkt.len());
            self.pool.push(pkt);
        }
    }

    /// Read what is waiting on one side (at most 256 packets, to stay fair to the other side).
    fn read(&mut self, up: bool, scratch: &mut [u8]) {
        let hole = self.hole_on || self.hole_until.is_some();
        for _ in 0..256 {
            let got = if up {
                self.inner.recv(scratch)
            } else {
                self.outer.recv(scratch)
            };
            let Ok(n) = got else {
                return;
            };
            let mut pkt = self.pool.pop().unwrap_or_else(|| Vec::with_capacity(2048));
            pkt.clear();
            pkt.extend_from_slice(&scratch[..n]);
            let now = Instant::now();
            let (pipe, counters) = if up {
                (&mut self.up, &self.shared.up)
            } else {
                (&mut self.down, &self.shared.down)
            };
            let (fate, back) = pipe.offer(now, n, pkt, hole);
            counters.count(fate, n);
            if let Some(b) = back {
                self.pool.push(b);
            }
        }
    }

    fn timeout(&self, now: Instant) -> Duration {
        [
            self.up.next_due(),
            self.down.next_due(),
            self.schedule.front().map(|(t, _)| *t),
            self.hole_until,
        ]
        .into_iter()
        .flatten()
        .map(|t| t.saturating_duration_since(now))
        .min()
        .unwrap_or(Duration::from_millis(100))
        .min(Duration::from_millis(100))
    }

    fn run(mut self) {
        // SAFETY: gettid(2) has no preconditions.
        self.shared
            .tid
            .store(unsafe { libc::gettid() }, Ordering::Relaxed);
        let mut scratch = vec![0u8; 65536];
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            self.take_commands(now);
            self.deliver(now);
            let wait = self.timeout(Instant::now());
            let mut fds = [
                libc::pollfd {
                    fd: self.inner.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.outer.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.shared.wake.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let ts = libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            };
            // SAFETY: ppoll(2) on three valid pollfds with a timeout and no signal mask.
            unsafe { libc::ppoll(fds.as_mut_ptr(), 3, &ts, std::ptr::null()) };
            if fds[2].revents != 0 {
                let mut v = 0u64;
                // SAFETY: read(2) of 8 bytes from our eventfd into a u64.
                unsafe { libc::read(self.shared.wake.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
            }
            if fds[0].revents != 0 {
                self.read(true, &mut scratch);
            }
            if fds[1].revents != 0 {
                self.read(false, &mut scratch);
            }
        }
    }
}

fn delivered(counters: &DirCounters, sent: bool, len: usize) {
    if sent {
        counters.delivered.fetch_add(1, Ordering::Relaxed);
        counters
            .delivered_bytes
            .fetch_add(len as u64, Ordering::Relaxed);
    }
}

fn eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd(2) with constant flags.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(NetworkError::io("eventfd", std::io::Error::last_os_error()));
    }
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ ((std::process::id() as u64) << 32)
}

impl Lab {
    /// Make an emulated link: TUN `lt-<id>-<role>` inside `inner` (its default route: the
    /// namespace's only way out) and TUN `lt-<id>-<role>p` inside `outer`, with the next /30 of the
    /// block, and start the thread that applies `profile` to both directions. `role` is at most 6
    /// characters.
    pub fn emulated_link(
        &self,
        role: &str,
        inner: &Namespace,
        outer: &Namespace,
        profile: Profile,
    ) -> Result<LinkControl> {
        profile.validate()?;
        let iface = |r: &str, ns: &Namespace| -> Result<Iface> {
            Ok(Iface {
                name: self.id().name(r)?,
                ns: Some(ns.name().to_string()),
            })
        };
        let (i, o) = (iface(role, inner)?, iface(&format!("{role}p"), outer)?);
        let (outer_addr, inner_addr) = self.next_link()?;
        self.adopt(&i)?;
        self.adopt(&o)?;
        let open = |ns: &Namespace, name: &str| -> Result<Tun> {
            ns.run_in(|| Tun::open(name))?.map_err(|e| {
                NetworkError::Unavailable(format!(
                    "cannot create TUN device {name} in {}: {e} (needs /dev/net/tun and root)",
                    ns.name()
                ))
            })
        };
        let (tin, tout) = (open(inner, &i.name)?, open(outer, &o.name)?);
        for (ns, dev, local, peer) in [
            (inner, &i.name, inner_addr, outer_addr),
            (outer, &o.name, outer_addr, inner_addr),
        ] {
            let (local, peer) = (format!("{local}/32"), peer.to_string());
            ns.ip(&["addr", "add", &local, "peer", &peer, "dev", dev])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        inner.ip(&["route", "add", "default", "dev", &i.name])?;
        let addrs = (inner_addr, outer_addr);
        self.start_link(role, (tin, i), (Outer::Tun(tout), Some(o)), addrs, profile)
    }

    /// Make an emulated link out of the lab: TUN `lt-<id>-<role>` inside `inner` (its default route)
    /// leading to the tool's own UDP NAT, whose sockets live in the calling thread's namespace (see
    /// [`Nat`]). Only UDP is carried; give the namespace's TCP the tool's HTTP proxy
    /// ([`crate::network::egress`]).
    pub fn egress_link(
        &self,
        role: &str,
        inner: &Namespace,
        profile: Profile,
    ) -> Result<LinkControl> {
        profile.validate()?;
        let i = Iface {
            name: self.id().name(role)?,
            ns: Some(inner.name().to_string()),
        };
        let (outer_addr, inner_addr) = self.next_link()?;
        self.adopt(&i)?;
        let name = i.name.clone();
        let tin = inner.run_in(|| Tun::open(&name))?.map_err(|e| {
            NetworkError::Unavailable(format!(
                "cannot create TUN device {name} in {}: {e} (needs /dev/net/tun and root)",
                inner.name()
            ))
        })?;
        let (local, peer) = (format!("{inner_addr}/32"), outer_addr.to_string());
        inner.ip(&["addr", "add", &local, "peer", &peer, "dev", &i.name])?;
        inner.ip(&["link", "set", &i.name, "up"])?;
        inner.ip(&["route", "add", "default", "dev", &i.name])?;
        let nat = Nat::new().map_err(|e| NetworkError::io("the link's UDP NAT", e))?;
        let addrs = (inner_addr, outer_addr);
        self.start_link(role, (tin, i), (Outer::Nat(nat), None), addrs, profile)
    }

    /// Start the thread that carries packets between the two ends.
    fn start_link(
        &self,
        role: &str,
        (tin, i): (Tun, Iface),
        (outer, o): (Outer, Option<Iface>),
        (inner_addr, outer_addr): (Ipv4Addr, Ipv4Addr),
        profile: Profile,
    ) -> Result<LinkControl> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            wake: eventfd()?,
            up: DirCounters::default(),
            down: DirCounters::default(),
            profile: Mutex::new(profile.clone()),
            black_holed: AtomicBool::new(false),
            tid: AtomicI32::new(0),
        });
        let (u, d, loss) = pipes_for(&profile);
        let s = seed();
        let engine = Engine {
            inner: tin,
            outer,
            shared: shared.clone(),
            up: Pipe::new(u, loss.clone(), s),
            down: Pipe::new(d, loss, s.rotate_left(17) ^ 0x5555),
            hole_on: false,
            hole_until: None,
            schedule: VecDeque::new(),
            pool: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("lt-link-{role}"))
            .spawn(move || engine.run())
            .map_err(|e| NetworkError::io("starting the link emulator thread", e))?;
        if let Ok(mut list) = self.inner.emulators.lock() {
            list.push(Running {
                shared: shared.clone(),
                thread,
            });
        }
        Ok(LinkControl {
            shared,
            inner: i,
            outer: o,
            inner_addr,
            outer_addr,
        })
    }
}
