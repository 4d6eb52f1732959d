//! The plan as JSON (`plan.json`), Markdown (`plan.md`, from `assets/plan/plan.md.tera`) and PNG charts
//! (`charts/predicted-vs-observed.png`, `charts/capacity.png`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::model::{BOOTSTRAP_REPS, Fitted, INTERVAL};
use super::observations::{GeneratorSample, Observation, SATURATED_CPU_SHARE};
use super::sizing::{
    self, CostModel, Deploy, Knee, LoadServers, Request, SHARD_PARTICIPANTS, Sizing,
};
use crate::chart::{self, Chart, Series, Style};
use crate::scenario::density::{self, Fidelity};

const TEMPLATE: &str = include_str!("../../assets/plan/plan.md.tera");
/// Chart of predicted against observed bridge CPU, relative to the output directory.
pub const CHART_FIT: &str = "charts/predicted-vs-observed.png";
/// Chart of predicted CPU against participants per bridge, relative to the output directory.
pub const CHART_CAPACITY: &str = "charts/capacity.png";

/// One coefficient with its interval.
#[derive(Debug, Clone, Serialize)]
pub struct Coefficient {
    /// Point estimate.
    pub value: f64,
    /// Central 90 % bootstrap interval.
    pub interval: [f64; 2],
}

/// A fitted model's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// Coefficients by name (the name carries the unit).
    pub coefficients: BTreeMap<String, Coefficient>,
    /// Residual standard deviation (shortfalls only for saturated rows).
    pub residual_sd: f64,
    /// Leave-one-out root mean square error.
    pub loo_rmse: f64,
    /// Leave-one-out mean absolute error.
    pub loo_mae: f64,
    /// Observations fitted.
    pub observations: usize,
    /// Of them, saturated (lower bounds).
    pub saturated_observations: usize,
}

impl ModelSummary {
    fn of(f: &Fitted) -> ModelSummary {
        let coefficients = f
            .names
            .iter()
            .zip(f.coef.iter().zip(f.coef_intervals()))
            .map(|(n, (v, (lo, hi)))| {
                (
                    n.to_string(),
                    Coefficient {
                        value: *v,
                        interval: [lo, hi],
                    },
                )
            })
            .collect();
        ModelSummary {
            coefficients,
            residual_sd: f.residual_sd,
            loo_rmse: f.loo_rmse,
            loo_mae: f.loo_mae,
            observations: f.points.len(),
            saturated_observations: f.points.iter().filter(|p| p.censored).count(),
        }
    }
}

/// Both models.
#[derive(Debug, Clone, Serialize)]
pub struct Models {
    /// Bridge CPU, cores.
    pub cpu: ModelSummary,
    /// Bridge egress, bytes per second.
    pub egress: Option<ModelSummary>,
}

/// An observation with the model's view of it.
#[derive(Debug, Clone, Serialize)]
pub struct ObservationRow {
    /// Row or run id.
    pub id: String,
    /// File or results directory.
    pub source: String,
    /// Conference size.
    pub participants_per_conference: u32,
    /// Participants on the busiest bridge.
    pub participants_per_bridge: f64,
    /// Video streams that bridge forwarded.
    pub forwarded_video_streams: f64,
    /// Audio streams that bridge forwarded.
    pub forwarded_audio_streams: f64,
    /// Its CPU limit, cores.
    pub cpu_limit_cores: f64,
    /// Observed CPU, cores (a lower bound when `observed_saturated`).
    pub observed_cpu_cores: f64,
    /// The observation is a lower bound (CPU at the limit with throttling, or participants dropped).
    pub observed_saturated: bool,
    /// The model's CPU (fitted on every observation), cores.
    pub predicted_cpu_cores: f64,
    /// The CPU predicted by the model fitted without this observation, cores.
    pub loo_predicted_cpu_cores: f64,
    /// The model predicts this bridge at or above its limit.
    pub saturated: bool,
    /// Observed egress, bytes per second.
    pub observed_egress_bytes_per_second: Option<f64>,
    /// Predicted egress, bytes per second.
    pub predicted_egress_bytes_per_second: Option<f64>,
}

/// A constant the plan depends on.
#[derive(Debug, Clone, Serialize)]
pub struct Constant {
    /// Its name.
    pub name: String,
    /// Its value with unit.
    pub value: String,
    /// Where it comes from: measured, or a published figure with its source, or assumed.
    pub source: String,
}

/// The chart files, relative to the output directory.
#[derive(Debug, Clone, Serialize)]
pub struct Charts {
    /// Predicted against observed CPU.
    pub predicted_vs_observed: String,
    /// Capacity curve.
    pub capacity: String,
}

/// The whole plan: what `plan.json` holds and `plan.md` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The request.
    pub request: Request,
    /// Conferences.
    pub conferences: u32,
    /// Bridges one conference spans.
    pub bridges_per_conference: u32,
    /// Bridges needed.
    pub jvbs: u32,
    /// Shards needed.
    pub shards: u32,
    /// Where a bridge saturates.
    pub knee: Option<Knee>,
    /// Every bridge.
    pub bridges: Vec<sizing::BridgePlan>,
    /// The fidelity load servers are sized for (audio, receive fidelity, packing).
    pub generator_fidelity: String,
    /// Load servers per media preset.
    pub load_servers: Vec<LoadServers>,
    /// Calibration runs and observations of another mode, left out of the generator sizing (why).
    pub generator_left_out: Vec<String>,
    /// Values for `deploy/`.
    pub deploy: Deploy,
    /// The fitted models.
    pub model: Models,
    /// The observations and the model's view of them.
    pub observations: Vec<ObservationRow>,
    /// Constants and their sources.
    pub constants: Vec<Constant>,
    /// Remarks (left-out runs, saturated bridges).
    pub notes: Vec<String>,
    /// Chart files.
    pub charts: Charts,
}

fn constants(r: &Request) -> Vec<Constant> {
    let c = |name: &str, value: String, source: &str| Constant {
        name: name.into(),
        value,
        source: source.into(),
    };
    let mut v = vec![
        c(
            "max-bridge-participants",
            format!("{} participants", r.max_bridge_participants),
            "jicofo `jicofo.bridge.max-bridge-participants` (jicofo-selector/src/main/resources/reference.conf: 80, per conference per bridge); applied here per bridge (`--max-bridge-participants`)",
        ),
        c(
            "participants per shard",
            format!("{SHARD_PARTICIPANTS} participants"),
            "published vendor figure: Meetrix sets up about 500 concurrent users per shard because more would bottleneck Prosody (https://meetrix.io/blog/services/understanding-jitsi-infrastructure-costing-by-meetrix.html); Prosody uses one core (Jitsi handbook, devops-guide requirements)",
        ),
        c(
            "saturated observation",
            format!(
                "CPU ≥ {SATURATED_CPU_SHARE} × limit with throttling > 0, or participants dropped"
            ),
            "data/README.md (CPU at the limit with high throttling); the 0.95 allows for sampling and is assumed",
        ),
        c(
            "load server",
            format!(
                "{} cores (--load-server-cores), used up to 1 − headroom",
                r.load_server_cores
            ),
            "the default is the seed's generator servers (data/README.md: 8 servers of 16 cores)",
        ),
        c(
            "intervals",
            format!(
                "central {:.0} % of {BOOTSTRAP_REPS} bootstrap refits (fixed seed)",
                INTERVAL * 100.0
            ),
            "chosen",
        ),
        c(
            "hpa_max_replicas",
            "jvb_replicas + 1".into(),
            "assumed: one spare bridge per shard for a failed or draining bridge",
        ),
        c(
            "MB/s in observation CSVs",
            "10⁶ bytes per second".into(),
            "Grafana's `Bps` unit is SI (data/README.md)",
        ),
    ];
    for preset in sizing::DOCUMENTED_PRESETS {
        let f = density::documented(&Fidelity {
            video: preset.into(),
            audio: false,
            receive_audio: false,
            mode: density::Mode::BASE,
        });
        v.push(c(
            &format!("generator cost, {preset}"),
            format!("{:.3} cores per participant", 1.0 / f.per_core),
            &f.source,
        ));
    }
    v
}

impl Plan {
    /// Size the deployment and collect everything the outputs show.
    pub fn new(
        request: Request,
        model: &CostModel,
        obs: &[Observation],
        calibrations: &[(GeneratorSample, String)],
        mode: &Fidelity,
        mut notes: Vec<String>,
    ) -> Plan {
        let s: Sizing = sizing::size(model, &request);
        let costs = sizing::generator_costs(calibrations, obs, mode);
        let load_servers = sizing::load_servers(&costs.costs, &request);
        let observations = obs
            .iter()
            .zip(&model.cpu.loo)
            .map(|(o, loo)| {
                let pred = model.cpu(&o.load);
                ObservationRow {
                    id: o.id.clone(),
                    source: o.source.clone(),
                    participants_per_conference: o.participants_per_conference,
                    participants_per_bridge: o.load.participants,
                    forwarded_video_streams: o.load.forwarded_video_streams,
                    forwarded_audio_streams: o.load.forwarded_audio_streams,
                    cpu_limit_cores: o.cpu_limit_cores,
                    observed_cpu_cores: o.cpu_cores,
                    observed_saturated: o.censored,
                    predicted_cpu_cores: pred,
                    loo_predicted_cpu_cores: loo.predicted,
                    saturated: pred >= o.cpu_limit_cores,
                    observed_egress_bytes_per_second: o.egress_bytes_per_second,
                    predicted_egress_bytes_per_second: model.egress(&o.load),
                }
            })
            .collect();
        let saturated = s.bridges.iter().filter(|b| b.saturated).count();
        if saturated > 0 {
            notes.push(format!(
                "{saturated} bridges are predicted at or above their {} cores even with one participant of a conference each: use bigger bridges",
                request.jvb_cpu_limit
            ));
        }
        Plan {
            conferences: s.conferences,
            bridges_per_conference: s.bridges_per_conference,
            jvbs: s.jvbs,
            shards: s.shards,
            knee: s.knee,
            bridges: s.bridges,
            generator_fidelity: mode.describe(),
            load_servers,
            generator_left_out: costs.left_out,
            deploy: s.deploy,
            model: Models {
                cpu: ModelSummary::of(&model.cpu),
                egress: model.egress.as_ref().map(ModelSummary::of),
            },
            observations,
            constants: constants(&request),
            notes,
            charts: Charts {
                predicted_vs_observed: CHART_FIT.into(),
                capacity: CHART_CAPACITY.into(),
            },
            request,
        }
    }
}

/// Why the plan could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A chart failed.
    #[error(transparent)]
    Chart(#[from] chart::ChartError),
    /// The template failed.
    #[error("plan.md template: {0}")]
    Template(String),
    /// JSON encoding failed.
    #[error("plan.json: {0}")]
    Json(#[from] serde_json::Error),
}

fn num(v: &tera::Value, kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    let digits: usize = kwargs.get("digits")?.unwrap_or(2);
    Ok(if v.is_none() || v.is_undefined() {
        "—".into()
    } else if let Some(f) = v.as_f64() {
        if f.is_finite() {
            format!("{f:.digits$}")
        } else {
            "∞".into()
        }
    } else {
        v.to_string()
    })
}

/// Bytes per second as Mbit/s.
fn mbit(v: &tera::Value, _: tera::Kwargs, _: &tera::State) -> String {
    v.as_f64()
        .map_or_else(|| "—".into(), |f| format!("{:.1}", f * 8.0 / 1e6))
}

fn cell(v: &str, _: tera::Kwargs, _: &tera::State) -> String {
    v.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Render `plan.md`.
pub fn markdown(plan: &Plan) -> Result<String, OutputError> {
    let err = |e: tera::Error| OutputError::Template(format!("{e:#}"));
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::<&str>::new());
    tera.register_filter("num", num);
    tera.register_filter("mbit", mbit);
    tera.register_filter("cell", cell);
    tera.add_raw_template("plan.md.tera", TEMPLATE)
        .map_err(err)?;
    let mut ctx = tera::Context::new();
    ctx.insert("p", plan);
    tera.render("plan.md.tera", &ctx).map_err(err)
}

/// Draw both charts into `out`.
pub fn charts(plan: &Plan, model: &CostModel, out: &Path) -> Result<(), OutputError> {
    let pts = |saturated: bool, loo: bool| -> Vec<(f64, f64)> {
        plan.observations
            .iter()
            .filter(|o| o.observed_saturated == saturated)
            .map(|o| {
                let y = if loo {
                    o.loo_predicted_cpu_cores
                } else {
                    o.predicted_cpu_cores
                };
                (o.observed_cpu_cores, y)
            })
            .collect()
    };
    let top = plan
        .observations
        .iter()
        .flat_map(|o| {
            [
                o.observed_cpu_cores,
                o.predicted_cpu_cores,
                o.loo_predicted_cpu_cores,
            ]
        })
        .fold(0.0, f64::max);
    let fit = Chart {
        title: "Bridge CPU: predicted against observed".into(),
        x_label: "observed CPU of the busiest bridge (cores)".into(),
        y_label: "predicted CPU (cores)".into(),
        y2_label: String::new(),
        series: vec![
            Series::line("predicted = observed", vec![(0.0, 0.0), (top, top)]).styled(Style::Thin),
            Series::line("fitted on all", pts(false, false)).styled(Style::Points),
            Series::line("saturated: observed is a lower bound", pts(true, false))
                .styled(Style::Hollow),
            Series::line("leave-one-out (fitted without that row)", pts(false, true))
                .styled(Style::Points),
        ],
    };
    chart::draw(&fit, &out.join(CHART_FIT))?;

    let r = &plan.request;
    let knee = plan.knee.as_ref();
    let upto = knee.map_or(r.max_bridge_participants as f64, |k| {
        k.participants_per_bridge
            .max(k.interval[1].min(4.0 * k.participants_per_bridge))
    });
    let upto = (upto * 1.25)
        .max(r.participants_per_conference as f64)
        .ceil()
        .min(10_000.0) as u32;
    let loads = sizing::capacity_curve(r, upto);
    let origin = std::iter::once((0.0, 0.0));
    let line = |f: &dyn Fn(&[f64]) -> f64| -> Vec<(f64, f64)> {
        origin
            .clone()
            .chain(loads.iter().map(|l| (l.participants, f(&l.cpu_features()))))
            .collect()
    };
    let curve = line(&|x| model.cpu.predict(x));
    let band = |hi: bool| {
        line(&|x| {
            let (lo, h) = model.cpu.interval(x);
            if hi { h } else { lo }
        })
    };
    let xmax = curve.last().map_or(1.0, |p| p.0);
    let mut series = vec![
        Series::line("predicted CPU", curve),
        Series::line(
            format!("{:.0} % interval, upper", INTERVAL * 100.0),
            band(true),
        )
        .styled(Style::Thin),
        Series::line(
            format!("{:.0} % interval, lower", INTERVAL * 100.0),
            band(false),
        )
        .styled(Style::Thin),
        Series::line(
            format!("CPU limit {} cores", r.jvb_cpu_limit),
            vec![(0.0, r.jvb_cpu_limit), (xmax, r.jvb_cpu_limit)],
        )
        .styled(Style::Thin),
        Series::line(
            format!("target (headroom {:.0} %)", r.headroom * 100.0),
            vec![(0.0, r.cpu_target()), (xmax, r.cpu_target())],
        )
        .styled(Style::Thin),
    ];
    if let Some(k) = knee.filter(|k| k.participants_per_bridge.is_finite()) {
        series.push(
            Series::line(
                format!("knee {:.0} participants", k.participants_per_bridge),
                vec![
                    (k.participants_per_bridge, 0.0),
                    (k.participants_per_bridge, r.jvb_cpu_limit),
                ],
            )
            .styled(Style::Line),
        );
    }
    let capacity = Chart {
        title: format!(
            "Capacity of one bridge: conferences of {}, {} senders, lastN {}",
            r.participants_per_conference,
            r.video_senders,
            r.last_n.map_or("all".to_string(), |n| n.to_string())
        ),
        x_label: "participants per bridge".into(),
        y_label: "predicted CPU (cores)".into(),
        y2_label: String::new(),
        series,
    };
    chart::draw(&capacity, &out.join(CHART_CAPACITY))?;
    Ok(())
}

/// What [`write`] produced.
#[derive(Debug)]
pub struct Written {
    /// `plan.md`.
    pub markdown: String,
    /// `plan.json`.
    pub json: String,
}

/// Write `plan.md`, `plan.json` and the charts into `out` (created if needed; files replaced).
pub fn write(plan: &Plan, model: &CostModel, out: &Path) -> Result<Written, OutputError> {
    let markdown = markdown(plan)?;
    let json = serde_json::to_string_pretty(plan)?;
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| OutputError::Write { path, source }
    };
    let charts_dir = out.join("charts");
    std::fs::create_dir_all(&charts_dir).map_err(io(&charts_dir))?;
    charts(plan, model, out)?;
    for (name, text) in [("plan.json", &json), ("plan.md", &markdown)] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(io(&path))?;
    }
    Ok(Written { markdown, json })
}
