//! Generator self-monitoring without Prometheus: this machine's CPU, memory and network from `/proc`.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::Row;

#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    at: Option<DateTime<Utc>>,
    cpu_total: u64,
    cpu_idle: u64,
    tx: u64,
    rx: u64,
}

/// Samples `/proc/stat`, `/proc/meminfo` and `/proc/net/dev` (rates need two samples).
#[derive(Debug, Default)]
pub struct Generator {
    host: String,
    prev: Mutex<Counters>,
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

impl Generator {
    /// For this machine.
    pub fn new() -> Generator {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Generator {
            host,
            prev: Mutex::default(),
        }
    }

    /// The `source` column of its rows.
    pub fn source(&self) -> String {
        format!("generator:{}", self.host)
    }

    /// One sample.
    pub fn sample(&self, now: DateTime<Utc>) -> Result<Vec<Row>, String> {
        let src = self.source();
        let stat = read("/proc/stat")?;
        let f: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() < 5 {
            return Err("/proc/stat: unexpected format".into());
        }
        let (total, idle) = (f.iter().sum::<u64>(), f[3] + f[4]);
        let mem = read("/proc/meminfo")?;
        let kb = |key: &str| {
            mem.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        };
        let (mut tx, mut rx) = (0u64, 0u64);
        for line in read("/proc/net/dev")?.lines().skip(2) {
            let Some((iface, rest)) = line.split_once(':') else {
                continue;
            };
            if iface.trim() == "lo" {
                continue;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if v.len() >= 9 {
                rx += v[0];
                tx += v[8];
            }
        }
        let mut rows = Vec::new();
        if let Some(avail) = kb("MemAvailable:") {
            rows.push(Row::at(
                now,
                &src,
                "generator_memory_available_bytes",
                String::new(),
                avail * 1024.0,
            ));
        }
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        rows.push(Row::at(
            now,
            &src,
            "generator_cores",
            String::new(),
            cores as f64,
        ));
        let cur = Counters {
            at: Some(now),
            cpu_total: total,
            cpu_idle: idle,
            tx,
            rx,
        };
        let mut prev = self.prev.lock().map_err(|_| "poisoned")?;
        if let Some(t0) = prev.at {
            let dt = (now - t0).num_milliseconds() as f64 / 1000.0;
            let dtotal = total.saturating_sub(prev.cpu_total) as f64;
            if dtotal > 0.0 {
                let busy = 1.0 - idle.saturating_sub(prev.cpu_idle) as f64 / dtotal;
                rows.push(Row::at(
                    now,
                    &src,
                    "generator_cpu_ratio",
                    String::new(),
                    busy.clamp(0.0, 1.0),
                ));
            }
            if dt > 0.0 {
                rows.push(Row::at(
                    now,
                    &src,
                    "generator_network_transmit_bytes_per_second",
                    String::new(),
                    tx.saturating_sub(prev.tx) as f64 / dt,
                ));
                rows.push(Row::at(
                    now,
                    &src,
                    "generator_network_receive_bytes_per_second",
                    String::new(),
                    rx.saturating_sub(prev.rx) as f64 / dt,
                ));
            }
        }
        *prev = cur;
        Ok(rows)
    }
}
