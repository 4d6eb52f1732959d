//! Names and addresses the lab owns: `lt-<id>-<role>` names and the 10.231.0.0/16 address range, one
//! /24 block per lab and one /30 per link inside it. Pure functions, tested without a kernel.

use std::net::Ipv4Addr;

use super::{NetworkError, Result};

/// Prefix of every namespace and interface the tool makes.
pub const PREFIX: &str = "lt-";
/// The private range the tool owns: first two octets of 10.231.0.0/16.
pub const RANGE_OCTETS: [u8; 2] = [10, 231];
/// The range as text.
pub const RANGE: &str = "10.231.0.0/16";

/// Whether an address is in [`RANGE`].
pub fn in_range(ip: std::net::Ipv4Addr) -> bool {
    ip.octets()[..2] == RANGE_OCTETS
}
/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// Links per lab block: a /24 holds 64 /30 subnets.
pub const LINKS_PER_BLOCK: u8 = 64;

/// A lab's id: four hex digits, unique among the labs alive on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabId(pub u16);

impl std::fmt::Display for LabId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04x}", self.0)
    }
}

impl LabId {
    /// Parse the four hex digits.
    pub fn parse(s: &str) -> Option<LabId> {
        if s.len() == 4
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            u16::from_str_radix(s, 16).ok().map(LabId)
        } else {
            None
        }
    }

    /// The name of one of its objects: `lt-<id>-<role>`; roles are 1–7 of `[a-z0-9]`.
    pub fn name(self, role: &str) -> Result<String> {
        let ok = !role.is_empty()
            && role
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let name = format!("{PREFIX}{self}-{role}");
        if !ok || name.len() > IFNAME_MAX {
            return Err(NetworkError::bad(
                "role",
                role,
                "1 to 7 characters of a-z and 0-9",
            ));
        }
        Ok(name)
    }
}

/// The lab id and role of a name the tool made, `None` for any other name.
pub fn parse_name(name: &str) -> Option<(LabId, &str)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (id, role) = rest.split_once('-')?;
    let id = LabId::parse(id)?;
    let ok = !role.is_empty()
        && name.len() <= IFNAME_MAX
        && role
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    ok.then_some((id, role))
}

/// A lab's /24: 10.231.`block`.0/24.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Block(pub u8);

impl Block {
    /// The block as a prefix, e.g. `10.231.7.0/24`.
    pub fn cidr(self) -> String {
        format!("{}.{}.{}.0/24", RANGE_OCTETS[0], RANGE_OCTETS[1], self.0)
    }

    /// The two ends of link `slot` (a /30): `.4·slot+1` and `.4·slot+2`.
    pub fn link(self, slot: u8) -> Result<(Ipv4Addr, Ipv4Addr)> {
        if slot >= LINKS_PER_BLOCK {
            return Err(NetworkError::Unavailable(format!(
                "a lab holds at most {LINKS_PER_BLOCK} links"
            )));
        }
        let [a, b] = RANGE_OCTETS;
        let base = slot * 4;
        Ok((
            Ipv4Addr::new(a, b, self.0, base + 1),
            Ipv4Addr::new(a, b, self.0, base + 2),
        ))
    }

    /// True when `ip` is inside this block.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        o[0] == RANGE_OCTETS[0] && o[1] == RANGE_OCTETS[1] && o[2] == self.0
    }
}

/// A parsed IPv4 prefix `a.b.c.d/len` (`default` is 0.0.0.0/0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// Network address.
    pub addr: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
}

impl Prefix {
    /// Parse `a.b.c.d[/len]` or `default`.
    pub fn parse(s: &str) -> Option<Prefix> {
        if s == "default" {
            return Some(Prefix {
                addr: Ipv4Addr::UNSPECIFIED,
                len: 0,
            });
        }
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        let len: u8 = l.parse().ok().filter(|l| *l <= 32)?;
        Some(Prefix {
            addr: a.parse().ok()?,
            len,
        })
    }

    fn mask(len: u8) -> u32 {
        if len == 0 { 0 } else { u32::MAX << (32 - len) }
    }

    /// True when the two prefixes share at least one address.
    pub fn overlaps(&self, other: &Prefix) -> bool {
        let m = Self::mask(self.len.min(other.len));
        (u32::from(self.addr) & m) == (u32::from(other.addr) & m)
    }

    /// The tool's whole range.
    pub fn range() -> Prefix {
        let [a, b] = RANGE_OCTETS;
        Prefix {
            addr: Ipv4Addr::new(a, b, 0, 0),
            len: 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_fit_an_interface_name() {
        let id = LabId(0xa3f2);
        let n = id.name("c12p").unwrap();
        assert_eq!(n, "lt-a3f2-c12p");
        assert_eq!(parse_name(&n), Some((id, "c12p")));
        assert_eq!(id.name("janus12").unwrap().len(), 15);
        assert!(id.name("janus123").is_err(), "16 bytes is too long");
        assert!(id.name("Bad").is_err());
        assert!(id.name("").is_err());
        for foreign in [
            "eth0",
            "lo",
            "ltv0",
            "lt-",
            "lt-zz12-a",
            "lt-A3F2-a",
            "lt-a3f2-",
            "lt-a3f2-x_y",
            "lt-a3f2",
            "lt-a3f21-a",
        ] {
            assert_eq!(parse_name(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn links_are_disjoint_slash_30s_inside_the_block() {
        let b = Block(7);
        assert_eq!(b.cidr(), "10.231.7.0/24");
        let (a0, b0) = b.link(0).unwrap();
        let (a1, b1) = b.link(1).unwrap();
        assert_eq!(
            (a0.to_string(), b0.to_string()),
            ("10.231.7.1".into(), "10.231.7.2".into())
        );
        assert_eq!(a1.to_string(), "10.231.7.5");
        assert_eq!(b1.to_string(), "10.231.7.6");
        let (a63, b63) = b.link(63).unwrap();
        assert_eq!((a63.octets()[3], b63.octets()[3]), (253, 254));
        assert!(b.link(64).is_err());
        assert!(b.contains(b63) && !Block(8).contains(b63));
    }

    #[test]
    fn prefixes_overlap_when_they_share_addresses() {
        let r = Prefix::range();
        let p = |s| Prefix::parse(s).unwrap();
        assert!(r.overlaps(&p("10.231.4.0/24")));
        assert!(
            r.overlaps(&p("10.0.0.0/8")),
            "a wider route covers the range"
        );
        assert!(r.overlaps(&p("default")));
        assert!(!r.overlaps(&p("10.232.0.0/16")));
        assert!(!r.overlaps(&p("192.0.2.0/24")));
        assert!(r.overlaps(&p("10.231.9.6")));
        assert_eq!(Prefix::parse("10.1.2.3/33"), None);
        assert_eq!(Prefix::parse("nonsense"), None);
    }
}
