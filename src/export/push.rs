//! Pushgateway: for runs the user's Prometheus cannot scrape, the same text is `PUT` to
//! `<push_url>/metrics/job/<job>/run/<run>` every interval and once more at the end.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{CONTENT_TYPE, Exporter};

/// Where to push.
#[derive(Debug, Clone)]
pub(super) struct Target {
    http: reqwest::Client,
    url: String,
}

impl Target {
    pub(super) fn new(base: &str, job: &str, run: &str) -> Target {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        Target {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            url: format!(
                "{}/metrics/job/{}/run/{}",
                base.trim_end_matches('/'),
                enc(job),
                enc(run)
            ),
        }
    }

    /// One push; the error in words (never the URL: it may hold credentials).
    pub(super) async fn push(&self, body: String) -> Result<(), String> {
        let r = self
            .http
            .put(&self.url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .map_err(|e| crate::util::text::one_line(&reqwest_words(&e), 200))?;
        if r.status().is_success() {
            Ok(())
        } else {
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            Err(format!(
                "HTTP {status}: {}",
                crate::util::text::one_line(&text, 200)
            ))
        }
    }
}

fn reqwest_words(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed (refused or unreachable)".into()
    } else {
        "request failed".into()
    }
}

/// Push every `interval` until `stop`, then once more (the run's end). A failed push is logged once
/// and retried at the next interval; it never stops the run.
pub(super) async fn every(
    target: Target,
    x: Arc<Exporter>,
    interval: Duration,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut warned = false;
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.cancelled() => true,
        };
        if let Err(e) = target.push(x.encode()).await
            && !warned
        {
            eprintln!("warning: export.push_url: push failed ({e}); retrying every interval");
            warned = true;
        }
        if last {
            break;
        }
    }
}
