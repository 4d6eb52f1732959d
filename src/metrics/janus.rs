//! The Janus admin API: sessions, handles, participants per VideoRoom room, and per-handle media bytes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Row;
use crate::results::names::metric;
use crate::results::{SourceName, labels};
use crate::scenario::JanusSource;

/// A Janus server's admin API.
#[derive(Debug, Clone)]
pub struct JanusAdmin {
    http: reqwest::Client,
    url: String,
    secret: String,
    handles: bool,
}

/// Where `loadtest sandbox` leaves the admin secret of the Janus whose admin API is on `port`.
pub fn secret_file(port: u16) -> std::path::PathBuf {
    crate::media::cache_dir().join(format!("janus-admin-{port}.secret"))
}

impl JanusAdmin {
    /// From the scenario; the secret comes from the named environment variable or file, else from
    /// the file `loadtest sandbox` writes for that admin port.
    pub fn new(cfg: &JanusSource, timeout: Duration) -> JanusAdmin {
        let sandbox = url::Url::parse(&cfg.admin_url)
            .ok()
            .and_then(|u| u.port())
            .map(secret_file);
        let secret = cfg
            .admin_secret_env
            .as_ref()
            .and_then(|v| std::env::var(v).ok())
            .or_else(|| {
                cfg.admin_secret_file
                    .as_ref()
                    .and_then(|f| std::fs::read_to_string(f).ok())
            })
            .or_else(|| sandbox.and_then(|f| std::fs::read_to_string(f).ok()))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        JanusAdmin {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
            url: cfg.admin_url.trim_end_matches('/').to_string(),
            secret,
            handles: cfg.handles,
        }
    }

    async fn call(&self, path: &str, mut body: Value) -> Result<Value, String> {
        body["transaction"] = json!("lt");
        body["admin_secret"] = json!(self.secret);
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("admin API unreachable: {}", super::describe(&e)))?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("admin API answered non-JSON: {}", super::describe(&e)))?;
        if v["janus"] != "success" {
            return Err(format!(
                "admin API error: {}",
                v["error"]["reason"].as_str().unwrap_or("unknown")
            ));
        }
        Ok(v)
    }

    /// One sample.
    pub async fn sample(&self, now: DateTime<Utc>) -> Result<Vec<Row>, String> {
        let src = &SourceName::Janus;
        let mut rows = Vec::new();
        let sessions: Vec<u64> =
            self.call("", json!({"janus": "list_sessions"})).await?["sessions"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
        rows.push(Row::at(
            now,
            src,
            metric::JANUS_SESSIONS,
            String::new(),
            sessions.len() as f64,
        ));
        let rooms = self
            .call("", json!({"janus": "message_plugin", "plugin": "janus.plugin.videoroom", "request": {"request": "list"}}))
            .await?;
        for r in rooms["response"]["list"].as_array().into_iter().flatten() {
            let room = match &r["room"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let n = r["num_participants"].as_f64().unwrap_or(0.0);
            rows.push(Row::at(
                now,
                src,
                metric::JANUS_ROOM_PARTICIPANTS,
                labels::format(&labels::of([("room", room)])),
                n,
            ));
        }
        let mut handles = 0usize;
        for s in &sessions {
            let Ok(h) = self
                .call(&format!("/{s}"), json!({"janus": "list_handles"}))
                .await
            else {
                continue;
            };
            let ids: Vec<u64> = h["handles"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            handles += ids.len();
            if !self.handles {
                continue;
            }
            for id in ids {
                let Ok(info) = self
                    .call(&format!("/{s}/{id}"), json!({"janus": "handle_info"}))
                    .await
                else {
                    continue;
                };
                let i = &info["info"];
                let ps = &i["plugin_specific"];
                let kind = ps["type"].as_str().unwrap_or("unknown").to_string();
                let room = match &ps["room"] {
                    Value::String(x) => x.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                let (mut rx, mut tx) = (0.0, 0.0);
                for m in i["webrtc"]["media"]
                    .as_object()
                    .into_iter()
                    .flat_map(|o| o.values())
                {
                    rx += m["stats"]["in"]["bytes"].as_f64().unwrap_or(0.0);
                    tx += m["stats"]["out"]["bytes"].as_f64().unwrap_or(0.0);
                }
                let l = labels::format(&labels::of([
                    ("handle", id.to_string()),
                    ("room", room),
                    ("type", kind),
                ]));
                rows.push(Row::at(
                    now,
                    src,
                    metric::JANUS_HANDLE_RECEIVED_BYTES,
                    l.clone(),
                    rx,
                ));
                rows.push(Row::at(now, src, metric::JANUS_HANDLE_SENT_BYTES, l, tx));
            }
        }
        rows.push(Row::at(
            now,
            src,
            metric::JANUS_HANDLES,
            String::new(),
            handles as f64,
        ));
        Ok(rows)
    }
}
