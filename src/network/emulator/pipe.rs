//! One direction of an emulated link, as pure logic over arrival times: loss on arrival, then a
//! drop-tail queue served at the link rate, then the propagation delay with jitter. Packets leave in
//! the order they came (a FIFO link does not reorder). Tested without devices or clocks.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::loss::{LossModel, Rng};
use super::profile::{Profile, Rate};

/// What one direction does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Rate (`None`: not limited, no queue).
    pub rate: Option<Rate>,
    /// One-way delay.
    pub delay: Duration,
    /// ± jitter on the delay.
    pub jitter: Duration,
    /// Drop-tail queue, as time at `rate`.
    pub queue: Duration,
}

impl Params {
    /// The `up` (out of the namespace) or down direction of a profile.
    pub fn of(p: &Profile, up: bool) -> Params {
        Params {
            rate: if up { p.up } else { p.down },
            delay: p.delay,
            jitter: p.jitter,
            queue: p.queue,
        }
    }
}

/// What became of an offered packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Leaves the link at this time.
    Deliver(Instant),
    /// Lost by the loss model.
    Lost,
    /// The queue was full.
    QueueFull,
    /// The link is black-holed.
    BlackHoled,
}

/// One direction: packets of type `T` in flight.
#[derive(Debug)]
pub struct Pipe<T> {
    params: Params,
    loss: LossModel,
    rng: Rng,
    busy_until: Option<Instant>,
    last_out: Option<Instant>,
    flight: VecDeque<(Instant, T)>,
}

impl<T> Pipe<T> {
    /// A direction with these parameters and loss; `seed` fixes its random draws.
    pub fn new(params: Params, loss: LossModel, seed: u64) -> Pipe<T> {
        Pipe {
            params,
            loss,
            rng: Rng::new(seed),
            busy_until: None,
            last_out: None,
            flight: VecDeque::new(),
        }
    }

    /// Change what the direction does (packets in flight keep their times).
    pub fn set(&mut self, params: Params, loss: LossModel) {
        self.params = params;
        self.loss = loss;
    }

    /// Offer a packet of `len` bytes at `now`. Kept packets go in flight; a dropped one is handed
    /// back (to reuse its buffer).
    pub fn offer(
        &mut self,
        now: Instant,
        len: usize,
        item: T,
        black_hole: bool,
    ) -> (Fate, Option<T>) {
        if black_hole {
            return (Fate::BlackHoled, Some(item));
        }
        if self.loss.lose(&mut self.rng) {
            return (Fate::Lost, Some(item));
        }
        let left_queue = match self.params.rate {
            None => now,
            Some(rate) => {
                let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
                let backlog = start - now;
                let tx = rate.tx_time(len);
                if backlog + tx > self.params.queue.max(rate.tx_time(2 * 1514)) {
                    return (Fate::QueueFull, Some(item));
                }
                self.busy_until = Some(start + tx);
                start + tx
            }
        };
        let mut delay = self.params.delay.as_secs_f64();
        let j = self.params.jitter.as_secs_f64();
        if j > 0.0 {
            delay = (delay + j * (2.0 * self.rng.next_f64() - 1.0)).max(0.0);
        }
        let mut out = left_queue + Duration::from_secs_f64(delay);
        if let Some(last) = self.last_out {
            out = out.max(last);
        }
        self.last_out = Some(out);
        self.flight.push_back((out, item));
        (Fate::Deliver(out), None)
    }

    /// When the next packet is due, if any is in flight.
    pub fn next_due(&self) -> Option<Instant> {
        self.flight.front().map(|(t, _)| *t)
    }

    /// The next packet due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.flight.front().is_some_and(|(t, _)| *t <= now) {
            self.flight.pop_front().map(|(_, p)| p)
        } else {
            None
        }
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(rate: Option<&str>, delay_ms: u64, jitter_ms: u64, queue_ms: u64) -> Params {
        Params {
            rate: rate.map(|r| r.parse().unwrap()),
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            queue: Duration::from_millis(queue_ms),
        }
    }

    #[test]
    fn delay_only_shifts_every_packet() {
        let t0 = Instant::now();
        let mut p = Pipe::new(params(None, 100, 0, 0), LossModel::None, 1);
        for i in 0..10u64 {
            let at = t0 + Duration::from_millis(i);
            assert_eq!(
                p.offer(at, 1200, i, false).0,
                Fate::Deliver(at + Duration::from_millis(100))
            );
        }
        assert_eq!(p.pop_due(t0 + Duration::from_millis(99)), None);
        assert_eq!(p.pop_due(t0 + Duration::from_millis(100)), Some(0));
        assert_eq!(p.next_due(), Some(t0 + Duration::from_millis(101)));
    }

    #[test]
    fn the_rate_spaces_packets_and_a_full_queue_drops() {
        // 1 Mbit/s: 1250 bytes take 10 ms; a 50 ms queue holds 5 of them.
        let t0 = Instant::now();
        let mut p = Pipe::new(params(Some("1mbit"), 0, 0, 50), LossModel::None, 1);
        let fates: Vec<Fate> = (0..8).map(|i| p.offer(t0, 1250, i, false).0).collect();
        let ms = |m| Fate::Deliver(t0 + Duration::from_millis(m));
        assert_eq!(&fates[..5], &[ms(10), ms(20), ms(30), ms(40), ms(50)]);
        assert!(
            fates[5..].iter().all(|f| *f == Fate::QueueFull),
            "{fates:?}"
        );
        // Once the queue drains, packets flow at the rate again.
        let later = t0 + Duration::from_millis(50);
        assert_eq!(p.offer(later, 1250, 9, false).0, ms(60));
    }

    #[test]
    fn sustained_overload_delivers_the_rate() {
        // Offer 2 Mbit/s for 10 s into a 1 Mbit/s link: about 1 Mbit/s comes out.
        let t0 = Instant::now();
        let mut p = Pipe::new(params(Some("1mbit"), 20, 0, 100), LossModel::None, 1);
        let mut delivered = 0usize;
        let mut last = t0;
        for i in 0..2000u64 {
            let at = t0 + Duration::from_millis(i * 5);
            if let (Fate::Deliver(t), _) = p.offer(at, 1250, i, false) {
                delivered += 1250;
                last = t;
            }
        }
        let secs = (last - t0).as_secs_f64();
        let mbit = delivered as f64 * 8.0 / secs / 1e6;
        assert!((mbit - 1.0).abs() < 0.02, "{mbit} Mbit/s over {secs} s");
    }

    #[test]
    fn jitter_varies_delay_within_bounds_and_keeps_order() {
        let t0 = Instant::now();
        let mut p = Pipe::new(params(None, 50, 20, 0), LossModel::None, 9);
        let mut prev = t0;
        let mut spread = (Duration::MAX, Duration::ZERO);
        for i in 0..1000u64 {
            let at = t0 + Duration::from_millis(i * 10);
            let Fate::Deliver(t) = p.offer(at, 100, i, false).0 else {
                panic!("no loss configured");
            };
            assert!(t >= prev, "in order");
            prev = t;
            let d = t - at;
            spread = (spread.0.min(d), spread.1.max(d));
        }
        assert!(spread.0 >= Duration::from_millis(30) && spread.1 <= Duration::from_millis(70));
        assert!(
            spread.1 - spread.0 > Duration::from_millis(30),
            "{spread:?}"
        );
    }

    #[test]
    fn loss_and_black_hole_hand_the_packet_back() {
        let t0 = Instant::now();
        let mut p = Pipe::new(params(None, 0, 0, 0), LossModel::Random(1.0), 1);
        assert_eq!(p.offer(t0, 10, 7, false), (Fate::Lost, Some(7)));
        p.set(params(None, 0, 0, 0), LossModel::None);
        assert_eq!(p.offer(t0, 10, 8, true), (Fate::BlackHoled, Some(8)));
        assert_eq!(p.offer(t0, 10, 9, false), (Fate::Deliver(t0), None));
        assert_eq!(p.in_flight(), 1);
    }
}
