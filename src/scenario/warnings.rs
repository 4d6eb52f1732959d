//! What a valid scenario may still get wrong without failing: overrides the target will ignore.

use super::{JitsiPage, Scenario, TargetKind};

/// The full app's URL whitelist (jitsi-meet `configWhitelist.ts`, see the file's header).
const WHITELIST: &str = include_str!("../../assets/jitsi/config-whitelist.txt");

/// Whether the full app takes `config.<key>` from the URL: some whitelist entry is the key or one of
/// its dotted prefixes (an entry allows everything under it).
pub fn whitelisted(key: &str) -> bool {
    WHITELIST
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|e| !e.is_empty())
        .any(|e| key == e || key.strip_prefix(e).is_some_and(|r| r.starts_with('.')))
}

/// Warnings about a loaded scenario (they never stop a run).
pub fn warnings(s: &Scenario) -> Vec<String> {
    let opts = &s.target.jitsi;
    if s.target.kind != TargetKind::Jitsi || opts.page != JitsiPage::App {
        return Vec::new();
    }
    let mut out = Vec::new();
    for k in opts.config.keys().filter(|k| !whitelisted(k)) {
        out.push(format!(
            "target.jitsi.config.{k}: the full app ignores this URL override unless the deployment adds it to extraConfigWhitelist"
        ));
    }
    if !opts.regions.is_empty() && !whitelisted("deploymentInfo.userRegion") {
        out.push("target.jitsi.regions: config.deploymentInfo is not URL-whitelisted in the full app; it works on the load-test page".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::whitelisted;

    /// The app's rule: an entry allows itself and everything under it. Failed before on `debug` and
    /// `p2p.useStunTurn`, which the old fixed list called not whitelisted.
    #[test]
    fn whitelist_follows_the_apps_rule() {
        for yes in [
            "debug",
            "p2p.useStunTurn",
            "p2p.enabled",
            "testing.testMode",
            "analytics.disabled",
            "disableTileView",
        ] {
            assert!(whitelisted(yes), "{yes}");
        }
        for no in [
            "deploymentInfo.userRegion",
            "analytics.rtcstatsEndpoint",
            "p2pX",
            "debugX",
            "analytics",
        ] {
            assert!(!whitelisted(no), "{no}");
        }
    }

    #[test]
    fn whitelist_warnings() {
        let src = "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[target.jitsi.config]\n\"deploymentInfo.userRegion\" = \"eu\"\ndebug = true\n\"p2p.useStunTurn\" = true\n[load]\nconferences = 1\nparticipants_per_conference = 2\nduration = \"10s\"\n";
        let s = super::super::parse(src, std::path::Path::new("w.toml"), &[]).unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("deploymentInfo.userRegion"));
    }
}
