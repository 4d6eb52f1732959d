//! The topology the sandbox and cohorts use: a star around a router namespace.
//!
//! ```text
//!  root namespace ──veth "host link" (unshaped)──┐
//!                                                │   router namespace (forwarding on)
//!  server namespace(s) ──veth "server link"──────┤   e.g. Janus; htb cap and black-hole here
//!  cohort namespace(s) ──TUN ⇄ emulator ⇄ TUN────┘   browsers; delay/jitter/loss/rate both ways
//! ```
//!
//! Every participant's media crosses its server's link, so a cap or a black-hole there hits them all,
//! while a cohort's profile hits only that cohort. The root namespace reaches servers through the
//! host link and a /32 route per server; it never forwards.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::emulator::{LinkControl, Profile, Rate};
use super::lab::{Lab, Namespace, Veth};
use super::{NetworkError, Result, addr, cmd, registry};

/// A server (e.g. Janus) in its own namespace behind its own veth to the router.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its namespace: start the server inside it.
    pub ns: Namespace,
    /// The link: `a` is the router's end, `b` the server's.
    pub link: Veth,
    /// The server's address (bind and advertise this one).
    pub addr: Ipv4Addr,
}

impl Server {
    /// The interface inside the server's namespace (e.g. for Janus's `ice_enforce_list`).
    pub fn iface(&self) -> &str {
        &self.link.b.name
    }
}

/// A cohort namespace whose only way out is an emulated link to the router.
#[derive(Debug, Clone)]
pub struct Cohort {
    /// Its namespace: start browsers inside it.
    pub ns: Namespace,
    /// The emulated link's controls and counters.
    pub link: LinkControl,
}

/// A router namespace with servers and cohorts around it (see the module docs).
#[derive(Debug)]
pub struct Star {
    lab: Lab,
    router: Namespace,
    host: Option<Veth>,
}

impl Star {
    /// A lab with a router namespace (forwarding on) joined to the root namespace.
    pub fn create() -> Result<Star> {
        let lab = Lab::create()?;
        let router = lab.namespace("r")?;
        router.enable_forwarding()?;
        let host = lab.veth("h", None, "hr", Some(&router))?;
        Ok(Star {
            lab,
            router,
            host: Some(host),
        })
    }

    /// A lab of its own that adds cohorts to the router of another live star (e.g. the one of a
    /// `loadtest sandbox --isolated` running in another process), named as that sandbox prints it.
    pub fn attach(router: &str) -> Result<Star> {
        let live = registry::records()
            .iter()
            .any(|r| r.owner_alive() && r.namespaces.iter().any(|n| n == router));
        if addr::parse_name(router).is_none()
            || !live
            || !cmd::namespaces()?.iter().any(|n| n == router)
        {
            return Err(NetworkError::Refused(format!(
                "{router:?} is not the router namespace of a running lab"
            )));
        }
        Ok(Star {
            lab: Lab::create()?,
            router: Namespace::existing(router),
            host: None,
        })
    }

    /// The router namespace of the running lab whose addresses include `addr` (e.g. the isolated
    /// sandbox's Janus), if one does.
    pub fn router_of(addr: Ipv4Addr) -> Option<String> {
        if !addr::in_range(addr) {
            return None;
        }
        let block = addr.octets()[2];
        registry::records()
            .into_iter()
            .filter(|r| r.block == Some(block) && r.owner_alive())
            .find_map(|r| {
                let router = r.lab_id()?.name("r").ok()?;
                r.namespaces.contains(&router).then_some(router)
            })
    }

    /// The lab (for caps and black-holes on any of its veths).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The router namespace.
    pub fn router(&self) -> &Namespace {
        &self.router
    }

    /// The veth joining the root namespace (`a`) and the router (`b`); `None` for an attached star.
    pub fn host_link(&self) -> Option<&Veth> {
        self.host.as_ref()
    }

    /// A server namespace `lt-<id>-<role>` behind veth `<role>r` (router end) ↔ `<role>s` (server end),
    /// reachable from the root namespace. `role` is at most 6 characters.
    pub fn add_server(&self, role: &str) -> Result<Server> {
        let host = self
            .host
            .as_ref()
            .ok_or_else(|| NetworkError::Refused("an attached star adds cohorts only".into()))?;
        let ns = self.lab.namespace(role)?;
        let link = self.lab.veth(
            &format!("{role}r"),
            Some(&self.router),
            &format!("{role}s"),
            Some(&ns),
        )?;
        ns.ip(&["route", "add", "default", "via", &link.addr_a.to_string()])?;
        self.lab.root_route(link.addr_b, host.addr_b, &host.a)?;
        Ok(Server {
            addr: link.addr_b,
            ns,
            link,
        })
    }

    /// A cohort namespace `lt-<id>-<role>` whose only way out is an emulated link with `profile` to
    /// the router. `role` is at most 6 characters.
    pub fn add_cohort(&self, role: &str, profile: Profile) -> Result<Cohort> {
        let ns = self.lab.namespace(role)?;
        let link = self.lab.emulated_link(role, &ns, &self.router, profile)?;
        Ok(Cohort { ns, link })
    }

    /// Cap a server's link at `rate` both ways (drop-tail queue of `queue` at that rate).
    pub fn cap(&self, server: &Server, rate: Rate, queue: Duration) -> Result<()> {
        self.lab.cap(&server.link, rate, queue)
    }

    /// Black-hole a server's link both ways (`true`) or carry traffic again (`false`).
    pub fn black_hole(&self, server: &Server, on: bool) -> Result<()> {
        self.lab.black_hole(&server.link, on)
    }

    /// Remove everything now.
    pub fn teardown(self) -> Result<()> {
        self.lab.teardown()
    }

    /// Remove everything now, through a shared reference (idempotent: what is dropped later has
    /// nothing left to remove).
    pub fn remove(&self) -> Result<()> {
        match self.lab.inner.teardown().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
