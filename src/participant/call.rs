//! The phases in the room: open the page, join, wait for media, then sample stats and check health
//! until it is time to leave.

use std::time::{Duration, Instant};

use super::browser::Page;
use tokio_util::sync::CancellationToken;

use super::quality::QualityWatch;
use super::sample::{PageState, Sample, health, media_ok};
use super::{Failure, REASON_CHARS, Shared, fail, step};
use crate::live::Phase;
use crate::results::{Event, ParticipantRow};
use crate::schedule::talk::Switch;
use crate::schedule::{ParticipantId, ScheduledParticipant};
use crate::util::text::one_line;

const STATS_JS: &str = include_str!("../../assets/js/stats.js");
const TALK_METER_JS: &str = include_str!("../../assets/js/talk-meter.js");
const MUTE_JS: &str = include_str!("../../assets/js/mute.js");

/// As good as never: the leave time of a growing run's participants (they leave when asked).
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Consecutive failed samples after which the browser counts as lost.
const LOST_AFTER: u32 = 3;

async fn sample(client: &Page) -> Result<Sample, String> {
    let v = client
        .execute_async(STATS_JS, vec![])
        .await
        .map_err(|e| one_line(&e.to_string(), REASON_CHARS))?;
    serde_json::from_value(v).map_err(|e| format!("stats probe returned an unexpected shape: {e}"))
}

/// With a speaker model, what the receivers hear is measured in the page (assets/js/talk-meter.js).
async fn install_talk_meter(client: &Page, sh: &Shared) -> Result<(), Failure> {
    if sh.talk.is_empty() {
        return Ok(());
    }
    let js = client.execute(TALK_METER_JS, vec![]);
    step(sh, Duration::from_secs(10), "talk meter", js).await?;
    Ok(())
}

/// The page's last error-level console lines, as `; console: a | b` (empty when none): the load-test
/// page reports a failed connection only there.
async fn console_errors(client: &Page) -> String {
    let js = "return (window.__ltConsole || []).filter(function (e) { return e.level === 'error'; })\
              .slice(-3).map(function (e) { return e.text; });";
    let lines = match tokio::time::timeout(Duration::from_secs(5), client.execute(js, vec![])).await
    {
        Ok(Ok(serde_json::Value::Array(v))) => v,
        _ => return String::new(),
    };
    let lines: Vec<String> = lines
        .iter()
        .filter_map(|l| l.as_str())
        .map(|l| one_line(l, 160))
        .collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("; console: {}", lines.join(" | "))
    }
}

/// A page that lost its probe (an app reload, a redirect) gets it again (event `reload`), so the
/// participant goes on if the app recovers; Jitsi's auth-error page is a failure with that reason.
/// True when the probe was injected again (sample once more).
async fn recover_probe(
    client: &Page,
    sh: &Shared,
    id: ParticipantId,
    s: &Sample,
) -> Result<bool, Failure> {
    if s.on_auth_error_page() {
        return fail(
            "redirected to the auth-error page (static/authError.html): the deployment refused the token",
        );
    }
    if !s.probe_missing {
        return Ok(false);
    }
    if sh.target.probe_js().is_none() {
        return Ok(false);
    }
    inject(client, sh).await?;
    super::quality::inject(client, sh, id).await;
    let path = s.path.as_deref().unwrap_or("?");
    let detail = format!("the page reloaded or navigated ({path}): probe injected again");
    sh.recorder.event(id, Event::Reload, detail).await;
    Ok(true)
}

/// Page, join, media and the call; `Ok` when the participant stayed its whole time with media.
pub(super) async fn in_call(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Page,
    row: &mut ParticipantRow,
    leave: &CancellationToken,
) -> Result<(), Failure> {
    let nav = super::page::open_page(plan, sh, client, row).await?;
    join(plan, sh, client, row, nav).await?;
    Call::new(plan, sh).run(client, row, leave).await
}

/// The target's probe (the Janus page has its own) and, with a speaker model, the talk meter.
pub(super) async fn inject(client: &Page, sh: &Shared) -> Result<(), Failure> {
    if let Some(js) = sh.target.probe_js() {
        let run = client.execute(js, vec![]);
        step(sh, Duration::from_secs(10), "probe injection", run).await?;
    }
    install_talk_meter(client, sh).await
}

/// Wait until the page says it is in the room.
async fn join(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Page,
    row: &mut ParticipantRow,
    nav: Instant,
) -> Result<(), Failure> {
    let t = &sh.timeouts;
    let deadline = Instant::now() + t.join.get();
    let last = loop {
        let mut s = step(sh, Duration::from_secs(15), "join probe", sample(client)).await?;
        if recover_probe(client, sh, plan.id, &s).await? {
            s = step(sh, Duration::from_secs(15), "join probe", sample(client)).await?;
        }
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
                "not joined within {} (phase {}, ice {}{}){}",
                t.join,
                state.phase,
                state.ice.unwrap_or_else(|| "-".into()),
                state
                    .error
                    .map(|e| format!(", error {e}"))
                    .unwrap_or_default(),
                console_errors(client).await
            ));
        }
        tokio::time::sleep(sh.browsers.poll(Duration::from_millis(500))).await;
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
            match &last.endpoint {
                Some(e) => format!("members={} endpoint={e}", last.members.unwrap_or(-1)),
                None => format!("members={}", last.members.unwrap_or(-1)),
            },
        )
        .await;
    Ok(())
}

/// Where the media check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaState {
    /// Media is due (deadline from `Call::due_from`) and not flowing yet.
    Pending,
    /// Alone in the room without a media session: nothing is due until someone else joins.
    Alone,
    /// Media flowed; health checks from here on.
    Flowing,
}

/// The call: media flowing first, then periodic stats and health until it is time to leave.
struct Call<'a> {
    plan: &'a ScheduledParticipant,
    sh: &'a Shared,
    joined_at: Instant,
    leave_at: Instant,
    media: MediaState,
    /// When media (own and remote) became due: joined, or someone joined a participant left alone.
    due_from: Instant,
    media_at: Option<Instant>,
    ice: IceWatch,
    unhealthy_since: Option<(Instant, String)>,
    errors: u32,
    /// The bridge its media goes through, once the page reports a remote address.
    bridge: String,
    /// Its histograms in the live view, when the run exports one.
    exported: crate::export::Streams,
    /// This participant's mute switches (the speaker model), and the next one to apply.
    switches: &'a [Switch],
    next_switch: usize,
    /// What people see: one take per stats sample once media flows.
    quality: QualityWatch,
    /// Decoded received video was already reported (`receive_video = "discard"`).
    decoding_seen: bool,
}

/// ICE until it first connects: required once another member is in the room (under the media
/// deadline); a `failed` state gets the unhealthy grace, as lib-jitsi-meet restarts ICE.
#[derive(Debug, Default)]
struct IceWatch {
    others_since: Option<Instant>,
    failed_since: Option<Instant>,
    connected_at: Option<Instant>,
}

impl<'a> Call<'a> {
    fn new(plan: &'a ScheduledParticipant, sh: &'a Shared) -> Call<'a> {
        let now = Instant::now();
        Call {
            plan,
            sh,
            joined_at: now,
            // A growing run's participants leave when asked, not by the clock.
            leave_at: sh
                .start
                .checked_add(plan.leave_offset)
                .unwrap_or_else(|| now + NEVER),
            media: MediaState::Pending,
            due_from: now,
            media_at: None,
            ice: IceWatch::default(),
            unhealthy_since: None,
            errors: 0,
            bridge: String::new(),
            exported: crate::export::Streams::default(),
            switches: sh.talk.get(&plan.id).map_or(&[], Vec::as_slice),
            next_switch: 0,
            quality: QualityWatch::default(),
            decoding_seen: false,
        }
    }

    /// Apply the speaker model's switches that are due: the state at the latest one (skipping any
    /// passed while the page was busy), through the page's own mute; `talk`/`silent` events.
    async fn apply_talk(&mut self, client: &Page) {
        let now = Instant::now();
        let mut due = None;
        while let Some(sw) = self.switches.get(self.next_switch)
            && self.sh.start + sw.at <= now
        {
            due = Some(*sw);
            self.next_switch += 1;
        }
        let Some(sw) = due else { return };
        let applied = tokio::time::timeout(
            Duration::from_secs(5),
            client.execute(MUTE_JS, vec![serde_json::Value::Bool(!sw.talking)]),
        )
        .await;
        let detail = match applied {
            Ok(Ok(serde_json::Value::Bool(true))) => String::new(),
            Ok(Ok(_)) => "the page has no mute to apply".into(),
            Ok(Err(e)) => one_line(&e.to_string(), REASON_CHARS),
            Err(_) => "no answer within 5 s".into(),
        };
        let event = if sw.talking {
            Event::Talk
        } else {
            Event::Silent
        };
        self.sh.recorder.event(self.plan.id, event, detail).await;
    }

    /// When the next switch is due.
    fn next_switch_at(&self) -> Option<Instant> {
        self.switches
            .get(self.next_switch)
            .map(|sw| self.sh.start + sw.at)
    }

    async fn run(
        mut self,
        client: &Page,
        row: &mut ParticipantRow,
        leave: &CancellationToken,
    ) -> Result<(), Failure> {
        let id = self.plan.id;
        if !self.switches.is_empty() {
            // Muted unless the model says this participant is talking now.
            let muted = self
                .switches
                .iter()
                .take_while(|sw| self.sh.start + sw.at <= Instant::now())
                .last()
                .is_none_or(|sw| !sw.talking);
            let _ = client
                .execute(MUTE_JS, vec![serde_json::Value::Bool(muted)])
                .await;
        }
        let mut next_sample = Instant::now();
        loop {
            self.apply_talk(client).await;
            if Instant::now() < next_sample {
                let wake = self
                    .next_switch_at()
                    .map_or(next_sample, |t| t.min(next_sample))
                    .min(self.leave_at);
                tokio::select! {
                    _ = tokio::time::sleep_until(wake.into()) => {}
                    _ = self.sh.cancel.cancelled() => {
                        self.sh.recorder.event(id, Event::Interrupted, "hanging up").await;
                        return self.last_take(client, "interrupted before media flowed").await;
                    }
                    _ = leave.cancelled() => {
                        return self.last_take(client, "asked to leave before media flowed").await;
                    }
                }
                if Instant::now() < self.leave_at {
                    continue;
                }
            }
            if let Some(s) = self.sample(client).await? {
                if row.remote_address.is_empty()
                    && let Some(a) = s.remote_address()
                {
                    self.bridge = self.sh.bridges.bridge_of(&a);
                    row.remote_address = a;
                }
                let decoded = self.sh.receive_video.decodes();
                if !decoded {
                    self.check_discarded(&s).await;
                }
                let rows = s.to_rows(id, decoded);
                if let Some(x) = &self.sh.export {
                    x.stats(&mut self.exported, &self.bridge, &rows);
                }
                self.sh.recorder.stats(rows).await;
                self.watch_ice(&s.state(), row).await?;
                if self.media == MediaState::Flowing {
                    self.check_health(&s).await?;
                    self.quality.tick(client, self.sh, id).await;
                } else {
                    self.check_media(&s, row).await?;
                }
            }
            let now = Instant::now();
            if now >= self.leave_at {
                break;
            }
            // Sample fast until media flows, then at the stats interval.
            let pause = if self.media == MediaState::Flowing {
                self.sh.stats_interval
            } else {
                self.sh
                    .browsers
                    .poll(Duration::from_secs(1))
                    .min(self.sh.stats_interval)
            };
            next_sample = now + pause.min(self.leave_at - now);
        }
        if self.media_at.is_none() {
            return fail(format!(
                "media never flowing: {}",
                // A receiver has nothing of its own to send: what it lacked is what it should receive.
                media_ok(&Sample::default(), self.plan.role, !self.plan.role.sends())
                    .err()
                    .unwrap_or_default()
            ));
        }
        Ok(())
    }

    /// Leaving between two samples: the frames seen since the last one are taken once more (bounded
    /// by `quality::LAST_TAKE`), then `Ok` when media flowed, else a failure saying `why`.
    async fn last_take(&mut self, client: &Page, why: &str) -> Result<(), Failure> {
        if self.media == MediaState::Flowing {
            self.quality.last(client, self.sh, self.plan.id).await;
        }
        if self.media_at.is_some() {
            Ok(())
        } else {
            fail(why)
        }
    }

    /// With `receive_video = "discard"`, received video must not be decoded: say so once (event
    /// `decoding`) when the page decodes it anyway.
    async fn check_discarded(&mut self, s: &Sample) {
        if self.decoding_seen {
            return;
        }
        if let Some(fps) = s.decoded_fps().filter(|f| *f > 0.0) {
            self.decoding_seen = true;
            let detail = format!("{fps:.1} fps decoded although receive_video = \"discard\"");
            self.sh
                .recorder
                .event(self.plan.id, Event::Decoding, detail)
                .await;
        }
    }

    /// One sample; `None` after a failed one, a failure after [`LOST_AFTER`] in a row.
    async fn sample(&mut self, client: &Page) -> Result<Option<Sample>, Failure> {
        let mut got = sample(client).await;
        if let Ok(s) = &got
            && recover_probe(client, self.sh, self.plan.id, s).await?
        {
            got = sample(client).await;
        }
        match got {
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
                if let Some(why) = client.browser.lost() {
                    return fail(format!("browser lost: {why}"));
                }
                if self.errors >= LOST_AFTER {
                    return fail(format!("browser lost: {e}"));
                }
                Ok(None)
            }
        }
    }

    /// ICE until it first connects (afterwards [`health`] judges it): record when it connected;
    /// fail when another member has been in for the media timeout without it, or when it stayed
    /// `failed` longer than the unhealthy timeout.
    async fn watch_ice(&mut self, st: &PageState, row: &mut ParticipantRow) -> Result<(), Failure> {
        let (sh, id, now) = (self.sh, self.plan.id, Instant::now());
        if self.ice.connected_at.is_some() {
            return Ok(());
        }
        if st.ice_up() {
            self.ice.connected_at = Some(now);
            row.ice_ms = Some(self.joined_at.elapsed().as_millis() as u64);
            if self.ice.failed_since.take().is_some() {
                sh.recorder
                    .event(id, Event::Recovered, "ICE connected")
                    .await;
            }
            let detail = format!("members={}", st.members.unwrap_or(-1));
            sh.recorder.event(id, Event::Ice, detail).await;
            return Ok(());
        }
        self.ice.others_since = match self.ice.others_since {
            Some(t) if st.others_present() => Some(t),
            _ if st.others_present() => Some(now),
            _ => None,
        };
        if st.ice.as_deref() == Some("failed") {
            let since = *self.ice.failed_since.get_or_insert(now);
            if since == now {
                let why = "ICE failed before connecting; waiting for an ICE restart";
                sh.recorder.event(id, Event::Unhealthy, why).await;
            }
            if now - since > sh.timeouts.unhealthy.get() {
                return fail(format!(
                    "ICE failed for {} before it ever connected",
                    sh.timeouts.unhealthy
                ));
            }
        } else if self.ice.failed_since.take().is_some() {
            sh.recorder
                .event(id, Event::Recovered, "ICE no longer failed")
                .await;
        }
        let expected = self.plan.role.sends()
            || sh
                .board
                .remote_senders_since(self.plan, sh.receive_audio)
                .is_some();
        if let Some(since) = self.ice.others_since
            && expected
            && now > since + sh.timeouts.media.get()
        {
            return fail(format!(
                "ICE not connected within {} after another member joined (ice {})",
                sh.timeouts.media,
                st.ice.as_deref().unwrap_or("-")
            ));
        }
        Ok(())
    }

    /// Own media is due once a media session can exist (someone else is in, or ICE is up); remote
    /// media once a remote sender is in (it may join after us).
    async fn check_media(&mut self, s: &Sample, row: &mut ParticipantRow) -> Result<(), Failure> {
        let sh = self.sh;
        let now = Instant::now();
        if s.state().alone() {
            if self.media_at.is_none() {
                self.media_at = Some(now);
                sh.tally.media(self.plan.id);
                row.media_ms = Some(self.joined_at.elapsed().as_millis() as u64);
                let detail = "alone in the room: no media session until someone else joins";
                sh.recorder.event(self.plan.id, Event::Media, detail).await;
            }
            self.media = MediaState::Alone;
            return Ok(());
        }
        if self.media == MediaState::Alone {
            self.media = MediaState::Pending;
            self.due_from = now;
        }
        let remote_since = sh.board.remote_senders_since(self.plan, sh.receive_audio);
        // A speaker the model mutes need not be sending audio.
        let role = if self.switches.is_empty() {
            self.plan.role
        } else {
            self.plan.role.without_audio()
        };
        match media_ok(s, role, remote_since.is_some()) {
            Ok(()) => {
                self.media = MediaState::Flowing;
                self.media_at = Some(now);
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
                let due = remote_since.map_or(self.due_from, |r| r.max(self.due_from))
                    + sh.timeouts.media.get();
                if now > due {
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
        let state = s.state();
        let verdict = health(&state).and_then(|()| {
            if recv_due && !s.flowing("recv", None) {
                Err("nothing received".into())
            } else {
                Ok(())
            }
        });
        if let (Err(why), true) = (&verdict, state.terminal) {
            sh.recorder.event(id, Event::Unhealthy, why).await;
            return fail(format!("{why} (cannot recover)"));
        }
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
