//! Jitsi Videobridge polled directly: `/colibri/stats` (both the 2020 field set and the current one,
//! every numeric field kept, histograms as labelled rows) and the bridge's own `/metrics` (Prometheus
//! text; an `Accept` header is always sent because the bridge requires one).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Row;
use crate::results::{SourceName, labels};
use crate::scenario::JvbSource;

/// Colibri fields that are histograms (`int[22]`: element i = conferences with i endpoints/senders).
const HISTOGRAMS: &[&str] = &[
    "conference_sizes",
    "conferences_by_audio_senders",
    "conferences_by_video_senders",
];

/// One bridge.
#[derive(Debug, Clone)]
pub struct Jvb {
    http: reqwest::Client,
    /// Name in results.
    pub name: String,
    base: String,
    prometheus: bool,
    /// IP its media arrives on (for bridge attribution).
    pub media_address: Option<String>,
}

impl Jvb {
    /// From the scenario.
    pub fn new(cfg: &JvbSource, timeout: Duration) -> Jvb {
        let (name, media_address) = cfg.identity();
        Jvb {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            name,
            base: cfg.url.trim_end_matches('/').to_string(),
            prometheus: cfg.prometheus,
            media_address,
        }
    }

    /// The `source` column of its rows.
    pub fn source(&self) -> SourceName {
        SourceName::Jvb(self.name.clone())
    }

    /// One sample: colibri stats, then `/metrics` if enabled. Either failing fails the sample.
    pub async fn sample(&self, now: DateTime<Utc>) -> Result<Vec<Row>, String> {
        let source = self.source();
        let r = self
            .http
            .get(format!("{}/colibri/stats", self.base))
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| format!("/colibri/stats unreachable: {}", super::describe(&e)))?;
        if !r.status().is_success() {
            return Err(format!("/colibri/stats answered HTTP {}", r.status()));
        }
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("/colibri/stats is not JSON: {}", super::describe(&e)))?;
        let mut rows = colibri_rows(&v, now, &source)?;
        if self.prometheus {
            let r = self
                .http
                .get(format!("{}/metrics", self.base))
                .header("Accept", "text/plain; version=0.0.4")
                .send()
                .await
                .map_err(|e| format!("/metrics unreachable: {}", super::describe(&e)))?;
            if !r.status().is_success() {
                return Err(format!("/metrics answered HTTP {}", r.status()));
            }
            let text = r
                .text()
                .await
                .map_err(|e| format!("/metrics: {}", super::describe(&e)))?;
            rows.extend(exposition_rows(&text, now, &source));
        }
        Ok(rows)
    }
}

/// Rows from a `/colibri/stats` object: every numeric or boolean field as `colibri_<field>`,
/// histograms as `colibri_<field>{bucket=i}`. Unknown shapes are an error (garbage is a gap, not data).
pub fn colibri_rows(
    v: &Value,
    now: DateTime<Utc>,
    source: &SourceName,
) -> Result<Vec<Row>, String> {
    let obj = v.as_object().ok_or("/colibri/stats is not a JSON object")?;
    if !obj.contains_key("conferences")
        && !obj.contains_key("participants")
        && !obj.contains_key("endpoints")
    {
        return Err("/colibri/stats has none of conferences, participants, endpoints".into());
    }
    let mut rows = Vec::new();
    for (k, val) in obj {
        let name = format!("colibri_{k}");
        match val {
            Value::Number(n) => {
                if let Some(x) = n.as_f64().filter(|x| x.is_finite()) {
                    rows.push(Row::at(now, source, &name, String::new(), x));
                }
            }
            Value::Bool(b) => rows.push(Row::at(
                now,
                source,
                &name,
                String::new(),
                f64::from(u8::from(*b)),
            )),
            Value::Array(a) if HISTOGRAMS.contains(&k.as_str()) => {
                for (i, c) in a.iter().enumerate() {
                    if let Some(x) = c.as_f64() {
                        rows.push(Row::at(now, source, &name, format!("bucket={i}"), x));
                    }
                }
            }
            _ => {}
        }
    }
    // Derived, for both generations: conferences that have at least one endpoint.
    if let (Some(c), Some(sizes)) = (
        obj.get("conferences").and_then(Value::as_f64),
        obj.get("conference_sizes").and_then(Value::as_array),
    ) && let Some(empty) = sizes.first().and_then(Value::as_f64)
    {
        rows.push(Row::at(
            now,
            source,
            "colibri_nonempty_conferences",
            String::new(),
            c - empty,
        ));
    }
    Ok(rows)
}

/// Parse Prometheus text exposition: `name{k="v",...} value [timestamp]`; comments skipped.
///
/// Hand-written on purpose: `prometheus-parse` (the only parsing crate) has had no commit since
/// 2023-12 and is not a dependency we want to carry, `prometheus-client` only encodes, and the bridge's
/// `/metrics` needs just samples with labels (no types, help or exemplars). The test below covers
/// escapes, comments, timestamps and non-finite values.
pub fn parse_exposition(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => (&line[..i], &line[i..]),
            None => continue,
        };
        let mut labels = BTreeMap::new();
        let rest = if let Some(body) = rest.strip_prefix('{') {
            let mut chars = body.char_indices().peekable();
            let mut end = None;
            let (mut key, mut val) = (String::new(), String::new());
            let mut in_val = false;
            while let Some((i, c)) = chars.next() {
                if in_val {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                val.push(match e {
                                    'n' => '\n',
                                    other => other,
                                });
                            }
                        }
                        '"' => {
                            labels.insert(
                                std::mem::take(&mut key)
                                    .trim()
                                    .trim_start_matches(',')
                                    .trim()
                                    .to_string(),
                                std::mem::take(&mut val),
                            );
                            in_val = false;
                        }
                        _ => val.push(c),
                    }
                } else {
                    match c {
                        '}' => {
                            end = Some(i);
                            break;
                        }
                        '=' => {
                            if chars.peek().map(|p| p.1) == Some('"') {
                                chars.next();
                                in_val = true;
                            }
                        }
                        _ => key.push(c),
                    }
                }
            }
            match end {
                Some(e) => &body[e + 1..],
                None => continue,
            }
        } else {
            rest
        };
        let Some(value) = rest.split_whitespace().next() else {
            continue;
        };
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => match v.parse::<f64>() {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        out.push((name.to_string(), labels, value));
    }
    out
}

fn exposition_rows(text: &str, now: DateTime<Utc>, source: &SourceName) -> Vec<Row> {
    parse_exposition(text)
        .into_iter()
        .filter(|(_, _, v)| v.is_finite())
        .map(|(name, l, v)| Row::at(now, source, &name, labels::format(&l), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_with_labels_escapes_and_comments() {
        let text = "# HELP jitsi_jvb_conferences x\n# TYPE jitsi_jvb_conferences gauge\njitsi_jvb_conferences 3\n\
                    jitsi_jvb_conference_sizes_bucket{le=\"5.0\",a=\"x,y=\\\"z\\\"\"} 2 1700000000000\njitsi_jvb_stress 0.41\nbad line\n";
        let m = parse_exposition(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0], ("jitsi_jvb_conferences".into(), BTreeMap::new(), 3.0));
        assert_eq!(m[1].1["le"], "5.0");
        assert_eq!(m[1].1["a"], "x,y=\"z\"");
        assert_eq!(m[2].2, 0.41);
    }

    #[test]
    fn colibri_rejects_garbage() {
        assert!(
            colibri_rows(
                &serde_json::json!([1, 2]),
                Utc::now(),
                &SourceName::Jvb("x".into())
            )
            .is_err()
        );
        assert!(
            colibri_rows(
                &serde_json::json!({"hello": 1}),
                Utc::now(),
                &SourceName::Jvb("x".into())
            )
            .is_err()
        );
    }
}
