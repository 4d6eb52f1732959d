//! Kernel shaping of the lab's veth ends: an `htb` rate cap with a drop-tail `bfifo` leaf, and a
//! black-hole (`pfifo limit 0`: every packet offered is dropped). This kernel has no classifiers to
//! speak of, so each shapes a whole interface's egress; shaping both ends shapes both directions.
//! Only interfaces the lab made (by name and record) are touched.

use std::time::Duration;

use super::emulator::Rate;
use super::lab::{Iface, Lab, Veth};
use super::{NetworkError, Result, cmd};

/// How one interface's egress is shaped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Shape {
    /// Rate cap and the queue it keeps, as time at that rate.
    pub cap: Option<(Rate, Duration)>,
    /// Drop everything (overrides the cap while on; the cap returns afterwards).
    pub black_hole: bool,
}

/// Bytes a drop-tail queue of `queue` holds at `rate` (at least two full-size frames).
pub fn queue_bytes(rate: Rate, queue: Duration) -> u64 {
    ((rate.bits_per_sec() as f64 * queue.as_secs_f64() / 8.0) as u64).max(2 * 1514)
}

/// The `tc` commands that put `shape` on `dev` (empty root: back to the default qdisc).
pub fn tc_commands(dev: &str, shape: &Shape) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<String>>();
    if shape.black_hole {
        return vec![s(&[
            "qdisc", "replace", "dev", dev, "root", "pfifo", "limit", "0",
        ])];
    }
    match shape.cap {
        Some((rate, queue)) => {
            let r = format!("{}bit", rate.bits_per_sec());
            let q = queue_bytes(rate, queue).to_string();
            vec![
                s(&[
                    "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1",
                ]),
                s(&[
                    "class", "replace", "dev", dev, "parent", "1:", "classid", "1:1", "htb",
                    "rate", &r, "ceil", &r, "quantum", "1514",
                ]),
                s(&[
                    "qdisc", "replace", "dev", dev, "parent", "1:1", "handle", "10:", "bfifo",
                    "limit", &q,
                ]),
            ]
        }
        None => vec![s(&["qdisc", "del", "dev", dev, "root"])],
    }
}

fn apply(iface: &Iface, shape: &Shape) -> Result<()> {
    for c in tc_commands(&iface.name, shape) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        match cmd::tc_in(iface.ns.as_deref(), &args) {
            Err(e) if shape.cap.is_none() && !shape.black_hole && cmd::is_gone(&e) => {}
            other => {
                other?;
            }
        }
    }
    Ok(())
}

impl Lab {
    /// Set how one of the lab's interfaces is shaped; refuses any interface the lab did not make.
    pub fn set_shape(&self, iface: &Iface, shape: Shape) -> Result<()> {
        if !self.owns(iface) {
            return Err(NetworkError::Refused(format!(
                "{} is not an interface lab {} made; the tool shapes only its own",
                iface.name,
                self.id()
            )));
        }
        apply(iface, &shape)?;
        if let Ok(mut shapes) = self.inner.shapes.lock() {
            shapes.insert(iface.clone(), shape);
        }
        Ok(())
    }

    /// How an interface is shaped now.
    pub fn shape_of(&self, iface: &Iface) -> Shape {
        self.inner
            .shapes
            .lock()
            .ok()
            .and_then(|s| s.get(iface).copied())
            .unwrap_or_default()
    }

    fn update_both(&self, veth: &Veth, f: impl Fn(&mut Shape)) -> Result<()> {
        for end in [&veth.a, &veth.b] {
            let mut s = self.shape_of(end);
            f(&mut s);
            self.set_shape(end, s)?;
        }
        Ok(())
    }

    /// Cap a veth at `rate` in both directions (each end's egress), with a drop-tail queue holding
    /// `queue` worth of traffic at that rate.
    pub fn cap(&self, veth: &Veth, rate: Rate, queue: Duration) -> Result<()> {
        self.update_both(veth, |s| s.cap = Some((rate, queue)))
    }

    /// Remove a veth's rate cap.
    pub fn uncap(&self, veth: &Veth) -> Result<()> {
        self.update_both(veth, |s| s.cap = None)
    }

    /// Drop every packet in both directions of a veth (`on`), or carry traffic again (`off`, the cap
    /// if any comes back).
    pub fn black_hole(&self, veth: &Veth, on: bool) -> Result<()> {
        self.update_both(veth, |s| s.black_hole = on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_is_htb_with_a_bounded_drop_tail_leaf() {
        let rate: Rate = "4mbit".parse().unwrap();
        let c = tc_commands(
            "lt-0001-b",
            &Shape {
                cap: Some((rate, Duration::from_millis(100))),
                black_hole: false,
            },
        );
        let text: Vec<String> = c.iter().map(|v| v.join(" ")).collect();
        assert_eq!(
            text[0],
            "qdisc replace dev lt-0001-b root handle 1: htb default 1"
        );
        assert!(text[1].contains("rate 4000000bit ceil 4000000bit"));
        assert!(text[2].ends_with("bfifo limit 50000"), "{}", text[2]);
        assert_eq!(
            queue_bytes("100kbit".parse().unwrap(), Duration::ZERO),
            3028
        );
    }

    #[test]
    fn a_black_hole_overrides_the_cap_and_none_restores_the_default() {
        let on = Shape {
            cap: Some(("1mbit".parse().unwrap(), Duration::from_millis(50))),
            black_hole: true,
        };
        let c = tc_commands("x", &on);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].join(" "), "qdisc replace dev x root pfifo limit 0");
        assert_eq!(
            tc_commands("x", &Shape::default())[0].join(" "),
            "qdisc del dev x root"
        );
    }
}
