//! `loadtest grid status`, and how `run --inventory` reaches a fleet's hub: directly, or through an
//! SSH tunnel via the hub host when its port is closed to the operator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::inventory::{HostState, Inventory};
use super::{kubernetes, target, to_anyhow, tunnel};
use crate::error::{EXIT_OK, InfraError, UsageError};

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
    if let Some(k) = &inv.kubernetes {
        return kubernetes::port_forward(k, inv.grid.hub_port);
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
    let fwd = tunnel::Forward {
        via: target(inv, hub, Duration::from_secs(20)),
        pinned,
        host: h.grid_address().to_string(),
        port: inv.grid.hub_port,
    };
    eprintln!(
        "grid: SSH tunnel 127.0.0.1:{port} -> {}:{} via {}",
        fwd.host,
        fwd.port,
        h.label()
    );
    tunnel::start(listener, fwd).map_err(to_anyhow)?;
    Ok(format!("http://127.0.0.1:{port}"))
}
