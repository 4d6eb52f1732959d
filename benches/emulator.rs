//! The link emulator's own CPU cost: UDP (1200-byte datagrams, like video RTP) from a cohort
//! namespace through an emulated link to a server namespace at several offered rates, measured as the
//! emulator thread's CPU time (`/proc/self/task/<tid>/stat`), for two profiles: delay + jitter + loss
//! without a rate limit, and the same with a rate limit just above the offered rate (queue work);
//! both through a link to the router (TUN ⇄ TUN) and through a link off the lab (TUN ⇄ the tool's
//! UDP NAT, whose `sendto` per datagram runs on the emulator's thread).
//!
//! `cargo bench --bench emulator` (root needed) prints the table recorded in docs/benchmarks.md.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use loadtest::network::egress::EgressLab;
use loadtest::network::{Cohort, Profile, ProfileSpec, Star};

const SIZE: usize = 1200;
const SECS: f64 = 5.0;

fn profile(text: &str) -> Profile {
    toml::from_str::<ProfileSpec>(text)
        .unwrap()
        .resolve()
        .unwrap()
}

/// Send `mbit` Mbit/s of `SIZE`-byte datagrams for `SECS`, in 1 ms batches.
fn send(sock: &UdpSocket, to: std::net::SocketAddr, mbit: f64) -> u64 {
    let pkt = [0u8; SIZE];
    let per_sec = mbit * 1e6 / 8.0 / SIZE as f64;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed().as_secs_f64() < SECS {
        let due = (start.elapsed().as_secs_f64() * per_sec) as u64;
        while sent < due {
            if sock.send_to(&pkt, to).is_err() {
                break;
            }
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    sent
}

fn main() {
    println!(
        "| profile | offered Mbit/s | delivered Mbit/s | emulator CPU (% of a core) | CPU % per Mbit/s |"
    );
    println!("|---|---|---|---|---|");
    let star = Star::create().expect("the lab needs root");
    let server = star.add_server("s0").unwrap();
    let sink = server
        .ns
        .run_in(|| UdpSocket::bind((server.addr, 9)))
        .unwrap()
        .unwrap();
    sink.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let to = sink.local_addr().unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (g, s) = (got.clone(), stop.clone());
    let sink_thread = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !s.load(Ordering::Relaxed) {
            if let Ok(n) = sink.recv(&mut buf) {
                g.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    });
    let mut egress = EgressLab::create().unwrap();
    let cases = [
        ("delay 20ms, jitter 5ms, loss 1%", None, false),
        ("same + rate limit", Some(()), false),
        (
            "delay 20ms, jitter 5ms, loss 1%, off the lab (NAT)",
            None,
            true,
        ),
        ("same + rate limit, off the lab (NAT)", Some(()), true),
    ];
    for (i, (name, limited, nat)) in cases.iter().enumerate() {
        for mbit in [5.0, 20.0, 50.0, 100.0, 200.0] {
            let mut text = "delay = \"20ms\"\njitter = \"5ms\"\nloss = \"1%\"\n".to_string();
            if limited.is_some() {
                text.push_str(&format!(
                    "rate = \"{}mbit\"\nqueue = \"50ms\"\n",
                    mbit * 1.1
                ));
            }
            let role = format!("c{i}{}", mbit as u32);
            let cohort: Cohort = if *nat {
                egress.add_cohort(&role, profile(&text)).unwrap()
            } else {
                star.add_cohort(&role, profile(&text)).unwrap()
            };
            let sock = cohort
                .ns
                .run_in(|| UdpSocket::bind("0.0.0.0:0"))
                .unwrap()
                .unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let cpu0 = cohort.link.cpu_time().unwrap();
            let got0 = got.load(Ordering::Relaxed);
            let t = Instant::now();
            send(&sock, to, mbit);
            std::thread::sleep(Duration::from_millis(200));
            let secs = t.elapsed().as_secs_f64();
            let cpu = (cohort.link.cpu_time().unwrap() - cpu0).as_secs_f64() / secs * 100.0;
            let delivered = (got.load(Ordering::Relaxed) - got0) as f64 * 8.0 / SECS / 1e6;
            println!(
                "| {name} | {mbit:.0} | {delivered:.1} | {cpu:.1} | {:.3} |",
                cpu / mbit
            );
        }
    }
    // Idle: a link with no traffic.
    let idle = star.add_cohort("idle", Profile::clean()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let c0 = idle.link.cpu_time().unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let c1 = idle.link.cpu_time().unwrap();
    println!(
        "\nidle link: {:.3} % of a core",
        (c1 - c0).as_secs_f64() / 5.0 * 100.0
    );
    stop.store(true, Ordering::Relaxed);
    let _ = sink_thread.join();
}
