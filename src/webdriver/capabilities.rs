//! W3C capabilities for a torture-style headless Chrome participant with fake media.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::scenario::WebDriver;

/// Chrome switches every participant gets: fake media without prompts, no background traffic to
/// anything but the target, loopback ICE allowed (for targets on 127.0.0.0/8), no throttling of
/// background pages.
const BASE_ARGS: &[&str] = &[
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--mute-audio",
    "--disable-infobars",
    "--allow-insecure-localhost",
    "--allow-loopback-in-peer-connection",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-dev-shm-usage",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-sync",
    "--disable-quic",
    "--metrics-recording-only",
    // Plain host candidates instead of mDNS names: no multicast, and servers need no mDNS resolution.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
];

/// For targets on this machine (loopback, or the tool's own lab namespaces): a proxy that does not
/// exist, so Chrome's own background lookups (update, sign-in, new-tab page) cannot leave the machine.
/// Loopback is exempt from proxies; the lab's range is exempted explicitly.
const LOOPBACK_ONLY_ARGS: &[&str] = &[
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=10.231.0.0/16",
];

/// The capabilities of one participant's session.
///
/// `local` adds the browser binary (grid nodes use their own stereotype); `video`/`audio` are the fake
/// media files as seen on the machine running the browser; `loopback_only` (the target is on
/// 127.0.0.0/8) keeps every non-loopback request of the browser from leaving the machine.
pub fn chrome(
    cfg: &WebDriver,
    local: bool,
    loopback_only: bool,
    video: Option<&Path>,
    audio: Option<&Path>,
) -> Map<String, Value> {
    let mut args: Vec<String> = BASE_ARGS.iter().map(|s| s.to_string()).collect();
    if loopback_only {
        args.extend(LOOPBACK_ONLY_ARGS.iter().map(|s| s.to_string()));
    }
    if cfg.headless {
        args.push("--headless=new".into());
        // The newest Malleus' window (jitsi-meet tests/wdio.conf.ts); the app sizes tiles from it.
        args.push("--window-size=1280,1024".into());
    }
    if let Some(v) = video {
        args.push(format!("--use-file-for-fake-video-capture={}", v.display()));
    }
    if let Some(a) = audio {
        args.push(format!("--use-file-for-fake-audio-capture={}", a.display()));
    }
    args.extend(cfg.args.iter().cloned());

    let mut opts = json!({
        "args": args,
        "prefs": { "intl.accept_languages": "en-US" },
    });
    if local {
        opts["binary"] = Value::String(cfg.browser.display().to_string());
    }
    let mut caps = Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "acceptInsecureCerts".into(),
        json!(cfg.accept_insecure_certs),
    );
    caps.insert("goog:chromeOptions".into(), opts);
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    if let Some(v) = &cfg.browser_version {
        caps.insert("browserVersion".into(), json!(v));
    }
    caps
}

/// Where a participant's browser sits on the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the driver starts it (this machine's network, or any Grid node).
    #[default]
    Anywhere,
    /// Started by the local ChromeDriver through a wrapper that puts it inside a network namespace
    /// ([`crate::network::netns::browser_wrapper`]); it talks to ChromeDriver over pipes.
    Wrapped {
        /// The wrapper script.
        wrapper: std::path::PathBuf,
        /// The HTTP proxy the browser reaches the target through, when its link leads off the
        /// machine ([`crate::network::egress`]).
        proxy: Option<String>,
    },
    /// On a Grid node whose stereotype carries [`crate::network::netns::GRID_CAPABILITY`] with this
    /// value (`"none"` for the unshaped nodes).
    Network {
        /// The network's name.
        name: String,
        /// The node's HTTP proxy ([`crate::network::netns::PROXY_CAPABILITY`]), if it has one.
        proxy: Option<String>,
    },
}

/// Where each cohort's browsers go, and everyone else's.
#[derive(Debug, Clone, Default)]
pub struct Placements {
    /// By cohort name.
    pub cohorts: std::collections::HashMap<String, Placement>,
    /// Participants in no cohort.
    pub others: Placement,
}

impl Placements {
    /// The placement of a participant in `cohort` (or in none).
    pub fn of(&self, cohort: Option<&str>) -> &Placement {
        cohort
            .and_then(|c| self.cohorts.get(c))
            .unwrap_or(&self.others)
    }
}

/// Put a session's browser where `placement` says: the wrapper as the binary (with the pipe
/// switch), or the Grid capability that picks the node.
pub fn place(caps: &mut Map<String, Value>, placement: &Placement) {
    use crate::network::netns::{GRID_CAPABILITY, PIPE_ARG};
    let proxy = match placement {
        Placement::Anywhere => None,
        Placement::Wrapped { wrapper, proxy } => {
            if let Some(opts) = caps.get_mut("goog:chromeOptions") {
                opts["binary"] = json!(wrapper.display().to_string());
                if let Some(args) = opts["args"].as_array_mut() {
                    args.push(json!(PIPE_ARG));
                }
            }
            proxy.as_deref()
        }
        Placement::Network { name, proxy } => {
            caps.insert(GRID_CAPABILITY.into(), json!(name));
            proxy.as_deref()
        }
    };
    // The egress proxy replaces the dead-end proxy of loopback targets: every request goes through it.
    if let Some(p) = proxy
        && let Some(args) = caps
            .get_mut("goog:chromeOptions")
            .and_then(|o| o["args"].as_array_mut())
    {
        args.retain(|a| {
            a.as_str().is_none_or(|a| {
                !a.starts_with("--proxy-server=") && !a.starts_with("--proxy-bypass-list=")
            })
        });
        args.push(json!(format!("--proxy-server={p}")));
    }
}

/// Merge a node type's capabilities (`[webdriver] sender_capabilities` / `receiver_capabilities`)
/// into a session request: tables merge key by key, anything else replaces; `goog:chromeOptions.args`
/// are appended to, not replaced.
pub fn merge(caps: &mut Map<String, Value>, extra: &toml::Table) {
    let Ok(Value::Object(extra)) = serde_json::to_value(extra) else {
        return;
    };
    for (k, v) in extra {
        merge_value(caps.entry(k).or_insert(Value::Null), v, false);
    }
}

fn merge_value(into: &mut Value, from: Value, append: bool) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                let append = k == "args";
                merge_value(a.entry(k).or_insert(Value::Null), v, append);
            }
        }
        (Value::Array(a), Value::Array(b)) if append => a.extend(b),
        (slot, v) => *slot = v,
    }
}

/// Whether a URL stays on this machine: loopback, or an address of the tool's own lab namespaces
/// ([`crate::network::addr::RANGE`]), which the root namespace routes nowhere else.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback() || crate::network::addr::in_range(a),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_media_and_binary() {
        let cfg = WebDriver::default();
        let caps = chrome(&cfg, true, true, Some(Path::new("/m/v.y4m")), None);
        let args: Vec<&str> = caps["goog:chromeOptions"]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(args.contains(&"--use-file-for-fake-video-capture=/m/v.y4m"));
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--use-file-for-fake-audio-capture"))
        );
        assert!(args.contains(&"--headless=new"));
        assert!(args.contains(&"--disable-background-networking"));
        assert!(args.contains(&"--proxy-server=http://127.0.0.1:9"));
        assert_eq!(caps["goog:chromeOptions"]["binary"], "/usr/bin/chromium");
        let remote = chrome(&cfg, false, false, None, None);
        assert!(remote["goog:chromeOptions"].get("binary").is_none());
        assert!(
            !remote["goog:chromeOptions"]["args"]
                .to_string()
                .contains("proxy-server"),
            "real targets are reached directly"
        );
    }

    #[test]
    fn placement_sets_the_wrapper_or_the_grid_network() {
        let cfg = WebDriver::default();
        let mut caps = chrome(&cfg, true, true, None, None);
        let wrapped = Placement::Wrapped {
            wrapper: "/tmp/browser-lt-0001-c0".into(),
            proxy: None,
        };
        place(&mut caps, &wrapped);
        let opts = &caps["goog:chromeOptions"];
        assert_eq!(opts["binary"], "/tmp/browser-lt-0001-c0");
        let args = opts["args"].to_string();
        assert!(args.contains("--remote-debugging-pipe"), "{args}");
        assert!(args.contains("--proxy-server=http://127.0.0.1:9"), "{args}");
        let mut caps = chrome(&cfg, false, true, None, None);
        let network = Placement::Network {
            name: "3g".into(),
            proxy: Some("http://127.0.0.1:4100".into()),
        };
        place(&mut caps, &network);
        assert_eq!(caps["loadtest:network"], "3g");
        let args = caps["goog:chromeOptions"]["args"].to_string();
        assert!(
            args.contains("\"--proxy-server=http://127.0.0.1:4100\""),
            "{args}"
        );
        assert!(!args.contains(":9\"") && !args.contains("bypass"), "{args}");
        let before = chrome(&cfg, false, false, None, None);
        let mut after = before.clone();
        place(&mut after, &Placement::Anywhere);
        assert_eq!(before, after);
    }

    #[test]
    fn node_type_capabilities_merge_into_the_request() {
        let mut caps = chrome(&WebDriver::default(), false, false, None, None);
        let extra: toml::Table = toml::from_str(
            "\"nodename:applicationName\" = \"sender\"\nbrowserVersion = \"stable\"\n[\"goog:chromeOptions\"]\nargs = [\"--x\"]\n",
        )
        .unwrap();
        merge(&mut caps, &extra);
        assert_eq!(caps["nodename:applicationName"], "sender");
        assert_eq!(caps["browserVersion"], "stable");
        let args = caps["goog:chromeOptions"]["args"].as_array().unwrap();
        assert!(
            args.iter().any(|a| a == "--x") && args.len() > 5,
            "args are appended to"
        );
    }
}
