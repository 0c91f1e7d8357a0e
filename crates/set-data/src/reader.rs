//! Opening possibly-gzipped files and reading capped, numbered lines (BOM and CRLF aware).

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use crate::error::{DataError, Location, Result};

/// The two magic bytes every gzip stream starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Wraps `reader` in a gzip decoder if its first two bytes are the gzip magic `1f 8b`, whatever the
/// file is called. Concatenated gzip members are decoded as one stream.
pub(crate) fn maybe_gunzip<'a, R: Read + 'a>(mut reader: R) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let is_gzip = got == head.len() && head == GZIP_MAGIC;
    let stream =
        BufReader::with_capacity(1 << 16, io::Cursor::new(head[..got].to_vec()).chain(reader));
    if is_gzip {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(stream),
        )))
    } else {
        Ok(Box::new(stream))
    }
}

/// `reader` without a leading UTF-8 byte-order mark (the CSV reader would otherwise keep it as
/// part of the first field, e.g. a header `\u{feff}label`).
pub(crate) fn skip_utf8_bom<R: Read>(
    mut reader: R,
) -> io::Result<io::Chain<io::Cursor<Vec<u8>>, R>> {
    let mut head = [0u8; 3];
    let mut got = 0;
    while got < head.len() {
        match reader.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let keep = if head[..got] == *UTF8_BOM { 0 } else { got };
    Ok(io::Cursor::new(head[..keep].to_vec()).chain(reader))
}

/// Opens `path` for reading, transparently gunzipping it (detected by magic bytes).
pub(crate) fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = crate::bounded::open_regular(path)?;
    let stream = maybe_gunzip(file).map_err(|e| DataError::Read {
        at: Location::at(path, 1),
        source: e,
    })?;
    // However well a hostile file compresses, what it decompresses to is bounded.
    Ok(Box::new(BufReader::with_capacity(
        1 << 16,
        crate::bounded::Capped::new(stream, crate::bounded::MAX_DECOMPRESSED_BYTES),
    )))
}

/// Reads `\n`-terminated lines with 1-based numbers, a length cap, UTF-8 checking, a tolerated
/// UTF-8 BOM on line 1 and `\r\n` endings.
pub(crate) struct LineReader<R> {
    inner: R,
    path: PathBuf,
    line: usize,
    max_bytes: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R, path: &Path, max_bytes: usize) -> Self {
        Self {
            inner,
            path: path.to_path_buf(),
            line: 0,
            max_bytes,
            buf: Vec::new(),
        }
    }

    /// The path used in error messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The next line as `(line_number, text)` without its terminator, or `None` at the end.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, &str)>> {
        self.buf.clear();
        self.line += 1;
        let at = |line| Location::at(&self.path, line);
        if self.line > crate::bounded::MAX_LINES {
            return Err(DataError::Read {
                at: at(self.line),
                source: io::Error::other(format!(
                    "more than the accepted {} lines",
                    crate::bounded::MAX_LINES
                )),
            });
        }
        // Read at most max_bytes + 1 bytes so an over-long line cannot exhaust memory.
        let cap = u64::try_from(self.max_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let n = (&mut self.inner)
            .take(cap)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| DataError::Read {
                at: at(self.line),
                source: e,
            })?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if self.buf.len() > self.max_bytes {
            return Err(DataError::LineTooLong {
                at: at(self.line),
                limit: self.max_bytes,
            });
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let mut bytes: &[u8] = &self.buf;
        if self.line == 1 && bytes.starts_with(UTF8_BOM) {
            bytes = &bytes[UTF8_BOM.len()..];
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(Some((self.line, text))),
            Err(e) => Err(DataError::InvalidUtf8 {
                at: at(self.line),
                detail: format!("byte {} of the line", e.valid_up_to() + 1),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Read, Write};

    fn lines(bytes: &[u8], max: usize) -> Result<Vec<(usize, String)>> {
        let mut r = LineReader::new(
            maybe_gunzip(Cursor::new(bytes.to_vec())).unwrap(),
            Path::new("t.txt"),
            max,
        );
        let mut out = Vec::new();
        while let Some((n, l)) = r.next_line()? {
            out.push((n, l.to_owned()));
        }
        Ok(out)
    }

    #[test]
    fn bom_crlf_and_missing_final_newline() {
        let got = lines(b"\xEF\xBB\xBFa\r\nb\n\nc", 100).unwrap();
        let want = [(1, "a"), (2, "b"), (3, ""), (4, "c")];
        assert_eq!(got.len(), 4);
        for ((n, l), (wn, wl)) in got.iter().zip(want) {
            assert_eq!((*n, l.as_str()), (wn, wl));
        }
    }

    #[test]
    fn bom_only_stripped_on_first_line() {
        let got = lines(b"a\n\xEF\xBB\xBFb\n", 100).unwrap();
        assert_eq!(got[1].1, "\u{feff}b");
    }

    #[test]
    fn cap_is_enforced_exactly() {
        assert!(lines(b"abcd\nxy", 4).is_ok());
        assert!(lines(b"abcd", 4).is_ok());
        let err = lines(b"ok\nabcde\n", 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.txt:2: line is longer than the cap of 4 bytes"
        );
    }

    #[test]
    fn invalid_utf8_names_line_and_byte() {
        let err = lines(b"fine\nab\xffc\n", 100).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.txt:2: invalid UTF-8 (byte 3 of the line)"
        );
    }

    #[test]
    fn bom_is_skipped_once_and_short_inputs_survive() {
        let strip = |b: &[u8]| {
            let mut out = Vec::new();
            skip_utf8_bom(b).unwrap().read_to_end(&mut out).unwrap();
            out
        };
        assert_eq!(strip(b"\xEF\xBB\xBFa,b"), b"a,b");
        assert_eq!(strip(b"\xEF\xBB\xBF\xEF\xBB\xBF"), b"\xEF\xBB\xBF");
        assert_eq!(strip(b"\xEF\xBB"), b"\xEF\xBB");
        assert_eq!(strip(b"ab"), b"ab");
        assert_eq!(strip(b""), b"");
    }

    #[test]
    fn directory_is_not_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = open_text(dir.path()).err().unwrap().to_string();
        assert!(e.ends_with("cannot open: not a regular file"), "{e}");
    }

    #[test]
    fn gzip_detected_by_magic() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"x\ny\n").unwrap();
        let gz = enc.finish().unwrap();
        let got = lines(&gz, 100).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, "y");
    }
}
