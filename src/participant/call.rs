//! The phases in the room: open the page, join, wait for media, then sample stats and check health
//! until it is time to leave.

use std::time::{Duration, Instant};

use fantoccini::Client;
use fantoccini::wd::TimeoutConfiguration;
use tokio_util::sync::CancellationToken;

use super::sample::{Sample, health, media_ok};
use super::{Failure, REASON_CHARS, Shared, fail, step};
use crate::live::Phase;
use crate::redact;
use crate::results::{Event, ParticipantRow};
use crate::schedule::ScheduledParticipant;
use crate::util::text::one_line;

const STATS_JS: &str = include_str!("../../assets/js/stats.js");

/// Consecutive failed samples after which the browser counts as lost.
const LOST_AFTER: u32 = 3;

async fn sample(client: &Client) -> Result<Sample, String> {
    let v = client
        .execute_async(STATS_JS, vec![])
        .await
        .map_err(|e| one_line(&e.to_string(), REASON_CHARS))?;
    serde_json::from_value(v).map_err(|e| format!("stats probe returned an unexpected shape: {e}"))
}

/// Page, join, media and the call; `Ok` when the participant stayed its whole time with media.
pub(super) async fn in_call(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Client,
    row: &mut ParticipantRow,
    leave: &CancellationToken,
) -> Result<(), Failure> {
    let nav = open_page(plan, sh, client, row).await?;
    join(plan, sh, client, row, nav).await?;
    Call::new(plan, sh).run(client, row, leave).await
}

/// Navigate to the room and wait until the document is loaded; returns when navigation started.
async fn open_page(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Client,
    row: &mut ParticipantRow,
) -> Result<Instant, Failure> {
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
    let url = sh.target.url(plan);
    sh.recorder
        .event(plan.id, Event::Navigate, redact::url(url.as_str()))
        .await;
    let nav = Instant::now();
    let goto = tokio::time::timeout(
        t.page.get() + Duration::from_secs(5),
        client.goto(url.as_str()),
    );
    tokio::select! {
        r = goto => match r {
            Ok(Ok(())) => {}
            // Like the torture suite: a renderer that answers late is not fatal; readyState decides.
            Ok(Err(e)) if e.is_timeout() => {
                sh.recorder.event(plan.id, Event::PageSlow, one_line(&e.to_string(), REASON_CHARS)).await;
            }
            Ok(Err(e)) => return fail(format!("page load: {}", one_line(&e.to_string(), REASON_CHARS))),
            Err(_) => sh.recorder.event(plan.id, Event::PageSlow, "no answer to the navigation").await,
        },
        _ = sh.cancel.cancelled() => return fail("interrupted during page load"),
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
    sh.recorder
        .event(
            plan.id,
            Event::Page,
            format!("{} ms", nav.elapsed().as_millis()),
        )
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
    Ok(nav)
}

/// Wait until the page says it is in the room.
async fn join(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Client,
    row: &mut ParticipantRow,
    nav: Instant,
) -> Result<(), Failure> {
    let t = &sh.timeouts;
    let deadline = Instant::now() + t.join.get();
    let last = loop {
        let s = step(sh, Duration::from_secs(15), "join probe", sample(client)).await?;
        let state = s.state();
        if state.phase == "failed" {
            return fail(format!(
                "join failed: {}",
                state
                    .error
                    .unwrap_or_else(|| "page reported failure".into())
            ));
        }
        if state.phase == "joined" && state.joined {
            break state;
        }
        if Instant::now() > deadline {
            return fail(format!(
                "not joined within {} (phase {}, ice {}{})",
                t.join,
                state.phase,
                state.ice.unwrap_or_else(|| "-".into()),
                state
                    .error
                    .map(|e| format!(", error {e}"))
                    .unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let join_ms = nav.elapsed().as_millis() as u64;
    row.join_ms = Some(join_ms);
    if let Some(x) = &sh.export {
        x.joined(plan.id, &row.node, plan.role, join_ms);
    }
    sh.board.joined(plan);
    sh.tally.set(plan.id, Phase::InCall);
    sh.recorder
        .event(
            plan.id,
            Event::Joined,
            format!("members={}", last.members.unwrap_or(-1)),
        )
        .await;
    Ok(())
}

/// The call: media flowing first, then periodic stats and health until it is time to leave.
struct Call<'a> {
    plan: &'a ScheduledParticipant,
    sh: &'a Shared,
    joined_at: Instant,
    /// When it leaves by its schedule (`None`: only when asked to, in a run that grows).
    leave_at: Option<Instant>,
    media_at: Option<Instant>,
    unhealthy_since: Option<(Instant, String)>,
    errors: u32,
    /// The bridge its media goes through, once the page reports a remote address.
    bridge: String,
    /// Its histograms in the live view, when the run exports one.
    exported: crate::export::Streams,
}

impl<'a> Call<'a> {
    fn new(plan: &'a ScheduledParticipant, sh: &'a Shared) -> Call<'a> {
        Call {
            plan,
            sh,
            joined_at: Instant::now(),
            leave_at: sh.start.checked_add(plan.leave_offset),
            media_at: None,
            unhealthy_since: None,
            errors: 0,
            bridge: String::new(),
            exported: crate::export::Streams::default(),
        }
    }

    async fn run(
        mut self,
        client: &Client,
        row: &mut ParticipantRow,
        leave: &CancellationToken,
    ) -> Result<(), Failure> {
        let id = self.plan.id;
        loop {
            if let Some(s) = self.sample(client).await? {
                if row.remote_address.is_empty()
                    && let Some(a) = s.remote_address()
                {
                    self.bridge = self.sh.bridges.bridge_of(&a);
                    row.remote_address = a;
                }
                let rows = s.to_rows(id);
                if let Some(x) = &self.sh.export {
                    x.stats(&mut self.exported, &self.bridge, &rows);
                }
                self.sh.recorder.stats(rows).await;
                if self.media_at.is_none() {
                    self.check_media(&s, row).await?;
                } else {
                    self.check_health(&s).await?;
                }
            }
            let now = Instant::now();
            let left = self.leave_at.map(|t| t.saturating_duration_since(now));
            if left.is_some_and(|d| d.is_zero()) {
                break;
            }
            // Sample fast until media flows, then at the stats interval.
            let pause = if self.media_at.is_none() {
                Duration::from_secs(1).min(self.sh.stats_interval)
            } else {
                self.sh.stats_interval
            };
            tokio::select! {
                _ = tokio::time::sleep(left.map_or(pause, |d| pause.min(d))) => {}
                _ = self.sh.cancel.cancelled() => {
                    self.sh.recorder.event(id, Event::Interrupted, "hanging up").await;
                    return if self.media_at.is_some() { Ok(()) } else { fail("interrupted before media flowed") };
                }
                _ = leave.cancelled() => {
                    return if self.media_at.is_some() { Ok(()) } else { fail("asked to leave before media flowed") };
                }
            }
        }
        if self.media_at.is_none() {
            return fail(format!(
                "media never flowing: {}",
                media_ok(&Sample::default(), self.plan.role, false)
                    .err()
                    .unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// One sample; `None` after a failed one, a failure after [`LOST_AFTER`] in a row.
    async fn sample(&mut self, client: &Client) -> Result<Option<Sample>, Failure> {
        match sample(client).await {
            Ok(s) => {
                self.errors = 0;
                Ok(Some(s))
            }
            Err(e) => {
                self.errors += 1;
                self.sh
                    .recorder
                    .event(self.plan.id, Event::SampleFailed, &e)
                    .await;
                if self.errors >= LOST_AFTER {
                    return fail(format!("browser lost: {e}"));
                }
                Ok(None)
            }
        }
    }

    /// Remote media is due once a remote sender is in (it may join after us).
    async fn check_media(&mut self, s: &Sample, row: &mut ParticipantRow) -> Result<(), Failure> {
        let sh = self.sh;
        let remote_since = sh.board.remote_senders_since(self.plan, sh.receive_audio);
        match media_ok(s, self.plan.role, remote_since.is_some()) {
            Ok(()) => {
                self.media_at = Some(Instant::now());
                sh.tally.media(self.plan.id);
                row.media_ms = Some(self.joined_at.elapsed().as_millis() as u64);
                let detail = if remote_since.is_some() {
                    "sending and receiving"
                } else {
                    "sending; no remote sender yet"
                };
                sh.recorder.event(self.plan.id, Event::Media, detail).await;
                Ok(())
            }
            Err(missing) => {
                let due = remote_since.map_or(self.joined_at, |r| r.max(self.joined_at))
                    + sh.timeouts.media.get();
                if Instant::now() > due {
                    return fail(format!(
                        "media never flowing within {}: {missing}",
                        sh.timeouts.media
                    ));
                }
                Ok(())
            }
        }
    }

    /// Health: in the room, ICE alive, and receiving once remote senders had time to arrive.
    async fn check_health(&mut self, s: &Sample) -> Result<(), Failure> {
        let sh = self.sh;
        let id = self.plan.id;
        let remote_since = sh.board.remote_senders_since(self.plan, sh.receive_audio);
        let recv_due = remote_since.is_some_and(|r| r + sh.timeouts.media.get() < Instant::now());
        let verdict = health(&s.state()).and_then(|()| {
            if recv_due && !s.flowing("recv", None) {
                Err("nothing received".into())
            } else {
                Ok(())
            }
        });
        match (verdict, &self.unhealthy_since) {
            (Ok(()), Some(_)) => {
                self.unhealthy_since = None;
                sh.recorder.event(id, Event::Recovered, "").await;
            }
            (Err(why), None) => {
                sh.recorder.event(id, Event::Unhealthy, &why).await;
                self.unhealthy_since = Some((Instant::now(), why));
            }
            (Err(why), Some((since, _))) if since.elapsed() > sh.timeouts.unhealthy.get() => {
                return fail(format!("unhealthy for {}: {why}", sh.timeouts.unhealthy));
            }
            _ => {}
        }
        Ok(())
    }
}
