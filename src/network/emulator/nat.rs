//! The far end of an emulated link that leads out of the lab: a userspace UDP NAT. What the shaped
//! namespace sends is parsed as IPv4/UDP and sent from a socket of this process's network namespace
//! (one socket per inner endpoint, to any destination: endpoint-independent, as ICE likes it); what
//! comes back to that socket is wrapped in IPv4/UDP again and handed to the link. It needs no
//! forwarding, no NAT rules and no route into the lab: the sockets are ordinary sockets of this
//! process. Only UDP is carried (WebRTC media); the shaped namespace's TCP goes through the tool's
//! HTTP proxy ([`crate::network::egress`]). Other packets are dropped and counted.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// How long a mapping lives without traffic (ICE consent checks run every few seconds).
const IDLE: Duration = Duration::from_secs(120);
/// The most mappings kept at once.
const MAX_FLOWS: usize = 4096;

struct Flow {
    sock: UdpSocket,
    last: Instant,
}

/// A userspace UDP NAT (see the module docs).
pub struct Nat {
    epoll: OwnedFd,
    flows: HashMap<SocketAddrV4, Flow>,
    by_fd: HashMap<RawFd, SocketAddrV4>,
    queue: VecDeque<Vec<u8>>,
    swept: Instant,
    /// Packets from the shaped side that were not UDP over IPv4 (dropped).
    pub not_carried: u64,
}

/// One UDP datagram of an IPv4 packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Source.
    pub src: SocketAddrV4,
    /// Destination.
    pub dst: SocketAddrV4,
    /// Payload.
    pub payload: &'a [u8],
}

/// Parse an unfragmented IPv4 UDP packet.
pub fn parse_udp(pkt: &[u8]) -> Option<Datagram<'_>> {
    if pkt.len() < 28 || pkt[0] >> 4 != 4 || pkt[9] != 17 {
        return None;
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    let fragment = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff;
    if ihl < 20 || total > pkt.len() || total < ihl + 8 || fragment != 0 {
        return None;
    }
    let udp = &pkt[ihl..total];
    let len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if len < 8 || len > udp.len() {
        return None;
    }
    let ip = |o: usize| Ipv4Addr::new(pkt[o], pkt[o + 1], pkt[o + 2], pkt[o + 3]);
    let port = |o: usize| u16::from_be_bytes([udp[o], udp[o + 1]]);
    Some(Datagram {
        src: SocketAddrV4::new(ip(12), port(0)),
        dst: SocketAddrV4::new(ip(16), port(2)),
        payload: &udp[8..len],
    })
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn add(sum: u32, bytes: &[u8]) -> u32 {
    bytes.chunks(2).fold(sum, |s, c| {
        s + u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
    })
}

/// Write an IPv4/UDP packet (checksums filled in) into `out`.
pub fn build_udp(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8], out: &mut Vec<u8>) {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    out.clear();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    out.extend_from_slice(&src.ip().octets());
    out.extend_from_slice(&dst.ip().octets());
    let ip_sum = fold(add(0, &out[..20]));
    out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    out.extend_from_slice(&src.port().to_be_bytes());
    out.extend_from_slice(&dst.port().to_be_bytes());
    out.extend_from_slice(&(udp_len as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(payload);
    // The pseudo-header: addresses, protocol, UDP length.
    let mut sum = add(0, &out[12..20]);
    sum += 17 + udp_len as u32;
    sum = add(sum, &out[20..]);
    let udp_sum = match fold(sum) {
        0 => 0xffff,
        s => s,
    };
    out[26..28].copy_from_slice(&udp_sum.to_be_bytes());
}

impl Nat {
    /// An empty NAT; its sockets are made in the calling thread's network namespace.
    pub fn new() -> io::Result<Nat> {
        // SAFETY: epoll_create1(2) with a constant flag.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Nat {
            // SAFETY: a fresh descriptor we own.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            flows: HashMap::new(),
            by_fd: HashMap::new(),
            queue: VecDeque::new(),
            swept: Instant::now(),
            not_carried: 0,
        })
    }

    /// A descriptor that is readable when a reply waits (for poll).
    pub fn raw_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    fn flow(&mut self, inner: SocketAddrV4) -> io::Result<&mut Flow> {
        if !self.flows.contains_key(&inner) {
            if self.flows.len() >= MAX_FLOWS {
                return Err(io::Error::other("too many UDP mappings"));
            }
            let sock = UdpSocket::bind("0.0.0.0:0")?;
            sock.set_nonblocking(true)?;
            let fd = sock.as_raw_fd();
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            // SAFETY: epoll_ctl(2) adding a socket we own, with an event that lives across the call.
            if unsafe { libc::epoll_ctl(self.raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
                return Err(io::Error::last_os_error());
            }
            self.by_fd.insert(fd, inner);
            let last = Instant::now();
            self.flows.insert(inner, Flow { sock, last });
        }
        self.flows
            .get_mut(&inner)
            .ok_or_else(|| io::Error::other("mapping vanished"))
    }

    /// Drop mappings idle for [`IDLE`] (their sockets close and leave the epoll set).
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.swept) < Duration::from_secs(5) {
            return;
        }
        self.swept = now;
        let idle: Vec<SocketAddrV4> = self
            .flows
            .iter()
            .filter(|(_, f)| now.duration_since(f.last) > IDLE)
            .map(|(k, _)| *k)
            .collect();
        for k in idle {
            if let Some(f) = self.flows.remove(&k) {
                self.by_fd.remove(&f.sock.as_raw_fd());
            }
        }
    }

    /// A packet from the shaped side: send its UDP payload to its destination.
    pub fn send(&mut self, pkt: &[u8]) -> io::Result<usize> {
        let Some(d) = parse_udp(pkt) else {
            self.not_carried += 1;
            return Ok(pkt.len());
        };
        let now = Instant::now();
        self.sweep(now);
        let (dst, payload) = (d.dst, d.payload.to_vec());
        let flow = self.flow(d.src)?;
        flow.last = now;
        flow.sock.send_to(&payload, dst)?;
        Ok(pkt.len())
    }

    /// The next packet for the shaped side; `WouldBlock` when none waits.
    pub fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.queue.is_empty() {
            self.fill(buf)?;
        }
        match self.queue.pop_front() {
            Some(p) if p.len() <= buf.len() => {
                buf[..p.len()].copy_from_slice(&p);
                Ok(p.len())
            }
            Some(_) => Err(io::Error::other("packet larger than the buffer")),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    /// Read every waiting reply into the queue, as packets addressed to their inner endpoints.
    fn fill(&mut self, scratch: &mut [u8]) -> io::Result<()> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: epoll_wait(2) into a buffer of 64 events, without blocking.
        let n = unsafe { libc::epoll_wait(self.raw_fd(), events.as_mut_ptr(), 64, 0) };
        let now = Instant::now();
        for ev in events.iter().take(n.max(0) as usize) {
            let fd = ev.u64 as RawFd;
            let Some(inner) = self.by_fd.get(&fd).copied() else {
                continue;
            };
            let Some(flow) = self.flows.get_mut(&inner) else {
                continue;
            };
            while let Ok((len, from)) = flow.sock.recv_from(scratch) {
                flow.last = now;
                let SocketAddr::V4(from) = from else { continue };
                let mut pkt = Vec::with_capacity(len + 28);
                build_udp(from, inner, &scratch[..len], &mut pkt);
                self.queue.push_back(pkt);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_packets_round_trip_with_valid_checksums() {
        let src = SocketAddrV4::new(Ipv4Addr::new(10, 231, 5, 2), 50000);
        let dst = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 3478);
        let mut pkt = Vec::new();
        build_udp(src, dst, b"hello!!", &mut pkt);
        assert_eq!(pkt.len(), 20 + 8 + 7);
        // Both checksums verify: the ones' complement sum over the header (and the pseudo-header
        // with the datagram) is all ones.
        assert_eq!(fold(add(0, &pkt[..20])), 0);
        let mut sum = add(0, &pkt[12..20]) + 17 + 15;
        sum = add(sum, &pkt[20..]);
        assert_eq!(fold(sum), 0);
        let d = parse_udp(&pkt).unwrap();
        assert_eq!((d.src, d.dst, d.payload), (src, dst, &b"hello!!"[..]));
        // Not UDP, fragments and truncated packets are refused.
        let mut tcp = pkt.clone();
        tcp[9] = 6;
        assert!(parse_udp(&tcp).is_none());
        let mut frag = pkt.clone();
        frag[6] = 0x20;
        assert!(parse_udp(&frag).is_none());
        assert!(parse_udp(&pkt[..25]).is_none());
    }

    #[test]
    fn datagrams_go_out_from_a_socket_and_replies_come_back_addressed_inside() {
        let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match echo.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let mut nat = Nat::new().unwrap();
        let inner = SocketAddrV4::new(Ipv4Addr::new(10, 231, 5, 2), 40000);
        let mut pkt = Vec::new();
        build_udp(inner, to, b"ping", &mut pkt);
        nat.send(&pkt).unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = echo.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"ping");
        echo.send_to(b"pong", from).unwrap();
        let mut out = [0u8; 2048];
        let deadline = Instant::now() + Duration::from_secs(2);
        let n = loop {
            match nat.recv(&mut out) {
                Ok(n) => break n,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("{e}"),
            }
        };
        let d = parse_udp(&out[..n]).unwrap();
        assert_eq!((d.src, d.dst, d.payload), (to, inner, &b"pong"[..]));
        nat.send(&[0x45, 0, 0, 20]).unwrap();
        assert_eq!(nat.not_carried, 1);
    }
}
