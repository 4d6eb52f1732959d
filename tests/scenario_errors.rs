//! Bad scenario input: one clear error with file:line:column (or the `--set` argument), the key and
//! the expected form; exit code 2; nothing starts.

mod common;

use std::path::Path;

use loadtest::scenario::{self, Override};

const GOOD: &str = r#"[target]
kind = "janus"
url = "http://127.0.0.1:8088/janus"

[load]
conferences = 2
participants_per_conference = 3
video_senders = 2
duration = "30s"
"#;

fn err(src: &str, sets: &[&str]) -> String {
    let sets: Vec<Override> = sets.iter().map(|s| s.parse().unwrap()).collect();
    match scenario::parse(src, Path::new("bad.toml"), &sets) {
        Ok(_) => panic!("accepted: {src}\n{sets:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_good_scenario_parses_with_defaults() {
    let loaded = scenario::parse(GOOD, Path::new("good.toml"), &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = loaded.scenario;
    assert_eq!(s.name, "good");
    assert_eq!(
        s.load.audio_sender_count(),
        3,
        "audio senders default to every participant"
    );
    assert_eq!(s.load.room_prefix, "loadtest");
    assert_eq!(s.stats.interval.to_string(), "5s");
    let s = scenario::parse(
        GOOD,
        Path::new("good.toml"),
        &["load.duration=10m".parse().unwrap()],
    )
    .unwrap()
    .scenario;
    assert_eq!(s.load.duration.get().as_secs(), 600);
}

#[test]
fn old_key_names_still_load_with_a_warning_and_both_names_are_refused() {
    let old = GOOD
        .replace("participants_per_conference = 3", "participants = 3")
        .replace("video_senders = 2", "senders = 2");
    let loaded = scenario::parse(
        &old,
        Path::new("old.toml"),
        &["load.senders=1".parse().unwrap()],
    )
    .unwrap();
    assert_eq!(loaded.scenario.load.participants_per_conference, 3);
    assert_eq!(
        loaded.scenario.load.video_senders,
        Some(1),
        "--set with the old name wins"
    );
    let w = loaded.warnings.join("\n");
    assert!(
        w.contains("load.participants is now called load.participants_per_conference"),
        "{w}"
    );
    assert!(
        w.contains("--set load.senders=1: load.senders is now called load.video_senders"),
        "{w}"
    );
    let both = GOOD.replace("video_senders = 2", "video_senders = 2\nsenders = 1");
    assert!(
        err(&both, &[]).contains(
            "load.senders: give load.video_senders or its old name load.senders, not both"
        ),
        "{}",
        err(&both, &[])
    );
}

#[test]
fn a_shape_too_big_for_one_run_is_refused_without_overflow() {
    // 4294967295 × 3 overflows u32 (it used to wrap silently in the schedule).
    let e = err(
        &GOOD.replace("conferences = 2", "conferences = 4294967295"),
        &[],
    );
    assert!(
        e.contains("load.participants_per_conference: 4294967295 conferences × 3 participants = 12884901885 participants, more than one run holds (expected at most 100000)"),
        "{e}"
    );
}

#[test]
fn bad_inputs_each_get_one_located_message() {
    let cases: &[(&str, &[&str], &str)] = &[
        // unknown key
        (
            &GOOD.replace("video_senders = 2", "sendrs = 2"),
            &[],
            "bad.toml:8:1: load.sendrs: unknown field `sendrs`, expected one of",
        ),
        (
            &format!("{GOOD}\n[media]\nvidoe = \"small\"\n"),
            &[],
            "bad.toml:12:1: media.vidoe: unknown field `vidoe`",
        ),
        // a process name the kernel could never report
        (
            &format!(
                "{GOOD}\n[[metrics.process]]\nname = \"janus\"\ncommand = \"/usr/bin/janus\"\n"
            ),
            &[],
            "bad.toml:13:11: metrics.process.0.command: \"/usr/bin/janus\" is not a command name",
        ),
        // wrong type
        (
            &GOOD.replace("conferences = 2", "conferences = \"two\""),
            &[],
            "bad.toml:6:15: load.conferences: invalid type: string \"two\", expected u32",
        ),
        (
            &GOOD.replace("duration = \"30s\"", "duration = 30"),
            &[],
            "bad.toml:9:12: load.duration: invalid type: integer `30`, expected a duration string",
        ),
        (
            &GOOD.replace("\"30s\"", "\"30 parsecs\""),
            &[],
            "load.duration: invalid value: string \"30 parsecs\", expected a duration string",
        ),
        (
            &GOOD.replace("kind = \"janus\"", "kind = \"zoom\""),
            &[],
            "bad.toml:2:8: target.kind: unknown variant `zoom`, expected `jitsi` or `janus`",
        ),
        // impossible shapes
        (
            &GOOD.replace("video_senders = 2", "video_senders = 4"),
            &[],
            "bad.toml:8:17: load.video_senders: 4 senders but only 3 participants per conference (expected at most participants_per_conference)",
        ),
        (
            GOOD,
            &["load.audio_senders=9"],
            "--set load.audio_senders=9: load.audio_senders: 9 senders but only 3",
        ),
        (
            &GOOD.replace("\"30s\"", "\"0s\""),
            &[],
            "bad.toml:9:12: load.duration: must be longer than zero",
        ),
        (
            &GOOD.replace("conferences = 2", "conferences = 0"),
            &[],
            "bad.toml:6:15: load.conferences: must be at least 1",
        ),
        (
            GOOD,
            &["load.join_delay=1s", "load.ramp=1m"],
            "--set load.ramp=1m: load.ramp: give either join_delay",
        ),
        (
            GOOD,
            &["load.room_prefix=a b"],
            "load.room_prefix: \"a b\" is not a usable room name prefix",
        ),
        // malformed URLs
        (
            &GOOD.replace("http://127.0.0.1:8088/janus", "127.0.0.1:8088"),
            &[],
            "bad.toml:3:7: target.url: \"127.0.0.1:8088\" is not a URL: relative URL without a base",
        ),
        (
            &GOOD.replace("http://127.0.0.1:8088/janus", "http//oops"),
            &[],
            "target.url: \"http//oops\" is not a URL",
        ),
        (
            GOOD,
            &["webdriver.url=ftp://grid"],
            "--set webdriver.url=ftp://grid: webdriver.url: \"ftp://grid\" has scheme \"ftp\"",
        ),
        // missing media files
        (
            GOOD,
            &["media.video=/nonexistent/cam.y4m"],
            "--set media.video=/nonexistent/cam.y4m: media.video: media file /nonexistent/cam.y4m does not exist",
        ),
        (
            &format!("{GOOD}\n[media]\naudio = \"talk.mp3\"\n"),
            &[],
            "bad.toml:12:9: media.audio: \"talk.mp3\" is neither a preset nor a .wav file",
        ),
        // JWT variable unset
        (
            &GOOD
                .replace("kind = \"janus\"", "kind = \"jitsi\"")
                .replace(
                    "[load]",
                    "[target.jitsi]\njwt_env = \"LT_SURELY_UNSET_JWT\"\n\n[load]",
                ),
            &[],
            "bad.toml:6:11: target.jitsi.jwt_env: environment variable LT_SURELY_UNSET_JWT is not set",
        ),
        // thresholds
        (
            GOOD,
            &["thresholds.min_join_ratio=1.5"],
            "thresholds.min_join_ratio: 1.5 is out of range (expected a ratio from 0 to 1)",
        ),
        (
            GOOD,
            &["thresholds.min_fps=3"],
            "--set thresholds.min_fps=3: thresholds.min_fps: unknown field `min_fps`",
        ),
        // decoded fps cannot be judged when received video is discarded
        (
            &format!(
                "{GOOD}\n[media]\nreceive_video = \"discard\"\n[thresholds]\nmin_recv_fps_p5 = 10\n"
            ),
            &[],
            "bad.toml:14:19: thresholds.min_recv_fps_p5: received fps is not measured with media.receive_video = \"discard\"",
        ),
        // nor what people see
        (
            &format!(
                "{GOOD}\n[media]\nreceive_video = \"discard\"\n[thresholds]\nmax_freeze_share = 0.1\n"
            ),
            &[],
            "bad.toml:14:20: thresholds.max_freeze_share: what people see is not measured with media.receive_video = \"discard\"",
        ),
        (
            GOOD,
            &["media.receive_video=skip"],
            "media.receive_video: unknown variant `skip`, expected `decode` or `discard`",
        ),
        (
            GOOD,
            &["load.participants_per_browser=6"],
            "--set load.participants_per_browser=6: load.participants_per_browser: 6 is more than a browser hosts on the Janus HTTP API (expected at most 4",
        ),
        (
            GOOD,
            &["load.participants_per_browser=0"],
            "load.participants_per_browser: must be at least 1",
        ),
        // clients per page: more than 4 Janus sessions per browser need the WebSocket API
        (
            GOOD,
            &["load.participants_per_page=6"],
            "--set load.participants_per_page=6: load.participants_per_page: 6 participants per browser (6 per page × 1 pages) is more than a browser hosts on the Janus HTTP API",
        ),
        (
            GOOD,
            &[
                "load.participants_per_page=6",
                "target.janus.websocket=http://127.0.0.1:8188",
            ],
            "target.janus.websocket: \"http://127.0.0.1:8188\" has scheme \"http\" (expected a ws:// or wss:// URL",
        ),
        // --set into a value
        (
            GOOD,
            &["load.conferences.x=1"],
            "--set load.conferences.x=1: load.conferences.x: `conferences` is a value, not a table",
        ),
        // TOML syntax
        ("[load\nconferences = 1", &[], "bad.toml:1:"),
    ];
    for (src, sets, want) in cases {
        let got = err(src, sets);
        assert!(got.contains(want), "\nwant: {want}\n got: {got}");
    }
}

#[test]
fn cohorts_and_disruptions_get_located_messages() {
    let cohort = |body: &str| format!("{GOOD}\n[[cohort]]\nname = \"m\"\n{body}\n");
    let disruption = |body: &str| {
        format!(
            "{GOOD}\n[[cohort]]\nname = \"m\"\ncount = 1\nprofile = \"3g\"\n\n[[disruption]]\n{body}\n"
        )
    };
    let cases: &[(&str, &[&str], &str)] = &[
        (
            &cohort("share = 0.5\ncount = 1\nprofile = \"3g\""),
            &[],
            "bad.toml:13:9: cohort.0.share: give either share",
        ),
        (
            &cohort("count = 1\nprofile = \"6g\""),
            &[],
            "bad.toml:14:11: cohort.0.profile: \"6g\" is not valid: expected a built-in profile (clean, 3g, 4g, lte, lossy-wifi, edge) or a table of values",
        ),
        (
            &cohort("count = 1\nprofile = { delay = \"100ms\", loss = \"five\" }"),
            &[],
            "bad.toml:14:37: cohort.0.profile.loss: \"five\" is not valid: expected a share from 0 to 1, or \"5%\"",
        ),
        (
            &cohort("count = 1\nprofile = { lag = \"1s\" }"),
            &[],
            "bad.toml:14:13: cohort.0.profile.lag: unknown field `lag`, expected one of `base`",
        ),
        (
            &cohort("count = 4\nprofile = \"3g\""),
            &[],
            "bad.toml:13:9: cohort.0.count: the cohorts so far take 4 participants of each conference, but a conference has 3",
        ),
        (
            &cohort("share = 0.1\nprofile = \"3g\""),
            &[],
            "cohort.0.share: gives no participant of a conference of 3",
        ),
        (
            &cohort(
                "count = 1\nprofile = \"3g\"\n[[cohort]]\nname = \"m\"\ncount = 1\nprofile = \"4g\"",
            ),
            &[],
            "cohort.1.name: \"m\" names another [[cohort]] too",
        ),
        (
            &format!("{GOOD}\n[[cohort]]\nname = \"none\"\ncount = 1\nprofile = \"3g\"\n"),
            &[],
            "cohort.0.name: \"none\" stands for participants in no cohort",
        ),
        (
            &cohort(
                "count = 1\nprofile = \"3g\"\n[[cohort.change]]\nat = \"10s\"\nprofile = \"5g\"",
            ),
            &[],
            "cohort.0.change.0.profile: \"5g\" is not valid",
        ),
        (
            &cohort(
                "count = 1\nprofile = \"3g\"\n[[cohort.change]]\nat = \"10s\"\nprofile = \"edge\"",
            ),
            &["webdriver.url=http://127.0.0.1:4444"],
            "cohort.0.change.0: profile changes need the local driver",
        ),
        (
            &format!(
                "{}\n[thresholds.cohort.mobile]\nmin_recv_fps_p5 = 5\n",
                cohort("count = 1\nprofile = \"3g\"")
            ),
            &[],
            "thresholds.cohort.mobile: no [[cohort]] is named \"mobile\" (expected one of: m)",
        ),
        (
            &format!(
                "{}\n[thresholds.cohort.m]\nmax_loss_p95 = 5\n",
                cohort("count = 1\nprofile = \"3g\"")
            ),
            &[],
            "thresholds.cohort.m.max_loss_p95: 5 is out of range",
        ),
        (
            &format!(
                "{}\n[thresholds.cohort.m]\nmax_generator_cpu = 0.5\n",
                cohort("count = 1\nprofile = \"3g\"")
            ),
            &[],
            "thresholds.cohort.m.max_generator_cpu: max_generator_cpu has no per-cohort figure",
        ),
        (
            &disruption("kind = \"black_hole\"\nat = \"10s\""),
            &[],
            "bad.toml:16:1: disruption.0.duration: a black-hole needs a duration (expected e.g. \"10s\")",
        ),
        (
            &disruption("kind = \"unplug\"\nat = \"10s\""),
            &[],
            "bad.toml:17:8: disruption.0.kind: unknown variant `unplug`, expected one of `kill_browsers`, `stop_grid_node`, `black_hole`, `kill_media_server`",
        ),
        (
            &disruption(
                "kind = \"black_hole\"\nat = \"10s\"\nduration = \"5s\"\ncohort = \"wifi\"",
            ),
            &[],
            "disruption.0.cohort: no [[cohort]] is named \"wifi\"",
        ),
        (
            &disruption("kind = \"kill_browsers\"\nat = \"10s\"\ncount = 3\ncohort = \"m\""),
            &[],
            "disruption.0.count: 3 browsers, but only 2 participants can be chosen",
        ),
        (
            &disruption("kind = \"kill_browsers\"\nat = \"10s\""),
            &[],
            "disruption.0.count: give how many browsers to kill",
        ),
        (
            &disruption("kind = \"stop_grid_node\"\nat = \"10s\""),
            &[],
            "disruption.0.kind: stop_grid_node needs a Grid (webdriver.url) or a command hook",
        ),
        (
            &disruption("kind = \"kill_media_server\"\nat = \"10s\"\ncommand = []"),
            &[],
            "disruption.0.command: is empty",
        ),
        (
            &disruption(
                "kind = \"kill_media_server\"\nat = \"10s\"\ncommand = [\"kubectl\"]\nend_command = [\"true\"]",
            ),
            &[],
            "disruption.0.end_command: runs at at + duration: give a duration",
        ),
        (
            &disruption("kind = \"kill_media_server\"\nat = \"10s\"\ncount = 1"),
            &[],
            "disruption.0.count: count does not apply to kind kill_media_server",
        ),
    ];
    let wrong: Vec<String> = cases
        .iter()
        .map(|(src, sets, want)| (err(src, sets), want))
        .filter(|(got, want)| !got.contains(*want))
        .map(|(got, want)| format!("want: {want}\n got: {got}"))
        .collect();
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    // A good one: cohorts are spread over each conference and named in the schedule.
    let good = disruption(
        "kind = \"black_hole\"\nat = \"10s\"\nduration = \"5s\"\n\n[[disruption]]\nkind = \"kill_media_server\"\nat = \"20s\"\ncommand = [\"./bridge-disruption.sh\", \"jvb-0\"]",
    );
    let s = scenario::parse(&good, Path::new("good.toml"), &[])
        .unwrap()
        .scenario;
    let plans = loadtest::schedule::of(&s);
    let in_m = plans.iter().filter(|p| p.cohort.as_deref() == Some("m"));
    assert_eq!(in_m.count(), 2, "one per conference");
    let text = loadtest::schedule::describe(&s, &plans);
    assert!(
        text.contains("cohort m: 1 of each conference behind profile 3g"),
        "{text}"
    );
    assert!(
        text.contains("disruption 1: kill_media_server at +20s (command hook)"),
        "{text}"
    );
    // The resolved scenario round-trips (it is written into the results directory).
    let back = scenario::Scenario::from_results(&s.to_toml()).unwrap();
    assert_eq!(back.cohort, s.cohort);
    assert_eq!(back.disruption, s.disruption);
}

#[test]
fn the_cli_exits_2_and_starts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        GOOD.replace("video_senders = 2", "video_senders = 5"),
    )
    .unwrap();
    let out = tmp.path().join("results");
    for cmd in ["run", "validate"] {
        let o = common::loadtest(
            &[
                cmd,
                "-s",
                file.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ][..if cmd == "run" { 5 } else { 3 }],
        );
        assert_eq!(o.status.code(), Some(2), "{cmd}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(e.contains("bad.toml:8:17: load.video_senders"), "{e}");
        assert!(!out.exists(), "nothing started");
    }
    let o = common::loadtest(&["run", "-s", file.to_str().unwrap(), "--set", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected key.path=value"));
}

#[test]
fn dry_run_prints_the_schedule() {
    let o = common::loadtest(&[
        "run",
        "--dry-run",
        "-s",
        "scenarios/local-janus.toml",
        "--set",
        "load.participants_per_conference=2",
        "--set",
        "load.video_senders=1",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("2 conferences x 2 participants = 4 participants"),
        "{text}"
    );
    assert!(text.contains("conference 1 (room loadtest1): 2 participants"));
    assert!(text.contains("c1p1     receiver"), "{text}");
    assert!(text.contains("join +     1.0s"), "{text}");
    assert!(text.contains("small (320x240@15)"));
}

#[test]
fn a_bare_scenario_name_is_found_in_scenarios_and_a_missing_one_says_where_it_looked() {
    // The command users are shown first: a bare name from the repository root.
    let o = common::loadtest(&["run", "--dry-run", "--scenario", "300-users.toml"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("scenario 300-users"));
    let o = common::loadtest(&["validate", "--scenario", "no-such-scenario.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("no such scenario file (looked for no-such-scenario.toml and scenarios/no-such-scenario.toml)"),
        "{e}"
    );
}
