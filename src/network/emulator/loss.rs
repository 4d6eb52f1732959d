//! Packet loss: independent (Bernoulli) or in bursts (a two-state Gilbert–Elliott chain that loses
//! every packet in its bad state), and the small deterministic generator both draw from.

/// SplitMix64: fast, seedable, good enough for loss and jitter draws.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (the same seed gives the same draws).
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Which packets a direction loses.
#[derive(Debug, Clone, PartialEq)]
pub enum LossModel {
    /// None.
    None,
    /// Each packet independently with this probability.
    Random(f64),
    /// Gilbert–Elliott with loss only in the bad state: per packet, good → bad with `enter`,
    /// bad → good with `leave`.
    Bursty {
        /// Probability of entering the bad state.
        enter: f64,
        /// Probability of leaving it (1 / mean burst length).
        leave: f64,
        /// In the bad state now.
        bad: bool,
    },
}

impl LossModel {
    /// A model losing `loss` of packets on average, in bursts of `burst` packets on average.
    pub fn new(loss: f64, burst: f64) -> LossModel {
        if loss <= 0.0 {
            LossModel::None
        } else if burst <= 1.0 || loss >= 1.0 {
            LossModel::Random(loss.min(1.0))
        } else {
            let leave = 1.0 / burst;
            LossModel::Bursty {
                enter: loss * leave / (1.0 - loss),
                leave,
                bad: false,
            }
        }
    }

    /// Decide the next packet's fate: true means lost.
    pub fn lose(&mut self, rng: &mut Rng) -> bool {
        match self {
            LossModel::None => false,
            LossModel::Random(p) => rng.next_f64() < *p,
            LossModel::Bursty { enter, leave, bad } => {
                let flip = if *bad { *leave } else { *enter };
                if rng.next_f64() < flip {
                    *bad = !*bad;
                }
                *bad
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(model: &mut LossModel, n: usize) -> (f64, f64) {
        let mut rng = Rng::new(42);
        let (mut lost, mut bursts, mut prev) = (0usize, 0usize, false);
        for _ in 0..n {
            let l = model.lose(&mut rng);
            lost += l as usize;
            bursts += (l && !prev) as usize;
            prev = l;
        }
        (lost as f64 / n as f64, lost as f64 / bursts.max(1) as f64)
    }

    #[test]
    fn random_loss_hits_its_rate_with_short_bursts() {
        let (rate, burst) = run(&mut LossModel::new(0.05, 1.0), 200_000);
        assert!((rate - 0.05).abs() < 0.003, "{rate}");
        assert!(burst < 1.1, "independent losses rarely repeat: {burst}");
    }

    #[test]
    fn bursty_loss_hits_its_rate_and_its_mean_burst() {
        let (rate, burst) = run(&mut LossModel::new(0.05, 4.0), 400_000);
        assert!((rate - 0.05).abs() < 0.005, "{rate}");
        assert!((burst - 4.0).abs() < 0.3, "{burst}");
    }

    #[test]
    fn edges() {
        assert_eq!(run(&mut LossModel::new(0.0, 3.0), 1000).0, 0.0);
        assert_eq!(run(&mut LossModel::new(1.0, 3.0), 1000).0, 1.0);
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64(), "seeded draws repeat");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.next_f64())));
    }
}
