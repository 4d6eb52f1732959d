//! `loadtest provision`, `destroy` and `grid status`: a load-generator fleet as a Selenium Grid.
//!
//! Servers come from the hand-written Terraform modules in `terraform/modules/` (a generated root
//! config in `terraform/work/<name>/`), or from a static inventory. Every host is then bootstrapped
//! over SSH ([`bootstrap`]): packages, the Grid jar, fake media, hub and node services, and a check
//! that each node registered with the hub with its slots. See docs/provision.md.

pub mod bootstrap;
pub mod cost;
pub mod inventory;
pub mod ssh;
pub mod terraform;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::error::{EXIT_INFRA, EXIT_OK, InfraError, UsageError};
use bootstrap::Plan;
use inventory::{HostState, Inventory};
use ssh::{Remote, Ssh, Target};
use terraform::{Cloud, Root, Runner};

/// What can go wrong while provisioning.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// Bad options or files (exit 2).
    #[error("{0}")]
    Config(String),
    /// The inventory file is unreadable or inconsistent (exit 2).
    #[error("inventory: {0}")]
    Inventory(String),
    /// A step on one host failed.
    #[error("{host}: {step}: {detail}")]
    Host {
        /// Host label.
        host: String,
        /// The step.
        step: String,
        /// What happened (with the remote stderr's tail).
        detail: String,
    },
    /// The host offered a different key than the one pinned in the inventory.
    #[error(
        "{host}: host key changed: the inventory pins {pinned}, the server offered {offered}. Refusing to connect. If the server was rebuilt on purpose, delete its host_key line from the inventory and re-run."
    )]
    HostKeyChanged {
        /// Host label.
        host: String,
        /// The pinned fingerprint.
        pinned: String,
        /// The offered fingerprint.
        offered: String,
    },
    /// A terraform/tofu command failed.
    #[error("{command}: {detail}")]
    Terraform {
        /// The command.
        command: String,
        /// Exit status and output tail.
        detail: String,
    },
}

impl ProvisionError {
    /// The step this error belongs to.
    pub fn step(&self) -> &str {
        match self {
            ProvisionError::Host { step, .. } => step,
            ProvisionError::HostKeyChanged { .. } => "host key",
            ProvisionError::Terraform { .. } => "terraform",
            _ => "config",
        }
    }
}

fn to_anyhow(e: ProvisionError) -> anyhow::Error {
    match e {
        ProvisionError::Config(_) | ProvisionError::Inventory(_) => {
            UsageError(e.to_string()).into()
        }
        ProvisionError::Terraform { ref command, .. } => {
            InfraError::new(command.clone(), e.to_string()).into()
        }
        _ => InfraError::new("provision", e.to_string()).into(),
    }
}

/// Options of `loadtest provision`.
#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// Where the servers come from: hetzner, ionos, aws (Terraform), or static (--inventory).
    #[arg(long, value_name = "PROVIDER")]
    pub provider: String,
    /// Number of servers (cloud providers).
    #[arg(long, default_value_t = 1)]
    pub servers: u32,
    /// Server type (hetzner: cx43, aws: c6i.2xlarge, ionos: 4c-8g = cores-RAM); see terraform/prices.toml.
    #[arg(long, value_name = "TYPE")]
    pub server_type: Option<String>,
    /// Location / region (hetzner: fsn1, ionos: de/fra, aws: eu-central-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Server image (default: Debian 12 on every cloud).
    #[arg(long)]
    pub image: Option<String>,
    /// Fleet name: Terraform name_prefix and work directory name.
    #[arg(long, default_value = "lt-fleet")]
    pub name: String,
    /// Your IPv4 address as a CIDR: the only source allowed to SSH in (cloud providers).
    #[arg(long, value_name = "CIDR")]
    pub operator_cidr: Option<String>,
    /// SSH private key file (its public half is FILE.pub); default: the SSH agent.
    #[arg(long, value_name = "FILE")]
    pub ssh_key: Option<PathBuf>,
    /// SSH public key file given to the cloud (default: --ssh-key with .pub).
    #[arg(long, value_name = "FILE")]
    pub ssh_public_key: Option<PathBuf>,
    /// The inventory: read for --provider static, written (default: the work dir's inventory.toml).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// The Terraform directory (modules/, prices.toml; work dirs go to work/<name>).
    #[arg(long, value_name = "DIR", default_value = "terraform")]
    pub terraform_dir: PathBuf,
    /// Generate the root configuration (and `plan` if terraform/tofu exists); create nothing.
    #[arg(long)]
    pub plan_only: bool,
    /// Create the servers and write the inventory, but do not bootstrap them.
    #[arg(long)]
    pub skip_bootstrap: bool,
    /// Scenario whose [media] decides the fake media uploaded and the slots per core.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Fixed browser slots per node, instead of cores × participants-per-core of the media preset.
    #[arg(long)]
    pub slots: Option<u32>,
    /// Hosts bootstrapped at once.
    #[arg(long, default_value_t = 8)]
    pub parallel: usize,
    /// The Selenium server jar uploaded to every host.
    #[arg(
        long,
        value_name = "FILE",
        env = "LOADTEST_SELENIUM_JAR",
        default_value = ".cache/selenium/package/jar/selenium-server-4.48.0.jar"
    )]
    pub selenium_jar: PathBuf,
    /// SSH connect and command timeout, seconds.
    #[arg(long, default_value_t = 20)]
    pub ssh_timeout: u64,
    /// How long nodes may take to register with the hub, seconds.
    #[arg(long, default_value_t = 120)]
    pub ready_timeout: u64,
}

/// Options of `loadtest destroy`.
#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    /// The inventory provision wrote (default: terraform/work/<name>/inventory.toml).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Fleet name, to find the work directory when --inventory is not given.
    #[arg(long, default_value = "lt-fleet")]
    pub name: String,
    /// The Terraform directory.
    #[arg(long, value_name = "DIR", default_value = "terraform")]
    pub terraform_dir: PathBuf,
    /// SSH connect and command timeout, seconds.
    #[arg(long, default_value_t = 20)]
    pub ssh_timeout: u64,
}

/// Options of `loadtest grid`.
#[derive(Debug, Clone, Args)]
pub struct GridArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GridCommand,
}

/// `loadtest grid` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum GridCommand {
    /// Nodes, slots, sessions in use and the queue.
    Status {
        /// The Grid URL (default: the inventory's `[grid] url`).
        #[arg(long, value_name = "URL")]
        grid: Option<String>,
        /// The inventory provision wrote.
        #[arg(long, value_name = "FILE")]
        inventory: Option<PathBuf>,
    },
}

fn default_inventory(terraform_dir: &Path, name: &str) -> PathBuf {
    terraform_dir.join("work").join(name).join("inventory.toml")
}

/// Entry point of `loadtest provision`.
pub async fn exec_provision(args: ProvisionArgs) -> anyhow::Result<i32> {
    if args.provider == "static" {
        let path = args.inventory.clone().ok_or_else(|| {
            UsageError("--provider static needs --inventory FILE (the hosts to bootstrap)".into())
        })?;
        let mut inv = Inventory::load(&path).map_err(to_anyhow)?;
        if let Some(k) = &args.ssh_key {
            inv.ssh.key = Some(k.clone());
        }
        if args.plan_only || args.skip_bootstrap {
            println!(
                "{}: {} host(s); nothing to create",
                path.display(),
                inv.hosts.len()
            );
            return Ok(EXIT_OK);
        }
        return bootstrap_fleet(&args, inv, &path).await;
    }
    let cloud = Cloud::parse(&args.provider).ok_or_else(|| {
        UsageError(format!(
            "--provider {:?}: expected hetzner, ionos, aws or static",
            args.provider
        ))
    })?;
    provision_cloud(&args, cloud).await
}

async fn provision_cloud(args: &ProvisionArgs, cloud: Cloud) -> anyhow::Result<i32> {
    let usage = |m: String| anyhow::Error::from(UsageError(m));
    let operator_cidr = args.operator_cidr.clone().ok_or_else(|| {
        usage("--operator-cidr is required: your public IPv4 address as a CIDR, e.g. 203.0.113.7/32 (the only source allowed to SSH in)".into())
    })?;
    let pub_path = match (&args.ssh_public_key, &args.ssh_key) {
        (Some(p), _) => p.clone(),
        (None, Some(k)) => {
            let mut s = k.clone().into_os_string();
            s.push(".pub");
            PathBuf::from(s)
        }
        (None, None) => {
            return Err(usage(
                "--ssh-public-key FILE is required when the SSH agent holds the key (no --ssh-key)"
                    .into(),
            ));
        }
    };
    let ssh_public_key = std::fs::read_to_string(&pub_path)
        .map_err(|e| usage(format!("SSH public key {}: {e}", pub_path.display())))?;
    let server_type = args
        .server_type
        .clone()
        .unwrap_or_else(|| cloud.default_server_type().into());
    let region = args
        .region
        .clone()
        .unwrap_or_else(|| cloud.default_region().into());
    let modules = args.terraform_dir.join("modules").join(cloud.name());
    if !modules.is_dir() {
        return Err(usage(format!(
            "no module at {} (run from the repository root or pass --terraform-dir)",
            modules.display()
        )));
    }
    let work = args.terraform_dir.join("work").join(&args.name);
    let root = Root {
        cloud,
        name: args.name.clone(),
        servers: args.servers,
        server_type: server_type.clone(),
        region: region.clone(),
        image: args
            .image
            .clone()
            .unwrap_or_else(|| cloud.default_image().into()),
        ssh_public_key,
        operator_cidr,
        // The work dir is terraform/work/<name>, two levels below the modules' parent.
        module_source: format!("../../modules/{}", cloud.name()),
    };
    root.check().map_err(usage)?;
    std::fs::create_dir_all(&work)
        .map_err(|e| usage(format!("cannot create {}: {e}", work.display())))?;
    let main_tf = work.join("main.tf");
    std::fs::write(&main_tf, root.to_hcl())
        .map_err(|e| usage(format!("cannot write {}: {e}", main_tf.display())))?;
    eprintln!("generated {}", main_tf.display());
    let prices = cost::load(&args.terraform_dir.join("prices.toml")).map_err(to_anyhow)?;
    eprintln!(
        "{}",
        cost::estimate(&prices, cloud.name(), &server_type, &region, args.servers).text
    );

    let Some(bin) = terraform::find_binary() else {
        eprintln!(
            "no terraform or tofu on PATH: the root configuration is in {} (install Terraform >= 1.5 or OpenTofu >= 1.6, then re-run, or run `terraform init && terraform apply` there yourself)",
            work.display()
        );
        return Ok(if args.plan_only { EXIT_OK } else { EXIT_INFRA });
    };
    let runner = Runner {
        bin,
        dir: work.clone(),
    };
    let (vars, present) = cloud.credentials();
    if !present && !args.plan_only {
        return Err(usage(format!(
            "no {} credentials in the environment: set {vars} (never in a file)",
            cloud.name()
        )));
    }
    let tf = |f: fn(&Runner) -> Result<(), ProvisionError>, what: &str| {
        eprintln!("{} {what} in {}", runner.bin.display(), work.display());
        f(&runner).map_err(to_anyhow)
    };
    tf(Runner::init, "init")?;
    if args.plan_only {
        if present {
            let plan = runner.plan().map_err(to_anyhow)?;
            print!("{plan}");
        } else {
            eprintln!("no credentials ({vars}): skipping plan");
        }
        return Ok(EXIT_OK);
    }
    tf(Runner::apply, "apply")?;
    let outputs = runner.outputs().map_err(to_anyhow)?;
    let inv_path = args
        .inventory
        .clone()
        .unwrap_or_else(|| default_inventory(&args.terraform_dir, &args.name));
    let old = if inv_path.is_file() {
        Inventory::load(&inv_path).map_err(to_anyhow)?
    } else {
        Inventory::default()
    };
    let mut inv = outputs.into_inventory(old);
    inv.provider = cloud.name().into();
    inv.name = args.name.clone();
    inv.work_dir = Some(work.clone());
    if args.ssh_key.is_some() {
        inv.ssh.key = args.ssh_key.clone();
    }
    inv.save(&inv_path).map_err(to_anyhow)?;
    eprintln!(
        "{} server(s) up; inventory {}",
        inv.hosts.len(),
        inv_path.display()
    );
    if args.skip_bootstrap {
        println!("{}", inv_path.display());
        return Ok(EXIT_OK);
    }
    bootstrap_fleet(args, inv, &inv_path).await
}

/// The fake media files and per-core slots for the scenario's (or the default) media.
fn media_plan(args: &ProvisionArgs) -> anyhow::Result<(Vec<PathBuf>, u32)> {
    let (media, base) = match &args.scenario {
        Some(p) => {
            let loaded = crate::scenario::load(p, &[])?;
            let base = loaded
                .path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            (loaded.scenario.media, base)
        }
        None => (crate::scenario::Media::default(), PathBuf::from(".")),
    };
    let video = crate::media::VideoSource::parse(&media.video, &base).map_err(UsageError)?;
    let audio = crate::media::AudioSource::parse(&media.audio, &base).map_err(UsageError)?;
    let prepared = crate::media::prepare(&video, &audio, &crate::media::cache_dir())
        .map_err(|e| InfraError::new("fake media", e.to_string()))?;
    let files = [prepared.video, prepared.audio]
        .into_iter()
        .flatten()
        .collect();
    Ok((files, bootstrap::per_core(&media.video)))
}

async fn bootstrap_fleet(
    args: &ProvisionArgs,
    mut inv: Inventory,
    inv_path: &Path,
) -> anyhow::Result<i32> {
    if inv.hosts.is_empty() {
        return Err(UsageError(format!("{}: no [[host]] entries", inv_path.display())).into());
    }
    if !args.selenium_jar.is_file() {
        return Err(UsageError(format!(
            "Selenium server jar {} not found (./scripts/setup.sh fetches it; or pass --selenium-jar / LOADTEST_SELENIUM_JAR)",
            args.selenium_jar.display()
        ))
        .into());
    }
    let (media, per_core) = media_plan(args)?;
    let plan = Arc::new(Plan {
        jar: args.selenium_jar.clone(),
        media,
        per_core,
        slots: args.slots,
    });
    let timeout = Duration::from_secs(args.ssh_timeout.max(1));
    let started = Instant::now();
    let shared = Arc::new(inv.clone());
    let sem = Arc::new(tokio::sync::Semaphore::new(args.parallel.max(1)));
    let mut tasks = Vec::new();
    eprintln!(
        "bootstrapping {} host(s), {} at a time",
        inv.hosts.len(),
        args.parallel.max(1)
    );
    for i in 0..inv.hosts.len() {
        let (inv, plan, sem) = (shared.clone(), plan.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await;
            tokio::task::spawn_blocking(move || one_host(&inv, i, &plan, timeout))
                .await
                .unwrap_or_else(|e| bootstrap::HostOutcome {
                    error: Some(ProvisionError::Config(format!("task failed: {e}"))),
                    ..Default::default()
                })
        }));
    }
    let mut changes = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let o = t.await.unwrap_or_default();
        let h = &mut inv.hosts[i];
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
    inv.save(inv_path).map_err(to_anyhow)?;

    // Registration: every bootstrapped node must be on the hub with its slots.
    let hub_idx = inv.hub_index();
    let nodes: Vec<usize> = (0..inv.hosts.len())
        .filter(|&i| inv.role(i).node() && inv.hosts[i].state != HostState::Failed)
        .collect();
    let expected: Vec<(String, u32)> = nodes
        .iter()
        .map(|&i| {
            let h = &inv.hosts[i];
            (
                bootstrap::node_uri(&inv, h.grid_address()),
                h.slots.unwrap_or(1),
            )
        })
        .collect();
    let missing: Vec<(String, String)> = match hub_idx {
        Some(hi) if inv.hosts[hi].state != HostState::Failed => {
            let inv2 = inv.clone();
            let exp = expected.clone();
            let ready = Duration::from_secs(args.ready_timeout);
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
                expected
                    .iter()
                    .map(|(u, _)| (u.clone(), format!("cannot ask the hub: {e}")))
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
        let h = &mut inv.hosts[i];
        h.node_uri = Some(uri.clone());
        if let Some((_, why)) = missing.iter().find(|(u, _)| u == uri) {
            let tail = node_log_tail(&inv.clone(), i, timeout);
            let h = &mut inv.hosts[i];
            h.state = HostState::Failed;
            h.step = Some("register".into());
            h.error = Some(format!("node {uri}: {why}{tail}"));
            eprintln!("[{}] FAILED: register: node {uri}: {why}{tail}", h.label());
        }
    }
    for h in inv.hosts.iter_mut() {
        if h.state == HostState::Pending {
            h.state = HostState::Ready;
        }
    }
    if let Some(hi) = hub_idx {
        let h = &inv.hosts[hi];
        inv.grid.url = (h.state == HostState::Ready && h.grid_address() == h.address).then(|| {
            format!(
                "http://{}:{}",
                inventory::url_host(&h.address),
                inv.grid.hub_port
            )
        });
    }
    inv.save(inv_path).map_err(to_anyhow)?;

    let failed = inv
        .hosts
        .iter()
        .filter(|h| h.state == HostState::Failed)
        .count();
    for h in &inv.hosts {
        eprintln!(
            "  {:<24} {:<8} {:<9} cores {:>3}  slots {:>3}  {}",
            h.label(),
            format!("{:?}", h.state).to_lowercase(),
            h.role.map_or_else(
                || if inv.hosts.first() == Some(h) {
                    "hub+node"
                } else {
                    "node"
                }
                .to_string(),
                |r| format!("{r:?}").to_lowercase()
            ),
            h.cores.map_or("-".into(), |c| c.to_string()),
            h.slots.map_or("-".into(), |c| c.to_string()),
            h.error.as_deref().unwrap_or("")
        );
    }
    let secs = started.elapsed().as_secs_f64();
    if failed == 0 && changes == 0 {
        eprintln!("provision: no changes ({secs:.1} s)");
    } else {
        eprintln!(
            "provision: {} ready, {failed} failed, {changes} change(s) ({secs:.1} s)",
            inv.hosts.len() - failed
        );
    }
    match &inv.grid.url {
        Some(u) => eprintln!(
            "grid: {u}  (loadtest run --inventory {})",
            inv_path.display()
        ),
        None => {
            if let Some(hi) = hub_idx.filter(|&hi| inv.hosts[hi].state == HostState::Ready) {
                let h = &inv.hosts[hi];
                eprintln!(
                    "grid: the hub listens on {}:{} inside the fleet; `loadtest run --inventory {}` and `loadtest grid status --inventory` reach it through an SSH tunnel via {}",
                    h.grid_address(),
                    inv.grid.hub_port,
                    inv_path.display(),
                    h.label()
                );
            }
        }
    }
    println!("{}", inv_path.display());
    Ok(if failed == 0 { EXIT_OK } else { EXIT_INFRA })
}

fn target(inv: &Inventory, i: usize, timeout: Duration) -> Target {
    let h = &inv.hosts[i];
    Target {
        label: h.label(),
        address: h.address.clone(),
        port: inv.ssh_port(i),
        user: inv.ssh.user.clone(),
        key: inv.ssh.key.clone(),
        timeout,
    }
}

fn one_host(inv: &Inventory, i: usize, plan: &Plan, timeout: Duration) -> bootstrap::HostOutcome {
    let h = &inv.hosts[i];
    let label = h.label();
    let t0 = Instant::now();
    let mut ssh = match Ssh::connect(&target(inv, i, timeout), h.host_key.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            return bootstrap::HostOutcome {
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

/// Entry point of `loadtest destroy`.
pub async fn exec_destroy(args: DestroyArgs) -> anyhow::Result<i32> {
    let path = args
        .inventory
        .clone()
        .unwrap_or_else(|| default_inventory(&args.terraform_dir, &args.name));
    if !path.is_file() {
        eprintln!(
            "destroy: no inventory at {}; nothing to destroy",
            path.display()
        );
        return Ok(EXIT_OK);
    }
    let mut inv = Inventory::load(&path).map_err(to_anyhow)?;
    let timeout = Duration::from_secs(args.ssh_timeout.max(1));
    let mut failed = 0;
    if inv.provider == "static" {
        // The machines stay; stop and remove the Grid services on each.
        let shared = Arc::new(inv.clone());
        let mut tasks = Vec::new();
        for i in 0..inv.hosts.len() {
            let inv = shared.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                stop_host(&inv, i, timeout)
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let h = &mut inv.hosts[i];
            match t.await.map_err(|e| anyhow::anyhow!("{e}"))? {
                Ok(what) => {
                    eprintln!("[{}] {what}", h.label());
                    h.state = HostState::Stopped;
                    h.step = None;
                    h.error = None;
                }
                Err(e) => {
                    eprintln!("[{}] FAILED: {e}", h.label());
                    failed += 1;
                    h.step = Some(e.step().to_string());
                    h.error = Some(e.to_string());
                }
            }
        }
    } else {
        let work = inv.work_dir.clone().ok_or_else(|| {
            UsageError(format!(
                "{}: no work_dir for a {} fleet",
                path.display(),
                inv.provider
            ))
        })?;
        if !work.join("main.tf").is_file() {
            eprintln!(
                "destroy: {} has no main.tf; nothing to destroy",
                work.display()
            );
        } else {
            let bin = terraform::find_binary().ok_or_else(|| {
                InfraError::new(
                    "terraform",
                    format!(
                        "no terraform or tofu on PATH: cannot destroy the servers of {}; install one and re-run",
                        work.display()
                    ),
                )
            })?;
            eprintln!("{} destroy in {}", bin.display(), work.display());
            let runner = Runner { bin, dir: work };
            runner.destroy().map_err(to_anyhow)?;
        }
        for h in inv.hosts.iter_mut() {
            h.state = HostState::Stopped;
        }
    }
    inv.grid.url = None;
    inv.save(&path).map_err(to_anyhow)?;
    eprintln!(
        "destroy: {} host(s) done, {failed} failed",
        inv.hosts.len() - failed
    );
    Ok(if failed == 0 { EXIT_OK } else { EXIT_INFRA })
}

fn stop_host(inv: &Inventory, i: usize, timeout: Duration) -> Result<String, ProvisionError> {
    let mut s = Ssh::connect(&target(inv, i, timeout), inv.hosts[i].host_key.as_deref())?;
    let dir = inv.remote_dir(i);
    let q = ssh::shell_quote(dir);
    let sudo = if inv.ssh.user == "root" {
        ""
    } else {
        "sudo -n "
    };
    let out = s.exec(
        &format!(
            "if [ -f {q}/bootstrap.sh ]; then {sudo}env LT_DIR={q} sh {q}/bootstrap.sh stop node && {sudo}env LT_DIR={q} sh {q}/bootstrap.sh stop hub; else echo 'never bootstrapped'; fi"
        ),
        b"",
    )?;
    if out.status != 0 {
        return Err(ProvisionError::Host {
            host: inv.hosts[i].label(),
            step: "stop".into(),
            detail: out.tail(),
        });
    }
    Ok(out.stdout.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Entry point of `loadtest grid`.
pub async fn exec_grid(args: GridArgs) -> anyhow::Result<i32> {
    let GridCommand::Status { grid, inventory } = args.command;
    let url = match (grid, inventory) {
        (Some(u), _) => u,
        (None, Some(p)) => {
            let inv = Inventory::load(&p).map_err(to_anyhow)?;
            grid_url(&inv, &p)?
        }
        (None, None) => return Err(UsageError("pass --grid URL or --inventory FILE".into()).into()),
    };
    let parsed = url::Url::parse(&url).map_err(|e| UsageError(format!("--grid {url:?}: {e}")))?;
    let grid = crate::webdriver::grid::Grid::new(&parsed);
    let status = grid.status().await?;
    let queue = grid.queue_size().await;
    println!(
        "grid {}: {}, {} node(s), {} slot(s), {} session(s) in use, {} free, queue {}",
        crate::redact::url(&url),
        if status.ready { "ready" } else { "NOT ready" },
        status.nodes.len(),
        status.nodes.iter().map(|n| n.slots).sum::<usize>(),
        status.sessions(),
        status.free_slots(),
        queue.map_or("?".to_string(), |q| q.to_string())
    );
    for n in &status.nodes {
        println!(
            "  {:<32} {:<9} slots {:>3}  in use {:>3}",
            n.uri, n.availability, n.slots, n.busy
        );
    }
    Ok(EXIT_OK)
}

/// `loadtest run --inventory FILE`: `--set` overrides pointing the scenario at the fleet's hub and
/// at the nodes' media directory.
pub fn run_overrides(path: &Path) -> anyhow::Result<Vec<crate::scenario::Override>> {
    let inv = Inventory::load(path).map_err(to_anyhow)?;
    let url = grid_url(&inv, path)?;
    let set = |k: &str, v: &str| -> anyhow::Result<crate::scenario::Override> {
        format!("{k}={}", toml::Value::String(v.to_string()))
            .parse()
            .map_err(|e: String| UsageError(e).into())
    };
    Ok(vec![
        set("webdriver.url", &url)?,
        set("webdriver.media_dir", &inv.grid.media_dir)?,
    ])
}

/// The hub URL for this process: `[grid] url` when the hub is reachable directly, else a local
/// SSH tunnel to the hub's grid address (through the hub host, its pinned key checked), alive
/// until the process exits.
pub fn grid_url(inv: &Inventory, path: &Path) -> anyhow::Result<String> {
    if let Some(u) = &inv.grid.url {
        return Ok(u.clone());
    }
    let hub = inv
        .hub_index()
        .filter(|&i| inv.hosts[i].state == HostState::Ready)
        .ok_or_else(|| {
            UsageError(format!(
                "{}: no ready hub (provision has not finished, or the fleet was destroyed)",
                path.display()
            ))
        })?;
    let h = &inv.hosts[hub];
    let pinned = h.host_key.clone().ok_or_else(|| {
        UsageError(format!(
            "{}: the hub has no pinned host key",
            path.display()
        ))
    })?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| InfraError::new("SSH tunnel", format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener.local_addr()?.port();
    let t = target(inv, hub, Duration::from_secs(20));
    let to = (h.grid_address().to_string(), inv.grid.hub_port);
    eprintln!(
        "grid: SSH tunnel 127.0.0.1:{port} -> {}:{} via {}",
        to.0,
        to.1,
        h.label()
    );
    std::thread::spawn(move || ssh::serve_tunnel(listener, t, pinned, to));
    Ok(format!("http://127.0.0.1:{port}"))
}
