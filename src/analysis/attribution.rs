//! Bridge attribution: which bridge a participant's media went through, from the remote address of
//! its selected ICE candidate pair and the media addresses the scenario gives its bridges.

use std::net::IpAddr;

use crate::scenario::Scenario;

/// The configured bridges' media addresses: (IP as written, bridge name).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bridges(Vec<(String, String)>);

impl Bridges {
    /// From `[[metrics.jvb]]` (name, media address) and `[[metrics.process]]` with a media address.
    pub fn of(s: &Scenario) -> Bridges {
        let jvb = s
            .metrics
            .jvb
            .iter()
            .map(|j| j.identity())
            .filter_map(|(name, media)| Some((media?, name)));
        let process = s
            .metrics
            .process
            .iter()
            .filter_map(|p| Some((p.media_address.clone()?, p.name.clone())));
        Bridges(jvb.chain(process).collect())
    }

    /// From explicit (address, name) pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Bridges {
        Bridges(pairs)
    }

    /// The bridge a remote address belongs to: the configured bridge whose media address is the
    /// address's IP, else that IP itself (IPv4 or IPv6, with or without port); empty when unknown.
    pub fn bridge_of(&self, remote_address: &str) -> String {
        let Some((ip, _)) = parse_address(remote_address) else {
            return String::new();
        };
        self.0
            .iter()
            .find(|(addr, _)| parse_address(addr).map(|a| a.0) == Some(ip))
            .map(|(_, name)| name.clone())
            .unwrap_or_else(|| ip.to_string())
    }
}

/// The IP and port of an address as browsers report it (`ip:port`, `[v6]:port`, or a bare address).
pub fn parse_address(text: &str) -> Option<(IpAddr, Option<u16>)> {
    let t = text.trim();
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return Some((sa.ip(), Some(sa.port())));
    }
    if let Ok(ip) = t.trim_start_matches('[').trim_end_matches(']').parse() {
        return Some((ip, None));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_v4_and_v6() {
        assert_eq!(
            parse_address("10.0.0.7:10000"),
            Some(("10.0.0.7".parse::<IpAddr>().unwrap(), Some(10000)))
        );
        assert_eq!(
            parse_address("[2001:db8::1]:10000"),
            Some(("2001:db8::1".parse::<IpAddr>().unwrap(), Some(10000)))
        );
        assert_eq!(
            parse_address("2001:db8::1"),
            Some(("2001:db8::1".parse::<IpAddr>().unwrap(), None))
        );
        assert_eq!(parse_address("nonsense"), None);
    }

    #[test]
    fn attribution_matches_v4_and_v6_with_ports() {
        let b = Bridges::new(vec![
            ("10.0.0.5".to_string(), "jvb-0".to_string()),
            ("2001:db8::7".to_string(), "jvb-1".to_string()),
        ]);
        assert_eq!(b.bridge_of("10.0.0.5:10000"), "jvb-0");
        assert_eq!(b.bridge_of("[2001:db8::7]:10000"), "jvb-1");
        assert_eq!(b.bridge_of("10.0.0.9:10000"), "10.0.0.9");
        assert_eq!(b.bridge_of(""), "");
    }
}
