//! `loadtest provision`: the options, the cloud path (generated Terraform root, init/plan/apply,
//! the inventory from its outputs) and the static path; both end in [`super::fleet`]'s bootstrap.

use std::path::{Path, PathBuf};

use clap::Args;

use super::inventory::Inventory;
use super::root::Root;
use super::terraform::{self, Cloud, Runner};
use super::{
    FlagDuration, ProvisionError, cost, default_inventory, fleet, kubernetes, settings, to_anyhow,
};
use crate::error::{EXIT_INFRA, EXIT_OK, UsageError};

/// Options of `loadtest provision`.
#[derive(Debug, Clone, Args)]
pub struct ProvisionArgs {
    /// Where the servers come from: hetzner, ionos, aws (Terraform), kubernetes (the current
    /// kubectl context), or static (--inventory).
    #[arg(long, value_name = "PROVIDER", env = "LOADTEST_PROVIDER")]
    pub provider: Option<String>,
    /// Number of servers (cloud providers).
    #[arg(long, default_value_t = 1)]
    pub servers: u32,
    /// Server type (hetzner: cx43, aws: c6i.2xlarge, ionos: 4c-8g = cores-RAM); see terraform/prices.toml.
    #[arg(long, value_name = "TYPE", env = "LOADTEST_SERVER_TYPE")]
    pub server_type: Option<String>,
    /// Location / region (hetzner: fsn1, ionos: de/fra, aws: eu-central-1).
    #[arg(long, env = "LOADTEST_REGION")]
    pub region: Option<String>,
    /// Server image (default: Debian 12 on every cloud).
    #[arg(long, env = "LOADTEST_IMAGE")]
    pub image: Option<String>,
    /// Fleet name: Terraform name_prefix and work directory name.
    #[arg(long, default_value = "lt-fleet")]
    pub name: String,
    /// Your IPv4 address as a CIDR: the only source allowed to SSH in (cloud providers).
    #[arg(long, value_name = "CIDR", env = "LOADTEST_OPERATOR_CIDR")]
    pub operator_cidr: Option<String>,
    /// SSH private key file (its public half is FILE.pub); default: the SSH agent.
    #[arg(long, value_name = "FILE", env = "LOADTEST_SSH_KEY")]
    pub ssh_key: Option<PathBuf>,
    /// SSH public key file given to the cloud (default: --ssh-key with .pub).
    #[arg(long, value_name = "FILE", env = "LOADTEST_SSH_PUBLIC_KEY")]
    pub ssh_public_key: Option<PathBuf>,
    /// Hetzner: name or ID of an SSH key already in the project, used instead of uploading the
    /// public key (a key with the same public key is found by itself).
    #[arg(long, value_name = "NAME_OR_ID", env = "LOADTEST_EXISTING_SSH_KEY")]
    pub existing_ssh_key: Option<String>,
    /// Settings file whose [provision] table fills what neither a flag nor the environment gave
    /// (default: ./loadtest.toml, else ~/.config/loadtest/loadtest.toml).
    #[arg(long, value_name = "FILE", env = "LOADTEST_CONFIG")]
    pub config: Option<PathBuf>,
    /// The inventory: read for --provider static, written (default: the work dir's inventory.toml).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// The load-generator kustomization for --provider kubernetes (its work overlays go to
    /// DIR/../work/<name>).
    #[arg(long, value_name = "DIR", default_value = "deploy/loadgen")]
    pub loadgen_dir: PathBuf,
    /// The Terraform directory (modules/, prices.toml; work dirs go to work/<name>).
    #[arg(long, value_name = "DIR", default_value = "terraform")]
    pub terraform_dir: PathBuf,
    /// Generate the root configuration (and `plan` if terraform/tofu exists); create nothing.
    #[arg(long)]
    pub plan_only: bool,
    /// Create the servers and write the inventory, but do not bootstrap them.
    #[arg(long)]
    pub skip_bootstrap: bool,
    /// Scenario whose [media] decides the fake media uploaded, and whose media and density mode
    /// decide the slots per node.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The density mode to size slots for (overrides the scenario's).
    #[command(flatten)]
    pub mode: crate::scenario::density::ModeArgs,
    /// Fixed browser slots per node, instead of the browsers a node holds in the scenario's mode.
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
    /// SSH connect and command timeout (a duration: 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub ssh_timeout: FlagDuration,
    /// How long nodes may take to register with the hub (a duration: 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "120s")]
    pub ready_timeout: FlagDuration,
}

fn usage(m: String) -> anyhow::Error {
    UsageError(m).into()
}

/// Entry point of `loadtest provision`.
pub async fn exec_provision(mut args: ProvisionArgs) -> anyhow::Result<i32> {
    args.ssh_timeout.warn_if_bare("--ssh-timeout");
    args.ready_timeout.warn_if_bare("--ready-timeout");
    if let Some(path) = settings::config_path(args.config.as_deref()).map_err(usage)? {
        settings::fill(&mut args, settings::read(&path).map_err(usage)?);
    }
    let missing = settings::missing(&args);
    if !missing.is_empty() {
        return Err(usage(format!(
            "provision needs settings that are not configured:\n  {}",
            missing.join("\n  ")
        )));
    }
    let provider = args.provider.clone().unwrap_or_default();
    if provider == "static" {
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
        return fleet::bootstrap_fleet(&args, inv, &path).await;
    }
    if provider == "kubernetes" {
        return kubernetes::provision(&args).await;
    }
    let cloud = Cloud::parse(&provider).ok_or_else(|| {
        UsageError(format!(
            "--provider {provider:?}: expected hetzner, ionos, aws, kubernetes or static"
        ))
    })?;
    provision_cloud(&args, cloud).await
}

/// The public key file given to the cloud: `--ssh-public-key`, else `--ssh-key` + `.pub`.
fn public_key_path(args: &ProvisionArgs) -> anyhow::Result<PathBuf> {
    match (&args.ssh_public_key, &args.ssh_key) {
        (Some(p), _) => Ok(p.clone()),
        (None, Some(k)) => {
            let mut s = k.clone().into_os_string();
            s.push(".pub");
            Ok(PathBuf::from(s))
        }
        (None, None) => Err(usage(
            "--ssh-public-key FILE is required when the SSH agent holds the key (no --ssh-key)"
                .into(),
        )),
    }
}

/// The root configuration the options ask for (checked), from the options and the cloud's defaults.
fn root_config(args: &ProvisionArgs, cloud: Cloud) -> anyhow::Result<Root> {
    let operator_cidr = args.operator_cidr.clone().ok_or_else(|| {
        usage("--operator-cidr is required: your public IPv4 address as a CIDR, e.g. 203.0.113.7/32 (the only source allowed to SSH in)".into())
    })?;
    let pub_path = public_key_path(args)?;
    let ssh_public_key = std::fs::read_to_string(&pub_path)
        .map_err(|e| usage(format!("SSH public key {}: {e}", pub_path.display())))?;
    let modules = args.terraform_dir.join("modules").join(cloud.name());
    if !modules.is_dir() {
        return Err(usage(format!(
            "no module at {} (run from the repository root or pass --terraform-dir)",
            modules.display()
        )));
    }
    let root = Root {
        cloud,
        name: args.name.clone(),
        servers: args.servers,
        server_type: args
            .server_type
            .clone()
            .unwrap_or_else(|| cloud.default_server_type().into()),
        region: args
            .region
            .clone()
            .unwrap_or_else(|| cloud.default_region().into()),
        image: args
            .image
            .clone()
            .unwrap_or_else(|| cloud.default_image().into()),
        ssh_public_key,
        operator_cidr,
        // The work dir is terraform/work/<name>, two levels below the modules' parent.
        module_source: format!("../../modules/{}", cloud.name()),
        existing_ssh_key: args.existing_ssh_key.clone(),
    };
    root.check().map_err(usage)?;
    Ok(root)
}

/// Write `main.tf` into the work dir and print the cost estimate.
fn write_root(args: &ProvisionArgs, root: &Root, work: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(work)
        .map_err(|e| usage(format!("cannot create {}: {e}", work.display())))?;
    let main_tf = work.join("main.tf");
    std::fs::write(&main_tf, root.to_hcl())
        .map_err(|e| usage(format!("cannot write {}: {e}", main_tf.display())))?;
    eprintln!("generated {}", main_tf.display());
    let prices = cost::load(&args.terraform_dir.join("prices.toml")).map_err(to_anyhow)?;
    let name = root.cloud.name();
    let today = chrono::Local::now().date_naive();
    let estimate = cost::estimate(
        &prices,
        name,
        &root.server_type,
        &root.region,
        root.servers,
        today,
    );
    eprintln!("{}", estimate.text);
    Ok(())
}

async fn provision_cloud(args: &ProvisionArgs, cloud: Cloud) -> anyhow::Result<i32> {
    let root = root_config(args, cloud)?;
    let work = args.terraform_dir.join("work").join(&args.name);
    write_root(args, &root, &work)?;

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
    let (inv, inv_path) = write_inventory(args, cloud, &runner, &work)?;
    if args.skip_bootstrap {
        println!("{}", inv_path.display());
        return Ok(EXIT_OK);
    }
    fleet::bootstrap_fleet(args, inv, &inv_path).await
}

/// The inventory from `terraform output -json`, merged with the previous one (pins kept), saved.
fn write_inventory(
    args: &ProvisionArgs,
    cloud: Cloud,
    runner: &Runner,
    work: &Path,
) -> anyhow::Result<(Inventory, PathBuf)> {
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
    inv.work_dir = Some(work.to_path_buf());
    if args.ssh_key.is_some() {
        inv.ssh.key = args.ssh_key.clone();
    }
    inv.save(&inv_path).map_err(to_anyhow)?;
    eprintln!(
        "{} server(s) up; inventory {}",
        inv.hosts.len(),
        inv_path.display()
    );
    Ok((inv, inv_path))
}
