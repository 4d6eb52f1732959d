//! The generated Terraform root configuration: `main.tf` (HCL, `terraform fmt` clean) calling one of
//! the hand-written modules in `terraform/modules/`, with the request checked the way the modules'
//! validations would. No credential is ever written: providers read them from the environment.

use super::terraform::Cloud;

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
    /// Hetzner: name or ID of an SSH key already in the project, used instead of uploading one
    /// (the module also finds a key with the same public key by itself).
    pub existing_ssh_key: Option<String>,
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

/// `<cores>c-<ram GiB>g` (IONOS server types, Kubernetes node pods) → (cores, RAM MB).
pub fn shape(server_type: &str) -> Option<(u32, u32)> {
    let (c, g) = server_type.split_once("c-")?;
    let g = g.strip_suffix('g')?;
    let cores: u32 = c.parse().ok()?;
    let ram_gb: u32 = g.parse().ok()?;
    (cores > 0 && ram_gb > 0).then_some((cores, ram_gb * 1024))
}

/// `key = value` lines as `terraform fmt` writes them: the `=` of consecutive one-line arguments
/// aligned, a multi-line value ending the group and not padded.
fn arguments(args: &[(&str, String)], indent: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < args.len() {
        if args[i].1.contains('\n') {
            out.push_str(&format!("{indent}{} = {}\n", args[i].0, args[i].1));
            i += 1;
            continue;
        }
        let end = (i..args.len())
            .find(|&j| args[j].1.contains('\n'))
            .unwrap_or(args.len());
        let width = args[i..end].iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &args[i..end] {
            out.push_str(&format!("{indent}{k:<width$} = {v}\n"));
        }
        i = end;
    }
    out
}

impl Root {
    /// Check what Terraform would only refuse after init (and what the modules' validations check).
    pub fn check(&self) -> Result<(), String> {
        let n = &self.name;
        // The modules' validation: ^[a-z][a-z0-9-]{0,30}[a-z0-9]$
        let name_ok = (2..=32).contains(&n.len())
            && n.starts_with(|c: char| c.is_ascii_lowercase())
            && !n.ends_with('-')
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "--name {n:?}: 2-32 characters [a-z0-9-], starting with a letter and not ending with '-'"
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
        if self.cloud == Cloud::Ionos && shape(&self.server_type).is_none() {
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
            ("user_data", hstr("")),
        ];
        match self.cloud {
            Cloud::Hetzner => args.push(("server_type", hstr(&self.server_type))),
            Cloud::Ionos => {
                let (cores, ram_mb) = shape(&self.server_type).unwrap_or((4, 8192));
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
        if let (Cloud::Hetzner, Some(key)) = (self.cloud, &self.existing_ssh_key) {
            args.push(("existing_ssh_key", hstr(key)));
        }
        let labels = format!("{{\n    \"loadtest-fleet\" = {}\n  }}", hstr(&self.name));
        args.push(("labels", labels));
        s.push_str("module \"fleet\" {\n");
        s.push_str(&arguments(&args, "  "));
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
            existing_ssh_key: None,
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
    fn an_existing_hetzner_key_is_passed_to_the_module() {
        let mut r = root(Cloud::Hetzner);
        assert!(!r.to_hcl().contains("existing_ssh_key"));
        r.existing_ssh_key = Some("ops-laptop".into());
        let hcl = r.to_hcl();
        assert!(
            hcl.contains("  existing_ssh_key = \"ops-laptop\"\n"),
            "{hcl}"
        );
        // Aligned with the other one-line arguments, as `terraform fmt` does.
        assert!(hcl.contains("  server_count     = 3\n"), "{hcl}");
        let mut r = root(Cloud::Aws);
        r.existing_ssh_key = Some("ops-laptop".into());
        assert!(!r.to_hcl().contains("existing_ssh_key"), "Hetzner only");
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
        // The modules refuse a trailing '-': so does the tool, before writing anything.
        let mut r = root(Cloud::Hetzner);
        r.name = "lt-".into();
        assert!(r.check().unwrap_err().contains("not ending with '-'"));
        r.name = "lt-1".into();
        assert!(r.check().is_ok());
        let mut r = root(Cloud::Ionos);
        r.server_type = "cx43".into();
        assert!(r.check().unwrap_err().contains("4c-8g"));
        let mut r = root(Cloud::Hetzner);
        r.servers = 0;
        assert!(r.check().is_err());
        assert_eq!(shape("16c-16g"), Some((16, 16384)));
    }
}
