//! Small helpers every layer may use: atomic file writes, text that fits one line, and a tiny HTTP
//! server for the pages the tool serves.

pub mod fs;
pub mod serve;
pub mod text;
