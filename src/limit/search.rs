//! The search itself, pure: given how each step went, what comes next. The executor ([`super`]) runs
//! steps on the live test; this decides their loads and when to stop.
//!
//! Loads are values of what grows (`[limit] grow`): conferences, or participants per conference.
//! Steps grow from `start` by `step` up to `max`. A step that fails (confirmed) ends the search with
//! the limit between the last step that held and it; with a `resolution`, the search first bisects that
//! gap — it keeps the load of the last step that held, removes the rest, and grows to the midpoint —
//! until the gap is no wider than the resolution.

use crate::results::Stop;
use crate::scenario::Limit;

/// How a step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its service levels held.
    Holds,
    /// It failed its service levels (confirmed when `[limit] confirm`).
    Fails,
    /// The load generators saturated.
    GeneratorBound,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep the first `keep` units in the call (remove the rest, newest first), then grow to `to`.
    Step {
        /// Units to keep.
        keep: u32,
        /// The load to reach.
        to: u32,
    },
    /// Stop, for this reason.
    Stop(Stop),
}

/// The search's state.
#[derive(Debug, Clone)]
pub struct Search {
    cfg: Limit,
    /// The load in the call now.
    current: u32,
    /// The largest load that held.
    pub last_good: Option<u32>,
    /// The smallest load that failed.
    pub first_bad: Option<u32>,
}

impl Search {
    /// A search with nothing in the call yet.
    pub fn new(cfg: Limit) -> Search {
        Search {
            cfg,
            current: 0,
            last_good: None,
            first_bad: None,
        }
    }

    /// The first step.
    pub fn first(&self) -> Next {
        Next::Step {
            keep: 0,
            to: self.cfg.start.min(self.cfg.max),
        }
    }

    /// Record how the step that reached `load` went, and say what comes next.
    pub fn record(&mut self, load: u32, outcome: Outcome) -> Next {
        self.current = load;
        match outcome {
            Outcome::GeneratorBound => Next::Stop(Stop::GeneratorBound),
            Outcome::Holds => {
                self.last_good = Some(self.last_good.map_or(load, |g| g.max(load)));
                match self.first_bad {
                    Some(bad) => self.bisect(load, bad),
                    None if load >= self.cfg.max => Next::Stop(Stop::MaximumHeld),
                    None => Next::Step {
                        keep: load,
                        to: self.cfg.step.next(load).min(self.cfg.max),
                    },
                }
            }
            Outcome::Fails => {
                self.first_bad = Some(self.first_bad.map_or(load, |b| b.min(load)));
                match self.last_good {
                    Some(good) => self.bisect(good, load.min(self.first_bad.unwrap_or(load))),
                    None => Next::Stop(Stop::LimitFound),
                }
            }
        }
    }

    /// Between a load that held and one that failed: the midpoint, or stop when the gap is within the
    /// resolution (or bisection is off).
    fn bisect(&self, good: u32, bad: u32) -> Next {
        let gap = bad.saturating_sub(good);
        if self.cfg.resolution == 0 || gap <= self.cfg.resolution {
            return Next::Stop(Stop::LimitFound);
        }
        let mid = good + gap / 2;
        let keep = if mid > self.current {
            self.current
        } else {
            good
        };
        Next::Step { keep, to: mid }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Dur, Grow, Increment};

    fn cfg(step: Increment, max: u32, resolution: u32) -> Limit {
        Limit {
            grow: Grow::Conferences,
            start: 2,
            step,
            max,
            hold: Dur::from_secs(10),
            confirm: true,
            resolution,
            min_recv_bitrate_ratio: None,
        }
    }

    /// Run the search against a server that holds up to `capacity`.
    fn against(cfg: Limit, capacity: u32) -> (Vec<u32>, Stop, Search) {
        let mut s = Search::new(cfg);
        let mut loads = Vec::new();
        let mut next = s.first();
        loop {
            match next {
                Next::Stop(stop) => return (loads, stop, s),
                Next::Step { keep, to } => {
                    assert!(keep <= to, "keep {keep} to {to}");
                    loads.push(to);
                    let o = if to <= capacity {
                        Outcome::Holds
                    } else {
                        Outcome::Fails
                    };
                    next = s.record(to, o);
                }
            }
        }
    }

    #[test]
    fn steps_up_to_the_first_failure() {
        let (loads, stop, s) = against(cfg(Increment::Add(2), 20, 0), 7);
        assert_eq!(loads, [2, 4, 6, 8]);
        assert_eq!(stop, Stop::LimitFound);
        assert_eq!((s.last_good, s.first_bad), (Some(6), Some(8)));
    }

    #[test]
    fn factors_and_the_maximum() {
        let (loads, stop, _) = against(cfg(Increment::Factor(2.0), 12, 0), 100);
        assert_eq!(
            loads,
            [2, 4, 8, 12],
            "the last step is capped at the maximum"
        );
        assert_eq!(stop, Stop::MaximumHeld);
    }

    #[test]
    fn bisection_narrows_the_gap_to_the_resolution() {
        let (loads, stop, s) = against(cfg(Increment::Factor(2.0), 64, 1), 11);
        assert_eq!(loads, [2, 4, 8, 16, 12, 10, 11]);
        assert_eq!(stop, Stop::LimitFound);
        assert_eq!((s.last_good, s.first_bad), (Some(11), Some(12)));
    }

    #[test]
    fn a_failing_first_step_and_saturated_generators_stop_at_once() {
        let (loads, stop, s) = against(cfg(Increment::Add(1), 5, 1), 1);
        assert_eq!(
            (loads, stop, s.last_good),
            (vec![2], Stop::LimitFound, None)
        );
        let mut s = Search::new(cfg(Increment::Add(1), 5, 0));
        assert_eq!(
            s.record(2, Outcome::GeneratorBound),
            Next::Stop(Stop::GeneratorBound)
        );
    }

    #[test]
    fn shrinking_keeps_the_last_good_load() {
        let mut s = Search::new(cfg(Increment::Factor(2.0), 64, 1));
        assert_eq!(s.record(2, Outcome::Holds), Next::Step { keep: 2, to: 4 });
        assert_eq!(s.record(4, Outcome::Holds), Next::Step { keep: 4, to: 8 });
        // 8 fails: keep 4, grow to 6.
        assert_eq!(s.record(8, Outcome::Fails), Next::Step { keep: 4, to: 6 });
        // 6 fails: keep 4, grow to 5.
        assert_eq!(s.record(6, Outcome::Fails), Next::Step { keep: 4, to: 5 });
        assert_eq!(s.record(5, Outcome::Holds), Next::Stop(Stop::LimitFound));
    }
}
