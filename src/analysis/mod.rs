//! Pure analysis of a results directory, shared by `report`, `plan` and the run's saturation guard:
//! the steady window, the summary (streamed aggregation), the guard's judgement, the thresholds, and
//! bridge attribution. It reads only through [`crate::results`]' typed model; it never renders.

pub mod attribution;
pub mod guard;
pub mod limit;
pub mod step;
pub mod summary;
pub mod thresholds;
pub mod window;

pub use summary::{Summary, Timelines, summarize};
pub use window::Window;
