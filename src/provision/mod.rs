//! `loadtest provision`, `destroy` and `grid status`: a load-generator fleet as a Selenium Grid.
//!
//! Servers come from the hand-written Terraform modules in `terraform/modules/` (a generated root
//! config in `terraform/work/<name>/`), or from a static inventory. Every host is then bootstrapped
//! over SSH ([`bootstrap`]): packages, the Grid jar, fake media, hub and node services, and a check
//! that each node registered with the hub with its slots. See docs/provision.md.

pub mod bootstrap;
mod command;
pub mod cost;
mod destroy;
mod fleet;
mod grid;
pub mod inventory;
pub mod kubernetes;
pub mod network_node;
pub mod root;
pub mod settings;
pub mod slots;
pub mod ssh;
pub mod terraform;
pub mod tunnel;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{InfraError, UsageError};
use inventory::Inventory;
use ssh::Target;

pub use command::{ProvisionArgs, exec_provision};
pub use destroy::{DestroyArgs, exec_destroy};
pub use grid::{GridArgs, GridCommand, exec_grid, grid_url, run_overrides};

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

/// A duration flag (`30s`, `2m`, like every duration of the tool). A bare integer is still read
/// as seconds, as these flags once took, and [`FlagDuration::warn_if_bare`] says it is deprecated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlagDuration {
    /// The duration.
    pub value: Duration,
    /// Given as a bare number of seconds (deprecated).
    pub bare_seconds: bool,
}

impl std::str::FromStr for FlagDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(secs) = s.parse::<u64>() {
            return Ok(FlagDuration {
                value: Duration::from_secs(secs),
                bare_seconds: true,
            });
        }
        humantime::parse_duration(s)
            .map(|value| FlagDuration {
                value,
                bare_seconds: false,
            })
            .map_err(|e| format!("{e} (expected a duration such as 30s or 2m)"))
    }
}

impl FlagDuration {
    /// Print the deprecation warning for `flag` if it was given as a bare number.
    pub fn warn_if_bare(&self, flag: &str) {
        if self.bare_seconds {
            let secs = self.value.as_secs();
            eprintln!(
                "warning: {flag} {secs}: a bare number of seconds is deprecated; write {flag} {secs}s"
            );
        }
    }

    /// The duration, at least one second.
    pub fn at_least_1s(&self) -> Duration {
        self.value.max(Duration::from_secs(1))
    }
}

/// The inventory provision writes for fleet `name` when `--inventory` is not given.
fn default_inventory(terraform_dir: &Path, name: &str) -> PathBuf {
    terraform_dir.join("work").join(name).join("inventory.toml")
}

/// How to reach host `i` of `inv` over SSH.
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

#[cfg(test)]
mod tests {
    use super::FlagDuration;
    use std::time::Duration;

    #[test]
    fn durations_and_bare_seconds() {
        let d: FlagDuration = "30s".parse().unwrap();
        assert_eq!((d.value, d.bare_seconds), (Duration::from_secs(30), false));
        let d: FlagDuration = "2m".parse().unwrap();
        assert_eq!(d.value, Duration::from_secs(120));
        let d: FlagDuration = "20".parse().unwrap();
        assert_eq!((d.value, d.bare_seconds), (Duration::from_secs(20), true));
        assert!("20x".parse::<FlagDuration>().unwrap_err().contains("30s"));
        let d: FlagDuration = "0s".parse().unwrap();
        assert_eq!(d.at_least_1s(), Duration::from_secs(1));
    }
}
