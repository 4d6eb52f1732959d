//! What people see, per participant (docs/quality.md): on every stats sample, the page's quality take
//! goes through the run's [`Ledger`] into `video_quality.csv`. The browser's clock offset is measured
//! when first needed and every [`CLOCK_EVERY`]. Nothing here can fail the participant: the first
//! failure is recorded as a `quality_warning` event and later ones are silent.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::browser::Page;
use super::{REASON_CHARS, Shared};
use crate::quality::{
    ClockOffset, Ledger, QUALITY_JS, RoundTrip, START_SCRIPT, TAKE_SCRIPT, Take, clock,
};
use crate::results::Event;
use crate::schedule::ParticipantId;
use crate::util::text::one_line;

/// How often a browser's clock offset is measured again.
const CLOCK_EVERY: Duration = Duration::from_secs(180);
/// Round trips per clock measurement (the fastest one counts).
const CLOCK_ROUNDS: usize = 10;
/// The clock bound of a browser on this machine (docs/quality.md, "Clocks").
const LOCAL_BOUND_MS: f64 = 1.5;
/// Bound on one take (the page answers within 5 s itself).
const TAKE_TIMEOUT: Duration = Duration::from_secs(8);

/// Bound on the last take before a hang-up (the page's answer is usually a few ms; the hang-up waits no
/// longer than this for it).
pub(super) const LAST_TAKE: Duration = Duration::from_secs(2);

/// The run's shared ledger, `None` when the run does not measure quality.
pub type SharedLedger = Option<Arc<Mutex<Ledger>>>;

/// One participant's side of the measurement.
#[derive(Debug, Default)]
pub(super) struct QualityWatch {
    clock: Option<(ClockOffset, Instant)>,
    warned: bool,
}

/// Start measuring on a page that does not do it itself (Jitsi): define `window.__ltQuality` and
/// start it. Best effort: a failure is one warning event.
pub(super) async fn inject(client: &Page, sh: &Shared, id: ParticipantId) {
    if sh.quality.is_none() || !sh.target.injects_quality() {
        return;
    }
    let run = async {
        client.execute(QUALITY_JS, vec![]).await?;
        client.execute(START_SCRIPT, vec![]).await
    };
    let detail = match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(Ok(serde_json::Value::Bool(true))) => return,
        Ok(Ok(v)) => {
            format!("quality.js did not start (answered {v}): no MediaStreamTrackProcessor?")
        }
        Ok(Err(e)) => format!(
            "injecting quality.js: {}",
            one_line(&e.to_string(), REASON_CHARS)
        ),
        Err(_) => "injecting quality.js: no answer within 10 s".into(),
    };
    sh.recorder.event(id, Event::QualityWarning, detail).await;
}

impl QualityWatch {
    /// One take of the page, written as `video_quality.csv` rows.
    pub(super) async fn tick(&mut self, client: &Page, sh: &Shared, id: ParticipantId) {
        let Some(ledger) = &sh.quality else { return };
        let r = self.take(client, sh, id, ledger).await;
        self.warn_once(r, sh, id).await;
    }

    /// The take before a hang-up, so the frames since the previous sample are not lost: only when a
    /// take already ran (the clock is known), within [`LAST_TAKE`].
    pub(super) async fn last(&mut self, client: &Page, sh: &Shared, id: ParticipantId) {
        let Some(ledger) = &sh.quality else { return };
        if self.clock.is_none() {
            return;
        }
        let r = tokio::time::timeout(LAST_TAKE, self.take(client, sh, id, ledger))
            .await
            .unwrap_or_else(|_| Err(format!("last quality take: no answer within {LAST_TAKE:?}")));
        self.warn_once(r, sh, id).await;
    }

    /// The first failure becomes a `quality_warning` event; later ones are silent.
    async fn warn_once(&mut self, r: Result<(), String>, sh: &Shared, id: ParticipantId) {
        if let Err(why) = r
            && !std::mem::replace(&mut self.warned, true)
        {
            let detail = format!("{why} (reported once; the call goes on)");
            sh.recorder.event(id, Event::QualityWarning, detail).await;
        }
    }

    async fn take(
        &mut self,
        client: &Page,
        sh: &Shared,
        id: ParticipantId,
        ledger: &Mutex<Ledger>,
    ) -> Result<(), String> {
        let clock = self.clock(client, sh, id).await?;
        let answer = tokio::time::timeout(TAKE_TIMEOUT, client.execute_async(TAKE_SCRIPT, vec![]))
            .await
            .map_err(|_| format!("quality take: no answer within {TAKE_TIMEOUT:?}"))?
            .map_err(|e| format!("quality take: {}", one_line(&e.to_string(), REASON_CHARS)))?;
        let take: Option<Take> = serde_json::from_value(answer)
            .map_err(|e| format!("quality take: unexpected shape: {e}"))?;
        let Some(take) = take else {
            return Err("the page has no quality.js".into());
        };
        if let Some(e) = &take.error {
            return Err(format!("quality take: {}", one_line(e, REASON_CHARS)));
        }
        let ts = crate::results::now();
        let rows = match ledger.lock() {
            Ok(mut l) => l.add(id, clock, &take, &ts),
            Err(_) => return Err("quality ledger poisoned".into()),
        };
        sh.recorder.quality(rows).await;
        Ok(())
    }

    /// The browser's clock offset, measured again when older than [`CLOCK_EVERY`] (event `clock`).
    async fn clock(
        &mut self,
        client: &Page,
        sh: &Shared,
        id: ParticipantId,
    ) -> Result<ClockOffset, String> {
        if let Some((c, at)) = self.clock
            && at.elapsed() < CLOCK_EVERY
        {
            return Ok(c);
        }
        let c = tokio::time::timeout(TAKE_TIMEOUT, measure(client))
            .await
            .map_err(|_| format!("page clock: no answer within {TAKE_TIMEOUT:?}"))??;
        let mut detail = format!("offset_ms={:.1} bound_ms={:.1}", c.offset_ms, c.bound_ms);
        // With the local driver the browsers read this machine's clock: their offset is 0 (measured on
        // a quiet machine: under 1.5 ms, LOCAL_BOUND_MS), whatever a round trip slowed by a busy
        // machine says (recorded, not used).
        let used = if sh.local {
            detail.push_str(" (local browser: same clock, offset 0 used)");
            ClockOffset {
                offset_ms: 0.0,
                bound_ms: LOCAL_BOUND_MS,
            }
        } else {
            c
        };
        self.clock = Some((used, Instant::now()));
        sh.recorder.event(id, Event::Clock, detail).await;
        Ok(used)
    }
}

/// The page's clock offset from [`CLOCK_ROUNDS`] round trips (`clock::cristian`: the fastest counts).
async fn measure(client: &Page) -> Result<ClockOffset, String> {
    let mut trips = Vec::with_capacity(CLOCK_ROUNDS);
    for _ in 0..CLOCK_ROUNDS {
        let sent_ms = clock::now_ms();
        let v = client.execute(clock::CLOCK_SCRIPT, vec![]).await;
        let received_ms = clock::now_ms();
        if let Some(browser_ms) = v.ok().and_then(|v| v.as_f64()) {
            trips.push(RoundTrip {
                sent_ms,
                browser_ms,
                received_ms,
            });
        }
    }
    clock::cristian(&trips).ok_or_else(|| "page clock: no usable round trip".to_string())
}
