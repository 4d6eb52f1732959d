//! `loadtest limit` end to end, with real Chromium and a real Janus in its own network namespace behind
//! a real veth, whose rate this test caps with htb: the limit the search finds must be the one the cap
//! makes, derived from the bitrate the first step measured; saturated generators end the search
//! "generator-bound"; Ctrl-C in the middle of a step leaves nothing behind and reports the steps so far.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use loadtest::network::Rate;
use loadtest::results::{ClientStatRow, LimitInfo, StepRow, Stop, read_csv};
use loadtest::sandbox::Sandbox;

/// The `--set`s that point `scenarios/local-janus-limit.toml` at a sandbox, Janus's process included.
fn at_sandbox(sb: &Sandbox) -> Vec<String> {
    let mut sets = sandbox_sets(sb);
    sets.push(format!("metrics.process.0.media_address={}", sb.media_ip));
    sets
}

fn limit_args<'a>(sets: &'a [String], out: &'a Path) -> Vec<&'a str> {
    let mut args = vec!["limit", "-s", "scenarios/local-janus-limit.toml"];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    args.push("--out");
    args.push(out.to_str().unwrap());
    args
}

fn steps(out: &Path) -> Vec<StepRow> {
    read_csv(&out.join("steps.csv")).unwrap_or_default()
}

fn limit_json(out: &Path) -> LimitInfo {
    serde_json::from_slice(&std::fs::read(out.join("limit.json")).expect("limit.json")).unwrap()
}

/// Median received video bitrate (kbit/s) in the first step's window.
fn first_step_bitrate(out: &Path, first: &StepRow) -> f64 {
    let rows: Vec<ClientStatRow> = read_csv(&out.join("client_stats.csv")).unwrap();
    let mut kbps: Vec<f64> = rows
        .iter()
        .filter(|r| r.received() && r.video())
        .filter(|r| r.ts >= first.window_from && r.ts <= first.window_to)
        .filter_map(|r| r.bitrate_kbps)
        .collect();
    kbps.sort_by(f64::total_cmp);
    assert!(!kbps.is_empty(), "no received video in the first window");
    kbps[kbps.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_link_gives_the_limit_it_was_cut_for() {
    require(&[Needs::Janus, Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = sandbox(tmp.path(), true).await;
    let out = tmp.path().join("run");
    let mut sets = at_sandbox(&sb);
    sets.push("limit.max=4".into());
    let child = spawn_loadtest(&limit_args(&sets, &out));
    // The first step (one conference of two) runs on the uncapped link; its bitrate sets the cap.
    let measured = wait_until(Duration::from_secs(180), || !steps(&out).is_empty());
    assert!(measured, "the first step was never judged");
    let first = steps(&out).remove(0);
    let kbps = first_step_bitrate(&out, &first);
    // k conferences of 2: each direction of the server's link carries 2·k streams. Headroom for
    // RTP/UDP/IP headers and RTCP (the stats count payload), and short of what k + 1 need.
    const K: u32 = 2;
    let cap_kbps = f64::from(2 * K) * kbps * 1.25;
    let net = sb.network.as_ref().expect("isolated");
    net.star
        .cap(
            &net.server,
            Rate::from_bits_per_sec((cap_kbps * 1000.0) as u64),
            Duration::from_millis(200),
        )
        .expect("cap the server's link");
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{text}");
    let info = limit_json(&out);
    assert_eq!(info.stopped, Stop::LimitFound, "{info:?}\n{text}");
    eprintln!(
        "cap {cap_kbps:.0} kbit/s from {kbps:.0} per stream: {}",
        info.verdict
    );
    let held = info.held.unwrap_or(0);
    assert!(
        held.abs_diff(K) <= 1,
        "the cap carries {K} conferences ({cap_kbps:.0} kbit/s from {kbps:.0} per stream), the search held {held}: {info:?}"
    );
    // The failing step is blamed on a service level, and the verdict says so in one line.
    let failed = info.failed.expect("a failing step");
    let blamed = steps(&out)
        .into_iter()
        .rev()
        .find(|r| r.load == failed)
        .unwrap();
    assert!(
        ["recv_fps", "recv_bitrate", "loss", "join"]
            .iter()
            .any(|s| blamed.reason.contains(s)),
        "{blamed:?}"
    );
    assert!(info.verdict.starts_with(&format!(
        "holds {} participants ({held} × 2) within the thresholds; at {}",
        held * 2,
        failed * 2
    )));
    // Every step's participants are in participants.csv with their step.
    let parts: Vec<loadtest::results::ParticipantRow> =
        read_csv(&out.join("participants.csv")).unwrap();
    let max_step = steps(&out).iter().map(|r| r.step).max().unwrap();
    for s in 1..=max_step {
        assert!(parts.iter().any(|p| p.step == Some(s)), "step {s}");
    }
    // The report opens with the search, and plan reads its steps as observations.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let limit_at = md.find("## Limit").expect("a Limit section");
    assert!(limit_at < md.find("## What was tested").unwrap());
    assert!(md.contains(&info.verdict));
    assert!(out.join("charts/limit_service_levels.png").is_file());
    let plan_out = tmp.path().join("plan");
    let p = loadtest(&[
        "plan",
        "--run",
        out.to_str().unwrap(),
        "--participants-total",
        "10",
        "--participants-per-conference",
        "2",
        "--format",
        "json",
        "--out",
        plan_out.to_str().unwrap(),
    ]);
    assert_eq!(
        p.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&p.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&p.stdout).unwrap();
    let from_run = plan["observations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["id"].as_str().is_some_and(|id| id.contains(" step ")))
        .count();
    assert!(
        from_run >= 2,
        "one observation per step: {}",
        plan["observations"]
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn saturated_generators_end_the_search_without_a_server_answer() {
    require(&[Needs::Janus, Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let out = tmp.path().join("run");
    let mut sets = at_sandbox(&sb);
    // VGA video and audio, sent and received, on this machine's two cores: the browsers give way.
    for s in [
        "media.video=vga",
        "media.audio=speech",
        "media.receive_audio=true",
        "load.audio_senders=2",
        "load.participants_per_conference=3",
        "limit.start=2",
        "limit.step=2",
        "limit.max=8",
    ] {
        sets.push(s.into());
    }
    let o = loadtest(&limit_args(&sets, &out));
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{text}");
    let info = limit_json(&out);
    assert_eq!(info.stopped, Stop::GeneratorBound, "{info:?}");
    assert!(
        info.verdict.starts_with("generator-bound at "),
        "{}",
        info.verdict
    );
    assert!(
        info.verdict.contains("add load servers"),
        "it says what to do: {}",
        info.verdict
    );
    assert_eq!(info.held, None, "no server limit is claimed: {info:?}");
    let last = steps(&out).pop().unwrap();
    assert!(!last.reason.is_empty(), "the guard's reason: {last:?}");
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_a_step_leaves_nothing_and_reports_the_steps_so_far() {
    require(&[Needs::Janus, Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let out = tmp.path().join("run");
    let mut sets = at_sandbox(&sb);
    sets.push("limit.max=5".into());
    let child = spawn_loadtest(&limit_args(&sets, &out));
    let pid = child.id();
    // Interrupt once the second step is under way.
    let events = out.join("events.csv");
    let second = wait_until(Duration::from_secs(180), || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains(",step,step 2:"))
    });
    assert!(second, "the second step never started");
    std::thread::sleep(Duration::from_secs(3));
    let _ = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(sb.sessions().await, Ok(0), "no Janus session left");
    assert!(
        wait_until(Duration::from_secs(10), || chromium_processes() == 0),
        "no browser left"
    );
    let info = limit_json(&out);
    assert_eq!(info.stopped, Stop::Interrupted);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Limit"), "{md}");
    assert!(
        !steps(&out).is_empty(),
        "the first step's window is in steps.csv"
    );
    sb.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_grid_without_slots_for_the_next_step_ends_the_search_without_a_server_answer() {
    require(&[Needs::Janus, Needs::Chromium, Needs::Grid]);
    let tmp = tempfile::tempdir().unwrap();
    let sb = janus(tmp.path()).await;
    let grid = start_grid(&tmp.path().join("grid"), 4);
    let out = tmp.path().join("run");
    let mut sets = at_sandbox(&sb);
    sets.push(format!("webdriver.url={}/wd/hub", grid.url));
    sets.push("limit.max=4".into());
    sets.push("limit.confirm=false".into());
    // Conferences of two on four slots: the third conference has no room.
    let o = loadtest(&limit_args(&sets, &out));
    let text = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(1), "{text}");
    let info = limit_json(&out);
    assert_eq!(info.stopped, Stop::GridExhausted, "{info:?}");
    assert!(
        info.verdict
            .starts_with("grid exhausted after 4 participants"),
        "{}",
        info.verdict
    );
    assert_eq!(
        steps(&out).len(),
        2,
        "two steps were judged before the grid ran out"
    );
    assert_eq!(grid_sessions(&grid.url), 0, "every session closed");
    sb.stop().await;
}
