//! From a fitted cost model to a deployment: conferences packed onto bridges under the CPU target and
//! Jicofo's cap, shards for the signalling limit, load servers for the test, and the values the deploy
//! manifests take. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Serialize;

use super::model::{
    CPU_COEFFICIENTS, EGRESS_COEFFICIENTS, Fitted, Load, ModelError, Slice, central_interval,
};
use super::observations::{GeneratorSample, Observation};
use crate::scenario::density::{self, Fidelity};

/// The most participants a plan is made for (every bridge is listed).
pub const MAX_PARTICIPANTS: u32 = 1_000_000;
/// Participants one shard (one Prosody, one Jicofo) is planned for. Prosody runs on one core.
pub const SHARD_PARTICIPANTS: u32 = 500;
/// Default cores of one load server (the seed's generator servers had 16).
pub const LOAD_SERVER_CORES: f64 = 16.0;
/// Presets whose generator cost has a documented figure (docs/benchmarks.md; `scenario::density`).
pub const DOCUMENTED_PRESETS: [&str; 3] = ["tiny", "small", "vga"];

/// What the operator asks for (the command line of `loadtest plan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Participants at the peak, all conferences together.
    pub participants_total: u32,
    /// Participants in each conference.
    pub participants_per_conference: u32,
    /// Participants per conference sending video.
    pub video_senders: u32,
    /// Participants per conference sending audio.
    pub audio_senders: u32,
    /// `channelLastN`; `None` = every video forwarded.
    pub last_n: Option<u32>,
    /// CPU limit of one bridge, cores.
    pub jvb_cpu_limit: f64,
    /// Share of the CPU limit kept free (0..1).
    pub headroom: f64,
    /// Jicofo's `max-bridge-participants`.
    pub max_bridge_participants: u32,
    /// Cores of one load server.
    pub load_server_cores: f64,
}

/// A request that cannot be planned.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlanError {
    /// A flag out of range.
    #[error("--{flag}: expected {expected}, got {got}")]
    Flag {
        /// The flag.
        flag: &'static str,
        /// The accepted range.
        expected: &'static str,
        /// What was given.
        got: String,
    },
    /// The model could not be fitted.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl Request {
    /// Check ranges the types do not.
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |flag, expected, got: String| {
            Err(PlanError::Flag {
                flag,
                expected,
                got,
            })
        };
        if !(1..=MAX_PARTICIPANTS).contains(&self.participants_total) {
            return bad(
                "participants-total",
                "from 1 to 1000000",
                self.participants_total.to_string(),
            );
        }
        if self.participants_per_conference == 0 {
            return bad("participants-per-conference", "at least 1", "0".into());
        }
        for (flag, n) in [
            ("video-senders", self.video_senders),
            ("audio-senders", self.audio_senders),
        ] {
            if n > self.participants_per_conference {
                return bad(flag, "at most --participants-per-conference", n.to_string());
            }
        }
        if !(self.load_server_cores.is_finite() && self.load_server_cores >= 1.0) {
            return bad(
                "load-server-cores",
                "at least 1 core",
                self.load_server_cores.to_string(),
            );
        }
        if !(self.jvb_cpu_limit.is_finite() && self.jvb_cpu_limit > 0.0) {
            return bad(
                "jvb-cpu-limit",
                "a positive number of cores",
                self.jvb_cpu_limit.to_string(),
            );
        }
        if !(0.0..0.95).contains(&self.headroom) {
            return bad(
                "headroom",
                "a share from 0 to 0.95",
                self.headroom.to_string(),
            );
        }
        if self.max_bridge_participants == 0 {
            return bad("max-bridge-participants", "at least 1", "0".into());
        }
        Ok(())
    }

    /// The CPU a bridge is planned to use at most, cores.
    pub fn cpu_target(&self) -> f64 {
        (1.0 - self.headroom) * self.jvb_cpu_limit
    }

    fn slice(&self, size: u32, local: u32) -> Slice {
        Slice {
            size,
            local,
            senders: self.video_senders.min(size),
            audio_senders: self.audio_senders.min(size),
            last_n: self.last_n,
        }
    }
}

/// The fitted CPU and egress models.
#[derive(Debug, Clone)]
pub struct CostModel {
    /// Bridge CPU, cores.
    pub cpu: Fitted,
    /// Bridge egress, bytes per second (`None` with too few egress measurements).
    pub egress: Option<Fitted>,
}

impl CostModel {
    /// Fit both models on the observations.
    pub fn fit(obs: &[Observation]) -> Result<CostModel, ModelError> {
        let cpu = Fitted::new(
            "cpu",
            &CPU_COEFFICIENTS,
            obs.iter().map(Observation::cpu_point).collect(),
        )?;
        let egress = Fitted::new(
            "egress",
            &EGRESS_COEFFICIENTS,
            obs.iter().filter_map(Observation::egress_point).collect(),
        )
        .ok();
        Ok(CostModel { cpu, egress })
    }

    /// Predicted CPU of a bridge, cores.
    pub fn cpu(&self, load: &Load) -> f64 {
        self.cpu.predict(&load.cpu_features())
    }

    /// Predicted egress of a bridge, bytes per second.
    pub fn egress(&self, load: &Load) -> Option<f64> {
        self.egress
            .as_ref()
            .map(|e| e.predict(&load.egress_features()))
    }
}

/// One planned bridge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BridgePlan {
    /// 1-based bridge number.
    pub bridge: usize,
    /// 1-based shard it belongs to.
    pub shard: usize,
    /// Participants on it.
    pub participants: u32,
    /// Conference slices on it (whole conferences unless a conference is split).
    pub conferences: usize,
    /// Predicted CPU, cores.
    pub predicted_cpu_cores: f64,
    /// Central 90 % bootstrap interval of that prediction, cores.
    pub predicted_cpu_cores_interval: [f64; 2],
    /// Predicted egress, bytes per second.
    pub predicted_egress_bytes_per_second: Option<f64>,
    /// Predicted CPU at or above the bridge's CPU limit.
    pub saturated: bool,
}

/// Participants per bridge where a bridge's predicted CPU reaches its limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Knee {
    /// Point estimate.
    pub participants_per_bridge: f64,
    /// Central 90 % bootstrap interval.
    pub interval: [f64; 2],
    /// Participants per bridge the plan allows (CPU target with headroom, Jicofo's cap, whole slices).
    pub planned_participants_per_bridge: u32,
}

/// Load generators for a test of the planned size, per media preset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadServers {
    /// Media preset.
    pub preset: String,
    /// Generator cores per participant.
    pub cores_per_participant: f64,
    /// Where that figure comes from.
    pub source: String,
    /// What the figure was measured at (video preset, audio, receive fidelity, packing).
    pub fidelity: String,
    /// Why the figure does not quite hold for the mode planned for, if it does not.
    pub caveat: Option<String>,
    /// Cores for every participant of the plan.
    pub cores_needed: f64,
    /// Load servers of `--load-server-cores` used up to `1 − headroom`.
    pub load_servers: u32,
}

/// A generator cost per participant for one preset, and what it holds for.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorCost {
    /// Media preset.
    pub preset: String,
    /// Generator cores per participant.
    pub cores_per_participant: f64,
    /// Where it comes from.
    pub source: String,
    /// What it was measured at.
    pub fidelity: Fidelity,
    /// Why it does not quite hold for the mode planned for.
    pub caveat: Option<String>,
}

/// The generator costs for the mode planned for, and the samples of another mode left out (why).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratorCosts {
    /// One per preset.
    pub costs: Vec<GeneratorCost>,
    /// `source: what it measured, and how that differs from the mode planned for`.
    pub left_out: Vec<String>,
}

/// The values `deploy/` takes (read by `loadtest deploy scale --from-plan`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deploy {
    /// JVB replicas per shard for the planned peak.
    pub jvb_replicas: u32,
    /// Autoscaler lower bound per shard: the peak's bridges (running conferences never move to new ones).
    pub hpa_min_replicas: u32,
    /// Autoscaler upper bound per shard: one spare bridge above the peak.
    pub hpa_max_replicas: u32,
    /// Shards.
    pub shards: u32,
}

/// The sizing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sizing {
    /// Conferences (the last one may be smaller).
    pub conferences: u32,
    /// Bridges one conference is spread over (1 unless one conference does not fit a bridge).
    pub bridges_per_conference: u32,
    /// Bridges needed.
    pub jvbs: u32,
    /// Shards needed.
    pub shards: u32,
    /// Where a bridge saturates.
    pub knee: Option<Knee>,
    /// Every bridge.
    pub bridges: Vec<BridgePlan>,
    /// Deploy values.
    pub deploy: Deploy,
}

/// Conference sizes: full ones and a smaller last one.
fn conference_sizes(r: &Request) -> Vec<u32> {
    let full = r.participants_total / r.participants_per_conference;
    let mut v = vec![r.participants_per_conference; full as usize];
    let rest = r.participants_total % r.participants_per_conference;
    if rest > 0 {
        v.push(rest);
    }
    v
}

/// Split `n` into `parts` near-equal parts, largest first.
fn split(n: u32, parts: u32) -> Vec<u32> {
    let (q, r) = (n / parts, n % parts);
    (0..parts).map(|i| q + u32::from(i < r)).collect()
}

/// Size the deployment for a request.
pub fn size(model: &CostModel, r: &Request) -> Sizing {
    let target = r.cpu_target();
    // Split a conference over the fewest bridges on which one slice fits the target and the cap.
    let mut parts = 1;
    loop {
        let m = r.participants_per_conference.div_ceil(parts);
        let fits = m <= r.max_bridge_participants
            && model.cpu(&Load::of(&[r.slice(r.participants_per_conference, m)])) <= target;
        if fits || m <= 1 {
            break;
        }
        parts += 1;
    }
    let m = r.participants_per_conference.div_ceil(parts);
    let per_slice = Load::of(&[r.slice(r.participants_per_conference, m)]);
    let slice_cpu = model.cpu(&per_slice);
    let by_cpu = if slice_cpu > 0.0 {
        (target / slice_cpu).floor() as u32
    } else {
        u32::MAX
    };
    let per_bridge = by_cpu.min(r.max_bridge_participants / m).max(1);

    // Pack slices onto bridges, `per_bridge` slices each.
    let mut slices: Vec<Slice> = Vec::new();
    let sizes = conference_sizes(r);
    for &n in &sizes {
        let p = parts.min(n);
        for local in split(n, p) {
            slices.push(r.slice(n, local));
        }
    }
    let shards = r.participants_total.div_ceil(SHARD_PARTICIPANTS).max(1);
    let chunks: Vec<&[Slice]> = slices.chunks(per_bridge as usize).collect();
    let jvbs = chunks.len() as u32;
    let per_shard = jvbs.div_ceil(shards).max(1);
    let bridges: Vec<BridgePlan> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let load = Load::of(c);
            let cpu = model.cpu(&load);
            let (lo, hi) = model.cpu.interval(&load.cpu_features());
            BridgePlan {
                bridge: i + 1,
                shard: i / per_shard as usize + 1,
                participants: c.iter().map(|s| s.local).sum(),
                conferences: c.len(),
                predicted_cpu_cores: cpu,
                predicted_cpu_cores_interval: [lo, hi],
                predicted_egress_bytes_per_second: model.egress(&load),
                saturated: cpu >= r.jvb_cpu_limit,
            }
        })
        .collect();
    let knee = knee(model, &per_slice, r.jvb_cpu_limit).map(|(p, lo, hi)| Knee {
        participants_per_bridge: p,
        interval: [lo, hi],
        planned_participants_per_bridge: per_bridge * m,
    });
    let jvb_replicas = per_shard;
    Sizing {
        conferences: sizes.len() as u32,
        bridges_per_conference: parts,
        jvbs,
        shards,
        knee,
        bridges,
        deploy: Deploy {
            jvb_replicas,
            hpa_min_replicas: jvb_replicas,
            hpa_max_replicas: jvb_replicas + 1,
            shards,
        },
    }
}

/// Participants per bridge at which `per_slice` repeated reaches `limit` cores: estimate and 90 %
/// bootstrap interval.
pub fn knee(model: &CostModel, per_slice: &Load, limit: f64) -> Option<(f64, f64, f64)> {
    let x = per_slice.cpu_features();
    let at = |coef: &[f64]| {
        let one = super::model::predict(coef, &x);
        (one > 0.0).then(|| limit / one * per_slice.participants)
    };
    let point = at(&model.cpu.coef)?;
    let boot: Vec<f64> = model
        .cpu
        .boot
        .iter()
        .map(|b| at(b).unwrap_or(f64::INFINITY))
        .collect();
    let (lo, hi) = central_interval(&boot);
    Some((point, lo, hi))
}

/// Bridge loads for the request's conference shape: one to `upto` participants' worth of whole
/// slices (a conference, or its share of a bridge under Jicofo's cap).
pub fn capacity_curve(r: &Request, upto: u32) -> Vec<Load> {
    let m = r
        .participants_per_conference
        .min(r.max_bridge_participants)
        .max(1);
    (1..=upto.div_ceil(m).max(1))
        .map(|k| Load::of(&vec![r.slice(r.participants_per_conference, m); k as usize]))
        .collect()
}

/// Generator cost per preset for `mode` (its video preset is ignored: every preset gets a row):
/// `--calibrate` runs of that mode first, then observations of that mode, then the documented table ×
/// the density gains (`scenario::density::documented`). Each measured figure is Σ cores / Σ
/// participants over its samples; a sample of another mode is left out, with the reason.
pub fn generator_costs(
    calibrations: &[(GeneratorSample, String)],
    observations: &[Observation],
    mode: &Fidelity,
) -> GeneratorCosts {
    let mut out: BTreeMap<String, GeneratorCost> = BTreeMap::new();
    for preset in DOCUMENTED_PRESETS {
        let wanted = mode.with_video(preset);
        let f = density::documented(&wanted);
        out.insert(
            preset.into(),
            GeneratorCost {
                preset: preset.into(),
                cores_per_participant: 1.0 / f.per_core,
                caveat: f.caveat(&wanted),
                source: f.source,
                fidelity: f.fidelity,
            },
        );
    }
    let mut left_out = Vec::new();
    let mut pool = |samples: Vec<(&GeneratorSample, &str)>, what: &str| {
        let mut by: BTreeMap<&str, (f64, f64, Vec<&str>)> = BTreeMap::new();
        for (g, src) in samples {
            let preset = g.fidelity.video.as_str();
            let differs = g.fidelity.differences(&mode.with_video(preset));
            if !differs.is_empty() {
                let why = format!(
                    "{src}: {what} run at {} left out of the generator sizing: {} (the plan sizes for {})",
                    g.fidelity.describe(),
                    differs.join("; "),
                    mode.with_video(preset).describe()
                );
                if !left_out.contains(&why) {
                    left_out.push(why);
                }
                continue;
            }
            let e = by.entry(preset).or_default();
            e.0 += g.cores;
            e.1 += g.participants;
            if !e.2.contains(&src) {
                e.2.push(src);
            }
        }
        for (preset, (cores, n, srcs)) in by {
            if n > 0.0 {
                out.insert(
                    preset.to_string(),
                    GeneratorCost {
                        preset: preset.into(),
                        cores_per_participant: cores / n,
                        source: format!("{what}: {}", srcs.join(", ")),
                        fidelity: mode.with_video(preset),
                        caveat: None,
                    },
                );
            }
        }
    };
    pool(
        observations
            .iter()
            .filter_map(|o| o.generator.as_ref().map(|g| (g, o.source.as_str())))
            .collect(),
        "observations",
    );
    pool(
        calibrations.iter().map(|(g, s)| (g, s.as_str())).collect(),
        "calibrated",
    );
    GeneratorCosts {
        costs: out.into_values().collect(),
        left_out,
    }
}

/// Load servers per preset for `participants` participants.
pub fn load_servers(costs: &[GeneratorCost], r: &Request) -> Vec<LoadServers> {
    let usable = r.load_server_cores * (1.0 - r.headroom);
    costs
        .iter()
        .map(|c| {
            let cores = c.cores_per_participant * r.participants_total as f64;
            LoadServers {
                preset: c.preset.clone(),
                cores_per_participant: c.cores_per_participant,
                source: c.source.clone(),
                fidelity: c.fidelity.describe(),
                caveat: c.caveat.clone(),
                cores_needed: cores,
                load_servers: (cores / usable).ceil().max(1.0) as u32,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::model::{Point, fit, leave_one_out, predict, rms};
    use crate::plan::observations::seed;

    fn request() -> Request {
        Request {
            participants_total: 1000,
            participants_per_conference: 10,
            video_senders: 3,
            audio_senders: 3,
            last_n: Some(5),
            jvb_cpu_limit: 4.0,
            headroom: 0.2,
            max_bridge_participants: 80,
            load_server_cores: LOAD_SERVER_CORES,
        }
    }

    fn seed_model() -> (Vec<Observation>, CostModel) {
        let obs = seed();
        let m = CostModel::fit(&obs).unwrap();
        (obs, m)
    }

    #[test]
    fn the_seed_fit_predicts_saturation_where_it_happened_and_only_there() {
        let (obs, m) = seed_model();
        for o in &obs {
            let pred = m.cpu(&o.load);
            let saturated = pred >= o.cpu_limit_cores;
            println!(
                "{}: observed {:.2}{} of {} cores, predicted {pred:.2}",
                o.id,
                o.cpu_cores,
                if o.censored { "+ (censored)" } else { "" },
                o.cpu_limit_cores
            );
            assert_eq!(saturated, o.censored, "{}: predicted {pred:.2}", o.id);
        }
    }

    #[test]
    fn leave_one_out_error_is_computed_and_in_the_docs() {
        let (_, m) = seed_model();
        let loo = &m.cpu.loo;
        assert_eq!(loo.len(), 7);
        println!(
            "CPU leave-one-out: RMSE {:.2} cores, MAE {:.2} cores; residual sd {:.2}",
            m.cpu.loo_rmse, m.cpu.loo_mae, m.cpu.residual_sd
        );
        assert!(m.cpu.loo_rmse > 0.0 && m.cpu.loo_rmse < 2.0);
        assert_eq!(
            m.cpu.loo_rmse,
            rms(leave_one_out(&m.cpu.points).iter().map(|r| r.error))
        );
        let docs = include_str!("../../docs/plan.md");
        for figure in [
            format!("{:.2} cores", m.cpu.loo_rmse),
            format!("{:.2} cores", m.cpu.loo_mae),
        ] {
            assert!(docs.contains(&figure), "docs/plan.md should quote {figure}");
        }
    }

    #[test]
    fn censoring_raises_the_fit() {
        let (obs, m) = seed_model();
        let uncensored: Vec<Observation> = obs
            .iter()
            .cloned()
            .map(|mut o| {
                o.censored = false;
                o
            })
            .collect();
        let naive = CostModel::fit(&uncensored).unwrap();
        let r7 = obs.iter().find(|o| o.id == "R7").unwrap();
        let (with, without) = (m.cpu(&r7.load), naive.cpu(&r7.load));
        println!("R7: censored fit {with:.2} cores, as a plain point {without:.2} cores");
        assert!(with > without + 1.0, "{with} vs {without}");
        assert!(
            without < r7.cpu_limit_cores,
            "read as a point, R7 looks comfortable"
        );
    }

    type Features = fn(&Load) -> Vec<f64>;

    /// LOO RMSE and the full fit's prediction for R7 of each candidate feature set, printed as the
    /// table docs/plan.md quotes.
    fn compare(
        candidates: &[(&str, Features)],
        y: fn(&Observation) -> Option<f64>,
    ) -> Vec<(String, f64, f64)> {
        let obs = seed();
        candidates
            .iter()
            .map(|(name, f)| {
                let points: Vec<Point> = obs
                    .iter()
                    .filter_map(|o| {
                        y(o).map(|y| Point {
                            x: f(&o.load),
                            y,
                            censored: o.censored,
                        })
                    })
                    .collect();
                let coef = fit(&points);
                let loo = rms(leave_one_out(&points).iter().map(|r| r.error));
                let r7 = obs.iter().find(|o| o.id == "R7").unwrap();
                let pred = predict(&coef, &f(&r7.load));
                println!("| {name} | {coef:.4?} | {loo:.2} | {pred:.2} |");
                (name.to_string(), loo, pred)
            })
            .collect()
    }

    #[test]
    fn the_chosen_cpu_features_have_the_lowest_loo_error_without_an_intercept() {
        let no_intercept: [(&str, Features); 4] = [
            ("participants", |l| vec![l.participants]),
            ("participants + forwarded video", |l| {
                vec![l.participants, l.forwarded_video_streams]
            }),
            ("participants + forwarded audio", |l| {
                vec![l.participants, l.forwarded_audio_streams]
            }),
            ("participants + forwarded streams (chosen)", |l| {
                l.cpu_features()
            }),
        ];
        let with_intercept: [(&str, Features); 3] = [
            ("1 + participants", |l| vec![1.0, l.participants]),
            ("1 + forwarded streams", |l| {
                vec![1.0, l.forwarded_streams()]
            }),
            ("1 + participants + forwarded video", |l| {
                vec![1.0, l.participants, l.forwarded_video_streams]
            }),
        ];
        let cpu = |o: &Observation| Some(o.cpu_cores);
        let rows = compare(&no_intercept, cpu);
        let best = rows.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert!(best.0.ends_with("(chosen)"), "{rows:?}");
        let rows = compare(&with_intercept, cpu);
        assert!(
            rows.iter().all(|r| r.2 < 8.0),
            "no intercept model predicts R7 saturated"
        );
    }

    #[test]
    fn the_chosen_egress_features_have_the_lowest_loo_error() {
        let candidates: [(&str, Features); 4] = [
            ("participants", |l| vec![l.participants]),
            ("forwarded video", |l| vec![l.forwarded_video_streams]),
            ("forwarded video + forwarded audio", |l| {
                vec![l.forwarded_video_streams, l.forwarded_audio_streams]
            }),
            ("participants + forwarded video (chosen)", |l| {
                l.egress_features()
            }),
        ];
        let rows = compare(&candidates, |o| o.egress_bytes_per_second.map(|b| b / 1e6));
        let best = rows.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert!(best.0.ends_with("(chosen)"), "{rows:?}");
    }

    #[test]
    fn a_plan_respects_the_target_the_cap_and_the_shards() {
        let (_, m) = seed_model();
        let r = request();
        let s = size(&m, &r);
        assert_eq!(s.conferences, 100);
        assert_eq!(s.bridges.iter().map(|b| b.participants).sum::<u32>(), 1000);
        for b in &s.bridges {
            assert!(b.predicted_cpu_cores <= r.cpu_target() + 1e-9, "{b:?}");
            assert!(b.participants <= r.max_bridge_participants);
            assert!(!b.saturated);
            assert!(b.predicted_cpu_cores_interval[0] <= b.predicted_cpu_cores + 1e-9);
        }
        assert_eq!(s.shards, 2);
        assert_eq!(s.deploy.shards, 2);
        assert_eq!(s.deploy.jvb_replicas, s.jvbs.div_ceil(2));
        let k = s.knee.as_ref().unwrap();
        assert!(k.participants_per_bridge > k.planned_participants_per_bridge as f64);
        assert!(
            k.interval[0] <= k.participants_per_bridge
                && k.participants_per_bridge <= k.interval[1]
        );
        // More headroom, more bridges; a bigger bridge, fewer.
        let more = size(
            &m,
            &Request {
                headroom: 0.5,
                ..r.clone()
            },
        );
        assert!(more.jvbs > s.jvbs);
        let bigger = size(
            &m,
            &Request {
                jvb_cpu_limit: 16.0,
                ..r.clone()
            },
        );
        assert!(bigger.jvbs < s.jvbs);
    }

    #[test]
    fn a_conference_too_big_for_one_bridge_is_split() {
        let (_, m) = seed_model();
        let r = Request {
            participants_total: 200,
            participants_per_conference: 200,
            video_senders: 200,
            audio_senders: 200,
            last_n: Some(5),
            ..request()
        };
        let s = size(&m, &r);
        assert!(s.bridges_per_conference > 1);
        assert!(s.bridges.iter().all(|b| b.participants <= 80));
        assert_eq!(s.bridges.iter().map(|b| b.participants).sum::<u32>(), 200);
    }

    #[test]
    fn bad_requests_name_the_flag() {
        let e = Request {
            audio_senders: 11,
            ..request()
        }
        .validate()
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--audio-senders: expected at most --participants-per-conference"),
            "{e}"
        );
        let e = Request {
            headroom: 1.0,
            ..request()
        }
        .validate()
        .unwrap_err();
        assert!(e.to_string().starts_with("--headroom"), "{e}");
        assert!(request().validate().is_ok());
    }

    /// The seed fleet's mode: video and audio sent and received, one browser each, decoding.
    fn seed_mode() -> Fidelity {
        Fidelity {
            video: "small".into(),
            audio: true,
            receive_audio: true,
            mode: density::Mode::BASE,
        }
    }

    fn cost(c: &GeneratorCosts, preset: &str) -> GeneratorCost {
        c.costs.iter().find(|x| x.preset == preset).unwrap().clone()
    }

    #[test]
    fn generator_costs_prefer_calibration_then_observations_then_defaults() {
        let obs = seed();
        let costs = generator_costs(&[], &obs, &seed_mode());
        assert!(costs.left_out.is_empty(), "{:?}", costs.left_out);
        let hd = cost(&costs, "1280x720@60");
        // 8 servers × 16 cores at the seed's percentages, over 134 participants.
        let cores: f64 = [7.0, 7.0, 7.0, 17.0, 30.0, 15.0, 50.0]
            .iter()
            .map(|p| p / 100.0 * 128.0)
            .sum();
        assert!(
            (hd.cores_per_participant - cores / 134.0).abs() < 1e-9,
            "{hd:?}"
        );
        let small = cost(&costs, "small");
        assert_eq!(small.cores_per_participant, 0.125);
        assert!(!small.fidelity.audio, "the documented figure is video only");
        assert!(small.caveat.unwrap().contains("without audio"));
        let cal = GeneratorSample {
            fidelity: seed_mode(),
            participants: 6.0,
            cores: 1.2,
        };
        let costs = generator_costs(&[(cal, "run-a".into())], &obs, &seed_mode());
        let small = cost(&costs, "small");
        assert!(
            (small.cores_per_participant - 0.2).abs() < 1e-12 && small.source.contains("run-a"),
            "{small:?}"
        );
        assert_eq!(small.caveat, None, "measured at the mode planned for");
        let servers = load_servers(&costs.costs, &request());
        let s = servers.iter().find(|l| l.preset == "small").unwrap();
        assert_eq!(s.load_servers, (200.0f64 / (16.0 * 0.8)).ceil() as u32);
        assert!(s.fidelity.contains("audio sent"), "{}", s.fidelity);
        // Smaller load servers: more of them.
        let small_servers = Request {
            load_server_cores: 4.0,
            ..request()
        };
        let servers = load_servers(&costs.costs, &small_servers);
        let s = servers.iter().find(|l| l.preset == "small").unwrap();
        assert_eq!(s.load_servers, (200.0f64 / (4.0 * 0.8)).ceil() as u32);
        assert!(
            Request {
                load_server_cores: 0.5,
                ..request()
            }
            .validate()
            .unwrap_err()
            .to_string()
            .starts_with("--load-server-cores: expected at least 1 core")
        );
    }

    #[test]
    fn a_calibration_of_another_mode_is_left_out_with_the_reason() {
        let packed = Fidelity {
            mode: density::Mode {
                packing: density::Packing::tabs(4),
                receive_video: crate::scenario::ReceiveVideo::Discard,
            },
            ..seed_mode()
        };
        let cal = GeneratorSample {
            fidelity: packed.clone(),
            participants: 8.0,
            cores: 0.5,
        };
        let cals = [(cal, "run-d".to_string())];
        let decode = generator_costs(&cals, &[], &seed_mode());
        assert_eq!(cost(&decode, "small").cores_per_participant, 0.125);
        assert_eq!(decode.left_out.len(), 1, "{:?}", decode.left_out);
        let why = &decode.left_out[0];
        assert!(why.starts_with("run-d: calibrated run at small"), "{why}");
        assert!(
            why.contains("receive_video discard, not decode")
                && why.contains("participants_per_browser 4, not 1"),
            "{why}"
        );
        let dense = generator_costs(&cals, &seed(), &packed);
        let small = cost(&dense, "small");
        assert_eq!(small.cores_per_participant, 0.0625);
        assert!(small.source.contains("run-d"), "{small:?}");
        // Other presets: the documented figure × the measured gain of the mode.
        let vga = cost(&dense, "vga");
        assert!(
            (vga.cores_per_participant - 1.0 / 4.0).abs() < 1e-12,
            "4 per core × 12/12"
        );
        assert!(vga.source.contains("gain"), "{vga:?}");
        // The seed fleet decoded with one browser each: left out of a packed plan, named once.
        assert!(
            dense
                .left_out
                .iter()
                .filter(|w| w.contains("observations run at 1280x720@60"))
                .count()
                == 1,
            "{:?}",
            dense.left_out
        );
    }
}
