//! `loadtest network-node`: a Selenium Grid node whose browsers run inside a network namespace
//! behind an emulated link with a profile. Its stereotype carries `loadtest:network = <name>`, so a
//! run's cohort of that name asks for it and the Grid places the cohort's sessions there; `--name
//! none` is an unshaped node for everyone else. The node process and ChromeDriver stay in the root
//! namespace (WebDriver and Grid traffic is never shaped); only the browsers are inside.
//!
//! It runs until Ctrl-C or SIGTERM (or until the node exits, e.g. drained by a `stop_grid_node`
//! disruption) and then removes its namespace, link and everything else it made.

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
    /// The network's name: a run's `[[cohort]]` of this name asks for it (`none`: an unshaped node).
    #[arg(long)]
    pub name: String,
    /// Its profile: a built-in (`3g`, `4g`, `lte`, `edge`, `lossy-wifi`, `clean`) or a TOML table,
    /// e.g. `{ delay = "100ms", loss = "5%" }` (not with `--name none`).
    #[arg(long)]
    pub profile: Option<String>,
    /// The hub's URL, e.g. `http://10.0.0.10:4444` (its event bus on the same host).
    #[arg(long)]
    pub hub: String,
    /// Attach to the network lab this target lives in (the isolated sandbox's API URL), so the
    /// browsers reach it, and all its traffic, through the emulated link. Without it (or with
    /// `--egress`) the link leads off the machine: media through the tool's UDP NAT, pages and
    /// signalling through its HTTP proxy.
    #[arg(long)]
    pub target: Option<String>,
    /// Lead off the machine even when `--target` is inside a lab.
    #[arg(long)]
    pub egress: bool,
    /// Browser slots.
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
    /// Directory for the node's configuration, log and browser wrapper (default: in the cache).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Java heap of the node.
    #[arg(long, default_value = "512m")]
    pub heap: String,
}

/// Parse `--profile`: a built-in name, or a TOML table of profile values.
pub fn parse_profile(name: &str, text: &str) -> Result<Profile, String> {
    let text = text.trim();
    let r: ProfileRef = if text.starts_with('{') {
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

/// The node's TOML: server, event bus, node settings and the one driver configuration.
fn node_toml(a: &NetworkNodeArgs, driver: &str) -> Result<String, UsageError> {
    let hub = url::Url::parse(&a.hub).map_err(|e| UsageError(format!("--hub {}: {e}", a.hub)))?;
    let host = hub
        .host_str()
        .ok_or_else(|| UsageError(format!("--hub {}: no host", a.hub)))?;
    Ok(format!(
        "# Written by loadtest network-node.\n[server]\nhost = \"{h}\"\nport = {p}\n\n\
         [events]\npublish = \"tcp://{host}:{pp}\"\nsubscribe = \"tcp://{host}:{sp}\"\n\n\
         [node]\ngrid-url = \"{hub}\"\ndetect-drivers = false\nselenium-manager = false\n\
         max-sessions = {slots}\noverride-max-sessions = true\nsession-timeout = 300\n\
         heartbeat-period = 5\n\n{driver}",
        h = a.host,
        p = a.port,
        pp = a.publish_port,
        sp = a.subscribe_port,
        hub = hub.as_str().trim_end_matches('/'),
        slots = a.slots,
    ))
}

/// The namespace, link and wrapper of a shaped node, and the proxy its browsers use (egress).
struct Shaped {
    net: Net,
    cohort: Cohort,
    wrapper: PathBuf,
    proxy: Option<String>,
}

/// Attached to the target's lab, or leading off the machine.
enum Net {
    Attached(Star),
    Egress(EgressLab),
}

impl Shaped {
    fn teardown(self) -> crate::network::Result<()> {
        match self.net {
            Net::Attached(s) => s.teardown(),
            Net::Egress(l) => l.teardown(),
        }
    }
}

fn shape(a: &NetworkNodeArgs, profile: Profile, dir: &Path) -> Result<Shaped, InfraError> {
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
    let (net, cohort, proxy) = match router {
        Some(r) => {
            let star = Star::attach(&r).map_err(err)?;
            let cohort = star.add_cohort("n", profile).map_err(err)?;
            (Net::Attached(star), cohort, None)
        }
        None => {
            let mut lab = EgressLab::create().map_err(err)?;
            let cohort = lab.add_cohort("n", profile).map_err(err)?;
            let proxy = Some(lab.proxy_url());
            (Net::Egress(lab), cohort, proxy)
        }
    };
    let wrapper = cohort.ns.browser_wrapper(&a.browser, dir).map_err(err)?;
    Ok(Shaped {
        net,
        cohort,
        wrapper,
        proxy,
    })
}

/// `loadtest network-node`: start the node, run until a signal or its end, remove everything.
pub async fn exec(a: NetworkNodeArgs) -> anyhow::Result<i32> {
    if !a.jar.is_file() {
        return Err(UsageError(format!("--jar {}: no such file", a.jar.display())).into());
    }
    let unshaped = a.name == UNSHAPED;
    let profile = match (&a.profile, unshaped) {
        (Some(_), true) => {
            return Err(UsageError("--name none is unshaped: give no --profile".into()).into());
        }
        (None, false) => return Err(UsageError("give --profile".into()).into()),
        (Some(p), false) => Some(parse_profile(&a.name, p).map_err(UsageError)?),
        (None, true) => None,
    };
    let dir = a.dir.clone().unwrap_or_else(|| {
        crate::media::cache_dir().join(format!("network-node-{}-{}", a.name, a.port))
    });
    std::fs::create_dir_all(&dir)?;
    let shaped = match profile {
        Some(p) => {
            let (a2, d2) = (a.clone(), dir.clone());
            Some(tokio::task::spawn_blocking(move || shape(&a2, p, &d2)).await??)
        }
        None => None,
    };
    let (ns, proxy, wrapper) = match &shaped {
        Some(s) => (
            Some(s.cohort.ns.name()),
            s.proxy.as_deref(),
            Some(s.wrapper.as_path()),
        ),
        None => (None, None, None),
    };
    let driver = network_driver_configuration(
        &a.name,
        (ns, proxy),
        &a.browser,
        wrapper,
        &a.chromedriver,
        a.slots,
    )?;
    let config = dir.join("node.toml");
    std::fs::write(&config, node_toml(&a, &driver)?)?;
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
    match &shaped {
        Some(s) => println!(
            "network node {}: browsers in namespace {} behind {}{}; node on {}:{} for hub {}",
            a.name,
            s.cohort.ns.name(),
            s.cohort.link.profile().describe(),
            s.proxy.as_ref().map_or(String::new(), |p| format!(
                "; off the machine (UDP through the tool's NAT, TCP through its proxy {p})"
            )),
            a.host,
            a.port,
            a.hub
        ),
        None => println!(
            "network node none (unshaped): node on {}:{} for hub {}",
            a.host, a.port, a.hub
        ),
    }
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
    let _ = node.kill().await;
    // Give the node's browsers a moment to go with it; whatever is left in the namespace is killed
    // with it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    if let Some(s) = shaped {
        tokio::task::spawn_blocking(move || s.teardown()).await??;
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
    fn the_node_config_carries_the_network_and_the_namespace() {
        let a = NetworkNodeArgs {
            name: "shaped".into(),
            profile: None,
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
            heap: "256m".into(),
        };
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
