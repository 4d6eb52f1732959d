//! `[[cohort]]` (participants behind a network profile) and `[[disruption]]` (something broken at a
//! time, for a duration). docs/scenario.md is the user-facing copy; docs/network.md explains how a
//! cohort's browsers are put behind their profile.

use serde::{Deserialize, Serialize};

use super::Dur;
use super::profile::{BUILTIN, BadValue, Profile, ProfileSpec};

/// The name that stands for "in no cohort" (a Grid's unshaped nodes carry it); no cohort may take it.
pub const NO_COHORT: &str = "none";

/// `[[cohort]]`: a share or a count of each conference's participants whose browsers sit behind an
/// emulated network link with `profile` (both directions).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// Name: letters, digits, `-`, `_` (in `participants.csv cohort`, the report and
    /// `[thresholds.cohort.<name>]`).
    pub name: String,
    /// Share of each conference's participants (0..1), rounded to whole participants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// Participants of each conference (instead of `share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// A built-in profile's name (`"3g"`) or a table of values (`{ base = "4g", loss = "5%" }`).
    pub profile: ProfileRef,
    /// Changes of the profile during the run (`[[cohort.change]]`), timed from the run's start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub change: Vec<ProfileChange>,
}

impl Cohort {
    /// Its participants in a conference of `per`: `count`, or `share × per` rounded to the nearest
    /// whole participant.
    pub fn members(&self, per: u32) -> u32 {
        match (self.count, self.share) {
            (Some(n), _) => n,
            (None, Some(s)) => (s * f64::from(per)).round().clamp(0.0, f64::from(per)) as u32,
            (None, None) => 0,
        }
    }
}

/// A profile as a scenario names it: a built-in by name, or custom values.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ProfileRef {
    /// A built-in profile (docs/network.md lists their values).
    Builtin(String),
    /// Custom values over a built-in `base` (default `clean`).
    Custom(ProfileSpec),
}

impl<'de> Deserialize<'de> for ProfileRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ProfileRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "a built-in profile ({}) or a table such as {{ base = \"4g\", loss = \"5%\" }}",
                    BUILTIN.join(", ")
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ProfileRef, E> {
                Ok(ProfileRef::Builtin(v.to_string()))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, m: M) -> Result<ProfileRef, M::Error> {
                ProfileSpec::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(ProfileRef::Custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl ProfileRef {
    /// The profile; a custom one is named after `owner` (the cohort).
    pub fn resolve(&self, owner: &str) -> Result<Profile, BadValue> {
        match self {
            ProfileRef::Builtin(name) => Profile::builtin(name).ok_or_else(|| BadValue {
                field: String::new(),
                value: name.clone(),
                expected: format!(
                    "a built-in profile ({}) or a table of values",
                    BUILTIN.join(", ")
                ),
            }),
            ProfileRef::Custom(spec) => spec.resolve().map(|mut p| {
                p.name = format!("{owner} ({})", p.name);
                p
            }),
        }
    }
}

/// `[[cohort.change]]`: the cohort's profile from `at` on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileChange {
    /// When, from the run's start.
    pub at: Dur,
    /// The profile from then on.
    pub profile: ProfileRef,
}

/// What a disruption breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisruptionKind {
    /// Kill `count` participants' browsers (of `cohort`, if named).
    KillBrowsers,
    /// Stop a Selenium Grid node: its sessions end and it takes no new ones.
    StopGridNode,
    /// Drop every packet of the bridge's media (the isolated sandbox's server link), or of a
    /// cohort's emulated link, for `duration`.
    BlackHole,
    /// Kill the media server process (the sandbox's Janus).
    KillMediaServer,
}

impl DisruptionKind {
    /// The name used in the scenario, the events and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            DisruptionKind::KillBrowsers => "kill_browsers",
            DisruptionKind::StopGridNode => "stop_grid_node",
            DisruptionKind::BlackHole => "black_hole",
            DisruptionKind::KillMediaServer => "kill_media_server",
        }
    }
}

/// `[[disruption]]`: something broken at `at`, for `duration`. With `command` the tool runs that hook
/// instead of its own mechanism (e.g. a script that black-holes a JVB pod on Kubernetes).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Disruption {
    /// What breaks.
    pub kind: DisruptionKind,
    /// When, from the run's start.
    pub at: Dur,
    /// How long it lasts (required for `black_hole`); recovery is measured from its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Dur>,
    /// `kill_browsers`: how many browsers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// `kill_browsers`: only this cohort's; `black_hole`: this cohort's emulated link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cohort: Option<String>,
    /// `stop_grid_node`: the node's URI as the Grid lists it (default: the node with most of the
    /// run's sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A hook run at `at` instead of the built-in mechanism: program and arguments (no shell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A hook run at `at + duration` (e.g. to undo what `command` did).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_command: Option<Vec<String>>,
    /// Bound on each hook; a hook still running then is killed.
    #[serde(default = "default_hook_timeout")]
    pub timeout: Dur,
}

fn default_hook_timeout() -> Dur {
    Dur::from_secs(30)
}

impl Disruption {
    /// When it ends, from the run's start (`at` for an instantaneous one).
    pub fn end(&self) -> std::time::Duration {
        self.at.get() + self.duration.map_or(std::time::Duration::ZERO, Dur::get)
    }

    /// True when a user hook replaces the built-in mechanism.
    pub fn hooked(&self) -> bool {
        self.command.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_a_builtin_name_or_a_table() {
        #[derive(Deserialize)]
        struct T {
            profile: ProfileRef,
        }
        let t: T = toml::from_str("profile = \"3g\"").unwrap();
        assert_eq!(t.profile.resolve("m").unwrap().name, "3g");
        let t: T = toml::from_str("profile = { delay = \"100ms\", loss = \"5%\" }").unwrap();
        let p = t.profile.resolve("shaped").unwrap();
        assert_eq!(p.delay, std::time::Duration::from_millis(100));
        assert_eq!(p.name, "shaped (clean+custom)");
        let e = toml::from_str::<T>("profile = { lag = \"1s\" }")
            .err()
            .unwrap();
        assert!(e.to_string().contains("unknown field `lag`"), "{e}");
        let e = toml::from_str::<T>("profile = 3").err().unwrap();
        assert!(
            e.to_string().contains("a built-in profile (clean, 3g"),
            "{e}"
        );
        let t: T = toml::from_str("profile = \"6g\"").unwrap();
        let e = t.profile.resolve("m").unwrap_err();
        assert!(e.expected.contains("lossy-wifi"), "{e}");
    }

    #[test]
    fn a_disruption_ends_after_its_duration() {
        let d: Disruption =
            toml::from_str("kind = \"black_hole\"\nat = \"60s\"\nduration = \"10s\"").unwrap();
        assert_eq!(d.end(), std::time::Duration::from_secs(70));
        assert_eq!(d.timeout, Dur::from_secs(30));
        assert!(!d.hooked());
        assert!(toml::from_str::<Disruption>("kind = \"unplug\"\nat = \"1s\"").is_err());
    }
}
