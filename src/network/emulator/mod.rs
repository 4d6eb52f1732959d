//! A userspace link emulator over TUN devices, after Mahimahi's mm-delay, mm-loss and mm-link: delay,
//! jitter, random or bursty loss and a rate with a drop-tail queue, in both directions, with profile
//! changes on a schedule and a black-hole switch. The same code path on every Linux machine: it needs
//! only `/dev/net/tun` and namespaces, none of `netem`, `u32` or `police`.

pub mod link;
pub mod loss;
pub mod nat;
pub mod pipe;
pub mod profile;
pub mod tun;

pub use link::{DirStats, LinkControl, LinkCounters};
pub use profile::{Change, Profile, ProfileSpec, Rate, Step};
