//! Who sent a received stream: a page names a stream's sender the way its target does (the Janus page by
//! the sender's display name, which is its participant id; Jitsi by the sender's *endpoint id*, e.g.
//! `abcd1234`). Every page reports its own name in each take ([`Take::me`](super::Take::me)); the
//! [`Aliases`] map those names back to participant ids, so a receiver's samples join with the sender's
//! capture log.

use std::collections::HashMap;

use crate::schedule::ParticipantId;

/// Names pages give each other, mapped to participant ids.
#[derive(Debug, Default)]
pub struct Aliases {
    /// Page name → participant id. A participant whose page rejoined (a reload: a new endpoint id)
    /// keeps its old names too, so frames sent under them before the rejoin still join.
    names: HashMap<String, String>,
}

impl Aliases {
    /// Record that other pages call `participant` by `name` (idempotent; registering again after a
    /// rejoin adds the new name; a name taken over by another participant now means that one).
    pub fn register(&mut self, name: &str, participant: &str) {
        if name.is_empty() || name == participant {
            return;
        }
        if self.names.get(name).map(String::as_str) != Some(participant) {
            self.names.insert(name.to_string(), participant.to_string());
        }
    }

    /// The participant a page's `name` for a sender stands for: a registered alias, else the name
    /// itself when it is a participant id (the Janus page's names); `None` for an endpoint no
    /// participant of this run registered (a sender outside the run, or the Jitsi FIXTURE's bridge).
    pub fn resolve(&self, name: &str) -> Option<String> {
        match self.names.get(name) {
            Some(p) => Some(p.clone()),
            None => name.parse::<ParticipantId>().ok().map(|_| name.to_string()),
        }
    }

    /// Names registered.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Nothing registered.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_resolve_to_participants_and_rejoins_keep_old_names() {
        let mut a = Aliases::default();
        assert!(a.is_empty());
        assert_eq!(
            a.resolve("c0p1").as_deref(),
            Some("c0p1"),
            "Janus: the name is the id"
        );
        assert_eq!(a.resolve("abcd1234"), None, "an endpoint nobody registered");
        a.register("e1e1e1e1", "c0p0");
        a.register("e1e1e1e1", "c0p0");
        assert_eq!(a.len(), 1, "registering again changes nothing");
        assert_eq!(a.resolve("e1e1e1e1").as_deref(), Some("c0p0"));
        // c0p0's page reloaded: a new endpoint id; frames sent under the old one still resolve.
        a.register("f2f2f2f2", "c0p0");
        assert_eq!(a.resolve("f2f2f2f2").as_deref(), Some("c0p0"));
        assert_eq!(a.resolve("e1e1e1e1").as_deref(), Some("c0p0"));
        // An endpoint id taken over by another participant means that one from now on.
        a.register("e1e1e1e1", "c0p2");
        assert_eq!(a.resolve("e1e1e1e1").as_deref(), Some("c0p2"));
        // A page naming itself by its participant id (Janus) or by nothing registers nothing.
        a.register("c0p3", "c0p3");
        a.register("", "c0p3");
        assert_eq!(a.len(), 2);
    }
}
