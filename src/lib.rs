//! `loadtest`: browser load tests for self-hosted video conferencing (Jitsi Meet, Janus).
//!
//! The library holds every subcommand; `main.rs` only parses the command line and calls [`cli::exec`].

pub mod analysis;
#[cfg(test)]
mod architecture;
pub mod chart;
pub mod cli;
pub mod deploy;
pub mod error;
pub mod export;
pub mod limit;
pub mod live;
pub mod media;
pub mod metrics;
pub mod network;
pub mod participant;
pub mod plan;
pub mod provision;
pub mod quality;
pub mod redact;
pub mod report;
pub mod results;
pub mod run;
pub mod sandbox;
pub mod scenario;
pub mod schedule;
pub mod stats;
pub mod util;
pub mod webdriver;
