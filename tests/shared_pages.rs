//! Clients per page (`[load] participants_per_page`) on a real Janus with real Chromium: one client's
//! Janus session destroyed on the server mid-call fails that participant alone while its page-mates
//! complete on the same page, and Ctrl-C (through a real Selenium Grid, pages shared and several pages
//! per browser) hangs everyone up and leaves no browser session, room participant or Janus session.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use loadtest::results::{Outcome, RunOutcome};
use serde_json::{Value, json};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A Janus scenario at `dir` for the sandbox's room `prefix`0 with `body` (`[load]` and more).
fn scenario(dir: &std::path::Path, sb: &loadtest::sandbox::Sandbox, body: &str) -> String {
    let path = dir.join("pages.toml");
    let text = format!(
        "name = \"pages\"\n[target]\nkind = \"janus\"\nurl = \"{}\"\n{body}\n[media]\nvideo = \"tiny\"\nreceive_audio = false\n[stats]\ninterval = \"2s\"\n",
        sb.janus_url
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Start `loadtest run` of [`scenario`] in the background; its results directory and process.
fn start_run(
    dir: &std::path::Path,
    sb: &loadtest::sandbox::Sandbox,
    body: &str,
) -> (std::path::PathBuf, std::process::Child) {
    let file = scenario(dir, sb, body);
    let out = dir.join("run");
    let child = spawn_loadtest(&["run", "-s", &file, "--out", out.to_str().unwrap()]);
    (out, child)
}

/// POST `body` (with a transaction) to `url`.
async fn post(url: &str, mut body: Value) -> Value {
    body["transaction"] = json!("pages-test");
    let r = reqwest::Client::new()
        .post(url)
        .body(body.to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// The Janus session whose publisher handle is `display`'s (the page names it `lt-pub-<display>`),
/// found through the admin API (`list_sessions`, `list_handles`, `handle_info`).
async fn session_of(sb: &loadtest::sandbox::Sandbox, display: &str) -> Option<u64> {
    let admin = |mut b: Value| {
        b["admin_secret"] = json!(sb.admin_secret);
        post(&sb.admin_url, b)
    };
    let sessions = admin(json!({"janus": "list_sessions"})).await;
    for s in sessions["sessions"].as_array()? {
        let handles = admin(json!({"janus": "list_handles", "session_id": s})).await;
        for h in handles["handles"].as_array().into_iter().flatten() {
            let info =
                admin(json!({"janus": "handle_info", "session_id": s, "handle_id": h})).await;
            if info["info"]["opaque_id"] == format!("lt-pub-{display}") {
                return s.as_u64();
            }
        }
    }
    None
}

/// Within 5 s nobody is in `room` and Janus has no session; within 10 s no browser runs.
async fn nothing_left(sb: &loadtest::sandbox::Sandbox, room: &str) {
    let mut empty = false;
    for _ in 0..20 {
        empty = sb.participants(room).await == Ok(0) && sb.sessions().await == Ok(0);
        if empty {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(empty, "participants in {room} or Janus sessions left");
    assert!(
        wait_until(Duration::from_secs(10), || chromium_processes() == 0),
        "browsers left"
    );
}

/// Lines of events.csv with event `event`.
fn count_events(out: &std::path::Path, event: &str) -> usize {
    std::fs::read_to_string(out.join("events.csv"))
        .map(|t| {
            t.lines()
                .filter(|l| l.contains(&format!(",{event},")))
                .count()
        })
        .unwrap_or(0)
}

/// The event `event` of `p` (first one).
fn event_of<'a>(r: &'a RunFiles, p: &str, event: &str) -> &'a loadtest::results::EventRow {
    r.events
        .iter()
        .find(|e| e.participant == p && e.event.as_str() == event)
        .unwrap_or_else(|| panic!("{p} has no {event} event: {:#?}", r.events))
}

/// Three participants on one page, each its own Janus session over the WebSocket API. Once all have
/// media, the page opener's (client 0's) session is destroyed on the server with a plain Janus
/// `destroy`: Janus tells that session nothing, so the page must notice itself (its requests get 458)
/// and fail that client alone, with that reason. Its two page-mates keep receiving each other on the
/// same page and complete; the page is closed by the last of them; nothing is left in Janus.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_whose_janus_session_dies_fails_alone_and_its_page_mates_complete() {
    require(&[Needs::Janus, Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let body = format!(
        "[target.janus]\nwebsocket = \"{}\"\n[load]\nconferences = 1\nparticipants_per_conference = 3\nparticipants_per_page = 3\naudio_senders = 0\nduration = \"20s\"\njoin_delay = \"300ms\"\nroom_prefix = \"gone\"\n[timeouts]\nunhealthy = \"3s\"\n",
        sb.ws_url
    );
    let (out, child) = start_run(tmp.path(), &sb, &body);
    let media = wait_until(Duration::from_secs(40), || count_events(&out, "media") == 3);
    assert!(media, "the three clients did not reach media");
    let victim = session_of(&sb, "c0p0").await.expect("c0p0's Janus session");
    let destroyed = post(
        &format!("{}/{victim}", sb.janus_url),
        json!({"janus": "destroy"}),
    )
    .await;
    assert_eq!(destroyed["janus"], "success", "{destroyed}");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = read_results(&out);
    assert_eq!(r.info.outcome, RunOutcome::Failed);
    assert_eq!(r.info.fidelity.participants_per_page, 3);

    // The victim fails, with a reason naming its session and the server's answer.
    let outcome = |p: &str| {
        let row = r
            .participants
            .iter()
            .find(|q| q.participant.to_string() == p);
        row.map(|q| (q.outcome, q.reason.clone())).unwrap()
    };
    let (o0, why) = outcome("c0p0");
    assert_eq!(o0, Outcome::Failed, "{why}");
    assert!(
        why.contains(&format!(
            "janus session {victim}: session gone on the server (458 "
        )),
        "{why}"
    );
    // A session cannot come back: failed at once, without the `timeouts.unhealthy` grace.
    assert!(
        why.ends_with("(cannot recover)") && !why.contains("unhealthy for"),
        "{why}"
    );
    // ... noticed by the page (not by the media timeout), and hung up without closing the page.
    assert!(
        r.events.iter().any(|e| e.participant == "c0p0"
            && e.event.as_str() == "unhealthy"
            && e.detail.contains("458")),
        "{:#?}",
        r.events
    );
    let failed_at = &event_of(&r, "c0p0", "failed").ts;
    assert!(
        event_of(&r, "c0p0", "left")
            .detail
            .contains("page kept for its page-mates")
    );
    assert_eq!(
        event_of(&r, "c0p0", "closed").detail,
        "client (its page-mates keep the page)"
    );

    // Its page-mates complete on the same page (one browser session for all three), receiving each
    // other's video after the victim failed.
    let sessions: BTreeSet<&str> = r
        .events
        .iter()
        .filter(|e| e.event.as_str() == "session")
        .filter_map(|e| e.detail.split("session=").nth(1))
        .collect();
    assert_eq!(sessions.len(), 1, "one page in one browser");
    for (p, mate) in [("c0p1", "c0p2"), ("c0p2", "c0p1")] {
        assert_eq!(outcome(p).0, Outcome::Completed, "{:?}", outcome(p));
        let later = r.stats.iter().filter(|s| {
            s.participant.to_string() == p && s.received() && s.video() && &s.ts > failed_at
        });
        let from_mate = later
            .filter(|s| s.peer == mate && s.bitrate_kbps.is_some_and(|b| b > 0.0))
            .count();
        assert!(
            from_mate >= 3,
            "{p} got {from_mate} samples of {mate}'s video after c0p0 failed"
        );
    }
    let closes: Vec<&str> = ["c0p1", "c0p2"]
        .iter()
        .map(|p| event_of(&r, p, "closed").detail.as_str())
        .collect();
    assert!(
        closes.contains(&"session (the browser's last participant)"),
        "the last page-mate closes the page's browser: {closes:?}"
    );
    assert!(!r.events.iter().any(|e| e.event.as_str() == "close_failed"));

    // Nothing left: nobody in the room, no Janus session, no browser.
    nothing_left(&sb, "gone0").await;
    sb.stop().await;
}

/// Ctrl-C with pages and browsers shared, through a real Selenium Grid: 6 participants, 2 clients per
/// page and 2 pages per browser (2 Grid sessions, over the Janus HTTP API). SIGINT once everyone has
/// media and samples: every participant records `interrupted`, hangs up its own client and closes
/// only what nobody else uses (no `close_failed`, nothing force-closed afterwards), the samples taken
/// are kept, and no Grid session, room participant, Janus session or browser is left.
#[tokio::test(flavor = "multi_thread")]
async fn sigint_with_shared_pages_and_browsers_leaves_nothing_behind() {
    require(&[Needs::Janus, Needs::Chromium, Needs::Grid]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let grid = start_grid(&tmp.path().join("grid"), 2);
    let body = format!(
        "[webdriver]\nurl = \"{}/wd/hub\"\n[load]\nconferences = 1\nparticipants_per_conference = 6\nparticipants_per_page = 2\nparticipants_per_browser = 2\naudio_senders = 0\nduration = \"5m\"\njoin_delay = \"300ms\"\nroom_prefix = \"sigint\"\n",
        grid.url
    );
    let (out, child) = start_run(tmp.path(), &sb, &body);
    let everyone: Vec<String> = (0..6).map(|i| format!("c0p{i}")).collect();
    // Everyone has media, and a sample of received video bytes from someone.
    let sampled = || {
        let stats: Vec<loadtest::results::ClientStatRow> =
            loadtest::results::read_csv(&out.join("client_stats.csv")).unwrap_or_default();
        count_events(&out, "media") == 6
            && everyone.iter().all(|p| {
                stats.iter().any(|s| {
                    &s.participant.to_string() == p
                        && s.received()
                        && s.bitrate_kbps.is_some_and(|b| b > 0.0)
                })
            })
    };
    assert!(
        wait_until(Duration::from_secs(60), sampled),
        "not everyone had media and samples"
    );
    assert_eq!(grid_sessions(&grid.url), 2, "6 participants in 2 browsers");
    assert_eq!(sb.participants("sigint0").await, Ok(6));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));

    // Nothing left: no Grid session, nobody in the room, no Janus session, no browser.
    assert_eq!(grid_sessions(&grid.url), 0, "sessions left on the grid");
    nothing_left(&sb, "sigint0").await;

    // Partial results say what happened, per participant; the samples taken are kept.
    let r = read_results(&out);
    assert_eq!(r.info.outcome, RunOutcome::Interrupted);
    assert!(r.info.ended_at.is_some());
    assert_eq!(r.participants.len(), 6);
    for p in &everyone {
        for e in ["interrupted", "left", "closed"] {
            assert!(r.has_event(p, e), "{p} has no {e}: {:#?}", r.events);
        }
        assert!(
            r.stats.iter().any(|s| &s.participant.to_string() == p),
            "{p}'s samples were lost"
        );
    }
    for bad in ["close_failed", "force_closed"] {
        let e: Vec<_> = r
            .events
            .iter()
            .filter(|e| e.event.as_str() == bad)
            .collect();
        assert!(e.is_empty(), "{e:#?}");
    }
    // Each browser closed once, by its last participant.
    let sessions_closed = r
        .events
        .iter()
        .filter(|e| e.event.as_str() == "closed" && e.detail.starts_with("session"))
        .count();
    assert_eq!(sessions_closed, 2, "{:#?}", r.events);
    sb.stop().await;
}
