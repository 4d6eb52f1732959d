//! `[export]`: the run's live state served in the Prometheus text format (and optionally pushed to a
//! Pushgateway), for dashboards that show the client side beside the server's own metrics.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::Dur;
use super::error::Invalid;

/// The labels the exported series may carry; each can be dropped with `labels`.
pub const EXPORT_LABELS: [&str; 4] = ["conference", "bridge", "node", "role"];

/// `[export]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// `IP:PORT` the endpoint binds (`/metrics`); port 0 lets the OS choose; `""` serves nothing
    /// (push only). Loopback unless `allow_remote`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Allow a `listen` address that is not loopback: the endpoint then shows the run to whoever
    /// can reach that address.
    #[serde(default)]
    pub allow_remote: bool,
    /// Which of `conference`, `bridge`, `node`, `role` the series carry (a dropped label's series
    /// are summed). Never a per-participant label. Default: all four, `conference` only while the run
    /// has at most [`AUTO_CONFERENCES`] conferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// How long the endpoint stays up after the run ended, so the last scrape sees the end.
    #[serde(default = "default_linger")]
    pub linger: Dur,
    /// A Pushgateway base URL (`http://host:9091`): the same series are pushed to
    /// `/metrics/job/<job>/run/<run>` every `push_interval` and once at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_url: Option<String>,
    /// How often to push.
    #[serde(default = "default_push_interval")]
    pub push_interval: Dur,
    /// The Pushgateway job name.
    #[serde(default = "default_job")]
    pub job: String,
}

/// The default `listen`: loopback, the port OpenTelemetry's Prometheus exporter uses.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
/// Above this many conferences the default `labels` leave `conference` out: its histograms would
/// be ~300 series per conference (10,000 participants in 1,000 conferences made a 36 MB scrape).
pub const AUTO_CONFERENCES: u32 = 100;
fn default_linger() -> Dur {
    Dur::from_secs(15)
}
fn default_push_interval() -> Dur {
    Dur::from_secs(15)
}
fn default_job() -> String {
    "loadtest".to_string()
}

impl Default for Export {
    fn default() -> Self {
        Export {
            listen: default_listen(),
            allow_remote: false,
            labels: None,
            linger: default_linger(),
            push_url: None,
            push_interval: default_push_interval(),
            job: default_job(),
        }
    }
}

impl Export {
    /// The address to bind, when the endpoint is on (`localhost` is 127.0.0.1).
    pub fn listen_addr(&self) -> Option<Result<SocketAddr, String>> {
        let text = self.listen.trim();
        if text.is_empty() {
            return None;
        }
        let text = match text.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => text.to_string(),
        };
        Some(text.parse::<SocketAddr>().map_err(|_| {
            format!(
                "{:?} is not an IP:PORT address (expected e.g. \"{DEFAULT_LISTEN}\")",
                self.listen
            )
        }))
    }

    /// Whether a series carries this label, in a run of up to `conferences` conferences.
    pub fn keeps(&self, label: &str, conferences: u32) -> bool {
        match &self.labels {
            Some(l) => l.iter().any(|l| l == label),
            None => label != "conference" || conferences <= AUTO_CONFERENCES,
        }
    }
}

/// Whether an address is this machine's loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// `[export]`: a loopback address unless asked otherwise, known labels, sane intervals.
pub(crate) fn validate(e: &Export) -> Result<(), Invalid> {
    if let Some(addr) = e.listen_addr() {
        let addr = addr.map_err(|m| Invalid::new("export.listen", m))?;
        if !e.allow_remote && !is_loopback(addr.ip()) {
            return Err(Invalid::new(
                "export.listen",
                format!(
                    "{addr} is not a loopback address: the endpoint would show the run to the network \
                     (expected e.g. \"{DEFAULT_LISTEN}\", or set export.allow_remote = true)"
                ),
            ));
        }
    }
    if let Some(bad) = e
        .labels
        .iter()
        .flatten()
        .find(|l| !EXPORT_LABELS.contains(&l.as_str()))
    {
        return Err(Invalid::new(
            "export.labels",
            format!(
                "unknown label {bad:?} (expected some of {})",
                EXPORT_LABELS.join(", ")
            ),
        ));
    }
    if e.push_interval.get() < std::time::Duration::from_secs(1) {
        return Err(Invalid::new("export.push_interval", "must be at least 1s"));
    }
    if e.job.trim().is_empty() || e.job.contains('/') {
        return Err(Invalid::new(
            "export.job",
            format!(
                "{:?} is not a job name (expected a word such as \"loadtest\")",
                e.job
            ),
        ));
    }
    if e.listen_addr().is_none() && e.push_url.is_none() {
        return Err(Invalid::new(
            "export.listen",
            "is empty and no push_url is set: nothing would be exported (expected an address such as \
             \"127.0.0.1:9464\", or a push_url)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(listen: &str, allow_remote: bool) -> Export {
        Export {
            listen: listen.into(),
            allow_remote,
            ..Export::default()
        }
    }

    #[test]
    fn loopback_unless_asked() {
        assert!(validate(&Export::default()).is_ok());
        assert!(validate(&with("localhost:0", false)).is_ok());
        assert!(validate(&with("[::1]:9464", false)).is_ok());
        assert!(validate(&with("127.0.0.5:9464", false)).is_ok());
        let e = validate(&with("0.0.0.0:9464", false)).unwrap_err();
        assert_eq!(e.key, "export.listen");
        assert!(
            e.message.contains("not a loopback address"),
            "{}",
            e.message
        );
        assert!(validate(&with("0.0.0.0:9464", true)).is_ok());
        assert!(validate(&with("10.1.2.3:9464", false)).is_err());
        let e = validate(&with("metrics.example:9464", false)).unwrap_err();
        assert!(e.message.contains("not an IP:PORT"), "{}", e.message);
    }

    #[test]
    fn labels_jobs_and_push_only() {
        let e = Export {
            labels: Some(vec!["participant".into()]),
            ..Export::default()
        };
        assert!(
            validate(&e)
                .unwrap_err()
                .message
                .contains("unknown label \"participant\"")
        );
        assert!(validate(&with("", false)).is_err(), "nothing to export");
        let push_only = Export {
            push_url: Some("http://127.0.0.1:9091".into()),
            ..with("", false)
        };
        assert!(validate(&push_only).is_ok());
        let bad_job = Export {
            job: "a/b".into(),
            ..Export::default()
        };
        assert_eq!(validate(&bad_job).unwrap_err().key, "export.job");
    }
}
