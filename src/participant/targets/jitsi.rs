//! The `jitsi` target: room URLs with `#config.*` overrides, like the torture suite's participants.
//!
//! Differences from the torture suite, on purpose: every hash value is JSON and percent-encoded (the
//! suite truncates values holding `=` or `&`); P2P is off by default so media and stats go through
//! the bridge; both prejoin switches are sent. The JWT goes where each page reads it: the full app
//! reads `#jwt=` first (jitsi-meet `parseJWTFromURLParams`, as torture sends it), so it stays out of
//! web-server access logs and `Referer` headers; the load-test page reads only `?jwt=`.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use crate::scenario::{JitsiOptions, JitsiPage, Layout};
use crate::schedule::seat::Seat;
use crate::schedule::{Role, ScheduledParticipant};

/// Characters percent-encoded in hash values: everything but unreserved characters and a few safe ones.
const HASH_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b',');

/// Defaults every participant gets (the torture suite's `DEFAULT_CONFIG`, P2P off).
const DEFAULTS: &[(&str, &str)] = &[
    ("config.requireDisplayName", "false"),
    ("config.debug", "true"),
    ("config.testing.testMode", "true"),
    ("config.disableAEC", "true"),
    ("config.disableNS", "true"),
    ("config.enableTalkWhileMuted", "false"),
    ("config.callStatsID", "false"),
    ("config.toolbarConfig.alwaysVisible", "true"),
    ("config.p2p.enabled", "false"),
    ("config.p2p.useStunTurn", "false"),
    ("config.pcStatsInterval", "5000"),
    ("config.prejoinConfig.enabled", "false"),
    ("config.prejoinPageEnabled", "false"),
    ("config.gatherStats", "true"),
    ("config.disable1On1Mode", "true"),
    ("config.analytics.disabled", "true"),
    ("config.testing.noAutoPlayVideo", "true"),
    ("interfaceConfig.SHOW_CHROME_EXTENSION_BANNER", "false"),
    ("interfaceConfig.DISABLE_FOCUS_INDICATOR", "true"),
];

/// A Jitsi Meet room URL under construction.
#[derive(Debug, Clone)]
pub struct MeetUrl {
    base: Url,
    query: Vec<(String, String)>,
    hash: BTreeMap<String, Value>,
}

impl MeetUrl {
    /// `base[/tenant][/_load-test]/room`; a query on the base URL is kept.
    pub fn new(base: &Url, tenant: Option<&str>, page: JitsiPage, room: &str) -> MeetUrl {
        let mut u = base.clone();
        u.set_fragment(None);
        let mut path = u.path().trim_end_matches('/').to_string();
        if let Some(t) = tenant {
            path.push('/');
            path.push_str(t);
        }
        if page == JitsiPage::LoadTest {
            path.push_str("/_load-test");
        }
        path.push('/');
        path.push_str(room);
        u.set_path(&path);
        MeetUrl {
            base: u,
            query: Vec::new(),
            hash: BTreeMap::new(),
        }
    }

    /// Set a hash parameter, replacing any earlier value.
    pub fn set(&mut self, key: &str, value: Value) -> &mut Self {
        self.hash.insert(key.to_string(), value);
        self
    }

    /// Add a query parameter.
    pub fn query(&mut self, key: &str, value: &str) -> &mut Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// The final URL: query encoded by `url`, hash `key=<percent-encoded JSON>` in key order.
    pub fn build(&self) -> Url {
        let mut u = self.base.clone();
        if !self.query.is_empty() {
            u.query_pairs_mut().extend_pairs(self.query.iter());
        }
        let frag: Vec<String> = self
            .hash
            .iter()
            .map(|(k, v)| {
                let json = serde_json::to_string(v).unwrap_or_default();
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(&json, HASH_VALUE)
                )
            })
            .collect();
        if !frag.is_empty() {
            u.set_fragment(Some(&frag.join("&")));
        }
        u
    }
}

/// Turn a scenario TOML value into JSON for the hash.
fn to_json(v: &toml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Parse one of the defaults (written as JSON text).
fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The room URL for one participant. `jwt` is the token itself (read from the environment).
pub fn participant_url(
    base: &Url,
    opts: &JitsiOptions,
    plan: &ScheduledParticipant,
    jwt: Option<&str>,
) -> Url {
    page_url(base, opts, plan, jwt, None)
}

/// The room URL of a load-test page that starts `seat.clients` clients (`numClients`), one every
/// `seat.interval` (`clientInterval`); `None`: one client.
pub fn page_url(
    base: &Url,
    opts: &JitsiOptions,
    plan: &ScheduledParticipant,
    jwt: Option<&str>,
    seat: Option<&Seat>,
) -> Url {
    let tenant = match opts.tenants.len() {
        0 => opts.tenant.as_deref(),
        n => Some(opts.tenants[plan.conference as usize % n].as_str()),
    };
    let mut m = MeetUrl::new(base, tenant, opts.page, &plan.room);
    for (k, v) in DEFAULTS {
        m.set(k, json(v));
    }
    let role = plan.role;
    if !role.sends_video() {
        m.set("config.startWithVideoMuted", Value::Bool(true));
        if opts.lite_mode {
            m.set("config.flags.runInLiteMode", Value::Bool(true));
        }
    }
    if !role.sends_audio() {
        m.set(
            "config.disableInitialGUM",
            Value::Bool(role == Role::Receiver),
        );
        m.set("config.startWithAudioMuted", Value::Bool(true));
    }
    if !opts.regions.is_empty() {
        let r = &opts.regions[plan.order % opts.regions.len()];
        m.set("config.deploymentInfo.userRegion", Value::String(r.clone()));
    }
    m.set("userInfo.displayName", Value::String(plan.id.to_string()));
    // Stage view asks the bridge for the dominant speaker large; tile view for every tile (both pages
    // follow config.disableTileView; the load-test page through its `stageView` default).
    m.set(
        "config.disableTileView",
        Value::Bool(opts.layout == Layout::Stage),
    );
    if opts.page == JitsiPage::LoadTest {
        let clients = seat.map_or(1, |s| s.clients);
        m.set("numClients", Value::from(clients));
        if let Some(s) = seat.filter(|s| s.clients > 1) {
            m.set("clientInterval", Value::from(s.interval.as_millis() as u64));
        }
    }
    for (k, v) in &opts.config {
        m.set(&format!("config.{k}"), to_json(v));
    }
    for (k, v) in &opts.interface_config {
        m.set(&format!("interfaceConfig.{k}"), to_json(v));
    }
    match (jwt, opts.page) {
        (Some(t), JitsiPage::App) => {
            m.set("jwt", Value::String(t.to_string()));
        }
        (Some(t), JitsiPage::LoadTest) => {
            m.query("jwt", t);
        }
        (None, _) => {}
    }
    m.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Role;
    use std::time::Duration;

    fn plan(role: Role) -> ScheduledParticipant {
        ScheduledParticipant {
            id: "c1p2".parse().unwrap(),
            order: 5,
            conference: 1,
            room: "loadtest1".into(),
            index: 2,
            role,
            join_offset: Duration::ZERO,
            leave_offset: Duration::from_secs(1),
            step: None,
            cohort: None,
        }
    }

    fn hash_of(u: &Url) -> BTreeMap<String, Value> {
        u.fragment()
            .unwrap()
            .split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let v = percent_encoding::percent_decode_str(v)
                    .decode_utf8()
                    .unwrap();
                (k.to_string(), serde_json::from_str(&v).unwrap())
            })
            .collect()
    }

    #[test]
    fn receiver_url_has_role_keys_and_user_overrides() {
        let mut opts = JitsiOptions::default();
        opts.config
            .insert("p2p.enabled".into(), toml::Value::Boolean(true));
        opts.config.insert(
            "constraints".into(),
            toml::from_str::<toml::Table>("v = { video = { height = 180 } }").unwrap()["v"].clone(),
        );
        opts.config
            .insert("subject".into(), toml::Value::String("a=b&c #1".into()));
        opts.lite_mode = true;
        opts.tenant = Some("acme".into());
        let base = Url::parse("https://meet.example.com/").unwrap();
        let u = participant_url(&base, &opts, &plan(Role::Receiver), Some("tok.en"));
        assert_eq!(u.path(), "/acme/loadtest1");
        assert_eq!(u.query(), None, "the full app's token is in the hash");
        let h = hash_of(&u);
        assert_eq!(h["jwt"], "tok.en");
        assert_eq!(h["config.disableTileView"], false);
        assert_eq!(h["config.startWithVideoMuted"], Value::Bool(true));
        assert_eq!(h["config.disableInitialGUM"], Value::Bool(true));
        assert_eq!(h["config.flags.runInLiteMode"], Value::Bool(true));
        assert_eq!(
            h["config.p2p.enabled"],
            Value::Bool(true),
            "user override wins"
        );
        assert_eq!(h["config.constraints"]["video"]["height"], 180);
        assert_eq!(h["config.subject"], "a=b&c #1", "values with = & # survive");
        assert_eq!(h["userInfo.displayName"], "c1p2");
        assert!(!u.fragment().unwrap().contains(' '));
    }

    #[test]
    fn load_test_page_and_sender_roles() {
        let opts = JitsiOptions {
            page: JitsiPage::LoadTest,
            ..Default::default()
        };
        let base = Url::parse("https://meet.example.com/base/").unwrap();
        let u = participant_url(&base, &opts, &plan(Role::AudioVideo), Some("tok.en"));
        assert_eq!(u.path(), "/base/_load-test/loadtest1");
        assert_eq!(
            u.query(),
            Some("jwt=tok.en"),
            "the load-test page reads only ?jwt="
        );
        let h = hash_of(&u);
        assert!(!h.contains_key("jwt"));
        assert_eq!(h["numClients"], 1);
        assert!(!h.contains_key("config.startWithVideoMuted"));
        assert!(!h.contains_key("config.startWithAudioMuted"));
        assert_eq!(h["config.p2p.enabled"], Value::Bool(false));
        let u = participant_url(&base, &opts, &plan(Role::Video), None);
        let h = hash_of(&u);
        assert_eq!(h["config.startWithAudioMuted"], Value::Bool(true));
        assert_eq!(
            h["config.disableInitialGUM"],
            Value::Bool(false),
            "video senders still need getUserMedia"
        );
        let seat = Seat {
            page: 4,
            browser: 2,
            client: 0,
            clients: 3,
            interval: std::time::Duration::from_millis(1500),
        };
        let h = hash_of(&page_url(
            &base,
            &opts,
            &plan(Role::Video),
            None,
            Some(&seat),
        ));
        assert_eq!(
            (&h["numClients"], &h["clientInterval"]),
            (&3.into(), &1500.into())
        );
    }

    #[test]
    fn tenants_spread_conferences_and_stage_layout() {
        let opts = JitsiOptions {
            tenants: vec!["shard-a".into(), "shard-b".into()],
            layout: Layout::Stage,
            ..Default::default()
        };
        let base = Url::parse("https://meet.example.com/").unwrap();
        let mut p = plan(Role::Receiver);
        p.conference = 3;
        let u = participant_url(&base, &opts, &p, None);
        assert_eq!(u.path(), "/shard-b/loadtest1", "conference 3 -> tenants[1]");
        assert_eq!(hash_of(&u)["config.disableTileView"], true);
    }
}
