//! The network lab: network namespaces, veth pairs, `htb` rate caps and a userspace link emulator over
//! TUN devices, all created and owned by the tool and removed again on drop, on error and on Ctrl-C.
//!
//! Safety rules (see docs/network.md):
//! - every address lives in [`addr::RANGE`] (10.231.0.0/16); a lab claims one /24 of it by adding an
//!   `unreachable` route for that /24 in the root namespace *before* any address exists, and removes
//!   the route last, so nothing addressed to the lab can ever follow the default route off the machine;
//! - every namespace and interface is named `lt-<lab id>-<role>` and recorded in an ownership file
//!   under [`registry::STATE_DIR`] before it is made; shaping and deleting refuse anything else;
//! - IP forwarding is switched on only inside namespaces the lab made, never in the root namespace;
//! - [`registry::cleanup_leftovers`] removes what a crashed run left behind (its owner process is
//!   gone) and nothing else.
//!
//! Layout: [`lab`] (namespaces, veths, ownership), [`shape`] (htb caps and black-holes on veths),
//! [`emulator`] (delay, jitter, loss, rate and black-holes over TUN, in both directions),
//! [`netns`] (running code, commands and browsers inside a namespace; TCP relays across namespaces),
//! [`star`] (the topology the sandbox and cohorts use: a router namespace with servers and cohorts
//! around it), [`egress`] (cohorts whose link leads off the machine through the tool's UDP NAT and
//! HTTP proxy, for targets outside the lab).

pub mod addr;
pub mod cmd;
pub mod egress;
pub mod emulator;
pub mod lab;
pub mod netns;
pub mod registry;
pub mod shape;
pub mod star;

pub use emulator::{LinkControl, LinkCounters, Profile, ProfileSpec, Rate};
pub use lab::{Iface, Lab, Namespace, Veth};
pub use star::{Cohort, Server, Star};

/// What went wrong in the lab.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A safety rule refused the request (an interface the tool did not create, the root namespace).
    #[error("refused: {0}")]
    Refused(String),
    /// `ip` or `tc` failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its error output.
        detail: String,
    },
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The machine cannot host a lab (not root, no TUN, the address range in use).
    #[error("{0}")]
    Unavailable(String),
    /// A profile value that does not parse or is out of range.
    #[error("{field}: {value:?} is not valid: expected {expected}")]
    BadValue {
        /// The field, e.g. `loss`.
        field: String,
        /// What was given.
        value: String,
        /// What is expected.
        expected: String,
    },
}

impl NetworkError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        NetworkError::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn bad(
        field: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        NetworkError::BadValue {
            field: field.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

impl From<crate::scenario::profile::BadValue> for NetworkError {
    fn from(b: crate::scenario::profile::BadValue) -> Self {
        NetworkError::BadValue {
            field: b.field,
            value: b.value,
            expected: b.expected,
        }
    }
}

/// Result of lab operations.
pub type Result<T> = std::result::Result<T, NetworkError>;
