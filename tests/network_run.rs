//! `loadtest run` with `[[cohort]]`s and `[[disruption]]`s, end to end: the real binary, real
//! Chromium, a real Janus in the isolated sandbox (this process holds it; the run attaches to its
//! lab and talks to its control socket), and, for one test, a real Selenium Grid whose network node
//! (`loadtest network-node`) runs its browsers inside a namespace. Every test lists the kernel's
//! namespaces, interfaces, TUN devices, qdiscs and routes before and after (with `ip` and `tc`).

mod common;
mod netlab;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Needs, bin, free_port, read_results, repo, require, selenium_jar};
use loadtest::results::{Event, Outcome, RunOutcome};
use loadtest::sandbox::Sandbox;
use netlab::{isolated, snapshot};
use serde_json::Value;

/// One conference of three video senders on the sandbox, stats every second; `extra` adds tables.
fn scenario(sb: &Sandbox, duration: &str, extra: &str) -> String {
    format!(
        r#"name = "network-run"

[target]
kind = "janus"
url = "{api}"

[load]
conferences = 1
participants_per_conference = 3
audio_senders = 0
duration = "{duration}"
join_delay = "1s"

[media]
video = "small"
receive_audio = false

[stats]
interval = "1s"

[metrics]
this_machine = false

[metrics.janus]
admin_url = "{admin}"
admin_secret_file = "{secret}"
handles = false
{extra}
"#,
        api = sb.janus_url,
        admin = sb.admin_url,
        secret = sb.dir.join("admin_secret").display(),
    )
}

/// What every test starts from: the kernel's network state before it, a temporary directory and the
/// isolated sandbox.
async fn start(needs: &[Needs]) -> (netlab::Snapshot, tempfile::TempDir, Sandbox) {
    require(needs);
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let sb = isolated(tmp.path()).await;
    (before, tmp, sb)
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("scenario.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// `loadtest run` (and its report) to completion, off the runtime's threads.
async fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec![
        "run".into(),
        "-s".into(),
        scenario.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(&args)
            .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn summary(out: &Path) -> Value {
    let text = std::fs::read_to_string(out.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cohort<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["cohorts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cohort"] == name)
        .unwrap_or_else(|| panic!("no cohort {name} in {}", s["cohorts"]))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shaped_cohort_shows_its_delay_and_loss_in_the_report_and_the_clean_one_does_not() {
    let (before, tmp, sb) = start(&[Needs::Janus, Needs::Chromium]).await;
    let file = write(
        tmp.path(),
        &scenario(
            &sb,
            "30s",
            r#"
[[cohort]]
name = "clean"
count = 2
profile = "clean"

[[cohort]]
name = "shaped"
count = 1
profile = { delay = "100ms", loss = "5%" }
"#,
        ),
    );
    let out = tmp.path().join("run");
    let o = run(&file, &out, &[]).await;
    let during_run_labs = sb.network.as_ref().map(|n| n.star.lab().id());
    sb.stop().await;
    assert_eq!(snapshot(), before, "nothing left after a normal end");
    eprintln!("{}", stderr(&o));
    let r = read_results(&out);
    assert_eq!(r.info.outcome, RunOutcome::Completed, "{}", stderr(&o));
    let cohorts: Vec<&str> = r.participants.iter().map(|p| p.cohort.as_str()).collect();
    assert_eq!(
        cohorts.iter().filter(|c| **c == "shaped").count(),
        1,
        "{cohorts:?}"
    );
    let s = summary(&out);
    let (clean, shaped) = (cohort(&s, "clean"), cohort(&s, "shaped"));
    eprintln!("lab {during_run_labs:?}\nclean: {clean}\nshaped: {shaped}");
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    // Stated tolerances: the shaped cohort's RTT is 200 ms (± 40 ms) above the clean cohort's, its
    // received loss 5 % (± 2.5 points); the clean cohort's RTT stays under 40 ms and its loss under
    // 2 % (what it receives from the shaped sender crossed that sender's lossy uplink, and NACKs
    // recover most of it).
    let rtt = f(shaped, "rtt_ms_p50") - f(clean, "rtt_ms_p50");
    assert!((rtt - 200.0).abs() < 40.0, "RTT difference {rtt} ms");
    assert!(f(clean, "rtt_ms_p50") < 40.0, "clean RTT {clean}");
    let loss = f(shaped, "loss_mean");
    assert!((loss - 0.05).abs() < 0.025, "shaped loss {loss}");
    assert!(f(clean, "loss_mean") < 0.02, "clean loss {clean}");
    assert_eq!(
        shaped["profile"],
        "shaped (clean+custom): delay 100ms each way, loss 5%"
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Per cohort"), "{report}");
    assert!(report.contains("| shaped | shaped (clean+custom): delay 100ms each way, loss 5% |"));
}

/// Disruption `i` of the summary.
fn lost(s: &Value, i: usize) -> &Value {
    &s["disruptions"]["disruptions"][i]
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_browsers_fail_alone_and_black_holes_are_recovered_from_or_fail_the_participants() {
    let (before, tmp, sb) = start(&[Needs::Janus, Needs::Chromium]).await;
    // One browser killed at +14 s (the others keep their media); a 10 s black-hole at +18 s (everyone
    // recovers); a 60 s one at +36 s, beyond timeouts.unhealthy (everyone fails, with that reason).
    let file = write(
        tmp.path(),
        &scenario(
            &sb,
            "100s",
            r#"
[timeouts]
unhealthy = "20s"

[[cohort]]
name = "doomed"
count = 1
profile = "clean"

[[disruption]]
kind = "kill_browsers"
at = "14s"
count = 1
cohort = "doomed"

[[disruption]]
kind = "black_hole"
at = "18s"
duration = "10s"

[[disruption]]
kind = "black_hole"
at = "36s"
duration = "60s"
"#,
        ),
    );
    let out = tmp.path().join("run");
    let o = run(&file, &out, &[]).await;
    let net = sb.network.clone().unwrap();
    let qdiscs_after = Command::new("tc")
        .args([
            "-n",
            net.server.ns.name(),
            "qdisc",
            "show",
            "dev",
            net.server.iface(),
        ])
        .output()
        .unwrap();
    sb.stop().await;
    assert_eq!(snapshot(), before, "nothing left after the run");
    let r = read_results(&out);
    eprintln!("{}", stderr(&o));
    assert_eq!(r.info.outcome, RunOutcome::Failed, "{}", stderr(&o));
    let q = String::from_utf8_lossy(&qdiscs_after.stdout);
    assert!(!q.contains("pfifo limit 0"), "the hole was lifted: {q}");
    let s = summary(&out);
    let (kill, first, second) = (lost(&s, 0), lost(&s, 1), lost(&s, 2));
    eprintln!("{kill}\n{first}\n{second}");
    // The killed browser: its participant fails with that reason, alone.
    let doomed = r
        .participants
        .iter()
        .find(|p| p.cohort == "doomed")
        .unwrap();
    assert!(r.has_event(doomed.participant, "browser_killed"));
    assert!(doomed.reason.starts_with("browser lost"), "{doomed:?}");
    assert_eq!(
        kill["killed"],
        serde_json::json!([doomed.participant.to_string()])
    );
    assert_eq!(kill["lost_media"], 0, "the others kept their media: {kill}");
    // The 10 s hole: every participant's media stopped and came back, recovery times reported.
    assert_eq!(first["in_call"], 2);
    assert_eq!(first["lost_media"], 2, "{first}");
    assert_eq!(first["recovered"], 2, "{first}");
    let p95 = first["recovery_s_p95"].as_f64().unwrap();
    assert!(p95 <= 5.0, "recovery p95 {p95} s");
    // The 60 s hole: unhealthy for 20 s fails them all, with that reason; none recovered.
    assert_eq!(second["lost_media"], 2, "{second}");
    assert_eq!(second["never_recovered"], 2, "{second}");
    for p in second["participants"].as_array().unwrap() {
        let why = p["never_recovered"].as_str().unwrap();
        assert!(why.starts_with("unhealthy for 20s"), "{why}");
    }
    for p in r.participants.iter().filter(|p| p.cohort.is_empty()) {
        assert_eq!(p.outcome, Outcome::Failed);
        assert!(p.reason.starts_with("unhealthy for 20s"), "{p:?}");
    }
    // Each black-hole starts and ends on the timeline (the second is lifted when the run ends).
    let holes: Vec<(String, Event)> = r
        .events
        .iter()
        .filter(|e| e.participant == "disruption:1" || e.participant == "disruption:2")
        .map(|e| (e.participant.clone(), e.event))
        .collect();
    let ev = |i: usize, e: Event| (format!("disruption:{i}"), e);
    assert_eq!(
        holes,
        [
            ev(1, Event::DisruptionStarted),
            ev(1, Event::DisruptionEnded),
            ev(2, Event::DisruptionStarted),
            ev(2, Event::DisruptionEnded),
        ]
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("## Disruptions"), "{report}");
    assert!(report.contains("never recovered **2**"), "{report}");
}

/// `loadtest run` in the background, returned once its three participants have media.
async fn run_in_call(file: &Path, out: &Path) -> std::process::Child {
    let child = Command::new(bin())
        .args(["run", "--no-report", "-s"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .env("LOADTEST_CACHE", repo().join(".cache/loadtest"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || wait_for_media(&out, 3, Duration::from_secs(120)))
        .await
        .unwrap();
    child
}

/// Direct children of a process.
fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|x| x.parse::<u32>().ok());
            ppid == Some(pid)
        })
        .collect()
}

/// Wait until the run's browsers are in the call (its events file says `media` three times).
fn wait_for_media(out: &Path, n: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(out.join("events.csv")).unwrap_or_default();
        if text.lines().filter(|l| l.contains(",media,")).count() >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no media within {timeout:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_error_a_ctrl_c_or_a_crash_nothing_is_left() {
    let (before, tmp, sb) = start(&[Needs::Janus, Needs::Chromium]).await;
    let with_cohort = |browser: &str| {
        scenario(
            &sb,
            "120s",
            &format!(
                "\n[webdriver]\nbrowser = \"{browser}\"\n\n[[cohort]]\nname = \"mobile\"\ncount = 2\nprofile = \"4g\"\n"
            ),
        )
    };
    let lab = |s: &netlab::Snapshot| -> Vec<String> {
        s.namespaces
            .iter()
            .filter(|n| !before.namespaces.contains(*n))
            .cloned()
            .collect()
    };
    let with_sandbox = snapshot();

    // 1. An error after the cohort's namespace exists: its browser wrapper cannot be written for a
    //    browser path with a quote in it. Exit 3, and nothing of the run is left.
    let odd = tmp.path().join("it's");
    std::fs::create_dir_all(&odd).unwrap();
    std::os::unix::fs::symlink("/usr/bin/chromium", odd.join("chromium")).unwrap();
    let file = write(
        tmp.path(),
        &with_cohort(&odd.join("chromium").display().to_string()),
    );
    let o = run(&file, &tmp.path().join("error"), &[]).await;
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("browser"), "{}", stderr(&o));
    assert_eq!(snapshot(), with_sandbox, "nothing left after an error");

    // 2. Ctrl-C in the call: the run hangs up, exits 130 and removes its namespaces.
    let file = write(tmp.path(), &with_cohort("/usr/bin/chromium"));
    let out = tmp.path().join("interrupted");
    let mut child = run_in_call(&file, &out).await;
    let during = snapshot();
    let made = lab(&during);
    assert_eq!(
        made.len(),
        1 + 2,
        "the sandbox's namespaces and the cohort's: {made:?}"
    );
    assert!(
        !during.tun.is_empty(),
        "the cohort's link is a TUN pair: {during:?}"
    );
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(read_results(&out).info.outcome, RunOutcome::Interrupted);
    assert_eq!(snapshot(), with_sandbox, "nothing left after Ctrl-C");

    // 3. A crash (SIGKILL) leaves the run's namespaces behind; the next run removes them first.
    let out = tmp.path().join("killed");
    let mut child = run_in_call(&file, &out).await;
    // Its ChromeDriver (a process group of its own) would outlive it: note it to stop it after.
    let drivers = children_of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in drivers {
        // SAFETY: kill(2) of the process group our killed child started.
        unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
    }
    let left = snapshot();
    assert!(
        lab(&left).len() > 2,
        "a crash leaves the cohort's namespace: {left:?}"
    );
    // The next run also kills the media server mid-call: nobody gets media back.
    let janus = loadtest::network::cmd::netns_pids(sb.network.as_ref().unwrap().server.ns.name());
    let file = write(
        tmp.path(),
        &scenario(
            &sb,
            "60s",
            "\n[timeouts]\nunhealthy = \"5s\"\n\n[[cohort]]\nname = \"mobile\"\ncount = 1\nprofile = \"clean\"\n\n[[disruption]]\nkind = \"kill_media_server\"\nat = \"12s\"\n",
        ),
    );
    let next = tmp.path().join("next");
    let o = run(&file, &next, &[]).await;
    // Browsers of the killed run may linger as zombies of init; their namespace is gone.
    assert_eq!(
        snapshot(),
        with_sandbox,
        "the next run removed the leftovers"
    );
    // Killed and not yet reaped by the sandbox, Janus is a zombie: count the ones still running.
    let janus_after: Vec<i32> = janus
        .iter()
        .copied()
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next());
            state.is_some_and(|c| c != 'Z')
        })
        .collect();
    sb.stop().await;
    assert_eq!(snapshot(), before);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        !janus.is_empty() && janus_after.is_empty(),
        "Janus was killed"
    );
    let server = summary(&next)["disruptions"]["disruptions"][0].clone();
    eprintln!("{server}");
    assert_eq!(server["in_call"], 3, "{server}");
    assert_eq!(server["never_recovered"], 3, "{server}");
    let r = read_results(&next);
    assert!(r.participants.iter().all(|p| p.outcome == Outcome::Failed));
}

/// The scenario on a Grid at `hub` with one participant in cohort `shaped` (`profile`), and `extra`.
fn on_grid(sb: &Sandbox, hub: &str, duration: &str, profile: &str, extra: &str) -> String {
    scenario(
        sb,
        duration,
        &format!(
            "\n[webdriver]\nurl = \"{hub}\"\n\n[[cohort]]\nname = \"shaped\"\ncount = 1\nprofile = {profile}\n{extra}"
        ),
    )
}

/// A hub on free ports, with its event bus.
struct Hub {
    url: String,
    publish: u16,
    subscribe: u16,
    _procs: common::Procs,
}

fn hub(dir: &Path) -> Hub {
    let (port, publish, subscribe) = (free_port(), free_port(), free_port());
    std::fs::create_dir_all(dir).unwrap();
    let toml = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = {port}\n[events]\npublish = \"tcp://127.0.0.1:{publish}\"\nsubscribe = \"tcp://127.0.0.1:{subscribe}\"\nbind = true\n[sessionqueue]\nsession-request-timeout = 60\nsession-retry-interval = 1\n[distributor]\nreject-unsupported-caps = true\n"
    );
    std::fs::write(dir.join("hub.toml"), toml).unwrap();
    let child = Command::new("java")
        .args(["-Xmx256m", "-jar"])
        .arg(selenium_jar())
        .args(["hub", "--config"])
        .arg(dir.join("hub.toml"))
        .args(["--tracing", "false"])
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("hub.log")).unwrap(),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("hub.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    Hub {
        url: format!("http://127.0.0.1:{port}"),
        publish,
        subscribe,
        _procs: common::Procs(vec![child]),
    }
}

/// `loadtest network-node <extra>` in the background, its files in `dir/<label>`.
fn network_node(h: &Hub, dir: &Path, label: &str, extra: &[&str]) -> std::process::Child {
    let (port, publish, subscribe) = (free_port(), h.publish, h.subscribe);
    let jar = selenium_jar();
    let dir = dir.join(label);
    let mut args: Vec<String> = vec![
        format!("--hub={}", h.url),
        format!("--port={port}"),
        "--slots=2".into(),
        format!("--publish-port={publish}"),
        format!("--subscribe-port={subscribe}"),
        "--heap=256m".into(),
        format!("--jar={}", jar.display()),
        format!("--dir={}", dir.display()),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Command::new(bin())
        .arg("network-node")
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A hub with an unshaped network node and a shaped one (`shaped`: its arguments, network
/// `shaped` included); returns when both registered.
async fn grid_of_network_nodes(dir: &Path, shaped: &[&str]) -> (Hub, Vec<std::process::Child>) {
    let h = hub(&dir.join("hub"));
    let nodes = vec![
        network_node(&h, dir, "none", &["--network=none"]),
        network_node(&h, dir, "shaped", shaped),
    ];
    let url = h.url.clone();
    let registered = tokio::task::spawn_blocking(move || {
        common::wait_until(Duration::from_secs(120), || {
            common::grid_status(&url)
                .is_ok_and(|s| s["value"]["nodes"].as_array().is_some_and(|n| n.len() == 2))
        })
    })
    .await
    .unwrap();
    assert!(registered, "both network nodes registered");
    (h, nodes)
}

/// SIGTERM the network nodes and wait for them to remove what they made.
async fn stop_nodes(nodes: Vec<std::process::Child>) {
    for mut n in nodes {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(n.id() as i32, libc::SIGTERM) };
        let _ = tokio::task::spawn_blocking(move || n.wait()).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cohort_on_a_grid_network_node_is_placed_by_its_capability() {
    let (before, tmp, sb) = start(&[Needs::Janus, Needs::Chromium, Needs::Grid]).await;
    let with_sandbox = snapshot();
    let target = format!("--target={}", sb.janus_url);
    let (h, mut nodes) = grid_of_network_nodes(
        tmp.path(),
        &["--network=shaped={ delay = \"80ms\" }", &target],
    )
    .await;
    let shaped_ns: Vec<String> = snapshot()
        .namespaces
        .into_iter()
        .filter(|n| !with_sandbox.namespaces.contains(n))
        .collect();
    assert_eq!(
        shaped_ns.len(),
        1,
        "the shaped node's namespace: {shaped_ns:?}"
    );
    // The shaped node, found by its stereotype; it is stopped mid-call (+20 s): its participant's
    // browser ends, the others stay.
    let status = common::grid_status(&h.url).unwrap();
    let shaped_uri = status["value"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n.to_string().contains("\"loadtest:network\":\"shaped\""))
        .and_then(|n| n["uri"].as_str())
        .unwrap_or_else(|| panic!("no node with network shaped: {status}"))
        .to_string();
    let extra = format!(
        "\n[[disruption]]\nkind = \"stop_grid_node\"\nat = \"20s\"\nnode = \"{shaped_uri}\"\n"
    );
    let file = write(
        tmp.path(),
        &on_grid(&sb, &h.url, "30s", r#"{ delay = "80ms" }"#, &extra),
    );
    let out = tmp.path().join("run");
    let o = run(&file, &out, &[]).await;
    let shaped_node_exited = nodes[1].try_wait().unwrap().is_some();
    stop_nodes(nodes).await;
    drop(h);
    sb.stop().await;
    assert_eq!(
        snapshot(),
        before,
        "nothing left after the network nodes stopped"
    );
    eprintln!("{}", stderr(&o));
    let r = read_results(&out);
    let nodes_of = |cohort: &str| -> Vec<String> {
        r.participants
            .iter()
            .filter(|p| p.cohort == cohort)
            .map(|p| p.node.clone())
            .collect()
    };
    let (shaped, others) = (nodes_of("shaped"), nodes_of(""));
    assert_eq!(shaped, [shaped_uri], "placed on the shaped node");
    assert!(
        !others.contains(&shaped[0]),
        "the shaped participant ran on its own node: {shaped:?} vs {others:?}"
    );
    let s = summary(&out);
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    let (sh, none) = (cohort(&s, "shaped"), cohort(&s, ""));
    eprintln!("via the Grid: shaped {sh}\nunshaped {none}");
    let rtt = f(sh, "rtt_ms_p50") - f(none, "rtt_ms_p50");
    assert!(
        (rtt - 160.0).abs() < 40.0,
        "RTT through the node's link: {sh} vs {none}"
    );
    // The stopped node: drained (it exited, and its network node removed its namespace), its
    // participant's browser ended, the others completed.
    assert!(shaped_node_exited, "a drained node exits");
    for p in &r.participants {
        if p.cohort == "shaped" {
            assert!(r.has_event(p.participant, "browser_killed"), "{p:?}");
            assert_eq!(p.outcome, Outcome::Failed, "{p:?}");
        } else {
            assert_eq!(p.outcome, Outcome::Completed, "{p:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_network_node_off_the_lab_carries_media_through_its_nat_and_pages_through_its_proxy() {
    // The sandbox stands in for a target off the machine: the node does not attach to its lab
    // (`--egress`), so its browsers reach it the way they would reach a remote deployment.
    let (before, tmp, sb) = start(&[Needs::Janus, Needs::Chromium, Needs::Grid]).await;
    let profile = "--network=shaped={ delay = \"60ms\", loss = \"2%\" }";
    let (h, nodes) = grid_of_network_nodes(tmp.path(), &[profile, "--egress"]).await;
    let status = common::grid_status(&h.url).unwrap();
    assert!(
        status
            .to_string()
            .contains("\"loadtest:proxy\":\"http://127.0.0.1:"),
        "the egress node advertises its proxy: {status}"
    );
    let file = write(
        tmp.path(),
        &on_grid(&sb, &h.url, "25s", r#"{ delay = "60ms", loss = "2%" }"#, ""),
    );
    let out = tmp.path().join("run");
    let o = run(&file, &out, &[]).await;
    stop_nodes(nodes).await;
    drop(h);
    sb.stop().await;
    assert_eq!(snapshot(), before, "nothing left");
    let r = read_results(&out);
    assert_eq!(r.info.outcome, RunOutcome::Completed, "{}", stderr(&o));
    let s = summary(&out);
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap_or(f64::NAN);
    let (sh, none) = (cohort(&s, "shaped"), cohort(&s, ""));
    eprintln!("off the lab: shaped {sh}\nunshaped {none}");
    // Its page and Janus's API came through the proxy (the namespace's only route leads to the
    // NAT, which carries UDP only), its media through the NAT, shaped on the way.
    let rtt = f(sh, "rtt_ms_p50") - f(none, "rtt_ms_p50");
    assert!(
        (rtt - 120.0).abs() < 40.0,
        "RTT through the node's link: {rtt} ms"
    );
    assert!(f(sh, "loss_mean") < 0.05, "{sh}");
}
