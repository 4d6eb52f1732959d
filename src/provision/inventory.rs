//! The inventory: the fleet's hosts, how to reach them, their pinned host keys and what provision
//! did on each. TOML; `--provider static` reads a hand-written one, cloud providers write one from
//! `terraform output -json`. Provision writes it back after every run, so it doubles as resume state.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ProvisionError;

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// `static`, `hetzner`, `ionos` or `aws`.
    #[serde(default = "default_provider")]
    pub provider: String,
    /// Fleet name (Terraform `name_prefix`); empty for static fleets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Terraform work directory holding the state (cloud providers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<PathBuf>,
    /// How to log in.
    #[serde(default)]
    pub ssh: SshSettings,
    /// Selenium Grid layout.
    #[serde(default)]
    pub grid: GridSettings,
    /// The machines (none for a Kubernetes fleet).
    #[serde(default, rename = "host")]
    pub hosts: Vec<Host>,
    /// `[kubernetes]`: where a Kubernetes fleet's hub runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubeFleet>,
}

/// `[kubernetes]`: the hub Service of a fleet applied with `--provider kubernetes`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeFleet {
    /// The kubectl context it was applied to (`None`: the current one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Its namespace.
    pub namespace: String,
    /// The hub's Service (`kubectl port-forward svc/<service>`).
    pub service: String,
}

fn default_provider() -> String {
    "static".to_string()
}

/// `[ssh]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSettings {
    /// Login user.
    #[serde(default = "default_user")]
    pub user: String,
    /// Port, unless a host says otherwise.
    #[serde(default = "default_ssh_port")]
    pub port: u16,
    /// Private key file; absent = the SSH agent (`SSH_AUTH_SOCK`). Never the key itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
}

fn default_user() -> String {
    "root".to_string()
}
fn default_ssh_port() -> u16 {
    22
}

impl Default for SshSettings {
    fn default() -> Self {
        SshSettings {
            user: default_user(),
            port: default_ssh_port(),
            key: None,
        }
    }
}

/// `[grid]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSettings {
    /// Hub router port (WebDriver endpoint).
    #[serde(default = "default_hub_port")]
    pub hub_port: u16,
    /// Event bus publish port.
    #[serde(default = "default_publish_port")]
    pub publish_port: u16,
    /// Event bus subscribe port.
    #[serde(default = "default_subscribe_port")]
    pub subscribe_port: u16,
    /// Node port.
    #[serde(default = "default_node_port")]
    pub node_port: u16,
    /// Directory on every host for configs, logs, the jar and the bootstrap script (a host's
    /// `remote_dir` wins).
    #[serde(default = "default_remote_dir")]
    pub remote_dir: String,
    /// Directory on every node holding the fake media files (`webdriver.media_dir` of runs).
    #[serde(default = "default_media_dir")]
    pub media_dir: String,
    /// Java heap of each Grid process (`-Xmx`).
    #[serde(default = "default_heap")]
    pub java_heap: String,
    /// The hub's WebDriver URL as the operator reaches it; written by provision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

fn default_hub_port() -> u16 {
    4444
}
fn default_publish_port() -> u16 {
    4442
}
fn default_subscribe_port() -> u16 {
    4443
}
fn default_node_port() -> u16 {
    5555
}
fn default_remote_dir() -> String {
    "/opt/loadtest-grid".to_string()
}
fn default_media_dir() -> String {
    "/opt/loadtest-grid/media".to_string()
}
fn default_heap() -> String {
    "512m".to_string()
}

impl Default for GridSettings {
    fn default() -> Self {
        GridSettings {
            hub_port: default_hub_port(),
            publish_port: default_publish_port(),
            subscribe_port: default_subscribe_port(),
            node_port: default_node_port(),
            remote_dir: default_remote_dir(),
            media_dir: default_media_dir(),
            java_heap: default_heap(),
            url: None,
        }
    }
}

/// What a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// The Grid hub only (a dedicated hub).
    #[serde(rename = "hub")]
    Hub,
    /// A Grid node only.
    #[serde(rename = "node")]
    Node,
    /// The hub and a node.
    #[serde(rename = "hub+node")]
    HubNode,
}

impl Role {
    /// Runs the hub.
    pub fn hub(self) -> bool {
        matches!(self, Role::Hub | Role::HubNode)
    }
    /// Runs a node.
    pub fn node(self) -> bool {
        matches!(self, Role::Node | Role::HubNode)
    }
}

/// Where a host stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Not bootstrapped yet.
    #[default]
    Pending,
    /// Bootstrapped and (nodes) registered with the hub.
    Ready,
    /// The last attempt failed at `step` with `error`.
    Failed,
    /// `destroy` stopped its Grid processes.
    Stopped,
}

/// `[[host]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Name (server name or a label of your choice).
    pub name: String,
    /// Address SSH connects to.
    pub address: String,
    /// Address the Grid binds to and fleet members reach it on; default `address`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_address: Option<String>,
    /// Interface that should hold `private_address`: where the bootstrap asks DHCP when the address
    /// is missing; default: every interface but `lo` that has no IPv4 address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_interface: Option<String>,
    /// SSH port; default `[ssh] port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_port: Option<u16>,
    /// `hub`, `node` or `hub+node`; default: the first host is `hub+node`, the rest `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Remote working directory on this host; default `[grid] remote_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_dir: Option<String>,
    /// Pinned host key, `<type> SHA256:<base64>`: recorded on first contact, a different key is
    /// refused. Delete the line after a deliberate rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// Result: state of the last provision.
    #[serde(default)]
    pub state: HostState,
    /// Result: the step that failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// Result: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Result: cores (`nproc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// Result: node slots configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Result: the node's URI as the hub lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_uri: Option<String>,
}

impl Host {
    /// A new pending host.
    pub fn new(name: &str, address: &str) -> Host {
        Host {
            name: name.to_string(),
            address: address.to_string(),
            private_address: None,
            private_interface: None,
            ssh_port: None,
            role: None,
            remote_dir: None,
            host_key: None,
            state: HostState::Pending,
            step: None,
            error: None,
            cores: None,
            slots: None,
            node_uri: None,
        }
    }
    /// Address the Grid binds to.
    pub fn grid_address(&self) -> &str {
        self.private_address.as_deref().unwrap_or(&self.address)
    }
    /// `name (address)` for messages.
    pub fn label(&self) -> String {
        if self.name == self.address {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, self.address)
        }
    }
}

impl Inventory {
    /// Read and check a file.
    pub fn load(path: &Path) -> Result<Inventory, ProvisionError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ProvisionError::Inventory(format!("cannot read {}: {e}", path.display()))
        })?;
        let inv: Inventory = toml::from_str(&text)
            .map_err(|e| ProvisionError::Inventory(format!("{}: {e}", path.display())))?;
        inv.check()
            .map_err(|e| ProvisionError::Inventory(format!("{}: {e}", path.display())))?;
        Ok(inv)
    }

    /// Write atomically ([`crate::util::fs::write_atomic`]), with a header comment.
    pub fn save(&self, path: &Path) -> Result<(), ProvisionError> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| ProvisionError::Inventory(format!("cannot serialise: {e}")))?;
        let text = format!(
            "# loadtest inventory: hosts of the load-generator fleet. `loadtest provision` updates the\n\
             # result fields (state, step, error, cores, slots, node_uri) and pins host keys on first\n\
             # contact. No secrets live here: the SSH key is a path, provider tokens stay in the environment.\n\n{body}"
        );
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                ProvisionError::Inventory(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        crate::util::fs::write_atomic(path, text.as_bytes())
            .map_err(|e| ProvisionError::Inventory(format!("cannot write {}: {e}", path.display())))
    }

    /// Consistency: unique names, exactly one hub, sane values.
    pub fn check(&self) -> Result<(), String> {
        if !matches!(
            self.provider.as_str(),
            "static" | "hetzner" | "ionos" | "aws" | "kubernetes"
        ) {
            return Err(format!(
                "provider = {:?}: expected static, hetzner, ionos, aws or kubernetes",
                self.provider
            ));
        }
        if (self.provider == "kubernetes") != self.kubernetes.is_some() {
            return Err(
                "a [kubernetes] table goes with provider = \"kubernetes\", and only there".into(),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for h in &self.hosts {
            if h.name.trim().is_empty() || h.address.trim().is_empty() {
                return Err("every [[host]] needs a name and an address".into());
            }
            if !names.insert(h.name.as_str()) {
                return Err(format!("host name {:?} appears twice", h.name));
            }
        }
        let hubs = self
            .hosts
            .iter()
            .filter(|h| h.role.is_some_and(Role::hub))
            .count();
        if hubs > 1 {
            return Err(format!("{hubs} hosts have a hub role; a fleet has one hub"));
        }
        if self.grid.java_heap.is_empty()
            || !self
                .grid
                .java_heap
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(format!(
                "grid.java_heap = {:?}: expected a size like 512m",
                self.grid.java_heap
            ));
        }
        for dir in std::iter::once(&self.grid.remote_dir)
            .chain(std::iter::once(&self.grid.media_dir))
            .chain(self.hosts.iter().filter_map(|h| h.remote_dir.as_ref()))
        {
            if !dir.starts_with('/') || !dir.chars().all(safe_path_char) {
                return Err(format!(
                    "{dir:?}: remote directories must be absolute and use only [A-Za-z0-9._/-]"
                ));
            }
        }
        Ok(())
    }

    /// Role of host `i`: as configured, else the first host is the hub (and a node).
    pub fn role(&self, i: usize) -> Role {
        if let Some(r) = self.hosts[i].role {
            return r;
        }
        let explicit_hub = self.hosts.iter().any(|h| h.role.is_some_and(Role::hub));
        if i == 0 && !explicit_hub {
            Role::HubNode
        } else {
            Role::Node
        }
    }

    /// Index of the hub host.
    pub fn hub_index(&self) -> Option<usize> {
        (0..self.hosts.len()).find(|&i| self.role(i).hub())
    }

    /// Remote directory of host `i`.
    pub fn remote_dir(&self, i: usize) -> &str {
        self.hosts[i]
            .remote_dir
            .as_deref()
            .unwrap_or(&self.grid.remote_dir)
    }

    /// SSH port of host `i`.
    pub fn ssh_port(&self, i: usize) -> u16 {
        self.hosts[i].ssh_port.unwrap_or(self.ssh.port)
    }

    /// The hub's WebDriver URL on its grid address (what nodes and the hub itself use).
    pub fn hub_grid_url(&self) -> Option<String> {
        let h = &self.hosts[self.hub_index()?];
        Some(format!(
            "http://{}:{}",
            url_host(h.grid_address()),
            self.grid.hub_port
        ))
    }
}

/// An address as the host part of a URL (IPv6 in brackets).
pub fn url_host(addr: &str) -> String {
    if addr.contains(':') && !addr.starts_with('[') {
        format!("[{addr}]")
    } else {
        addr.to_string()
    }
}

fn safe_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_default_to_first_host_as_hub() {
        let mut inv = Inventory {
            provider: "static".into(),
            hosts: vec![Host::new("a", "127.0.0.11"), Host::new("b", "127.0.0.12")],
            ..Default::default()
        };
        assert_eq!(inv.role(0), Role::HubNode);
        assert_eq!(inv.role(1), Role::Node);
        inv.hosts[1].role = Some(Role::Hub);
        assert_eq!(inv.role(0), Role::Node);
        assert_eq!(inv.hub_index(), Some(1));
        assert_eq!(
            inv.hub_grid_url().as_deref(),
            Some("http://127.0.0.12:4444")
        );
    }

    #[test]
    fn round_trip_and_checks() {
        let text = r#"
provider = "static"
[ssh]
user = "root"
key = "/keys/id"
[grid]
hub_port = 14444
[[host]]
name = "h11"
address = "127.0.0.11"
ssh_port = 2222
remote_dir = "/tmp/x/h11"
host_key = "ssh-ed25519 SHA256:abc"
"#;
        let inv: Inventory = toml::from_str(text).unwrap();
        inv.check().unwrap();
        assert_eq!(inv.ssh_port(0), 2222);
        assert_eq!(inv.remote_dir(0), "/tmp/x/h11");
        let back: Inventory = toml::from_str(&toml::to_string(&inv).unwrap()).unwrap();
        assert_eq!(back, inv);

        for (bad, why) in [
            ("provider = \"gcp\"", "provider"),
            (
                "[[host]]\nname=\"a\"\naddress=\"x\"\n[[host]]\nname=\"a\"\naddress=\"y\"",
                "twice",
            ),
            (
                "[[host]]\nname=\"a\"\naddress=\"x\"\nremote_dir=\"rel/dir\"",
                "absolute",
            ),
            (
                "[[host]]\nname=\"a\"\naddress=\"x\"\nremote_dir=\"/a;rm -rf /\"",
                "absolute",
            ),
            ("[grid]\njava_heap = \"1g; x\"", "java_heap"),
            (
                "[[host]]\nname=\"a\"\naddress=\"x\"\nrole=\"hub\"\n[[host]]\nname=\"b\"\naddress=\"y\"\nrole=\"hub+node\"",
                "one hub",
            ),
        ] {
            let inv: Inventory = toml::from_str(bad).unwrap();
            let err = inv.check().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(
            toml::from_str::<Inventory>("[[host]]\nname=\"a\"\naddress=\"x\"\ntoken=\"s\"")
                .is_err()
        );
    }

    #[test]
    fn a_kubernetes_fleet_has_its_table_and_no_hosts() {
        let text = "provider = \"kubernetes\"\nname = \"lt-k8s\"\n[grid]\nmedia_dir = \"/opt/loadtest/media\"\n\
                    [kubernetes]\ncontext = \"prod\"\nnamespace = \"loadgen\"\nservice = \"selenium-hub\"\n";
        let inv: Inventory = toml::from_str(text).unwrap();
        inv.check().unwrap();
        assert!(inv.hosts.is_empty());
        assert_eq!(inv.kubernetes.as_ref().unwrap().namespace, "loadgen");
        let back: Inventory = toml::from_str(&toml::to_string(&inv).unwrap()).unwrap();
        assert_eq!(back, inv);
        let mut no_table = inv.clone();
        no_table.kubernetes = None;
        assert!(no_table.check().unwrap_err().contains("[kubernetes]"));
        let mut wrong = inv;
        wrong.provider = "hetzner".into();
        assert!(wrong.check().is_err());
    }
}
