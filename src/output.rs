//! Atomic output: everything is written under a temporary name beside its destination and
//! renamed into place only when complete.
//!
//! A rename within one directory is atomic on POSIX file systems, so a reader sees either the
//! old file, or none, or the whole new one; never a partial grid. A temporary file dropped
//! before [`persist`] (an error, Ctrl-C) is deleted by `tempfile`'s destructor.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;
use tempfile::NamedTempFile;

/// The path of a file that lives beside `path`: its name with `suffix` appended
/// (`grid.npy` -> `grid.npy.axes.json`).
pub fn sibling(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Creates an empty temporary file in the destination's directory (created if missing).
pub fn temp_beside(destination: &Path) -> Result<NamedTempFile> {
    let dir = match destination.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::output(dir, e))?;
    let name = destination.file_name().map(|n| n.to_string_lossy().into_owned());
    tempfile::Builder::new()
        .prefix(&format!(".{}.", name.as_deref().unwrap_or("out")))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| Error::output(destination, e))
}

/// Renames a finished temporary file to its destination.
pub fn persist(file: NamedTempFile, destination: &Path) -> Result<()> {
    file.persist(destination).map_err(|e| Error::output(destination, e.error))?;
    Ok(())
}

/// Writes `bytes` to `destination` atomically, returning the guard still unpersisted so that
/// several files can be committed together once all are written.
pub fn write_staged(destination: &Path, bytes: &[u8]) -> Result<NamedTempFile> {
    let mut file = temp_beside(destination)?;
    file.write_all(bytes).and_then(|_| file.flush()).map_err(|e| Error::output(destination, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_reaches_the_destination_until_persisted() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/grid.npy");
        let staged = write_staged(&dest, b"data").unwrap();
        assert!(!dest.exists());
        drop(staged);
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
        persist(write_staged(&dest, b"data").unwrap(), &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
    }
}
