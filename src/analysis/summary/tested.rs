//! The report's "What was tested": the run's shape, target, fidelity and load generators.

use super::Tested;
use crate::results::{Fidelity, RunInfo};
use crate::scenario::Scenario;

/// What was tested: the run's shape, target, fidelity and generators, from run.json and the scenario.
pub(super) fn tested(
    info: &RunInfo,
    s: &Scenario,
    duration_s: Option<f64>,
    generators: Vec<String>,
) -> Tested {
    let f = &info.fidelity;
    Tested {
        scenario: info.scenario.clone(),
        description: s.description.clone(),
        conferences: Some(u64::from(s.load.conferences)),
        participants_per_conference: Some(u64::from(s.load.participants_per_conference)),
        video_senders: Some(u64::from(s.load.video_sender_count())),
        audio_senders: Some(u64::from(s.load.audio_sender_count())),
        target_kind: info.target_kind.clone(),
        target: info.target.clone(),
        fidelity: fidelity_text(f),
        video_discarded: !f.decoded_video(),
        webdriver: info.webdriver.clone(),
        generators,
        started_at: info.started_at.clone(),
        ended_at: info.ended_at.clone(),
        duration_s,
        tool_version: info.tool_version.clone(),
        outcome: info.outcome,
        exit_reason: info.exit_reason.clone(),
        metric_gaps: info.metric_gaps.clone(),
    }
}

/// The report's one-line account of what produced the numbers.
fn fidelity_text(f: &Fidelity) -> String {
    let audio = if f.receive_audio {
        "audio received"
    } else {
        "audio not received"
    };
    let video = if f.decoded_video() {
        "video received and decoded"
    } else {
        "video received and discarded before decoding (decoded fps not measured)"
    };
    let packing = match (
        f.participants_per_browser.max(1),
        f.participants_per_page.max(1),
    ) {
        (1, 1) => "one browser per participant".to_string(),
        (n, 1) => format!("{n} participants per browser (one window each)"),
        (1, c) => format!("{c} participants per page (clients of one page), one page per browser"),
        (n, c) => format!(
            "{c} participants per page (clients of one page), {n} pages per browser ({} per browser)",
            n * c
        ),
    };
    format!(
        "{}; camera {}; microphone {}; {audio}; {video}; {packing}",
        f.page, f.video, f.audio
    )
}
