//! The run's live state for Prometheus (`[export]`, `--metrics-listen`): participants by phase, the
//! client figures as histograms, generator CPU, metric sources and gaps, and the run's start and end.
//!
//! The endpoint is a view, not a second truth: participants' phases come from the live [`Tally`]
//! at each scrape, and every histogram observes the very rows the results directory gets
//! ([`Exporter::stats`] is handed the rows passed to `Recorder::stats`, [`Exporter::metrics`] those
//! passed to `Recorder::metrics`, [`Exporter::joined`] the `join_ms` of `participants.csv`). Labels
//! are bounded: conference, bridge, node, role (each can be dropped with `[export] labels`), the
//! run, and never a participant. Metric names follow the results' column names.

pub mod client;
mod push;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::live::Tally;
use crate::results::names::metric;
use crate::results::{ClientStatRow, ServerMetricRow};
use crate::scenario::Export;
use crate::schedule::{ParticipantId, Role};
use crate::util::serve::{Handler, Server};

/// The Prometheus text format the endpoint serves and pushes (version 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ParticipantLabels {
    phase: &'static str,
    conference: String,
    node: String,
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JoinLabels {
    conference: String,
    node: String,
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    conference: String,
    bridge: String,
    direction: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MachineLabels {
    source: String,
    instance: String,
}

/// A histogram family's buckets.
#[derive(Debug, Clone, Copy)]
struct Buckets(&'static [f64]);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

type Histograms<L> = Family<L, Histogram, Buckets>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Which labels series carry (`[export] labels`); a dropped one is written empty, which Prometheus
/// reads as absent.
#[derive(Debug, Clone, Copy)]
struct Keep {
    conference: bool,
    bridge: bool,
    node: bool,
    role: bool,
}

impl Keep {
    fn conference(&self, c: u32) -> String {
        if self.conference {
            c.to_string()
        } else {
            String::new()
        }
    }
    fn text(keep: bool, v: &str) -> String {
        if keep { v.to_string() } else { String::new() }
    }
    fn role(&self, r: Role) -> &'static str {
        if self.role { r.as_str() } else { "" }
    }
}

/// One participant's histograms per stream kind (direction, kind), so a sample's rows are observed
/// without building and hashing label sets each time (the export cost 7 % of a core at 10,000 rows
/// a second before). Kept by the participant; reset when its bridge becomes known.
#[derive(Debug, Default)]
pub struct Streams {
    bridge: String,
    streams: Vec<(String, String, Vec<Histogram>)>,
}

/// The registry and every exported series of one run.
#[derive(Debug)]
pub struct Exporter {
    run: String,
    registry: Registry,
    keep: Keep,
    tally: Arc<Tally>,
    participants: Family<ParticipantLabels, Gauge>,
    /// Participant label sets ever seen, so a phase that empties reads 0, not absent.
    seen: Mutex<HashSet<ParticipantLabels>>,
    join: Histograms<JoinLabels>,
    figures: Vec<Histograms<StreamLabels>>,
    source_up: Family<SourceLabels, Gauge>,
    gaps: Family<SourceLabels, Counter>,
    generator_cpu: Family<MachineLabels, FloatGauge>,
    controller_cpu: Family<MachineLabels, FloatGauge>,
    started: FloatGauge,
    ended: FloatGauge,
}

impl Exporter {
    /// The series of run `run` (the results directory's name, a label of every series) of up to
    /// `conferences` conferences.
    pub fn new(cfg: &Export, run: &str, conferences: u32, tally: Arc<Tally>) -> Exporter {
        let labels = [(Cow::Borrowed("run"), Cow::Owned(run.to_string()))];
        let mut registry = Registry::with_prefix_and_labels("loadtest", labels.into_iter());
        let x = Exporter {
            run: run.to_string(),
            registry: Registry::default(),
            keep: Keep {
                conference: cfg.keeps("conference", conferences),
                bridge: cfg.keeps("bridge", conferences),
                node: cfg.keeps("node", conferences),
                role: cfg.keeps("role", conferences),
            },
            tally,
            participants: Family::default(),
            seen: Mutex::new(HashSet::new()),
            join: Family::new_with_constructor(Buckets(client::JOIN_BUCKETS)),
            figures: client::FIGURES
                .iter()
                .map(|f| Family::new_with_constructor(Buckets(f.buckets)))
                .collect(),
            source_up: Family::default(),
            gaps: Family::default(),
            generator_cpu: Family::default(),
            controller_cpu: Family::default(),
            started: FloatGauge::default(),
            ended: FloatGauge::default(),
        };
        registry.register(
            "participants",
            "Participants by phase (scheduled, joining, in_call, failed, done), conference, node and role",
            x.participants.clone(),
        );
        registry.register(
            "join_ms",
            "Navigation until in the room, ms (participants.csv join_ms)",
            x.join.clone(),
        );
        for (f, fam) in client::FIGURES.iter().zip(&x.figures) {
            registry.register(f.name, f.help, fam.clone());
        }
        registry.register(
            "source_up",
            "1 when a metrics source answered its last sample, 0 for a gap",
            x.source_up.clone(),
        );
        registry.register(
            "metric_gaps",
            "Samples a metrics source failed",
            x.gaps.clone(),
        );
        registry.register(
            "generator_cpu_ratio",
            "CPU use of a load generator, share of all its cores (server_metrics.csv generator_cpu_ratio)",
            x.generator_cpu.clone(),
        );
        registry.register(
            "controller_cpu_ratio",
            "CPU use of the controller when the browsers run on a grid, share of all its cores (controller_cpu_ratio)",
            x.controller_cpu.clone(),
        );
        registry.register(
            "run_start_time_seconds",
            "When the run started, Unix time",
            x.started.clone(),
        );
        registry.register(
            "run_end_time_seconds",
            "When the last participant ended, Unix time (0 while running)",
            x.ended.clone(),
        );
        x.started.set(unix_now());
        Exporter { registry, ..x }
    }

    /// The run's name (the `run` label).
    pub fn run(&self) -> &str {
        &self.run
    }

    /// A participant joined: its `join_ms`, by conference, node and role.
    pub fn joined(&self, id: ParticipantId, node: &str, role: Role, join_ms: u64) {
        let l = JoinLabels {
            conference: self.keep.conference(id.conference),
            node: Keep::text(self.keep.node, node),
            role: self.keep.role(role),
        };
        self.join.get_or_create(&l).observe(join_ms as f64);
    }

    /// One sample's rows (the ones handed to `Recorder::stats`) of a participant whose media goes
    /// through `bridge`. `handles` is the participant's own (see [`Streams`]).
    pub fn stats(&self, handles: &mut Streams, bridge: &str, rows: &[ClientStatRow]) {
        if handles.bridge != bridge {
            *handles = Streams {
                bridge: bridge.to_string(),
                ..Streams::default()
            };
        }
        for r in rows {
            let at = match handles
                .streams
                .iter()
                .position(|(d, k, _)| *d == r.direction && *k == r.kind)
            {
                Some(i) => i,
                None => {
                    let l = StreamLabels {
                        conference: self.keep.conference(r.participant.conference),
                        bridge: Keep::text(self.keep.bridge, bridge),
                        direction: r.direction.clone(),
                        kind: r.kind.clone(),
                    };
                    let hs = self
                        .figures
                        .iter()
                        .map(|f| f.get_or_create_owned(&l))
                        .collect();
                    handles
                        .streams
                        .push((r.direction.clone(), r.kind.clone(), hs));
                    handles.streams.len() - 1
                }
            };
            let hs = &handles.streams[at].2;
            for (f, h) in client::FIGURES.iter().zip(hs) {
                if let Some(v) = (f.value)(r).filter(|v| v.is_finite()) {
                    h.observe(v);
                }
            }
        }
    }

    /// Metric rows (the ones handed to `Recorder::metrics`): sources up or gapped, machines' CPU.
    pub fn metrics(&self, rows: &[ServerMetricRow]) {
        for r in rows {
            if r.metric == metric::LOADTEST_SOURCE_UP {
                let l = SourceLabels {
                    source: r.label("source").unwrap_or_default(),
                };
                self.source_up.get_or_create(&l).set(r.value as i64);
                // Created at the first sample, so a source without gaps reads 0, not absent.
                let gaps = self.gaps.get_or_create(&l);
                if r.value == 0.0 {
                    gaps.inc();
                }
            } else if let Some(family) = self.cpu_family(&r.metric) {
                let l = MachineLabels {
                    source: r.source.to_string(),
                    instance: r.label("instance").unwrap_or_default(),
                };
                family.get_or_create(&l).set(r.value);
            }
        }
    }

    /// The family a machine's CPU row goes to (`generator_cpu_ratio`, `controller_cpu_ratio`).
    fn cpu_family(&self, name: &str) -> Option<&Family<MachineLabels, FloatGauge>> {
        if name == metric::GENERATOR_CPU_RATIO {
            Some(&self.generator_cpu)
        } else if name.strip_prefix(metric::CONTROLLER_PREFIX)
            == metric::GENERATOR_CPU_RATIO.strip_prefix(metric::GENERATOR_PREFIX)
        {
            Some(&self.controller_cpu)
        } else {
            None
        }
    }

    /// The run ended (every participant done or failed); the first call counts.
    pub fn ended(&self) {
        if self.ended.get() == 0.0 {
            self.ended.set(unix_now());
        }
    }

    /// The exposition text: participants counted from the tally now, everything else as observed.
    pub fn encode(&self) -> String {
        self.count_participants();
        let mut out = String::new();
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            tracing::warn!(error = %e, "metrics encoding failed");
        }
        out
    }

    fn count_participants(&self) {
        let mut counts: HashMap<ParticipantLabels, i64> = HashMap::new();
        self.tally.each(|s| {
            let l = ParticipantLabels {
                phase: s.phase.view_name(),
                conference: self.keep.conference(s.id.conference),
                node: Keep::text(self.keep.node, s.node),
                role: self.keep.role(s.role),
            };
            *counts.entry(l).or_default() += 1;
        });
        let Ok(mut seen) = self.seen.lock() else {
            return;
        };
        seen.extend(counts.keys().cloned());
        for l in seen.iter() {
            let n = counts.get(l).copied().unwrap_or(0);
            self.participants.get_or_create(l).set(n);
        }
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The exporter of a running test: its endpoint and its pushes.
#[derive(Debug)]
pub struct Endpoint {
    /// The series.
    pub exporter: Arc<Exporter>,
    server: Option<Server>,
    push: Option<(JoinHandle<()>, CancellationToken)>,
    linger: Duration,
}

impl Endpoint {
    /// Bind `[export] listen` (an error names the address) and start pushing when `push_url` is set.
    pub async fn start(cfg: &Export, exporter: Arc<Exporter>) -> std::io::Result<Endpoint> {
        let server = match cfg.listen_addr() {
            None => None,
            Some(addr) => {
                let addr = addr.map_err(std::io::Error::other)?;
                let x = exporter.clone();
                let handler: Handler = Arc::new(move |path: &str| match path {
                    "/metrics" => Some((CONTENT_TYPE, Bytes::from(x.encode()))),
                    "/" => Some((
                        "text/plain; charset=utf-8",
                        Bytes::from_static(b"loadtest: the run's live state is at /metrics\n"),
                    )),
                    _ => None,
                });
                let s = Server::bind(addr, handler).await.map_err(|e| {
                    std::io::Error::new(e.kind(), format!("export.listen {addr}: {e}"))
                })?;
                Some(s)
            }
        };
        let push = cfg.push_url.as_ref().map(|url| {
            let stop = CancellationToken::new();
            let task = tokio::spawn(push::every(
                push::Target::new(url, &cfg.job, exporter.run()),
                exporter.clone(),
                cfg.push_interval.get(),
                stop.clone(),
            ));
            (task, stop)
        });
        Ok(Endpoint {
            exporter,
            server,
            push,
            linger: cfg.linger.get(),
        })
    }

    /// Where Prometheus scrapes it (`http://IP:PORT/metrics`), when it listens.
    pub fn url(&self) -> Option<String> {
        self.server.as_ref().map(|s| format!("{}metrics", s.base()))
    }

    /// The run ended: the last push, then serve `linger` longer (Ctrl-C cuts it short) and stop.
    pub async fn close(self) {
        self.exporter.ended();
        if let Some((task, stop)) = self.push {
            stop.cancel();
            let _ = task.await;
        }
        if self.server.is_some() && !self.linger.is_zero() {
            eprintln!(
                "serving the final metrics for {} more (Ctrl-C to stop now)",
                humantime::format_duration(self.linger)
            );
            tokio::select! {
                _ = tokio::time::sleep(self.linger) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: u32, i: u32) -> ParticipantId {
        ParticipantId {
            conference: c,
            index: i,
        }
    }

    fn exporter(labels: &[&str]) -> (Exporter, Arc<Tally>) {
        let tally = Arc::new(Tally::new([
            (id(0, 0), Role::Video),
            (id(0, 1), Role::Receiver),
            (id(1, 0), Role::Video),
        ]));
        let cfg = Export {
            labels: Some(labels.iter().map(|s| s.to_string()).collect()),
            ..Export::default()
        };
        (Exporter::new(&cfg, "r1", 2, tally.clone()), tally)
    }

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn participants_follow_the_tally_and_empty_phases_read_zero() {
        let (x, tally) = exporter(&["conference", "node", "role", "bridge"]);
        tally.node(id(0, 0), "local");
        tally.set(id(0, 0), crate::live::Phase::InCall);
        let text = x.encode();
        let in_call = "loadtest_participants{run=\"r1\",phase=\"in_call\",conference=\"0\",node=\"local\",role=\"video\"}";
        assert_eq!(
            line(&text, in_call),
            Some(format!("{in_call} 1").as_str()),
            "{text}"
        );
        tally.set(id(0, 0), crate::live::Phase::Done);
        let text = x.encode();
        assert_eq!(
            line(&text, in_call),
            Some(format!("{in_call} 0").as_str()),
            "{text}"
        );
        assert!(text.contains("# TYPE loadtest_participants gauge"));
        assert!(!text.contains("c0p0"), "never a participant label");
    }

    #[test]
    fn dropped_labels_sum_their_series() {
        let (x, _) = exporter(&["role"]);
        let text = x.encode();
        let scheduled = "loadtest_participants{run=\"r1\",phase=\"scheduled\",conference=\"\",node=\"\",role=\"video\"} 2";
        assert!(text.contains(scheduled), "{text}");
    }

    #[test]
    fn histograms_observe_the_rows_the_results_get() {
        let (x, _) = exporter(&["conference", "bridge"]);
        let row = |fps: f64| ClientStatRow {
            participant: id(1, 0),
            direction: "recv".into(),
            kind: "video".into(),
            fps: Some(fps),
            bitrate_kbps: Some(300.0),
            ..Default::default()
        };
        let mut handles = Streams::default();
        x.stats(&mut handles, "", &[row(1.0)]);
        x.stats(&mut handles, "janus", &[row(14.5), row(15.0)]);
        x.stats(&mut handles, "janus", &[row(29.0)]);
        x.joined(id(1, 0), "local", Role::Video, 1800);
        x.metrics(&[ServerMetricRow {
            metric: metric::LOADTEST_SOURCE_UP.into(),
            labels: "source=janus".into(),
            value: 0.0,
            ..Default::default()
        }]);
        let text = x.encode();
        let b = "loadtest_client_fps_bucket{run=\"r1\",conference=\"1\",bridge=\"janus\",direction=\"recv\",kind=\"video\",le=";
        assert!(text.contains(&format!("{b}\"14\"}} 0")), "{text}");
        assert!(text.contains(&format!("{b}\"15\"}} 2")), "{text}");
        assert!(text.contains(&format!("{b}\"+Inf\"}} 3")), "{text}");
        assert!(text.contains("loadtest_client_fps_sum{run=\"r1\",conference=\"1\",bridge=\"janus\",direction=\"recv\",kind=\"video\"} 58.5"));
        assert!(
            text.contains("loadtest_client_fps_count{run=\"r1\",conference=\"1\",bridge=\"\",direction=\"recv\",kind=\"video\"} 1"),
            "before its bridge is known: {text}"
        );
        assert!(
            text.contains(
                "loadtest_join_ms_count{run=\"r1\",conference=\"1\",node=\"\",role=\"\"} 1"
            )
        );
        assert!(text.contains("loadtest_source_up{run=\"r1\",source=\"janus\"} 0"));
        assert!(text.contains("loadtest_metric_gaps_total{run=\"r1\",source=\"janus\"} 1"));
        assert!(line(&text, "loadtest_run_start_time_seconds").is_some());
    }

    #[tokio::test]
    async fn the_endpoint_serves_on_loopback() {
        let (x, _) = exporter(&["conference"]);
        let cfg = Export {
            listen: "127.0.0.1:0".into(),
            linger: crate::scenario::Dur::from_secs(0),
            ..Export::default()
        };
        assert!(
            Export::default()
                .listen_addr()
                .unwrap()
                .unwrap()
                .ip()
                .is_loopback(),
            "loopback by default"
        );
        let e = Endpoint::start(&cfg, Arc::new(x)).await.unwrap();
        let url = e.url().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        let r = reqwest::get(&url).await.unwrap();
        assert_eq!(r.headers()["content-type"], CONTENT_TYPE);
        let text = r.text().await.unwrap();
        assert!(text.contains("loadtest_participants{"), "{text}");
        e.close().await;
    }
}
