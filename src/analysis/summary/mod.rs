//! The run's numbers, streamed out of a results directory: one pass over each CSV, memory bounded by
//! the number of samples kept for percentiles (4 bytes each), never by the file size.
//!
//! Percentiles are nearest-rank ([`crate::stats`]). Client figures come from the steady in-call window
//! ([`super::window`]) when the run has one, else from every sample. Shares are ratios (0..1) here; only
//! printed text shows percent.

mod aggregate;
mod bag;
pub mod cohorts;
pub mod recovery;
pub mod seen;
mod tested;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use aggregate::Aggregator;
pub use seen::{Video, VideoFigures, VideoGroup};

use super::window;
use crate::results::{
    self, ClientStatRow, EventRow, ParticipantRow, ReadError, RunOutcome, ServerMetricRow,
};

/// The row of the seed's hand-made results table, filled from measurements. The names are the
/// observation CSV's (`data/seed-loadtest-observations.csv`, docs/glossary.md); `None` where the run had
/// no such source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Table {
    /// Participants scheduled.
    pub participants_total: usize,
    /// Highest load-generator CPU use in the steady window, share of all its cores (0..1).
    pub generator_cpu_ratio: Option<f64>,
    /// Most common received video resolution, `WxH`.
    pub video_received: Option<String>,
    /// Median received video frame rate, fps.
    pub recv_fps_p50: Option<f64>,
    /// 5th-percentile received video frame rate, fps.
    pub recv_fps_p5: Option<f64>,
    /// 95th-percentile received audio packet loss (0..1).
    pub audio_loss_p95: Option<f64>,
    /// 95th-percentile share of received audio that was concealed (synthesised) (0..1).
    pub audio_concealed_p95: Option<f64>,
    /// Participants that stayed until the end.
    pub participants_stable: usize,
    /// Participants that joined with media and were lost later.
    pub participants_lost: usize,
    /// Highest memory of one bridge, MiB.
    pub jvb_max_memory_mib: Option<f64>,
    /// Highest CPU of one bridge, cores.
    pub jvb_max_cpu_cores: Option<f64>,
    /// Highest transmit rate of one bridge, MB/s (10⁶ bytes per second).
    pub jvb_max_tx_mbytes_per_s: Option<f64>,
    /// Highest CFS throttling of a bridge, share of periods (0..1).
    pub jvb_cpu_throttled_ratio: Option<f64>,
}

/// Participant counts and join times.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Participants {
    /// In the schedule.
    pub scheduled: usize,
    /// With a final row in participants.csv.
    pub recorded: usize,
    /// Joined with media flowing (whatever happened later).
    pub joined: usize,
    /// Completed: stayed their whole time and hung up.
    pub completed: usize,
    /// Failed (any reason).
    pub failed: usize,
    /// Joined with media, then failed.
    pub lost: usize,
    /// Join time (navigation to in the room), median, ms.
    pub join_ms_p50: Option<f64>,
    /// Join time, 95th percentile, ms.
    pub join_ms_p95: Option<f64>,
    /// Joined with media, share of scheduled (0..1).
    pub join_ratio: Option<f64>,
}

/// Client-side media quality over the window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Client {
    /// The window the numbers come from, or `None` for the whole run.
    pub window: Option<window::Window>,
    /// Received video samples with a frame rate.
    pub recv_video_samples: usize,
    /// Received video frame rate, median, fps.
    pub recv_fps_p50: Option<f64>,
    /// Received video frame rate, 5th percentile, fps.
    pub recv_fps_p5: Option<f64>,
    /// Received video bitrate, median, kbit/s.
    pub recv_bitrate_kbps_p50: Option<f64>,
    /// Received packet loss (0..1), 95th percentile, audio and video.
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
    pub max_memory_mib: Option<f64>,
    /// Highest transmit rate, MB/s.
    pub max_tx_mbytes_per_s: Option<f64>,
    /// Highest CPU throttling, share of periods (0..1).
    pub max_cpu_throttled_ratio: Option<f64>,
}

/// One conference.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Conference {
    /// Index.
    pub conference: u32,
    /// Room name.
    pub room: String,
    /// Participants scheduled.
    pub scheduled: usize,
    /// Completed.
    pub completed: usize,
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
    /// Page, camera, microphone, whether audio is received, what is done with received video, and
    /// how participants were packed into browsers.
    pub fidelity: String,
    /// Received video was discarded before decoding: decoded fps and picture figures were not measured.
    #[serde(default)]
    pub video_discarded: bool,
    /// WebDriver endpoint.
    pub webdriver: String,
    /// Load generators (participants.csv `node`), each with its participant count.
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
    pub outcome: RunOutcome,
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
    pub table: Table,
    /// Participants.
    pub participants: Participants,
    /// Client media quality.
    pub client: Client,
    /// Bridges.
    pub bridges: Vec<Bridge>,
    /// Conferences.
    pub conferences: Vec<Conference>,
    /// Conferences and participants per shard, when bridge names carry one (`shard-<k>-jvb-<i>`).
    #[serde(default)]
    pub shards: Vec<Shard>,
    /// Failed participants.
    pub failures: Vec<Failure>,
    /// The limit search, when the run was one (`loadtest limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<super::limit::LimitSummary>,
    /// What people saw (`video_quality.csv`), when the run measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Video>,
    /// Per cohort (empty when the scenario has no `[[cohort]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cohorts: Vec<cohorts::CohortSummary>,
    /// Disruptions and the recovery after them (absent without `[[disruption]]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disruptions: Option<recovery::Disruptions>,
}

/// One shard of a sharded deployment (`deploy/` names bridges `shard-<k>-jvb-<i>`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Shard {
    /// `shard-<k>`.
    pub shard: String,
    /// Conferences with a participant on one of its bridges.
    pub conferences: usize,
    /// Participants attributed to its bridges.
    pub participants: usize,
}

/// The shard a bridge name carries (`shard-3-jvb-0` → `shard-3`; a pod name with a suffix too).
pub fn shard_of(bridge: &str) -> Option<String> {
    let rest = bridge
        .find("shard-")
        .map(|i| &bridge[i + "shard-".len()..])?;
    let k: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!k.is_empty() && rest[k.len()..].starts_with("-jvb")).then(|| format!("shard-{k}"))
}

/// Conferences and participants per shard, from the conferences' and bridges' attributions.
pub fn shards(conferences: &[Conference], bridges: &[Bridge]) -> Vec<Shard> {
    let mut out: BTreeMap<String, Shard> = BTreeMap::new();
    for b in bridges {
        if let Some(k) = shard_of(&b.name) {
            let e = out.entry(k.clone()).or_insert_with(|| Shard {
                shard: k,
                ..Shard::default()
            });
            e.participants += b.participants;
        }
    }
    for c in conferences {
        let mut ks: Vec<String> = c.bridges.iter().filter_map(|b| shard_of(b)).collect();
        ks.sort();
        ks.dedup();
        for k in ks {
            if let Some(e) = out.get_mut(&k) {
                e.conferences += 1;
            }
        }
    }
    out.into_values().collect()
}

/// A chart series: (seconds since the run started, value).
pub type Series = Vec<(f64, f64)>;

/// Time series for the charts, in the units the charts print.
#[derive(Debug, Clone, Default)]
pub struct Timelines {
    /// Participants in the call (media flowing), stepwise.
    pub in_call: Series,
    /// Join times of joined participants, seconds.
    pub join_s: Vec<f64>,
    /// Per time bucket: received fps p50.
    pub recv_fps_p50: Series,
    /// Per time bucket: received fps p5.
    pub recv_fps_p5: Series,
    /// Per time bucket: received video bitrate p50, kbit/s.
    pub recv_bitrate_p50: Series,
    /// Per time bucket: received loss p95, percent (printed).
    pub loss_pct_p95: Series,
    /// Per time bucket: jitter p95, ms.
    pub jitter_ms_p95: Series,
    /// Per time bucket: RTT p50, ms.
    pub rtt_ms_p50: Series,
    /// Per bridge: CPU cores.
    pub bridge_cpu: BTreeMap<String, Series>,
    /// Per bridge: memory, MiB.
    pub bridge_mem: BTreeMap<String, Series>,
    /// Per bridge: transmit, MB/s.
    pub bridge_tx: BTreeMap<String, Series>,
    /// Per load generator: CPU use, percent of all cores (printed).
    pub generator_cpu_pct: BTreeMap<String, Series>,
    /// Per time bucket: end-to-end video delay p95, ms.
    pub video_delay_ms_p95: Series,
    /// Per time bucket: freeze share of received video, percent (printed).
    pub freeze_pct: Series,
}

/// Stream a results directory into its summary and chart series.
pub fn summarize(dir: &Path) -> Result<(Summary, Timelines), ReadError> {
    let info = results::read_run(dir)?;
    let scenario = results::read_scenario(dir)?;
    let window = window::steady(dir)?;
    let mut agg = Aggregator::new(info, scenario, window);
    results::rows(dir, "participants.csv", |p: ParticipantRow| {
        agg.participant(p)
    })?;
    results::rows(dir, "events.csv", |e: EventRow| agg.event(e))?;
    results::rows(dir, "client_stats.csv", |r: ClientStatRow| agg.stat(&r))?;
    results::rows(dir, "server_metrics.csv", |r: ServerMetricRow| {
        agg.metric(&r)
    })?;
    results::rows(dir, results::VIDEO_QUALITY_CSV, |r| agg.video(&r))?;
    let (mut summary, tl) = agg.finish();
    summary.limit = super::limit::read(dir)?;
    for f in &mut summary.failures {
        let png = format!("artifacts/{}.png", f.participant);
        let log = format!("artifacts/{}.console.log", f.participant);
        f.screenshot = dir.join(&png).is_file().then_some(png);
        f.console_log = dir.join(&log).is_file().then_some(log);
    }
    Ok((summary, tl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_come_from_bridge_names() {
        assert_eq!(shard_of("shard-3-jvb-0").as_deref(), Some("shard-3"));
        assert_eq!(
            shard_of("jitsi/shard-12-jvb-1-abcde").as_deref(),
            Some("shard-12")
        );
        assert_eq!(shard_of("jvb-fixture"), None);
        assert_eq!(shard_of("shard-x-jvb-0"), None);
        let bridge = |name: &str, n| Bridge {
            name: name.into(),
            participants: n,
            ..Default::default()
        };
        let conf = |c, b: &[&str]| Conference {
            conference: c,
            bridges: b.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let s = shards(
            &[
                conf(0, &["shard-0-jvb-0"]),
                conf(1, &["shard-0-jvb-1"]),
                conf(2, &["shard-1-jvb-0"]),
            ],
            &[
                bridge("shard-0-jvb-0", 4),
                bridge("shard-0-jvb-1", 3),
                bridge("shard-1-jvb-0", 5),
                bridge("10.0.0.9", 2),
            ],
        );
        assert_eq!(
            s,
            [
                Shard {
                    shard: "shard-0".into(),
                    conferences: 2,
                    participants: 7
                },
                Shard {
                    shard: "shard-1".into(),
                    conferences: 1,
                    participants: 5
                },
            ]
        );
    }
}
