//! One participant: launch → navigate → joined → media flowing → healthy* → leave → close.
//!
//! Every phase is bounded by `[timeouts]` and by the run's cancellation. Whatever happens after the
//! session exists, the participant leaves the room and its session is closed; a failure is recorded
//! with its reason (and a screenshot and console log) and never touches other participants.

pub mod targets;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::media::PreparedMedia;
use crate::redact;
use crate::results::{ClientStatRow, ParticipantRow, Recorder};
use crate::run::progress::{Phase, Tally};
use crate::scenario::{Timeouts, WebDriver};
use crate::schedule::{ParticipantPlan, Role};
use crate::webdriver::grid::Grid;
use targets::Target;

const STATS_JS: &str = include_str!("../../assets/js/stats.js");

/// Sessions alive right now, so none is left behind whatever happens.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, String>>>);

impl Sessions {
    fn add(&self, participant: &str, session: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(participant.to_string(), session.to_string());
        }
    }
    fn remove(&self, participant: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(participant);
        }
    }
    /// Sessions not closed yet: (participant, session id).
    pub fn open(&self) -> Vec<(String, String)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(a, b)| (a.clone(), b.clone())).collect())
            .unwrap_or_default()
    }
}

/// Who is in which conference right now, so receivers know when remote media is due.
#[derive(Debug, Default)]
pub struct Board {
    senders: Mutex<HashMap<u32, Senders>>,
}

/// The senders in one conference: participant id → (role, joined at).
type Senders = HashMap<String, (Role, Instant)>;

impl Board {
    fn joined(&self, plan: &ParticipantPlan) {
        if plan.role.sends()
            && let Ok(mut m) = self.senders.lock()
        {
            m.entry(plan.conference)
                .or_default()
                .insert(plan.id.clone(), (plan.role, Instant::now()));
        }
    }
    fn left(&self, plan: &ParticipantPlan) {
        if let Ok(mut m) = self.senders.lock()
            && let Some(c) = m.get_mut(&plan.conference)
        {
            c.remove(&plan.id);
        }
    }
    /// Since when another sender this participant should hear or see has been in its conference.
    fn remote_senders_since(&self, plan: &ParticipantPlan, receive_audio: bool) -> Option<Instant> {
        let m = self.senders.lock().ok()?;
        m.get(&plan.conference)?
            .iter()
            .filter(|(id, (role, _))| {
                *id != &plan.id && (role.sends_video() || (receive_audio && role.sends_audio()))
            })
            .map(|(_, (_, t))| *t)
            .min()
    }
}

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
    /// Results.
    pub recorder: Recorder,
    /// Live counts.
    pub tally: Arc<Tally>,
    /// Set on SIGINT/SIGTERM: stop joining, hang up.
    pub cancel: CancellationToken,
    /// Open sessions.
    pub sessions: Sessions,
    /// Conference membership.
    pub board: Board,
    /// Participants with a session that have not left yet (the hang-up barrier).
    pub in_room: watch::Sender<usize>,
    /// Where screenshots and console logs go.
    pub artifacts: PathBuf,
    /// Run start.
    pub start: Instant,
    /// The grid, to look up which node runs a session (`None`: the local driver).
    pub grid: Option<Grid>,
    /// Configured bridges' media addresses, for attribution: (IP, name).
    pub bridges: Vec<(String, String)>,
    /// One HTTP connector for every session (building a TLS connector per session costs ~40 ms of CPU).
    pub connector: Connector,
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

/// The page's own account of itself (`window.__lt.state()`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageState {
    /// `loading`, `connecting`, `joined`, `left`, `failed`.
    #[serde(default)]
    pub phase: String,
    /// In the room.
    #[serde(default)]
    pub joined: bool,
    /// ICE connection state.
    #[serde(default)]
    pub ice: Option<String>,
    /// Fatal error text.
    #[serde(default)]
    pub error: Option<String>,
    /// Participants in the room (including self).
    #[serde(default)]
    pub members: Option<i64>,
    /// Free text.
    #[serde(default)]
    pub detail: Option<String>,
}

/// One stream as stats.js reports it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamStats {
    #[serde(default)]
    peer: Option<String>,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    kind: String,
    bitrate_kbps: Option<f64>,
    fps: Option<f64>,
    width: Option<f64>,
    height: Option<f64>,
    packets_lost: Option<f64>,
    loss_ratio: Option<f64>,
    jitter_ms: Option<f64>,
    rtt_ms: Option<f64>,
    freeze_count: Option<f64>,
    freeze_ms: Option<f64>,
    #[serde(default)]
    concealed_ratio: Option<f64>,
    #[serde(default)]
    quality_limitation: Option<String>,
    #[serde(default)]
    remote_address: Option<String>,
}

/// One sample: the page state and its streams.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sample {
    /// Page state.
    #[serde(default)]
    pub state: Option<PageState>,
    /// Streams.
    #[serde(default)]
    pub rows: Vec<StreamStats>,
}

impl Sample {
    fn state(&self) -> PageState {
        self.state.clone().unwrap_or_default()
    }
    fn flowing(&self, direction: &str, kind: Option<&str>) -> bool {
        self.rows.iter().any(|r| {
            r.direction == direction
                && kind.is_none_or(|k| r.kind == k)
                && r.bitrate_kbps.is_some_and(|b| b > 0.0)
        })
    }
    /// The media server address: the first stream's selected-pair remote address.
    fn remote_address(&self) -> Option<String> {
        self.rows
            .iter()
            .find_map(|r| r.remote_address.clone().filter(|a| !a.is_empty()))
    }
    fn to_rows(&self, participant: &str) -> Vec<ClientStatRow> {
        let ts = crate::results::now();
        let round = |v: Option<f64>, d: i32| v.map(|x| (x * 10f64.powi(d)).round() / 10f64.powi(d));
        self.rows
            .iter()
            .map(|r| ClientStatRow {
                ts: ts.clone(),
                participant: participant.to_string(),
                peer: r.peer.clone().unwrap_or_default(),
                direction: r.direction.clone(),
                kind: r.kind.clone(),
                bitrate_kbps: round(r.bitrate_kbps, 1),
                fps: round(r.fps, 2),
                width: r.width.map(|x| x as u32),
                height: r.height.map(|x| x as u32),
                packets_lost: r.packets_lost.map(|x| x as i64),
                loss_ratio: round(r.loss_ratio, 4),
                jitter_ms: round(r.jitter_ms, 1),
                rtt_ms: round(r.rtt_ms, 1),
                freeze_count: r.freeze_count.map(|x| x as u64),
                freeze_ms: round(r.freeze_ms, 0),
                concealed_ratio: round(r.concealed_ratio, 4),
                quality_limitation: r.quality_limitation.clone().unwrap_or_default(),
                remote_address: r.remote_address.clone().unwrap_or_default(),
            })
            .collect()
    }
}

/// Why a participant failed, in the words that go into `participants.csv`.
#[derive(Debug, Clone)]
struct Failure(String);

fn fail<T>(msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(msg.into()))
}

/// Media check: own media sent; remote media received once a remote sender has been in the room.
fn media_ok(sample: &Sample, role: Role, expect_remote: bool) -> Result<(), String> {
    let mut missing = Vec::new();
    if role.sends_video() && !sample.flowing("send", Some("video")) {
        missing.push("no video sent");
    }
    if role.sends_audio() && !sample.flowing("send", Some("audio")) {
        missing.push("no audio sent");
    }
    if expect_remote && !sample.flowing("recv", None) {
        missing.push("nothing received from remote senders");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(", "))
    }
}

/// Health while in the call.
fn health(state: &PageState) -> Result<(), String> {
    if state.phase == "failed" {
        return Err(format!(
            "page failed: {}",
            state.error.clone().unwrap_or_default()
        ));
    }
    if state.phase == "left" || !state.joined {
        return Err(format!("not in the room (phase {})", state.phase));
    }
    match state.ice.as_deref() {
        Some("failed") | Some("closed") => {
            Err(format!("ICE {}", state.ice.as_deref().unwrap_or_default()))
        }
        _ => Ok(()),
    }
}

/// Run one participant to its end and return its row.
pub async fn run(plan: ParticipantPlan, sh: Arc<Shared>) -> ParticipantRow {
    let mut row = ParticipantRow {
        participant: plan.id.clone(),
        conference: plan.conference,
        room: plan.room.clone(),
        role: plan.role.to_string(),
        node: String::new(),
        outcome: "failed".into(),
        ..Default::default()
    };
    let rec = sh.recorder.clone();
    let id = plan.id.as_str();

    // Wait for the join time.
    let at = sh.start + plan.join_offset;
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => {}
        _ = sh.cancel.cancelled() => {
            row.reason = "interrupted before joining".into();
            rec.event(id, "failed", &row.reason).await;
            sh.tally.set(Phase::Scheduled, Phase::Failed);
            rec.participant(row.clone()).await;
            return row;
        }
    }
    sh.tally.set(Phase::Scheduled, Phase::Joining);
    rec.event(id, "launching", "").await;

    // Session.
    let t0 = Instant::now();
    let client = match create_session(&plan, &sh).await {
        Ok(c) => c,
        Err(Failure(reason)) => {
            row.reason = reason;
            rec.event(id, "failed", &row.reason).await;
            sh.tally.set(Phase::Joining, Phase::Failed);
            rec.participant(row.clone()).await;
            return row;
        }
    };
    row.session_ms = Some(t0.elapsed().as_millis() as u64);
    let session_id = client.session_id().await.ok().flatten().unwrap_or_default();
    sh.sessions.add(id, &session_id);
    sh.in_room.send_modify(|n| *n += 1);
    row.node = sh.node_of(&session_id).await;
    rec.event(
        id,
        "session",
        format!("node={} session={session_id}", row.node),
    )
    .await;

    // Join, media, call.
    let outcome = in_call(&plan, &sh, &client, &mut row).await;
    let ok = outcome.is_ok();
    if let Err(Failure(reason)) = &outcome {
        row.reason = reason.clone();
        rec.event(id, "failed", reason).await;
        save_artifacts(&client, &sh, id).await;
    }
    let was = if row.media_ms.is_some() || row.join_ms.is_some() {
        Phase::InCall
    } else {
        Phase::Joining
    };
    sh.tally
        .set(was, if ok { Phase::Leaving } else { Phase::Failed });

    // Orderly hang-up: leave the room, blank page, wait for all, close.
    hang_up(&client, &sh, id).await;
    sh.board.left(&plan);
    sh.in_room.send_modify(|n| *n = n.saturating_sub(1));
    if ok {
        let mut rx = sh.in_room.subscribe();
        let _ = tokio::time::timeout(sh.timeouts.hangup.get(), rx.wait_for(|n| *n == 0)).await;
    }
    match tokio::time::timeout(Duration::from_secs(10), client.close()).await {
        Ok(Ok(())) => {
            sh.sessions.remove(id);
            rec.event(id, "closed", "").await;
        }
        Ok(Err(e)) => rec.event(id, "close_failed", e.to_string()).await,
        Err(_) => rec.event(id, "close_failed", "timed out after 10 s").await,
    }
    if ok {
        row.outcome = "ok".into();
        sh.tally.set(Phase::Leaving, Phase::Done);
    }
    row.bridge = crate::metrics::bridge_of(&row.remote_address, &sh.bridges);
    rec.participant(row.clone()).await;
    row
}

async fn create_session(plan: &ParticipantPlan, sh: &Shared) -> Result<Client, Failure> {
    let video = plan
        .role
        .sends_video()
        .then_some(())
        .and(sh.media.video.as_deref());
    let audio = plan
        .role
        .sends_audio()
        .then_some(())
        .and(sh.media.audio.as_deref());
    let caps = crate::webdriver::capabilities::chrome(
        &sh.webdriver,
        sh.local,
        sh.target.loopback_only(),
        video,
        audio,
    );
    let mut builder = ClientBuilder::new(sh.connector.clone());
    builder.capabilities(caps);
    let connect = builder.connect(sh.webdriver_url.as_str());
    tokio::select! {
        r = tokio::time::timeout(sh.timeouts.session.get(), connect) => match r {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => fail(format!("session refused: {}", one_line(&e.to_string()))),
            Err(_) => fail(format!("session not created within {}", sh.timeouts.session)),
        },
        _ = sh.cancel.cancelled() => fail("interrupted while creating the session"),
    }
}

fn one_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    if line.len() > 300 {
        format!("{}…", &line[..300])
    } else {
        line.to_string()
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
            Ok(Err(e)) => fail(format!("{what}: {}", one_line(&e.to_string()))),
            Err(_) => fail(format!("{what}: no answer within {}", humantime::format_duration(limit))),
        },
        _ = sh.cancel.cancelled() => fail(format!("interrupted during {what}")),
    }
}

async fn sample(client: &Client) -> Result<Sample, String> {
    let v = client
        .execute_async(STATS_JS, vec![])
        .await
        .map_err(|e| one_line(&e.to_string()))?;
    serde_json::from_value(v).map_err(|e| format!("stats probe returned an unexpected shape: {e}"))
}

async fn in_call(
    plan: &ParticipantPlan,
    sh: &Shared,
    client: &Client,
    row: &mut ParticipantRow,
) -> Result<(), Failure> {
    let id = plan.id.as_str();
    let rec = &sh.recorder;
    let t = &sh.timeouts;
    let timeouts = TimeoutConfiguration::new(
        Some(Duration::from_secs(15)),
        Some(t.page.get()),
        Some(Duration::ZERO),
    );
    step(
        sh,
        Duration::from_secs(10),
        "setting timeouts",
        client.update_timeouts(timeouts),
    )
    .await?;

    // Page.
    let url = sh.target.url(plan);
    rec.event(id, "navigate", redact::url(url.as_str())).await;
    let nav = Instant::now();
    match step(
        sh,
        t.page.get() + Duration::from_secs(5),
        "page load",
        client.goto(url.as_str()),
    )
    .await
    {
        Ok(()) => {}
        // Like the torture suite: a renderer that answers late is not fatal; readyState decides.
        Err(Failure(e)) if e.contains("timeout") || e.contains("Timed out") => {
            rec.event(id, "page_slow", e).await;
        }
        Err(f) => return Err(f),
    }
    let page_deadline = nav + t.page.get();
    loop {
        let ready = step(
            sh,
            Duration::from_secs(10),
            "page state",
            client.execute("return document.readyState", vec![]),
        )
        .await?;
        if ready == "complete" {
            break;
        }
        if Instant::now() > page_deadline {
            return fail(format!(
                "page not loaded within {} (readyState {ready})",
                t.page
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    row.page_ms = Some(nav.elapsed().as_millis() as u64);
    rec.event(id, "page", format!("{} ms", nav.elapsed().as_millis()))
        .await;
    if let Some(js) = sh.target.probe_js() {
        step(
            sh,
            Duration::from_secs(10),
            "probe injection",
            client.execute(js, vec![]),
        )
        .await?;
    }

    // Joined: in the room with ICE connected.
    let join_deadline = Instant::now() + t.join.get();
    let mut last;
    loop {
        let s = step(sh, Duration::from_secs(15), "join probe", async {
            sample(client).await
        })
        .await?;
        last = s.state();
        if last.phase == "failed" {
            return fail(format!(
                "join failed: {}",
                last.error
                    .clone()
                    .unwrap_or_else(|| "page reported failure".into())
            ));
        }
        if last.phase == "joined" && last.joined {
            break;
        }
        if Instant::now() > join_deadline {
            return fail(format!(
                "not joined within {} (phase {}, ice {}{})",
                t.join,
                last.phase,
                last.ice.clone().unwrap_or_else(|| "-".into()),
                last.error
                    .clone()
                    .map(|e| format!(", error {e}"))
                    .unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    row.join_ms = Some(nav.elapsed().as_millis() as u64);
    sh.board.joined(plan);
    sh.tally.set(Phase::Joining, Phase::InCall);
    rec.event(
        id,
        "joined",
        format!("members={}", last.members.unwrap_or(-1)),
    )
    .await;

    // Media flowing, then periodic stats and health until it is time to leave.
    let joined_at = Instant::now();
    let leave_at = sh.start + plan.leave_offset;
    let mut media_at: Option<Instant> = None;
    let mut unhealthy_since: Option<(Instant, String)> = None;
    let mut errors = 0u32;
    loop {
        let s = match sample(client).await {
            Ok(s) => {
                errors = 0;
                s
            }
            Err(e) => {
                errors += 1;
                rec.event(id, "sample_failed", &e).await;
                if errors >= 3 {
                    return fail(format!("browser lost: {e}"));
                }
                Sample::default()
            }
        };
        if errors == 0 {
            rec.stats(s.to_rows(id)).await;
            if row.remote_address.is_empty()
                && let Some(a) = s.remote_address()
            {
                row.remote_address = a;
            }
        }
        let remote_since = sh.board.remote_senders_since(plan, sh.receive_audio);
        if media_at.is_none() && errors == 0 {
            // Remote media is due once a remote sender is in (it may join after us).
            match media_ok(&s, plan.role, remote_since.is_some()) {
                Ok(()) => {
                    media_at = Some(Instant::now());
                    row.media_ms = Some(joined_at.elapsed().as_millis() as u64);
                    rec.event(
                        id,
                        "media",
                        if remote_since.is_some() {
                            "sending and receiving"
                        } else {
                            "sending; no remote sender yet"
                        },
                    )
                    .await;
                }
                Err(missing) => {
                    let due = remote_since.map_or(joined_at, |r| r.max(joined_at)) + t.media.get();
                    if Instant::now() > due {
                        return fail(format!("media never flowing within {}: {missing}", t.media));
                    }
                }
            }
        } else if errors == 0 {
            // Health: in the room, ICE alive, and receiving once remote senders had time to arrive.
            let state = s.state();
            let recv_due = remote_since.is_some_and(|r| r + t.media.get() < Instant::now());
            let verdict = health(&state).and_then(|()| {
                if recv_due && !s.flowing("recv", None) {
                    Err("nothing received".into())
                } else {
                    Ok(())
                }
            });
            match (verdict, &unhealthy_since) {
                (Ok(()), Some(_)) => {
                    unhealthy_since = None;
                    rec.event(id, "recovered", "").await;
                }
                (Err(why), None) => {
                    rec.event(id, "unhealthy", &why).await;
                    unhealthy_since = Some((Instant::now(), why));
                }
                (Err(why), Some((since, _))) if since.elapsed() > t.unhealthy.get() => {
                    return fail(format!("unhealthy for {}: {why}", t.unhealthy));
                }
                _ => {}
            }
        }
        let now = Instant::now();
        if now >= leave_at {
            break;
        }
        // Sample fast until media flows, then at the stats interval.
        let pause = if media_at.is_none() {
            Duration::from_secs(1).min(sh.stats_interval)
        } else {
            sh.stats_interval
        };
        tokio::select! {
            _ = tokio::time::sleep(pause.min(leave_at - now)) => {}
            _ = sh.cancel.cancelled() => {
                rec.event(id, "interrupted", "hanging up").await;
                return if media_at.is_some() { Ok(()) } else { fail("interrupted before media flowed") };
            }
        }
    }
    if media_at.is_none() {
        return fail(format!(
            "media never flowing: {}",
            media_ok(&Sample::default(), plan.role, false)
                .err()
                .unwrap_or_default()
        ));
    }
    Ok(())
}

/// Leave the room (the page's own leave), then a blank page so unload handlers run.
async fn hang_up(client: &Client, sh: &Shared, id: &str) {
    let half = sh.timeouts.hangup.get() / 2;
    let leave = "var done = arguments[arguments.length - 1];\
        try { if (!window.__lt) { done('no __lt'); } else { Promise.resolve(window.__lt.leave()).then(function(){ done('ok'); }, function(e){ done(String(e)); }); } } catch (e) { done(String(e)); }";
    let left = match tokio::time::timeout(half, client.execute_async(leave, vec![])).await {
        Ok(Ok(Value::String(s))) => s,
        Ok(Ok(v)) => v.to_string(),
        Ok(Err(e)) => one_line(&e.to_string()),
        Err(_) => "timed out".into(),
    };
    let blank = tokio::time::timeout(half, client.goto("about:blank")).await;
    let detail = match blank {
        Ok(Ok(())) => format!("leave={left}"),
        Ok(Err(e)) => format!(
            "leave={left}; blank page failed: {}",
            one_line(&e.to_string())
        ),
        Err(_) => format!("leave={left}; blank page timed out"),
    };
    sh.recorder.event(id, "left", detail).await;
}

/// Screenshot and browser console of a failed participant.
async fn save_artifacts(client: &Client, sh: &Shared, id: &str) {
    if let Ok(Ok(png)) = tokio::time::timeout(Duration::from_secs(10), client.screenshot()).await {
        let _ = tokio::fs::write(sh.artifacts.join(format!("{id}.png")), png).await;
    }
    let js = "return (window.__ltConsole || []).map(function(e){ return new Date(e.ts).toISOString() + ' ' + e.level + ' ' + e.text; }).join('\\n');";
    if let Ok(Ok(Value::String(log))) =
        tokio::time::timeout(Duration::from_secs(10), client.execute(js, vec![])).await
    {
        let _ = tokio::fs::write(
            sh.artifacts.join(format!("{id}.console.log")),
            redact_text(&log),
        )
        .await;
    }
}

/// Mask anything that looks like a token in free text (console logs can echo URLs).
fn redact_text(text: &str) -> String {
    text.split_inclusive(char::is_whitespace)
        .map(|w| {
            if w.contains("jwt=") || w.contains("token=") {
                redact::url(w.trim_end()) + &w[w.trim_end().len()..]
            } else {
                w.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(direction: &str, kind: &str, kbps: Option<f64>) -> StreamStats {
        StreamStats {
            direction: direction.into(),
            kind: kind.into(),
            bitrate_kbps: kbps,
            ..Default::default()
        }
    }

    #[test]
    fn media_check_follows_role_and_remote_presence() {
        let s = Sample {
            state: None,
            rows: vec![
                stream("send", "video", Some(200.0)),
                stream("recv", "video", Some(0.0)),
            ],
        };
        assert!(media_ok(&s, Role::Video, false).is_ok());
        assert_eq!(
            media_ok(&s, Role::Video, true).unwrap_err(),
            "nothing received from remote senders"
        );
        assert_eq!(
            media_ok(&s, Role::AudioVideo, false).unwrap_err(),
            "no audio sent"
        );
        assert!(media_ok(&Sample::default(), Role::Receiver, false).is_ok());
        let first = Sample {
            state: None,
            rows: vec![stream("send", "video", None)],
        };
        assert!(
            media_ok(&first, Role::Video, false).is_err(),
            "the first sample has no rates yet"
        );
    }

    #[test]
    fn health_rules() {
        let ok = PageState {
            phase: "joined".into(),
            joined: true,
            ice: Some("connected".into()),
            ..Default::default()
        };
        assert!(health(&ok).is_ok());
        let disc = PageState {
            ice: Some("disconnected".into()),
            ..ok.clone()
        };
        assert!(health(&disc).is_ok(), "transient disconnected is tolerated");
        let failed = PageState {
            ice: Some("failed".into()),
            ..ok.clone()
        };
        assert!(health(&failed).is_err());
        let left = PageState {
            phase: "left".into(),
            ..ok
        };
        assert!(health(&left).is_err());
    }

    #[test]
    fn console_logs_lose_tokens() {
        assert_eq!(
            redact_text("GET https://m/x?jwt=abc done"),
            "GET https://m/x?jwt=*** done"
        );
    }
}
