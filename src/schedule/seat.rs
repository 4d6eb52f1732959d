//! Seating for pages whose clients all run from one URL (the Jitsi load-test page's `numClients`):
//! page-mates must share a conference and a role, so they are grouped by (step, conference, role) in
//! join order, `[load] participants_per_page` to a page and `participants_per_browser` pages to a
//! browser. The page starts its clients itself, client `k` a `clientInterval` after client `k − 1`,
//! so each participant's place there is fixed before the page opens. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{ParticipantId, Role, ScheduledParticipant};
use crate::scenario::Packing;

/// Where a participant sits on a page that runs all its clients itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// The page, numbered across the run.
    pub page: usize,
    /// The browser (WebDriver session) group, numbered across the run.
    pub browser: usize,
    /// Its client on the page (0: the first the page starts).
    pub client: usize,
    /// How many clients the page starts (`numClients`).
    pub clients: usize,
    /// The pause between two clients' starts (`clientInterval`): the page-mates' schedule spread
    /// evenly, so the last starts when the schedule says.
    pub interval: Duration,
}

/// Hands out pages and browsers across the batches of a run (a growing run seats each step).
#[derive(Debug, Default)]
pub struct Seating {
    next_page: usize,
    next_browser: usize,
}

impl Seating {
    /// Seat one batch of participants (e.g. a run's schedule or one step of a growing run).
    pub fn place(
        &mut self,
        plans: &[ScheduledParticipant],
        packing: Packing,
    ) -> Vec<(ParticipantId, Seat)> {
        let mut groups: BTreeMap<(Option<u32>, u32, Role), Vec<&ScheduledParticipant>> =
            BTreeMap::new();
        for p in plans {
            groups
                .entry((p.step, p.conference, p.role))
                .or_default()
                .push(p);
        }
        let mut groups: Vec<Vec<&ScheduledParticipant>> = groups.into_values().collect();
        for g in &mut groups {
            g.sort_by_key(|p| p.order);
        }
        // Pages are numbered in the join order of their first member.
        groups.sort_by_key(|g| g.first().map(|p| p.order));
        let per_page = packing.per_page.max(1) as usize;
        let per_browser = packing.per_browser.max(1) as usize;
        let mut seats = Vec::with_capacity(plans.len());
        for group in groups {
            for browser in group.chunks(per_page * per_browser) {
                let b = self.next_browser;
                self.next_browser += 1;
                for page in browser.chunks(per_page) {
                    let n = self.next_page;
                    self.next_page += 1;
                    let interval = spread(page);
                    for (client, p) in page.iter().enumerate() {
                        let seat = Seat {
                            page: n,
                            browser: b,
                            client,
                            clients: page.len(),
                            interval,
                        };
                        seats.push((p.id, seat));
                    }
                }
            }
        }
        seats
    }
}

/// The most browser sessions open at once when the run's participants are seated (a page's last seat
/// may hold fewer, so this can exceed [`super::peak_browsers`] at the same packing).
pub fn peak_browsers(plans: &[ScheduledParticipant], packing: Packing) -> usize {
    let seats: std::collections::HashMap<ParticipantId, usize> = Seating::default()
        .place(plans, packing)
        .into_iter()
        .map(|(id, s)| (id, s.browser))
        .collect();
    super::peak_browsers_by(plans, |p| {
        seats.get(&p.id).copied().unwrap_or(usize::MAX - p.order)
    })
}

/// The page-mates' joins spread evenly: first to last over the gaps between them.
fn spread(page: &[&ScheduledParticipant]) -> Duration {
    match (page.first(), page.last()) {
        (Some(a), Some(b)) if page.len() > 1 => {
            b.join_offset.saturating_sub(a.join_offset) / (page.len() - 1) as u32
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Load;

    fn load(extra: &str) -> Load {
        let src = format!(
            "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[target.jitsi]\npage = \"load-test\"\n[load]\n{extra}\nduration = \"10s\"\n"
        );
        crate::scenario::parse(&src, std::path::Path::new("t.toml"), &[])
            .unwrap()
            .scenario
            .load
    }

    #[test]
    fn page_mates_share_a_conference_and_a_role() {
        // 2 conferences of 5: 2 video senders, 3 receivers each; join order interleaves conferences.
        let l = load(
            "conferences = 2\nparticipants_per_conference = 5\nvideo_senders = 2\naudio_senders = 0\njoin_delay = \"1s\"",
        );
        let plans = super::super::expand(&l);
        let seats = Seating::default().place(
            &plans,
            Packing {
                per_browser: 1,
                per_page: 2,
            },
        );
        assert_eq!(seats.len(), 10);
        let of = |id: &str| seats.iter().find(|(p, _)| p.to_string() == id).unwrap().1;
        for (_, s) in &seats {
            let mates: Vec<_> = seats.iter().filter(|(_, t)| t.page == s.page).collect();
            let first = plans.iter().find(|p| p.id == mates[0].0).unwrap();
            for (id, _) in &mates {
                let p = plans.iter().find(|p| p.id == *id).unwrap();
                assert_eq!((p.conference, p.role), (first.conference, first.role));
            }
            assert_eq!(mates.len(), s.clients);
        }
        // Conference 0's senders share a page, its 3 receivers fill a page of 2 and one of 1.
        assert_eq!(of("c0p0").page, of("c0p1").page);
        assert_eq!((of("c0p0").client, of("c0p1").client), (0, 1));
        assert_eq!(of("c0p2").page, of("c0p3").page);
        assert_eq!(of("c0p4").clients, 1);
        assert_ne!(of("c0p0").page, of("c1p0").page);
        // Joins 1 s apart per index: the page's clients start 1 s apart.
        assert_eq!(of("c0p0").interval, Duration::from_secs(1));
        assert_eq!(of("c0p4").interval, Duration::ZERO);
        // 6 pages, numbered in join order of their first member: c0p0's page first.
        let pages: std::collections::BTreeSet<_> = seats.iter().map(|(_, s)| s.page).collect();
        assert_eq!(pages.len(), 6);
        assert_eq!(of("c0p0").page, 0);
        // Everyone stays to the end: 6 browsers, one more than 10 in twos by join order.
        let two = Packing {
            per_browser: 1,
            per_page: 2,
        };
        assert_eq!(peak_browsers(&plans, two), 6);
        assert_eq!(super::super::peak_browsers(&plans, 2), 5);
        // validate's schedule says where everyone sits.
        let mut sc = crate::scenario::parse(
            "[target]\nkind = \"jitsi\"\nurl = \"https://meet.example\"\n[target.jitsi]\npage = \"load-test\"\n[load]\nconferences = 2\nparticipants_per_conference = 5\nvideo_senders = 2\naudio_senders = 0\njoin_delay = \"1s\"\nparticipants_per_page = 2\nduration = \"10s\"\n",
            std::path::Path::new("t.toml"),
            &[],
        )
        .unwrap()
        .scenario;
        let text = super::super::describe(&sc, &plans);
        assert!(
            text.contains("pages: 6 load-test pages in 6 browsers"),
            "{text}"
        );
        assert!(
            text.contains("c0p4     receiver") && text.contains("page 3 client 0/1"),
            "{text}"
        );
        sc.target.jitsi.page = crate::scenario::JitsiPage::App;
        assert!(!super::super::describe(&sc, &plans).contains("pages:"));
    }

    #[test]
    fn pages_share_browsers_within_a_group_and_numbers_continue_across_batches() {
        let l = load("conferences = 1\nparticipants_per_conference = 6\nvideo_senders = 6");
        let plans = super::super::expand(&l);
        let packing = Packing {
            per_browser: 2,
            per_page: 2,
        };
        let mut seating = Seating::default();
        let first = seating.place(&plans[..4], packing);
        let browsers: std::collections::BTreeSet<_> =
            first.iter().map(|(_, s)| s.browser).collect();
        let pages: std::collections::BTreeSet<_> = first.iter().map(|(_, s)| s.page).collect();
        assert_eq!(
            (browsers.len(), pages.len()),
            (1, 2),
            "4 in one browser of 2 pages"
        );
        let second = seating.place(&plans[4..], packing);
        assert!(second.iter().all(|(_, s)| s.page == 2 && s.browser == 1));
    }
}
