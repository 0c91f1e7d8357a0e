//! Canonical output: compact JSON records in a fixed key order, deterministic gzip, fsync'd files.
//!
//! The format matches the project's reference copies byte for byte (after decompression):
//! one compact JSON object per line, `\n` after every record, keys in the order given, strings
//! escaped like `serde_json` (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, other C0 controls as
//! `\u00xx`) and additionally U+0080–U+009F, U+2028 and U+2029 as lower-case `\uXXXX` escapes,
//! so that no reader splitting on Unicode line breaks can split a record. gzip streams use
//! maximum compression, mtime 0, no stored file name and OS byte 255.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use flate2::{Compression, GzBuilder, write::GzEncoder};

/// A JSON value in a record: this project only needs integers and strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A JSON integer.
    Int(i64),
    /// A JSON string.
    Str(&'a str),
}

/// Appends `s` as a JSON string literal using the canonical escapes.
pub fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\u{00}'..='\u{1f}' | '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Formats one record as a compact JSON object (without the trailing newline).
pub fn record(fields: &[(&str, Value<'_>)]) -> String {
    let mut out = String::with_capacity(64 + fields.len() * 16);
    out.push('{');
    for (i, (key, value)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_string(&mut out, key);
        out.push(':');
        match value {
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => push_json_string(&mut out, s),
        }
    }
    out.push('}');
    out
}

/// A new file written through a deterministic gzip encoder; `finish` flushes and fsyncs it.
pub struct GzFile {
    path: PathBuf,
    encoder: GzEncoder<BufWriter<File>>,
}

impl GzFile {
    /// Creates `path` (which must not exist yet) and any missing parent directories.
    pub fn create(path: &Path) -> Result<Self> {
        let file = create_new_file(path)?;
        let encoder = GzBuilder::new()
            .mtime(0)
            .write(BufWriter::new(file), Compression::best());
        Ok(GzFile {
            path: path.to_owned(),
            encoder,
        })
    }

    /// Writes raw (uncompressed) bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.encoder
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Writes one record followed by `\n`.
    pub fn write_record(&mut self, fields: &[(&str, Value<'_>)]) -> Result<()> {
        let mut line = record(fields);
        line.push('\n');
        self.write_all(line.as_bytes())
    }

    /// Finishes the gzip stream, flushes and fsyncs the file.
    pub fn finish(self) -> Result<()> {
        let path = self.path;
        let buffered = self
            .encoder
            .finish()
            .with_context(|| format!("cannot finish gzip stream of {}", path.display()))?;
        let file = buffered
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot flush {}", path.display()))?;
        file.sync_all()
            .with_context(|| format!("cannot fsync {}", path.display()))
    }
}

/// Writes `bytes` gzip-compressed (deterministically) to the new file `path`, fsync'd.
pub fn write_gz_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut gz = GzFile::create(path)?;
    gz.write_all(bytes)?;
    gz.finish()
}

/// Writes `bytes` as-is to the new file `path`, fsync'd.
pub fn write_plain_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = create_new_file(path)?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot fsync {}", path.display()))
}

/// Creates a file that must not exist yet, creating missing parent directories first.
fn create_new_file(path: &Path) -> Result<File> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    File::create_new(path).with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn records_are_compact_and_keep_key_order() {
        let line = record(&[
            ("label", Value::Int(1)),
            ("text", Value::Str("a \"b\"\\c")),
            ("id", Value::Int(-7)),
        ]);
        assert_eq!(line, r#"{"label":1,"text":"a \"b\"\\c","id":-7}"#);
    }

    #[test]
    fn escapes_match_the_reference_format() {
        let mut s = String::new();
        push_json_string(
            &mut s,
            "\n\r\t\u{8}\u{c}\u{10}\u{1f}\u{7f}\u{80}\u{85}\u{8d}\u{9e}\u{9f}\u{a0}\u{2028}\u{2029}é€😀",
        );
        assert_eq!(
            s,
            "\"\\n\\r\\t\\b\\f\\u0010\\u001f\u{7f}\\u0080\\u0085\\u008d\\u009e\\u009f\u{a0}\\u2028\\u2029é€😀\""
        );
        // serde_json agrees on everything it escapes and decodes ours back to the same text.
        let text = "x\u{85}y\u{2028}z\"\\\u{1}\t";
        let mut ours = String::new();
        push_json_string(&mut ours, text);
        let back: String = serde_json::from_str(&ours).unwrap();
        assert_eq!(back, text);
        let plain = "tab\there \"quoted\" back\\slash \u{1}\u{7f}";
        let mut ours = String::new();
        push_json_string(&mut ours, plain);
        assert_eq!(ours, serde_json::to_string(plain).unwrap());
    }

    #[test]
    fn gzip_output_is_deterministic() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.gz");
        let b = dir.path().join("sub/b.gz");
        write_gz_file(&a, b"hello\n").unwrap();
        write_gz_file(&b, b"hello\n").unwrap();
        let bytes_a = std::fs::read(&a).unwrap();
        assert_eq!(bytes_a, std::fs::read(&b).unwrap());
        // magic, deflate, no flags, mtime 0, XFL 2 (best), OS 255
        assert_eq!(&bytes_a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255]);
        let mut out = String::new();
        flate2::read::GzDecoder::new(&bytes_a[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "hello\n");
        let err = write_gz_file(&a, b"again").unwrap_err();
        assert!(format!("{err:#}").contains("cannot create"), "{err:#}");
    }
}
