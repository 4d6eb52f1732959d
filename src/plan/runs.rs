//! Results directories as observations: the report's summary row (the seed table's columns, filled from
//! measurements) plus the load shape of the scenario, for the busiest bridge.

use std::collections::HashMap;
use std::path::Path;

use super::model::{Load, Slice};
use super::observations::{GeneratorSample, Observation};
use crate::analysis::thresholds::Status;
use crate::analysis::{Summary, summarize as summarize_run};
use crate::results::names::{SourceName, metric};
use crate::results::{self, ServerMetricRow, StepVerdict};
use crate::scenario::density::{Fidelity, Mode, Packing};
use crate::scenario::{ReceiveVideo, Scenario};
use crate::stats;

/// A results directory the planner cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{dir}: {detail}")]
pub struct RunError {
    /// The results directory.
    pub dir: String,
    /// What is missing and what to do.
    pub detail: String,
}

/// What a run measured that the summary row does not hold.
#[derive(Debug, Default)]
struct Extra {
    /// CPU limit of a bridge pod, cores (from `jvb_cpu_cores / jvb_cpu_limit_ratio`).
    jvb_limit: Vec<f64>,
    /// Cores of each load generator (`generator_cores`), by source.
    generator_cores: HashMap<String, f64>,
}

fn extra(dir: &Path) -> Result<Extra, results::ReadError> {
    let mut e = Extra::default();
    let mut cores: HashMap<(String, SourceName, String), f64> = HashMap::new();
    let mut ratios: Vec<((String, SourceName, String), f64)> = Vec::new();
    results::rows(dir, "server_metrics.csv", |r: ServerMetricRow| {
        let key = (r.ts.clone(), r.source.clone(), r.labels.clone());
        match r.metric.as_str() {
            metric::JVB_CPU_CORES => {
                cores.insert(key, r.value);
            }
            metric::JVB_CPU_LIMIT_RATIO if r.value > 0.0 => ratios.push((key, r.value)),
            metric::GENERATOR_CORES => {
                e.generator_cores.insert(r.source.to_string(), r.value);
            }
            _ => {}
        }
    })?;
    for (key, ratio) in ratios {
        if let Some(c) = cores.get(&key).filter(|c| **c > 0.0) {
            e.jvb_limit.push(c / ratio);
        }
    }
    Ok(e)
}

/// The media preset's name from the run's fidelity (`small (320x240@15)` → `small`).
pub fn preset_of(video: &str) -> String {
    video
        .split_whitespace()
        .next()
        .unwrap_or("unknown")
        .to_string()
}

/// `channelLastN` of a Jitsi run's URL overrides.
fn last_n(scenario: &Scenario) -> Option<u32> {
    let v = scenario
        .target
        .jitsi
        .config
        .get("channelLastN")?
        .as_integer()?;
    u32::try_from(v).ok()
}

/// The run's summary, its scenario and the fidelity its generators ran at.
fn summarize(dir: &Path) -> Result<(Summary, Scenario, Fidelity), RunError> {
    let err = |e: results::ReadError| RunError {
        dir: dir.display().to_string(),
        detail: e.to_string(),
    };
    let (s, _) = summarize_run(dir).map_err(err)?;
    let scenario = results::read_scenario(dir).map_err(err)?;
    let info = results::read_run(dir).map_err(err)?;
    let fidelity = fidelity_of(&info.fidelity, &scenario);
    Ok((s, scenario, fidelity))
}

/// The density table's key of a run: run.json's `fidelity` (preset, receive fidelity, packing) and
/// whether its scenario had audio senders.
pub fn fidelity_of(f: &results::Fidelity, scenario: &Scenario) -> Fidelity {
    Fidelity {
        video: preset_of(&f.video),
        audio: scenario.load.audio_sender_count() > 0,
        receive_audio: f.receive_audio,
        mode: Mode {
            packing: Packing {
                per_browser: f.participants_per_browser.max(1),
                per_page: f.participants_per_page.max(1),
            },
            receive_video: if f.decoded_video() {
                ReceiveVideo::Decode
            } else {
                ReceiveVideo::Discard
            },
        },
    }
}

/// The observations of a run: its busiest bridge, or for a limit search one per step window (a step
/// that failed its service levels is censored: the load it carried demanded at least that CPU). The
/// note says when the saturation guard marked the run invalid: the load generators could not deliver
/// the planned load, so its CPU is a lower bound on that shape's demand (censored as well).
pub fn observations(dir: &Path) -> Result<(Vec<Observation>, Option<String>), RunError> {
    let (s, scenario, _) = summarize(dir)?;
    match &s.limit {
        Some(l) => steps(dir, &scenario, l),
        None => observation(dir, &s, &scenario).map(|(o, n)| (vec![o], n)),
    }
}

/// A bridge's CPU limit from a run's metrics: the pod limit, or this machine's cores for a local
/// media server.
fn cpu_limit(dir: &Path) -> Result<f64, RunError> {
    let err = |detail: String| RunError {
        dir: dir.display().to_string(),
        detail,
    };
    let x = extra(dir).map_err(|e| err(e.to_string()))?;
    let limit = if let Some(m) = stats::median(&x.jvb_limit) {
        m
    } else {
        // A process on this machine may use every core of it.
        x.generator_cores.values().copied().fold(0.0, f64::max)
    };
    if limit <= 0.0 {
        return Err(err(
            "server_metrics.csv: expected the bridge's CPU limit (jvb_cpu_limit_ratio) or, for a \
             local media server, this machine's generator_cores"
                .into(),
        ));
    }
    Ok(limit)
}

/// The slices on the busiest of `bridges` bridges, for `conferences` conferences of `size`.
fn busiest_load(scenario: &Scenario, conferences: u64, size: u32, bridges: u64) -> Load {
    let load = &scenario.load;
    let on_busiest = conferences.div_ceil(bridges.max(1)).max(1) as usize;
    let slice = Slice {
        size,
        local: size,
        senders: load.video_sender_count().min(size),
        audio_senders: load.audio_sender_count().min(size),
        last_n: last_n(scenario),
    };
    Load::of(&vec![slice; on_busiest])
}

fn run_name(dir: &Path) -> String {
    dir.file_name()
        .map_or_else(|| dir.display().to_string(), |n| n.to_string_lossy().into())
}

/// One observation per step of a limit search (the window that decided it).
fn steps(
    dir: &Path,
    scenario: &Scenario,
    l: &crate::analysis::limit::LimitSummary,
) -> Result<(Vec<Observation>, Option<String>), RunError> {
    let limit = cpu_limit(dir)?;
    let mut out = Vec::new();
    for r in l.deciding() {
        let (Some(cpu), true) = (r.bridge_cpu_cores, r.verdict != StepVerdict::GeneratorBound)
        else {
            continue;
        };
        let bridges = l
            .bridges
            .iter()
            .filter(|b| b.step == r.step && b.window == r.window && b.max_cpu_cores.is_some())
            .count() as u64;
        let failed = r.verdict == StepVerdict::Fails;
        out.push(Observation {
            id: format!("{} step {}", run_name(dir), r.step),
            source: dir.display().to_string(),
            load: busiest_load(
                scenario,
                u64::from(r.conferences),
                r.participants_per_conference,
                bridges,
            ),
            participants_per_conference: r.participants_per_conference,
            cpu_cores: cpu,
            cpu_limit_cores: limit,
            egress_bytes_per_second: r.bridge_tx_mbytes_per_s.map(|m| m * 1e6),
            throttled_ratio: None,
            stable: !failed,
            censored: failed || Observation::is_saturated(cpu, limit, None, true),
            generator: None,
        });
    }
    if out.is_empty() {
        return Err(RunError {
            dir: dir.display().to_string(),
            detail: "steps.csv: no step with bridge CPU that the generators did not bound".into(),
        });
    }
    Ok((out, None))
}

/// The busiest bridge of a fixed run as an observation.
fn observation(
    dir: &Path,
    s: &Summary,
    scenario: &Scenario,
) -> Result<(Observation, Option<String>), RunError> {
    let err = |detail: String| RunError {
        dir: dir.display().to_string(),
        detail,
    };
    let note = (!s.invalid_reasons.is_empty()).then(|| {
        format!(
            "{}: the load generators were the bottleneck ({}); its bridge CPU is used as a lower bound",
            dir.display(),
            s.invalid_reasons.join("; ")
        )
    });
    let load = &scenario.load;
    let cpu = s.table.jvb_max_cpu_cores.ok_or_else(|| {
        err(
            "server_metrics.csv: expected bridge CPU (jvb_cpu_cores or process_cpu_cores rows); \
             add [[metrics.process]] for a local media server or Prometheus for JVBs"
                .into(),
        )
    })?;
    let limit = cpu_limit(dir)?;
    let bridges = s
        .bridges
        .iter()
        .filter(|b| b.max_cpu_cores.is_some())
        .count() as u64;
    let size = load.participants_per_conference;
    let throttled = s.table.jvb_cpu_throttled_ratio;
    // What people saw counts too: a run that missed a quality threshold was saturated.
    let stable =
        s.participants.failed == 0 && s.participants.lost == 0 && !missed_quality(scenario, s);
    let valid = s.invalid_reasons.is_empty();
    Ok((
        Observation {
            id: run_name(dir),
            source: dir.display().to_string(),
            load: busiest_load(scenario, u64::from(load.conferences), size, bridges),
            participants_per_conference: size,
            cpu_cores: cpu,
            cpu_limit_cores: limit,
            egress_bytes_per_second: s.table.jvb_max_tx_mbytes_per_s.map(|m| m * 1e6),
            throttled_ratio: throttled,
            stable,
            censored: !valid || Observation::is_saturated(cpu, limit, throttled, stable),
            // Generator cost comes from --calibrate runs only: a run's generators may be a grid.
            generator: None,
        },
        note,
    ))
}

/// Whether the run missed one of the scenario's thresholds on what people saw
/// (`max_video_delay_p95`, `max_freeze_share`, `min_video_psnr_p5`).
fn missed_quality(scenario: &Scenario, s: &Summary) -> bool {
    const QUALITY: [&str; 3] = [
        "max_video_delay_p95",
        "max_freeze_share",
        "min_video_psnr_p5",
    ];
    crate::analysis::thresholds::evaluate(&scenario.thresholds, s)
        .iter()
        .any(|c| QUALITY.contains(&c.threshold.as_str()) && c.status == Status::Fail)
}

/// The load generators' cost of a calibration run (all its participants on the generators whose
/// `generator_cpu_ratio` it recorded) at the fidelity it ran (run.json), and a note when the generators were saturated: the figure is
/// then a lower bound on the cost.
pub fn calibration(dir: &Path) -> Result<(GeneratorSample, Option<String>), RunError> {
    let err = |detail: String| RunError {
        dir: dir.display().to_string(),
        detail,
    };
    let (s, _, fidelity) = summarize(dir)?;
    let ratio = s.table.generator_cpu_ratio.ok_or_else(|| {
        err(
            "server_metrics.csv: expected generator_cpu_ratio rows in the steady window \
             (a run with the local driver and [metrics] this_machine = true)"
                .into(),
        )
    })?;
    let cores: f64 = extra(dir)
        .map_err(|e| err(e.to_string()))?
        .generator_cores
        .values()
        .sum();
    if cores <= 0.0 {
        return Err(err(
            "server_metrics.csv: expected generator_cores rows".into()
        ));
    }
    if s.participants.completed == 0 {
        return Err(err(
            "participants.csv: no participant completed, nothing to divide by".into(),
        ));
    }
    let note = (!s.invalid_reasons.is_empty()).then(|| {
        format!(
            "{}: calibration on saturated load generators ({}); its cost per participant is a lower bound",
            dir.display(),
            s.invalid_reasons.join("; ")
        )
    });
    Ok((
        GeneratorSample {
            fidelity,
            participants: s.participants.completed as f64,
            cores: ratio * cores,
        },
        note,
    ))
}
