//! Small helpers every layer may use: atomic file writes and text that fits one line.

pub mod fs;
pub mod text;
