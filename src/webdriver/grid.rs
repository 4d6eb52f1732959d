//! Selenium Grid 4 client for what WebDriver itself does not say: free slots (`/status`), the node
//! that holds a session (`/graphql`), and raw session deletion.
//!
//! The Grid rejects WebDriver-route bodies whose `Content-Type` lacks `charset=utf-8`, so every body
//! sent here carries it.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

use crate::error::InfraError;

const JSON_UTF8: &str = "application/json; charset=utf-8";

/// One node as `/status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeStatus {
    /// The Grid's id of the node (for draining it).
    pub id: String,
    /// Node URI.
    pub uri: String,
    /// `UP`, `DRAINING`, `DOWN`.
    pub availability: String,
    /// Slots in total.
    pub slots: usize,
    /// Slots with a session.
    pub busy: usize,
    /// Ids of the sessions it holds.
    pub sessions: Vec<String>,
    /// The networks its slots' stereotypes carry ([`crate::network::netns::GRID_CAPABILITY`]).
    pub networks: Vec<String>,
    /// The network namespaces its slots' browsers run in, when the node says
    /// ([`crate::network::netns::NAMESPACE_CAPABILITY`]).
    pub namespaces: Vec<String>,
    /// `network=proxy` for networks whose browsers reach the target through the node's HTTP proxy
    /// ([`crate::network::netns::PROXY_CAPABILITY`]).
    pub proxies: Vec<String>,
}

/// The grid's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GridStatus {
    /// The grid says it is ready.
    pub ready: bool,
    /// Its nodes.
    pub nodes: Vec<NodeStatus>,
}

impl GridStatus {
    /// Free slots on nodes that are up.
    pub fn free_slots(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.availability == "UP")
            .map(|n| n.slots.saturating_sub(n.busy))
            .sum()
    }
    /// Sessions running anywhere.
    pub fn sessions(&self) -> usize {
        self.nodes.iter().map(|n| n.busy).sum()
    }
}

/// Parse a `/status` body (Grid 4 shape: `value.nodes[].slots[].session`).
pub fn parse_status(v: &Value) -> Option<GridStatus> {
    let value = v.get("value")?;
    let ready = value.get("ready")?.as_bool()?;
    let nodes = value
        .get("nodes")
        .and_then(Value::as_array)
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    let slots = n.get("slots").and_then(Value::as_array);
                    let each = |f: &dyn Fn(&Value) -> Option<String>| -> Vec<String> {
                        let mut v: Vec<String> =
                            slots.map_or(Vec::new(), |s| s.iter().filter_map(f).collect());
                        v.sort();
                        v.dedup();
                        v
                    };
                    NodeStatus {
                        id: n
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        sessions: each(&|s| s["session"]["sessionId"].as_str().map(str::to_string)),
                        networks: each(&|s| {
                            s["stereotype"][crate::network::netns::GRID_CAPABILITY]
                                .as_str()
                                .map(str::to_string)
                        }),
                        namespaces: each(&|s| {
                            s["stereotype"][crate::network::netns::NAMESPACE_CAPABILITY]
                                .as_str()
                                .map(str::to_string)
                        }),
                        proxies: each(&|s| {
                            let st = &s["stereotype"];
                            let net = st[crate::network::netns::GRID_CAPABILITY].as_str()?;
                            let proxy = st[crate::network::netns::PROXY_CAPABILITY].as_str()?;
                            Some(format!("{net}={proxy}"))
                        }),
                        uri: n
                            .get("uri")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        availability: n
                            .get("availability")
                            .and_then(Value::as_str)
                            .unwrap_or("UNKNOWN")
                            .to_string(),
                        slots: slots.map_or(0, Vec::len),
                        busy: slots
                            .map_or(0, |s| s.iter().filter(|s| !s["session"].is_null()).count()),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    Some(GridStatus { ready, nodes })
}

/// A Selenium Grid reached at its base URL (the WebDriver URL without `/wd/hub`).
#[derive(Debug, Clone)]
pub struct Grid {
    http: reqwest::Client,
    base: Url,
}

/// The grid base (no `/wd/hub`, trailing slash) of a WebDriver URL.
pub fn base_of(webdriver: &Url) -> Url {
    let mut u = webdriver.clone();
    let path = u
        .path()
        .trim_end_matches('/')
        .trim_end_matches("/wd/hub")
        .to_string();
    u.set_path(&format!("{}/", path.trim_end_matches('/')));
    u.set_query(None);
    u.set_fragment(None);
    u
}

impl Grid {
    /// A client for the grid behind `webdriver` (requests time out after 10 s).
    pub fn new(webdriver: &Url) -> Grid {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Grid {
            http,
            base: base_of(webdriver),
        }
    }

    fn what(&self) -> String {
        format!(
            "Selenium Grid at {}",
            crate::redact::url(self.base.as_str())
        )
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<GridStatus, InfraError> {
        let url = self.base.join("status").expect("url");
        let r = self.http.get(url).send().await.map_err(|e| {
            InfraError::new(self.what(), format!("unreachable: {}", e.without_url()))
        })?;
        let v: Value = r
            .json()
            .await
            .map_err(|e| InfraError::new(self.what(), format!("/status is not JSON: {e}")))?;
        parse_status(&v).ok_or_else(|| {
            InfraError::new(
                self.what(),
                "/status has no value.ready (is this a Selenium Grid 4?)",
            )
        })
    }

    /// Requests waiting in the new-session queue (`/graphql` `grid.sessionQueueSize`), if the grid says.
    pub async fn queue_size(&self) -> Option<usize> {
        let v = self.graphql("{ grid { sessionQueueSize } }").await?;
        v["data"]["grid"]["sessionQueueSize"]
            .as_u64()
            .map(|n| n as usize)
    }

    /// The node URI holding a session (`/graphql`), if the grid says.
    pub async fn node_of(&self, session_id: &str) -> Option<String> {
        let v = self
            .graphql(&format!(
                "{{ session(id: \"{session_id}\") {{ nodeUri }} }}"
            ))
            .await?;
        v["data"]["session"]["nodeUri"].as_str().map(str::to_string)
    }

    /// Drain a node (`POST /se/grid/distributor/node/<id>/drain`): it takes no new session and
    /// shuts down once its sessions end. `secret` is the Grid's registration secret, if it has one.
    pub async fn drain(&self, node_id: &str, secret: &str) -> Result<(), String> {
        let url = self
            .base
            .join(&format!("se/grid/distributor/node/{node_id}/drain"))
            .map_err(|e| e.to_string())?;
        let r = self
            .http
            .post(url)
            .header("X-REGISTRATION-SECRET", secret)
            .header(reqwest::header::CONTENT_TYPE, JSON_UTF8)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("the Grid answered {} to the drain", r.status()))
        }
    }

    /// One `/graphql` query; `None` when the grid does not answer with JSON.
    async fn graphql(&self, query: &str) -> Option<Value> {
        let r = self
            .http
            .post(self.base.join("graphql").ok()?)
            .header(reqwest::header::CONTENT_TYPE, JSON_UTF8)
            .body(json!({ "query": query }).to_string())
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }
}

/// `DELETE <webdriver>/session/<id>`: the last resort that guarantees no session is left behind.
pub async fn delete_session(http: &reqwest::Client, webdriver: &Url, session_id: &str) -> bool {
    let Ok(url) = webdriver.join(&format!("session/{session_id}")) else {
        return false;
    };
    matches!(
        http.delete(url).header(reqwest::header::CONTENT_TYPE, JSON_UTF8).send().await,
        Ok(r) if r.status().is_success() || r.status().as_u16() == 404
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_strips_wd_hub() {
        for (i, o) in [
            ("http://h:4444/wd/hub", "http://h:4444/"),
            ("http://h:4444/wd/hub/", "http://h:4444/"),
            ("http://h:4444", "http://h:4444/"),
            ("http://h/grid/wd/hub", "http://h/grid/"),
        ] {
            assert_eq!(base_of(&Url::parse(i).unwrap()).as_str(), o);
        }
    }

    #[test]
    fn status_counts_free_slots() {
        let v = json!({"value":{"ready":true,"message":"Selenium Grid ready.","nodes":[
            {"id":"n1","uri":"http://127.0.0.1:5555","availability":"UP","slots":[
                {"session":null,"stereotype":{"browserName":"chrome","loadtest:network":"3g"}},
                {"session":{"sessionId":"x"},"stereotype":{"browserName":"chrome","loadtest:network":"3g"}}]},
            {"uri":"http://127.0.0.1:5556","availability":"DOWN","slots":[{"session":null}]}]}});
        let s = parse_status(&v).unwrap();
        assert_eq!(s.free_slots(), 1);
        assert_eq!(s.sessions(), 1);
        assert_eq!(s.nodes[0].id, "n1");
        assert_eq!(s.nodes[0].sessions, ["x"]);
        assert_eq!(s.nodes[0].networks, ["3g"]);
        assert!(s.nodes[1].networks.is_empty());
        assert!(parse_status(&json!({"value":{}})).is_none());
    }
}
