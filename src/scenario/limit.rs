//! `[limit]`: how `loadtest limit` grows the load in steps on one running test.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Dur;

/// What a step grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grow {
    /// More conferences of `[load] participants_per_conference` each.
    Conferences,
    /// More participants in each of `[load] conferences`.
    ParticipantsPerConference,
}

impl Grow {
    /// The name used in the scenario and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Grow::Conferences => "conferences",
            Grow::ParticipantsPerConference => "participants_per_conference",
        }
    }
}

/// How much a step adds: a number (`2`) or a factor (`"x1.5"`, rounded up, at least one more).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Increment {
    /// Add this many.
    Add(u32),
    /// Multiply by this (> 1).
    Factor(f64),
}

impl Increment {
    /// The next load after `load`.
    pub fn next(self, load: u32) -> u32 {
        match self {
            Increment::Add(n) => load.saturating_add(n),
            Increment::Factor(f) => {
                let grown = (f64::from(load) * f).ceil();
                (grown.min(f64::from(u32::MAX)) as u32).max(load.saturating_add(1))
            }
        }
    }
}

impl fmt::Display for Increment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Increment::Add(n) => write!(f, "+{n}"),
            Increment::Factor(x) => write!(f, "x{x}"),
        }
    }
}

impl Serialize for Increment {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Increment::Add(n) => s.serialize_u32(*n),
            Increment::Factor(x) => s.collect_str(&format_args!("x{x}")),
        }
    }
}

impl<'de> Deserialize<'de> for Increment {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Add(u32),
            Text(String),
        }
        let bad = || {
            serde::de::Error::custom(
                "expected a whole number to add (e.g. 2) or a factor (e.g. \"x1.5\")",
            )
        };
        match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Add(n) => Ok(Increment::Add(n)),
            Raw::Text(t) => t
                .trim()
                .strip_prefix(['x', '*'])
                .and_then(|f| f.trim().parse::<f64>().ok())
                .map(Increment::Factor)
                .ok_or_else(bad),
        }
    }
}

/// `[limit]`
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// What grows: `conferences` or `participants_per_conference`.
    pub grow: Grow,
    /// The first step's value of what grows.
    #[serde(default = "one")]
    pub start: u32,
    /// How much each step adds.
    #[serde(default = "add_one")]
    pub step: Increment,
    /// The largest value tried.
    pub max: u32,
    /// How long each step holds after its last joiner has media (its evaluation window).
    #[serde(default = "default_hold")]
    pub hold: Dur,
    /// Confirm a failing step over a second window before stopping.
    #[serde(default = "yes")]
    pub confirm: bool,
    /// Once a step fails, bisect between the last good and the first bad load down to this
    /// resolution (0: no bisection).
    #[serde(default)]
    pub resolution: u32,
    /// A step also fails when its received video bitrate p50 falls below this share of the first
    /// step's (0..1): a server or link short of bandwidth lowers bitrate before it drops frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_recv_bitrate_ratio: Option<f64>,
}

fn one() -> u32 {
    1
}
fn add_one() -> Increment {
    Increment::Add(1)
}
fn default_hold() -> Dur {
    Dur::from_secs(30)
}
fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_add_or_multiply_and_always_grow() {
        assert_eq!(Increment::Add(2).next(3), 5);
        assert_eq!(Increment::Factor(1.5).next(4), 6);
        assert_eq!(Increment::Factor(1.1).next(2), 3, "at least one more");
        #[derive(Deserialize)]
        struct T {
            step: Increment,
        }
        let t: T = toml::from_str("step = \"x1.5\"").unwrap();
        assert_eq!(t.step, Increment::Factor(1.5));
        let t: T = toml::from_str("step = 4").unwrap();
        assert_eq!(t.step, Increment::Add(4));
        let e = toml::from_str::<T>("step = \"double\"").err().unwrap();
        assert!(
            e.to_string().contains("expected a whole number to add"),
            "{e}"
        );
    }
}
