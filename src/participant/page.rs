//! Opening a participant's page: navigate and wait for the document, or, on a page several
//! participants share (`[load] participants_per_page`), add this participant's own client to the page
//! a page-mate opened.

use std::time::{Duration, Instant};

use fantoccini::wd::TimeoutConfiguration;

use super::browser::Page;
use super::call::inject;
use super::{Failure, REASON_CHARS, Shared, fail, step};
use crate::redact;
use crate::results::{Event, ParticipantRow};
use crate::schedule::ScheduledParticipant;
use crate::schedule::seat::Seat;
use crate::util::text::one_line;

/// Open the participant's page; returns when navigation (or adding its client) started. On a page
/// shared by several participants (clients per page), the first to get there opens it and is its
/// client 0; the others add their own client to it.
pub(super) async fn open_page(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Page,
    row: &mut ParticipantRow,
) -> Result<Instant, Failure> {
    // A page that starts its clients itself (the Jitsi load-test page) seated everyone beforehand.
    let seat = sh.browsers.seat_of(plan);
    let Some(slot) = client.slot() else {
        return load_page(plan, sh, client, row, seat.as_ref()).await;
    };
    let mut opener = None;
    let opened = slot
        .opened
        .get_or_init(|| async {
            // The opener's client is selected before its scripts go in (probe, quality meter).
            client.set_client(seat.map_or(0, |s| s.client));
            let loaded = load_page(plan, sh, client, row, seat.as_ref()).await;
            opener = Some(loaded.clone());
            loaded.map(|_| ()).map_err(|Failure(r)| r)
        })
        .await;
    match (opener, opened) {
        (Some(Ok(t)), _) => Ok(t),
        (Some(Err(e)), _) => Err(e),
        (None, Err(why)) => fail(format!("page load (opened by a page-mate): {why}")),
        (None, Ok(())) => add_client(plan, sh, client, row, seat.as_ref()).await,
    }
}

const ADD_CLIENT_JS: &str =
    "return window.__ltAddClient ? window.__ltAddClient(arguments[0], arguments[1]) : null;";

const CLIENT_AGE_JS: &str =
    "return window.__ltClientAge ? window.__ltClientAge(arguments[0]) : null;";

/// Start this participant's own client on a page a page-mate opened (its query: its room, name,
/// role, server), or, on a page that started it already (`seat`), take that client.
async fn add_client(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Page,
    row: &mut ParticipantRow,
    seat: Option<&Seat>,
) -> Result<Instant, Failure> {
    let mut t = Instant::now();
    let url = sh.target.url(plan, seat);
    let query = serde_json::Value::String(url.query().unwrap_or_default().to_string());
    let k = seat.map_or(serde_json::Value::Null, |s| s.client.into());
    let add = client.execute(ADD_CLIENT_JS, vec![query, k.clone()]);
    let i = step(sh, Duration::from_secs(10), "adding the client", add).await?;
    let Some(i) = i.as_u64() else {
        return fail("the page cannot host another client (no window.__ltAddClient)");
    };
    client.set_client(i as usize);
    if seat.is_some() {
        // The page started this client itself: its join counts from then, not from now.
        let age = client.execute(CLIENT_AGE_JS, vec![k]).await.ok();
        if let Some(ms) = age.as_ref().and_then(serde_json::Value::as_u64) {
            t = t.checked_sub(Duration::from_millis(ms)).unwrap_or(t);
        }
    }
    row.page_ms = Some(t.elapsed().as_millis() as u64);
    let detail = format!("client {i} of a page-mate's page");
    sh.recorder.event(plan.id, Event::Page, detail).await;
    inject(client, sh).await?;
    super::quality::inject(client, sh, plan.id).await;
    Ok(t)
}

/// Navigate to the room and wait until the document is loaded; returns when navigation started.
/// `seat`: the page starts its clients itself, so the driver's hook goes in before it loads.
async fn load_page(
    plan: &ScheduledParticipant,
    sh: &Shared,
    client: &Page,
    row: &mut ParticipantRow,
    seat: Option<&Seat>,
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
    if let (Some(js), Some(_)) = (sh.target.before_load_js(), seat.filter(|s| s.clients > 1)) {
        let hook = client.before_load(js);
        step(
            sh,
            Duration::from_secs(10),
            "installing the clients hook",
            hook,
        )
        .await?;
    }
    let url = sh.target.url(plan, seat);
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
    inject(client, sh).await?;
    super::quality::inject(client, sh, plan.id).await;
    Ok(nav)
}
