//! `loadtest report`: reads only a results directory and writes `summary.json`, `report.md` and
//! `charts/*.png` into it. The verdict (pass / fail / invalid) decides the exit code.
//!
//! Collection and judgement of the numbers are [`crate::analysis`]'s (summary, thresholds); here are
//! the baseline deltas ([`baseline`]), the verdict, and rendering ([`charts`], the tera template in
//! `assets/report/`): one summary model, rendered to JSON, Markdown and PNG.

pub mod baseline;
pub mod charts;

use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::analysis::thresholds::{self, Check, Status};
use crate::analysis::{Summary, summarize};
use crate::error::{EXIT_FAILED, EXIT_OK, UsageError};
use crate::results::{self, ReadError, Stop};
use crate::scenario::Thresholds;
use baseline::Comparison;
use charts::ChartRef;

const TEMPLATE: &str = include_str!("../../assets/report/report.md.tera");
/// The template file `--template DIR` must hold.
pub const TEMPLATE_NAME: &str = "report.md.tera";

/// The default relative tolerance of a baseline comparison.
pub const DEFAULT_TOLERANCE: f64 = 0.10;

/// Options of `loadtest report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// The results directory of a run.
    pub run_dir: PathBuf,
    /// A results directory to compare with: adds a delta column and flags regressions.
    #[arg(long, value_name = "RUN_DIR")]
    pub baseline: Option<PathBuf>,
    /// Relative change beyond which a worse metric is a regression (with --baseline).
    #[arg(long, default_value_t = DEFAULT_TOLERANCE, value_name = "RATIO")]
    pub tolerance: f64,
    /// A directory holding your own `report.md.tera` (tera 2 syntax; see the built-in one).
    #[arg(long, value_name = "DIR")]
    pub template: Option<PathBuf>,
}

/// How a report is made (the library's view of [`ReportArgs`]).
#[derive(Debug, Clone)]
pub struct Options {
    /// A run to compare with.
    pub baseline: Option<PathBuf>,
    /// Relative tolerance of the comparison.
    pub tolerance: f64,
    /// A directory holding a user `report.md.tera`.
    pub template: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            baseline: None,
            tolerance: DEFAULT_TOLERANCE,
            template: None,
        }
    }
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The results directory could not be read.
    #[error(transparent)]
    Summary(#[from] ReadError),
    /// The baseline directory could not be read.
    #[error("baseline: {0}")]
    Baseline(ReadError),
    /// A chart failed.
    #[error(transparent)]
    Chart(#[from] crate::chart::ChartError),
    /// The template failed to parse or render.
    #[error("template {path}: {detail}")]
    Template {
        /// The template file.
        path: String,
        /// tera's message.
        detail: String,
    },
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Thresholds met, participants stayed, generators kept up.
    Pass,
    /// Thresholds missed or not evaluable, participants failed, regressions, or interrupted.
    Fail,
    /// The load generators were the bottleneck: the numbers measure them, not the server.
    Invalid,
}

/// What `summary.json` holds: the summary plus its judgement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Results format of this file.
    pub format_version: u32,
    /// pass / fail / invalid.
    pub verdict: Verdict,
    /// Why, in words.
    pub reasons: Vec<String>,
    /// The run's numbers.
    #[serde(flatten)]
    pub summary: Summary,
    /// The scenario's thresholds, evaluated.
    pub thresholds: Vec<Check>,
    /// The comparison with `--baseline`.
    pub comparison: Option<Comparison>,
    /// The charts written.
    pub charts: Vec<ChartRef>,
}

/// Decide the verdict and its reasons. A limit search is judged by its answer: `pass` when it found
/// the limit or the maximum held, `invalid` when the generators saturated, `fail` otherwise (its steps
/// carry the thresholds).
pub fn judge(
    s: &Summary,
    checks: &[Check],
    comparison: Option<&Comparison>,
    thresholds: &Thresholds,
) -> (Verdict, Vec<String>) {
    if let Some(l) = &s.limit {
        let verdict = match l.info.stopped {
            Stop::LimitFound | Stop::MaximumHeld => Verdict::Pass,
            Stop::GeneratorBound => Verdict::Invalid,
            Stop::GridExhausted | Stop::Interrupted => Verdict::Fail,
        };
        return (verdict, vec![l.info.verdict.clone()]);
    }
    let mut reasons = Vec::new();
    if !s.invalid_reasons.is_empty() {
        reasons.extend(
            s.invalid_reasons
                .iter()
                .map(|r| format!("load generators saturated: {r}")),
        );
    }
    let invalid = !reasons.is_empty();
    if s.interrupted {
        reasons.push(format!(
            "the run was interrupted ({}): results are partial",
            if s.tested.exit_reason.is_empty() {
                "no end time"
            } else {
                &s.tested.exit_reason
            }
        ));
    }
    for c in checks {
        match c.status {
            Status::Pass => {}
            Status::Fail => reasons.push(format!(
                "threshold {} missed: {} (limit {})",
                c.threshold,
                c.actual.map_or("—".into(), |a| format!("{a:.3}")),
                c.limit
            )),
            Status::NotEvaluable => reasons.push(format!(
                "threshold {} not evaluable: the run has no such measurement",
                c.threshold
            )),
        }
    }
    // Without a join-ratio threshold, any failed participant fails the run.
    if thresholds.min_join_ratio.is_none() && s.participants.failed > 0 {
        reasons.push(format!(
            "{} of {} participants failed",
            s.participants.failed, s.participants.scheduled
        ));
    }
    if s.participants.recorded < s.participants.scheduled && !s.interrupted {
        reasons.push(format!(
            "{} scheduled participants have no result",
            s.participants.scheduled - s.participants.recorded
        ));
    }
    if let Some(c) = comparison {
        reasons.extend(c.regressions());
    }
    let verdict = if invalid {
        Verdict::Invalid
    } else if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    (verdict, reasons)
}

fn num(v: &tera::Value, kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    let digits: usize = kwargs.get("digits")?.unwrap_or(2);
    Ok(if v.is_none() || v.is_undefined() {
        "—".into()
    } else if let Some(f) = v.as_f64() {
        format!("{f:.digits$}")
    } else if let Some(s) = v.as_str() {
        if s.is_empty() {
            "—".into()
        } else {
            s.to_string()
        }
    } else {
        v.to_string()
    })
}

/// A ratio printed as a percentage (`digits` decimals, default 1).
fn pct(v: &tera::Value, kwargs: tera::Kwargs, _: &tera::State) -> tera::TeraResult<String> {
    let digits: usize = kwargs.get("digits")?.unwrap_or(1);
    Ok(v.as_f64()
        .map_or_else(|| "—".into(), |f| format!("{:.digits$} %", f * 100.0)))
}

/// Markdown table cell: no pipes or line breaks.
fn cell(v: &str, _: tera::Kwargs, _: &tera::State) -> String {
    v.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// Render `report.md` with the built-in template or `template_dir/report.md.tera`.
pub fn render(report: &Report, template_dir: Option<&Path>) -> Result<String, ReportError> {
    let (path, text) = match template_dir {
        Some(d) => {
            let p = d.join(TEMPLATE_NAME);
            let text = std::fs::read_to_string(&p).map_err(|e| ReportError::Template {
                path: p.display().to_string(),
                detail: e.to_string(),
            })?;
            (p.display().to_string(), text)
        }
        None => (
            "(built-in) report.md.tera".to_string(),
            TEMPLATE.to_string(),
        ),
    };
    let err = |e: tera::Error| ReportError::Template {
        path: path.clone(),
        detail: format!("{e:#}"),
    };
    let mut tera = tera::Tera::default();
    tera.autoescape_on(Vec::<&str>::new());
    tera.register_filter("num", num);
    tera.register_filter("pct", pct);
    tera.register_filter("cell", cell);
    tera.add_raw_template(TEMPLATE_NAME, &text).map_err(err)?;
    let mut ctx = tera::Context::new();
    ctx.insert("s", &report.summary);
    ctx.insert("verdict", &report.verdict);
    ctx.insert("reasons", &report.reasons);
    ctx.insert("thresholds", &report.thresholds);
    ctx.insert("comparison", &report.comparison);
    ctx.insert("charts", &report.charts);
    tera.render(TEMPLATE_NAME, &ctx).map_err(err)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    crate::util::fs::write_atomic(path, bytes).map_err(|source| ReportError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Build the report of the results directory `dir` and write its files there.
pub fn write(dir: &Path, opts: &Options) -> Result<Report, ReportError> {
    let (summary, timelines) = summarize(dir)?;
    let thresholds = results::read_scenario(dir)?.thresholds;
    let checks = thresholds::evaluate(&thresholds, &summary);
    let comparison = match &opts.baseline {
        Some(b) => {
            let (base, _) = summarize(b).map_err(ReportError::Baseline)?;
            Some(baseline::compare(
                &summary,
                &base,
                &b.display().to_string(),
                opts.tolerance,
            ))
        }
        None => None,
    };
    let (verdict, reasons) = judge(&summary, &checks, comparison.as_ref(), &thresholds);
    let charts = charts::write(&timelines, summary.limit.as_ref(), dir)?;
    let report = Report {
        format_version: results::FORMAT_VERSION,
        verdict,
        reasons,
        summary,
        thresholds: checks,
        comparison,
        charts,
    };
    // Render before writing anything else, so a broken template leaves no half report.
    let md = render(&report, opts.template.as_deref())?;
    let json = serde_json::to_vec_pretty(&report).map_err(|e| ReportError::Write {
        path: dir.join("summary.json").display().to_string(),
        source: std::io::Error::other(e),
    })?;
    write_atomic(&dir.join("summary.json"), &json)?;
    write_atomic(&dir.join("report.md"), md.as_bytes())?;
    Ok(report)
}

/// Entry point of `loadtest report`: prints the verdict; exit 0 on pass, 1 otherwise.
pub fn exec(args: ReportArgs) -> anyhow::Result<i32> {
    if !(0.0..10.0).contains(&args.tolerance) {
        return Err(UsageError(format!(
            "--tolerance {}: expected a relative change such as 0.1 (10 %)",
            args.tolerance
        ))
        .into());
    }
    if !args.run_dir.join("run.json").is_file() {
        return Err(UsageError(format!(
            "{}: not a results directory (no run.json)",
            args.run_dir.display()
        ))
        .into());
    }
    let opts = Options {
        baseline: args.baseline.clone(),
        tolerance: args.tolerance,
        template: args.template.clone(),
    };
    let r = write(&args.run_dir, &opts)?;
    print_verdict(&r, &args.run_dir, &mut std::io::stdout());
    Ok(if r.verdict == Verdict::Pass {
        EXIT_OK
    } else {
        EXIT_FAILED
    })
}

/// The verdict, its reasons and where the report is, for the terminal (`out`: stdout for `report`,
/// stderr for `run`, whose stdout is the results directory).
pub fn print_verdict(r: &Report, dir: &Path, out: &mut impl std::io::Write) {
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Invalid => "INVALID",
    };
    // A closed terminal is no reason to fail after the report was written.
    let _ = writeln!(out, "verdict: {verdict}");
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    let _ = writeln!(out, "report: {}", dir.join("report.md").display());
}
