//! Server-side and generator-side metrics, sampled on the run's clock into `server_metrics.csv`.
//!
//! Sources: Prometheus (built-in Jitsi-on-Kubernetes and node_exporter queries, plus user queries),
//! JVB `/colibri/stats` and `/metrics`, the Janus admin API, and this machine's `/proc`. A source that is
//! down, slow or returns garbage never stalls the run: every request is bounded, the gap is recorded
//! (`loadtest_source_up = 0` and a `metrics_gap` event) and shown in the live view.

pub mod colibri;
pub mod generator;
pub mod guard;
pub mod janus;
pub mod labels;
pub mod process;
pub mod prometheus;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::results::Recorder;
pub use crate::results::ServerMetricRow as Row;
use crate::run::progress::Tally;
use crate::scenario::Scenario;

impl Row {
    /// A row at time `t`.
    pub fn at(t: DateTime<Utc>, source: &str, metric: &str, labels: String, value: f64) -> Row {
        Row {
            ts: crate::results::ts(t),
            source: source.to_string(),
            metric: metric.to_string(),
            labels,
            value,
        }
    }
}

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
    /// This machine.
    Generator(generator::Generator),
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
    pub fn name(&self) -> String {
        match self {
            Source::Generator(g) => g.source(),
            Source::Prometheus(_) => "prometheus".into(),
            Source::Jvb(j) => j.source(),
            Source::Janus(_) => "janus".into(),
            Source::Process(p) => p.source(),
        }
    }

    /// One sample. Partial trouble (one bad PromQL query) yields rows plus a warning.
    pub async fn sample(&self, now: DateTime<Utc>) -> Result<(Vec<Row>, Vec<String>), String> {
        match self {
            Source::Generator(g) => g.sample(now).map(|r| (r, Vec::new())),
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

/// The sources a scenario configures.
pub fn sources(s: &Scenario) -> Vec<Arc<Source>> {
    let m = &s.metrics;
    let timeout = m.timeout.get();
    let mut out = Vec::new();
    if m.generator {
        out.push(Arc::new(Source::Generator(generator::Generator::new())));
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

/// Media addresses of the configured bridges, for attribution: (IP, bridge name).
pub fn bridges(s: &Scenario) -> Vec<(String, String)> {
    s.metrics
        .jvb
        .iter()
        .map(colibri::identity)
        .filter_map(|(name, media)| media.map(|a| (a, name)))
        .chain(
            s.metrics
                .process
                .iter()
                .filter_map(|p| Some((p.media_address.clone()?, p.name.clone()))),
        )
        .collect()
}

/// The bridge a participant's media went through: the configured bridge whose media address is the
/// remote address's IP, else that IP itself (IPv4 or IPv6, with or without port).
pub fn bridge_of(remote_address: &str, bridges: &[(String, String)]) -> String {
    let Some((ip, _)) = crate::participant::targets::jitsi::parse_bridge_address(remote_address)
    else {
        return String::new();
    };
    bridges
        .iter()
        .find(|(addr, _)| {
            addr.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok()
                == Some(ip)
        })
        .map(|(_, name)| name.clone())
        .unwrap_or_else(|| ip.to_string())
}

/// Sample every source each `interval` until `stop`; returns the first error of each source that left
/// gaps.
pub async fn collect(
    sources: Vec<Arc<Source>>,
    interval: Duration,
    timeout: Duration,
    recorder: Recorder,
    tally: Arc<Tally>,
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
                            .event("metrics", "metrics_warning", format!("{name}: {w}"))
                            .await;
                    }
                    rows.append(&mut got);
                    1.0
                }
                Err(e) => {
                    tally.gap();
                    recorder
                        .event("metrics", "metrics_gap", format!("{name}: {e}"))
                        .await;
                    gaps.entry(name.clone()).or_insert(e);
                    0.0
                }
            };
            rows.push(Row::at(
                now,
                "loadtest",
                "loadtest_source_up",
                labels::format(&labels::of([("source", name)])),
                up,
            ));
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
                        .event("metrics", "metrics_gap", format!("prometheus-range: {e}"))
                        .await;
                    return Some(format!("prometheus-range: {e}"));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribution_matches_v4_and_v6_with_ports() {
        let b = vec![
            ("10.0.0.5".to_string(), "jvb-0".to_string()),
            ("2001:db8::7".to_string(), "jvb-1".to_string()),
        ];
        assert_eq!(bridge_of("10.0.0.5:10000", &b), "jvb-0");
        assert_eq!(bridge_of("[2001:db8::7]:10000", &b), "jvb-1");
        assert_eq!(bridge_of("10.0.0.9:10000", &b), "10.0.0.9");
        assert_eq!(bridge_of("", &b), "");
    }

    #[test]
    fn generator_rates_after_two_samples() {
        let g = generator::Generator::new();
        let first = g.sample(Utc::now()).unwrap();
        assert!(first.iter().all(|r| r.metric != "generator_cpu_ratio"));
        std::thread::sleep(Duration::from_millis(200));
        let second = g.sample(Utc::now()).unwrap();
        let cpu = second
            .iter()
            .find(|r| r.metric == "generator_cpu_ratio")
            .unwrap();
        assert!((0.0..=1.0).contains(&cpu.value));
        assert!(
            second
                .iter()
                .any(|r| r.metric == "generator_memory_available_bytes" && r.value > 0.0)
        );
    }
}
