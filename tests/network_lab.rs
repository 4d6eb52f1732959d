//! The network lab on the real kernel (root, namespaces, veth, TUN, htb): what it makes, what it
//! refuses, that it removes everything on drop, on a panic and after a killed process, and that
//! the emulated link and the htb cap do to packets what their profiles say. No browsers here.

mod netlab;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadtest::network::emulator::{Change, Step};
use loadtest::network::registry::cleanup_leftovers;
use loadtest::network::{Iface, NetworkError, Profile, ProfileSpec, Star, shape::Shape};
use netlab::*;

fn profile(toml_text: &str) -> Profile {
    toml::from_str::<ProfileSpec>(toml_text)
        .unwrap()
        .resolve()
        .unwrap()
}

#[test]
fn a_star_makes_what_it_records_and_removes_it_all_on_drop() {
    let before = snapshot();
    let fwd = root_forwarding();
    let star = Star::create().unwrap();
    let id = star.lab().id().to_string();
    let block = star.lab().block().cidr();
    let server = star.add_server("s0").unwrap();
    let cohort = star.add_cohort("c0", Profile::clean()).unwrap();
    let during = snapshot();

    // The unreachable route for the block is there, and the root namespace reaches the server
    // through the host link.
    assert!(
        during
            .routes
            .iter()
            .any(|r| r.starts_with(&format!("unreachable {block}"))),
        "{:?}",
        during.routes
    );
    let host = star.host_link().unwrap();
    let via = Command::new("ip")
        .args(["route", "get", &server.addr.to_string()])
        .output()
        .unwrap();
    let via = String::from_utf8_lossy(&via.stdout);
    assert!(via.contains(&format!("dev {}", host.a.name)), "{via}");
    for ns in ["r", "s0", "c0"] {
        assert!(netns_exists(&format!("lt-{id}-{ns}")), "namespace {ns}");
    }
    // Forwarding is on in the router only.
    let router_fwd = ip_n(star.router().name(), &["-o", "addr"]);
    assert!(router_fwd.contains(&format!("lt-{id}-c0p")), "{router_fwd}");
    assert_eq!(
        star.router()
            .run_in(|| std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap())
            .unwrap()
            .trim(),
        "1"
    );
    assert_eq!(root_forwarding(), fwd, "root forwarding untouched");
    // The cohort's only route out is its TUN device.
    let routes = ip_n(cohort.ns.name(), &["route"]);
    assert!(
        routes.contains(&format!("default dev lt-{id}-c0")),
        "{routes}"
    );
    let tun = ip_n(
        cohort.ns.name(),
        &["-d", "link", "show", &cohort.link.inner.name],
    );
    assert!(tun.contains("tun"), "{tun}");
    assert!(
        during.records.contains(&format!("{id}.json")),
        "ownership recorded"
    );

    drop(cohort);
    drop(server);
    drop(star);
    assert_eq!(snapshot(), before, "everything removed");
    assert_eq!(root_forwarding(), fwd);
}

#[test]
fn a_panic_in_the_body_leaves_nothing_behind() {
    let before = snapshot();
    let r = std::panic::catch_unwind(|| {
        let star = Star::create().unwrap();
        let server = star.add_server("s0").unwrap();
        star.cap(
            &server,
            "1mbit".parse().unwrap(),
            Duration::from_millis(100),
        )
        .unwrap();
        let _c = star
            .add_cohort("c0", Profile::builtin("3g").unwrap())
            .unwrap();
        assert!(snapshot() != before);
        panic!("test body fails");
    });
    assert!(r.is_err());
    assert_eq!(snapshot(), before);
}

#[test]
fn it_refuses_interfaces_it_did_not_make() {
    let qdisc = |dev: &str| {
        String::from_utf8_lossy(
            &Command::new("tc")
                .args(["qdisc", "show", "dev", dev])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned()
    };
    let eth0 = qdisc("eth0");
    let star = Star::create().unwrap();
    let server = star.add_server("s0").unwrap();
    let lab = star.lab();
    let cap = Shape {
        cap: Some(("1mbit".parse().unwrap(), Duration::from_millis(50))),
        black_hole: false,
    };
    let refuse = |iface: Iface| {
        let e = lab.set_shape(&iface, cap).unwrap_err();
        assert!(matches!(e, NetworkError::Refused(_)), "{iface:?}: {e}");
    };
    refuse(Iface {
        name: "eth0".into(),
        ns: None,
    });
    refuse(Iface {
        name: "lo".into(),
        ns: None,
    });
    // The lab's own naming but not in its record, and its own interface claimed in the wrong
    // namespace.
    refuse(Iface {
        name: format!("lt-{}-zz", lab.id()),
        ns: None,
    });
    refuse(Iface {
        name: server.link.b.name.clone(),
        ns: None,
    });
    // Another lab's interface.
    let other = Star::create().unwrap();
    refuse(other.host_link().unwrap().a.clone());
    assert_eq!(qdisc("eth0"), eth0, "eth0 untouched");
    // Its own interface is fine.
    lab.set_shape(&server.link.a, cap).unwrap();
    assert!(ip_n(server.link.a.ns.as_deref().unwrap(), &["link"]).contains(&server.link.a.name));
    // Attaching to something that is not a live lab's router is refused too.
    assert!(matches!(
        Star::attach("eth0"),
        Err(NetworkError::Refused(_))
    ));
    assert!(Star::attach(other.router().name()).is_ok());
}

/// Run by [`leftovers_of_a_killed_process_are_removed_and_live_labs_kept`] as a child process: it
/// holds a lab until killed.
#[test]
fn child_holds_a_lab_until_killed() {
    if std::env::var_os("LT_CHILD_HOLDS_LAB").is_none() {
        return;
    }
    let star = Star::create().unwrap();
    let _s = star.add_server("s0").unwrap();
    let _c = star.add_cohort("c0", Profile::clean()).unwrap();
    star.cap(&_s, "2mbit".parse().unwrap(), Duration::from_millis(50))
        .unwrap();
    // Something running inside, as a browser or Janus would be.
    let mut sleeper = _s.ns.command("sleep").arg("600").spawn().unwrap();
    println!("LAB {}", star.lab().id());
    let _ = sleeper.wait();
}

#[test]
fn leftovers_of_a_killed_process_are_removed_and_live_labs_kept() {
    let before = snapshot();
    let (mut child, id) = spawn_child("child_holds_a_lab_until_killed", "LT_CHILD_HOLDS_LAB");
    // A live lab of another process is not a leftover.
    let mine = Star::create().unwrap();
    let cleaned = cleanup_leftovers().unwrap();
    assert!(!cleaned.labs.contains(&id), "{cleaned:?}");
    assert!(!cleaned.labs.contains(&mine.lab().id().to_string()));
    assert!(netns_exists(&format!("lt-{id}-s0")));

    // Killed without a chance to clean up: its namespaces, veths, qdiscs, route and the process
    // inside stay behind until a cleanup.
    child.kill().unwrap();
    child.wait().unwrap();
    let left = snapshot();
    assert!(left.namespaces.contains(&format!("lt-{id}-s0")));
    assert!(left.links.contains(&format!("lt-{id}-h")));
    assert!(
        left.tun.iter().all(|t| !t.contains(&id)),
        "TUN devices die with their process"
    );
    let cleaned = cleanup_leftovers().unwrap();
    assert_eq!(cleaned.labs, vec![id.clone()], "{cleaned:?}");
    assert!(cleaned.namespaces.contains(&format!("lt-{id}-s0")));
    assert_eq!(cleaned.routes.len(), 1);
    drop(mine);
    assert_eq!(snapshot(), before, "a second look finds nothing");
    assert!(cleanup_leftovers().unwrap().is_empty());
}

/// Run one of this file's `child_*` tests in a child process (it acts only when `env` is set) and
/// return it with the id of the lab it printed.
#[allow(clippy::zombie_processes)] // the caller waits for the child it gets back
fn spawn_child(test: &str, env: &str) -> (std::process::Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture"])
        .env(env, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut out, &mut line).unwrap_or(0) == 0 {
            panic!("child {test} ended: {:?}", child.wait());
        }
        if let Some(id) = line.trim().strip_prefix("LAB ") {
            return (child, id.to_string());
        }
    }
}

/// A star with a UDP echo in a server namespace and a cohort behind `p`.
struct Rig {
    star: Star,
    cohort: loadtest::network::Cohort,
    to: SocketAddr,
    _echo: Echo,
}

fn rig(p: Profile) -> Rig {
    let star = Star::create().unwrap();
    let server = star.add_server("s0").unwrap();
    let cohort = star.add_cohort("c0", p).unwrap();
    let e = echo(
        udp_in(Some(&server.ns), &format!("{}:7", server.addr)),
        true,
    );
    Rig {
        to: e.addr,
        star,
        cohort,
        _echo: e,
    }
}

#[test]
fn the_emulated_link_delays_both_ways_and_loses_what_it_is_told() {
    let r = rig(profile("delay = \"50ms\""));
    let sock = udp_in(Some(&r.cohort.ns), "0.0.0.0:0");
    let rtt = median(probe(
        &sock,
        r.to,
        40,
        Duration::from_millis(20),
        Duration::from_millis(500),
    ));
    eprintln!("RTT through 50 ms each way: {rtt:?}");
    assert!(
        rtt >= Duration::from_millis(100) && rtt < Duration::from_millis(115),
        "50 ms each way: RTT {rtt:?}"
    );
    // The root namespace reaches the same server unshaped.
    let root = udp_in(None, "0.0.0.0:0");
    let direct = median(probe(
        &root,
        r.to,
        20,
        Duration::from_millis(10),
        Duration::from_millis(300),
    ));
    assert!(
        direct < Duration::from_millis(20),
        "host link unshaped: {direct:?}"
    );

    // 10 % loss each way: about 19 % of round trips fail; the counters agree with the profile.
    r.cohort
        .link
        .set_profile(profile("loss = \"10%\""))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let before = r.cohort.link.counters();
    let n = 3000;
    let got = probe(
        &sock,
        r.to,
        n,
        Duration::from_micros(500),
        Duration::from_millis(500),
    )
    .len();
    let failed = 1.0 - got as f64 / n as f64;
    eprintln!("round trips lost at 10 % each way: {failed:.3}");
    assert!((failed - 0.19).abs() < 0.035, "round trips lost: {failed}");
    let c = r.cohort.link.counters();
    let up_loss = (c.up.lost - before.up.lost) as f64 / (c.up.offered - before.up.offered) as f64;
    assert!((up_loss - 0.10).abs() < 0.025, "up loss {up_loss}");
    assert!(c.down.lost > before.down.lost, "loss in both directions");
    drop(r.star);
}

#[test]
fn the_emulated_link_caps_the_rate_with_a_bounded_queue() {
    let r = rig(profile("up = \"2mbit\"\nqueue = \"100ms\""));
    let sink_ns = r.star.add_server("s1").unwrap();
    let sink = echo(
        udp_in(Some(&sink_ns.ns), &format!("{}:9", sink_ns.addr)),
        false,
    );
    let sock = udp_in(Some(&r.cohort.ns), "0.0.0.0:0");
    let start = Instant::now();
    let offered = blast(&sock, sink.addr, 6.0, 4.0, 1200);
    std::thread::sleep(Duration::from_millis(300));
    let secs = start.elapsed().as_secs_f64() - 0.3;
    let got = sink.bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 * 8.0 / secs / 1e6;
    assert!(offered as f64 * 8.0 / 4.0 / 1e6 > 5.0, "the sender kept up");
    eprintln!("6 Mbit/s offered to a 2 Mbit/s emulated link: {got:.3} Mbit/s received");
    assert!(
        (got - 2.0).abs() < 0.25,
        "received {got:.2} Mbit/s through a 2 Mbit/s link"
    );
    let c = r.cohort.link.counters();
    assert!(c.up.queue_full > 0, "{c:?}");
}

/// How many of `n` probes (one every `gap_ms`) came back within `wait_ms` of the last.
fn answered(
    sock: &std::net::UdpSocket,
    to: SocketAddr,
    n: u32,
    gap_ms: u64,
    wait_ms: u64,
) -> usize {
    probe(
        sock,
        to,
        n,
        Duration::from_millis(gap_ms),
        Duration::from_millis(wait_ms),
    )
    .len()
}

#[test]
fn a_black_hole_stops_everything_and_a_schedule_changes_the_profile() {
    let r = rig(Profile::clean());
    let sock = udp_in(Some(&r.cohort.ns), "0.0.0.0:0");
    assert_eq!(answered(&sock, r.to, 10, 10, 200), 10);
    r.cohort.link.black_hole_for(Duration::from_millis(1500));
    std::thread::sleep(Duration::from_millis(50));
    assert!(r.cohort.link.is_black_holed());
    assert_eq!(
        answered(&sock, r.to, 50, 20, 100),
        0,
        "nothing gets through a black-hole"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!r.cohort.link.is_black_holed());
    assert_eq!(answered(&sock, r.to, 10, 10, 200), 10, "traffic comes back");
    assert!(r.cohort.link.counters().up.black_holed >= 50);

    // A schedule: 80 ms each way after 300 ms, a 400 ms black-hole at 1 s.
    r.cohort
        .link
        .schedule(vec![
            Step {
                at: Duration::from_millis(300),
                change: Change::Profile(profile("delay = \"80ms\"")),
            },
            Step {
                at: Duration::from_secs(1),
                change: Change::BlackHole(Duration::from_millis(400)),
            },
        ])
        .unwrap();
    let early = median(probe(
        &sock,
        r.to,
        5,
        Duration::from_millis(20),
        Duration::from_millis(50),
    ));
    assert!(early < Duration::from_millis(30), "{early:?}");
    std::thread::sleep(Duration::from_millis(300));
    let late = median(probe(
        &sock,
        r.to,
        5,
        Duration::from_millis(20),
        Duration::from_millis(300),
    ));
    assert!(late >= Duration::from_millis(160), "{late:?}");
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(500) && !r.cohort.link.is_black_holed() {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        r.cohort.link.is_black_holed(),
        "the scheduled black-hole began"
    );
    assert_eq!(r.cohort.link.profile().delay, Duration::from_millis(80));
}

#[test]
fn an_htb_cap_on_a_server_link_caps_both_directions_and_a_black_hole_drops_all() {
    let star = Star::create().unwrap();
    let server = star.add_server("s0").unwrap();
    let sink = echo(
        udp_in(Some(&server.ns), &format!("{}:9", server.addr)),
        false,
    );
    star.cap(
        &server,
        "3mbit".parse().unwrap(),
        Duration::from_millis(100),
    )
    .unwrap();
    let root = udp_in(None, "0.0.0.0:0");
    let t = Instant::now();
    blast(&root, sink.addr, 8.0, 3.0, 1200);
    std::thread::sleep(Duration::from_millis(200));
    let secs = t.elapsed().as_secs_f64() - 0.2;
    let got = sink.bytes.load(std::sync::atomic::Ordering::Relaxed) as f64 * 8.0 / secs / 1e6;
    eprintln!("8 Mbit/s offered to a 3mbit htb cap: {got:.3} Mbit/s received");
    assert!(
        (got - 3.0).abs() < 0.4,
        "root → server: {got:.2} Mbit/s through 3mbit"
    );
    let q = String::from_utf8_lossy(
        &Command::new("tc")
            .args([
                "-n",
                server.ns.name(),
                "qdisc",
                "show",
                "dev",
                server.iface(),
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        q.contains("htb") && q.contains("bfifo"),
        "server end shaped too: {q}"
    );

    star.black_hole(&server, true).unwrap();
    let n0 = sink.received.load(std::sync::atomic::Ordering::Relaxed);
    blast(&root, sink.addr, 1.0, 0.5, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sink.received.load(std::sync::atomic::Ordering::Relaxed), n0);
    star.black_hole(&server, false).unwrap();
    blast(&root, sink.addr, 1.0, 0.3, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert!(sink.received.load(std::sync::atomic::Ordering::Relaxed) > n0);
    let q = String::from_utf8_lossy(
        &Command::new("tc")
            .args([
                "-n",
                star.router().name(),
                "qdisc",
                "show",
                "dev",
                &server.link.a.name,
            ])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        q.contains("htb"),
        "the cap is back after the black-hole: {q}"
    );
}

/// Run by [`sigint_tears_down_a_lab_through_the_signal_path`] as a child process.
#[test]
fn child_with_signal_path() {
    if std::env::var_os("LT_CHILD_SIGNAL").is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        loadtest::network::lab::exit_on_signal();
        let star = Star::create().unwrap();
        let s = star.add_server("s0").unwrap();
        let _c = star.add_cohort("c0", Profile::clean()).unwrap();
        star.cap(&s, "2mbit".parse().unwrap(), Duration::from_millis(50))
            .unwrap();
        println!("LAB {}", star.lab().id());
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

#[test]
fn sigint_tears_down_a_lab_through_the_signal_path() {
    let before = snapshot();
    let (mut child, id) = spawn_child("child_with_signal_path", "LT_CHILD_SIGNAL");
    assert!(netns_exists(&format!("lt-{id}-s0")));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(snapshot(), before, "the signal path removed everything");
}
