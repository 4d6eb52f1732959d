//! Generator density with real Chromium and a real Janus: received video discarded before the decoder
//! (`[media] receive_video = "discard"`), several participants per browser (windows) and per page
//! (clients of one page over Janus's WebSocket API).

mod common;

use std::collections::BTreeSet;

use common::*;
use loadtest::results::{Outcome, RunOutcome};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A Janus scenario for `sb` (no fps threshold: with `discard` it is refused).
fn scenario(dir: &std::path::Path, sb: &loadtest::sandbox::Sandbox, body: &str) -> String {
    let path = dir.join("density.toml");
    let text = format!(
        "name = \"density\"\n[target]\nkind = \"janus\"\nurl = \"{}\"\n{body}\n[stats]\ninterval = \"2s\"\n",
        sb.janus_url
    );
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A temporary directory, a Janus sandbox, the results directory to use and the scenario file.
type Setup = (
    tempfile::TempDir,
    loadtest::sandbox::Sandbox,
    std::path::PathBuf,
    String,
);

/// A Janus sandbox, the results directory to use and a scenario file with `body`.
async fn setup(body: &str) -> Setup {
    setup_with(|_| body.to_string()).await
}

/// [`setup`] with a body that knows the sandbox (its WebSocket URL).
async fn setup_with(body: impl FnOnce(&loadtest::sandbox::Sandbox) -> String) -> Setup {
    require(&[Needs::Janus, Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let out = tmp.path().join("run");
    let file = scenario(tmp.path(), &sb, &body(&sb));
    (tmp, sb, out, file)
}

/// Everyone in the run but `p`.
fn mates_of(r: &RunFiles, p: &str) -> BTreeSet<String> {
    r.participants
        .iter()
        .map(|q| q.participant.to_string())
        .filter(|q| q != p)
        .collect()
}

/// Peers from which `p` received video bytes (bitrate > 0).
fn video_packets_from(stats: &[loadtest::results::ClientStatRow], p: &str) -> BTreeSet<String> {
    stats
        .iter()
        .filter(|s| s.participant.to_string() == p && s.received() && s.video())
        .filter(|s| s.bitrate_kbps.is_some_and(|b| b > 0.0))
        .map(|s| s.peer.clone())
        .collect()
}

/// Discard: every peer's video still arrives (bytes, packets, jitter), nothing is decoded, and the
/// decoded figures are "not measured" in client_stats.csv and the report, never 0.
#[tokio::test(flavor = "multi_thread")]
async fn discarded_video_still_arrives_but_is_not_decoded() {
    let (_tmp, sb, out, file) = setup(
        "[load]\nconferences = 1\nparticipants_per_conference = 3\naudio_senders = 0\nduration = \"20s\"\njoin_delay = \"1s\"\nroom_prefix = \"discard\"\n[media]\nvideo = \"small\"\nreceive_audio = false\nreceive_video = \"discard\"\n",
    )
    .await;
    let o = loadtest(&["run", "-s", &file, "--out", out.to_str().unwrap()]);
    let r = read_results(&out);
    // Exit 1 only for a run the guard judged invalid (a busy shared machine), not for this feature.
    assert!(
        o.status.code() == Some(0) || (o.status.code() == Some(1) && !r.info.valid),
        "{}",
        stderr(&o)
    );
    assert_eq!(r.info.outcome, RunOutcome::Completed);
    assert_eq!(r.info.fidelity.receive_video, "discard");
    for p in &r.participants {
        assert_eq!(p.outcome, Outcome::Completed, "{p:?}");
        let id = p.participant.to_string();
        let mates = mates_of(&r, &id);
        let got = video_packets_from(&r.stats, &id);
        assert!(
            mates.is_subset(&got),
            "{id} got packets from {got:?}, expected {mates:?}"
        );
        assert!(
            !r.has_event(&id, "decoding"),
            "{id} decoded video although it was discarded"
        );
    }
    let recv_video: Vec<_> = r
        .stats
        .iter()
        .filter(|s| s.received() && s.video())
        .collect();
    assert!(
        recv_video
            .iter()
            .all(|s| s.fps.is_none() && s.width.is_none())
    );
    assert!(recv_video.iter().any(|s| s.jitter_ms.is_some()));
    assert!(
        r.stats
            .iter()
            .any(|s| !s.received() && s.video() && s.fps.is_some_and(|f| f > 0.0)),
        "sent fps is still measured"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("not measured (video discarded)"), "{md}");
    assert!(md.contains("discarded before decoding"));
    sb.stop().await;
}

/// Chromium main processes (not their renderers and helpers) of the tool's browsers.
fn browser_pids() -> Vec<u32> {
    let out = std::process::Command::new("pgrep")
        .args(["-a", "-f", "chromium.*--use-fake-device-for-media-stream"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("--type="))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// The session of each participant, from its `session` event.
fn sessions(r: &RunFiles) -> std::collections::BTreeMap<String, String> {
    r.events
        .iter()
        .filter(|e| e.event.as_str() == "session")
        .filter_map(|e| {
            let sid = e
                .detail
                .split_whitespace()
                .find_map(|w| w.strip_prefix("session="))?;
            Some((e.participant.clone(), sid.to_string()))
        })
        .collect()
}

/// The check, at the Janus page's limit of 4 per browser over HTTP (scenario::packing): 12
/// participants in 3 browsers (4 windows each) in one room all join and receive every peer's video
/// packets (received video discarded keeps it light); then one browser is killed and exactly its 4
/// participants fail, with the browser's reason, while the other 8 complete.
#[tokio::test(flavor = "multi_thread")]
async fn twelve_in_three_browsers_and_a_killed_browser_fails_exactly_its_participants() {
    let (_tmp, sb, out, file) = setup(
        "[load]\nconferences = 1\nparticipants_per_conference = 12\nparticipants_per_browser = 4\naudio_senders = 0\nduration = \"50s\"\njoin_delay = \"500ms\"\nroom_prefix = \"tabs\"\n[media]\nvideo = \"tiny\"\nreceive_audio = false\nreceive_video = \"discard\"\n[timeouts]\njoin = \"60s\"\nmedia = \"40s\"\n",
    )
    .await;
    let r = kill_one_of(
        &out,
        &file,
        3,
        "4 participants per browser (one window each)",
    )
    .await;
    assert_eq!(r.info.fidelity.participants_per_browser, 4);
    sb.stop().await;
}

/// Clients per page: 12 participants in 2 pages of 6 clients (one page per browser, 6 Janus sessions
/// over the WebSocket API in each) all join and receive every peer's video packets, each with its own
/// rows; then one browser is killed and exactly its 6 participants fail with the browser's reason, the
/// other 6 complete, and the room is empty afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn twelve_in_two_pages_and_a_killed_browser_fails_exactly_its_page() {
    let (_tmp, sb, out, file) = setup_with(|sb| {
        format!(
            "[target.janus]\nwebsocket = \"{}\"\n[load]\nconferences = 1\nparticipants_per_conference = 12\nparticipants_per_page = 6\naudio_senders = 0\nduration = \"30s\"\njoin_delay = \"300ms\"\nroom_prefix = \"pages\"\n[media]\nvideo = \"tiny\"\nreceive_audio = false\nreceive_video = \"discard\"\n[timeouts]\njoin = \"40s\"\nmedia = \"25s\"\n",
            sb.ws_url
        )
    })
    .await;
    let packing = "6 participants per page (clients of one page), one page per browser";
    let r = kill_one_of(&out, &file, 2, packing).await;
    assert_eq!(r.info.fidelity.participants_per_page, 6);
    // Page-mates' events are their own: every participant joined on its own client of its page.
    let clients: BTreeSet<&str> = r
        .events
        .iter()
        .filter(|e| e.event.as_str() == "page")
        .map(|e| e.participant.as_str())
        .collect();
    assert_eq!(clients.len(), 12, "a page event for every participant");
    let added = r
        .events
        .iter()
        .filter(|e| e.event.as_str() == "page" && e.detail.contains("of a page-mate's page"))
        .count();
    assert_eq!(added, 10, "2 pages opened, 10 clients added to them");
    for _ in 0..20 {
        if sb.participants("pages0").await == Ok(0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(sb.participants("pages0").await, Ok(0), "the room is empty");
    sb.stop().await;
}

/// Run the 12-participant scenario in `browsers` browsers: once everyone receives every peer's video
/// packets, kill one browser; exactly its participants fail, with the browser's reason, the others
/// complete, everyone got its mates' packets, no browser is left, and the report's "What was tested"
/// states the `packing`.
async fn kill_one_of(
    out: &std::path::Path,
    file: &str,
    browsers: usize,
    packing: &str,
) -> RunFiles {
    let child = spawn_loadtest(&["run", "-s", file, "--out", out.to_str().unwrap()]);
    let everyone_receives_everyone = || {
        let Ok(stats) = loadtest::results::read_csv::<loadtest::results::ClientStatRow>(
            &out.join("client_stats.csv"),
        ) else {
            return false;
        };
        (0..12).all(|i| video_packets_from(&stats, &format!("c0p{i}")).len() == 11)
    };
    let waited = wait_until(
        std::time::Duration::from_secs(90),
        everyone_receives_everyone,
    );
    if !waited {
        let stats: Vec<loadtest::results::ClientStatRow> =
            loadtest::results::read_csv(&out.join("client_stats.csv")).unwrap_or_default();
        let missing: Vec<String> = (0..12)
            .map(|i| {
                format!(
                    "c0p{i}: {:?}",
                    video_packets_from(&stats, &format!("c0p{i}"))
                )
            })
            .collect();
        let ev: String = std::fs::read_to_string(out.join("events.csv"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("c0p11,") || l.contains("c0p10,"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::thread::sleep(std::time::Duration::from_secs(15));
        let logs: String = std::fs::read_dir(out.join("artifacts"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".console.log"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .map(|t| {
                t.lines()
                    .filter(|l| l.contains("[lt") || l.contains("rror"))
                    .take(40)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .collect();
        panic!(
            "not every participant received every peer's video packets within 90 s:\n{}\n{ev}\n{logs}",
            missing.join("\n")
        );
    }
    assert_eq!(
        browser_pids().len(),
        browsers,
        "12 participants in {browsers} browsers"
    );
    let victim = browser_pids()[0];
    std::process::Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let r = read_results(out);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains(packing), "{md}");
    let of = sessions(&r);
    assert_eq!(of.len(), 12);
    let sessions_seen: BTreeSet<&String> = of.values().collect();
    assert_eq!(sessions_seen.len(), browsers, "{of:?}");
    let failed: BTreeSet<String> = r
        .participants
        .iter()
        .filter(|p| p.outcome == Outcome::Failed)
        .map(|p| p.participant.to_string())
        .collect();
    assert_eq!(
        failed.len(),
        12 / browsers,
        "{}\n{:#?}",
        stderr(&o),
        r.participants
    );
    let dead: BTreeSet<&String> = failed.iter().map(|p| &of[p]).collect();
    assert_eq!(dead.len(), 1, "the failed ones shared one browser: {of:?}");
    for p in &r.participants {
        let id = p.participant.to_string();
        if failed.contains(&id) {
            assert!(p.reason.starts_with("browser lost"), "{p:?}");
        } else {
            assert_eq!(p.outcome, Outcome::Completed, "{p:?}");
        }
        let mates = mates_of(&r, &id);
        let got = video_packets_from(&r.stats, &id);
        assert!(
            mates.is_subset(&got),
            "{id} got packets from {got:?}, expected {mates:?}"
        );
    }
    assert!(
        wait_until(std::time::Duration::from_secs(10), || chromium_processes()
            == 0),
        "browsers left running"
    );
    r
}
