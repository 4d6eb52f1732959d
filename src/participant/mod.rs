//! One participant: launch → navigate → joined → media flowing → healthy* → leave → close.
//!
//! Every phase is bounded by `[timeouts]` and by the run's cancellation. Whatever happens after the
//! session exists, the participant leaves the room and its session is closed; a failure is recorded
//! with its reason (and a screenshot and console log) and never touches other participants.
//! [`call`] holds the phases in the room, [`sample`] what the page reports, [`board`] what
//! participants share about each other.

mod board;
mod browser;
mod call;
mod page;
mod quality;
pub mod sample;
pub mod targets;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use browser::{Browser, Page};
use fantoccini::{Client, ClientBuilder};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use url::Url;

pub use board::{Board, InRoom, Sessions};
pub use browser::Browsers;
pub use quality::SharedLedger;

use crate::analysis::attribution::Bridges;
use crate::live::{Phase, Tally};
use crate::media::PreparedMedia;
use crate::results::{Event, Outcome, ParticipantRow, Recorder};
use crate::scenario::{ReceiveVideo, Timeouts, WebDriver};
use crate::schedule::talk::TalkPlan;
use crate::schedule::{ParticipantId, ScheduledParticipant};
use crate::util::text::one_line;
use crate::webdriver::grid::Grid;
use targets::Target;

const LEAVE_JS: &str = include_str!("../../assets/js/leave.js");
const CONSOLE_LOG_JS: &str = include_str!("../../assets/js/console-log.js");

/// How long an error line may be in a failure reason or an event.
const REASON_CHARS: usize = 300;

/// What every participant task shares.
#[derive(Debug)]
pub struct Shared {
    /// WebDriver URL (trailing slash).
    pub webdriver_url: Url,
    /// True when the tool's own ChromeDriver runs the browsers.
    pub local: bool,
    /// Browser settings.
    pub webdriver: WebDriver,
    /// Fake media as seen by the browsers.
    pub media: PreparedMedia,
    /// The target.
    pub target: Target,
    /// Phase bounds.
    pub timeouts: Timeouts,
    /// Stats interval.
    pub stats_interval: Duration,
    /// Whether participants receive audio.
    pub receive_audio: bool,
    /// Decode or discard received video (with `discard`, decoded figures are not measured).
    pub receive_video: ReceiveVideo,
    /// Results.
    pub recorder: Recorder,
    /// Live counts.
    pub tally: Arc<Tally>,
    /// The live view for Prometheus, when the run exports one; it sees the rows the recorder gets.
    pub export: Option<Arc<crate::export::Exporter>>,
    /// Set on SIGINT/SIGTERM: stop joining, hang up.
    pub cancel: CancellationToken,
    /// Open sessions.
    pub sessions: Sessions,
    /// Conference membership.
    pub board: Board,
    /// The browsers, shared by `[load] participants_per_browser` participants each.
    pub browsers: Browsers,
    /// Participants with a session that have not left yet (the hang-up barrier).
    pub in_room: InRoom,
    /// Where screenshots and console logs go.
    pub artifacts: PathBuf,
    /// Run start.
    pub start: Instant,
    /// The grid, to look up which node runs a session (`None`: the local driver).
    pub grid: Option<Grid>,
    /// Configured bridges' media addresses, for attribution.
    pub bridges: Bridges,
    /// One HTTP connector for every session (building a TLS connector per session costs ~40 ms of CPU).
    pub connector: Connector,
    /// Where each cohort's browsers sit on the network.
    pub placements: crate::webdriver::capabilities::Placements,
    /// Who talks when (`[load] speakers = "p59"`; empty otherwise): audio senders' mute switches.
    pub talk: Arc<TalkPlan>,
    /// What people see (`[media] measure_quality`): the run's one ledger, `None` when off.
    pub quality: SharedLedger,
}

/// The HTTP(S) connector WebDriver sessions use.
pub type Connector = hyper_tls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// A connector for [`Shared::connector`].
pub fn connector() -> Connector {
    hyper_tls::HttpsConnector::new()
}

impl Shared {
    async fn node_of(&self, session_id: &str) -> String {
        match &self.grid {
            None => "local".to_string(),
            Some(g) => {
                match tokio::time::timeout(Duration::from_secs(5), g.node_of(session_id)).await {
                    Ok(Some(uri)) => uri,
                    _ => "unknown".to_string(),
                }
            }
        }
    }
}

/// Why a participant failed, in the words that go into `participants.csv`.
#[derive(Debug, Clone)]
struct Failure(String);

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into()))
}

/// Run one participant to its end and return its row. It leaves at its scheduled time, on
/// interruption, or when `leave` is cancelled (a run that shrinks: it then does not wait for the others
/// at the hang-up barrier).
pub async fn run(
    plan: ScheduledParticipant,
    sh: Arc<Shared>,
    leave: CancellationToken,
) -> ParticipantRow {
    let mut row = ParticipantRow {
        participant: plan.id,
        conference: plan.conference,
        room: plan.room.clone(),
        role: plan.role.to_string(),
        outcome: Outcome::Failed,
        step: plan.step,
        cohort: plan.cohort.clone().unwrap_or_default(),
        ..Default::default()
    };
    let id = plan.id;
    let client = match launch(&plan, &sh, &mut row).await {
        Ok(p) => p,
        Err(Failure(reason)) => {
            row.reason = reason;
            sh.recorder.event(id, Event::Failed, &row.reason).await;
            sh.tally.set(id, Phase::Failed);
            sh.recorder.participant(row.clone()).await;
            return row;
        }
    };

    // Join, media, call.
    let outcome = call::in_call(&plan, &sh, &client, &mut row, &leave).await;
    let completed = outcome.is_ok();
    if let Err(Failure(reason)) = &outcome {
        // Every participant of a browser that died fails with the browser's reason.
        let reason = match client.browser.lost() {
            Some(why) => format!("browser lost: {why}"),
            None => reason.clone(),
        };
        let shown = crate::redact::text(&reason);
        tracing::info!(participant = %id, reason = %shown, "participant failed");
        sh.recorder.event(id, Event::Failed, &reason).await;
        row.reason = reason;
        if client.browser.lost().is_none() {
            save_artifacts(&client, &sh, id).await;
        }
    }
    let next = if completed {
        Phase::Leaving
    } else {
        Phase::Failed
    };
    sh.tally.set(id, next);
    end_session(&plan, &sh, client, completed && !leave.is_cancelled()).await;
    if completed {
        row.outcome = Outcome::Completed;
        sh.tally.set(id, Phase::Done);
    }
    row.bridge = sh.bridges.bridge_of(&row.remote_address);
    sh.recorder.participant(row.clone()).await;
    row
}

/// Wait for the join time, then take a page: the participant's own browser session, or a window in
/// its group's shared browser (created by whichever member gets there first).
async fn launch(
    plan: &ScheduledParticipant,
    sh: &Shared,
    row: &mut ParticipantRow,
) -> Result<Page, Failure> {
    let at = sh.start + plan.join_offset;
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => {}
        _ = sh.cancel.cancelled() => return fail("interrupted before joining"),
    }
    sh.tally.set(plan.id, Phase::Joining);
    sh.recorder.event(plan.id, Event::Launching, "").await;
    let t0 = Instant::now();
    let cell = sh.browsers.enter(plan);
    let created = cell
        .get_or_init(|| async {
            let client = create_session(plan, sh).await.map_err(|Failure(r)| r)?;
            Ok(Arc::new(Browser::new(client).await))
        })
        .await;
    let browser = match created {
        Ok(b) => b.clone(),
        Err(reason) => {
            sh.browsers.leave(plan);
            return fail(reason.clone());
        }
    };
    let page = match browser
        .page(sh.browsers.shared(), sh.browsers.page_of(plan))
        .await
    {
        Ok(p) => p,
        Err(e) => {
            if sh.browsers.leave(plan) {
                let _ = tokio::time::timeout(Duration::from_secs(10), browser.close()).await;
            }
            let why = one_line(&e.to_string(), REASON_CHARS);
            return fail(format!("no window in the shared browser: {why}"));
        }
    };
    row.session_ms = Some(t0.elapsed().as_millis() as u64);
    let session_id = browser.session.clone();
    sh.sessions.add(plan.id, &session_id);
    if let Some(dir) = browser.user_data_dir() {
        sh.sessions.set_browser(plan.id, &dir);
    }
    sh.in_room.enter();
    row.node = sh.node_of(&session_id).await;
    sh.tally.node(plan.id, &row.node);
    tracing::debug!(participant = %plan.id, node = %row.node, "session created");
    sh.recorder
        .event(
            plan.id,
            Event::Session,
            format!("node={} session={session_id}", row.node),
        )
        .await;
    Ok(page)
}

/// Orderly hang-up: leave the room, blank page, wait for everyone (when `barrier`: after a completed
/// call that ended on time), then close the window, and the session when this was its last page.
async fn end_session(plan: &ScheduledParticipant, sh: &Shared, page: Page, barrier: bool) {
    // Page-mates keep the page: only its last participant blanks it.
    let last_of_page = page.leave_page();
    hang_up(&page, sh, plan.id, last_of_page).await;
    sh.board.left(plan);
    sh.in_room.leave();
    if barrier {
        let _ = tokio::time::timeout(sh.timeouts.hangup.get(), sh.in_room.until_empty()).await;
    }
    let rec = &sh.recorder;
    let last = sh.browsers.leave(plan);
    let (close, detail) = closing(
        sh.browsers.packed(),
        sh.browsers.shared(),
        last_of_page,
        last,
    );
    let closing = async {
        match close {
            Close::Session => page.browser.close().await,
            Close::Window => page.close_window().await,
            Close::Nothing => Ok(()),
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(10), closing).await;
    match closed {
        Ok(Ok(())) => {
            sh.sessions.remove(plan.id);
            rec.event(plan.id, Event::Closed, detail).await;
        }
        // The browser's last participant closed the session first: the window went with it.
        Ok(Err(_)) if close == Close::Window && page.browser.closed() => {
            sh.sessions.remove(plan.id);
            let detail = "window (gone with the session its browser's last participant closed)";
            rec.event(plan.id, Event::Closed, detail).await;
        }
        Ok(Err(e)) => rec.event(plan.id, Event::CloseFailed, e.to_string()).await,
        Err(_) => {
            rec.event(plan.id, Event::CloseFailed, "timed out after 10 s")
                .await
        }
    }
}

/// What a participant closes when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The browser session (its last participant).
    Session,
    /// Its page's window (the page's last participant; other pages remain).
    Window,
    /// Nothing: page-mates still use the page.
    Nothing,
}

/// What to close, and how the `closed` event says it: `packed` (several participants per browser),
/// `windows` (several pages per browser), the last of its page, the last of its browser.
fn closing(packed: bool, windows: bool, last_of_page: bool, last: bool) -> (Close, &'static str) {
    match (packed, last, last_of_page) {
        (false, _, _) => (Close::Session, ""),
        (true, true, _) => (Close::Session, "session (the browser's last participant)"),
        (true, false, true) if windows => (Close::Window, "window"),
        (true, false, _) => (Close::Nothing, "client (its page-mates keep the page)"),
    }
}

async fn create_session(plan: &ScheduledParticipant, sh: &Shared) -> Result<Client, Failure> {
    // A shared browser's camera and microphone serve every member, whatever the first one's role.
    let shared = sh.browsers.packed();
    let video = (shared || plan.role.sends_video())
        .then_some(())
        .and(sh.media.video.as_deref());
    let audio = (shared || plan.role.sends_audio())
        .then_some(())
        .and(sh.media.audio.as_deref());
    let mut caps = crate::webdriver::capabilities::chrome(
        &sh.webdriver,
        sh.local,
        sh.target.loopback_only(),
        video,
        audio,
    );
    // Node types (Malleus' use-node-types): video senders ask for the sender nodes.
    let node_type = if plan.role.sends_video() {
        &sh.webdriver.sender_capabilities
    } else {
        &sh.webdriver.receiver_capabilities
    };
    crate::webdriver::capabilities::merge(&mut caps, node_type);
    // The cohort's placement last: its node capability and proxy win over a node type's.
    let placement = sh.placements.of(plan.cohort.as_deref());
    crate::webdriver::capabilities::place(&mut caps, placement);
    let mut builder = ClientBuilder::new(sh.connector.clone());
    builder.capabilities(caps);
    let connect = builder.connect(sh.webdriver_url.as_str());
    tokio::select! {
        r = tokio::time::timeout(sh.timeouts.session.get(), connect) => match r {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => fail(format!("session refused: {}", one_line(&e.to_string(), REASON_CHARS))),
            Err(_) => fail(format!("session not created within {}", sh.timeouts.session)),
        },
        _ = sh.cancel.cancelled() => fail("interrupted while creating the session"),
    }
}

/// Bound a step by a timeout and by cancellation.
async fn step<T, E: std::fmt::Display>(
    sh: &Shared,
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    tokio::select! {
        r = tokio::time::timeout(limit, fut) => match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => fail(format!("{what}: {}", one_line(&e.to_string(), REASON_CHARS))),
            Err(_) => fail(format!("{what}: no answer within {}", humantime::format_duration(limit))),
        },
        _ = sh.cancel.cancelled() => fail(format!("interrupted during {what}")),
    }
}

/// Leave the room (the page's own leave), then a blank page so unload handlers run (`blank`: not
/// while page-mates still use the page).
async fn hang_up(client: &Page, sh: &Shared, id: ParticipantId, blank: bool) {
    let half = sh.timeouts.hangup.get() / 2;
    let left = match tokio::time::timeout(half, client.execute_async(LEAVE_JS, vec![])).await {
        Ok(Ok(Value::String(s))) => s,
        Ok(Ok(v)) => v.to_string(),
        Ok(Err(e)) => one_line(&e.to_string(), REASON_CHARS),
        Err(_) => "timed out".into(),
    };
    if !blank {
        let detail = format!("leave={left}; page kept for its page-mates");
        sh.recorder.event(id, Event::Left, detail).await;
        return;
    }
    let blank = tokio::time::timeout(half, client.goto("about:blank")).await;
    let detail = match blank {
        Ok(Ok(())) => format!("leave={left}"),
        Ok(Err(e)) => format!(
            "leave={left}; blank page failed: {}",
            one_line(&e.to_string(), REASON_CHARS)
        ),
        Err(_) => format!("leave={left}; blank page timed out"),
    };
    sh.recorder.event(id, Event::Left, detail).await;
}

/// Screenshot and browser console of a failed participant.
async fn save_artifacts(client: &Page, sh: &Shared, id: ParticipantId) {
    if let Ok(Ok(png)) = tokio::time::timeout(Duration::from_secs(10), client.screenshot()).await {
        let _ = tokio::fs::write(sh.artifacts.join(format!("{id}.png")), png).await;
    }
    if let Ok(Ok(Value::String(log))) = tokio::time::timeout(
        Duration::from_secs(10),
        client.execute(CONSOLE_LOG_JS, vec![]),
    )
    .await
    {
        let _ = tokio::fs::write(
            sh.artifacts.join(format!("{id}.console.log")),
            crate::redact::text(&log),
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_participant_closes_only_what_nobody_else_uses() {
        // One browser per participant.
        assert_eq!(closing(false, false, true, true).0, Close::Session);
        // Tabs: a window, or the session for the last.
        assert_eq!(closing(true, true, true, false).0, Close::Window);
        assert_eq!(closing(true, true, true, true).0, Close::Session);
        // Clients per page: nothing while page-mates remain, even in a browser of several pages.
        assert_eq!(closing(true, true, false, false).0, Close::Nothing);
        assert_eq!(closing(true, false, false, false).0, Close::Nothing);
        // One page per browser: its last participant closes the session, never only the window.
        assert_eq!(closing(true, false, true, true).0, Close::Session);
    }
}
