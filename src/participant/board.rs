//! What participants share about each other: open browser sessions (none may be left behind) and who
//! sends in which conference (so receivers know when remote media is due).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::schedule::{ParticipantId, Role, ScheduledParticipant};

/// Sessions alive right now, so none is left behind whatever happens, and their browsers' profile
/// directories (a local browser's processes carry it on their command line).
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    open: Arc<Mutex<HashMap<ParticipantId, String>>>,
    browsers: Arc<Mutex<HashMap<ParticipantId, String>>>,
}

impl Sessions {
    pub(crate) fn add(&self, participant: ParticipantId, session: &str) {
        if let Ok(mut m) = self.open.lock() {
            m.insert(participant, session.to_string());
        }
    }
    pub(crate) fn set_browser(&self, participant: ParticipantId, user_data_dir: &str) {
        if let Ok(mut m) = self.browsers.lock() {
            m.insert(participant, user_data_dir.to_string());
        }
    }
    pub(crate) fn remove(&self, participant: ParticipantId) {
        if let Ok(mut m) = self.open.lock() {
            m.remove(&participant);
        }
    }
    /// Sessions not closed yet: (participant, session id).
    pub fn open(&self) -> Vec<(ParticipantId, String)> {
        self.open
            .lock()
            .map(|m| m.iter().map(|(a, b)| (*a, b.clone())).collect())
            .unwrap_or_default()
    }
    /// The open session of a participant.
    pub fn session_of(&self, participant: ParticipantId) -> Option<String> {
        self.open.lock().ok()?.get(&participant).cloned()
    }
    /// The browser profile directory (`--user-data-dir`) of a participant's session, as the driver
    /// reported it.
    pub fn browser_of(&self, participant: ParticipantId) -> Option<String> {
        self.browsers.lock().ok()?.get(&participant).cloned()
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
