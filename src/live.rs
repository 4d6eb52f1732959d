//! The run's live state, shared by the tasks that change it (participants, metrics) and the views
//! that read it (the progress line, the limit search, the metrics endpoint). Counters and each
//! participant's phase, role and node only: the results directory stays the one truth.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::schedule::{ParticipantId, Role};

/// Where a participant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for its join time.
    Scheduled,
    /// Creating a session, loading, joining.
    Joining,
    /// In the call (media may not flow yet: see [`Tally::media`]).
    InCall,
    /// Hanging up after a good call.
    Leaving,
    /// Ended completed.
    Done,
    /// Ended failed.
    Failed,
}

const PHASES: usize = 6;

impl Phase {
    /// The name a view shows: `scheduled`, `joining`, `in_call`, `failed`, `done`. Leaving counts as
    /// in call, as on the progress line.
    pub fn view_name(self) -> &'static str {
        match self {
            Phase::Scheduled => "scheduled",
            Phase::Joining => "joining",
            Phase::InCall | Phase::Leaving => "in_call",
            Phase::Failed => "failed",
            Phase::Done => "done",
        }
    }
}

/// One participant's live state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    phase: Phase,
    media: bool,
    role: Role,
    /// Where its browser runs (empty until its session exists); shared between participants.
    node: Arc<str>,
}

/// What a view sees of one participant ([`Tally::each`]).
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Its id (the conference is `id.conference`).
    pub id: ParticipantId,
    /// Its phase.
    pub phase: Phase,
    /// Its role.
    pub role: Role,
    /// Its node (`local`, a grid node URI, or empty before its session exists).
    pub node: &'a str,
}

/// Counts per phase and each participant's phase, updated by participant tasks.
#[derive(Debug, Default)]
pub struct Tally {
    counts: [AtomicUsize; PHASES],
    gaps: AtomicUsize,
    roster: Mutex<HashMap<ParticipantId, State>>,
    /// Node names, interned: a few nodes carry thousands of participants.
    nodes: Mutex<HashMap<String, Arc<str>>>,
}

impl Tally {
    /// A tally with these participants scheduled.
    pub fn new(ids: impl IntoIterator<Item = (ParticipantId, Role)>) -> Tally {
        let t = Tally::default();
        t.schedule(ids);
        t
    }

    /// Add participants with their roles to the schedule (a run that grows, like the limit search).
    pub fn schedule(&self, ids: impl IntoIterator<Item = (ParticipantId, Role)>) {
        if let Ok(mut r) = self.roster.lock() {
            for (id, role) in ids {
                let fresh = State {
                    phase: Phase::Scheduled,
                    media: false,
                    role,
                    node: Arc::from(""),
                };
                if r.insert(id, fresh).is_none() {
                    self.counts[Phase::Scheduled as usize].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Move a participant to `to`.
    pub fn set(&self, id: ParticipantId, to: Phase) {
        let Ok(mut r) = self.roster.lock() else {
            return;
        };
        let Some(s) = r.get_mut(&id) else { return };
        if s.phase != to {
            let _ = self.counts[s.phase as usize].fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |v| v.checked_sub(1),
            );
            self.counts[to as usize].fetch_add(1, Ordering::Relaxed);
            s.phase = to;
        }
    }

    /// A participant's media flows.
    pub fn media(&self, id: ParticipantId) {
        if let Ok(mut r) = self.roster.lock()
            && let Some(s) = r.get_mut(&id)
        {
            s.media = true;
        }
    }

    /// Where a participant's browser runs, once its session exists.
    pub fn node(&self, id: ParticipantId, node: &str) {
        let interned = match self.nodes.lock() {
            Ok(mut n) => n
                .entry(node.to_string())
                .or_insert_with(|| Arc::from(node))
                .clone(),
            Err(_) => Arc::from(node),
        };
        if let Ok(mut r) = self.roster.lock()
            && let Some(s) = r.get_mut(&id)
        {
            s.node = interned;
        }
    }

    /// Visit every scheduled participant (under the roster's lock: keep `f` short).
    pub fn each(&self, mut f: impl FnMut(Seen<'_>)) {
        if let Ok(r) = self.roster.lock() {
            for (id, s) in r.iter() {
                f(Seen {
                    id: *id,
                    phase: s.phase,
                    role: s.role,
                    node: &s.node,
                });
            }
        }
    }

    /// Whether each of `ids` got media flowing or ended; those not yet settled are counted.
    pub fn unsettled(&self, ids: &[ParticipantId]) -> usize {
        let Ok(r) = self.roster.lock() else {
            return ids.len();
        };
        ids.iter()
            .filter(|id| {
                r.get(id)
                    .is_some_and(|s| !s.media && !matches!(s.phase, Phase::Done | Phase::Failed))
            })
            .count()
    }

    /// A participant's phase, when it is scheduled.
    pub fn phase(&self, id: ParticipantId) -> Option<Phase> {
        self.roster.lock().ok()?.get(&id).map(|s| s.phase)
    }

    /// Participants in a phase.
    pub fn get(&self, p: Phase) -> usize {
        self.counts[p as usize].load(Ordering::Relaxed)
    }

    /// Participants ever scheduled.
    pub fn total(&self) -> usize {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
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

    fn id(i: u32) -> ParticipantId {
        ParticipantId {
            conference: 0,
            index: i,
        }
    }

    fn roles(ids: &[u32]) -> Vec<(ParticipantId, Role)> {
        ids.iter().map(|&i| (id(i), Role::Video)).collect()
    }

    #[test]
    fn tally_moves_participants() {
        let t = Tally::new(roles(&[0, 1, 2]));
        t.set(id(0), Phase::Joining);
        t.set(id(0), Phase::InCall);
        t.set(id(1), Phase::Failed);
        assert_eq!(
            t.line(),
            "scheduled 1 · joining 0 · in call 1 · failed 1 · done 0"
        );
        t.set(id(9), Phase::Done);
        assert_eq!(t.get(Phase::Done), 0, "unknown participants change nothing");
        assert_eq!(
            t.unsettled(&[id(0), id(1), id(2)]),
            2,
            "in call without media is not settled"
        );
        t.media(id(0));
        assert_eq!(t.unsettled(&[id(0), id(1)]), 0);
        t.schedule(roles(&[2, 3]));
        assert_eq!(t.total(), 4, "scheduling twice counts once");
    }

    #[test]
    fn views_see_phase_role_and_node() {
        let t = Tally::new(roles(&[0, 1]));
        t.node(id(0), "http://node-a:5555");
        t.set(id(0), Phase::Leaving);
        let mut seen = Vec::new();
        t.each(|s| seen.push((s.id.index, s.phase.view_name(), s.role, s.node.to_string())));
        seen.sort_by_key(|s| s.0);
        assert_eq!(
            seen,
            vec![
                (0, "in_call", Role::Video, "http://node-a:5555".to_string()),
                (1, "scheduled", Role::Video, String::new()),
            ]
        );
    }
}
