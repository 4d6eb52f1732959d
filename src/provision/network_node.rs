//! `loadtest network-node`: a Selenium Grid node with one driver configuration per network. Each
//! shaped network's browsers run inside a network namespace behind an emulated link with its
//! profile; its stereotype carries `loadtest:network = <name>`, so a run's cohort of that name asks
//! for it and the Grid places the cohort's sessions there. `none` is the unshaped network for
//! everyone else. The node process and ChromeDriver stay in the root namespace (WebDriver and Grid
//! traffic is never shaped); only the browsers are inside. `loadtest provision` runs it as the
//! load servers' node service when the scenario has `[[cohort]]`s.
//!
//! It runs until Ctrl-C or SIGTERM (or until the node exits, e.g. drained by a `stop_grid_node`
//! disruption) and then removes its namespaces, links and everything else it made.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clap::Args;

use crate::error::{EXIT_INTERRUPTED, EXIT_OK, InfraError, UsageError};
use crate::network::egress::EgressLab;
use crate::network::netns::{UNSHAPED, network_driver_configuration};
use crate::network::{Cohort, Profile, Star, registry};
use crate::scenario::ProfileRef;

/// Options of `loadtest network-node`.
#[derive(Debug, Clone, Args)]
pub struct NetworkNodeArgs {
    /// A network: `NAME=PROFILE` (a built-in such as `3g`, or a TOML table such as
    /// `{ delay = "100ms", loss = "5%" }`), or `none` (unshaped). Repeatable; a run's `[[cohort]]`
    /// named NAME asks for it.
    #[arg(long = "network", value_name = "NAME[=PROFILE]")]
    pub networks: Vec<String>,
    /// A file of networks, one `NAME[=PROFILE]` per line (`#` comments), added to `--network`.
    #[arg(long, value_name = "FILE")]
    pub networks_file: Option<PathBuf>,
    /// The hub's URL, e.g. `http://10.0.0.10:4444` (its event bus on the same host).
    #[arg(long)]
    pub hub: String,
    /// Attach to the network lab this target lives in (the isolated sandbox's API URL), so the
    /// browsers reach it, and all its traffic, through the emulated links. Without it (or with
    /// `--egress`) the links lead off the machine: media through the tool's UDP NAT, pages and
    /// signalling through its HTTP proxy.
    #[arg(long)]
    pub target: Option<String>,
    /// Lead off the machine even when `--target` is inside a lab.
    #[arg(long)]
    pub egress: bool,
    /// Browser slots of the node (all networks together).
    #[arg(long, default_value_t = 2)]
    pub slots: u32,
    /// Address the node listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port the node listens on.
    #[arg(long, default_value_t = 5556)]
    pub port: u16,
    /// The hub's event-bus publish port.
    #[arg(long, default_value_t = 4442)]
    pub publish_port: u16,
    /// The hub's event-bus subscribe port.
    #[arg(long, default_value_t = 4443)]
    pub subscribe_port: u16,
    /// The Selenium server jar.
    #[arg(long, env = "LOADTEST_SELENIUM_JAR")]
    pub jar: PathBuf,
    /// The browser.
    #[arg(long, default_value = "/usr/bin/chromium")]
    pub browser: PathBuf,
    /// ChromeDriver.
    #[arg(long, default_value = "/usr/bin/chromedriver")]
    pub chromedriver: PathBuf,
    /// Directory for the node's log and browser wrappers (default: in the cache).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Where the node's configuration is written (default: `node.toml` in `--dir`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Java heap of the node.
    #[arg(long, default_value = "512m")]
    pub heap: String,
}

/// One network of the node: its name and, when shaped, its profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The `loadtest:network` value.
    pub name: String,
    /// `None`: unshaped.
    pub profile: Option<Profile>,
}

/// Parse `NAME[=PROFILE]`; only `none` may come without a profile, and it takes none.
pub fn parse_network(text: &str) -> Result<Network, String> {
    let (name, profile) = match text.split_once('=') {
        Some((n, p)) => (n.trim(), Some(p.trim())),
        None => (text.trim(), None),
    };
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(format!(
            "network {text:?}: expected NAME[=PROFILE], NAME of 1 to 32 letters, digits, '-' or '_'"
        ));
    }
    let profile = match (profile, name == UNSHAPED) {
        (None, true) => None,
        (Some(_), true) => return Err(format!("network {text:?}: `none` is unshaped")),
        (None, false) => return Err(format!("network {text:?}: give its profile, NAME=PROFILE")),
        (Some(p), false) => {
            Some(parse_profile(name, p).map_err(|e| format!("network {name}: {e}"))?)
        }
    };
    Ok(Network {
        name: name.to_string(),
        profile,
    })
}

/// A `NAME=PROFILE` line for `--network` or `--networks-file` (one line, no newline).
pub fn network_line(name: &str, profile: &ProfileRef) -> Result<String, String> {
    let value = match profile {
        ProfileRef::Builtin(b) => b.clone(),
        ProfileRef::Custom(spec) => toml::Value::try_from(spec)
            .map_err(|e| format!("cohort {name}: {e}"))?
            .to_string(),
    };
    Ok(format!("{name}={}", value.replace('\n', " ")))
}

/// The networks of `--network` and `--networks-file`, each name once.
pub fn networks(a: &NetworkNodeArgs) -> Result<Vec<Network>, String> {
    let mut lines = a.networks.clone();
    if let Some(f) = &a.networks_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("--networks-file {}: {e}", f.display()))?;
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    let mut out: Vec<Network> = Vec::new();
    for l in &lines {
        let n = parse_network(l)?;
        if out.iter().any(|o| o.name == n.name) {
            return Err(format!("network {} is given twice", n.name));
        }
        out.push(n);
    }
    if out.is_empty() {
        return Err("give at least one --network".into());
    }
    Ok(out)
}

/// Parse `--profile`: a built-in name, or a TOML table of profile values.
pub fn parse_profile(name: &str, text: &str) -> Result<Profile, String> {
    let text = text.trim();
    let r: ProfileRef = if text.starts_with('{') || text.starts_with('"') {
        #[derive(serde::Deserialize)]
        struct T {
            profile: ProfileRef,
        }
        toml::from_str::<T>(&format!("profile = {text}"))
            .map_err(|e| format!("--profile {text}: {}", e.message().trim()))?
            .profile
    } else {
        ProfileRef::Builtin(text.to_string())
    };
    r.resolve(name).map_err(|e| format!("--profile: {e}"))
}

/// The node's TOML: server, event bus, node settings and the driver configurations.
fn node_toml(a: &NetworkNodeArgs, drivers: &str) -> Result<String, UsageError> {
    let hub = url::Url::parse(&a.hub).map_err(|e| UsageError(format!("--hub {}: {e}", a.hub)))?;
    let host = hub
        .host_str()
        .ok_or_else(|| UsageError(format!("--hub {}: no host", a.hub)))?;
    Ok(format!(
        "# Written by loadtest network-node.\n[server]\nhost = \"{h}\"\nport = {p}\n\n\
         [events]\npublish = \"tcp://{host}:{pp}\"\nsubscribe = \"tcp://{host}:{sp}\"\n\n\
         [node]\ngrid-url = \"{hub}\"\ndetect-drivers = false\nselenium-manager = false\n\
         max-sessions = {slots}\noverride-max-sessions = true\nsession-timeout = 300\n\
         heartbeat-period = 5\n\n{drivers}",
        h = a.host,
        p = a.port,
        pp = a.publish_port,
        sp = a.subscribe_port,
        hub = hub.as_str().trim_end_matches('/'),
        slots = a.slots,
    ))
}

/// What the node's shaped networks need: one lab (attached to the target's, or leading off the
/// machine) with a namespace, link and browser wrapper per network.
struct Lab {
    net: Net,
    shaped: Vec<(String, Cohort, PathBuf)>,
    proxy: Option<String>,
}

/// Attached to the target's lab, or leading off the machine.
enum Net {
    Attached(Star),
    Egress(EgressLab),
}

impl Lab {
    fn teardown(self) -> crate::network::Result<()> {
        match self.net {
            Net::Attached(s) => s.teardown(),
            Net::Egress(l) => l.teardown(),
        }
    }
}

fn make_lab(
    a: &NetworkNodeArgs,
    shaped: Vec<(String, Profile)>,
    dir: &Path,
) -> Result<Lab, InfraError> {
    let err = |e: crate::network::NetworkError| InfraError::new("network node", e.to_string());
    registry::cleanup_leftovers().map_err(err)?;
    let router = match (&a.target, a.egress) {
        (Some(target), false) => {
            let addr = url::Url::parse(target)
                .ok()
                .and_then(|u| u.host_str()?.parse().ok());
            let router = addr.and_then(Star::router_of).ok_or_else(|| {
                InfraError::new(
                    "network node",
                    format!("--target {target} is not inside a running network lab (without --target the node leads off the machine)"),
                )
            })?;
            Some(router)
        }
        _ => None,
    };
    let mut net = match router {
        Some(r) => Net::Attached(Star::attach(&r).map_err(err)?),
        None => Net::Egress(EgressLab::create().map_err(err)?),
    };
    let mut out = Vec::new();
    for (k, (name, profile)) in shaped.into_iter().enumerate() {
        let role = format!("n{k}");
        let cohort = match &mut net {
            Net::Attached(star) => star.add_cohort(&role, profile),
            Net::Egress(lab) => lab.add_cohort(&role, profile),
        }
        .map_err(err)?;
        let wrapper = cohort.ns.browser_wrapper(&a.browser, dir).map_err(err)?;
        out.push((name, cohort, wrapper));
    }
    let proxy = match &net {
        Net::Egress(lab) => Some(lab.proxy_url()),
        Net::Attached(_) => None,
    };
    Ok(Lab {
        net,
        shaped: out,
        proxy,
    })
}

/// `loadtest network-node`: start the node, run until a signal or its end, remove everything.
pub async fn exec(a: NetworkNodeArgs) -> anyhow::Result<i32> {
    if !a.jar.is_file() {
        return Err(UsageError(format!("--jar {}: no such file", a.jar.display())).into());
    }
    let nets = networks(&a).map_err(UsageError)?;
    let dir = a
        .dir
        .clone()
        .unwrap_or_else(|| crate::media::cache_dir().join(format!("network-node-{}", a.port)));
    std::fs::create_dir_all(&dir)?;
    let shaped: Vec<(String, Profile)> = nets
        .iter()
        .filter_map(|n| n.profile.clone().map(|p| (n.name.clone(), p)))
        .collect();
    let lab = if shaped.is_empty() {
        None
    } else {
        let (a2, d2) = (a.clone(), dir.clone());
        Some(tokio::task::spawn_blocking(move || make_lab(&a2, shaped, &d2)).await??)
    };
    let mut drivers = String::new();
    for n in &nets {
        let placed = lab
            .as_ref()
            .and_then(|l| l.shaped.iter().find(|(name, _, _)| *name == n.name));
        let (ns, proxy, wrapper) = match placed {
            Some((_, c, w)) => (
                Some(c.ns.name()),
                lab.as_ref().and_then(|l| l.proxy.as_deref()),
                Some(w.as_path()),
            ),
            None => (None, None, None),
        };
        drivers.push_str(&network_driver_configuration(
            &n.name,
            (ns, proxy),
            &a.browser,
            wrapper,
            &a.chromedriver,
            a.slots,
        )?);
        drivers.push('\n');
        match placed {
            Some((_, c, _)) => println!(
                "network {}: browsers in namespace {} behind {}",
                n.name,
                c.ns.name(),
                c.link.profile().describe()
            ),
            None => println!("network {}: unshaped", n.name),
        }
    }
    if let Some(p) = lab.as_ref().and_then(|l| l.proxy.as_ref()) {
        println!("off the machine: UDP through the tool's NAT, TCP through its proxy {p}");
    }
    let config = a.config.clone().unwrap_or_else(|| dir.join("node.toml"));
    std::fs::write(&config, node_toml(&a, &drivers)?)?;
    let log = std::fs::File::create(dir.join("node.log"))?;
    let mut node = tokio::process::Command::new("java")
        .arg(format!("-Xmx{}", a.heap))
        .arg("-jar")
        .arg(&a.jar)
        .arg("node")
        .arg("--config")
        .arg(&config)
        .args(["--tracing", "false"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| InfraError::new("network node", format!("cannot start java: {e}")))?;
    println!("node on {}:{} for hub {}", a.host, a.port, a.hub);
    println!(
        "log in {}; press Ctrl-C to stop",
        dir.join("node.log").display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let code = tokio::select! {
        _ = tokio::signal::ctrl_c() => EXIT_INTERRUPTED,
        _ = term.recv() => EXIT_INTERRUPTED,
        status = node.wait() => {
            eprintln!("the node exited ({})", status.map_or("?".into(), |s| s.to_string()));
            EXIT_OK
        }
    };
    // Stopped gracefully, the node ends its sessions and drivers; killed after 5 s.
    if let Some(pid) = node.id() {
        // SAFETY: kill(2) of our own child, by the pid it was started with.
        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    }
    if tokio::time::timeout(Duration::from_secs(5), node.wait())
        .await
        .is_err()
    {
        let _ = node.kill().await;
    }
    // Give the node's browsers a moment to go with it; whatever is left in the namespace is killed
    // with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(l) = lab {
        tokio::task::spawn_blocking(move || l.teardown()).await??;
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_builtins_or_tables_and_bad_ones_say_why() {
        assert_eq!(parse_profile("m", "3g").unwrap().name, "3g");
        let p = parse_profile("shaped", "{ delay = \"100ms\", loss = \"5%\" }").unwrap();
        assert_eq!(p.delay, Duration::from_millis(100));
        assert!((p.loss - 0.05).abs() < 1e-12);
        let e = parse_profile("m", "6g").unwrap_err();
        assert!(e.contains("lossy-wifi"), "{e}");
        let e = parse_profile("m", "{ lag = \"1s\" }").unwrap_err();
        assert!(e.contains("unknown field `lag`"), "{e}");
        let e = parse_profile("m", "{ loss = \"five\" }").unwrap_err();
        assert!(e.contains("loss") && e.contains("five"), "{e}");
    }

    #[test]
    fn a_cohort_profile_becomes_a_network_line_that_parses_back() {
        let spec: crate::scenario::profile::ProfileSpec =
            toml::from_str("base = \"4g\"\ndelay = \"100ms\"\nloss = \"5%\"").unwrap();
        let line = network_line("shaped", &ProfileRef::Custom(spec)).unwrap();
        assert!(!line.contains('\n'), "{line}");
        let n = parse_network(&line).unwrap();
        let p = n.profile.unwrap();
        assert_eq!(
            (p.delay, p.up.map(|r| r.bits_per_sec())),
            (Duration::from_millis(100), Some(9_000_000))
        );
        let line = network_line("m", &ProfileRef::Builtin("3g".into())).unwrap();
        assert_eq!(line, "m=3g");
    }

    #[test]
    fn networks_are_named_with_profiles_and_none_is_unshaped() {
        let n = parse_network("shaped={ delay = \"100ms\" }").unwrap();
        assert_eq!(n.name, "shaped");
        assert_eq!(n.profile.unwrap().delay, Duration::from_millis(100));
        assert_eq!(
            parse_network("mobile=3g").unwrap().profile.unwrap().name,
            "3g"
        );
        assert_eq!(
            parse_network("wifi=\"lossy-wifi\"")
                .unwrap()
                .profile
                .unwrap()
                .name,
            "lossy-wifi"
        );
        assert_eq!(parse_network(" none ").unwrap().profile, None);
        for (bad, why) in [
            ("none=3g", "unshaped"),
            ("mobile", "give its profile"),
            ("a b=3g", "NAME[=PROFILE]"),
            ("m=6g", "lossy-wifi"),
        ] {
            let e = parse_network(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("networks");
        std::fs::write(
            &file,
            "# the scenario's cohorts\nnone\nshaped={ loss = \"5%\" }\n",
        )
        .unwrap();
        let mut a = args();
        a.networks = vec!["mobile=4g".into()];
        a.networks_file = Some(file);
        let names: Vec<String> = networks(&a).unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["mobile", "none", "shaped"]);
        a.networks.push("none".into());
        assert!(networks(&a).unwrap_err().contains("twice"));
    }

    fn args() -> NetworkNodeArgs {
        NetworkNodeArgs {
            networks: Vec::new(),
            networks_file: None,
            hub: "http://127.0.0.1:4444".into(),
            target: None,
            egress: false,
            slots: 3,
            host: "127.0.0.1".into(),
            port: 5557,
            publish_port: 4442,
            subscribe_port: 4443,
            jar: PathBuf::from("/x.jar"),
            browser: PathBuf::from("/usr/bin/chromium"),
            chromedriver: PathBuf::from("/usr/bin/chromedriver"),
            dir: None,
            config: None,
            heap: "256m".into(),
        }
    }

    #[test]
    fn the_node_config_carries_the_network_and_the_namespace() {
        let a = args();
        let driver = network_driver_configuration(
            "shaped",
            (Some("lt-0001-n"), Some("http://127.0.0.1:4100")),
            &a.browser,
            Some(Path::new("/tmp/browser-lt-0001-n")),
            &a.chromedriver,
            3,
        )
        .unwrap();
        let text = node_toml(&a, &driver).unwrap();
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            t["node"]["grid-url"].as_str(),
            Some("http://127.0.0.1:4444")
        );
        assert_eq!(
            t["events"]["publish"].as_str(),
            Some("tcp://127.0.0.1:4442")
        );
        let stereo = t["node"]["driver-configuration"][0]["stereotype"]
            .as_str()
            .unwrap();
        let stereo: serde_json::Value = serde_json::from_str(stereo).unwrap();
        assert_eq!(stereo["loadtest:network"], "shaped");
        assert_eq!(stereo["loadtest:namespace"], "lt-0001-n");
        assert_eq!(stereo["loadtest:proxy"], "http://127.0.0.1:4100");
    }
}
