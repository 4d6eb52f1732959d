//! Bootstrap a fleet from its inventory: every host over SSH in parallel ([`bootstrap`]), then the
//! registration check on the hub, then the inventory written back and a summary printed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::bootstrap::{self, HostOutcome, Plan};
use super::inventory::{self, HostState, Inventory};
use super::slots::Slots;
use super::ssh::{self, Remote, Ssh};
use super::{ProvisionArgs, ProvisionError, target, to_anyhow};
use crate::error::{EXIT_INFRA, EXIT_OK, InfraError, UsageError};
use crate::scenario::density::{Fidelity, Mode};

/// The fake media files and the slots per node for the scenario's (or the default) media and density
/// mode, with the mode flags and `--slots` applied.
pub(super) fn media_plan(args: &ProvisionArgs) -> anyhow::Result<(Vec<PathBuf>, Slots)> {
    let (media, base, fidelity) = match &args.scenario {
        Some(p) => {
            let loaded = crate::scenario::load(p, &[])?;
            let base = loaded
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let fidelity = Fidelity::of(&loaded.scenario);
            (loaded.scenario.media, base, fidelity)
        }
        None => {
            let media = crate::scenario::Media::default();
            // A scenario's defaults: every participant sends and receives audio, decodes, own browser.
            let fidelity = Fidelity {
                video: media.video.clone(),
                audio: true,
                receive_audio: media.receive_audio,
                mode: Mode::BASE,
            };
            (media, PathBuf::from("."), fidelity)
        }
    };
    let video = crate::media::VideoSource::parse(&media.video, &base).map_err(UsageError)?;
    let audio = crate::media::AudioSource::parse(&media.audio, &base).map_err(UsageError)?;
    let prepared = crate::media::prepare(&video, &audio, &crate::media::cache_dir())
        .map_err(|e| InfraError::new("fake media", e.to_string()))?;
    let files = [prepared.video, prepared.audio]
        .into_iter()
        .flatten()
        .collect();
    Ok((
        files,
        Slots::for_mode(&args.mode.apply(fidelity), args.slots),
    ))
}

/// The networks of the scenario's `[[cohort]]`s, as `loadtest network-node` lines (`none` first).
fn networks_plan(args: &ProvisionArgs) -> anyhow::Result<Vec<String>> {
    let Some(p) = &args.scenario else {
        return Ok(Vec::new());
    };
    let s = crate::scenario::load(p, &[])?.scenario;
    if s.cohort.is_empty() {
        return Ok(Vec::new());
    }
    let mut lines = vec![crate::network::netns::UNSHAPED.to_string()];
    for c in &s.cohort {
        lines.push(super::network_node::network_line(&c.name, &c.profile).map_err(UsageError)?);
    }
    Ok(lines)
}

/// The fleet-wide bootstrap inputs, after checking the jar and preparing the media.
fn plan(args: &ProvisionArgs) -> anyhow::Result<Plan> {
    if !args.selenium_jar.is_file() {
        return Err(UsageError(format!(
            "Selenium server jar {} not found (./scripts/setup.sh fetches it; or pass --selenium-jar / LOADTEST_SELENIUM_JAR)",
            args.selenium_jar.display()
        ))
        .into());
    }
    let (media, slots) = media_plan(args)?;
    eprintln!("browser slots per node: {}", slots.rule());
    let networks = networks_plan(args)?;
    let loadtest = if networks.is_empty() {
        None
    } else {
        Some(std::env::current_exe().map_err(|e| {
            InfraError::new(
                "network nodes",
                format!("the loadtest binary to upload: {e}"),
            )
        })?)
    };
    Ok(Plan {
        jar: args.selenium_jar.clone(),
        media,
        slots,
        networks,
        loadtest,
    })
}

/// Bootstrap every host of `inv`, check registration, save the inventory to `inv_path` and print
/// a summary. Exit 0 when every host is ready, 3 otherwise.
pub async fn bootstrap_fleet(
    args: &ProvisionArgs,
    mut inv: Inventory,
    inv_path: &Path,
) -> anyhow::Result<i32> {
    if inv.hosts.is_empty() {
        return Err(UsageError(format!("{}: no [[host]] entries", inv_path.display())).into());
    }
    let plan = Arc::new(plan(args)?);
    let timeout = args.ssh_timeout.at_least_1s();
    let started = Instant::now();

    // 1. Every host, `--parallel` at a time.
    let outcomes = bootstrap_hosts(&inv, plan, args.parallel.max(1), timeout).await;
    let changes = record_outcomes(&mut inv, outcomes);
    inv.save(inv_path).map_err(to_anyhow)?;

    // 2. Registration: every bootstrapped node must be on the hub with its slots.
    let ready = args.ready_timeout.value;
    check_registration(&mut inv, timeout, ready).await?;
    mark_ready(&mut inv);
    inv.save(inv_path).map_err(to_anyhow)?;

    // 3. What happened.
    let failed = print_summary(&inv, inv_path, changes, started.elapsed());
    println!("{}", inv_path.display());
    Ok(if failed == 0 { EXIT_OK } else { EXIT_INFRA })
}

/// Run [`one_host`] for every host on the blocking pool, at most `parallel` at once.
async fn bootstrap_hosts(
    inv: &Inventory,
    plan: Arc<Plan>,
    parallel: usize,
    timeout: Duration,
) -> Vec<HostOutcome> {
    let shared = Arc::new(inv.clone());
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    eprintln!(
        "bootstrapping {} host(s), {parallel} at a time",
        inv.hosts.len()
    );
    let mut tasks = Vec::new();
    for i in 0..inv.hosts.len() {
        let (inv, plan, sem) = (shared.clone(), plan.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            tokio::task::spawn_blocking(move || one_host(&inv, i, &plan, timeout))
                .await
                .unwrap_or_else(|e| HostOutcome {
                    error: Some(ProvisionError::Config(format!("task failed: {e}"))),
                    ..Default::default()
                })
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_default());
    }
    out
}

/// Write each host's outcome into the inventory; the number of changes made.
fn record_outcomes(inv: &mut Inventory, outcomes: Vec<HostOutcome>) -> usize {
    let mut changes = 0;
    for (h, o) in inv.hosts.iter_mut().zip(outcomes) {
        if h.host_key.is_none() {
            h.host_key = o.host_key.clone();
        }
        h.cores = o.cores.or(h.cores);
        h.slots = o.slots.or(h.slots);
        changes += o.changes.len();
        match o.error {
            None => {
                h.state = HostState::Pending;
                h.step = None;
                h.error = None;
            }
            Some(e) => {
                eprintln!("[{}] FAILED: {e}", h.label());
                h.state = HostState::Failed;
                h.step = Some(e.step().to_string());
                h.error = Some(e.to_string());
            }
        }
    }
    changes
}

/// Ask the hub (over SSH on the hub host) until every node that bootstrapped is registered with
/// its slots or `ready` passes; mark the missing ones failed, with their log's tail.
async fn check_registration(
    inv: &mut Inventory,
    timeout: Duration,
    ready: Duration,
) -> anyhow::Result<()> {
    let hub_idx = inv.hub_index();
    let nodes: Vec<usize> = (0..inv.hosts.len())
        .filter(|&i| inv.role(i).node() && inv.hosts[i].state != HostState::Failed)
        .collect();
    let expected: Vec<(String, u32)> = nodes
        .iter()
        .map(|&i| {
            let h = &inv.hosts[i];
            let uri = bootstrap::node_uri(inv, h.grid_address());
            (uri, h.slots.unwrap_or(1))
        })
        .collect();
    let missing: Vec<(String, String)> = match hub_idx {
        Some(hi) if inv.hosts[hi].state != HostState::Failed => {
            let (inv2, exp) = (inv.clone(), expected.clone());
            tokio::task::spawn_blocking(move || {
                let mut s = Ssh::connect(
                    &target(&inv2, hi, timeout),
                    inv2.hosts[hi].host_key.as_deref(),
                )?;
                bootstrap::await_nodes(&mut s, &inv2, hi, &exp, ready)
            })
            .await
            .map_err(|e| anyhow::anyhow!("registration check failed: {e}"))?
            .unwrap_or_else(|e| {
                let why = format!("cannot ask the hub: {e}");
                expected
                    .iter()
                    .map(|(u, _)| (u.clone(), why.clone()))
                    .collect()
            })
        }
        _ => expected
            .iter()
            .map(|(u, _)| (u.clone(), "the hub host failed".to_string()))
            .collect(),
    };
    for (k, &i) in nodes.iter().enumerate() {
        let uri = &expected[k].0;
        inv.hosts[i].node_uri = Some(uri.clone());
        if let Some((_, why)) = missing.iter().find(|(u, _)| u == uri) {
            let tail = node_log_tail(inv, i, timeout);
            let h = &mut inv.hosts[i];
            h.state = HostState::Failed;
            h.step = Some("register".into());
            h.error = Some(format!("node {uri}: {why}{tail}"));
            eprintln!("[{}] FAILED: register: node {uri}: {why}{tail}", h.label());
        }
    }
    Ok(())
}

/// Hosts still pending after registration are ready; the grid URL is recorded when the hub's grid
/// address is the one the operator reaches.
fn mark_ready(inv: &mut Inventory) {
    for h in inv.hosts.iter_mut() {
        if h.state == HostState::Pending {
            h.state = HostState::Ready;
        }
    }
    if let Some(hi) = inv.hub_index() {
        let h = &inv.hosts[hi];
        inv.grid.url = (h.state == HostState::Ready && h.grid_address() == h.address).then(|| {
            format!(
                "http://{}:{}",
                inventory::url_host(&h.address),
                inv.grid.hub_port
            )
        });
    }
}

/// One line per host, the totals and where the grid is; the number of failed hosts.
fn print_summary(inv: &Inventory, inv_path: &Path, changes: usize, took: Duration) -> usize {
    let failed = inv
        .hosts
        .iter()
        .filter(|h| h.state == HostState::Failed)
        .count();
    for (i, h) in inv.hosts.iter().enumerate() {
        let role = match h.role {
            Some(r) => format!("{r:?}").to_lowercase(),
            None if i == 0 => "hub+node".to_string(),
            None => "node".to_string(),
        };
        eprintln!(
            "  {:<24} {:<8} {:<9} cores {:>3}  slots {:>3}  {}",
            h.label(),
            format!("{:?}", h.state).to_lowercase(),
            role,
            h.cores.map_or("-".into(), |c| c.to_string()),
            h.slots.map_or("-".into(), |c| c.to_string()),
            h.error.as_deref().unwrap_or("")
        );
    }
    let secs = took.as_secs_f64();
    if failed == 0 && changes == 0 {
        eprintln!("provision: no changes ({secs:.1} s)");
    } else {
        eprintln!(
            "provision: {} ready, {failed} failed, {changes} change(s) ({secs:.1} s)",
            inv.hosts.len() - failed
        );
    }
    let hub = inv
        .hub_index()
        .filter(|&hi| inv.hosts[hi].state == HostState::Ready);
    match (&inv.grid.url, hub) {
        (Some(u), _) => eprintln!(
            "grid: {u}  (loadtest run --inventory {})",
            inv_path.display()
        ),
        (None, Some(hi)) => {
            let h = &inv.hosts[hi];
            eprintln!(
                "grid: the hub listens on {}:{} inside the fleet; `loadtest run --inventory {}` and `loadtest grid status --inventory` reach it through an SSH tunnel via {}",
                h.grid_address(),
                inv.grid.hub_port,
                inv_path.display(),
                h.label()
            );
        }
        (None, None) => {}
    }
    failed
}

fn one_host(inv: &Inventory, i: usize, plan: &Plan, timeout: Duration) -> HostOutcome {
    let h = &inv.hosts[i];
    let label = h.label();
    let t0 = Instant::now();
    let mut ssh = match Ssh::connect(&target(inv, i, timeout), h.host_key.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            return HostOutcome {
                error: Some(e),
                ..Default::default()
            };
        }
    };
    if h.host_key.is_none() {
        eprintln!("[{label}] pinned host key {}", ssh.host_key);
    }
    let log = |m: &str| eprintln!("[{label}] {m}");
    let mut o = bootstrap::bootstrap_host(&mut ssh, inv, i, plan, &log);
    o.host_key = Some(ssh.host_key.clone());
    if o.error.is_none() {
        eprintln!(
            "[{label}] done in {:.1} s: {}",
            t0.elapsed().as_secs_f64(),
            if o.changes.is_empty() {
                "no changes".to_string()
            } else {
                format!("changed {}", o.changes.join(", "))
            }
        );
    }
    o
}

fn node_log_tail(inv: &Inventory, i: usize, timeout: Duration) -> String {
    let Ok(mut s) = Ssh::connect(&target(inv, i, timeout), inv.hosts[i].host_key.as_deref()) else {
        return String::new();
    };
    let dir = inv.remote_dir(i);
    let cmd = format!(
        "LT_DIR={} sh {}/bootstrap.sh logtail node",
        ssh::shell_quote(dir),
        ssh::shell_quote(dir)
    );
    match s.exec(&cmd, b"") {
        Ok(o) if !o.stdout.trim().is_empty() => format!(" (node log: {})", ssh::tail(&o.stdout, 4)),
        _ => String::new(),
    }
}
