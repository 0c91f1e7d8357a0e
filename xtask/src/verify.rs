//! SHA-256 helpers and the checks of archives and produced files against expected values.

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::datasets::{OutputCheck, group_digits};

/// Lower-case hex encoding (sha2 0.11 digests no longer implement `LowerHex`).
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Lower-case hex sha256 of a byte slice.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Writer adapter that hashes and counts everything written through it.
///
/// sha2 0.11 hashers no longer implement `io::Write`, hence this wrapper.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
    lines: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            lines: 0,
        }
    }

    /// Returns the inner writer and the statistics of what went through.
    pub fn finish(self) -> (W, ContentStats) {
        let stats = ContentStats {
            bytes: self.bytes,
            lines: self.lines,
            sha256: to_hex(&self.hasher.finalize()),
        };
        (self.inner, stats)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = &buf[..n];
        self.hasher.update(written);
        self.bytes += n as u64;
        self.lines += written.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Size, newline count and sha256 of some content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentStats {
    /// Number of bytes.
    pub bytes: u64,
    /// Number of `\n` bytes.
    pub lines: u64,
    /// Lower-case hex sha256.
    pub sha256: String,
}

/// Hashes everything `reader` yields.
pub fn stats_of_reader(mut reader: impl Read) -> io::Result<ContentStats> {
    let mut sink = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut sink)?;
    Ok(sink.finish().1)
}

/// Stats of a file's bytes as stored on disk.
pub fn file_stats(path: &Path) -> Result<ContentStats> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    stats_of_reader(BufReader::new(file)).with_context(|| format!("cannot read {}", path.display()))
}

/// Stats of a file's content: decompressed for `*.gz`, as stored otherwise.
pub fn content_stats(path: &Path) -> Result<ContentStats> {
    if path.extension().is_some_and(|e| e == "gz") {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        stats_of_reader(flate2::read::GzDecoder::new(BufReader::new(file)))
            .with_context(|| format!("cannot decompress {}", path.display()))
    } else {
        file_stats(path)
    }
}

/// Checks an archive's size and sha256 against the published values (each only if known).
///
/// `what` names the archive (URL or path) in the error message.
pub fn check_archive(
    what: &str,
    found: &ContentStats,
    expected_size: Option<u64>,
    expected_sha256: Option<&str>,
) -> Result<()> {
    if let Some(size) = expected_size
        && size != found.bytes
    {
        bail!(
            "size mismatch for {what}: expected {} bytes, found {} bytes (sha256 {}); \
             refusing to extract it",
            group_digits(size),
            group_digits(found.bytes),
            found.sha256
        );
    }
    if let Some(sha) = expected_sha256
        && !sha.eq_ignore_ascii_case(&found.sha256)
    {
        bail!(
            "sha256 mismatch for {what}: expected {sha}, found {} ({} bytes); refusing to extract it",
            found.sha256,
            group_digits(found.bytes)
        );
    }
    Ok(())
}

/// Compares every produced file under `root` with its expected stats; reports all mismatches.
pub fn check_outputs(root: &Path, checks: &[OutputCheck]) -> Result<()> {
    let mut problems = Vec::new();
    for check in checks {
        let path = root.join(check.path);
        if !path.is_file() {
            problems.push(format!("{}: not produced", check.path));
            continue;
        }
        let found = content_stats(&path)?;
        let expected = ContentStats {
            bytes: check.bytes,
            lines: check.lines,
            sha256: check.sha256.to_owned(),
        };
        if found != expected {
            problems.push(format!(
                "{}: expected {} bytes, {} lines, sha256 {}; found {} bytes, {} lines, sha256 {}",
                check.path,
                expected.bytes,
                expected.lines,
                expected.sha256,
                found.bytes,
                found.lines,
                found.sha256
            ));
        }
    }
    if !problems.is_empty() {
        bail!(
            "the converted files differ from the reference copies documented in the dataset's \
             MANIFEST (content sha256 of the decompressed files):\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_sha256_of_known_vectors() {
        assert_eq!(to_hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hashing_writer_counts_lines_and_bytes() {
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"a\nbc\n").unwrap();
        w.write_all(b"d").unwrap();
        let (inner, stats) = w.finish();
        assert_eq!(inner, b"a\nbc\nd");
        assert_eq!(stats.bytes, 6);
        assert_eq!(stats.lines, 2);
        assert_eq!(stats.sha256, sha256_hex(b"a\nbc\nd"));
    }

    #[test]
    fn archive_check_reports_expected_and_found() {
        let found = ContentStats {
            bytes: 3,
            lines: 0,
            sha256: sha256_hex(b"abc"),
        };
        check_archive("x", &found, Some(3), Some(&found.sha256.to_uppercase())).unwrap();
        check_archive("x", &found, None, None).unwrap();
        let err = check_archive("x.zip", &found, Some(4), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("size mismatch for x.zip: expected 4 bytes, found 3 bytes"),
            "{err}"
        );
        let err = check_archive("x.zip", &found, None, Some("00"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sha256 mismatch for x.zip: expected 00, found ba7816bf"),
            "{err}"
        );
    }
}
