//! Running `ip` and `tc` (iproute2), blocking, with their error output in the error.

use std::process::{Command, Stdio};

use super::{NetworkError, Result};

/// Where iproute2 lives on Debian; `PATH` is searched when these are missing.
fn program(name: &str) -> String {
    for dir in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        let p = format!("{dir}/{name}");
        if std::path::Path::new(&p).is_file() {
            return p;
        }
    }
    name.to_string()
}

/// The path of `ip` (used in browser wrappers too).
pub fn ip_program() -> String {
    program("ip")
}

fn run(name: &str, args: &[&str]) -> Result<String> {
    let command = format!("{name} {}", args.join(" "));
    let out = Command::new(program(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            NetworkError::Unavailable(format!(
                "cannot run `{name}`: {e} (install iproute2; the lab needs root)"
            ))
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetworkError::Command {
            command,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip <args>`.
pub fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// `tc <args>`.
pub fn tc(args: &[&str]) -> Result<String> {
    run("tc", args)
}

/// `ip` inside namespace `ns` (`ip -n <ns> ...`), or in the root namespace for `None`.
pub fn ip_in(ns: Option<&str>, args: &[&str]) -> Result<String> {
    match ns {
        None => ip(args),
        Some(ns) => {
            let mut all = vec!["-n", ns];
            all.extend_from_slice(args);
            ip(&all)
        }
    }
}

/// `tc` inside namespace `ns` (`tc -n <ns> ...`), or in the root namespace for `None`.
pub fn tc_in(ns: Option<&str>, args: &[&str]) -> Result<String> {
    match ns {
        None => tc(args),
        Some(ns) => {
            let mut all = vec!["-n", ns];
            all.extend_from_slice(args);
            tc(&all)
        }
    }
}

/// True when a failed command only says the object is already gone.
pub fn is_gone(e: &NetworkError) -> bool {
    match e {
        NetworkError::Command { detail, .. } => {
            let d = detail.to_ascii_lowercase();
            d.contains("cannot find device")
                || d.contains("no such file")
                || d.contains("no such process")
                || d.contains("does not exist")
                || d.contains("invalid handle")
                || d.contains("cannot delete qdisc with handle of zero")
        }
        _ => false,
    }
}

/// Names of the network namespaces (`ip netns list`).
pub fn namespaces() -> Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Interface names in a namespace (`ip -o link`), without the `@peer` suffix.
pub fn links(ns: Option<&str>) -> Result<Vec<String>> {
    Ok(ip_in(ns, &["-o", "link", "show"])?
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect())
}

/// Process ids running inside a namespace (`ip netns pids`).
pub fn netns_pids(ns: &str) -> Vec<i32> {
    ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_means_already_removed_only() {
        let e = |d: &str| NetworkError::Command {
            command: "ip link del x".into(),
            detail: d.into(),
        };
        assert!(is_gone(&e("Cannot find device \"lt-0001-a\"")));
        assert!(is_gone(&e(
            "Cannot remove namespace file \"/run/netns/x\": No such file or directory"
        )));
        assert!(!is_gone(&e("RTNETLINK answers: Operation not permitted")));
        assert!(!is_gone(&NetworkError::Refused("x".into())));
    }
}
