//! Small helpers every layer may use: atomic file writes, text that fits one line, a tiny HTTP
//! server for the pages the tool serves, and the process limits a large run needs.

pub mod fs;
pub mod limits;
pub mod serve;
pub mod text;
