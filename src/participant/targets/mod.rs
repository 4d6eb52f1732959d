//! What a participant joins. A target adds a URL builder and its JS probe, nothing else: the state
//! machine, stats and hang-up are shared.

pub mod janus;
pub mod jitsi;
pub mod jwt;
pub mod preflight;

use std::time::Duration;

use url::Url;

use crate::error::InfraError;
use crate::scenario::{JitsiOptions, Scenario, TargetKind};
use crate::schedule::ScheduledParticipant;
use crate::schedule::seat::Seat;

const JITSI_PROBE: &str = include_str!("../../../assets/js/jitsi-probe.js");
const JITSI_CLIENTS: &str = include_str!("../../../assets/js/jitsi-clients.js");

/// A prepared target, ready to hand out participant URLs.
#[derive(Debug)]
pub enum Target {
    /// Janus through the tool's participant page.
    Janus {
        /// The page server.
        page: janus::PageServer,
        /// The Janus API pages talk to: `[target.janus] websocket`, else the HTTP API (`target.url`).
        janus: Url,
        /// What every page is told (room capacity, what to receive).
        opts: janus::PageOptions,
    },
    /// Jitsi Meet.
    Jitsi {
        /// Deployment base URL.
        base: Url,
        /// Target options.
        opts: Box<JitsiOptions>,
        /// Where participants' tokens come from.
        tokens: jwt::Tokens,
    },
}

/// The scenario's Jitsi options with the receive fidelity applied: `discard` is Jitsi's own lite mode
/// (`config.flags.runInLiteMode`: lib-jitsi-meet drops received encoded frames) for every participant.
fn jitsi_options(s: &Scenario) -> JitsiOptions {
    let mut opts = s.target.jitsi.clone();
    if !s.media.receive_video.decodes() {
        opts.config
            .entry("flags.runInLiteMode".into())
            .or_insert(toml::Value::Boolean(true));
    }
    opts
}

impl Target {
    /// Check the server answers and start what the target needs (the Janus page server); `tokens`
    /// are the Jitsi participants' ([`jwt::Tokens::load`]).
    pub async fn prepare(s: &Scenario, tokens: jwt::Tokens) -> Result<Target, InfraError> {
        let what = || {
            format!(
                "{} target {}",
                s.target.kind.as_str(),
                crate::redact::url(&s.target.url)
            )
        };
        let url = Url::parse(&s.target.url).map_err(|e| InfraError::new(what(), e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .danger_accept_invalid_certs(s.webdriver.accept_insecure_certs)
            .build()
            .map_err(|e| InfraError::new(what(), e.to_string()))?;
        match s.target.kind {
            TargetKind::Janus => {
                janus::check_server(&http, &url)
                    .await
                    .map_err(|e| InfraError::new(what(), e))?;
                let j = &s.target.janus;
                let page = janus::PageServer::start(&j.page_host, &j.janus_js, &j.adapter_js)
                    .await
                    .map_err(|e| InfraError::new("janus participant page server", e.to_string()))?;
                // Pages talk to Janus over its WebSocket API when one is given (no long polls).
                let server = match &j.websocket {
                    Some(ws) => {
                        let ws =
                            Url::parse(ws).map_err(|e| InfraError::new(what(), e.to_string()))?;
                        janus::check_websocket(&ws)
                            .await
                            .map_err(|e| InfraError::new("[target.janus] websocket", e))?;
                        ws
                    }
                    None => url,
                };
                Ok(Target::Janus {
                    page,
                    janus: server,
                    opts: janus::PageOptions {
                        // Rooms outlive runs: leave room for a later, larger run in the same room.
                        publishers: s.load.participants_per_conference.max(100),
                        receive_audio: s.media.receive_audio,
                        receive_video: s.media.receive_video,
                        measure_quality: s.media.measures_quality(),
                    },
                })
            }
            TargetKind::Jitsi => {
                http.get(url.clone()).send().await.map_err(|e| {
                    InfraError::new(what(), format!("unreachable: {}", e.without_url()))
                })?;
                if s.target.jitsi.page == crate::scenario::JitsiPage::LoadTest {
                    let page = preflight::load_test_page(&url, &s.target.jitsi, &s.load.room(0));
                    preflight::load_test_client(&http, &page)
                        .await
                        .map_err(|e| InfraError::new(what(), e))?;
                }
                Ok(Target::Jitsi {
                    base: url,
                    opts: Box::new(jitsi_options(s)),
                    tokens,
                })
            }
        }
    }

    /// The URL a participant opens (may hold its JWT: never log it unredacted); `seat`: on a page
    /// that starts its clients itself, the page's (the Jitsi load-test page's `numClients`).
    pub fn url(&self, plan: &ScheduledParticipant, seat: Option<&Seat>) -> Url {
        match self {
            Target::Janus { page, janus, opts } => {
                janus::participant_url(page.base(), janus, plan, *opts)
            }
            Target::Jitsi { base, opts, tokens } => {
                let now = chrono::Utc::now().timestamp();
                let token = tokens.for_participant(plan, now);
                jitsi::page_url(base, opts, plan, token.as_deref(), seat)
            }
        }
    }

    /// Script injected after the page loaded that defines `window.__lt` (the Janus page has its own).
    pub fn probe_js(&self) -> Option<&'static str> {
        match self {
            Target::Janus { .. } => None,
            Target::Jitsi { .. } => Some(JITSI_PROBE),
        }
    }

    /// Script installed before a page that starts its clients itself loads, so the driver reaches
    /// every client, not only the one the page shows (the Jitsi load-test page's `numClients`).
    pub fn before_load_js(&self) -> Option<&'static str> {
        match self {
            Target::Jitsi { opts, .. } if opts.page == crate::scenario::JitsiPage::LoadTest => {
                Some(JITSI_CLIENTS)
            }
            _ => None,
        }
    }

    /// Whether `quality.js` must be injected (the Janus page loads it itself).
    pub fn injects_quality(&self) -> bool {
        matches!(self, Target::Jitsi { .. })
    }

    /// True when everything participants open is on loopback (then the browser is kept off the network).
    pub fn loopback_only(&self) -> bool {
        use crate::webdriver::capabilities::is_loopback;
        match self {
            Target::Janus { page, janus, .. } => is_loopback(page.base()) && is_loopback(janus),
            Target::Jitsi { base, .. } => is_loopback(base),
        }
    }

    /// How the report names the page participants ran.
    pub fn page_name(s: &Scenario) -> String {
        match s.target.kind {
            TargetKind::Janus => "janus participant page".into(),
            TargetKind::Jitsi => format!("jitsi {}", s.target.jitsi.page.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discard_on_jitsi_is_lite_mode_for_everyone() {
        let src = "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[load]\nconferences = 1\nparticipants_per_conference = 2\nduration = \"10s\"\n[media]\nreceive_video = \"discard\"\n";
        let s = crate::scenario::parse(src, std::path::Path::new("t.toml"), &[]).unwrap();
        let opts = jitsi_options(&s.scenario);
        assert_eq!(
            opts.config.get("flags.runInLiteMode"),
            Some(&toml::Value::Boolean(true))
        );
        let plan = crate::schedule::expand(&s.scenario.load).remove(0);
        let u = jitsi::participant_url(
            &url::Url::parse("https://meet.example").unwrap(),
            &opts,
            &plan,
            None,
        );
        assert!(
            u.fragment()
                .unwrap()
                .contains("config.flags.runInLiteMode=true")
        );
    }
}
