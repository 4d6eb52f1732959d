//! Server-side and generator-side metrics, sampled on the run's clock into `server_metrics.csv`.
//!
//! Sources: Prometheus (built-in Jitsi-on-Kubernetes and node_exporter queries, plus user queries),
//! JVB `/colibri/stats` and `/metrics`, the Janus admin API, and this machine's `/proc`. A source that is
//! down, slow or returns garbage never stalls the run: every request is bounded, the gap is recorded
//! (`loadtest_source_up = 0` and a `metrics_gap` event) and shown in the live view.

pub mod colibri;
pub mod janus;
pub mod process;
pub mod prometheus;
pub mod this_machine;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::export::Exporter;
use crate::live::Tally;
pub use crate::results::ServerMetricRow as Row;
use crate::results::names::{METRICS, metric};
use crate::results::{Event, Recorder, SourceName, labels};
use crate::scenario::Scenario;

/// A reqwest error in words an operator understands (the URL is left out; it may hold credentials).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed (refused or unreachable)".into()
    } else if e.is_decode() {
        "malformed answer (not the expected JSON)".into()
    } else if let Some(s) = e.status() {
        format!("HTTP {s}")
    } else {
        "request failed".into()
    }
}

/// One metrics source.
#[derive(Debug)]
pub enum Source {
    /// This machine's `/proc`.
    ThisMachine(this_machine::ThisMachine),
    /// A Prometheus server.
    Prometheus(prometheus::Prometheus),
    /// A bridge.
    Jvb(colibri::Jvb),
    /// A Janus admin API.
    Janus(janus::JanusAdmin),
    /// A media server process on this machine.
    Process(process::Process),
}

impl Source {
    /// The `source` column of its rows.
    pub fn name(&self) -> SourceName {
        match self {
            Source::ThisMachine(g) => g.source(),
            Source::Prometheus(_) => SourceName::Prometheus,
            Source::Jvb(j) => j.source(),
            Source::Janus(_) => SourceName::Janus,
            Source::Process(p) => p.source(),
        }
    }

    /// One sample. Partial trouble (one bad PromQL query) yields rows plus a warning.
    pub async fn sample(&self, now: DateTime<Utc>) -> Result<(Vec<Row>, Vec<String>), String> {
        match self {
            Source::ThisMachine(g) => g.sample(now).map(|r| (r, Vec::new())),
            Source::Prometheus(p) => p.instant(now).await,
            Source::Jvb(j) => j.sample(now).await.map(|r| (r, Vec::new())),
            Source::Janus(j) => j.sample(now).await.map(|r| (r, Vec::new())),
            Source::Process(p) => p.sample(now).map(|r| (r, Vec::new())),
        }
    }
}

/// Rate window for Prometheus built-ins: at least 4 scrape-free intervals, at least 15 s.
fn rate_window(interval: Duration) -> String {
    format!("{}s", (interval.as_secs() * 4).max(15))
}

/// The sources a scenario configures. `browsers_here` says whether this machine runs the browsers
/// (the local driver): then its `/proc` figures are a load generator's, else the controller's.
pub fn sources(s: &Scenario, browsers_here: bool) -> Vec<Arc<Source>> {
    let m = &s.metrics;
    let timeout = m.timeout.get();
    let mut out = Vec::new();
    if m.this_machine {
        out.push(Arc::new(Source::ThisMachine(
            this_machine::ThisMachine::new(browsers_here),
        )));
    }
    if let Some(p) = &m.prometheus {
        out.push(Arc::new(Source::Prometheus(prometheus::Prometheus::new(
            p,
            &rate_window(interval(s)),
            timeout,
        ))));
    }
    for j in &m.jvb {
        out.push(Arc::new(Source::Jvb(colibri::Jvb::new(j, timeout))));
    }
    if let Some(j) = &m.janus {
        out.push(Arc::new(Source::Janus(janus::JanusAdmin::new(j, timeout))));
    }
    for p in &m.process {
        out.push(Arc::new(Source::Process(process::Process::new(p))));
    }
    out
}

/// The metrics interval (default: the stats interval).
pub fn interval(s: &Scenario) -> Duration {
    s.metrics
        .interval
        .map_or(s.stats.interval.get(), |d| d.get())
}

/// Sample every source each `interval` until `stop`; returns the first error of each source that left
/// gaps. The rows recorded are shown by `export` too, when the run exports its live state.
pub async fn collect(
    sources: Vec<Arc<Source>>,
    interval: Duration,
    timeout: Duration,
    recorder: Recorder,
    (tally, export): (Arc<Tally>, Option<Arc<Exporter>>),
    stop: CancellationToken,
) -> Vec<String> {
    let mut gaps: BTreeMap<String, String> = BTreeMap::new();
    if sources.is_empty() {
        return Vec::new();
    }
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => break,
        }
        let now = Utc::now();
        let mut set = JoinSet::new();
        for src in &sources {
            let src = src.clone();
            set.spawn(async move {
                let name = src.name();
                let r = match tokio::time::timeout(timeout, src.sample(now)).await {
                    Ok(r) => r,
                    Err(_) => Err(format!(
                        "no answer within {}",
                        humantime::format_duration(timeout)
                    )),
                };
                (name, r)
            });
        }
        let mut rows = Vec::new();
        while let Some(done) = set.join_next().await {
            let Ok((name, r)) = done else { continue };
            let up = match r {
                Ok((mut got, warnings)) => {
                    for w in warnings {
                        recorder
                            .event(METRICS, Event::MetricsWarning, format!("{name}: {w}"))
                            .await;
                    }
                    rows.append(&mut got);
                    1.0
                }
                Err(e) => {
                    tracing::debug!(source = %name, error = %e, "metrics gap");
                    tally.gap();
                    recorder
                        .event(METRICS, Event::MetricsGap, format!("{name}: {e}"))
                        .await;
                    gaps.entry(name.to_string()).or_insert(e);
                    0.0
                }
            };
            rows.push(Row::at(
                now,
                &SourceName::Loadtest,
                metric::LOADTEST_SOURCE_UP,
                labels::format(&labels::of([("source", name.to_string())])),
                up,
            ));
        }
        if let Some(x) = &export {
            x.metrics(&rows);
        }
        recorder.metrics(rows).await;
    }
    gaps.into_iter().map(|(s, e)| format!("{s}: {e}")).collect()
}

/// After the run: the whole window from Prometheus range queries, so live gaps are filled.
pub async fn backfill(
    sources: &[Arc<Source>],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step: Duration,
    recorder: &Recorder,
) -> Option<String> {
    for s in sources {
        if let Source::Prometheus(p) = s.as_ref() {
            match p.range(start, end, step).await {
                Ok(rows) => recorder.metrics(rows).await,
                Err(e) => {
                    recorder
                        .event(METRICS, Event::MetricsGap, format!("prometheus-range: {e}"))
                        .await;
                    return Some(format!("prometheus-range: {e}"));
                }
            }
        }
    }
    None
}
