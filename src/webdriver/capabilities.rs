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

/// True when `url`'s host is on loopback (127.0.0.0/8, ::1 or `localhost`).
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
