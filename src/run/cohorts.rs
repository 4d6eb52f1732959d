//! A run's cohorts: where each cohort's browsers sit on the network.
//!
//! With the local driver, the run makes a lab of its own attached to the router of the lab the
//! target lives in (`loadtest sandbox --isolated`), one namespace per cohort behind an emulated link
//! with its profile, a browser wrapper per namespace and a relay that brings the participant page
//! into it; all of it goes when the run ends, fails or is interrupted (and a crashed run's leftovers
//! are removed by the next one). With a Grid, the Grid's network nodes (`loadtest:network` in their
//! stereotypes) hold the namespaces: the run checks they are there and asks for them.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use crate::error::InfraError;
use crate::network::egress::EgressLab;
use crate::network::netns::{GRID_CAPABILITY, Relay, UNSHAPED};
use crate::network::{Cohort, LinkControl, Star, registry};
use crate::participant::targets::Target;
use crate::scenario::Scenario;
use crate::webdriver::capabilities::{Placement, Placements};
use crate::webdriver::grid::Grid;

/// The cohorts of a running test.
#[derive(Default)]
pub struct Cohorts {
    /// Where each cohort's browsers go.
    pub placements: Placements,
    /// Each local cohort's emulated link, by cohort name.
    pub links: BTreeMap<String, LinkControl>,
    local: Option<Local>,
    /// Page relays into the namespaces of Grid network nodes on this machine.
    relays: Vec<Relay>,
}

/// What a local run made: its lab, relays and wrapper scripts.
struct Local {
    net: Net,
    namespaces: Vec<String>,
    _relays: Vec<Relay>,
    _wrappers: tempfile::TempDir,
}

/// The run's lab: attached to the router of the target's lab, or leading off the machine.
enum Net {
    Attached(Star),
    Egress(EgressLab),
}

impl Cohorts {
    /// Set up the scenario's cohorts for browsers from the local driver (`grid = None`) or a Grid.
    pub async fn start(
        s: &Scenario,
        target: &Target,
        grid: Option<&Grid>,
    ) -> Result<Cohorts, InfraError> {
        if s.cohort.is_empty() {
            return Ok(Cohorts::default());
        }
        let page = page_port(target)?;
        match grid {
            Some(g) => on_grid(s, g, page).await,
            None => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || local(&s, page))
                    .await
                    .map_err(|e| InfraError::new("cohorts", e.to_string()))?
            }
        }
    }

    /// Remove what the run made (also done on drop).
    pub async fn stop(self) {
        if let Some(l) = self.local {
            let _ = tokio::task::spawn_blocking(move || {
                let done = match l.net {
                    Net::Attached(star) => star.teardown(),
                    Net::Egress(lab) => lab.teardown(),
                };
                if let Err(e) = done {
                    tracing::warn!("cohorts' network: {e}");
                }
            })
            .await;
        }
    }

    /// The namespaces this run made, one per cohort (empty on a Grid).
    pub fn namespaces(&self) -> &[String] {
        self.local.as_ref().map_or(&[], |l| &l.namespaces)
    }
}

/// The port of the tool's participant page (Janus), which browsers inside reach through a relay on
/// their own 127.0.0.1; `None` for a target that serves its own page.
fn page_port(target: &Target) -> Result<Option<u16>, InfraError> {
    match target {
        Target::Janus { page, .. } => {
            let base = page.base();
            if base.host_str() != Some("127.0.0.1") {
                return Err(InfraError::new(
                    "cohorts",
                    format!(
                        "the participant page is served on {} but cohorts on this machine reach it through a relay on 127.0.0.1 (set target.janus.page_host = \"127.0.0.1\")",
                        base.host_str().unwrap_or("?")
                    ),
                ));
            }
            Ok(base.port())
        }
        Target::Jitsi { .. } => Ok(None),
    }
}

/// The router namespace of the lab the target lives in, if it lives in one; a target on loopback
/// cannot be reached from a namespace at all.
fn target_router(s: &Scenario) -> Result<Option<String>, InfraError> {
    let host = url::Url::parse(&s.target.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let addr: Option<Ipv4Addr> = host.parse().ok();
    if addr.is_some_and(|a| a.is_loopback()) || host == "localhost" {
        return Err(InfraError::new(
            "cohorts",
            format!(
                "the target {host} is on loopback, which a cohort's namespace cannot reach: start it with `loadtest sandbox --isolated` and point target.url at the address it prints"
            ),
        ));
    }
    Ok(addr.and_then(Star::router_of))
}

fn local(s: &Scenario, page: Option<u16>) -> Result<Cohorts, InfraError> {
    let err = |e: crate::network::NetworkError| InfraError::new("cohorts' network", e.to_string());
    // A crashed earlier run's namespaces are removed first; live labs (the sandbox's) are kept.
    let left = registry::cleanup_leftovers().map_err(err)?;
    if !left.is_empty() {
        tracing::info!(labs = ?left.labs, "removed leftovers of crashed runs");
    }
    // Inside the target's lab, through its router; else off the machine through the tool's NAT
    // and proxy.
    let mut net = match target_router(s)? {
        Some(router) => Net::Attached(Star::attach(&router).map_err(err)?),
        None => Net::Egress(EgressLab::create().map_err(err)?),
    };
    let wrappers = tempfile::Builder::new()
        .prefix("loadtest-browsers-")
        .tempdir()
        .map_err(|e| InfraError::new("cohorts", format!("a directory for wrappers: {e}")))?;
    let mut out = Cohorts::default();
    let (mut relays, mut namespaces) = (Vec::new(), Vec::new());
    for (k, c) in s.cohort.iter().enumerate() {
        let profile = c
            .profile
            .resolve(&c.name)
            .map_err(|e| InfraError::new(format!("cohort {}", c.name), e.to_string()))?;
        let role = format!("c{k}");
        let (cohort, proxy): (Cohort, Option<String>) = match &mut net {
            Net::Attached(star) => (star.add_cohort(&role, profile).map_err(err)?, None),
            Net::Egress(lab) => {
                let c = lab.add_cohort(&role, profile).map_err(err)?;
                (c, Some(lab.proxy_url()))
            }
        };
        namespaces.push(cohort.ns.name().to_string());
        if let Some(port) = page {
            relays.push(cohort.ns.forward_out(port).map_err(err)?);
        }
        let wrapper = cohort
            .ns
            .browser_wrapper(&s.webdriver.browser, wrappers.path())
            .map_err(err)?;
        out.placements
            .cohorts
            .insert(c.name.clone(), Placement::Wrapped { wrapper, proxy });
        out.links.insert(c.name.clone(), cohort.link);
    }
    out.local = Some(Local {
        net,
        namespaces,
        _relays: relays,
        _wrappers: wrappers,
    });
    Ok(out)
}

/// On a Grid: every cohort needs a node carrying its network, and participants in no cohort a node
/// carrying [`UNSHAPED`] (the Grid matches an extension capability only when a session names it).
async fn on_grid(s: &Scenario, grid: &Grid, page: Option<u16>) -> Result<Cohorts, InfraError> {
    let status = grid.status().await?;
    let mut free: HashMap<&str, usize> = HashMap::new();
    for n in status.nodes.iter().filter(|n| n.availability == "UP") {
        for net in &n.networks {
            *free.entry(net.as_str()).or_default() += n.slots.saturating_sub(n.busy);
        }
    }
    let per = s.load.participants_per_conference;
    let in_cohorts: u32 = s.cohort.iter().map(|c| c.members(per)).sum();
    let mut wanted: Vec<&str> = s.cohort.iter().map(|c| c.name.as_str()).collect();
    if in_cohorts < per {
        wanted.push(UNSHAPED);
    }
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|n| !free.contains_key(n))
        .collect();
    if !missing.is_empty() {
        return Err(InfraError::new(
            "cohorts on the Grid",
            format!(
                "no node carries {GRID_CAPABILITY} = {} (the Grid has: {}); start them with `loadtest network-node --network NAME=PROFILE` (on a fleet: `loadtest provision --scenario` with the cohorts)",
                missing.join(", "),
                if free.is_empty() {
                    "no network nodes".to_string()
                } else {
                    free.keys().copied().collect::<Vec<_>>().join(", ")
                }
            ),
        ));
    }
    let proxy_of = |net: &str| {
        let prefix = format!("{net}=");
        status
            .nodes
            .iter()
            .flat_map(|n| &n.proxies)
            .find_map(|p| p.strip_prefix(&prefix).map(str::to_string))
    };
    let mut out = Cohorts::default();
    for c in &s.cohort {
        let placement = Placement::Network {
            name: c.name.clone(),
            proxy: proxy_of(&c.name),
        };
        out.placements.cohorts.insert(c.name.clone(), placement);
    }
    out.placements.others = Placement::Network {
        name: UNSHAPED.into(),
        proxy: None,
    };
    // Network nodes on this machine: their browsers reach the page through a relay, as local ones do.
    if let Some(port) = page {
        let here = crate::network::cmd::namespaces().unwrap_or_default();
        let theirs: std::collections::BTreeSet<&String> =
            status.nodes.iter().flat_map(|n| &n.namespaces).collect();
        for ns in theirs {
            if here.contains(ns) {
                let relay = Relay::start(Some(ns), None, port)
                    .map_err(|e| InfraError::new(format!("page relay into {ns}"), e.to_string()))?;
                out.relays.push(relay);
            }
        }
    }
    Ok(out)
}
