//! Network profiles: rate per direction, one-way delay and jitter, loss (random or in bursts) and the
//! bottleneck's queue; built-in ones with documented values, custom ones from a scenario, and
//! schedules of changes. Pure values: the scenario validates them, the network lab's emulator
//! ([`crate::network::emulator`]) applies them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A profile value that does not parse or is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value:?} is not valid: expected {expected}")]
pub struct BadValue {
    /// The field, e.g. `loss`.
    pub field: String,
    /// What was given.
    pub value: String,
    /// What is expected.
    pub expected: String,
}

impl BadValue {
    fn new(
        field: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        BadValue {
            field: field.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

/// Result of profile parsing and checks.
pub type Result<T> = std::result::Result<T, BadValue>;

/// A link rate in bits per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Rate(u64);

impl Rate {
    /// From bits per second (at least 1).
    pub const fn from_bits_per_sec(bits: u64) -> Rate {
        Rate(if bits == 0 { 1 } else { bits })
    }

    /// Bits per second.
    pub fn bits_per_sec(self) -> u64 {
        self.0
    }

    /// Time to send `bytes` at this rate.
    pub fn tx_time(self, bytes: usize) -> Duration {
        Duration::from_nanos((bytes as u64 * 8).saturating_mul(1_000_000_000) / self.0)
    }
}

impl FromStr for Rate {
    type Err = BadValue;
    /// `4mbit`, `768kbit`, `1.6mbit`, `500kbps`, `1gbit`: always bits per second (`kbps` is kilobits
    /// here, unlike tc's kilobytes).
    fn from_str(s: &str) -> Result<Rate> {
        let t = s.trim().to_ascii_lowercase();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let mult = match unit.trim() {
            "bit" | "bps" => 1.0,
            "kbit" | "kbps" => 1e3,
            "mbit" | "mbps" => 1e6,
            "gbit" | "gbps" => 1e9,
            _ => f64::NAN,
        };
        let bits = num.parse::<f64>().map(|n| n * mult).unwrap_or(f64::NAN);
        if !(1.0..=100e9).contains(&bits) {
            return Err(BadValue::new(
                "rate",
                s,
                "bits per second with a unit, e.g. 768kbit, 4mbit, 1.6mbps (1 bit to 100 gbit)",
            ));
        }
        Ok(Rate(bits.round() as u64))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0 as f64;
        if b >= 1e9 {
            write!(f, "{}gbit", b / 1e9)
        } else if b >= 1e6 {
            write!(f, "{}mbit", b / 1e6)
        } else if b >= 1e3 {
            write!(f, "{}kbit", b / 1e3)
        } else {
            write!(f, "{}bit", self.0)
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Rate, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What a link does to packets, applied in both directions. `up` is traffic leaving the cohort's
/// namespace, `down` traffic entering it.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Name (a built-in's, or `custom`).
    pub name: String,
    /// Rate out of the namespace (`None`: not limited).
    pub up: Option<Rate>,
    /// Rate into the namespace (`None`: not limited).
    pub down: Option<Rate>,
    /// One-way delay, added in each direction (the round trip grows by twice this).
    pub delay: Duration,
    /// Each packet's delay varies uniformly by ± this (order is kept: a FIFO link does not reorder).
    pub jitter: Duration,
    /// Share of packets lost in each direction, 0–1.
    pub loss: f64,
    /// Mean length of a loss burst in packets (1: independent losses; more: Gilbert–Elliott bursts).
    pub loss_burst: f64,
    /// Drop-tail queue at the rate limit, as time at that rate.
    pub queue: Duration,
}

/// Default bottleneck queue: 200 ms at the link's rate.
pub const DEFAULT_QUEUE: Duration = Duration::from_millis(200);

/// Names of the built-in profiles.
pub const BUILTIN: [&str; 6] = ["clean", "3g", "4g", "lte", "lossy-wifi", "edge"];

fn kbit(k: u64) -> Option<Rate> {
    Some(Rate(k * 1000))
}

impl Profile {
    /// No shaping at all.
    pub fn clean() -> Profile {
        Profile {
            name: "clean".into(),
            up: None,
            down: None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            loss_burst: 1.0,
            queue: DEFAULT_QUEUE,
        }
    }

    /// A built-in profile by name (values and sources in docs/network.md).
    pub fn builtin(name: &str) -> Option<Profile> {
        let ms = Duration::from_millis;
        let p = |up, down, delay, jitter, loss, burst| Profile {
            name: name.to_string(),
            up,
            down,
            delay: ms(delay),
            jitter: ms(jitter),
            loss,
            loss_burst: burst,
            queue: DEFAULT_QUEUE,
        };
        Some(match name {
            "clean" => Profile::clean(),
            // WebPageTest "3G": 1.6 Mbit/s down, 768 kbit/s up, 300 ms RTT.
            "3g" => p(kbit(768), kbit(1600), 150, 0, 0.0, 1.0),
            // WebPageTest "4G": 9 Mbit/s both ways, 170 ms RTT.
            "4g" => p(kbit(9000), kbit(9000), 85, 0, 0.0, 1.0),
            // WebPageTest "LTE": 12 Mbit/s both ways, 70 ms RTT.
            "lte" => p(kbit(12000), kbit(12000), 35, 0, 0.0, 1.0),
            // WebPageTest "Mobile Edge": 240 kbit/s down, 200 kbit/s up, 840 ms RTT.
            "edge" => p(kbit(200), kbit(240), 420, 0, 0.0, 1.0),
            // Firefox DevTools "Wi-Fi" (30/15 Mbit/s, 2 ms) with Loadero's "5% packetloss", in bursts of
            // 2 packets, and 10 ms of jitter (our choice, see docs/network.md).
            "lossy-wifi" => p(kbit(15000), kbit(30000), 2, 10, 0.05, 2.0),
            _ => return None,
        })
    }

    /// The profile in words: `3g: down 1.6mbit, up 768kbit, delay 150ms each way`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (self.down, self.up) {
            (Some(d), Some(u)) if d == u => parts.push(format!("rate {d}")),
            (d, u) => {
                parts.extend(d.map(|d| format!("down {d}")));
                parts.extend(u.map(|u| format!("up {u}")));
            }
        }
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        if !self.delay.is_zero() {
            parts.push(format!("delay {} each way", ms(self.delay)));
        }
        if !self.jitter.is_zero() {
            parts.push(format!("jitter ±{}", ms(self.jitter)));
        }
        if self.loss > 0.0 {
            let burst = if self.loss_burst > 1.0 {
                format!(" in bursts of {}", self.loss_burst)
            } else {
                String::new()
            };
            parts.push(format!("loss {}%{burst}", self.loss * 100.0));
        }
        if parts.is_empty() {
            parts.push("no shaping".into());
        }
        format!("{}: {}", self.name, parts.join(", "))
    }

    /// Check the values are in range.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(BadValue::new(
                "loss",
                self.loss.to_string(),
                "a share from 0 to 1 (or \"5%\")",
            ));
        }
        if !(1.0..=1000.0).contains(&self.loss_burst) {
            return Err(BadValue::new(
                "loss_burst",
                self.loss_burst.to_string(),
                "a mean burst length from 1 to 1000 packets",
            ));
        }
        for (field, d) in [
            ("delay", self.delay),
            ("jitter", self.jitter),
            ("queue", self.queue),
        ] {
            if d > Duration::from_secs(30) {
                return Err(BadValue::new(field, format!("{d:?}"), "at most 30 s"));
            }
        }
        Ok(())
    }
}

/// A loss written as a share (`0.05`) or a percentage (`"5%"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum LossValue {
    /// A share from 0 to 1.
    Share(f64),
    /// `"5%"` or `"0.05"`.
    Text(String),
}

impl LossValue {
    fn share(&self) -> Result<f64> {
        let bad = |v: String| BadValue::new("loss", v, "a share from 0 to 1, or \"5%\"");
        let v = match self {
            LossValue::Share(v) => *v,
            LossValue::Text(t) => match t.trim().strip_suffix('%') {
                Some(p) => p.trim().parse::<f64>().map_err(|_| bad(t.clone()))? / 100.0,
                None => t.trim().parse::<f64>().map_err(|_| bad(t.clone()))?,
            },
        };
        if (0.0..=1.0).contains(&v) {
            Ok(v)
        } else {
            Err(bad(format!("{self:?}")))
        }
    }
}

/// A profile as written in a scenario: a built-in `base` (default `clean`) with any field overridden.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileSpec {
    /// Built-in profile to start from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Both directions' rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<String>,
    /// Rate out of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub up: Option<String>,
    /// Rate into the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down: Option<String>,
    /// One-way delay, e.g. `100ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<String>,
    /// Jitter, e.g. `20ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
    /// Loss, `0.05` or `"5%"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossValue>,
    /// Mean loss burst length in packets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_burst: Option<f64>,
    /// Bottleneck queue as time at the rate, e.g. `200ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
}

fn duration(field: &str, v: &str) -> Result<Duration> {
    humantime::parse_duration(v.trim())
        .map_err(|_| BadValue::new(field, v, "a duration such as 100ms or 1s"))
}

impl ProfileSpec {
    /// The profile, or the first field that is wrong.
    pub fn resolve(&self) -> Result<Profile> {
        let base = self.base.as_deref().unwrap_or("clean");
        let mut p = Profile::builtin(base)
            .ok_or_else(|| BadValue::new("base", base, format!("one of {}", BUILTIN.join(", "))))?;
        let custom = self.rate.is_some()
            || self.up.is_some()
            || self.down.is_some()
            || self.delay.is_some()
            || self.jitter.is_some()
            || self.loss.is_some()
            || self.loss_burst.is_some()
            || self.queue.is_some();
        if custom {
            p.name = format!("{base}+custom");
        }
        let rate = |field: &str, v: &Option<String>| -> Result<Option<Option<Rate>>> {
            match v.as_deref() {
                None => Ok(None),
                Some("unlimited") => Ok(Some(None)),
                Some(t) => t
                    .parse::<Rate>()
                    .map(|r| Some(Some(r)))
                    .map_err(|_| BadValue::new(field, t, "a rate like 4mbit, or unlimited")),
            }
        };
        if let Some(r) = rate("rate", &self.rate)? {
            (p.up, p.down) = (r, r);
        }
        if let Some(r) = rate("up", &self.up)? {
            p.up = r;
        }
        if let Some(r) = rate("down", &self.down)? {
            p.down = r;
        }
        if let Some(d) = &self.delay {
            p.delay = duration("delay", d)?;
        }
        if let Some(d) = &self.jitter {
            p.jitter = duration("jitter", d)?;
        }
        if let Some(d) = &self.queue {
            p.queue = duration("queue", d)?;
        }
        if let Some(l) = &self.loss {
            p.loss = l.share()?;
        }
        if let Some(b) = self.loss_burst {
            p.loss_burst = b;
        }
        p.validate()?;
        Ok(p)
    }
}

/// One timed change of a link.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Switch to another profile.
    Profile(Profile),
    /// Drop every packet, both ways, for this long.
    BlackHole(Duration),
}

/// A change at a time after the schedule starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// When, from the start of the schedule.
    pub at: Duration,
    /// What.
    pub change: Change,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_bits_per_second_with_a_unit() {
        let r = |s: &str| s.parse::<Rate>().map(Rate::bits_per_sec);
        assert_eq!(r("4mbit").unwrap(), 4_000_000);
        assert_eq!(r("1.6Mbps").unwrap(), 1_600_000);
        assert_eq!(r(" 768kbit ").unwrap(), 768_000);
        assert_eq!(r("2gbit").unwrap(), 2_000_000_000);
        for bad in ["4", "mbit", "4 furlongs", "-1mbit", "0bit", "1e3kbit", ""] {
            let e = r(bad).unwrap_err().to_string();
            assert!(e.contains("rate") && e.contains("4mbit"), "{bad}: {e}");
        }
        assert_eq!(Rate(1_600_000).to_string(), "1.6mbit");
        assert_eq!(
            Rate(8_000_000).tx_time(1000),
            Duration::from_millis(1),
            "1000 bytes at 8 Mbit/s take 1 ms"
        );
    }

    #[test]
    fn builtins_exist_and_validate() {
        for name in BUILTIN {
            let p = Profile::builtin(name).unwrap();
            p.validate().unwrap();
            assert_eq!(p.name, name);
        }
        let g3 = Profile::builtin("3g").unwrap();
        assert_eq!(
            g3.describe(),
            "3g: down 1.6mbit, up 768kbit, delay 150ms each way"
        );
        assert_eq!(Profile::clean().describe(), "clean: no shaping");
        assert_eq!(g3.delay * 2, Duration::from_millis(300), "300 ms RTT");
        assert_eq!(g3.down.unwrap().bits_per_sec(), 1_600_000);
        assert!(Profile::builtin("5g").is_none());
    }

    #[test]
    fn specs_override_a_base_and_name_the_wrong_field() {
        let spec: ProfileSpec =
            toml::from_str("base = \"4g\"\ndelay = \"100ms\"\nloss = \"5%\"").unwrap();
        let p = spec.resolve().unwrap();
        assert_eq!(p.delay, Duration::from_millis(100));
        assert!((p.loss - 0.05).abs() < 1e-12);
        assert_eq!(p.up.unwrap().bits_per_sec(), 9_000_000, "kept from 4g");
        assert_eq!(p.name, "4g+custom");
        let p: ProfileSpec = toml::from_str("rate = \"unlimited\"\nloss = 0.02").unwrap();
        let p = p.resolve().unwrap();
        assert_eq!((p.up, p.down), (None, None));
        for (text, field) in [
            ("loss = 5", "loss"),
            ("loss = \"five\"", "loss"),
            ("delay = \"soon\"", "delay"),
            ("up = \"fast\"", "up"),
            ("base = \"6g\"", "base"),
            ("loss_burst = 0.5", "loss_burst"),
        ] {
            let spec: ProfileSpec = toml::from_str(text).unwrap();
            let e = spec.resolve().unwrap_err().to_string();
            assert!(e.starts_with(field), "{text}: {e}");
        }
        assert!(toml::from_str::<ProfileSpec>("lag = \"1s\"").is_err());
    }
}
