//! Infrastructure that is missing or unreachable: exit code 3, a clear message, the results directory
//! says so, and no participant starts.

mod common;

use common::*;

#[test]
fn unreachable_grid_and_target_exit_3() {
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
        assert_eq!(r.info.outcome, "error");
        assert!(r.info.exit_reason.contains("unreachable"));
        assert!(
            r.participants.is_empty() && r.stats.is_empty(),
            "nothing started"
        );
    }
}
