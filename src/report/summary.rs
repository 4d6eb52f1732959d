//! The run's numbers, streamed out of a results directory: one pass over each CSV, memory bounded by
//! the number of samples kept for percentiles (4 bytes each), never by the file size.
//!
//! Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the value at
//! rank ⌈p·n⌉ (1-based). Client numbers come from the steady in-call window (last participant's media
//! start to the first hang-up) when the run has one, else from every sample.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::results::{ClientStatRow, EventRow, ParticipantRow, RunInfo, ServerMetricRow};

/// Why a results directory cannot be summarised.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// `run.json` is missing or unreadable: this is not a results directory.
    #[error("{path}: {detail} (is this a results directory written by `loadtest run`?)")]
    Run {
        /// The file.
        path: String,
        /// What went wrong.
        detail: String,
    },
    /// A CSV row could not be read.
    #[error("{path}: {detail}")]
    Csv {
        /// The file.
        path: String,
        /// csv's message, with the line.
        detail: String,
    },
}

/// The nearest-rank percentile `p` (0..=1) of `values`; sorts in place. `None` when empty.
pub fn percentile(values: &mut [f32], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f32::total_cmp);
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(f64::from(values[rank - 1]))
}

fn max(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// The row of the seed's hand-made results table, filled from measurements. Column names are the
/// observation CSV's (`data/seed-loadtest-observations.csv`); `None` where the run had no such source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SeedRow {
    /// Participants planned.
    pub participants_total: usize,
    /// Highest load-generator CPU use in the steady window, % of all its cores.
    pub generator_cpu_pct: Option<f64>,
    /// Most common received video resolution, `WxH`.
    pub video_received: Option<String>,
    /// Median received video frame rate, fps.
    pub recv_fps_p50: Option<f64>,
    /// 5th-percentile received video frame rate, fps.
    pub recv_fps_p5: Option<f64>,
    /// 95th-percentile received audio packet loss, %.
    pub audio_loss_pct_p95: Option<f64>,
    /// 95th-percentile share of received audio that was concealed (synthesised), %.
    pub audio_concealed_pct_p95: Option<f64>,
    /// Participants that stayed until the end.
    pub participants_stable: usize,
    /// Participants that joined with media and were lost later.
    pub participants_lost: usize,
    /// Highest memory of one bridge, MiB (as Kubernetes and the seed report it).
    pub jvb_max_mem_mb: Option<f64>,
    /// Highest CPU of one bridge, cores.
    pub jvb_max_cpu_cores: Option<f64>,
    /// Highest transmit rate of one bridge, MB/s (10⁶ bytes per second).
    pub jvb_max_tx_mbytes_per_s: Option<f64>,
    /// Highest CFS throttling of a bridge, % of periods.
    pub cpu_throttling_pct: Option<f64>,
}

/// Participant counts and join times.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Participants {
    /// Planned.
    pub planned: usize,
    /// With a final row in participants.csv.
    pub recorded: usize,
    /// Ended ok.
    pub ok: usize,
    /// Failed (any reason).
    pub failed: usize,
    /// Joined with media, then failed.
    pub lost: usize,
    /// Join time (navigation to in the room with ICE connected), median, ms.
    pub join_ms_p50: Option<f64>,
    /// Join time, 95th percentile, ms.
    pub join_ms_p95: Option<f64>,
    /// Joined share of planned (0..1).
    pub join_ratio: Option<f64>,
}

/// Client-side media quality over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Client {
    /// The window the numbers come from, `[from, to]` (RFC 3339), or empty for the whole run.
    pub window: Vec<String>,
    /// Received video samples with a frame rate.
    pub recv_video_samples: usize,
    /// Received video frame rate, median, fps.
    pub recv_fps_p50: Option<f64>,
    /// Received video frame rate, 5th percentile, fps.
    pub recv_fps_p5: Option<f64>,
    /// Received video bitrate, median, kbit/s.
    pub recv_bitrate_kbps_p50: Option<f64>,
    /// Received packet loss ratio (0..1), 95th percentile, audio and video.
    pub loss_p95: Option<f64>,
    /// Received jitter, 95th percentile, ms.
    pub jitter_ms_p95: Option<f64>,
    /// Round-trip time, median, ms.
    pub rtt_ms_p50: Option<f64>,
    /// Round-trip time, 95th percentile, ms.
    pub rtt_ms_p95: Option<f64>,
    /// Sent video frame rate, median, fps.
    pub send_fps_p50: Option<f64>,
}

/// One bridge (JVB pod, or a media-server process) at its worst.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Bridge {
    /// Pod name, `[[metrics.jvb]]` name or process source name.
    pub name: String,
    /// Participants whose media went through it (participants.csv `bridge`).
    pub participants: usize,
    /// Highest CPU, cores.
    pub max_cpu_cores: Option<f64>,
    /// Highest memory, MiB.
    pub max_mem_mb: Option<f64>,
    /// Highest transmit rate, MB/s.
    pub max_tx_mbytes_per_s: Option<f64>,
    /// Highest CPU throttling, %.
    pub max_throttling_pct: Option<f64>,
}

/// One conference.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Conference {
    /// Index.
    pub conference: u32,
    /// Room name.
    pub room: String,
    /// Planned participants.
    pub planned: usize,
    /// Ended ok.
    pub joined: usize,
    /// Failed.
    pub failed: usize,
    /// Join time median, ms.
    pub join_ms_p50: Option<f64>,
    /// Join time 95th percentile, ms.
    pub join_ms_p95: Option<f64>,
    /// Received video frame rate median, fps.
    pub recv_fps_p50: Option<f64>,
    /// Received video frame rate 5th percentile, fps.
    pub recv_fps_p5: Option<f64>,
    /// Received loss 95th percentile (0..1).
    pub loss_p95: Option<f64>,
    /// Bridges its participants' media went through.
    pub bridges: Vec<String>,
}

/// A failed participant.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Failure {
    /// Participant id.
    pub participant: String,
    /// Conference index.
    pub conference: u32,
    /// Why.
    pub reason: String,
    /// Screenshot, relative to the results directory, when kept.
    pub screenshot: Option<String>,
    /// Browser console log, relative to the results directory, when kept.
    pub console_log: Option<String>,
}

/// What was tested.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Tested {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Conferences.
    pub conferences: Option<u64>,
    /// Participants per conference.
    pub participants_per_conference: Option<u64>,
    /// Video senders per conference.
    pub video_senders: Option<u64>,
    /// Audio senders per conference.
    pub audio_senders: Option<u64>,
    /// `jitsi` or `janus`.
    pub target_kind: String,
    /// Target URL (redacted).
    pub target: String,
    /// Page, camera, microphone and whether audio is received.
    pub fidelity: String,
    /// WebDriver endpoint.
    pub webdriver: String,
    /// Browser hosts (participants.csv `node`), each with its participant count.
    pub generators: Vec<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339); `None` when the run did not end.
    pub ended_at: Option<String>,
    /// Wall time from start to end (or to the last row), seconds.
    pub duration_s: Option<f64>,
    /// `loadtest` version that ran it.
    pub tool_version: String,
    /// The run's own outcome (run.json).
    pub outcome: String,
    /// The run's own exit reason.
    pub exit_reason: String,
    /// Metric sources that left gaps.
    pub metric_gaps: Vec<String>,
}

/// Everything `report` says about a run; written as `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// What was tested.
    pub tested: Tested,
    /// The run had no end time or was interrupted: the numbers cover what was sampled.
    pub interrupted: bool,
    /// The run's generators were saturated (run.json `valid = false`), with the reasons.
    pub invalid_reasons: Vec<String>,
    /// The seed-style table row.
    pub table: SeedRow,
    /// Participants.
    pub participants: Participants,
    /// Client media quality.
    pub client: Client,
    /// Bridges.
    pub bridges: Vec<Bridge>,
    /// Conferences.
    pub conferences: Vec<Conference>,
    /// Failed participants.
    pub failures: Vec<Failure>,
}

/// Time series for the charts: x is seconds since the run started.
#[derive(Debug, Clone, Default)]
pub struct Timelines {
    /// Participants in the call (media flowing), stepwise.
    pub in_call: Vec<(f64, f64)>,
    /// Join times of joined participants, seconds.
    pub join_s: Vec<f64>,
    /// Per time bucket: received fps p50, p5; bitrate p50 (kbit/s); loss p95 (%); jitter p95 (ms);
    /// RTT p50 (ms).
    pub recv_fps_p50: Vec<(f64, f64)>,
    /// See `recv_fps_p50`.
    pub recv_fps_p5: Vec<(f64, f64)>,
    /// See `recv_fps_p50`.
    pub recv_bitrate_p50: Vec<(f64, f64)>,
    /// See `recv_fps_p50`.
    pub loss_pct_p95: Vec<(f64, f64)>,
    /// See `recv_fps_p50`.
    pub jitter_ms_p95: Vec<(f64, f64)>,
    /// See `recv_fps_p50`.
    pub rtt_ms_p50: Vec<(f64, f64)>,
    /// Per bridge: CPU cores, memory MiB, transmit MB/s.
    pub bridge_cpu: BTreeMap<String, Vec<(f64, f64)>>,
    /// See `bridge_cpu`.
    pub bridge_mem: BTreeMap<String, Vec<(f64, f64)>>,
    /// See `bridge_cpu`.
    pub bridge_tx: BTreeMap<String, Vec<(f64, f64)>>,
    /// Per generator: CPU use, % of all cores.
    pub generator_cpu: BTreeMap<String, Vec<(f64, f64)>>,
}

fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A series as sampled live, and as backfilled from Prometheus' range API.
type LiveAndRange = (Vec<(f64, f64)>, Vec<(f64, f64)>);

/// Values kept for percentiles.
#[derive(Default)]
struct Bag {
    fps: Vec<f32>,
    bitrate: Vec<f32>,
    loss: Vec<f32>,
    jitter: Vec<f32>,
    rtt: Vec<f32>,
}

/// The metric kinds a bridge has.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BridgeMetric {
    Cpu,
    Mem,
    Tx,
    Throttle,
}

/// Classify a server metric row: which bridge and which kind, with the value in report units.
fn bridge_metric(r: &ServerMetricRow) -> Option<(String, BridgeMetric, f64)> {
    let label = |key: &str| crate::metrics::labels::parse(&r.labels).remove(key);
    let jvb = || label("pod").unwrap_or_else(|| "jvb".into());
    let process = || r.source.strip_prefix("process:").map(str::to_string);
    const MIB: f64 = 1024.0 * 1024.0;
    match r.metric.as_str() {
        "jvb_cpu_cores" => Some((jvb(), BridgeMetric::Cpu, r.value)),
        "jvb_memory_working_set_bytes" => Some((jvb(), BridgeMetric::Mem, r.value / MIB)),
        "jvb_network_transmit_bytes_per_second" => Some((jvb(), BridgeMetric::Tx, r.value / 1e6)),
        "jvb_cpu_throttled_ratio" => Some((jvb(), BridgeMetric::Throttle, r.value * 100.0)),
        "process_cpu_cores" => Some((process()?, BridgeMetric::Cpu, r.value)),
        "process_resident_bytes" => Some((process()?, BridgeMetric::Mem, r.value / MIB)),
        _ => None,
    }
}

/// Streaming aggregation of one results directory.
pub struct Aggregator {
    info: RunInfo,
    start: DateTime<Utc>,
    window: Option<(String, String)>,
    bucket_s: f64,
    last_ts: Option<DateTime<Utc>>,
    participants: Vec<ParticipantRow>,
    all: Bag,
    send_fps: Vec<f32>,
    audio_loss: Vec<f32>,
    audio_concealed: Vec<f32>,
    resolutions: BTreeMap<(u32, u32), usize>,
    per_conf: BTreeMap<u32, Bag>,
    buckets: BTreeMap<i64, Bag>,
    /// (bridge, metric) → (live series, range-backfill series).
    server: BTreeMap<(String, BridgeMetric), LiveAndRange>,
    /// Janus admin: per handle, the last cumulative sent bytes and time.
    janus_sent: BTreeMap<String, (DateTime<Utc>, f64)>,
    /// Janus admin: bytes sent per sample time, summed over handles.
    janus_tx: BTreeMap<DateTime<Utc>, f64>,
    generators: BTreeMap<String, LiveAndRange>,
    generator_max: Option<f64>,
    in_call: Vec<(DateTime<Utc>, i32)>,
    media: BTreeSet<String>,
    gone: BTreeSet<String>,
}

impl Aggregator {
    /// Start aggregating a run; `bucket_s` is the chart time resolution (the stats interval).
    pub fn new(info: RunInfo, window: Option<(String, String)>, bucket_s: f64) -> Aggregator {
        let start = parse_ts(&info.started_at).unwrap_or_else(Utc::now);
        Aggregator {
            info,
            start,
            window,
            bucket_s: bucket_s.max(0.5),
            last_ts: None,
            participants: Vec::new(),
            all: Bag::default(),
            send_fps: Vec::new(),
            audio_loss: Vec::new(),
            audio_concealed: Vec::new(),
            resolutions: BTreeMap::new(),
            per_conf: BTreeMap::new(),
            buckets: BTreeMap::new(),
            server: BTreeMap::new(),
            janus_sent: BTreeMap::new(),
            janus_tx: BTreeMap::new(),
            generators: BTreeMap::new(),
            generator_max: None,
            in_call: Vec::new(),
            media: BTreeSet::new(),
            gone: BTreeSet::new(),
        }
    }

    fn secs(&self, t: DateTime<Utc>) -> f64 {
        (t - self.start).num_milliseconds() as f64 / 1000.0
    }

    fn seen(&mut self, t: DateTime<Utc>) {
        if self.last_ts.is_none_or(|l| t > l) {
            self.last_ts = Some(t);
        }
    }

    fn inside(&self, ts: &str) -> bool {
        self.window
            .as_ref()
            .is_none_or(|(a, b)| ts >= a.as_str() && ts <= b.as_str())
    }

    /// A participants.csv row.
    pub fn participant(&mut self, r: ParticipantRow) {
        self.participants.push(r);
    }

    /// An events.csv row.
    pub fn event(&mut self, r: EventRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        self.seen(t);
        match r.event.as_str() {
            "media" if self.media.insert(r.participant.clone()) => self.in_call.push((t, 1)),
            "left" | "failed" | "interrupted" | "closed" | "force_closed"
                if self.media.contains(&r.participant)
                    && self.gone.insert(r.participant.clone()) =>
            {
                self.in_call.push((t, -1))
            }
            _ => {}
        }
    }

    /// A client_stats.csv row; `conference` is the participant's conference.
    pub fn stat(&mut self, r: &ClientStatRow, conference: Option<u32>) {
        let Some(t) = parse_ts(&r.ts) else { return };
        self.seen(t);
        let inside = self.inside(&r.ts);
        let bucket = (self.secs(t) / self.bucket_s).floor() as i64;
        let recv = r.direction == "recv";
        if r.direction == "send"
            && r.kind == "video"
            && inside
            && let Some(f) = r.fps
        {
            self.send_fps.push(f as f32);
        }
        if !recv {
            return;
        }
        let video = r.kind == "video";
        let push = |bag: &mut Bag| {
            if video {
                if let Some(f) = r.fps {
                    bag.fps.push(f as f32);
                }
                if let Some(b) = r.bitrate_kbps {
                    bag.bitrate.push(b as f32);
                }
            }
            if let Some(l) = r.loss_ratio {
                bag.loss.push(l as f32);
            }
            if let Some(j) = r.jitter_ms {
                bag.jitter.push(j as f32);
            }
            if let Some(x) = r.rtt_ms {
                bag.rtt.push(x as f32);
            }
        };
        push(self.buckets.entry(bucket).or_default());
        if inside {
            push(&mut self.all);
            if let Some(c) = conference {
                push(self.per_conf.entry(c).or_default());
            }
            if !video && let Some(l) = r.loss_ratio {
                self.audio_loss.push(l as f32);
            }
            if !video && let Some(c) = r.concealed_ratio {
                self.audio_concealed.push(c as f32);
            }
            if video && let (Some(w), Some(h)) = (r.width, r.height) {
                *self.resolutions.entry((w, h)).or_default() += 1;
            }
        }
    }

    /// A server_metrics.csv row.
    pub fn metric(&mut self, r: &ServerMetricRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        let range = r.source == "prometheus-range";
        if !range {
            self.seen(t);
        }
        let x = self.secs(t);
        if r.metric == "generator_cpu_ratio" {
            let name = if r.source.starts_with("generator:") {
                r.source.trim_start_matches("generator:").to_string()
            } else {
                crate::metrics::labels::parse(&r.labels)
                    .remove("instance")
                    .unwrap_or_else(|| r.source.clone())
            };
            let e = self.generators.entry(name).or_default();
            if range { &mut e.1 } else { &mut e.0 }.push((x, r.value * 100.0));
            if self.inside(&r.ts) {
                self.generator_max = max(self.generator_max, r.value * 100.0);
            }
            return;
        }
        if r.metric == "janus_handle_sent_bytes" {
            // Cumulative per handle: a rate from consecutive samples of the same handle.
            if let Some((t0, b0)) = self.janus_sent.insert(r.labels.clone(), (t, r.value)) {
                let dt = (t - t0).num_milliseconds() as f64 / 1000.0;
                if dt > 0.0 && r.value >= b0 {
                    *self.janus_tx.entry(t).or_default() += (r.value - b0) / dt;
                }
            }
            return;
        }
        if let Some((bridge, kind, v)) = bridge_metric(r) {
            let e = self.server.entry((bridge, kind)).or_default();
            if range { &mut e.1 } else { &mut e.0 }.push((x, v));
        }
    }

    /// The summary and the chart series.
    pub fn finish(mut self, scenario: &toml::Table) -> (Summary, Timelines) {
        let mut tl = Timelines::default();
        // Janus admin transmit rate is the bridge named `janus`.
        let janus: Vec<(f64, f64)> = self
            .janus_tx
            .iter()
            .map(|(t, v)| (self.secs(*t), v / 1e6))
            .collect();
        if !janus.is_empty() {
            self.server
                .entry(("janus".into(), BridgeMetric::Tx))
                .or_default()
                .0 = janus;
        }
        // Live samples win; the range backfill stands in where a source had no live sample.
        let pick = |(live, range): LiveAndRange| {
            if live.is_empty() { range } else { live }
        };
        let mut bridges: BTreeMap<String, Bridge> = BTreeMap::new();
        for ((name, kind), series) in std::mem::take(&mut self.server) {
            let series = pick(series);
            let peak = series.iter().map(|p| p.1).fold(None, max);
            let b = bridges.entry(name.clone()).or_insert_with(|| Bridge {
                name: name.clone(),
                ..Default::default()
            });
            match kind {
                BridgeMetric::Cpu => {
                    b.max_cpu_cores = peak;
                    tl.bridge_cpu.insert(name, series);
                }
                BridgeMetric::Mem => {
                    b.max_mem_mb = peak;
                    tl.bridge_mem.insert(name, series);
                }
                BridgeMetric::Tx => {
                    b.max_tx_mbytes_per_s = peak;
                    tl.bridge_tx.insert(name, series);
                }
                BridgeMetric::Throttle => b.max_throttling_pct = peak,
            }
        }
        for (name, series) in std::mem::take(&mut self.generators) {
            tl.generator_cpu.insert(name, pick(series));
        }
        for p in &self.participants {
            if !p.bridge.is_empty()
                && let Some(b) = bridges.get_mut(&p.bridge)
            {
                b.participants += 1;
            }
        }
        let bridges: Vec<Bridge> = bridges.into_values().collect();

        // Participants in the call, stepwise.
        self.in_call.sort_by_key(|e| e.0);
        let mut n = 0;
        tl.in_call.push((0.0, 0.0));
        for (t, d) in &self.in_call {
            let x = self.secs(*t);
            tl.in_call.push((x, f64::from(n)));
            n += d;
            tl.in_call.push((x, f64::from(n)));
        }
        if let Some(end) = self.last_ts {
            tl.in_call.push((self.secs(end), f64::from(n)));
        }

        // Time buckets.
        for (b, bag) in &mut self.buckets {
            let x = (*b as f64 + 0.5) * self.bucket_s;
            let add = |dst: &mut Vec<(f64, f64)>, v: Option<f64>| {
                if let Some(v) = v {
                    dst.push((x, v));
                }
            };
            add(&mut tl.recv_fps_p50, percentile(&mut bag.fps, 0.5));
            add(&mut tl.recv_fps_p5, percentile(&mut bag.fps, 0.05));
            add(&mut tl.recv_bitrate_p50, percentile(&mut bag.bitrate, 0.5));
            add(
                &mut tl.loss_pct_p95,
                percentile(&mut bag.loss, 0.95).map(|l| l * 100.0),
            );
            add(&mut tl.jitter_ms_p95, percentile(&mut bag.jitter, 0.95));
            add(&mut tl.rtt_ms_p50, percentile(&mut bag.rtt, 0.5));
        }

        // Participants and conferences.
        let get = |path: &[&str]| -> Option<&toml::Value> {
            let mut v = scenario.get(path[0])?;
            for k in &path[1..] {
                v = v.get(k)?;
            }
            Some(v)
        };
        let int = |path: &[&str]| {
            get(path)
                .and_then(toml::Value::as_integer)
                .map(|v| v as u64)
        };
        let per_conference = int(&["load", "participants"]);
        let mut joins: Vec<f32> = Vec::new();
        let mut confs: BTreeMap<u32, (Conference, Vec<f32>)> = BTreeMap::new();
        let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
        let mut failures = Vec::new();
        let (mut ok, mut failed, mut lost) = (0, 0, 0);
        for p in &self.participants {
            let c = confs.entry(p.conference).or_insert_with(|| {
                (
                    Conference {
                        conference: p.conference,
                        room: p.room.clone(),
                        ..Default::default()
                    },
                    Vec::new(),
                )
            });
            *nodes.entry(p.node.clone()).or_default() += 1;
            if !p.bridge.is_empty() && !c.0.bridges.contains(&p.bridge) {
                c.0.bridges.push(p.bridge.clone());
            }
            if p.outcome == "ok" {
                ok += 1;
                c.0.joined += 1;
                if let Some(j) = p.join_ms {
                    joins.push(j as f32);
                    c.1.push(j as f32);
                    tl.join_s.push(j as f64 / 1000.0);
                }
            } else {
                failed += 1;
                c.0.failed += 1;
                if p.media_ms.is_some() {
                    lost += 1;
                }
                failures.push(Failure {
                    participant: p.participant.clone(),
                    conference: p.conference,
                    reason: p.reason.clone(),
                    screenshot: None,
                    console_log: None,
                });
            }
        }
        let conferences_planned = int(&["load", "conferences"]);
        if let Some(n) = conferences_planned {
            for i in 0..n as u32 {
                confs.entry(i).or_insert_with(|| {
                    (
                        Conference {
                            conference: i,
                            ..Default::default()
                        },
                        Vec::new(),
                    )
                });
            }
        }
        let conferences: Vec<Conference> = confs
            .into_values()
            .map(|(mut c, mut j)| {
                c.planned = per_conference.map_or(c.joined + c.failed, |n| n as usize);
                c.join_ms_p50 = percentile(&mut j, 0.5);
                c.join_ms_p95 = percentile(&mut j, 0.95);
                if let Some(bag) = self.per_conf.get_mut(&c.conference) {
                    c.recv_fps_p50 = percentile(&mut bag.fps, 0.5);
                    c.recv_fps_p5 = percentile(&mut bag.fps, 0.05);
                    c.loss_p95 = percentile(&mut bag.loss, 0.95);
                }
                c.bridges.sort();
                c
            })
            .collect();
        let planned = self.info.planned.max(self.participants.len());
        let participants = Participants {
            planned,
            recorded: self.participants.len(),
            ok,
            failed,
            lost,
            join_ms_p50: percentile(&mut joins, 0.5),
            join_ms_p95: percentile(&mut joins, 0.95),
            join_ratio: (planned > 0).then(|| ok as f64 / planned as f64),
        };
        let all = &mut self.all;
        let client = Client {
            window: self
                .window
                .clone()
                .map(|(a, b)| vec![a, b])
                .unwrap_or_default(),
            recv_video_samples: all.fps.len(),
            recv_fps_p50: percentile(&mut all.fps, 0.5),
            recv_fps_p5: percentile(&mut all.fps, 0.05),
            recv_bitrate_kbps_p50: percentile(&mut all.bitrate, 0.5),
            loss_p95: percentile(&mut all.loss, 0.95),
            jitter_ms_p95: percentile(&mut all.jitter, 0.95),
            rtt_ms_p50: percentile(&mut all.rtt, 0.5),
            rtt_ms_p95: percentile(&mut all.rtt, 0.95),
            send_fps_p50: percentile(&mut self.send_fps, 0.5),
        };
        let worst = |f: fn(&Bridge) -> Option<f64>| bridges.iter().filter_map(f).fold(None, max);
        let table = SeedRow {
            participants_total: planned,
            generator_cpu_pct: self.generator_max,
            video_received: self
                .resolutions
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|((w, h), _)| format!("{w}x{h}")),
            recv_fps_p50: client.recv_fps_p50,
            recv_fps_p5: client.recv_fps_p5,
            audio_loss_pct_p95: percentile(&mut self.audio_loss, 0.95).map(|l| l * 100.0),
            audio_concealed_pct_p95: percentile(&mut self.audio_concealed, 0.95).map(|c| c * 100.0),
            participants_stable: ok,
            participants_lost: lost,
            jvb_max_mem_mb: worst(|b| b.max_mem_mb),
            jvb_max_cpu_cores: worst(|b| b.max_cpu_cores),
            jvb_max_tx_mbytes_per_s: worst(|b| b.max_tx_mbytes_per_s),
            cpu_throttling_pct: worst(|b| b.max_throttling_pct),
        };
        let info = &self.info;
        let interrupted = info.ended_at.is_none() || info.outcome == "interrupted";
        let end = info.ended_at.as_deref().and_then(parse_ts).or(self.last_ts);
        let str_at = |path: &[&str]| {
            get(path)
                .and_then(toml::Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let tested = Tested {
            scenario: info.scenario.clone(),
            description: str_at(&["description"]),
            conferences: conferences_planned,
            participants_per_conference: per_conference,
            video_senders: int(&["load", "senders"]).or(per_conference),
            audio_senders: int(&["load", "audio_senders"])
                .or(int(&["load", "senders"]))
                .or(per_conference),
            target_kind: info.target_kind.clone(),
            target: info.target.clone(),
            fidelity: format!(
                "{}; camera {}; microphone {}; {}",
                info.fidelity.page,
                info.fidelity.video,
                info.fidelity.audio,
                if info.fidelity.receive_audio {
                    "audio received"
                } else {
                    "audio not received"
                }
            ),
            webdriver: info.webdriver.clone(),
            generators: nodes
                .into_iter()
                .map(|(n, c)| format!("{n} ({c} participants)"))
                .collect(),
            started_at: info.started_at.clone(),
            ended_at: info.ended_at.clone(),
            duration_s: end.map(|e| self.secs(e)),
            tool_version: info.tool_version.clone(),
            outcome: info.outcome.clone(),
            exit_reason: info.exit_reason.clone(),
            metric_gaps: info.metric_gaps.clone(),
        };
        let summary = Summary {
            tested,
            interrupted,
            invalid_reasons: if info.valid {
                Vec::new()
            } else {
                info.invalid_reasons.clone()
            },
            table,
            participants,
            client,
            bridges,
            conferences,
            failures,
        };
        (summary, tl)
    }
}

/// Stream a results directory into its summary and chart series.
pub fn summarize(dir: &Path) -> Result<(Summary, Timelines), SummaryError> {
    let run_path = dir.join("run.json");
    let info = crate::results::read_run(dir).map_err(|e| SummaryError::Run {
        path: run_path.display().to_string(),
        detail: e.to_string(),
    })?;
    let scenario: toml::Table = std::fs::read_to_string(dir.join("scenario.toml"))
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_default();
    let bucket_s = scenario
        .get("stats")
        .and_then(|s| s.get("interval"))
        .and_then(toml::Value::as_str)
        .and_then(|s| humantime::parse_duration(s).ok())
        .map_or(5.0, |d| d.as_secs_f64());
    let window = crate::metrics::guard::steady_window(dir);
    let mut agg = Aggregator::new(info, window, bucket_s);
    let csv_err = |name: &str, e: csv::Error| SummaryError::Csv {
        path: dir.join(name).display().to_string(),
        detail: e.to_string(),
    };
    // A missing CSV is a run that never got that far; a broken row is an error. A run killed
    // mid-write may leave a torn last line (too few fields, or a cut value), which is skipped: an
    // unreadable row is an error only when another row follows it.
    type RowFn<'a> =
        dyn FnMut(&csv::StringRecord, &csv::StringRecord) -> Result<(), csv::Error> + 'a;
    let stream = |name: &str, f: &mut RowFn| -> Result<(), SummaryError> {
        let Ok(mut r) = csv::Reader::from_path(dir.join(name)) else {
            return Ok(());
        };
        let header = r.headers().map_err(|e| csv_err(name, e))?.clone();
        let mut record = csv::StringRecord::new();
        let mut unreadable: Option<csv::Error> = None;
        loop {
            let row = match r.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => f(&record, &header),
                Err(e) if matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) => Err(e),
                Err(e) => return Err(csv_err(name, e)),
            };
            if let Some(e) = unreadable.take() {
                return Err(csv_err(name, e));
            }
            unreadable = row.err();
        }
    };
    let mut by_participant: BTreeMap<String, u32> = BTreeMap::new();
    stream("participants.csv", &mut |rec, header| {
        let p: ParticipantRow = rec.deserialize(Some(header))?;
        by_participant.insert(p.participant.clone(), p.conference);
        agg.participant(p);
        Ok(())
    })?;
    stream("events.csv", &mut |rec, header| {
        agg.event(rec.deserialize(Some(header))?);
        Ok(())
    })?;
    stream("client_stats.csv", &mut |rec, header| {
        let r: ClientStatRow = rec.deserialize(Some(header))?;
        // Conference from the participant id (`c<conf>p<i>`) when it has no row yet.
        let conf = by_participant.get(&r.participant).copied().or_else(|| {
            r.participant
                .strip_prefix('c')?
                .split_once('p')?
                .0
                .parse()
                .ok()
        });
        agg.stat(&r, conf);
        Ok(())
    })?;
    stream("server_metrics.csv", &mut |rec, header| {
        agg.metric(&rec.deserialize(Some(header))?);
        Ok(())
    })?;
    let (mut summary, tl) = agg.finish(&scenario);
    for f in &mut summary.failures {
        let png = format!("artifacts/{}.png", f.participant);
        let log = format!("artifacts/{}.console.log", f.participant);
        f.screenshot = dir.join(&png).is_file().then_some(png);
        f.console_log = dir.join(&log).is_file().then_some(log);
    }
    Ok((summary, tl))
}
