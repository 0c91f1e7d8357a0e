//! Bounds on every input stream: files that must be regular files (not devices, FIFOs or
//! directories), reads capped in bytes, and decompressed data capped in bytes and lines, so that
//! no input, however hostile, can run away with memory or time.

use crate::error::{DataError, Result};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Most bytes a data file may decompress to (4 GiB; the largest shipped dataset is ~130 MB).
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;
/// Most lines (examples) a data or vocabulary file may hold.
pub const MAX_LINES: usize = 20_000_000;
/// Most bytes of a settings file (`--config`, a run's `config.toml`, a sweep's `--grid`).
pub const MAX_SETTINGS_BYTES: u64 = 1 << 20;

/// Opens `path` for reading if it is a regular file (after following symlinks).
///
/// # Errors
/// [`DataError::Io`] "not a regular file" for directories, devices, FIFOs and sockets; any
/// I/O error naming the path.
pub fn open_regular(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, "open", e))?;
    if !meta.is_file() {
        return Err(DataError::io(
            path,
            "open",
            io::Error::other("not a regular file"),
        ));
    }
    File::open(path).map_err(|e| DataError::io(path, "open", e))
}

/// Reads a regular file of at most `max_bytes` bytes.
///
/// # Errors
/// A file that is not regular, or larger than `max_bytes`, or unreadable; naming the path.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut buf = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| DataError::io(path, "read", e))?;
    if buf.len() as u64 > max_bytes {
        return Err(DataError::io(
            path,
            "read",
            io::Error::other(format!("larger than the accepted {max_bytes} bytes")),
        ));
    }
    Ok(buf)
}

/// [`read_bounded`] as UTF-8 text.
///
/// # Errors
/// As [`read_bounded`], or invalid UTF-8.
pub fn read_text_bounded(path: &Path, max_bytes: u64) -> Result<String> {
    String::from_utf8(read_bounded(path, max_bytes)?).map_err(|e| DataError::InvalidUtf8 {
        at: crate::Location::at(path, 1),
        detail: format!("byte {}", e.utf8_error().valid_up_to() + 1),
    })
}

/// A reader that fails once more than its budget of bytes has been read through it.
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R> Capped<R> {
    pub(crate) fn new(inner: R, max_bytes: u64) -> Self {
        Capped {
            inner,
            left: max_bytes,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(l) => {
                self.left = l;
                Ok(n)
            }
            None => Err(io::Error::other(format!(
                "the data decompress to more than the accepted {MAX_DECOMPRESSED_BYTES} bytes"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Class 4 of RELIABILITY.md: devices and directories are not files; sizes are capped.
    #[test]
    fn non_regular_files_are_refused_and_reads_are_capped() {
        for p in ["/dev/zero", "/dev/null", "/"] {
            let e = read_bounded(Path::new(p), 10).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{p}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a");
        std::fs::File::create(&f)
            .unwrap()
            .write_all(&[b'x'; 100])
            .unwrap();
        assert_eq!(read_bounded(&f, 100).unwrap().len(), 100);
        assert!(read_bounded(&f, 99).unwrap_err().to_string().contains("99"));
        let mut c = Capped::new(io::repeat(0), 1000);
        let mut sink = Vec::new();
        assert!(c.read_to_end(&mut sink).is_err());
        assert!(sink.len() <= 1000 + 8192);
    }
}
