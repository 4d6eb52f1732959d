//! What a valid scenario may still get wrong without failing: overrides the target will ignore.

use super::{JitsiPage, Scenario, TargetKind};

/// `config.*` keys the full app ignores from the URL unless the deployment whitelists them.
const NOT_WHITELISTED: &[&str] = &["debug", "callStatsID", "p2p.useStunTurn", "deploymentInfo"];

/// Warnings about a loaded scenario (they never stop a run).
pub fn warnings(s: &Scenario) -> Vec<String> {
    let opts = &s.target.jitsi;
    if s.target.kind != TargetKind::Jitsi || opts.page != JitsiPage::App {
        return Vec::new();
    }
    let mut out = Vec::new();
    for k in opts.config.keys() {
        if NOT_WHITELISTED
            .iter()
            .any(|w| k == w || k.starts_with(&format!("{w}.")))
        {
            out.push(format!(
                "target.jitsi.config.{k}: the full app ignores this URL override unless the deployment adds it to extraConfigWhitelist"
            ));
        }
    }
    if !opts.regions.is_empty() {
        out.push("target.jitsi.regions: config.deploymentInfo is not URL-whitelisted in the full app; it works on the load-test page".into());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn whitelist_warnings() {
        let src = "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[target.jitsi.config]\n\"deploymentInfo.userRegion\" = \"eu\"\n[load]\nconferences = 1\nparticipants_per_conference = 2\nduration = \"10s\"\n";
        let s = super::super::parse(src, std::path::Path::new("w.toml"), &[]).unwrap();
        assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    }
}
