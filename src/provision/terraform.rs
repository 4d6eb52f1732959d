//! The generated Terraform root configuration (`main.tf`, HCL, calling one of the hand-written
//! modules in `terraform/modules/`) and the `terraform`/`tofu` runner (init, plan, apply, output,
//! destroy). No credential is ever written: providers read them from the environment.

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
            Cloud::Ionos => "debian:latest",
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

/// What the root configuration asks for.
#[derive(Debug, Clone)]
pub struct Root {
    /// The cloud.
    pub cloud: Cloud,
    /// `name_prefix`.
    pub name: String,
    /// `server_count`.
    pub servers: u32,
    /// Server type (Hetzner `server_type`, AWS `instance_type`, IONOS `<cores>c-<ram>g`).
    pub server_type: String,
    /// Location / region.
    pub region: String,
    /// Image.
    pub image: String,
    /// One OpenSSH public key line.
    pub ssh_public_key: String,
    /// IPv4 CIDR allowed to SSH in.
    pub operator_cidr: String,
    /// Module source as written in the root (relative to the work dir where possible).
    pub module_source: String,
}

/// Selenium Grid ports opened inside the fleet.
pub const GRID_PORTS: [u16; 4] = [4442, 4443, 4444, 5555];

/// An HCL string literal (escapes, and `${`/`%{` so user text is never a template).
fn hstr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `<cores>c-<ram>g` → (cores, ram MB).
pub fn ionos_shape(server_type: &str) -> Option<(u32, u32)> {
    let (c, g) = server_type.split_once("c-")?;
    let g = g.strip_suffix('g')?;
    let cores: u32 = c.parse().ok()?;
    let ram_gb: u32 = g.parse().ok()?;
    (cores > 0 && ram_gb > 0).then_some((cores, ram_gb * 1024))
}

impl Root {
    /// Check what Terraform would only refuse after init (and what the modules' validations check).
    pub fn check(&self) -> Result<(), String> {
        let n = &self.name;
        let name_ok = (2..=32).contains(&n.len())
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "--name {n:?}: 2-32 characters [a-z0-9-], starting with a letter"
            ));
        }
        if !(1..=100).contains(&self.servers) {
            return Err(format!("--servers {}: 1 to 100", self.servers));
        }
        let key = self.ssh_public_key.trim();
        if key.lines().count() != 1
            || !(key.starts_with("ssh-") || key.starts_with("ecdsa-"))
            || key.contains("PRIVATE KEY")
        {
            return Err(
                "the SSH public key must be one OpenSSH public key line (ssh-ed25519 AAAA…)".into(),
            );
        }
        let cidr_ok = self
            .operator_cidr
            .split_once('/')
            .is_some_and(|(ip, bits)| {
                ip.parse::<std::net::Ipv4Addr>().is_ok()
                    && bits.parse::<u8>().is_ok_and(|b| (8..=32).contains(&b))
            });
        if !cidr_ok {
            return Err(format!(
                "--operator-cidr {:?}: an IPv4 CIDR of /8 to /32 (your address, e.g. 203.0.113.7/32)",
                self.operator_cidr
            ));
        }
        if self.cloud == Cloud::Ionos && ionos_shape(&self.server_type).is_none() {
            return Err(format!(
                "--server-type {:?}: IONOS servers are <cores>c-<ram GiB>g, e.g. 4c-8g",
                self.server_type
            ));
        }
        if self.server_type.is_empty() || self.region.is_empty() || self.image.is_empty() {
            return Err("server type, region and image must not be empty".into());
        }
        Ok(())
    }

    /// The root configuration as HCL.
    pub fn to_hcl(&self) -> String {
        let (local, source, version) = self.cloud.provider();
        let mut s = String::new();
        s.push_str(&format!(
            "# Generated by `loadtest provision --provider {}`; do not edit, re-run provision.\n\
             # No credentials here: the provider reads {} from the environment.\n\n",
            self.cloud.name(),
            self.cloud.credentials().0
        ));
        s.push_str(&format!(
            "terraform {{\n  required_version = \">= 1.5.0\"\n  required_providers {{\n    {local} = {{\n      source  = {}\n      version = {}\n    }}\n  }}\n}}\n\n",
            hstr(source),
            hstr(version)
        ));
        match self.cloud {
            Cloud::Aws => s.push_str(&format!(
                "provider \"aws\" {{\n  region = {}\n  default_tags {{\n    tags = {{\n      \"managed-by\" = \"loadtest\"\n    }}\n  }}\n}}\n\n",
                hstr(&self.region)
            )),
            _ => s.push_str(&format!("provider \"{local}\" {{}}\n\n")),
        }
        let ports = GRID_PORTS
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let mut args: Vec<(&str, String)> = vec![
            ("source", hstr(&self.module_source)),
            ("name_prefix", hstr(&self.name)),
            ("server_count", self.servers.to_string()),
            ("image", hstr(&self.image)),
            ("location", hstr(&self.region)),
            ("ssh_public_key", hstr(self.ssh_public_key.trim())),
            ("operator_cidr", hstr(&self.operator_cidr)),
            ("grid_ports", format!("[{ports}]")),
            (
                "labels",
                "{\n    \"loadtest-fleet\" = ".to_string() + &hstr(&self.name) + "\n  }",
            ),
            ("user_data", hstr("")),
        ];
        match self.cloud {
            Cloud::Hetzner => args.push(("server_type", hstr(&self.server_type))),
            Cloud::Ionos => {
                let (cores, ram_mb) = ionos_shape(&self.server_type).unwrap_or((4, 8192));
                args.push(("cores", cores.to_string()));
                args.push(("ram_mb", ram_mb.to_string()));
                args.push(("disk_gb", "30".into()));
            }
            Cloud::Aws => {
                args.push(("instance_type", hstr(&self.server_type)));
                args.push(("disk_gb", "30".into()));
                args.push(("subnet_id", "null".into()));
                // Debian's official AMIs (account 136693071363) log in as `admin`.
                if self.image == Cloud::Aws.default_image() {
                    args.push(("ami_owners", "[\"136693071363\"]".into()));
                    args.push(("ssh_user", hstr("admin")));
                }
            }
        }
        let width = args.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        s.push_str("module \"fleet\" {\n");
        for (k, v) in &args {
            s.push_str(&format!("  {k:<width$} = {v}\n"));
        }
        s.push_str("}\n");
        for o in OUTPUTS {
            s.push_str(&format!(
                "\noutput \"{o}\" {{\n  value = module.fleet.{o}\n}}\n"
            ));
        }
        s
    }
}

/// The module outputs the root passes through.
pub const OUTPUTS: [&str; 6] = [
    "public_ips",
    "private_ips",
    "server_names",
    "server_ids",
    "hub_private_ip",
    "ssh_user",
];

/// `terraform` or, failing that, `tofu`, on `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["terraform", "tofu"] {
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

    fn root(cloud: Cloud) -> Root {
        Root {
            cloud,
            name: "lt-test".into(),
            servers: 3,
            server_type: cloud.default_server_type().into(),
            region: cloud.default_region().into(),
            image: cloud.default_image().into(),
            ssh_public_key: "ssh-ed25519 AAAAC3Nza op@host".into(),
            operator_cidr: "203.0.113.7/32".into(),
            module_source: format!("../../modules/{}", cloud.name()),
        }
    }

    #[test]
    fn hcl_escapes_templates_and_quotes() {
        assert_eq!(hstr(r#"a"b\c${x}%{y}$z"#), r#""a\"b\\c$${x}%%{y}$z""#);
    }

    #[test]
    fn roots_carry_the_request() {
        for cloud in [Cloud::Hetzner, Cloud::Ionos, Cloud::Aws] {
            let r = root(cloud);
            r.check().unwrap();
            let hcl = r.to_hcl();
            assert!(hcl.contains("server_count   = 3"), "{hcl}");
            for o in OUTPUTS {
                assert!(hcl.contains(&format!("output \"{o}\"")));
            }
            assert!(!hcl.to_lowercase().contains("token ="));
        }
        assert!(
            root(Cloud::Ionos)
                .to_hcl()
                .contains("ram_mb         = 8192")
        );
        assert!(
            root(Cloud::Aws)
                .to_hcl()
                .contains("ssh_user       = \"admin\"")
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut r = root(Cloud::Hetzner);
        r.operator_cidr = "0.0.0.0/0".into();
        assert!(r.check().unwrap_err().contains("operator-cidr"));
        let mut r = root(Cloud::Hetzner);
        r.ssh_public_key = "-----BEGIN OPENSSH PRIVATE KEY-----".into();
        assert!(r.check().is_err());
        let mut r = root(Cloud::Hetzner);
        r.name = "Bad_Name".into();
        assert!(r.check().is_err());
        let mut r = root(Cloud::Ionos);
        r.server_type = "cx43".into();
        assert!(r.check().unwrap_err().contains("4c-8g"));
        let mut r = root(Cloud::Hetzner);
        r.servers = 0;
        assert!(r.check().is_err());
        assert_eq!(ionos_shape("16c-16g"), Some((16, 16384)));
    }

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
