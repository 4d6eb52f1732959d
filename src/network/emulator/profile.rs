//! Network profiles live with the scenario that names them ([`crate::scenario::profile`]); the
//! emulator applies them.

pub use crate::scenario::profile::*;
