//! The clouds the Terraform modules cover, and the `terraform`/`tofu` runner (init, plan, apply,
//! output, destroy) in a work dir holding the generated root ([`super::root`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::ProvisionError;
use super::inventory::{Host, Inventory};
use super::ssh::tail;

/// A cloud the modules cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Hetzner Cloud (`hetznercloud/hcloud`).
    Hetzner,
    /// IONOS Cloud (`ionos-cloud/ionoscloud`).
    Ionos,
    /// AWS EC2 (`hashicorp/aws`).
    Aws,
}

impl Cloud {
    /// From `--provider`.
    pub fn parse(s: &str) -> Option<Cloud> {
        match s {
            "hetzner" => Some(Cloud::Hetzner),
            "ionos" => Some(Cloud::Ionos),
            "aws" => Some(Cloud::Aws),
            _ => None,
        }
    }
    /// The `--provider` name (and module directory).
    pub fn name(self) -> &'static str {
        match self {
            Cloud::Hetzner => "hetzner",
            Cloud::Ionos => "ionos",
            Cloud::Aws => "aws",
        }
    }
    /// Terraform provider local name, source and version constraint (as in the module's versions.tf).
    pub fn provider(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Cloud::Hetzner => ("hcloud", "hetznercloud/hcloud", ">= 1.49.1, < 2.0.0"),
            Cloud::Ionos => ("ionoscloud", "ionos-cloud/ionoscloud", ">= 6.4.10, < 7.0.0"),
            Cloud::Aws => ("aws", "hashicorp/aws", ">= 5.0.0, < 6.0.0"),
        }
    }
    /// Default `--server-type`.
    pub fn default_server_type(self) -> &'static str {
        match self {
            Cloud::Hetzner => "cx43",
            Cloud::Ionos => "4c-8g",
            Cloud::Aws => "c6i.2xlarge",
        }
    }
    /// Default `--region`.
    pub fn default_region(self) -> &'static str {
        match self {
            Cloud::Hetzner => "fsn1",
            Cloud::Ionos => "de/fra",
            Cloud::Aws => "eu-central-1",
        }
    }
    /// Default image: Debian 12 (Ubuntu's chromium is a snap a Grid node cannot drive).
    pub fn default_image(self) -> &'static str {
        match self {
            Cloud::Hetzner => "debian-12",
            Cloud::Ionos => "debian:12",
            Cloud::Aws => "debian-12-amd64-*",
        }
    }
    /// Environment variables holding the credentials, and whether one set of them is present.
    pub fn credentials(self) -> (&'static str, bool) {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        match self {
            Cloud::Hetzner => ("HCLOUD_TOKEN", set("HCLOUD_TOKEN")),
            Cloud::Ionos => (
                "IONOS_TOKEN, or IONOS_USERNAME and IONOS_PASSWORD",
                set("IONOS_TOKEN") || (set("IONOS_USERNAME") && set("IONOS_PASSWORD")),
            ),
            Cloud::Aws => (
                "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                set("AWS_PROFILE")
                    || (set("AWS_ACCESS_KEY_ID") && set("AWS_SECRET_ACCESS_KEY"))
                    || set("AWS_WEB_IDENTITY_TOKEN_FILE"),
            ),
        }
    }
}

/// `terraform` or, failing that, `tofu`, on `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    find_on_path(&["terraform", "tofu"])
}

/// The first of `names` that is an executable file in a `PATH` directory.
pub fn find_on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in names {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Some(p);
            }
        }
    }
    None
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs the binary in a work dir.
#[derive(Debug, Clone)]
pub struct Runner {
    /// `terraform` or `tofu`.
    pub bin: PathBuf,
    /// The work dir.
    pub dir: PathBuf,
}

impl Runner {
    /// Run one subcommand; on failure an error naming it with the output's tail.
    pub fn run(&self, args: &[&str]) -> Result<String, ProvisionError> {
        let what = format!(
            "{} {}",
            self.bin
                .file_name()
                .map_or_else(|| "terraform".into(), |n| n.to_string_lossy()),
            args.join(" ")
        );
        let out = Command::new(&self.bin)
            .args(args)
            .current_dir(&self.dir)
            .env("TF_IN_AUTOMATION", "1")
            .env("TF_INPUT", "0")
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .map_err(|e| ProvisionError::Terraform {
                command: what.clone(),
                detail: format!("cannot start {}: {e}", self.bin.display()),
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let text = if stderr.trim().is_empty() {
                &stdout
            } else {
                &*stderr
            };
            return Err(ProvisionError::Terraform {
                command: what,
                detail: format!(
                    "exit {}: {}",
                    out.status.code().unwrap_or(-1),
                    tail(text, 10)
                ),
            });
        }
        Ok(stdout)
    }

    /// `init`.
    pub fn init(&self) -> Result<(), ProvisionError> {
        self.run(&["init", "-input=false", "-no-color"]).map(drop)
    }
    /// `plan`.
    pub fn plan(&self) -> Result<String, ProvisionError> {
        self.run(&["plan", "-input=false", "-no-color"])
    }
    /// `apply -auto-approve`.
    pub fn apply(&self) -> Result<(), ProvisionError> {
        self.run(&["apply", "-input=false", "-auto-approve", "-no-color"])
            .map(drop)
    }
    /// `output -json`, parsed.
    pub fn outputs(&self) -> Result<Outputs, ProvisionError> {
        let text = self.run(&["output", "-json"])?;
        Outputs::parse(&text).map_err(|detail| ProvisionError::Terraform {
            command: "terraform output -json".into(),
            detail,
        })
    }
    /// `destroy -auto-approve`.
    pub fn destroy(&self) -> Result<(), ProvisionError> {
        self.run(&["destroy", "-input=false", "-auto-approve", "-no-color"])
            .map(drop)
    }
}

/// The module outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    /// Public IPv4 per server.
    pub public_ips: Vec<String>,
    /// Private IPv4 per server.
    pub private_ips: Vec<String>,
    /// Server names.
    pub server_names: Vec<String>,
    /// Login user.
    pub ssh_user: String,
}

impl Outputs {
    /// Parse `terraform output -json` (`{name: {sensitive, type, value}}`).
    pub fn parse(text: &str) -> Result<Outputs, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = |k: &str| -> Result<Vec<String>, String> {
            v.get(k)
                .and_then(|o| o.get("value"))
                .and_then(Value::as_array)
                .ok_or_else(|| format!("output {k} is missing or not a list"))?
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("output {k} has a non-string element"))
                })
                .collect()
        };
        let o = Outputs {
            public_ips: list("public_ips")?,
            private_ips: list("private_ips")?,
            server_names: list("server_names")?,
            ssh_user: v["ssh_user"]["value"]
                .as_str()
                .ok_or("output ssh_user is missing")?
                .to_string(),
        };
        if o.private_ips.len() != o.public_ips.len() || o.server_names.len() != o.public_ips.len() {
            return Err(format!(
                "outputs disagree: {} public IPs, {} private IPs, {} names",
                o.public_ips.len(),
                o.private_ips.len(),
                o.server_names.len()
            ));
        }
        Ok(o)
    }

    /// Merge into an inventory: hosts follow the outputs (index 0 = hub); a host keeps its pinned
    /// key and results only if its name and address are unchanged.
    pub fn into_inventory(self, mut inv: Inventory) -> Inventory {
        let old = std::mem::take(&mut inv.hosts);
        inv.ssh.user = self.ssh_user;
        for (i, name) in self.server_names.iter().enumerate() {
            let public = &self.public_ips[i];
            let host = old
                .iter()
                .find(|h| &h.name == name && &h.address == public)
                .cloned()
                .unwrap_or_else(|| {
                    let mut h = Host::new(name, public);
                    h.private_address = Some(self.private_ips[i].clone());
                    h
                });
            inv.hosts.push(host);
        }
        inv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_parse_and_merge_keeping_pins() {
        let text = r#"{"public_ips":{"sensitive":false,"type":["tuple",["string","string"]],"value":["198.51.100.1","198.51.100.2"]},
            "private_ips":{"value":["10.42.1.10","10.42.1.11"]},"server_names":{"value":["lt-0","lt-1"]},
            "server_ids":{"value":["1","2"]},"hub_private_ip":{"value":"10.42.1.10"},"ssh_user":{"value":"root"}}"#;
        let o = Outputs::parse(text).unwrap();
        let mut old = Inventory::default();
        let mut pinned = Host::new("lt-0", "198.51.100.1");
        pinned.host_key = Some("ssh-ed25519 SHA256:x".into());
        let mut moved = Host::new("lt-1", "198.51.100.99");
        moved.host_key = Some("ssh-ed25519 SHA256:y".into());
        old.hosts = vec![pinned, moved];
        let inv = o.into_inventory(old);
        assert_eq!(
            inv.hosts[0].host_key.as_deref(),
            Some("ssh-ed25519 SHA256:x")
        );
        assert_eq!(inv.hosts[1].host_key, None);
        assert_eq!(inv.hosts[1].private_address.as_deref(), Some("10.42.1.11"));
        assert!(Outputs::parse(r#"{"public_ips":{"value":["a"]}}"#).is_err());
    }
}
