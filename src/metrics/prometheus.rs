//! Prometheus HTTP API: built-in named queries for Jitsi on Kubernetes and for load generators
//! (node_exporter), plus user queries; instant queries live, range queries over the whole run at the end.
//!
//! The `jvb` built-ins match the labels of the manifests in `deploy/`: namespace `jitsi` (configurable),
//! container `jvb`, pods `shard-<k>-jvb-<i>`; they read cAdvisor and kube-state-metrics series.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Row;
use crate::results::names::metric;
use crate::results::{SourceName, labels};
use crate::scenario::PrometheusSource;

/// A named query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Metric name written to results (its suffix names the unit).
    pub name: String,
    /// PromQL.
    pub promql: String,
}

/// The built-in queries. `window` is the rate window (e.g. `1m`); `ns` the Jitsi namespace; `inst` a
/// regex on node_exporter `instance`s.
pub fn builtins(sets: &[String], ns: &str, inst: &str, window: &str) -> Vec<Query> {
    let q = |name: &str, promql: String| Query {
        name: name.to_string(),
        promql,
    };
    let jvb = format!("namespace=\"{ns}\",container=\"jvb\"");
    let jvb_pod = format!("namespace=\"{ns}\",pod=~\".*jvb.*\"");
    let mut out = Vec::new();
    if sets.iter().any(|s| s == "jvb") {
        out.extend([
            q(metric::JVB_CPU_CORES, format!("sum by (pod) (rate(container_cpu_usage_seconds_total{{{jvb}}}[{window}]))")),
            q(
                metric::JVB_CPU_LIMIT_RATIO,
                format!(
                    "sum by (pod) (rate(container_cpu_usage_seconds_total{{{jvb}}}[{window}])) / sum by (pod) (kube_pod_container_resource_limits{{{jvb},resource=\"cpu\"}})"
                ),
            ),
            q(metric::JVB_MEMORY_WORKING_SET_BYTES, format!("sum by (pod) (container_memory_working_set_bytes{{{jvb}}})")),
            q(
                metric::JVB_NETWORK_TRANSMIT_BYTES_PER_SECOND,
                format!("sum by (pod) (rate(container_network_transmit_bytes_total{{{jvb_pod}}}[{window}]))"),
            ),
            q(
                metric::JVB_NETWORK_RECEIVE_BYTES_PER_SECOND,
                format!("sum by (pod) (rate(container_network_receive_bytes_total{{{jvb_pod}}}[{window}]))"),
            ),
            q(
                metric::JVB_CPU_THROTTLED_RATIO,
                format!(
                    "sum by (pod) (rate(container_cpu_cfs_throttled_periods_total{{{jvb}}}[{window}])) / sum by (pod) (rate(container_cpu_cfs_periods_total{{{jvb}}}[{window}]))"
                ),
            ),
            q(metric::JVB_REPLICAS, format!("count(count by (pod) (container_memory_working_set_bytes{{{jvb}}}))")),
        ]);
    }
    if sets.iter().any(|s| s == "generator") {
        let i = format!("instance=~\"{inst}\"");
        out.extend([
            q(
                metric::GENERATOR_CPU_RATIO,
                format!("1 - avg by (instance) (rate(node_cpu_seconds_total{{{i},mode=\"idle\"}}[{window}]))"),
            ),
            q(metric::GENERATOR_MEMORY_AVAILABLE_BYTES, format!("sum by (instance) (node_memory_MemAvailable_bytes{{{i}}})")),
            q(
                metric::GENERATOR_NETWORK_TRANSMIT_BYTES_PER_SECOND,
                format!("sum by (instance) (rate(node_network_transmit_bytes_total{{{i},device!=\"lo\"}}[{window}]))"),
            ),
            q(
                metric::GENERATOR_NETWORK_RECEIVE_BYTES_PER_SECOND,
                format!("sum by (instance) (rate(node_network_receive_bytes_total{{{i},device!=\"lo\"}}[{window}]))"),
            ),
        ]);
    }
    out
}

/// A Prometheus server and the queries to ask it.
#[derive(Debug, Clone)]
pub struct Prometheus {
    http: reqwest::Client,
    base: String,
    auth: Auth,
    /// The queries.
    pub queries: Vec<Query>,
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Bearer(String),
    Basic(String, String),
}

impl Prometheus {
    /// From the scenario; credentials are read from the environment variables it names.
    pub fn new(cfg: &PrometheusSource, window: &str, timeout: Duration) -> Prometheus {
        let env = |v: &Option<String>| v.as_ref().and_then(|v| std::env::var(v).ok());
        let auth = match (
            env(&cfg.bearer_token_env),
            env(&cfg.basic_user_env),
            env(&cfg.basic_password_env),
        ) {
            (Some(t), _, _) => Auth::Bearer(t),
            (None, Some(u), p) => Auth::Basic(u, p.unwrap_or_default()),
            _ => Auth::None,
        };
        let mut queries = builtins(
            &cfg.builtins,
            &cfg.namespace,
            &cfg.generator_instances,
            window,
        );
        queries.extend(cfg.queries.iter().map(|(name, promql)| Query {
            name: name.clone(),
            promql: promql.clone(),
        }));
        Prometheus {
            http: reqwest::Client::builder()
                .timeout(timeout)
                .danger_accept_invalid_certs(cfg.insecure_tls)
                .build()
                .unwrap_or_default(),
            base: cfg.url.trim_end_matches('/').to_string(),
            auth,
            queries,
        }
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let mut req = self.http.get(format!("{}{path}", self.base)).query(params);
        req = match &self.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic(u, p) => req.basic_auth(u, Some(p)),
        };
        let r = req
            .send()
            .await
            .map_err(|e| format!("unreachable: {}", super::describe(&e)))?;
        let status = r.status();
        let v: Value = r
            .json()
            .await
            .map_err(|e| format!("HTTP {status}, not JSON: {}", super::describe(&e)))?;
        if v["status"] != "success" {
            return Err(format!(
                "HTTP {status}: {}",
                v["error"].as_str().unwrap_or("no status success")
            ));
        }
        Ok(v)
    }

    /// Every query at `at` (instant API). Fails as a whole only if the server is unusable; a query
    /// that errors is skipped and reported.
    pub async fn instant(&self, at: DateTime<Utc>) -> Result<(Vec<Row>, Vec<String>), String> {
        let mut rows = Vec::new();
        let mut errors = Vec::new();
        let time = format!("{:.3}", at.timestamp_millis() as f64 / 1000.0);
        for q in &self.queries {
            match self
                .get(
                    "/api/v1/query",
                    &[("query", q.promql.clone()), ("time", time.clone())],
                )
                .await
            {
                Ok(v) => rows.extend(parse_vector(&v, &q.name, &SourceName::Prometheus)),
                Err(e) if e.starts_with("unreachable") => return Err(e),
                Err(e) => errors.push(format!("{}: {e}", q.name)),
            }
        }
        Ok((rows, errors))
    }

    /// Every query over `[start, end]` at `step` (range API), to fill live gaps.
    pub async fn range(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<Row>, String> {
        let mut rows = Vec::new();
        let step_s = step.as_secs_f64().max(1.0);
        for q in &self.queries {
            let v = self
                .get(
                    "/api/v1/query_range",
                    &[
                        ("query", q.promql.clone()),
                        (
                            "start",
                            format!("{:.3}", start.timestamp_millis() as f64 / 1000.0),
                        ),
                        (
                            "end",
                            format!("{:.3}", end.timestamp_millis() as f64 / 1000.0),
                        ),
                        ("step", format!("{step_s}")),
                    ],
                )
                .await?;
            rows.extend(parse_matrix(&v, &q.name, &SourceName::PrometheusRange));
        }
        Ok(rows)
    }
}

fn labels_of(metric: &Value) -> String {
    let m: BTreeMap<String, String> = metric
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels::format(&m)
}

/// `[ts, "value"]` → (time, value); Prometheus sends values as strings.
fn point(p: &Value) -> Option<(DateTime<Utc>, f64)> {
    let ts = p.get(0)?.as_f64()?;
    let v: f64 = p.get(1)?.as_str()?.parse().ok()?;
    let t = DateTime::from_timestamp_millis((ts * 1000.0).round() as i64)?;
    v.is_finite().then_some((t, v))
}

/// Rows from an instant-query answer (`resultType: vector` or `scalar`).
pub fn parse_vector(v: &Value, name: &str, source: &SourceName) -> Vec<Row> {
    let data = &v["data"];
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| {
                        let (t, val) = point(&s["value"])?;
                        Some(Row::at(t, source, name, labels_of(&s["metric"]), val))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        Some("scalar") => point(&data["result"])
            .map(|(t, val)| vec![Row::at(t, source, name, String::new(), val)])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Rows from a range-query answer (`resultType: matrix`).
pub fn parse_matrix(v: &Value, name: &str, source: &SourceName) -> Vec<Row> {
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().into_iter().flatten() {
        let l = labels_of(&s["metric"]);
        for p in s["values"].as_array().into_iter().flatten() {
            if let Some((t, val)) = point(p) {
                out.push(Row::at(t, source, name, l.clone(), val));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtins_match_the_deploy_labels() {
        let q = builtins(&["jvb".into(), "generator".into()], "jitsi", ".*", "1m");
        assert_eq!(q.len(), 11);
        let cpu = q.iter().find(|q| q.name == metric::JVB_CPU_CORES).unwrap();
        assert_eq!(
            cpu.promql,
            "sum by (pod) (rate(container_cpu_usage_seconds_total{namespace=\"jitsi\",container=\"jvb\"}[1m]))"
        );
        assert!(
            builtins(&["generator".into()], "x", ".*", "1m")
                .iter()
                .all(|q| q.name.starts_with("generator_"))
        );
    }

    #[test]
    fn parses_vector_and_matrix_with_string_values() {
        let v = json!({"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"x","instance":"127.0.0.1:9100","job":"node"},"value":[1795463165.5,"0.25"]},
            {"metric":{"instance":"b"},"value":[1795463165,"NaN"]}]}});
        let rows = parse_vector(&v, metric::GENERATOR_CPU_RATIO, &SourceName::Prometheus);
        assert_eq!(rows.len(), 1, "NaN dropped");
        assert_eq!(rows[0].labels, "instance=127.0.0.1:9100;job=node");
        assert_eq!(rows[0].value, 0.25);
        assert_eq!(rows[0].ts, "2026-11-23T19:46:05.500Z");
        let m = json!({"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"pod":"shard-0-jvb-0"},"values":[[1795463165,"1.5"],[1795463170,"2"]]}]}});
        let rows = parse_matrix(&m, metric::JVB_CPU_CORES, &SourceName::PrometheusRange);
        assert_eq!(rows.iter().map(|r| r.value).collect::<Vec<_>>(), [1.5, 2.0]);
        assert!(parse_vector(&json!({"garbage": true}), "x", &SourceName::Prometheus).is_empty());
    }
}
