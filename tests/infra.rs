//! Infrastructure that is missing or unreachable: exit code 3, a clear message, the results directory
//! says so, and no participant starts.

mod common;

use common::*;

#[test]
fn unreachable_grid_and_target_exit_3() {
    require(&[Needs::Chromium]);
    let tmp = tempfile::tempdir().unwrap();
    let dead = free_port();
    for (name, set, says) in [
        (
            "grid",
            format!("webdriver.url=http://127.0.0.1:{dead}/wd/hub"),
            "Selenium Grid at http://127.0.0.1",
        ),
        (
            "target",
            format!("target.url=http://127.0.0.1:{dead}/janus"),
            "janus target http://127.0.0.1",
        ),
    ] {
        let out = tmp.path().join(name);
        let o = loadtest(&[
            "run",
            "-s",
            "scenarios/local-janus.toml",
            "--set",
            &set,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(3), "{name}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(says) && err.contains("unreachable"),
            "{name}: {err}"
        );
        let r = read_results(&out);
        assert_eq!(r.info.outcome, loadtest::results::RunOutcome::Error);
        assert!(r.info.exit_reason.contains("unreachable"));
        assert!(
            r.participants.is_empty() && r.stats.is_empty(),
            "nothing started"
        );
    }
}

/// A dropped driver (the tool crashed or panicked with sessions open) takes its browsers with it.
#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_driver_leaves_no_browser_behind() {
    require(&[Needs::Chromium]);
    use loadtest::webdriver::{capabilities, chromedriver::ChromeDriver};
    let in_group = |pgid: u32| {
        let out = std::process::Command::new("pgrep")
            .args(["-g", &pgid.to_string(), "chromium"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let driver = ChromeDriver::start(std::path::Path::new("/usr/bin/chromedriver"))
        .await
        .unwrap();
    let pgid = driver.pid().unwrap();
    let caps = capabilities::chrome(&Default::default(), true, true, None, None);
    let mut b = fantoccini::ClientBuilder::native();
    b.capabilities(caps);
    let client = b.connect(driver.url().as_str()).await.unwrap();
    client.goto("about:blank").await.unwrap();
    assert!(
        in_group(pgid) > 0,
        "the browser runs in the driver's process group"
    );
    // No session close, no stop: as after a panic.
    drop(driver);
    assert!(
        common::wait_until(std::time::Duration::from_secs(5), || in_group(pgid) == 0),
        "browsers left running after the driver was dropped"
    );
    drop(client);
}
