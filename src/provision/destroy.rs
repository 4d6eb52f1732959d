//! `loadtest destroy`: a cloud fleet's servers go (`terraform destroy`), a static fleet's hosts stay
//! and only their Grid services are stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::inventory::{HostState, Inventory};
use super::ssh::{self, Remote, Ssh};
use super::terraform::{self, Runner};
use super::{FlagDuration, ProvisionError, default_inventory, kubernetes, target, to_anyhow};
use crate::error::{EXIT_INFRA, EXIT_OK, InfraError, UsageError};

/// Options of `loadtest destroy`.
#[derive(Debug, Clone, Args)]
pub struct DestroyArgs {
    /// The inventory provision wrote (default: terraform/work/<name>/inventory.toml, else
    /// deploy/work/<name>/inventory.toml for a Kubernetes fleet).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Fleet name, to find the work directory when --inventory is not given.
    #[arg(long, default_value = "lt-fleet")]
    pub name: String,
    /// The Terraform directory.
    #[arg(long, value_name = "DIR", default_value = "terraform")]
    pub terraform_dir: PathBuf,
    /// SSH connect and command timeout (a duration: 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub ssh_timeout: FlagDuration,
    /// The load-generator kustomization of Kubernetes fleets (their work dirs: DIR/../work/<name>).
    #[arg(long, value_name = "DIR", default_value = "deploy/loadgen")]
    pub loadgen_dir: PathBuf,
}

/// Entry point of `loadtest destroy`.
pub async fn exec_destroy(args: DestroyArgs) -> anyhow::Result<i32> {
    args.ssh_timeout.warn_if_bare("--ssh-timeout");
    let path = args.inventory.clone().unwrap_or_else(|| {
        let cloud = default_inventory(&args.terraform_dir, &args.name);
        let kube = kubernetes::work_dir(&args.loadgen_dir, &args.name)
            .0
            .join("inventory.toml");
        if !cloud.is_file() && kube.is_file() {
            kube
        } else {
            cloud
        }
    });
    if !path.is_file() {
        eprintln!(
            "destroy: no inventory at {}; nothing to destroy",
            path.display()
        );
        return Ok(EXIT_OK);
    }
    let mut inv = Inventory::load(&path).map_err(to_anyhow)?;
    let timeout = args.ssh_timeout.at_least_1s();
    let failed = if inv.provider == "static" {
        stop_static(&mut inv, timeout).await?
    } else if inv.provider == "kubernetes" {
        kubernetes::destroy(&inv, &path)?;
        0
    } else {
        destroy_cloud(&mut inv, &path)?;
        0
    };
    inv.grid.url = None;
    inv.save(&path).map_err(to_anyhow)?;
    eprintln!(
        "destroy: {} host(s) done, {failed} failed",
        inv.hosts.len() - failed
    );
    Ok(if failed == 0 { EXIT_OK } else { EXIT_INFRA })
}

/// A static fleet: the machines stay; stop and remove the Grid services on each. The number of
/// hosts that failed.
async fn stop_static(inv: &mut Inventory, timeout: Duration) -> anyhow::Result<usize> {
    let shared = Arc::new(inv.clone());
    let mut tasks = Vec::new();
    for i in 0..inv.hosts.len() {
        let inv = shared.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            stop_host(&inv, i, timeout)
        }));
    }
    let mut failed = 0;
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
    Ok(failed)
}

/// A cloud fleet: `terraform destroy` in its work dir (nothing to do without a `main.tf`).
fn destroy_cloud(inv: &mut Inventory, path: &std::path::Path) -> anyhow::Result<()> {
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
    Ok(())
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
