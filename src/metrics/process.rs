//! A media server running on this machine (the sandbox's Janus), sampled from `/proc/<pid>`: its CPU in
//! cores and its resident memory, so a local run has server CPU on the same timeline as a JVB would.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::Row;
use crate::results::SourceName;
use crate::results::names::metric;
use crate::scenario::ProcessSource;

/// Linux reports process CPU time in clock ticks of `USER_HZ`, which is 100 on every mainstream
/// architecture (it is fixed in the kernel ABI, independent of `CONFIG_HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks per pid at a sample, and when it was taken.
type Ticks = (Option<DateTime<Utc>>, HashMap<u32, u64>);

/// Samples every process whose `/proc/<pid>/comm` equals the configured command.
#[derive(Debug)]
pub struct Process {
    name: String,
    command: String,
    /// CPU ticks per pid at the previous sample, and when.
    prev: Mutex<Ticks>,
}

/// One process's CPU ticks (user + system) and resident bytes.
fn read_pid(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command, which may itself hold spaces or parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime and stime are fields 14 and 15.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    Some((ticks, rss_kb * 1024.0))
}

impl Process {
    /// For a `[[metrics.process]]` entry.
    pub fn new(cfg: &ProcessSource) -> Process {
        Process {
            name: cfg.name.clone(),
            command: cfg.command.clone(),
            prev: Mutex::default(),
        }
    }

    /// The `source` column of its rows.
    pub fn source(&self) -> SourceName {
        SourceName::Process(self.name.clone())
    }

    fn pids(&self) -> Result<Vec<u32>, String> {
        let dir = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
        Ok(dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim_end() == self.command)
            })
            .collect())
    }

    /// One sample: `process_count`, `process_resident_bytes` and, from the second sample on,
    /// `process_cpu_cores` (summed over the matching processes). No matching process is an error.
    pub fn sample(&self, now: DateTime<Utc>) -> Result<Vec<Row>, String> {
        let src = self.source();
        let mut ticks = HashMap::new();
        let mut rss = 0.0;
        for pid in self.pids()? {
            if let Some((t, r)) = read_pid(pid) {
                ticks.insert(pid, t);
                rss += r;
            }
        }
        if ticks.is_empty() {
            return Err(format!("no process named {:?} is running", self.command));
        }
        let mut rows = vec![
            Row::at(
                now,
                &src,
                metric::PROCESS_COUNT,
                String::new(),
                ticks.len() as f64,
            ),
            Row::at(
                now,
                &src,
                metric::PROCESS_RESIDENT_BYTES,
                String::new(),
                rss,
            ),
        ];
        let mut prev = self.prev.lock().map_err(|_| "poisoned".to_string())?;
        if let Some(at) = prev.0 {
            let dt = (now - at).num_milliseconds() as f64 / 1000.0;
            if dt > 0.0 {
                // Processes that were already there last time; a restarted one starts a new baseline.
                let used: u64 = ticks
                    .iter()
                    .filter_map(|(pid, t)| Some(t.saturating_sub(*prev.1.get(pid)?)))
                    .sum();
                rows.push(Row::at(
                    now,
                    &src,
                    metric::PROCESS_CPU_CORES,
                    String::new(),
                    used as f64 / TICKS_PER_SECOND / dt,
                ));
            }
        }
        *prev = (Some(now), ticks);
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_busy_process_in_cores() {
        // A child that spins one core, under a command name of its own (comm follows the name the
        // binary was executed by, so a symlink gives it one).
        let dir = tempfile::tempdir().unwrap();
        let name = format!("ltspin{}", std::process::id() % 100_000);
        let link = dir.path().join(&name);
        std::os::unix::fs::symlink("/bin/sh", &link).unwrap();
        let mut child = std::process::Command::new(&link)
            .args(["-c", "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let p = Process::new(&ProcessSource {
            name: "spin".into(),
            command: name,
            media_address: None,
        });
        let t0 = Utc::now();
        let first = p.sample(t0).unwrap();
        assert!(first.iter().all(|r| r.metric != metric::PROCESS_CPU_CORES));
        assert!(
            first
                .iter()
                .any(|r| r.metric == metric::PROCESS_RESIDENT_BYTES && r.value > 0.0)
        );
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let second = p.sample(Utc::now()).unwrap();
        let cpu = second
            .iter()
            .find(|r| r.metric == metric::PROCESS_CPU_CORES)
            .unwrap();
        assert_eq!(cpu.source.to_string(), "process:spin");
        // One spinning shell is at most one core; on a busy 2-core machine it still gets a good share.
        assert!(cpu.value > 0.2 && cpu.value < 1.1, "{}", cpu.value);
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn a_missing_process_is_a_gap() {
        let p = Process::new(&ProcessSource {
            name: "x".into(),
            command: "no-such-command-here".into(),
            media_address: None,
        });
        assert!(
            p.sample(Utc::now())
                .unwrap_err()
                .contains("no process named")
        );
    }
}
