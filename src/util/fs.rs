//! Atomic file writes: a temporary file in the same directory, synced, then renamed over the target
//! (`tempfile`'s `persist`), so a reader sees the old file or the new one, never half of one.

use std::io::{self, Write};
use std::path::Path;

/// Write `bytes` to `path` atomically. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write `path` atomically from a writer `write` fills (buffered), for files too big to hold in
/// memory. The directory must exist.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".loadtest-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let mut w = io::BufWriter::new(tmp);
    write(&mut w)?;
    let tmp = w.into_inner().map_err(io::Error::other)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_whole_files_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.json");
        super::write_atomic(&p, b"first, longer").unwrap();
        super::write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        assert!(super::write_atomic(&dir.path().join("missing/x"), b"").is_err());
    }
}
