//! The files of a growing run (`loadtest limit`): `steps.csv` (one row per evaluated window),
//! `step_bridges.csv` (each bridge in each window) and `limit.json` (how the search ended).

use serde::{Deserialize, Serialize};

/// `steps.csv`.
pub const STEPS_CSV: &str = "steps.csv";
/// `step_bridges.csv`.
pub const STEP_BRIDGES_CSV: &str = "step_bridges.csv";
/// `limit.json`.
pub const LIMIT_JSON: &str = "limit.json";

/// How a window of a step was judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// Every service level held.
    #[default]
    Holds,
    /// A service level was missed (or could not be measured).
    Fails,
    /// The load generators, not the server, were the bottleneck: the window says nothing of the server.
    GeneratorBound,
}

/// One evaluated window of a step: the load, the service-level figures, the verdict.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepRow {
    /// Step number (1-based, in the order the steps ran).
    pub step: u32,
    /// 1, or 2 for the window that confirmed a failing step.
    pub window: u32,
    /// The value of what grows (`[limit] grow`).
    pub load: u32,
    /// Conferences in the call.
    pub conferences: u32,
    /// Participants in each conference.
    pub participants_per_conference: u32,
    /// Participants in the call (conferences × participants per conference).
    pub participants: u32,
    /// Window start (RFC 3339).
    pub window_from: String,
    /// Window end (RFC 3339).
    pub window_to: String,
    /// Joined with media / scheduled so far (0..1).
    pub join_ratio: Option<f64>,
    /// Join time p95 of those who joined so far, ms.
    pub join_ms_p95: Option<f64>,
    /// Received video frame rate in the window, median.
    pub recv_fps_p50: Option<f64>,
    /// Received video frame rate in the window, 5th percentile.
    pub recv_fps_p5: Option<f64>,
    /// Received video bitrate in the window, median, kbit/s.
    #[serde(default)]
    pub recv_bitrate_kbps_p50: Option<f64>,
    /// `recv_bitrate_kbps_p50` as a share of the first step's (`[limit] min_recv_bitrate_ratio`).
    #[serde(default)]
    pub recv_bitrate_ratio: Option<f64>,
    /// Received packet loss in the window, 95th percentile (0..1).
    pub loss_p95: Option<f64>,
    /// Round-trip time in the window, 95th percentile, ms.
    pub rtt_ms_p95: Option<f64>,
    /// Highest load-generator CPU in the window (0..1).
    pub generator_cpu_ratio: Option<f64>,
    /// The busiest bridge's CPU in the window, cores.
    pub bridge_cpu_cores: Option<f64>,
    /// The busiest bridge's transmit rate in the window, MB/s.
    pub bridge_tx_mbytes_per_s: Option<f64>,
    /// End-to-end video delay in the window, 95th percentile, ms (`video_quality.csv`).
    #[serde(default)]
    pub video_delay_ms_p95: Option<f64>,
    /// Share of watched received video that was frozen in the window (0..1).
    #[serde(default)]
    pub freeze_share: Option<f64>,
    /// PSNR of received video in the window, 5th percentile, dB.
    #[serde(default)]
    pub video_psnr_db_p5: Option<f64>,
    /// How the window was judged.
    pub verdict: StepVerdict,
    /// Why it failed: the thresholds missed, or the guard's reasons.
    pub reason: String,
}

/// One bridge in one window of a step.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepBridgeRow {
    /// Step number.
    pub step: u32,
    /// Window within the step.
    pub window: u32,
    /// Bridge name.
    pub bridge: String,
    /// Participants whose media went through it (so far).
    pub participants: usize,
    /// Highest CPU in the window, cores.
    pub max_cpu_cores: Option<f64>,
    /// Highest transmit rate in the window, MB/s.
    pub max_tx_mbytes_per_s: Option<f64>,
}

/// Why a limit search stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// A step failed its service levels (confirmed): the limit is the last step that held.
    LimitFound,
    /// The largest load held.
    MaximumHeld,
    /// The load generators saturated: no server-side answer.
    GeneratorBound,
    /// The grid had no free slots for the next step: no server-side answer.
    GridExhausted,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Stop {
    /// Whether the search answered for the server (exit 0) or could not (exit 1).
    pub fn answered(self) -> bool {
        matches!(self, Stop::LimitFound | Stop::MaximumHeld)
    }
}

/// `limit.json`: how a limit search ended, in one line and in figures.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitInfo {
    /// What grew.
    pub grow: String,
    /// Why the search stopped.
    pub stopped: Stop,
    /// The largest load (value of what grows) that held, if any.
    pub held: Option<u32>,
    /// Participants at that load.
    pub held_participants: Option<u32>,
    /// The smallest load that failed, if any.
    pub failed: Option<u32>,
    /// Participants at that load.
    pub failed_participants: Option<u32>,
    /// The verdict in one line.
    pub verdict: String,
}
