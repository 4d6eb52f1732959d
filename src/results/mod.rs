//! The results directory: the contract between `run`, `report` and `plan`.
//!
//! One typed model for every file, used by the writer ([`ResultsDir`], [`Recorder`]) and by the
//! readers ([`read`]): rows, `run.json`, the names of metrics, sources and events ([`names`]), and the
//! resolved `scenario.toml` read back as a [`crate::scenario::Scenario`]. Every CSV is appended and
//! flushed row by row by one writer task, so a crash or Ctrl-C loses at most the row in flight. The
//! format is documented in `docs/results-format.md`; [`FORMAT_VERSION`] is checked on read, and the
//! previous version is still read.

pub mod labels;
pub mod names;
pub mod quality;
pub mod read;
pub mod steps;
mod writer;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use names::{Event, SourceName};
pub use quality::{VIDEO_QUALITY_CSV, VideoQualityRow};
pub use read::{ReadError, read_csv, read_run, read_scenario, rows};
pub use steps::{LimitInfo, StepBridgeRow, StepRow, StepVerdict, Stop};
pub use writer::{Recorder, ResultsDir, header_of};

use crate::schedule::ParticipantId;

/// Version of the results format written, recorded in `run.json`. Version 1 (the first release) is
/// read too: its old names (`ok`, `passed`, `planned`, old scenario keys) map to the new ones.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version still read.
pub const OLDEST_READ_VERSION: u32 = 1;

/// How a participant ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Joined, media flowed, stayed its whole time and hung up (format 1 wrote `ok`).
    #[serde(alias = "ok")]
    Completed,
    /// Anything else; the row's `reason` says why.
    #[default]
    Failed,
}

/// `participants.csv`: one row per participant, written when its outcome is final.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ParticipantRow {
    /// Participant id (`c0p1`).
    pub participant: ParticipantId,
    /// Conference index.
    pub conference: u32,
    /// Room name.
    pub room: String,
    /// `audio+video`, `video`, `audio` or `receiver`.
    pub role: String,
    /// Where the browser ran: `local` or the grid node URI.
    pub node: String,
    /// Creating the WebDriver session.
    pub session_ms: Option<u64>,
    /// Navigation until the page was loaded.
    pub page_ms: Option<u64>,
    /// Navigation until in the room.
    pub join_ms: Option<u64>,
    /// In the room until ICE connected with the media server (absent before format 2's later
    /// releases, and when no media session ever started, e.g. alone in a Jitsi room).
    #[serde(default)]
    pub ice_ms: Option<u64>,
    /// In the room until media flowed.
    pub media_ms: Option<u64>,
    /// `completed` or `failed`.
    pub outcome: Outcome,
    /// Why it failed (empty when completed).
    pub reason: String,
    /// The media server address its media went through (selected ICE candidate pair).
    pub remote_address: String,
    /// The bridge that address belongs to (a `[[metrics.jvb]]` or `[[metrics.process]]` name), else
    /// the address's IP.
    pub bridge: String,
    /// The step of a growing run (`loadtest limit`) it joined in; empty in a fixed run.
    #[serde(default)]
    pub step: Option<u32>,
    /// The `[[cohort]]` whose network its browser sat behind; empty when none (and in results
    /// written before cohorts existed).
    #[serde(default)]
    pub cohort: String,
}

/// `client_stats.csv`: one row per participant, RTP stream and sample.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientStatRow {
    /// Sample time (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// Participant id.
    pub participant: ParticipantId,
    /// Remote participant of a received stream (empty for sent streams).
    pub peer: String,
    /// `send` or `recv`.
    pub direction: String,
    /// `audio` or `video`.
    pub kind: String,
    /// Bitrate over the last interval, kbit/s.
    pub bitrate_kbps: Option<f64>,
    /// Frames per second over the last interval (from stats timestamps).
    pub fps: Option<f64>,
    /// Frame width.
    pub width: Option<u32>,
    /// Frame height.
    pub height: Option<u32>,
    /// Packets lost, cumulative.
    pub packets_lost: Option<i64>,
    /// Packet loss over the last interval, 0..1.
    pub loss_ratio: Option<f64>,
    /// Jitter, ms.
    pub jitter_ms: Option<f64>,
    /// Round-trip time, ms.
    pub rtt_ms: Option<f64>,
    /// Video freezes, cumulative.
    pub freeze_count: Option<u64>,
    /// Total freeze time, ms, cumulative.
    pub freeze_ms: Option<f64>,
    /// Received audio: share of the interval's played-out samples that were concealed (0..1).
    #[serde(default)]
    pub concealed_ratio: Option<f64>,
    /// Received audio with `[load] speakers = "p59"`: share of the interval the peer was heard
    /// talking (mean power above -40 dBFS, sampled every 100 ms).
    #[serde(default)]
    pub talk_ratio: Option<f64>,
    /// The same, talking as the only remote speaker heard.
    #[serde(default)]
    pub solo_ratio: Option<f64>,
    /// Sender's quality-limitation reason (`none`, `cpu`, `bandwidth`, `other`).
    pub quality_limitation: String,
    /// Remote address of the selected candidate pair (the media server).
    pub remote_address: String,
}

impl ClientStatRow {
    /// A received stream.
    pub fn received(&self) -> bool {
        self.direction == "recv"
    }
    /// A sent stream.
    pub fn sent(&self) -> bool {
        self.direction == "send"
    }
    /// A video stream.
    pub fn video(&self) -> bool {
        self.kind == "video"
    }
}

/// `server_metrics.csv`: one row per metric sample from every source, long format.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerMetricRow {
    /// Sample time (the source's own timestamp when it has one, e.g. Prometheus).
    pub ts: String,
    /// Where it came from ([`SourceName`]).
    pub source: SourceName,
    /// Metric name ([`names::metric`]); the suffix names the unit (`_cores`, `_ratio`, `_bytes`,
    /// `_bytes_per_second`).
    pub metric: String,
    /// `key=value` pairs joined by `;`, sorted by key ([`labels`]).
    pub labels: String,
    /// The value.
    pub value: f64,
}

impl ServerMetricRow {
    /// A row at time `t`.
    pub fn at(
        t: DateTime<Utc>,
        source: &SourceName,
        metric: &str,
        labels: String,
        value: f64,
    ) -> Self {
        ServerMetricRow {
            ts: ts(t),
            source: source.clone(),
            metric: metric.to_string(),
            labels,
            value,
        }
    }
    /// One label's value.
    pub fn label(&self, key: &str) -> Option<String> {
        labels::parse(&self.labels).remove(key)
    }
}

/// `events.csv`: the timeline of every state change and failure.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EventRow {
    /// When (RFC 3339, UTC, milliseconds).
    pub ts: String,
    /// Participant id, or [`names::RUN`] / [`names::METRICS`] for run-level events.
    pub participant: String,
    /// What happened.
    pub event: Event,
    /// Details (never secrets).
    pub detail: String,
}

/// How a run ended, in `run.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Still running, or killed without an end.
    #[default]
    Running,
    /// Every participant completed (format 1 wrote `passed`). The verdict is the report's.
    #[serde(alias = "passed")]
    Completed,
    /// Participants failed.
    Failed,
    /// Ctrl-C or SIGTERM: participants hung up, partial results kept.
    Interrupted,
    /// The infrastructure failed before anyone joined.
    Error,
}

impl RunOutcome {
    /// The name written in `run.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Completed => "completed",
            RunOutcome::Failed => "failed",
            RunOutcome::Interrupted => "interrupted",
            RunOutcome::Error => "error",
        }
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// Results format version.
    pub format_version: u32,
    /// `loadtest` version that wrote it.
    pub tool_version: String,
    /// Scenario name.
    pub scenario: String,
    /// Target kind.
    pub target_kind: String,
    /// Target URL (credentials redacted).
    pub target: String,
    /// WebDriver endpoint (credentials redacted).
    pub webdriver: String,
    /// What produced the numbers: page, media, receive audio.
    pub fidelity: Fidelity,
    /// Start time.
    pub started_at: String,
    /// End time; absent while running or when the run was killed.
    pub ended_at: Option<String>,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// Why it ended that way.
    pub exit_reason: String,
    /// Participants in the schedule (format 1: `planned`).
    #[serde(alias = "planned")]
    pub scheduled: usize,
    /// Participants that completed (format 1: `ok`).
    #[serde(alias = "ok")]
    pub completed: usize,
    /// Participants that failed.
    pub failed: usize,
    /// False when the load generators, not the server, were the bottleneck (see `invalid_reasons`).
    #[serde(default = "default_true")]
    pub valid: bool,
    /// Why the run is invalid.
    #[serde(default)]
    pub invalid_reasons: Vec<String>,
    /// Metric sources that left gaps, with their first error.
    #[serde(default)]
    pub metric_gaps: Vec<String>,
}

fn default_true() -> bool {
    true
}

/// The settings that decide what a number means (stated in the report next to each number).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fidelity {
    /// `janus`, `jitsi app` or `jitsi load-test`.
    pub page: String,
    /// Video senders' camera.
    pub video: String,
    /// Audio senders' microphone.
    pub audio: String,
    /// Whether participants receive audio.
    pub receive_audio: bool,
    /// `decode` or `discard` (`[media] receive_video`; absent before it existed: `decode`).
    #[serde(default = "decode")]
    pub receive_video: String,
    /// Participants per browser session (`[load] participants_per_browser`; absent before: 1).
    #[serde(default = "one")]
    pub participants_per_browser: u32,
    /// Participants per page (`[load] participants_per_page`, clients per page; absent before: 1).
    #[serde(default = "one")]
    pub participants_per_page: u32,
}

fn decode() -> String {
    "decode".into()
}

fn one() -> u32 {
    1
}

impl Fidelity {
    /// False when received video was discarded before decoding: decoded fps and picture figures were
    /// not measured (never read them as zero).
    pub fn decoded_video(&self) -> bool {
        self.receive_video != "discard"
    }
}

/// Current time as written in results.
pub fn now() -> String {
    ts(Utc::now())
}

/// A time as written in results.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A results timestamp back as a time.
pub fn parse_ts(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
