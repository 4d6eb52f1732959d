//! A cohort behind an emulated link, driven through the library with real Chromium and a real Janus
//! (the isolated sandbox): a panic with the namespaced browser and Janus running leaves nothing
//! behind. What a run shows with cohorts (shaping, black-holes, Grid placement, clean ends, errors
//! and Ctrl-C) is tested end to end through the binary in tests/network_run.rs.

mod netlab;

use std::path::Path;
use std::sync::{Arc, Mutex};

use loadtest::network::Profile;
use loadtest::sandbox::Sandbox;
use loadtest::webdriver::chromedriver::ChromeDriver;
use netlab::browser::*;
use netlab::*;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The isolated sandbox with one cohort behind `p`, the page relayed into the cohort's namespace and
/// a browser wrapper for it.
struct Shaped {
    sb: Sandbox,
    cohort: loadtest::network::Cohort,
    page: u16,
    wrapper: std::path::PathBuf,
    _relay: loadtest::network::netns::Relay,
}

async fn shaped(dir: &Path, p: Profile) -> Shaped {
    let sb = isolated(dir).await;
    let cohort = sb
        .network
        .as_ref()
        .unwrap()
        .star
        .add_cohort("c0", p)
        .unwrap();
    let page = serve_page();
    let relay = cohort.ns.forward_out(page).unwrap();
    let wrapper = cohort.ns.browser_wrapper(Path::new(CHROMIUM), dir).unwrap();
    Shaped {
        sb,
        cohort,
        page,
        wrapper,
        _relay: relay,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_with_janus_and_a_namespaced_browser_running_leaves_nothing() {
    let before = snapshot();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let seen: Arc<Mutex<Vec<i32>>> = Arc::default();
    let seen2 = seen.clone();
    let body = tokio::spawn(async move {
        let lab = shaped(&dir, Profile::builtin("3g").unwrap()).await;
        let (sb, page, wrapper, cohort) = (&lab.sb, lab.page, &lab.wrapper, &lab.cohort);
        let driver = ChromeDriver::start(Path::new(CHROMEDRIVER)).await.unwrap();
        let c = session(
            driver.url().as_str(),
            caps(&camera(&dir), Browser::Wrapped(wrapper), json!({})),
        )
        .await;
        join(&c, &page_url(page, &sb.janus_url, "net3", "c", true), 0).await;
        let mut pids = loadtest::network::cmd::netns_pids(cohort.ns.name());
        let inside = pids.len();
        assert!(inside > 0, "the browser runs inside the cohort's namespace");
        pids.extend(loadtest::network::cmd::netns_pids(
            sb.network.as_ref().unwrap().server.ns.name(),
        ));
        *seen2.lock().unwrap() = pids;
        panic!("the test body fails with {inside} browser processes and Janus running");
    });
    assert!(body.await.unwrap_err().is_panic());
    assert_eq!(snapshot(), before, "nothing left after a panic");
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() > 1, "browser and Janus processes were seen");
    // Killed processes may linger as zombies until init reaps them; none may still run.
    let alive: Vec<(i32, String)> = seen
        .into_iter()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            (state != 'Z').then_some((p, stat))
        })
        .collect();
    assert!(alive.is_empty(), "processes left running: {alive:?}");
}
