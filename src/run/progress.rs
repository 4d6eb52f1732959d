//! Live progress: participants scheduled / joining / in call / failed, elapsed and remaining.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its join time.
    Scheduled,
    /// Creating a session, loading, joining, waiting for media.
    Joining,
    /// In the call.
    InCall,
    /// Hanging up after a good call.
    Leaving,
    /// Ended ok.
    Done,
    /// Ended failed.
    Failed,
}

const PHASES: usize = 6;

/// Counts per phase, updated by participant tasks.
#[derive(Debug, Default)]
pub struct Tally {
    counts: [AtomicUsize; PHASES],
    gaps: AtomicUsize,
}

impl Tally {
    /// A tally with `n` participants scheduled.
    pub fn new(n: usize) -> Tally {
        let t = Tally::default();
        t.counts[Phase::Scheduled as usize].store(n, Ordering::Relaxed);
        t
    }
    /// Move one participant between phases.
    pub fn set(&self, from: Phase, to: Phase) {
        let _ =
            self.counts[from as usize]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        self.counts[to as usize].fetch_add(1, Ordering::Relaxed);
    }
    /// Participants in a phase.
    pub fn get(&self, p: Phase) -> usize {
        self.counts[p as usize].load(Ordering::Relaxed)
    }
    /// Record a metrics gap (a source that failed a sample).
    pub fn gap(&self) {
        self.gaps.fetch_add(1, Ordering::Relaxed);
    }
    /// One line: `scheduled 3 · joining 2 · in call 5 · failed 0 · done 1` (and metric gaps, if any).
    pub fn line(&self) -> String {
        let gaps = self.gaps.load(Ordering::Relaxed);
        format!(
            "scheduled {} · joining {} · in call {} · failed {} · done {}{}",
            self.get(Phase::Scheduled),
            self.get(Phase::Joining),
            self.get(Phase::InCall) + self.get(Phase::Leaving),
            self.get(Phase::Failed),
            self.get(Phase::Done),
            if gaps > 0 {
                format!(" · warning: {gaps} metric gaps")
            } else {
                String::new()
            }
        )
    }
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

/// Draw progress until `stop` fires: a bar on a terminal, a line every 10 s otherwise.
pub async fn show(
    tally: Arc<Tally>,
    total: usize,
    length: Duration,
    start: Instant,
    stop: CancellationToken,
) {
    let tty = std::io::stderr().is_terminal();
    let bar = if tty {
        let b = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Some(b)
    } else {
        None
    };
    let mut last_line = Instant::now() - Duration::from_secs(10);
    loop {
        let elapsed = start.elapsed();
        let msg = format!(
            "{} · elapsed {} · remaining {}",
            tally.line(),
            mmss(elapsed),
            mmss(length.saturating_sub(elapsed))
        );
        match &bar {
            Some(b) => {
                b.set_position((tally.get(Phase::Done) + tally.get(Phase::Failed)) as u64);
                b.set_message(msg);
                b.tick();
            }
            None if last_line.elapsed() >= Duration::from_secs(10) => {
                eprintln!("{msg}");
                last_line = Instant::now();
            }
            None => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.cancelled() => break,
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!("{} · elapsed {}", tally.line(), mmss(start.elapsed()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_moves_participants() {
        let t = Tally::new(3);
        t.set(Phase::Scheduled, Phase::Joining);
        t.set(Phase::Joining, Phase::InCall);
        t.set(Phase::Scheduled, Phase::Failed);
        assert_eq!(
            t.line(),
            "scheduled 1 · joining 0 · in call 1 · failed 1 · done 0"
        );
        t.set(Phase::Done, Phase::Failed);
        assert_eq!(t.get(Phase::Done), 0, "never below zero");
    }
}
