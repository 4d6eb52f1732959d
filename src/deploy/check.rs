//! `loadtest deploy check --env E`: the overlay builds offline (`kubectl kustomize`), and, given a
//! kubeconfig, the cluster has what the build needs: the PodMonitor CRD (Prometheus Operator) for
//! the PodMonitors, metrics-server for the bridges' HPA, and Kubernetes >= 1.27.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{EXIT_FAILED, EXIT_INFRA, EXIT_OK, InfraError, UsageError};

use super::layout::paths;

/// A cluster-side prerequisite and the object of the build that needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prerequisite {
    /// What it is.
    pub what: &'static str,
    /// The kind in the build that needs it.
    pub needed_by: &'static str,
    /// `kubectl get` arguments that find it.
    pub get: &'static [&'static str],
}

/// The prerequisites of a build with these kinds.
pub fn prerequisites(kinds: &[String]) -> Vec<Prerequisite> {
    let all = [
        Prerequisite {
            what: "the PodMonitor CRD (Prometheus Operator): podmonitors.monitoring.coreos.com",
            needed_by: "PodMonitor",
            get: &[
                "get",
                "crd",
                "podmonitors.monitoring.coreos.com",
                "-o",
                "name",
            ],
        },
        Prerequisite {
            what: "metrics-server (APIService v1beta1.metrics.k8s.io, Available)",
            needed_by: "HorizontalPodAutoscaler",
            get: &[
                "get",
                "apiservice",
                "v1beta1.metrics.k8s.io",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Available\")].status}",
            ],
        },
    ];
    all.into_iter()
        .filter(|p| kinds.iter().any(|k| k == p.needed_by))
        .collect()
}

/// The `kind:` of every object in a rendered build.
pub fn kinds(rendered: &str) -> Vec<String> {
    rendered
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(|k| k.trim().to_string())
        .collect()
}

/// Minimum server minor version (Kubernetes 1.x) the manifests need.
const MIN_MINOR: u32 = 27;

struct Kubectl<'a> {
    kubeconfig: Option<&'a Path>,
}

impl Kubectl<'_> {
    /// `(success, stdout, stderr)` of `kubectl [--kubeconfig F] args…`.
    fn call(&self, args: &[&str]) -> Result<(bool, String, String), InfraError> {
        let mut cmd = Command::new("kubectl");
        if let Some(k) = self.kubeconfig {
            cmd.arg("--kubeconfig").arg(k);
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| InfraError::new("kubectl", format!("cannot start kubectl: {e}")))?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
        Ok((out.status.success(), text(&out.stdout), text(&out.stderr)))
    }
}

/// The server's minor version from `kubectl version -o json`.
pub fn server_minor(json: &str) -> Option<u32> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v["serverVersion"]["minor"]
        .as_str()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

/// Run the check; the exit code (0 all there, 1 something missing, 3 cluster unreachable).
pub fn run(dir: &Path, env: &str, kubeconfig: Option<&Path>) -> anyhow::Result<i32> {
    let overlay = dir.join(paths::env_dir(env));
    let kubectl = Kubectl { kubeconfig: None };
    let (ok, rendered, err) = kubectl.call(&["kustomize", &overlay.to_string_lossy()])?;
    if !ok {
        return Err(UsageError(format!(
            "{}: does not build (kubectl kustomize: {})",
            overlay.display(),
            crate::util::text::one_line(&err, 500)
        ))
        .into());
    }
    let kinds = kinds(&rendered);
    say!(
        "{env}: builds offline: {} objects (kubectl kustomize)",
        kinds.len()
    );
    let needed = prerequisites(&kinds);
    let Some(kubeconfig) = kubeconfig else {
        let list: Vec<&str> = needed.iter().map(|p| p.what).collect();
        say!(
            "not checked against a cluster (pass --kubeconfig FILE): Kubernetes >= 1.{MIN_MINOR}; {}",
            list.join("; ")
        );
        return Ok(EXIT_OK);
    };
    let cluster = Kubectl {
        kubeconfig: Some(kubeconfig),
    };
    let (ok, version, err) = cluster.call(&["version", "-o", "json"])?;
    let minor = server_minor(&version);
    if !ok || minor.is_none() {
        eprintln!(
            "cluster of {} unreachable: {}",
            kubeconfig.display(),
            crate::util::text::one_line(&err, 300)
        );
        return Ok(EXIT_INFRA);
    }
    let mut missing = 0;
    let minor = minor.unwrap_or_default();
    if minor < MIN_MINOR {
        say!("Kubernetes 1.{minor}: TOO OLD, the manifests need >= 1.{MIN_MINOR}");
        missing += 1;
    } else {
        say!("Kubernetes 1.{minor}: ok");
    }
    for p in &needed {
        let (ok, out, err) = cluster.call(p.get)?;
        let there = ok && !out.is_empty() && out != "False";
        if there {
            say!("{}: ok", p.what);
        } else {
            missing += 1;
            let why = if ok { format!("status {out:?}") } else { err };
            say!(
                "{}: MISSING (needed by the {}s; {})",
                p.what,
                p.needed_by,
                crate::util::text::one_line(&why, 300)
            );
        }
    }
    Ok(if missing == 0 { EXIT_OK } else { EXIT_FAILED })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prerequisites_follow_the_kinds_in_the_build() {
        let k = kinds("---\nkind: PodMonitor\nmetadata:\n  kind: x\n---\nkind: Service\n");
        assert_eq!(k, vec!["PodMonitor", "Service"]);
        let p = prerequisites(&k);
        assert_eq!(p.len(), 1);
        assert!(p[0].what.contains("podmonitors.monitoring.coreos.com"));
        let p = prerequisites(&["HorizontalPodAutoscaler".into(), "PodMonitor".into()]);
        assert_eq!(p.len(), 2);
        assert!(prerequisites(&["Deployment".into()]).is_empty());
    }

    #[test]
    fn server_version() {
        let v = r#"{"clientVersion":{"minor":"32"},"serverVersion":{"major":"1","minor":"29+"}}"#;
        assert_eq!(server_minor(v), Some(29));
        assert_eq!(server_minor("{}"), None);
        assert_eq!(server_minor("not json"), None);
    }
}
