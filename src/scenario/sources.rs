//! `[metrics]`: the server-side and generator-side sources a run samples.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Dur;
use super::schema::yes;

/// `[metrics]`: server-side and generator-side sources, sampled on the same clock as client stats.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    /// Sampling interval (default: the stats interval).
    #[serde(default)]
    pub interval: Option<Dur>,
    /// Bound on one request to a source; a slower source leaves a gap, never a stall.
    #[serde(default = "default_metrics_timeout")]
    pub timeout: Dur,
    /// Sample this machine's CPU, memory and network (`/proc`): a load generator's figures when the
    /// browsers run here, the controller's when they run on a grid (was `generator`).
    #[serde(default = "yes", alias = "generator")]
    pub this_machine: bool,
    /// A Prometheus server.
    #[serde(default)]
    pub prometheus: Option<PrometheusSource>,
    /// Jitsi Videobridges polled directly (`/colibri/stats` and `/metrics`).
    #[serde(default)]
    pub jvb: Vec<JvbSource>,
    /// The Janus admin API.
    #[serde(default)]
    pub janus: Option<JanusSource>,
    /// Media-server processes on this machine (e.g. the sandbox's Janus), sampled from `/proc`.
    #[serde(default)]
    pub process: Vec<ProcessSource>,
}

fn default_metrics_timeout() -> Dur {
    Dur::from_secs(2)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            interval: None,
            timeout: default_metrics_timeout(),
            this_machine: true,
            prometheus: None,
            jvb: Vec::new(),
            janus: None,
            process: Vec::new(),
        }
    }
}

/// `[metrics.prometheus]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// Base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// Built-in query sets: `jvb` (per JVB pod on Kubernetes) and `generator` (node_exporter).
    #[serde(default = "default_builtins")]
    pub builtins: Vec<String>,
    /// Namespace of the Jitsi deployment (for the `jvb` built-ins).
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// node_exporter instances of the load generators (regex on `instance`; default: all).
    #[serde(default = "default_instances")]
    pub generator_instances: String,
    /// Extra named PromQL queries: `name = "query"`.
    #[serde(default)]
    pub queries: BTreeMap<String, String>,
    /// Environment variable holding a bearer token.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Environment variables holding basic-auth user and password.
    #[serde(default)]
    pub basic_user_env: Option<String>,
    /// See `basic_user_env`.
    #[serde(default)]
    pub basic_password_env: Option<String>,
    /// Accept self-signed TLS certificates.
    #[serde(default)]
    pub insecure_tls: bool,
}

fn default_builtins() -> Vec<String> {
    vec!["jvb".into(), "generator".into()]
}
fn default_namespace() -> String {
    "jitsi".into()
}
fn default_instances() -> String {
    ".*".into()
}

/// `[[metrics.jvb]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JvbSource {
    /// Name in results (default: the URL's host).
    #[serde(default)]
    pub name: Option<String>,
    /// The bridge's private HTTP interface, e.g. `http://10.0.0.5:8080`.
    pub url: String,
    /// The address participants' media reach this bridge on (IP), for bridge attribution
    /// (default: the URL's host).
    #[serde(default)]
    pub media_address: Option<String>,
    /// Also scrape the bridge's own `/metrics` (Prometheus text).
    #[serde(default = "yes")]
    pub prometheus: bool,
}

/// `[metrics.janus]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JanusSource {
    /// Admin API URL, e.g. `http://127.0.0.1:7088/admin`.
    pub admin_url: String,
    /// Environment variable holding the admin secret.
    #[serde(default)]
    pub admin_secret_env: Option<String>,
    /// File holding the admin secret (the sandbox writes one).
    #[serde(default)]
    pub admin_secret_file: Option<PathBuf>,
    /// Also sample per-handle media bytes (one request per handle per sample).
    #[serde(default = "yes")]
    pub handles: bool,
}

/// `[[metrics.process]]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessSource {
    /// Names the source: rows carry `source = "process:<name>"`.
    pub name: String,
    /// The process's command name as in `/proc/<pid>/comm` (e.g. `janus`); every match is summed.
    pub command: String,
    /// The IP participants' media reach this server on: they are attributed to it (`bridge = name`).
    #[serde(default)]
    pub media_address: Option<String>,
}

impl JvbSource {
    /// The bridge's name in results (`name`, else the URL's host) and the address its media is reached
    /// on (`media_address`, else the URL's host).
    pub fn identity(&self) -> (String, Option<String>) {
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        let name = self
            .name
            .clone()
            .or_else(|| host.clone())
            .unwrap_or_else(|| self.url.clone());
        (name, self.media_address.clone().or(host))
    }
}
