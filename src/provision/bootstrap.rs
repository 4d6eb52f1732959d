//! Bootstrap one host into the Selenium Grid over SSH, and check that every node registered.
//!
//! The remote side is `assets/provision/bootstrap.sh` (facts, install, apply, stop, status); this
//! file decides what to upload and which roles to apply. Every step compares before it changes, so a
//! second run reports no changes and restarts nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ProvisionError;
use super::inventory::{Inventory, Role, url_host};
use super::slots::Slots;
use super::ssh::{Output, Remote, shell_quote, tail};
use crate::webdriver::grid::{GridStatus, parse_status};

/// The remote script, embedded so the binary is self-contained.
pub const SCRIPT: &str = include_str!("../../assets/provision/bootstrap.sh");

/// Fleet-wide inputs of a bootstrap.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The Selenium server jar on this machine (uploaded to every host).
    pub jar: PathBuf,
    /// Fake media files to place in `[grid] media_dir` on nodes.
    pub media: Vec<PathBuf>,
    /// Browser slots per node for the scenario's density mode, or `--slots`.
    pub slots: Slots,
    /// The scenario's cohorts as `loadtest network-node` networks (`none` first); empty: plain
    /// Chromium nodes.
    pub networks: Vec<String>,
    /// This loadtest binary, uploaded to nodes that run network nodes.
    pub loadtest: Option<PathBuf>,
}

/// What one host's bootstrap did.
#[derive(Debug, Default)]
pub struct HostOutcome {
    /// The host key offered on this contact.
    pub host_key: Option<String>,
    /// `nproc`.
    pub cores: Option<u32>,
    /// Node slots configured.
    pub slots: Option<u32>,
    /// What changed (`packages`, `jar`, `media`, `hub`, `node`); empty = nothing.
    pub changes: Vec<String>,
    /// Set when a step failed.
    pub error: Option<ProvisionError>,
}

/// Node slots: `--slots`, else the browsers a node of `cores` holds in the scenario's mode.
pub fn slots_for(cores: u32, plan: &Plan) -> u32 {
    plan.slots.per_node(cores)
}

/// The hub's TOML config.
pub fn hub_toml(inv: &Inventory, hub_addr: &str) -> String {
    let g = &inv.grid;
    let a = url_host(hub_addr);
    format!(
        "# Written by loadtest provision.\n[server]\nhost = \"{hub_addr}\"\nport = {hub}\n\n\
         [events]\npublish = \"tcp://{a}:{p}\"\nsubscribe = \"tcp://{a}:{s}\"\nbind = true\n\n\
         [sessionqueue]\nsession-request-timeout = 60\nsession-retry-interval = 1\n\n\
         [distributor]\nreject-unsupported-caps = true\n",
        hub = g.hub_port,
        p = g.publish_port,
        s = g.subscribe_port,
    )
}

/// A node's TOML config.
pub fn node_toml(inv: &Inventory, node_addr: &str, hub_addr: &str, slots: u32) -> String {
    let g = &inv.grid;
    let a = url_host(hub_addr);
    format!(
        "# Written by loadtest provision.\n[server]\nhost = \"{node_addr}\"\nport = {np}\n\n\
         [events]\npublish = \"tcp://{a}:{p}\"\nsubscribe = \"tcp://{a}:{s}\"\n\n\
         [node]\ngrid-url = \"http://{a}:{hub}\"\ndetect-drivers = false\nselenium-manager = false\n\
         max-sessions = {slots}\noverride-max-sessions = true\nsession-timeout = 300\n\
         heartbeat-period = 5\nregister-period = 120\nregister-cycle = 2\n\n\
         [[node.driver-configuration]]\ndisplay-name = \"Chromium (Debian)\"\n\
         webdriver-executable = \"/usr/bin/chromedriver\"\nmax-sessions = {slots}\n\
         stereotype = '{{\"browserName\": \"chrome\", \"goog:chromeOptions\": {{\"binary\": \"/usr/bin/chromium\"}}}}'\n",
        np = g.node_port,
        hub = g.hub_port,
        p = g.publish_port,
        s = g.subscribe_port,
    )
}

/// The node URI the hub lists for a node bound to `addr`.
pub fn node_uri(inv: &Inventory, addr: &str) -> String {
    format!("http://{}:{}", url_host(addr), inv.grid.node_port)
}

/// Runs the script's steps on one host.
pub struct Steps<'a, R: Remote> {
    /// The connection.
    pub remote: &'a mut R,
    /// Host label.
    pub label: String,
    /// Remote working directory.
    pub dir: String,
    /// Remote jar path.
    pub jar: String,
    /// Java heap.
    pub heap: String,
    /// Run the script through `sudo -n` (the login user is not root, e.g. `admin` on AWS).
    pub sudo: bool,
}

impl<R: Remote> Steps<'_, R> {
    fn fail(&self, step: &str, detail: impl std::fmt::Display) -> ProvisionError {
        ProvisionError::Host {
            host: self.label.clone(),
            step: step.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Run `sh bootstrap.sh <args>`; a non-zero exit is an error of `step` with the stderr tail.
    pub fn script(&mut self, step: &str, args: &str) -> Result<Output, ProvisionError> {
        let cmd = format!(
            "{}env LT_DIR={} LT_JAR={} LT_HEAP={} sh {}/bootstrap.sh {args}",
            if self.sudo { "sudo -n " } else { "" },
            shell_quote(&self.dir),
            shell_quote(&self.jar),
            shell_quote(&self.heap),
            shell_quote(&self.dir),
        );
        let out = self.remote.exec(&cmd, b"")?;
        if out.status != 0 {
            return Err(self.fail(step, format!("exit {}: {}", out.status, out.tail())));
        }
        Ok(out)
    }

    /// Run a plain shell command; non-zero exit is an error of `step`.
    pub fn sh(&mut self, step: &str, cmd: &str, stdin: &[u8]) -> Result<Output, ProvisionError> {
        let out = self.remote.exec(cmd, stdin)?;
        if out.status != 0 {
            return Err(self.fail(step, format!("exit {}: {}", out.status, out.tail())));
        }
        Ok(out)
    }

    /// Upload `local` to `remote` unless a file of the same size is there (the files are versioned
    /// by name: `selenium-server-<version>.jar`, `video-<preset>-…-v<n>.y4m`). True if uploaded.
    pub fn upload_if_changed(
        &mut self,
        step: &str,
        local: &Path,
        remote: &str,
    ) -> Result<bool, ProvisionError> {
        let size = std::fs::metadata(local)
            .map_err(|e| self.fail(step, format!("{}: {e}", local.display())))?
            .len();
        let out = self.sh(
            step,
            &format!("stat -c %s {} 2>/dev/null || echo -1", shell_quote(remote)),
            b"",
        )?;
        if out.stdout.trim() == size.to_string() {
            return Ok(false);
        }
        self.remote.upload(local, remote, 0o644)?;
        Ok(true)
    }
}

/// `key=value` lines.
fn facts(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Every step on host `i` except the registration check. `log` receives progress lines.
pub fn bootstrap_host<R: Remote>(
    remote: &mut R,
    inv: &Inventory,
    i: usize,
    plan: &Plan,
    log: &(dyn Fn(&str) + Sync),
) -> HostOutcome {
    let mut outcome = HostOutcome::default();
    if let Err(e) = steps(remote, inv, i, plan, log, &mut outcome) {
        outcome.error = Some(e);
    }
    outcome
}

fn steps<R: Remote>(
    remote: &mut R,
    inv: &Inventory,
    i: usize,
    plan: &Plan,
    log: &(dyn Fn(&str) + Sync),
    outcome: &mut HostOutcome,
) -> Result<(), ProvisionError> {
    let host = &inv.hosts[i];
    let role = inv.role(i);
    let dir = inv.remote_dir(i).to_string();
    let jar_name = plan
        .jar
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("selenium-server.jar")
        .to_string();
    let mut s = Steps {
        remote,
        label: host.label(),
        jar: format!("{dir}/{jar_name}"),
        dir: dir.clone(),
        heap: inv.grid.java_heap.clone(),
        sudo: inv.ssh.user != "root",
    };
    let media_dir = inv.grid.media_dir.clone();

    // 1. Working directories (owned by the login user, so SFTP can write) and the script.
    let mkdir = format!(
        "mkdir -p {d}/staged {m} && chown -R {u} {d} {m}",
        d = shell_quote(&dir),
        m = shell_quote(&media_dir),
        u = shell_quote(&inv.ssh.user),
    );
    let mkdir = if s.sudo {
        format!("sudo -n sh -c {}", shell_quote(&mkdir))
    } else {
        mkdir
    };
    s.sh(
        "prepare",
        &format!("{mkdir} && cat > {}/bootstrap.sh", shell_quote(&dir)),
        SCRIPT.as_bytes(),
    )?;

    // 2. What the host is.
    let f = facts(&s.script("facts", "facts")?.stdout);
    let cores: u32 = f
        .get("cores")
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| s.fail("facts", "nproc gave no core count"))?;
    outcome.cores = Some(cores);
    log(&format!(
        "os {} {}, {} cores, {}",
        f.get("os_id").map_or("?", String::as_str),
        f.get("os_version").map_or("?", String::as_str),
        cores,
        if f.get("systemd").is_some_and(|v| v == "yes") {
            "systemd"
        } else {
            "no systemd (pidfile services)"
        }
    ));

    // 2b. The private address the Grid binds to must be on an interface (IONOS hot-adds the
    //     private NIC after boot, and it may come up without an address).
    if let Some(note) = ensure_private_address(&mut s, host)? {
        log(&note);
        outcome.changes.push("network".into());
    }

    // 3. Packages, only when something is missing.
    let missing = f.get("missing").cloned().unwrap_or_default();
    if !missing.is_empty() {
        log(&format!("installing {missing}"));
        s.script("install", "install")?;
        outcome.changes.push("packages".into());
    }

    // 4. The jar and the media files.
    if s.upload_if_changed("upload jar", &plan.jar, &s.jar.clone())? {
        log(&format!("uploaded {jar_name}"));
        outcome.changes.push("jar".into());
    }
    if role.node() {
        let mut uploaded = 0;
        for m in &plan.media {
            let name = m
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| s.fail("upload media", format!("{}: no file name", m.display())))?;
            if s.upload_if_changed("upload media", m, &format!("{media_dir}/{name}"))? {
                uploaded += 1;
            }
        }
        if uploaded > 0 {
            log(&format!("uploaded {uploaded} media file(s) to {media_dir}"));
            outcome.changes.push("media".into());
        }
    }

    // 5. Configs and services.
    let hub_idx = inv
        .hub_index()
        .ok_or_else(|| s.fail("config", "the inventory has no hub"))?;
    let hub_addr = inv.hosts[hub_idx].grid_address().to_string();
    let mut roles: Vec<(&str, String)> = Vec::new();
    if role.hub() {
        roles.push(("hub", hub_toml(inv, &hub_addr)));
    }
    if role.node() {
        let slots = slots_for(cores, plan);
        outcome.slots = Some(slots);
        roles.push((
            "node",
            node_toml(inv, host.grid_address(), &hub_addr, slots),
        ));
        if network_node(&mut s, inv, i, plan, slots)? {
            log("network node: uploaded loadtest");
            outcome.changes.push("loadtest".into());
        }
    }
    for (name, toml) in roles {
        s.sh(
            "config",
            &format!("cat > {}/staged/{name}.toml", shell_quote(&dir)),
            toml.as_bytes(),
        )?;
        let out = s.script(&format!("start {name}"), &format!("apply {name}"))?;
        if out.stdout.contains(&format!("changed {name}")) && !out.stdout.contains("unchanged") {
            log(&format!("{name} (re)started"));
            outcome.changes.push(name.to_string());
        }
    }
    if role == Role::Hub {
        // A dedicated hub must not keep a node from an earlier layout.
        s.script("stop node", "stop node")?;
    }
    Ok(())
}

/// With networks in the plan, the node service is `loadtest network-node` (one driver
/// configuration per network, browsers of shaped ones in namespaces): upload the binary (true when
/// it changed) and stage its command and networks; without, unstage them (a plain node again).
fn network_node<R: Remote>(
    s: &mut Steps<'_, R>,
    inv: &Inventory,
    i: usize,
    plan: &Plan,
    slots: u32,
) -> Result<bool, ProvisionError> {
    let dir = s.dir.clone();
    let q = |p: &str| shell_quote(p);
    let (Some(bin), false) = (&plan.loadtest, plan.networks.is_empty()) else {
        s.sh(
            "network node",
            &format!(
                "rm -f {}/staged/node.command {}/staged/node.networks",
                q(&dir),
                q(&dir)
            ),
            b"",
        )?;
        return Ok(false);
    };
    let remote = format!("{dir}/loadtest-{}", env!("CARGO_PKG_VERSION"));
    let uploaded = s.upload_if_changed("upload loadtest", bin, &remote)?;
    s.sh("upload loadtest", &format!("chmod 755 {}", q(&remote)), b"")?;
    let g = &inv.grid;
    let hub = inv
        .hub_index()
        .map(|h| url_host(inv.hosts[h].grid_address()))
        .ok_or_else(|| s.fail("network node", "the inventory has no hub"))?;
    let command = format!(
        "{remote} network-node --networks-file={dir}/node.networks --hub=http://{hub}:{hp} \
         --host={host} --port={np} --slots={slots} --publish-port={pp} --subscribe-port={sp} \
         --jar={jar} --heap={heap} --dir={dir}/network-node --config={dir}/node.toml.net\n",
        hp = g.hub_port,
        host = inv.hosts[i].grid_address(),
        np = g.node_port,
        pp = g.publish_port,
        sp = g.subscribe_port,
        jar = s.jar,
        heap = s.heap,
    );
    let networks = plan.networks.join("\n") + "\n";
    for (name, text) in [("command", command), ("networks", networks)] {
        s.sh(
            "network node",
            &format!("cat > {}/staged/node.{name}", q(&dir)),
            text.as_bytes(),
        )?;
    }
    Ok(uploaded)
}

/// Make sure `host`'s private address (when it differs from the SSH address) is configured on the
/// host: present, or brought up by DHCP on its interface (`bootstrap.sh privnet`). `Some(what was
/// done)` when it changed something; an error of step `private address` saying why it is missing.
pub fn ensure_private_address<R: Remote>(
    s: &mut Steps<'_, R>,
    host: &super::inventory::Host,
) -> Result<Option<String>, ProvisionError> {
    let Some(addr) = host
        .private_address
        .as_deref()
        .filter(|a| *a != host.address)
    else {
        return Ok(None);
    };
    let iface = host.private_interface.as_deref().unwrap_or("");
    let out = s.script(
        "private address",
        &format!("privnet {} {}", shell_quote(addr), shell_quote(iface)),
    )?;
    let said = out.stdout.trim();
    Ok(said.starts_with("configured").then(|| said.to_string()))
}

/// Does `status` list every expected node (URI → slots) as UP with its slots?
/// Returns the nodes still missing, with why.
pub fn unregistered(status: &GridStatus, expected: &[(String, u32)]) -> Vec<(String, String)> {
    expected
        .iter()
        .filter_map(|(uri, slots)| {
            let uri_n = uri.trim_end_matches('/');
            match status
                .nodes
                .iter()
                .find(|n| n.uri.trim_end_matches('/') == uri_n)
            {
                None => Some((uri.clone(), "not registered with the hub".to_string())),
                Some(n) if n.availability != "UP" => {
                    Some((uri.clone(), format!("registered but {}", n.availability)))
                }
                Some(n) if n.slots != *slots as usize => Some((
                    uri.clone(),
                    format!("registered with {} slots, expected {slots}", n.slots),
                )),
                Some(_) => None,
            }
        })
        .collect()
}

/// Poll the hub's `/status` through `remote` (a session on the hub host, so it works where the
/// hub's port is closed to the operator) until every expected node is there or `timeout` passes.
pub fn await_nodes<R: Remote>(
    remote: &mut R,
    inv: &Inventory,
    hub_idx: usize,
    expected: &[(String, u32)],
    timeout: Duration,
) -> Result<Vec<(String, String)>, ProvisionError> {
    let url = inv
        .hub_grid_url()
        .ok_or_else(|| ProvisionError::Inventory("no hub".into()))?;
    let dir = inv.remote_dir(hub_idx).to_string();
    let deadline = Instant::now() + timeout;
    loop {
        let out = remote.exec(
            &format!(
                "LT_DIR={} sh {}/bootstrap.sh status {}",
                shell_quote(&dir),
                shell_quote(&dir),
                shell_quote(&url)
            ),
            b"",
        )?;
        let missing = match serde_json::from_str::<serde_json::Value>(&out.stdout)
            .ok()
            .as_ref()
            .and_then(parse_status)
        {
            Some(status) => unregistered(&status, expected),
            None => expected
                .iter()
                .map(|(u, _)| {
                    (
                        u.clone(),
                        format!(
                            "the hub at {url} does not answer /status yet{}",
                            if out.stdout.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", tail(&out.stdout, 2))
                            }
                        ),
                    )
                })
                .collect(),
        };
        if missing.is_empty() || Instant::now() >= deadline {
            return Ok(missing);
        }
        std::thread::sleep(Duration::from_millis(1000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::inventory::Host;
    use crate::webdriver::grid::NodeStatus;

    fn inv() -> Inventory {
        let mut h1 = Host::new("a", "203.0.113.1");
        h1.private_address = Some("10.0.0.10".into());
        let mut h2 = Host::new("b", "203.0.113.2");
        h2.private_address = Some("10.0.0.11".into());
        Inventory {
            hosts: vec![h1, h2],
            ..Default::default()
        }
    }

    /// The video-only, one-browser mode of the `small` preset (8 per core), or a fixed number.
    fn slots(fixed: Option<u32>) -> Slots {
        Slots::for_mode(
            &crate::scenario::density::Fidelity {
                video: "small".into(),
                audio: false,
                receive_audio: false,
                mode: crate::scenario::density::Mode::BASE,
            },
            fixed,
        )
    }

    #[test]
    fn configs_bind_private_addresses_and_parse() {
        let inv = inv();
        let hub: toml::Table = toml::from_str(&hub_toml(&inv, "10.0.0.10")).unwrap();
        assert_eq!(hub["server"]["host"].as_str(), Some("10.0.0.10"));
        assert_eq!(
            hub["events"]["publish"].as_str(),
            Some("tcp://10.0.0.10:4442")
        );
        let node: toml::Table =
            toml::from_str(&node_toml(&inv, "10.0.0.11", "10.0.0.10", 12)).unwrap();
        assert_eq!(node["server"]["host"].as_str(), Some("10.0.0.11"));
        assert_eq!(node["node"]["max-sessions"].as_integer(), Some(12));
        assert_eq!(
            node["node"]["grid-url"].as_str(),
            Some("http://10.0.0.10:4444")
        );
        assert_eq!(
            node["node"]["driver-configuration"][0]["max-sessions"].as_integer(),
            Some(12)
        );
        assert!(!hub_toml(&inv, "10.0.0.10").contains("203.0.113"));
    }

    /// Records commands and answers like a fresh Debian host with everything installed.
    #[derive(Default)]
    struct Fake {
        cmds: Vec<String>,
        uploads: Vec<String>,
    }

    impl Remote for Fake {
        fn exec(&mut self, command: &str, _stdin: &[u8]) -> Result<Output, ProvisionError> {
            self.cmds.push(command.to_string());
            let stdout = if command.contains("bootstrap.sh facts") {
                "os_id=debian\nos_version=12\ncores=4\nsystemd=yes\nmissing=\n".to_string()
            } else if let Some((_, role)) = command.split_once("bootstrap.sh apply ") {
                format!("changed {role}\n")
            } else if command.starts_with("stat ") {
                "-1\n".to_string()
            } else {
                String::new()
            };
            Ok(Output {
                status: 0,
                stdout,
                stderr: String::new(),
            })
        }
        fn upload(&mut self, _l: &Path, remote: &str, _m: i32) -> Result<(), ProvisionError> {
            self.uploads.push(remote.to_string());
            Ok(())
        }
    }

    #[test]
    fn cohorts_turn_the_node_into_a_network_node() {
        let inv = inv();
        let (jar, bin) = (
            tempfile::NamedTempFile::new().unwrap(),
            tempfile::NamedTempFile::new().unwrap(),
        );
        let plan = Plan {
            jar: jar.path().to_path_buf(),
            media: vec![],
            slots: slots(Some(3)),
            networks: vec!["none".into(), "shaped={ delay = \"100ms\" }".into()],
            loadtest: Some(bin.path().to_path_buf()),
        };
        let mut fake = Fake::default();
        let o = bootstrap_host(&mut fake, &inv, 1, &plan, &|_| {});
        assert!(o.error.is_none(), "{:?}", o.error);
        assert!(
            o.changes.contains(&"loadtest".to_string()),
            "{:?}",
            o.changes
        );
        assert!(
            fake.uploads.iter().any(|u| u.contains("/loadtest-")),
            "{:?}",
            fake.uploads
        );
        let staged = fake
            .cmds
            .iter()
            .find(|c| c.contains("staged/node.command"))
            .unwrap();
        assert!(staged.starts_with("cat > "), "{staged}");
        let plain = Plan {
            networks: Vec::new(),
            loadtest: None,
            ..plan
        };
        let mut fake = Fake::default();
        bootstrap_host(&mut fake, &inv, 1, &plain, &|_| {});
        assert!(
            fake.cmds
                .iter()
                .any(|c| c.starts_with("rm -f") && c.contains("staged/node.command")),
            "without cohorts the node is a plain node again: {:?}",
            fake.cmds
        );
    }

    /// The real script, on this machine (no systemd: a pidfile service): a staged command is the
    /// node's service, applied once, unchanged the second time, stopped.
    #[test]
    fn the_script_runs_a_staged_node_command() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        std::fs::create_dir_all(dir.path().join("staged")).unwrap();
        std::fs::write(dir.path().join("bootstrap.sh"), SCRIPT).unwrap();
        std::fs::write(dir.path().join("x.jar"), "jar").unwrap();
        let node = dir.path().join("fake-node");
        std::fs::write(
            &node,
            "#!/bin/sh\ntrap 'kill $!; exit 0' TERM\nsleep 300 &\nwait\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.path().join("staged/node.toml"), "[node]\n").unwrap();
        let cmd = format!("{} --config={d}/node.toml.net\n", node.display());
        std::fs::write(dir.path().join("staged/node.command"), &cmd).unwrap();
        std::fs::write(dir.path().join("staged/node.networks"), "none\n").unwrap();
        let script = |args: &[&str]| {
            let out = std::process::Command::new("sh")
                .arg(dir.path().join("bootstrap.sh"))
                .args(args)
                .env("LT_DIR", dir.path())
                .env("LT_JAR", dir.path().join("x.jar"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        if std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd") {
            eprintln!("skipped: this machine runs systemd (the script would install a unit)");
            return;
        }
        assert_eq!(script(&["apply", "node"]), "changed node");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("node.cmd")).unwrap(),
            cmd
        );
        assert!(dir.path().join("node.networks").is_file());
        let pid = std::fs::read_to_string(dir.path().join("node.pid")).unwrap();
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap();
        assert!(String::from_utf8_lossy(&cmdline).contains("node.toml.net"));
        assert_eq!(script(&["apply", "node"]), "unchanged node");
        assert_eq!(script(&["stop", "node"]), "stopped node");
        assert!(!std::path::Path::new(&format!("/proc/{}", pid.trim())).exists());
    }

    #[test]
    fn steps_for_a_non_root_login_go_through_sudo() {
        let mut inv = inv();
        inv.ssh.user = "admin".into();
        let jar = tempfile::NamedTempFile::new().unwrap();
        let plan = Plan {
            jar: jar.path().to_path_buf(),
            media: vec![],
            slots: slots(None),
            networks: Vec::new(),
            loadtest: None,
        };
        let mut fake = Fake::default();
        let o = bootstrap_host(&mut fake, &inv, 0, &plan, &|_| {});
        assert!(o.error.is_none(), "{:?}", o.error);
        assert_eq!((o.cores, o.slots), (Some(4), Some(32)));
        assert_eq!(o.changes, vec!["jar", "hub", "node"]);
        assert!(
            fake.cmds[0].starts_with("sudo -n sh -c 'mkdir -p"),
            "{}",
            fake.cmds[0]
        );
        assert!(
            fake.cmds[0].contains(r"chown -R '\''admin'\''"),
            "{}",
            fake.cmds[0]
        );
        let script_calls: Vec<&String> = fake
            .cmds
            .iter()
            .filter(|c| c.contains("bootstrap.sh "))
            .collect();
        assert!(
            script_calls
                .iter()
                .all(|c| c.starts_with("sudo -n env LT_DIR="))
        );
        assert_eq!(fake.uploads.len(), 1);
        assert!(fake.uploads[0].starts_with("/opt/loadtest-grid/"));
    }

    #[test]
    fn registration_check_names_what_is_missing() {
        let status = GridStatus {
            ready: true,
            nodes: vec![
                NodeStatus {
                    uri: "http://10.0.0.10:5555".into(),
                    availability: "UP".into(),
                    slots: 16,
                    busy: 0,
                    ..Default::default()
                },
                NodeStatus {
                    uri: "http://10.0.0.11:5555".into(),
                    availability: "UP".into(),
                    slots: 8,
                    busy: 0,
                    ..Default::default()
                },
            ],
        };
        let exp = vec![
            ("http://10.0.0.10:5555".to_string(), 16),
            ("http://10.0.0.11:5555".to_string(), 16),
            ("http://10.0.0.12:5555".to_string(), 16),
        ];
        let missing = unregistered(&status, &exp);
        assert_eq!(missing.len(), 2);
        assert!(missing[0].1.contains("8 slots, expected 16"));
        assert!(missing[1].1.contains("not registered"));
    }
}
