//! What participants share about each other: open browser sessions (none may be left behind), who
//! sends in which conference (so receivers know when remote media is due), and who is still in the
//! room (the hang-up barrier).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::schedule::{ParticipantId, Role, ScheduledParticipant};

/// Sessions alive right now, so none is left behind whatever happens.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<ParticipantId, String>>>);

impl Sessions {
    pub(crate) fn add(&self, participant: ParticipantId, session: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(participant, session.to_string());
        }
    }
    pub(crate) fn remove(&self, participant: ParticipantId) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&participant);
        }
    }
    /// Sessions not closed yet: (participant, session id).
    pub fn open(&self) -> Vec<(ParticipantId, String)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(a, b)| (*a, b.clone())).collect())
            .unwrap_or_default()
    }
}

/// Who is in which conference right now, so receivers know when remote media is due.
#[derive(Debug, Default)]
pub struct Board {
    senders: Mutex<HashMap<u32, Senders>>,
}

/// The senders in one conference: participant id → (role, joined at).
type Senders = HashMap<ParticipantId, (Role, Instant)>;

impl Board {
    pub(crate) fn joined(&self, plan: &ScheduledParticipant) {
        if plan.role.sends()
            && let Ok(mut m) = self.senders.lock()
        {
            m.entry(plan.conference)
                .or_default()
                .insert(plan.id, (plan.role, Instant::now()));
        }
    }
    pub(crate) fn left(&self, plan: &ScheduledParticipant) {
        if let Ok(mut m) = self.senders.lock()
            && let Some(c) = m.get_mut(&plan.conference)
        {
            c.remove(&plan.id);
        }
    }
    /// Since when another sender this participant should hear or see has been in its conference.
    pub(crate) fn remote_senders_since(
        &self,
        plan: &ScheduledParticipant,
        receive_audio: bool,
    ) -> Option<Instant> {
        let m = self.senders.lock().ok()?;
        m.get(&plan.conference)?
            .iter()
            .filter(|(id, (role, _))| {
                *id != &plan.id && (role.sends_video() || (receive_audio && role.sends_audio()))
            })
            .map(|(_, (_, t))| *t)
            .min()
    }
}

/// Participants with a session that have not left yet, and the hang-up barrier: a participant that
/// hung up waits until the room is empty. Waiters are woken once, when it empties (a watch of the
/// count would wake every waiter at every departure: n² wake-ups for n participants).
#[derive(Debug)]
pub struct InRoom {
    count: Mutex<usize>,
    emptied: watch::Sender<u64>,
}

impl Default for InRoom {
    fn default() -> Self {
        InRoom {
            count: Mutex::new(0),
            emptied: watch::Sender::new(0),
        }
    }
}

impl InRoom {
    pub(crate) fn enter(&self) {
        if let Ok(mut n) = self.count.lock() {
            *n += 1;
        }
    }

    pub(crate) fn leave(&self) {
        if let Ok(mut n) = self.count.lock() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.emptied.send_modify(|e| *e += 1);
            }
        }
    }

    /// Participants in the room now.
    pub fn count(&self) -> usize {
        self.count.lock().map_or(0, |n| *n)
    }

    /// Wait until the room is empty (at once when it is).
    pub(crate) async fn until_empty(&self) {
        let mut rx = self.emptied.subscribe();
        if self.count() == 0 {
            return;
        }
        let _ = rx.changed().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_barrier_opens_when_the_room_empties() {
        let room = std::sync::Arc::new(InRoom::default());
        room.enter();
        room.enter();
        room.leave();
        let r2 = room.clone();
        let waiter = tokio::spawn(async move { r2.until_empty().await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "one is still in the room");
        room.leave();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("opens when empty")
            .unwrap();
        room.until_empty().await;
        assert_eq!(room.count(), 0);
    }
}
