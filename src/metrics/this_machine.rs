//! This machine's CPU, memory and network from `/proc`, without Prometheus. When the browsers run
//! here (the local driver) this machine is a load generator and its rows are `generator_*` from source
//! `generator:<host>`; when they run on a grid it only controls them, and its rows are `controller_*`
//! from `controller:<host>`, so the saturation guard never mistakes the controller for a generator.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::Row;
use crate::results::SourceName;
use crate::results::names::metric;

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
pub struct ThisMachine {
    host: String,
    generator: bool,
    prev: Mutex<Counters>,
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

impl ThisMachine {
    /// For this machine; `generator` when it runs the browsers.
    pub fn new(generator: bool) -> ThisMachine {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        ThisMachine {
            host,
            generator,
            prev: Mutex::default(),
        }
    }

    /// The `source` column of its rows.
    pub fn source(&self) -> SourceName {
        if self.generator {
            SourceName::Generator(self.host.clone())
        } else {
            SourceName::Controller(self.host.clone())
        }
    }

    /// A metric's name for this machine's role (`generator_*` or `controller_*`).
    fn name(&self, generator_metric: &str) -> String {
        if self.generator {
            generator_metric.to_string()
        } else {
            generator_metric.replacen(metric::GENERATOR_PREFIX, metric::CONTROLLER_PREFIX, 1)
        }
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
                &self.name(metric::GENERATOR_MEMORY_AVAILABLE_BYTES),
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
            &self.name(metric::GENERATOR_CORES),
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
                    &self.name(metric::GENERATOR_CPU_RATIO),
                    String::new(),
                    busy.clamp(0.0, 1.0),
                ));
            }
            if dt > 0.0 {
                rows.push(Row::at(
                    now,
                    &src,
                    &self.name(metric::GENERATOR_NETWORK_TRANSMIT_BYTES_PER_SECOND),
                    String::new(),
                    tx.saturating_sub(prev.tx) as f64 / dt,
                ));
                rows.push(Row::at(
                    now,
                    &src,
                    &self.name(metric::GENERATOR_NETWORK_RECEIVE_BYTES_PER_SECOND),
                    String::new(),
                    rx.saturating_sub(prev.rx) as f64 / dt,
                ));
            }
        }
        *prev = cur;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_after_two_samples_named_for_the_role() {
        let g = ThisMachine::new(true);
        let first = g.sample(Utc::now()).unwrap();
        assert!(
            first
                .iter()
                .all(|r| r.metric != metric::GENERATOR_CPU_RATIO)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        let second = g.sample(Utc::now()).unwrap();
        let cpu = second
            .iter()
            .find(|r| r.metric == metric::GENERATOR_CPU_RATIO)
            .unwrap();
        assert!((0.0..=1.0).contains(&cpu.value));
        assert!(matches!(cpu.source, SourceName::Generator(_)));
        assert!(
            second
                .iter()
                .any(|r| r.metric == metric::GENERATOR_MEMORY_AVAILABLE_BYTES && r.value > 0.0)
        );
        // Browsers on a grid: this machine is the controller, never counted as a generator.
        let c = ThisMachine::new(false);
        let rows = c.sample(Utc::now()).unwrap();
        assert!(rows.iter().all(|r| r.metric.starts_with("controller_")));
        assert!(
            rows.iter()
                .all(|r| matches!(r.source, SourceName::Controller(_)))
        );
    }
}
