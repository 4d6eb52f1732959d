//! Ownership records: which namespaces, interfaces and routes each lab made, written *before* each is
//! made, so that a crashed run's leftovers can be found and removed — and only those.
//!
//! One JSON file per lab in [`STATE_DIR`] (a tmpfs, cleared on reboot together with the namespaces),
//! naming the owner process by pid and start time (pids are reused; start times are not).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::addr::{self, Block, LabId};
use super::cmd;
use super::{NetworkError, Result};

/// Where ownership records live.
pub const STATE_DIR: &str = "/run/loadtest-net";

/// An interface a lab made: its name and the namespace it sits in (`None`: the root namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnedIface {
    /// Namespace, `None` for the root namespace.
    pub ns: Option<String>,
    /// Interface name (`lt-<id>-<role>`).
    pub name: String,
}

/// What one lab owns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// Lab id (four hex digits).
    pub id: String,
    /// Owner process.
    pub pid: u32,
    /// Owner's start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
    /// The /24 block whose `unreachable` route the lab added (third octet), once added.
    pub block: Option<u8>,
    /// Namespaces, in creation order.
    pub namespaces: Vec<String>,
    /// Interfaces, in creation order.
    pub ifaces: Vec<OwnedIface>,
}

fn path_of(id: &str) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!("{id}.json"))
}

/// Start time of a process in clock ticks, `None` when it does not exist.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn random_u16() -> u16 {
    let mut b = [0u8; 2];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u16::from_le_bytes(b) ^ (std::process::id() as u16)
}

impl Record {
    /// Claim a fresh lab id for this process: an id no record, namespace or interface uses, taken by
    /// creating its record file exclusively.
    pub fn claim() -> Result<Record> {
        std::fs::create_dir_all(STATE_DIR).map_err(|e| {
            NetworkError::io(format!("creating {STATE_DIR} (the lab needs root)"), e)
        })?;
        let taken: BTreeSet<LabId> = cmd::namespaces()?
            .iter()
            .chain(cmd::links(None)?.iter())
            .filter_map(|n| addr::parse_name(n).map(|(id, _)| id))
            .collect();
        let pid = std::process::id();
        let start = start_ticks(pid).unwrap_or(0);
        for _ in 0..64 {
            let id = LabId(random_u16());
            if taken.contains(&id) {
                continue;
            }
            let path = path_of(&id.to_string());
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let rec = Record {
                        id: id.to_string(),
                        pid,
                        start_ticks: start,
                        ..Record::default()
                    };
                    let text = serde_json::to_vec_pretty(&rec).unwrap_or_default();
                    f.write_all(&text)
                        .map_err(|e| NetworkError::io(path.display().to_string(), e))?;
                    return Ok(rec);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(NetworkError::io(path.display().to_string(), e)),
            }
        }
        Err(NetworkError::Unavailable(
            "no free lab id after 64 tries".into(),
        ))
    }

    /// The lab id.
    pub fn lab_id(&self) -> Option<LabId> {
        LabId::parse(&self.id)
    }

    /// Write the record (atomically).
    pub fn save(&self) -> Result<()> {
        let path = path_of(&self.id);
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        crate::util::fs::write_atomic(&path, &text)
            .map_err(|e| NetworkError::io(path.display().to_string(), e))
    }

    /// True while the owner process runs.
    pub fn owner_alive(&self) -> bool {
        start_ticks(self.pid).is_some_and(|t| t == self.start_ticks)
    }

    /// True when this record lists the interface.
    pub fn owns_iface(&self, ns: Option<&str>, name: &str) -> bool {
        self.ifaces
            .iter()
            .any(|i| i.name == name && i.ns.as_deref() == ns)
    }
}

/// Every record on the machine (unreadable files are skipped).
pub fn records() -> Vec<Record> {
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice::<Record>(&b).ok())
        .collect()
}

/// SIGKILL every process inside the namespace (they can only be the tool's: the namespace is its
/// own) and wait up to 2 s for them to go.
pub fn kill_processes_in(ns: &str) -> usize {
    let pids = cmd::netns_pids(ns);
    for &p in &pids {
        // SAFETY: kill(2) with a pid read from the kernel and a constant signal.
        unsafe {
            libc::kill(p, libc::SIGKILL);
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while pids
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    pids.len()
}

/// Remove everything a record lists: processes inside its namespaces, its root-namespace interfaces,
/// its namespaces, then its `unreachable` route (last, and only when no live lab claims the block),
/// then the record. Returns the errors met (it carries on past each).
pub fn remove_all(rec: &Record) -> Vec<NetworkError> {
    let mut errors = Vec::new();
    // Only names of this record's own lab, whatever the file says.
    let own = |name: &str| addr::parse_name(name).is_some_and(|(id, _)| id.to_string() == rec.id);
    let mut rec = rec.clone();
    rec.namespaces.retain(|n| own(n));
    rec.ifaces.retain(|i| own(&i.name));
    let rec = &rec;
    let mut keep = |r: Result<String>| {
        if let Err(e) = r
            && !cmd::is_gone(&e)
        {
            errors.push(e);
        }
    };
    for ns in rec.namespaces.iter().rev() {
        kill_processes_in(ns);
    }
    for i in rec.ifaces.iter().rev().filter(|i| i.ns.is_none()) {
        keep(cmd::ip(&["link", "del", &i.name]));
    }
    for ns in rec.namespaces.iter().rev() {
        keep(cmd::ip(&["netns", "del", ns]));
    }
    if let Some(b) = rec.block {
        let claimed_by_live = records()
            .iter()
            .any(|o| o.id != rec.id && o.block == Some(b) && o.owner_alive());
        if !claimed_by_live {
            keep(cmd::ip(&["route", "del", "unreachable", &Block(b).cidr()]));
        }
    }
    if errors.is_empty() {
        let _ = std::fs::remove_file(path_of(&rec.id));
    }
    errors
}

/// What [`cleanup_leftovers`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleanup {
    /// Lab ids whose leftovers were removed.
    pub labs: Vec<String>,
    /// Namespaces removed.
    pub namespaces: Vec<String>,
    /// Root-namespace interfaces removed.
    pub ifaces: Vec<String>,
    /// `unreachable` routes removed.
    pub routes: Vec<String>,
}

impl Cleanup {
    /// True when nothing was left over.
    pub fn is_empty(&self) -> bool {
        self.labs.is_empty()
    }
}

/// Find what crashed earlier runs left (namespaces and interfaces named `lt-<id>-…` whose lab's owner
/// process is gone, and the routes their records list) and remove it. Labs whose owner still runs —
/// this process's or another's — are left alone, as is everything not named by the tool.
pub fn cleanup_leftovers() -> Result<Cleanup> {
    let all = records();
    let live: BTreeSet<String> = all
        .iter()
        .filter(|r| r.owner_alive())
        .map(|r| r.id.clone())
        .collect();
    let mut dead: Vec<Record> = all.into_iter().filter(|r| !live.contains(&r.id)).collect();
    // Objects named by the tool whose record is gone count as leftovers of an unknown, dead lab.
    let namespaces = cmd::namespaces()?;
    let links = cmd::links(None)?;
    let mut orphan = |name: &str, is_ns: bool| {
        let Some((id, _)) = addr::parse_name(name) else {
            return;
        };
        let id = id.to_string();
        if live.contains(&id) {
            return;
        }
        let rec = match dead.iter_mut().find(|r| r.id == id) {
            Some(r) => r,
            None => {
                dead.push(Record {
                    id: id.clone(),
                    ..Record::default()
                });
                dead.last_mut().expect("just pushed")
            }
        };
        if is_ns && !rec.namespaces.iter().any(|n| n == name) {
            rec.namespaces.push(name.to_string());
        } else if !is_ns && !rec.owns_iface(None, name) {
            rec.ifaces.push(OwnedIface {
                ns: None,
                name: name.to_string(),
            });
        }
    };
    for n in &namespaces {
        orphan(n, true);
    }
    for l in &links {
        orphan(l, false);
    }
    let mut report = Cleanup::default();
    let mut errors = Vec::new();
    for rec in &dead {
        report.labs.push(rec.id.clone());
        report.namespaces.extend(
            rec.namespaces
                .iter()
                .filter(|n| namespaces.contains(n))
                .cloned(),
        );
        report.ifaces.extend(
            rec.ifaces
                .iter()
                .filter(|i| i.ns.is_none() && links.contains(&i.name))
                .map(|i| i.name.clone()),
        );
        report.routes.extend(rec.block.map(|b| Block(b).cidr()));
        errors.extend(remove_all(rec));
    }
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let pid = std::process::id();
        let me = Record {
            id: "0001".into(),
            pid,
            start_ticks: start_ticks(pid).unwrap(),
            ..Record::default()
        };
        assert!(me.owner_alive());
        let reused = Record {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert!(!reused.owner_alive());
        let gone = Record {
            pid: u32::MAX - 1,
            ..me
        };
        assert!(!gone.owner_alive());
    }

    #[test]
    fn removal_touches_only_the_record_own_names() {
        // A record naming foreign objects (a damaged or forged file) removes none of them: the
        // names are dropped before any command runs, so this needs no root and no kernel.
        let forged = Record {
            id: "0002".into(),
            namespaces: vec!["default".into(), "lt-0003-r".into()],
            ifaces: vec![
                OwnedIface {
                    ns: None,
                    name: "eth0".into(),
                },
                OwnedIface {
                    ns: None,
                    name: "lt-0003-h".into(),
                },
            ],
            ..Record::default()
        };
        assert!(remove_all(&forged).is_empty());
    }

    #[test]
    fn ownership_is_by_name_and_namespace() {
        let r = Record {
            ifaces: vec![OwnedIface {
                ns: Some("lt-0001-r".into()),
                name: "lt-0001-j".into(),
            }],
            ..Record::default()
        };
        assert!(r.owns_iface(Some("lt-0001-r"), "lt-0001-j"));
        assert!(!r.owns_iface(None, "lt-0001-j"));
        assert!(!r.owns_iface(Some("lt-0001-r"), "eth0"));
    }
}
