//! `loadtest validate`: load and check a scenario, print its warnings and schedule; with `--check`,
//! also reach the target and say what would fail (start no browser).

use super::ScenarioArgs;
use crate::error::{EXIT_BAD_INPUT, EXIT_INFRA, EXIT_OK};
use crate::participant::targets::Target;
use crate::participant::targets::jwt::Tokens;
use crate::participant::targets::preflight;
use crate::scenario::{self, Scenario};
use crate::schedule::{self, ScheduledParticipant};

/// Options of `loadtest validate`.
#[derive(Debug, Clone, clap::Args)]
pub struct ValidateArgs {
    /// The scenario.
    #[command(flatten)]
    pub input: ScenarioArgs,
    /// Also reach the target, check the load-test client (when used) and the token's room claim and
    /// expiry (never printing it): exit 3 when the target or client is missing, 2 for a bad token.
    #[arg(long)]
    pub check: bool,
}

/// `loadtest validate`: print the schedule, start nothing.
pub async fn exec(args: ValidateArgs) -> anyhow::Result<i32> {
    let loaded = args.input.load()?;
    let s = &loaded.scenario;
    let plans = schedule::of(s);
    print!("{}", schedule::describe(s, &plans));
    print!("{}", generator_cores(s, &plans));
    if !args.check {
        return Ok(EXIT_OK);
    }
    let (lines, code) = check(s, &plans).await;
    println!("\ncheck:");
    for l in lines {
        println!("  {l}");
    }
    Ok(code)
}

/// Generator cores the schedule's peak needs in each density mode (`scenario::density`).
fn generator_cores(s: &Scenario, plans: &[ScheduledParticipant]) -> String {
    use scenario::density;
    let peak = schedule::peak_sessions(plans);
    let mut out = format!(
        "\ngenerator cores for {peak} participants at once (video {}; video-only figures from docs/benchmarks.md, audio costs more):\n",
        s.media.video
    );
    for (i, m) in density::modes(s).into_iter().enumerate() {
        let figures = match (
            density::cores_needed(s, peak, m),
            density::per_core(&s.media.video, m),
        ) {
            (Some(c), Some(p)) => format!("{c:>5} cores  {p:.1} participants per core"),
            _ => format!(
                "{:>5} cores  not measured (cargo bench --bench capacity -- --density)",
                "?"
            ),
        };
        out.push_str(&format!(
            "  {figures}  {}{}\n",
            m.describe(),
            if i == 0 { "  (this scenario)" } else { "" }
        ));
    }
    out
}

/// What `run` would find before anyone joins: lines to print and the exit code.
pub async fn check(s: &Scenario, plans: &[ScheduledParticipant]) -> (Vec<String>, i32) {
    let mut lines = Vec::new();
    let mut code = EXIT_OK;
    let tokens = match Tokens::load(&s.target.jitsi) {
        Ok(t) => {
            let now = chrono::Utc::now().timestamp();
            let problems = preflight::token_problems(&t, plans, now);
            if problems.is_empty() {
                lines.push(format!("ok    token: {}", describe(&t)));
            }
            for p in problems {
                lines.push(format!("FAIL  {p}"));
                code = EXIT_BAD_INPUT;
            }
            t
        }
        Err(e) => {
            lines.push(format!("FAIL  {e}"));
            code = EXIT_BAD_INPUT;
            Tokens::None
        }
    };
    match Target::prepare(s, tokens).await {
        Ok(_) => lines.push(format!(
            "ok    {} target {} answers{}",
            s.target.kind.as_str(),
            crate::redact::url(&s.target.url),
            if s.target.jitsi.page == scenario::JitsiPage::LoadTest
                && s.target.kind == scenario::TargetKind::Jitsi
            {
                "; the load-test client is installed"
            } else {
                ""
            }
        )),
        Err(e) => {
            lines.push(format!("FAIL  {e}"));
            code = EXIT_INFRA;
        }
    }
    (lines, code)
}

fn describe(t: &Tokens) -> &'static str {
    match t {
        Tokens::None => "none configured",
        Tokens::Static(_) => {
            "one static token; its room claim covers every room and it outlives the run"
        }
        Tokens::Mint(_) => {
            "one minted per participant; the key signs and the room claim is the participant's"
        }
    }
}
