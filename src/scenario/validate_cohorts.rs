//! Semantic checks of `[[cohort]]`, `[thresholds.cohort.<name>]` and `[[disruption]]`.

use super::error::Invalid;
use super::profile::BadValue;
use super::validate::{fps, ratio};
use super::{DisruptionKind, ProfileRef, Scenario};

/// The most cohorts one run may have (each is a namespace with an emulated link).
pub const MAX_COHORTS: usize = 16;

/// `[[cohort]]`: named, sized to fit each conference, with profiles that resolve.
pub(super) fn cohorts(s: &Scenario) -> Result<(), Invalid> {
    if s.cohort.len() > MAX_COHORTS {
        return Err(Invalid::new(
            format!("cohort.{MAX_COHORTS}"),
            format!(
                "{} cohorts (expected at most {MAX_COHORTS})",
                s.cohort.len()
            ),
        ));
    }
    let per = s.load.participants_per_conference;
    let mut taken = 0u32;
    for (i, c) in s.cohort.iter().enumerate() {
        let key = |k: &str| format!("cohort.{i}.{k}");
        if c.name.is_empty()
            || c.name.len() > 32
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        {
            return Err(Invalid::new(
                key("name"),
                format!(
                    "{:?} is not a cohort name (expected 1 to 32 letters, digits, '-' or '_')",
                    c.name
                ),
            ));
        }
        if c.name == super::NO_COHORT {
            return Err(Invalid::new(
                key("name"),
                format!(
                    "{:?} stands for participants in no cohort; choose another name",
                    c.name
                ),
            ));
        }
        if s.cohort[..i].iter().any(|o| o.name == c.name) {
            return Err(Invalid::new(
                key("name"),
                format!("{:?} names another [[cohort]] too", c.name),
            ));
        }
        let members = match (c.share, c.count) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(Invalid::new(
                    key("share"),
                    "give either share (of each conference's participants, 0..1) or count (per conference)",
                ));
            }
            (Some(sh), None) if !(sh > 0.0 && sh <= 1.0) => {
                return Err(Invalid::new(
                    key("share"),
                    format!("{sh} is out of range (expected a share above 0, at most 1)"),
                ));
            }
            _ => c.members(per),
        };
        if members == 0 {
            return Err(Invalid::new(
                key(if c.count.is_some() { "count" } else { "share" }),
                format!("gives no participant of a conference of {per} (expected at least one)"),
            ));
        }
        taken += members;
        if taken > per {
            return Err(Invalid::new(
                key(if c.count.is_some() { "count" } else { "share" }),
                format!(
                    "the cohorts so far take {taken} participants of each conference, but a conference has {per} (expected at most participants_per_conference in all)"
                ),
            ));
        }
        profile(&c.profile, &c.name, &key("profile"))?;
        for (j, ch) in c.change.iter().enumerate() {
            profile(&ch.profile, &c.name, &key(&format!("change.{j}.profile")))?;
            if s.webdriver.url.is_some() {
                return Err(Invalid::new(
                    key(&format!("change.{j}")),
                    "profile changes need the local driver: on a Grid, the network node's profile is set when the node starts",
                ));
            }
        }
    }
    for (name, t) in &s.thresholds.cohort {
        let key = |k: &str| format!("thresholds.cohort.{name}.{k}");
        if !s.cohort.iter().any(|c| &c.name == name) {
            return Err(Invalid::new(
                format!("thresholds.cohort.{name}"),
                format!(
                    "no [[cohort]] is named {name:?} (expected one of: {})",
                    s.cohort
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(k) = t.not_per_cohort().first() {
            return Err(Invalid::new(
                key(k),
                format!(
                    "{k} has no per-cohort figure (expected min_join_ratio, max_join_time_p95, min_recv_fps_p50, min_recv_fps_p5, max_loss_p95 or max_rtt_p95)"
                ),
            ));
        }
        ratio(&key("min_join_ratio"), t.min_join_ratio)?;
        ratio(&key("max_loss_p95"), t.max_loss_p95)?;
        fps(&key("min_recv_fps_p50"), t.min_recv_fps_p50)?;
        fps(&key("min_recv_fps_p5"), t.min_recv_fps_p5)?;
    }
    Ok(())
}

/// A profile that resolves; a bad custom value is placed on its own key.
fn profile(p: &ProfileRef, owner: &str, key: &str) -> Result<(), Invalid> {
    p.resolve(owner).map(|_| ()).map_err(|e: BadValue| {
        let key = if e.field.is_empty() {
            key.to_string()
        } else {
            format!("{key}.{}", e.field)
        };
        let value = e.value;
        Invalid::new(
            key,
            format!("{value:?} is not valid: expected {}", e.expected),
        )
    })
}

/// `[[disruption]]`: each kind has what it needs, and names what exists.
pub(super) fn disruptions(s: &Scenario) -> Result<(), Invalid> {
    for (i, d) in s.disruption.iter().enumerate() {
        let key = |k: &str| format!("disruption.{i}.{k}");
        let not_for = |k: &str, given: bool| {
            if given {
                Err(Invalid::new(
                    key(k),
                    format!("{k} does not apply to kind {}", d.kind.as_str()),
                ))
            } else {
                Ok(())
            }
        };
        if let Some(c) = &d.cohort
            && !s.cohort.iter().any(|x| &x.name == c)
        {
            return Err(Invalid::new(
                key("cohort"),
                format!("no [[cohort]] is named {c:?}"),
            ));
        }
        if d.duration.is_some_and(|x| x.get().is_zero()) {
            return Err(Invalid::new(key("duration"), "must be longer than zero"));
        }
        for (k, c) in [("command", &d.command), ("end_command", &d.end_command)] {
            if c.as_ref()
                .is_some_and(|c| c.first().is_none_or(|p| p.is_empty()))
            {
                return Err(Invalid::new(
                    key(k),
                    "is empty (expected a program and its arguments, e.g. [\"./bridge-disruption.sh\", \"jvb-0\"])",
                ));
            }
        }
        if d.end_command.is_some() && d.duration.is_none() {
            return Err(Invalid::new(
                key("end_command"),
                "runs at at + duration: give a duration",
            ));
        }
        if d.timeout.get().is_zero() {
            return Err(Invalid::new(key("timeout"), "must be longer than zero"));
        }
        match d.kind {
            DisruptionKind::KillBrowsers => {
                not_for("node", d.node.is_some())?;
                let pool =
                    d.cohort
                        .as_ref()
                        .map_or(u64::from(s.load.participants_per_conference), |c| {
                            let c = s.cohort.iter().find(|x| &x.name == c);
                            c.map_or(0, |c| {
                                u64::from(c.members(s.load.participants_per_conference))
                            })
                        })
                        * u64::from(s.load.conferences);
                match d.count {
                    None | Some(0) if !d.hooked() => {
                        return Err(Invalid::new(
                            key("count"),
                            "give how many browsers to kill (at least 1)",
                        ));
                    }
                    Some(n) if u64::from(n) > pool => {
                        return Err(Invalid::new(
                            key("count"),
                            format!("{n} browsers, but only {pool} participants can be chosen"),
                        ));
                    }
                    _ => {}
                }
            }
            DisruptionKind::StopGridNode => {
                not_for("count", d.count.is_some())?;
                not_for("cohort", d.cohort.is_some())?;
                if s.webdriver.url.is_none() && !d.hooked() {
                    return Err(Invalid::new(
                        key("kind"),
                        "stop_grid_node needs a Grid (webdriver.url) or a command hook",
                    ));
                }
            }
            DisruptionKind::BlackHole => {
                not_for("count", d.count.is_some())?;
                not_for("node", d.node.is_some())?;
                if d.duration.is_none() {
                    return Err(Invalid::new(
                        key("duration"),
                        "a black-hole needs a duration (expected e.g. \"10s\")",
                    ));
                }
            }
            DisruptionKind::KillMediaServer => {
                not_for("count", d.count.is_some())?;
                not_for("node", d.node.is_some())?;
                not_for("cohort", d.cohort.is_some())?;
            }
        }
    }
    Ok(())
}
