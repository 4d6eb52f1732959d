//! What people see, measured and calibrated with real Chromium, real ChromeDriver and a real Janus on
//! loopback: frame codes and the reference picture in the browser, garbled and code-less cameras in a
//! call, and a call whose sender gets a known delay, a known frame loss and finally a stopped camera.
//! Figures are printed (`--nocapture`) and recorded in docs/benchmarks.md.

mod common;
mod quality_support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use loadtest::media::{self, VIDEO_PRESETS};
use loadtest::quality::{self, DelayJoin, RecvStream, Take};
use loadtest::results::VideoQualityRow;
use loadtest::webdriver::chromedriver::ChromeDriver;
use quality_support::*;
use serde_json::{Value, json};

/// What one phase of a call measured: every peer's take and the joined delays.
struct Phase {
    takes: HashMap<String, Take>,
    delays: Vec<quality::DelaySample>,
}

impl Phase {
    /// Measure for `secs`: a take on every page to start the interval, another at its end, joined.
    async fn run(peers: &[Peer], secs: u64) -> Phase {
        for p in peers {
            take(p).await;
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let mut join = DelayJoin::new();
        let mut takes = HashMap::new();
        for p in peers {
            let t = take(p).await;
            join.add_take(&p.name, p.clock, &t);
            takes.insert(p.name.clone(), t);
        }
        Phase {
            takes,
            delays: join.drain(),
        }
    }

    fn stream(&self, receiver: &str, sender: &str) -> &RecvStream {
        self.takes[receiver]
            .recv
            .iter()
            .find(|s| s.peer.as_deref() == Some(sender))
            .unwrap_or_else(|| panic!("{receiver} has no stream from {sender}"))
    }

    /// Delays (ms) of `sender`'s frames at `receiver`.
    fn delays(&self, receiver: &str, sender: &str) -> Vec<f64> {
        self.delays
            .iter()
            .filter(|d| d.receiver == receiver && d.sender == sender)
            .map(|d| d.delay_ms)
            .collect()
    }

    /// Delay p50 (ms) of `sender`'s frames at `receiver`, from at least 20 joined frames.
    fn delay(&self, receiver: &str, sender: &str) -> f64 {
        let d = self.delays(receiver, sender);
        assert!(
            d.len() >= 20,
            "{receiver}<-{sender}: {} delay samples",
            d.len()
        );
        quality::delay_percentiles(&d).0.unwrap()
    }

    fn print(&self, name: &str, receiver: &str, sender: &str) -> VideoQualityRow {
        let f = quality::figures(self.stream(receiver, sender));
        let d = quality::delay_percentiles(&self.delays(receiver, sender));
        eprintln!(
            "{name:>7} {receiver}<-{sender}: delay p50/p95 {:?}/{:?} ms, freezes {} / {:.0} ms of {:.0} ms, skipped {}, garbled {}, PSNR p5/p50 {:?}/{:?}, SSIM p5/p50 {:?}/{:?}",
            d.0,
            d.1,
            f.freeze_count,
            f.freeze_ms,
            f.observed_ms,
            f.skipped,
            f.garbled,
            f.psnr_db_p5,
            f.psnr_db_p50,
            f.ssim_p5,
            f.ssim_p50
        );
        f
    }
}

/// A known delay, a known frame loss and a stopped camera, each against the clean call before it.
#[tokio::test(flavor = "multi_thread")]
async fn calibrated_against_a_known_delay_frame_loss_and_a_stopped_camera() {
    let Lab {
        tmp: _tmp,
        janus: sb,
        page,
        driver,
    } = Lab::start().await;
    let cam = preset(0);
    let mut peers = Vec::new();
    for (i, q) in ["&impair=delay:0", "", ""].iter().enumerate() {
        peers.push(
            join(
                &driver,
                &page,
                &sb.janus_url,
                "cal",
                &format!("p{i}"),
                &cam,
                q,
            )
            .await,
        );
    }
    for p in &peers {
        // One browser's clock against the orchestrator: the same machine, so within the bound.
        eprintln!("{} clock: {:?}", p.name, p.clock);
        assert!(p.clock.bound_ms < 25.0, "{:?}", p.clock);
        assert!(
            p.clock.offset_ms.abs() <= p.clock.bound_ms + 1.0,
            "{:?}",
            p.clock
        );
        js(
            &p.client,
            "return __ltQuality.start({quality_every_ms: 250})",
        )
        .await;
    }
    until_receiving(&peers).await;
    let set = |o: &str| format!("return __ltImpair.set({o})");

    // Clean: every stream has figures; delay p50 is tens of ms.
    let clean = Phase::run(&peers, 15).await;
    for r in &peers {
        for s in peers.iter().filter(|s| s.name != r.name) {
            let f = clean.print("clean", &r.name, &s.name);
            let d = clean.delay(&r.name, &s.name);
            // Capture to render on loopback takes a few ms; each browser's clock offset is only known
            // within its bound (a busy machine slows the WebDriver round trips that measure it).
            let slack = r.clock.bound_ms + s.clock.bound_ms;
            assert!(
                (3.0 - slack..100.0).contains(&d),
                "clean delay p50 {d} ms (clock bounds ±{slack:.1} ms)"
            );
            assert!(f.codes > 100 && f.garbled == 0, "{f:?}");
            assert!(f.freeze_share().unwrap() < 0.05, "{f:?}");
            assert!(
                f.psnr_db_p50.unwrap() > 40.0 && f.ssim_p50.unwrap() > 0.95,
                "{f:?}"
            );
        }
    }

    // A 150 ms hold on every frame of p0: its delay rises by 150 ms at both receivers.
    js(&peers[0].client, &set("{delay: 150}")).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let held = Phase::run(&peers, 15).await;
    // The hold frames really got: 150 ms plus how late the worker's timers fired.
    let hold = js(&peers[0].client, "return __ltImpair.heldMsMean")
        .await
        .as_f64()
        .expect("frames were held");
    assert!((150.0..200.0).contains(&hold), "held {hold} ms");
    for r in ["p1", "p2"] {
        held.print("delay", r, "p0");
        let (d0, d1) = (clean.delay(r, "p0"), held.delay(r, "p0"));
        eprintln!(
            "  {r}<-p0: delay p50 rose {:.1} ms (frames held {hold:.1} ms)",
            d1 - d0
        );
        assert!(
            (d1 - d0 - hold).abs() <= 30.0,
            "delay rose {} ms, frames held {hold} ms",
            d1 - d0
        );
    }

    // Every 20th encoded frame of p0 dropped: freezes and a worse PSNR p5, p1's stream unaffected.
    js(&peers[0].client, &set("{drop: 0.05}")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let lossy = Phase::run(&peers, 15).await;
    for r in ["p1", "p2"] {
        let (c, l) = (
            quality::figures(clean.stream(r, "p0")),
            lossy.print("drop", r, "p0"),
        );
        assert!(
            l.freeze_count >= 1 && l.freeze_share().unwrap() >= 0.2,
            "{l:?}"
        );
        assert!(
            l.psnr_db_p5.unwrap() < c.psnr_db_p5.unwrap() - 10.0,
            "{c:?} {l:?}"
        );
        assert!(l.skipped > 20, "{l:?}");
    }
    let control = quality::figures(lossy.stream("p2", "p1"));
    assert!(control.freeze_share().unwrap() < 0.1, "{control:?}");

    // p0's camera stops: every receiver reports a freeze that began within a second of the stop.
    js(&peers[0].client, &set("{}")).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for p in &peers {
        take(p).await;
    }
    let stop_page = js(
        &peers[0].client,
        "var t = performance.timeOrigin + performance.now();
         __lt.pcs().forEach(function (pc) { pc.getSenders().forEach(function (s) {
           if (s.track && s.track.kind === 'video') s.track.stop(); }); });
         return t;",
    )
    .await
    .as_f64()
    .unwrap();
    let stopped = peers[0].clock.to_orchestrator(stop_page);
    tokio::time::sleep(Duration::from_secs(3)).await;
    for r in &peers[1..] {
        let t = take(r).await;
        let s = t
            .recv
            .iter()
            .find(|s| s.peer.as_deref() == Some("p0"))
            .expect("p0's stream");
        let (start, dur, ongoing) = *s.freezes.last().expect("a freeze");
        let start = r.clock.to_orchestrator(start);
        eprintln!(
            "   stop {}<-p0: freeze from {:+.0} ms after the stop, {dur:.0} ms so far",
            r.name,
            start - stopped
        );
        assert!(ongoing && s.freeze_count == 1 && dur > 2000.0, "{s:?}");
        assert!(
            (start - stopped).abs() <= 1000.0,
            "freeze began {} ms from the stop",
            start - stopped
        );
    }
    leave(peers).await;
    driver.stop().await;
}

/// One frame in ten of p0's camera carries a code with a flipped cell; p1's camera has no codes at all.
/// Garbled frames are skipped and counted; streams without codes simply have no figures.
#[tokio::test(flavor = "multi_thread")]
async fn garbled_codes_are_counted_and_cameras_without_codes_have_no_figures() {
    let Lab {
        tmp,
        janus: sb,
        page,
        driver,
    } = Lab::start().await;
    let p = VIDEO_PRESETS[0];
    let frames = media::loop_frames(p.fps);
    let garbled = tmp.path().join("garbled.y4m");
    let plain = tmp.path().join("plain.y4m");
    write_y4m(&garbled, p.width, p.height, p.fps, frames, |n, y| {
        if n % 10 == 5 {
            // Cell 7 (an index bit) takes the opposite colour over the whole strip.
            let w = p.width as usize;
            let (x0, x1) = (7 * w / 24, 8 * w / 24);
            for row in y.chunks_mut(w).take(8) {
                let v = if row[x0] > 128 { 16 } else { 235 };
                row[x0..x1].fill(v);
            }
        }
    });
    write_y4m(&plain, p.width, p.height, p.fps, frames, |_, y| {
        let w = p.width as usize;
        let below = y[40 * w..41 * w].to_vec();
        for row in y.chunks_mut(w).take(8) {
            row.copy_from_slice(&below);
        }
    });
    let peers = vec![
        join(&driver, &page, &sb.janus_url, "garble", "p0", &garbled, "").await,
        join(&driver, &page, &sb.janus_url, "garble", "p1", &plain, "").await,
        join(
            &driver,
            &page,
            &sb.janus_url,
            "garble",
            "p2",
            &preset(0),
            "",
        )
        .await,
    ];
    until_receiving(&peers).await;
    let ph = Phase::run(&peers, 12).await;
    let sent = |n: &str| ph.takes[n].sent[0].clone();
    let s0 = sent("p0");
    eprintln!(
        "p0 camera anchors: {} frames, {} codes, {} garbled",
        s0.frames, s0.codes, s0.garbled
    );
    // Anchors are valid codes only (never a garbled frame, never frame 0).
    assert!(
        s0.codes >= 10 && s0.c.len() as u64 + 3 >= s0.codes,
        "{s0:?}"
    );
    assert!(
        s0.c.iter().all(|&c| c > 0 && c < 100 && c % 10 != 5),
        "{s0:?}"
    );
    assert_eq!((sent("p1").codes, sent("p1").fps), (0, None));
    for r in ["p1", "p2"] {
        let s = ph.stream(r, "p0");
        eprintln!(
            "{r}<-p0: {} frames, {} codes, {} garbled, skipped {}, PSNR {:?}",
            s.frames, s.codes, s.garbled, s.skipped, s.psnr
        );
        assert!(
            s.garbled * 100 >= s.frames * 5 && s.garbled * 100 <= s.frames * 15,
            "{s:?}"
        );
        assert!(
            s.codes > 80 && s.fps == Some(10) && !s.psnr.is_empty(),
            "{s:?}"
        );
        assert!(
            s.skipped <= 3 && s.freeze_count == 0,
            "garbled frames still move the picture: {s:?}"
        );
        ph.delay(r, "p0");
    }
    for r in ["p0", "p2"] {
        let s = ph.stream(r, "p1");
        assert!(s.frames > 80, "{s:?}");
        assert_eq!(
            (s.codes, s.fps, s.psnr.len(), s.c.len()),
            (0, None, 0, 0),
            "{s:?}"
        );
        assert!(
            s.garbled + s.unread + 3 >= s.frames,
            "every frame read is garbled: {s:?}"
        );
        assert!(!ph.delays.iter().any(|d| d.sender == "p1"));
    }
    let s = ph.stream("p0", "p2");
    assert_eq!(s.garbled, 0, "{s:?}");
    leave(peers).await;
    driver.stop().await;
}

/// Write a Y4M of the generated loop, each frame's luma passed through `edit` (chroma grey).
fn write_y4m(path: &Path, w: u32, h: u32, fps: u32, frames: u32, edit: impl Fn(u32, &mut [u8])) {
    let mut out = format!("YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n").into_bytes();
    let chroma = vec![128u8; (w * h / 2) as usize];
    for n in 0..frames {
        let mut y = media::frame_luma(w, h, fps, n);
        edit(n, &mut y);
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&y);
        out.extend_from_slice(&chroma);
    }
    std::fs::write(path, out).unwrap();
}

/// The page's decoder and reference picture, against the generator, in a real browser.
#[tokio::test(flavor = "multi_thread")]
async fn the_page_reads_the_generated_codes_and_rebuilds_the_reference_exactly() {
    let page = page_server().await;
    let driver = ChromeDriver::start(Path::new("/usr/bin/chromedriver"))
        .await
        .unwrap();
    let c = browser(&driver, None).await;
    c.goto(&format!("{page}blank")).await.unwrap();
    c.execute(quality::QUALITY_JS, vec![]).await.unwrap();
    for p in VIDEO_PRESETS {
        for n in [0, 1, p.fps + 3, media::loop_frames(p.fps) - 1] {
            let y = media::frame_luma(p.width, p.height, p.fps, n);
            let r = c
                .execute(
                    "var L = window.__ltQuality.lib, a = arguments;
                     var y = L.referenceLuma(a[0], a[1], a[2], a[3]), h = 2166136261;
                     for (var i = 0; i < y.length; i++) h = Math.imul(h ^ y[i], 16777619) >>> 0;
                     var row = L.stripRow(a[1]), strip = y.subarray(row * a[0]);
                     return { hash: h, code: L.decode(strip, a[0], 2, a[0]) };",
                    vec![json!(p.width), json!(p.height), json!(p.fps), json!(n)],
                )
                .await
                .unwrap();
            assert_eq!(
                r["hash"],
                json!(fnv1a(&y)),
                "{} frame {n}: JS reference differs",
                p.name
            );
            assert_eq!(
                r["code"],
                json!({"index": n, "fps": p.fps}),
                "{} frame {n}",
                p.name
            );
        }
    }
    // Garbled strips: every single flipped cell, noise, flat grey, a strip too narrow to hold cells.
    let r = c
        .execute(
            "var L = window.__ltQuality.lib, w = 160, out = {flips: 0, noise: 0, ok: null};
             var y = L.referenceLuma(w, 120, 10, 42), row = L.stripRow(120) * w;
             out.ok = L.decode(y.subarray(row), w, 2, w);
             for (var c = 0; c < 24; c++) {
               var z = y.slice(row, row + 2 * w), x0 = Math.floor(c * w / 24), x1 = Math.floor((c + 1) * w / 24);
               for (var r = 0; r < 2; r++) for (var x = x0; x < x1; x++) z[r * w + x] = z[r * w + x] > 128 ? 16 : 235;
               if (L.decode(z, w, 2, w) === null) out.flips++;
             }
             var seed = 7;
             for (var k = 0; k < 2000; k++) {
               var n = new Uint8Array(2 * w);
               for (var i = 0; i < n.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; n[i] = seed >>> 24; }
               if (L.decode(n, w, 2, w) === null) out.noise++;
             }
             out.flat = L.decode(new Uint8Array(2 * w).fill(128), w, 2, w);
             out.narrow = L.decode(new Uint8Array(40).fill(200), 20, 2, 20);
             out.same = [L.psnr(y, y, w, 120), L.ssim(y, y, w, 120)];
             var z = y.slice(); for (var i = 0; i < z.length; i += 7) z[i] = 255 - z[i];
             out.half = [L.psnr(y, z, w, 120), L.psnr(y, z, w, 120, true), L.ssim(y, z, w, 120), L.ssim(y, z, w, 120, true)];
             return out;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(r["ok"], json!({"index": 42, "fps": 10}));
    assert_eq!(r["flips"], json!(24), "every flipped cell is caught");
    assert!(r["noise"].as_u64().unwrap() >= 1990, "{r}");
    assert_eq!(
        (r["flat"].clone(), r["narrow"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(r["same"], json!([99, 1]));
    // Scoring half the rows (8-row bands every 16 rows) estimates the whole frame's score.
    let h: Vec<f64> = serde_json::from_value(r["half"].clone()).unwrap();
    assert!(
        h[0] < 40.0 && (h[0] - h[1]).abs() < 1.0 && (h[2] - h[3]).abs() < 0.02,
        "{h:?}"
    );
    c.close().await.unwrap();
    driver.stop().await;
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(2166136261u32, |h, &b| (h ^ b as u32).wrapping_mul(16777619))
}
