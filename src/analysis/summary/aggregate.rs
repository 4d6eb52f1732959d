//! Streaming aggregation of one results directory: rows go in one at a time, [`Aggregator::finish`]
//! turns what was kept into the [`Summary`] and the chart [`Timelines`].

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::bag::Bag;
use super::cohorts::CohortFigures;
use super::recovery::Recovery;
use super::{
    Bridge, Client, Conference, Failure, Participants, Series, Summary, Table, Tested, Timelines,
};
use crate::analysis::attribution::Bridges;
use crate::analysis::window::Window;
use crate::results::names::{SourceName, metric};
use crate::results::{
    ClientStatRow, Event, EventRow, Outcome, ParticipantRow, RunInfo, RunOutcome, ServerMetricRow,
    VideoQualityRow, parse_ts,
};
use crate::scenario::Scenario;
use crate::schedule::ParticipantId;
use crate::stats::percentile;

const MIB: f64 = 1024.0 * 1024.0;

/// A series as sampled live, and as backfilled from Prometheus' range API.
type LiveAndRange = (Series, Series);

/// The metric kinds a bridge has.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum BridgeMetric {
    Cpu,
    Mem,
    Tx,
    Throttle,
}

/// Classify a server metric row: which bridge and which kind, with the value in summary units.
fn bridge_metric(r: &ServerMetricRow) -> Option<(String, BridgeMetric, f64)> {
    let jvb = || r.label("pod").unwrap_or_else(|| "jvb".into());
    let process = || match &r.source {
        SourceName::Process(name) => Some(name.clone()),
        _ => None,
    };
    match r.metric.as_str() {
        metric::JVB_CPU_CORES => Some((jvb(), BridgeMetric::Cpu, r.value)),
        metric::JVB_MEMORY_WORKING_SET_BYTES => Some((jvb(), BridgeMetric::Mem, r.value / MIB)),
        metric::JVB_NETWORK_TRANSMIT_BYTES_PER_SECOND => {
            Some((jvb(), BridgeMetric::Tx, r.value / 1e6))
        }
        metric::JVB_CPU_THROTTLED_RATIO => Some((jvb(), BridgeMetric::Throttle, r.value)),
        metric::PROCESS_CPU_CORES => Some((process()?, BridgeMetric::Cpu, r.value)),
        metric::PROCESS_RESIDENT_BYTES => Some((process()?, BridgeMetric::Mem, r.value / MIB)),
        _ => None,
    }
}

fn max(a: Option<f64>, b: f64) -> Option<f64> {
    Some(a.map_or(b, |a| a.max(b)))
}

/// Streaming aggregation of one results directory.
pub struct Aggregator {
    info: RunInfo,
    scenario: Scenario,
    start: DateTime<Utc>,
    window: Option<Window>,
    bucket_s: f64,
    last_ts: Option<DateTime<Utc>>,
    participants: Vec<ParticipantRow>,
    conference_of: BTreeMap<ParticipantId, u32>,
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
    /// Per participant, what the timeline says (for participants without a final row yet).
    timeline: BTreeMap<String, Timeline>,
    /// Bridge figures from the window only (a step of a growing run), not the whole run.
    server_in_window: bool,
    /// Each participant's media server address, from its stats.
    remote: BTreeMap<ParticipantId, String>,
    /// What people saw.
    seen: super::seen::Seen,
    /// Per-cohort figures, when the scenario has cohorts.
    cohorts: Option<CohortFigures>,
    /// Recovery after disruptions, when the scenario has some.
    recovery: Option<Recovery>,
}

/// One participant as the timeline tells it.
#[derive(Default)]
struct Timeline {
    navigate: Option<DateTime<Utc>>,
    joined: Option<DateTime<Utc>>,
    failed: bool,
}

impl Aggregator {
    /// Start aggregating a run; chart buckets are one stats interval wide.
    pub fn new(info: RunInfo, scenario: Scenario, window: Option<Window>) -> Aggregator {
        let start = parse_ts(&info.started_at).unwrap_or_else(Utc::now);
        let bucket_s = scenario.stats.interval.get().as_secs_f64().max(0.5);
        Aggregator {
            info,
            start,
            window,
            bucket_s,
            last_ts: None,
            participants: Vec::new(),
            conference_of: BTreeMap::new(),
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
            timeline: BTreeMap::new(),
            server_in_window: false,
            remote: BTreeMap::new(),
            seen: Default::default(),
            cohorts: CohortFigures::new(&scenario),
            recovery: Recovery::new(&scenario),
            scenario,
        }
    }

    /// Take bridge figures from the window only (one step of a growing run).
    pub fn server_in_window(mut self) -> Aggregator {
        self.server_in_window = true;
        self
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
        crate::analysis::window::inside(self.window.as_ref(), ts)
    }

    /// A participants.csv row.
    pub fn participant(&mut self, r: ParticipantRow) {
        if let Some(c) = &mut self.cohorts {
            c.participant(&r);
        }
        self.conference_of.insert(r.participant, r.conference);
        self.seen
            .participant(r.participant, r.conference, &r.bridge);
        self.participants.push(r);
    }

    /// An events.csv row.
    pub fn event(&mut self, r: EventRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        self.seen(t);
        if let Some(c) = &mut self.cohorts {
            c.event(&r);
        }
        if let Some(rec) = &mut self.recovery {
            rec.event(&r);
        }
        if matches!(r.event, Event::Navigate | Event::Joined | Event::Failed) {
            let p = self.timeline.entry(r.participant.clone()).or_default();
            match r.event {
                Event::Navigate => p.navigate = Some(t),
                Event::Joined => p.joined = Some(t),
                _ => p.failed = true,
            }
        }
        if r.event == Event::Media && self.media.insert(r.participant.clone()) {
            self.in_call.push((t, 1));
        } else if r.event.ends_call()
            && self.media.contains(&r.participant)
            && self.gone.insert(r.participant.clone())
        {
            self.in_call.push((t, -1));
        }
    }

    /// A video_quality.csv row.
    pub fn video(&mut self, r: &VideoQualityRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        let bucket = (self.secs(t) / self.bucket_s).floor() as i64;
        let inside = self.inside(&r.ts);
        self.seen.row(r, inside, bucket);
    }

    /// A client_stats.csv row.
    pub fn stat(&mut self, r: &ClientStatRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        self.seen(t);
        if !r.remote_address.is_empty() && !self.remote.contains_key(&r.participant) {
            self.remote.insert(r.participant, r.remote_address.clone());
        }
        let inside = self.inside(&r.ts);
        if let Some(rec) = &mut self.recovery {
            rec.stat(r);
        }
        if inside && let Some(c) = &mut self.cohorts {
            c.stat(r);
        }
        if r.sent() && r.video() && inside {
            self.send_fps.extend(r.fps.map(|f| f as f32));
        }
        if !r.received() {
            return;
        }
        let bucket = (self.secs(t) / self.bucket_s).floor() as i64;
        self.buckets.entry(bucket).or_default().push(r);
        if !inside {
            return;
        }
        self.all.push(r);
        // Rows of a participant without a final row (a killed run) carry their conference in the id.
        let conference = self
            .conference_of
            .get(&r.participant)
            .copied()
            .unwrap_or(r.participant.conference);
        self.per_conf.entry(conference).or_default().push(r);
        if r.video() {
            if let (Some(w), Some(h)) = (r.width, r.height) {
                *self.resolutions.entry((w, h)).or_default() += 1;
            }
        } else {
            self.audio_loss.extend(r.loss_ratio.map(|l| l as f32));
            self.audio_concealed
                .extend(r.concealed_ratio.map(|c| c as f32));
        }
    }

    /// A server_metrics.csv row.
    pub fn metric(&mut self, r: &ServerMetricRow) {
        let Some(t) = parse_ts(&r.ts) else { return };
        let range = r.source == SourceName::PrometheusRange;
        if !range {
            self.seen(t);
        }
        let x = self.secs(t);
        if r.metric == metric::GENERATOR_CPU_RATIO {
            let name = match &r.source {
                SourceName::Generator(host) => host.clone(),
                other => r.label("instance").unwrap_or_else(|| other.to_string()),
            };
            let e = self.generators.entry(name).or_default();
            if range { &mut e.1 } else { &mut e.0 }.push((x, r.value * 100.0));
            if !range && self.inside(&r.ts) {
                self.generator_max = max(self.generator_max, r.value);
            }
        } else if r.metric == metric::JANUS_HANDLE_SENT_BYTES {
            // Cumulative per handle: a rate from consecutive samples of the same handle.
            if let Some((t0, b0)) = self.janus_sent.insert(r.labels.clone(), (t, r.value)) {
                let dt = (t - t0).num_milliseconds() as f64 / 1000.0;
                if dt > 0.0 && r.value >= b0 {
                    *self.janus_tx.entry(t).or_default() += (r.value - b0) / dt;
                }
            }
        } else if let Some((bridge, kind, v)) = bridge_metric(r) {
            if self.server_in_window && !self.inside(&r.ts) {
                return;
            }
            let e = self.server.entry((bridge, kind)).or_default();
            if range { &mut e.1 } else { &mut e.0 }.push((x, v));
        }
    }

    /// The summary and the chart series.
    pub fn finish(mut self) -> (Summary, Timelines) {
        let mut tl = Timelines::default();
        let bridges = self.bridges(&mut tl);
        self.in_call_series(&mut tl);
        self.bucket_series(&mut tl);
        let (participants, conferences, failures, generators) = self.participants(&mut tl);
        let client = self.client();
        let table = self.table(&participants, &client, &bridges);
        let tested = self.tested(generators);
        let info = &self.info;
        let shards = super::shards(&conferences, &bridges);
        let seen = std::mem::take(&mut self.seen);
        let video;
        (video, tl.video_delay_ms_p95, tl.freeze_pct) = seen.finish(self.bucket_s);
        let summary = Summary {
            video,
            shards,
            tested,
            interrupted: info.ended_at.is_none() || info.outcome == RunOutcome::Interrupted,
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
            limit: None,
            cohorts: self
                .cohorts
                .take()
                .map_or(Vec::new(), |c| c.finish(&self.participants)),
            disruptions: self
                .recovery
                .take()
                .map(|r| r.finish(self.start, &self.participants)),
        };
        (summary, tl)
    }

    /// Each bridge at its worst, and the bridge and generator series. Live samples win; the range
    /// backfill stands in where a source had no live sample.
    fn bridges(&mut self, tl: &mut Timelines) -> Vec<Bridge> {
        // The Janus admin transmit rate is the bridge named `janus`.
        let janus: Series = self
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
        let pick = |(live, range): LiveAndRange| if live.is_empty() { range } else { live };
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
                    b.max_memory_mib = peak;
                    tl.bridge_mem.insert(name, series);
                }
                BridgeMetric::Tx => {
                    b.max_tx_mbytes_per_s = peak;
                    tl.bridge_tx.insert(name, series);
                }
                BridgeMetric::Throttle => b.max_cpu_throttled_ratio = peak,
            }
        }
        for (name, series) in std::mem::take(&mut self.generators) {
            tl.generator_cpu_pct.insert(name, pick(series));
        }
        for p in &self.participants {
            if let Some(b) = bridges.get_mut(&p.bridge) {
                b.participants += 1;
            }
        }
        // Participants still in the call: attributed by the remote address their stats report.
        let attribution = Bridges::of(&self.scenario);
        for (id, addr) in &self.remote {
            if !self.conference_of.contains_key(id)
                && let Some(b) = bridges.get_mut(&attribution.bridge_of(addr))
            {
                b.participants += 1;
            }
        }
        bridges.into_values().collect()
    }

    /// Participants in the call (media flowing), stepwise.
    fn in_call_series(&mut self, tl: &mut Timelines) {
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
    }

    /// Received-media percentiles per time bucket.
    fn bucket_series(&mut self, tl: &mut Timelines) {
        for (b, bag) in &mut self.buckets {
            let x = (*b as f64 + 0.5) * self.bucket_s;
            let add = |dst: &mut Series, v: Option<f64>| dst.extend(v.map(|v| (x, v)));
            add(&mut tl.recv_fps_p50, percentile(&mut bag.fps, 0.5));
            add(&mut tl.recv_fps_p5, percentile(&mut bag.fps, 0.05));
            add(&mut tl.recv_bitrate_p50, percentile(&mut bag.bitrate, 0.5));
            let loss = percentile(&mut bag.loss, 0.95).map(|l| l * 100.0);
            add(&mut tl.loss_pct_p95, loss);
            add(&mut tl.jitter_ms_p95, percentile(&mut bag.jitter, 0.95));
            add(&mut tl.rtt_ms_p50, percentile(&mut bag.rtt, 0.5));
        }
    }

    /// Participant counts, conferences, failures and the load generators' participant counts.
    fn participants(
        &mut self,
        tl: &mut Timelines,
    ) -> (Participants, Vec<Conference>, Vec<Failure>, Vec<String>) {
        let load = &self.scenario.load;
        let mut joins: Vec<f32> = Vec::new();
        let mut confs: BTreeMap<u32, (Conference, Vec<f32>)> = (0..load.conferences)
            .map(|i| {
                let c = Conference {
                    conference: i,
                    room: format!("{}{i}", load.room_prefix),
                    scheduled: load.participants_per_conference as usize,
                    ..Default::default()
                };
                (i, (c, Vec::new()))
            })
            .collect();
        let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
        let mut failures = Vec::new();
        let (mut completed, mut joined, mut lost) = (0, 0, 0);
        for p in &self.participants {
            let (c, c_joins) = confs.entry(p.conference).or_insert_with(|| {
                let c = Conference {
                    conference: p.conference,
                    room: p.room.clone(),
                    ..Default::default()
                };
                (c, Vec::new())
            });
            if !p.room.is_empty() {
                c.room.clone_from(&p.room);
            }
            *nodes.entry(p.node.clone()).or_default() += 1;
            if !p.bridge.is_empty() && !c.bridges.contains(&p.bridge) {
                c.bridges.push(p.bridge.clone());
            }
            if p.media_ms.is_some() {
                joined += 1;
            }
            if p.outcome == Outcome::Completed {
                completed += 1;
                c.completed += 1;
                if let Some(j) = p.join_ms {
                    joins.push(j as f32);
                    c_joins.push(j as f32);
                    tl.join_s.push(j as f64 / 1000.0);
                }
            } else {
                c.failed += 1;
                if p.media_ms.is_some() {
                    lost += 1;
                }
                failures.push(Failure {
                    participant: p.participant.to_string(),
                    conference: p.conference,
                    reason: p.reason.clone(),
                    screenshot: None,
                    console_log: None,
                });
            }
        }
        let conferences = confs
            .into_values()
            .map(|(mut c, mut j)| {
                c.scheduled = c.scheduled.max(c.completed + c.failed);
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
        // Participants still in the call (no final row yet): the timeline says whether they joined
        // with media and how long joining took.
        let recorded: BTreeSet<String> = self
            .participants
            .iter()
            .map(|p| p.participant.to_string())
            .collect();
        for (id, t) in &self.timeline {
            if recorded.contains(id) || t.failed || !self.media.contains(id) {
                continue;
            }
            joined += 1;
            if let (Some(n), Some(j)) = (t.navigate, t.joined) {
                joins.push((j - n).num_milliseconds() as f32);
            }
        }
        let scheduled = self.info.scheduled.max(self.participants.len());
        let participants = Participants {
            scheduled,
            recorded: self.participants.len(),
            joined,
            completed,
            failed: self.participants.len() - completed,
            lost,
            join_ms_p50: percentile(&mut joins, 0.5),
            join_ms_p95: percentile(&mut joins, 0.95),
            join_ratio: (scheduled > 0).then(|| joined as f64 / scheduled as f64),
        };
        let generators = nodes
            .into_iter()
            .map(|(n, c)| format!("{n} ({c} participants)"))
            .collect();
        (participants, conferences, failures, generators)
    }

    /// Client media quality in the window.
    fn client(&mut self) -> Client {
        let all = &mut self.all;
        Client {
            window: self.window.clone(),
            recv_video_samples: all.fps.len(),
            recv_fps_p50: percentile(&mut all.fps, 0.5),
            recv_fps_p5: percentile(&mut all.fps, 0.05),
            recv_bitrate_kbps_p50: percentile(&mut all.bitrate, 0.5),
            loss_p95: percentile(&mut all.loss, 0.95),
            jitter_ms_p95: percentile(&mut all.jitter, 0.95),
            rtt_ms_p50: percentile(&mut all.rtt, 0.5),
            rtt_ms_p95: percentile(&mut all.rtt, 0.95),
            send_fps_p50: percentile(&mut self.send_fps, 0.5),
        }
    }

    /// The seed-style table row.
    fn table(&mut self, p: &Participants, client: &Client, bridges: &[Bridge]) -> Table {
        let worst = |f: fn(&Bridge) -> Option<f64>| bridges.iter().filter_map(f).fold(None, max);
        Table {
            participants_total: p.scheduled,
            generator_cpu_ratio: self.generator_max,
            video_received: self
                .resolutions
                .iter()
                .max_by_key(|(_, n)| **n)
                .map(|((w, h), _)| format!("{w}x{h}")),
            recv_fps_p50: client.recv_fps_p50,
            recv_fps_p5: client.recv_fps_p5,
            audio_loss_p95: percentile(&mut self.audio_loss, 0.95),
            audio_concealed_p95: percentile(&mut self.audio_concealed, 0.95),
            participants_stable: p.completed,
            participants_lost: p.lost,
            jvb_max_memory_mib: worst(|b| b.max_memory_mib),
            jvb_max_cpu_cores: worst(|b| b.max_cpu_cores),
            jvb_max_tx_mbytes_per_s: worst(|b| b.max_tx_mbytes_per_s),
            jvb_cpu_throttled_ratio: worst(|b| b.max_cpu_throttled_ratio),
        }
    }

    /// What was tested.
    fn tested(&self, generators: Vec<String>) -> Tested {
        let end = self
            .info
            .ended_at
            .as_deref()
            .and_then(parse_ts)
            .or(self.last_ts);
        let duration_s = end.map(|e| self.secs(e));
        super::tested::tested(&self.info, &self.scenario, duration_s, generators)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RunInfo {
        RunInfo {
            format_version: crate::results::FORMAT_VERSION,
            tool_version: "test".into(),
            scenario: "s".into(),
            target_kind: "janus".into(),
            target: String::new(),
            webdriver: String::new(),
            fidelity: crate::results::Fidelity {
                page: "p".into(),
                video: "v".into(),
                audio: "a".into(),
                receive_audio: true,
                receive_video: "decode".into(),
                participants_per_browser: 1,
                participants_per_page: 1,
            },
            started_at: "2026-01-01T00:00:00.000Z".into(),
            ended_at: None,
            outcome: RunOutcome::Completed,
            exit_reason: String::new(),
            scheduled: 10,
            completed: 10,
            failed: 0,
            valid: true,
            invalid_reasons: Vec::new(),
            metric_gaps: Vec::new(),
        }
    }

    /// The report used to default audio senders to the video senders; the scheduler defaults them to
    /// every participant, and so does the summary now (it reads the same typed scenario).
    #[test]
    fn audio_senders_default_to_every_participant_like_the_schedule() {
        let text = "[target]\nkind = \"janus\"\nurl = \"http://127.0.0.1:8088/janus\"\n\
                    [load]\nconferences = 2\nparticipants_per_conference = 5\nvideo_senders = 2\nduration = \"30s\"\n";
        let scenario = Scenario::from_results(text).unwrap();
        let scheduled_audio = crate::schedule::expand(&scenario.load)
            .iter()
            .filter(|p| p.conference == 0 && p.role.sends_audio())
            .count() as u64;
        let (s, _) = Aggregator::new(info(), scenario, None).finish();
        assert_eq!(s.tested.video_senders, Some(2));
        assert_eq!(s.tested.audio_senders, Some(5));
        assert_eq!(s.tested.audio_senders, Some(scheduled_audio));
        assert_eq!(
            s.conferences.len(),
            2,
            "every scheduled conference is listed"
        );
        assert_eq!(s.conferences[1].room, "loadtest1");
    }
}
