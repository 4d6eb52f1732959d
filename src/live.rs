//! The run's live state, shared by the tasks that change it (participants, metrics) and the views
//! that show it (the progress line). Counters only: the results directory stays the one truth.

use std::sync::atomic::{AtomicUsize, Ordering};

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
