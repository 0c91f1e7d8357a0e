//! SHA-256 digests of data files and byte strings, and the [`FileDigest`] a run records for
//! every file it read, so that a later `resume` or `eval` can tell whether the data changed.

use crate::error::{DataError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One input file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// The path as read (absolute in run manifests).
    pub path: PathBuf,
    /// SHA-256, lower-case hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

impl FileDigest {
    /// Reads `path` once and records its SHA-256 and size.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn of(path: &Path) -> Result<Self> {
        let (sha256, bytes) = sha256_file(path)?;
        Ok(FileDigest {
            path: path.to_path_buf(),
            sha256,
            bytes,
        })
    }
}

/// Lower-case hex of bytes.
///
/// ```
/// assert_eq!(set_data::digest::hex(&[0, 171]), "00ab");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// SHA-256 of a byte slice, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 (hex) and length of a file, streamed in 64 KiB pieces.
///
/// # Errors
/// I/O errors naming the file.
pub fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = crate::bounded::open_regular(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut len = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| DataError::io(path, "read", e))?;
        if n == 0 {
            break;
        }
        len += n as u64;
        h.update(&buf[..n]);
    }
    Ok((hex(&h.finalize()), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_digest_matches_the_bytes_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, b"abc").unwrap();
        let d = FileDigest::of(&p).unwrap();
        assert_eq!(d.bytes, 3);
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.sha256, sha256_hex(b"abc"));
        assert!(
            FileDigest::of(&dir.path().join("missing"))
                .unwrap_err()
                .to_string()
                .contains("missing")
        );
    }
}
