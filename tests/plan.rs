//! `loadtest plan` as an operator runs it: the built binary, its files and its exit codes.

mod common;

use std::process::{Command, Output};

use common::{png_size, repo};
use serde_json::Value;

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("plan")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run loadtest")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Markdown image links `](target.png)`.
fn png_links(md: &str) -> Vec<String> {
    md.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|l| l.ends_with(".png"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_plan_for_1000_participants_writes_json_markdown_and_charts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("plan");
    let o = plan(&[
        "--participants",
        "1000",
        "--conference-size",
        "10",
        "--senders",
        "3",
        "--last-n",
        "5",
        "--jvb-cpu-limit",
        "4",
        "--headroom",
        "0.2",
        "--max-bridge-participants",
        "80",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The first release's flags still work, each with a warning naming its new name.
    let warned = text(&o.stderr);
    for w in [
        "--participants is now --participants-total",
        "--conference-size is now --participants-per-conference",
        "--senders (audio and video) is now --video-senders and --audio-senders",
    ] {
        assert!(warned.contains(w), "{warned}");
    }
    let stdout: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(file["request"]["participants_total"], 1000);
    assert_eq!(
        (
            &file["request"]["video_senders"],
            &file["request"]["audio_senders"]
        ),
        (&Value::from(3), &Value::from(3)),
        "--senders meant audio and video"
    );
    assert_eq!(stdout, file, "stdout and plan.json agree");

    let jvbs = file["jvbs"].as_u64().unwrap();
    let bridges = file["bridges"].as_array().unwrap();
    assert_eq!(bridges.len() as u64, jvbs);
    assert!(jvbs >= 2);
    let mut total = 0;
    for b in bridges {
        let cpu = b["predicted_cpu_cores"].as_f64().unwrap();
        assert!(cpu > 0.0 && cpu <= 0.8 * 4.0 + 1e-9, "{b}");
        assert_eq!(b["saturated"], Value::Bool(false));
        total += b["participants"].as_u64().unwrap();
    }
    assert_eq!(total, 1000);
    let deploy = &file["deploy"];
    let shards = deploy["shards"].as_u64().unwrap();
    assert_eq!(shards, file["shards"].as_u64().unwrap());
    let replicas = deploy["jvb_replicas"].as_u64().unwrap();
    assert!(replicas * shards >= jvbs);
    assert!(
        deploy["hpa_min_replicas"].as_u64().unwrap()
            <= deploy["hpa_max_replicas"].as_u64().unwrap()
    );
    assert!(file["knee"]["participants_per_bridge"].as_f64().unwrap() > 0.0);
    assert!(file["model"]["cpu"]["loo_rmse"].as_f64().unwrap() > 0.0);
    let servers = file["load_servers"].as_array().unwrap();
    assert!(
        servers.iter().any(|l| l["preset"] == "1280x720@60"),
        "seed generator cost"
    );

    // The deploy command takes the plan as it is (dry run: reads deploy/, writes nothing).
    let scale = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "deploy",
            "scale",
            "--env",
            "production",
            "--dry-run",
            "--from-plan",
        ])
        .arg(out.join("plan.json"))
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(scale.status.success(), "{}", text(&scale.stderr));
    assert!(
        text(&scale.stdout).contains(&format!("minReplicas 2 -> {replicas}")),
        "{}",
        text(&scale.stdout)
    );

    let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
    assert!(md.contains(&format!("| JVBs | **{jvbs}**")), "{md}");
    let links = png_links(&md);
    assert_eq!(links.len(), 2, "{links:?}");
    for l in links {
        assert_eq!(png_size(&out.join(&l)), (1000, 480), "{l}");
    }
}

#[test]
fn a_results_directory_and_a_calibration_run_feed_the_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p");
    let run = "tests/fixtures/plan-fixture-janus-run";
    // The plan sizes load servers for the run's own mode (its scenario: no audio, decoding).
    let o = plan(&[
        run,
        "--calibrate",
        run,
        "--scenario",
        "tests/fixtures/plan-fixture-janus-run/scenario.toml",
        "--participants-total",
        "60",
        "--participants-per-conference",
        "3",
        "--jvb-cpu-limit",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let md = text(&o.stdout);
    assert!(md.starts_with("# Capacity plan: 60 participants"), "{md}");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let obs = json["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 8, "the seed's 7 rows and the run");
    let run_row = obs
        .iter()
        .find(|o| o["id"] == "plan-fixture-janus-run")
        .unwrap();
    // The fixture's Janus peaks at 0.09 cores; a process may use all 2 cores of its machine.
    assert_eq!(run_row["observed_cpu_cores"].as_f64(), Some(0.09));
    assert_eq!(run_row["cpu_limit_cores"].as_f64(), Some(2.0));
    assert_eq!(run_row["participants_per_bridge"].as_f64(), Some(6.0));
    assert!(
        run_row["observed_egress_bytes_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let small = json["load_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["preset"] == "small")
        .unwrap();
    assert!(
        small["source"]
            .as_str()
            .unwrap()
            .starts_with("calibrated: "),
        "{small}"
    );
    assert_ne!(small["cores_per_participant"].as_f64(), Some(0.125));
}

#[test]
fn the_committed_local_janus_run_plans_end_to_end() {
    let run = "results/example-local-janus";
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p");
    let o = plan(&[
        run,
        "--calibrate",
        run,
        "--participants-total",
        "30",
        "--participants-per-conference",
        "3",
        "--audio-senders",
        "0",
        "--receive-audio",
        "false",
        "--jvb-cpu-limit",
        "2",
        "--format",
        "json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = json["observations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "example-local-janus")
        .expect("the run is an observation");
    // Janus' own CPU from process_cpu_cores, on a machine of 2 cores.
    let cpu = row["observed_cpu_cores"].as_f64().unwrap();
    assert!(cpu > 0.0 && cpu < 2.0, "{row}");
    assert_eq!(row["cpu_limit_cores"].as_f64(), Some(2.0));
    assert_eq!(row["participants_per_bridge"].as_f64(), Some(6.0));
    assert_eq!(
        row["forwarded_audio_streams"].as_f64(),
        Some(0.0),
        "no audio senders"
    );
    // A run the guard marked invalid is a lower bound, with a note; a valid run is a point.
    let info: Value =
        serde_json::from_slice(&std::fs::read(repo().join(run).join("run.json")).unwrap()).unwrap();
    let valid = info["valid"].as_bool().unwrap();
    assert_eq!(row["observed_saturated"], Value::Bool(!valid), "{row}");
    let notes: Vec<&str> = json["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        notes
            .iter()
            .any(|n| n.starts_with(run) && n.contains("lower bound")),
        !valid,
        "{notes:?}"
    );
    let small = json["load_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["preset"] == "small")
        .unwrap();
    assert!(small["source"].as_str().unwrap().contains(run), "{small}");
    assert!(out.join("charts/capacity.png").exists());
}

/// The committed fixture run, copied with run.json's fidelity saying received video was discarded
/// (FIXTURE: the figures are the decoding run's; only the stated mode differs).
fn discard_run(into: &std::path::Path) -> std::path::PathBuf {
    let from = repo().join("tests/fixtures/plan-fixture-janus-run");
    let dir = into.join("discard-run");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(&from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    let mut info: Value =
        serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    info["fidelity"]["receive_video"] = Value::from("discard");
    std::fs::write(dir.join("run.json"), info.to_string()).unwrap();
    dir
}

fn small_row(json: &Value) -> Value {
    json["load_servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["preset"] == "small")
        .unwrap()
        .clone()
}

#[test]
fn a_discard_calibration_sizes_a_discard_plan_and_is_left_out_of_a_decode_plan() {
    let tmp = tempfile::tempdir().unwrap();
    let run = discard_run(tmp.path());
    let run_s = run.to_str().unwrap();
    let out = tmp.path().join("p");
    let plan_for = |mode: &[&str]| {
        let mut args = vec![
            "--calibrate",
            run_s,
            "--scenario",
            "tests/fixtures/plan-fixture-janus-run/scenario.toml",
            "--participants-total",
            "300",
            "--participants-per-conference",
            "10",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(mode);
        let o = plan(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let json: Value = serde_json::from_slice(&o.stdout).unwrap();
        let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
        (json, md)
    };
    // A discard plan uses the discard calibration.
    let (json, md) = plan_for(&["--receive-video", "discard"]);
    let fidelity = json["generator_fidelity"].as_str().unwrap();
    assert!(
        fidelity.contains("receive_video = discard") && fidelity.contains("no audio sent"),
        "{fidelity}"
    );
    let small = small_row(&json);
    assert!(
        small["source"]
            .as_str()
            .unwrap()
            .starts_with("calibrated: ")
            && small["source"].as_str().unwrap().contains("discard-run"),
        "{small}"
    );
    assert!(
        small["fidelity"]
            .as_str()
            .unwrap()
            .contains("receive_video = discard"),
        "{small}"
    );
    let left_out = |json: &Value| -> Vec<String> {
        json["generator_left_out"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|w| w.starts_with(run_s))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(left_out(&json), Vec::<String>::new());
    // The seed fleets (audio, decoding) are another mode: listed too.
    assert!(
        json["generator_left_out"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w
                .as_str()
                .unwrap()
                .contains("observations run at 1280x720@60")),
        "{json}"
    );
    assert!(
        md.contains("sized for: small, no audio sent, audio not received, receive_video = discard"),
        "{md}"
    );
    // The same run is refused for a decode plan: listed, with the reason, and the documented
    // figure used instead.
    let (json, md) = plan_for(&[]);
    let small = small_row(&json);
    assert!(
        small["source"]
            .as_str()
            .unwrap()
            .starts_with("docs/benchmarks.md"),
        "{small}"
    );
    assert_eq!(small["cores_per_participant"].as_f64(), Some(0.125));
    let left = left_out(&json);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].contains("receive_video discard, not decode"),
        "{left:?}"
    );
    assert!(md.contains("Left out of the generator sizing"), "{md}");
    // Packed 4 per browser without a calibration: the documented figure × the measured gain.
    let (json, _) = plan_for(&[
        "--receive-video",
        "discard",
        "--participants-per-browser",
        "4",
    ]);
    let small = small_row(&json);
    assert!(
        small["source"].as_str().unwrap().contains("gain"),
        "{small}"
    );
    let left = left_out(&json);
    assert!(
        left.len() == 1 && left[0].contains("participants_per_browser 1, not 4"),
        "{left:?}"
    );
}

#[test]
fn a_bad_observations_file_is_located_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string(repo().join("data/seed-loadtest-observations.csv")).unwrap();
    let bad: String = seed
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == 2 {
                l.replace(",3.5,830,", ",3,5,830,")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = tmp.path().join("bad.csv");
    std::fs::write(&file, bad).unwrap();
    let out = tmp.path().join("plan");
    let o = plan(&[
        "--observations",
        file.to_str().unwrap(),
        "--participants-total",
        "100",
        "--participants-per-conference",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("{}:3: row: expected 20 fields", file.display())),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");

    let bad = seed.replace(
        "R4,one conference,1,8,8,1,4,",
        "R4,one conference,1,8,8,1,four,",
    );
    std::fs::write(&file, bad).unwrap();
    let o = plan(&[
        "--observations",
        file.to_str().unwrap(),
        "--participants-total",
        "100",
        "--participants-per-conference",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!(
            "{}:4: jvb_cpu_limit_cores: expected a positive number of cores, found \"four\"",
            file.display()
        )),
        "{err}"
    );
    assert!(!out.exists(), "nothing written");
}

#[test]
fn bad_flags_and_unusable_runs_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("plan");
    let o = plan(&[
        "--participants-total",
        "100",
        "--participants-per-conference",
        "10",
        "--audio-senders",
        "11",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--audio-senders: expected at most --participants-per-conference"),
        "{}",
        text(&o.stderr)
    );
    // A directory that is no results directory.
    let o = plan(&[
        "--run",
        "tests/fixtures",
        "--participants-total",
        "100",
        "--participants-per-conference",
        "10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("tests/fixtures"),
        "{}",
        text(&o.stderr)
    );
    // A mode that does not exist, and a scenario that is not there.
    for (flag, value, says) in [
        ("--receive-video", "blur", "'blur'"),
        (
            "--participants-per-browser",
            "0",
            "--participants-per-browser",
        ),
        ("--scenario", "tests/fixtures/no-such.toml", "no-such.toml"),
    ] {
        let mut args = vec![
            "--participants-total",
            "100",
            "--participants-per-conference",
            "10",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend([flag, value]);
        let o = plan(&args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
    assert!(!out.exists(), "nothing written");
}
