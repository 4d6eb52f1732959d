//! `[thresholds]` and `[guard]`: how a run, or a step of a limit search, is judged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Dur;

/// `[thresholds]`: kept in the resolved scenario and evaluated by `loadtest report`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Minimum share of planned participants that joined with media (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_join_ratio: Option<f64>,
    /// Maximum p95 join time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_join_time_p95: Option<Dur>,
    /// Minimum median received video frame rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_recv_fps_p50: Option<f64>,
    /// Minimum 5th-percentile received video frame rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_recv_fps_p5: Option<f64>,
    /// Maximum p95 received packet-loss ratio (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loss_p95: Option<f64>,
    /// Maximum p95 round-trip time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rtt_p95: Option<Dur>,
    /// Maximum load-generator CPU use (0..1 of all cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_generator_cpu: Option<f64>,
    /// Maximum p95 end-to-end video delay (capture to decoded frame in the receiving page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_video_delay_p95: Option<Dur>,
    /// Maximum share of watched received-video time that was frozen (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_freeze_share: Option<f64>,
    /// Minimum 5th-percentile PSNR of received video against the sent picture (dB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_video_psnr_p5: Option<f64>,
    /// Maximum p95 recovery time after disruptions (participants that lost media and got it back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_recovery_p95: Option<Dur>,
    /// Maximum participants that lost media in a disruption and never got it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_never_recovered: Option<u32>,
    /// Thresholds of one cohort (`[thresholds.cohort.<name>]`): the keys above that have a
    /// per-cohort figure.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cohort: BTreeMap<String, Thresholds>,
}

impl Thresholds {
    /// The keys set here that have no per-cohort figure (refused in `[thresholds.cohort.<name>]`).
    pub fn not_per_cohort(&self) -> Vec<&'static str> {
        [
            ("max_generator_cpu", self.max_generator_cpu.is_some()),
            ("max_recovery_p95", self.max_recovery_p95.is_some()),
            ("max_never_recovered", self.max_never_recovered.is_some()),
            ("max_video_delay_p95", self.max_video_delay_p95.is_some()),
            ("max_freeze_share", self.max_freeze_share.is_some()),
            ("min_video_psnr_p5", self.min_video_psnr_p5.is_some()),
            ("cohort", !self.cohort.is_empty()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    }
}

/// `[guard]`: a run whose load generators were the bottleneck measured the generators, not the server;
/// it is marked `invalid` with the reason.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    /// Generator CPU use (0..1) above which a sample counts as saturated.
    #[serde(default = "default_guard_cpu")]
    pub max_generator_cpu: f64,
    /// Share of the run's generator samples that may be saturated.
    #[serde(default = "default_guard_share")]
    pub max_saturated_share: f64,
    /// Share of sent-video samples that may report `qualityLimitationReason = cpu`.
    #[serde(default = "default_guard_share")]
    pub max_cpu_limited_share: f64,
    /// Median sender frame rate, as a share of the camera's, under which senders collapsed.
    #[serde(default = "default_guard_fps")]
    pub min_sender_fps_ratio: f64,
}

fn default_guard_cpu() -> f64 {
    0.9
}
fn default_guard_share() -> f64 {
    0.25
}
fn default_guard_fps() -> f64 {
    0.6
}

impl Default for Guard {
    fn default() -> Self {
        Guard {
            max_generator_cpu: default_guard_cpu(),
            max_saturated_share: default_guard_share(),
            max_cpu_limited_share: default_guard_share(),
            min_sender_fps_ratio: default_guard_fps(),
        }
    }
}
