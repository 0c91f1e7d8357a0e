//! Atomic file writes: write a temporary file in the target's directory, sync it, rename it over
//! the target, then sync the directory so that the rename itself survives a crash. The one
//! helper every crate of the workspace uses to replace a file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{DataError, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one,
/// and the new one is on disk (file and directory entry synced) when this returns.
///
/// A `path` that exists and is not a regular file (a directory, a FIFO, a device) is never
/// replaced: that is an error.
///
/// # Errors
/// I/O errors naming the path (the temporary file is removed).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("out.txt");
/// set_data::write_atomic(&p, b"hello").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"hello");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Ok(meta) = fs::symlink_metadata(path)
        && !meta.file_type().is_file()
    {
        return Err(DataError::io(
            path,
            "replace",
            std::io::Error::other("not a regular file"),
        ));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // Temporary names end in `.tmp`, so that a later run can find and remove the leftovers of
    // a writer that was killed (`set-lstm resume` does).
    let tmp = dir.join(format!(
        ".{name}.{}.{}.{nanos}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| DataError::io(&tmp, "create temporary file", e))?;
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| DataError::io(&tmp, "write", e))?;
        drop(file);
        fs::rename(&tmp, path).map_err(|e| DataError::io(path, "rename temporary file onto", e))?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Syncs a directory so that renames and new entries in it survive a crash.
///
/// # Errors
/// I/O errors naming the directory.
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DataError::io(dir, "sync directory", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_leaving_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/f.txt");
        assert!(
            write_atomic(&missing, b"x")
                .unwrap_err()
                .to_string()
                .contains("no/such/dir")
        );
        // Something that is not a regular file is never replaced.
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(
            write_atomic(&sub, b"x")
                .unwrap_err()
                .to_string()
                .contains("not a regular file")
        );
        assert!(sub.is_dir());
    }
}
