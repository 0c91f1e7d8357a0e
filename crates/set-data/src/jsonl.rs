//! JSON Lines loader (`.jsonl`, or gzip'd, detected by magic bytes): one `{"label": int, "text": str, ...}` per line.
//!
//! Rules:
//! - each non-blank line is a JSON object with an integer `label` and a string `text`; other keys
//!   are ignored; a duplicated key is an error;
//! - a UTF-8 BOM on line 1 and `\r\n` line ends are accepted;
//! - blank (whitespace-only) lines are allowed only at the end of the file;
//! - lines longer than [`LoadOptions::max_line_bytes`] are an error;
//! - labels go through the [`LabelMap`]: mapped, filtered (counted) or an error;
//! - empty texts follow [`LoadOptions::empty_text`].
//!
//! Text may contain any character, including NUL and C1 controls, escaped (`\u0000`) or raw: raw
//! control characters inside JSON strings, which strict JSON forbids, are accepted as themselves.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{DataError, Location, Result};
use crate::example::{EmptyTextPolicy, Example, LabelMap, LoadOptions, LoadStats, Loaded};
use crate::reader::{LineReader, maybe_gunzip, open_text};

/// The two fields we read. `Option<Value>` lets us name a missing field ourselves; serde_json
/// still rejects duplicate keys.
#[derive(Deserialize)]
struct RawRecord {
    #[serde(default)]
    label: Option<Value>,
    #[serde(default, alias = "sentence")]
    text: Option<Value>,
}

/// The label and text of one line: by the default keys (`label`, and `text` or `sentence`,
/// duplicated keys rejected), or by the keys `options` names.
fn record_fields(line: &str, options: &LoadOptions) -> serde_json::Result<RawRecord> {
    if options.text_field.is_none() && options.label_field.is_none() {
        return serde_json::from_str(line);
    }
    let mut map: serde_json::Map<String, Value> = serde_json::from_str(line)?;
    let text_key = options.text_field.as_deref().unwrap_or("text");
    let label_key = options.label_field.as_deref().unwrap_or("label");
    let text = map.remove(text_key).or_else(|| {
        (options.text_field.is_none())
            .then(|| map.remove("sentence"))
            .flatten()
    });
    Ok(RawRecord {
        label: map.remove(label_key),
        text,
    })
}

/// Loads a JSONL file (plain or gzip'd).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("train.jsonl");
/// use set_data::{load_jsonl, LabelMap, LoadOptions};
/// std::fs::write(&path, "{\"label\": 1, \"text\": \"Great!\", \"id\": 7}\n{\"label\": 0, \"text\": \"Dull.\"}\n")?;
/// let loaded = load_jsonl(&path, &LabelMap::binary(), &LoadOptions::default())?;
/// assert_eq!(loaded.examples[0].text, "Great!");
/// assert_eq!(loaded.stats.per_class, [1, 1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_jsonl(
    path: impl AsRef<Path>,
    labels: &LabelMap,
    options: &LoadOptions,
) -> Result<Loaded> {
    let path = path.as_ref();
    parse_lines(
        LineReader::new(open_text(path)?, path, options.max_line_bytes),
        labels,
        options,
    )
}

/// Parses JSONL from any reader (gzip detected by magic bytes); `name` is used in error messages.
///
/// ```
/// use set_data::{read_jsonl, LabelMap, LoadOptions};
/// let data = "{\"label\": 0, \"text\": \"ok\"}\n{\"label\": 7, \"text\": \"?\"}\n";
/// let err = read_jsonl(data.as_bytes(), "mem.jsonl".as_ref(), &LabelMap::binary(), &LoadOptions::default());
/// assert_eq!(err.unwrap_err().to_string(), "mem.jsonl:2: unknown label 7 (expected one of 0, 1)");
/// ```
pub fn read_jsonl<R: Read>(
    reader: R,
    name: &Path,
    labels: &LabelMap,
    options: &LoadOptions,
) -> Result<Loaded> {
    let input = maybe_gunzip(reader).map_err(|e| DataError::Read {
        at: Location::at(name, 1),
        source: e,
    })?;
    parse_lines(
        LineReader::new(input, name, options.max_line_bytes),
        labels,
        options,
    )
}

fn parse_lines<R: std::io::BufRead>(
    mut lines: LineReader<R>,
    labels: &LabelMap,
    options: &LoadOptions,
) -> Result<Loaded> {
    let mut examples = Vec::new();
    let mut stats = LoadStats::new(labels.num_classes());
    let mut first_blank: Option<usize> = None;
    let path = lines.path().to_path_buf();
    while let Some((n, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            first_blank.get_or_insert(n);
            continue;
        }
        let at = || Location::at(&path, n);
        if let Some(blank) = first_blank {
            return Err(DataError::BlankLine {
                at: Location::at(&path, blank),
            });
        }
        if !line.trim_start().starts_with('{') {
            return Err(DataError::Json {
                at: at(),
                message: "expected a JSON object `{...}`".into(),
            });
        }
        let record =
            record_fields(&escape_raw_controls(line), options).map_err(|e| DataError::Json {
                at: at(),
                message: e.to_string(),
            })?;
        let (text_key, label_key) = (
            options.text_field.as_deref().unwrap_or("text"),
            options.label_field.as_deref().unwrap_or("label"),
        );
        let field_err = |field: &str, message: String| DataError::Field {
            at: at(),
            field: field.into(),
            message,
        };
        let class = match record.label {
            None => return Err(field_err(label_key, "missing (or null)".into())),
            Some(Value::Number(num)) => {
                let raw = num.as_i64().ok_or_else(|| {
                    field_err(label_key, format!("expected an integer, found {num}"))
                })?;
                labels.classify(raw, at(), &mut stats)?
            }
            Some(Value::String(name)) => {
                labels.classify_text(&name, label_key, at(), &mut stats)?
            }
            Some(other) => {
                return Err(field_err(
                    label_key,
                    format!(
                        "expected an integer or a class name, found {}",
                        kind(&other)
                    ),
                ));
            }
        };
        let Some(class) = class else {
            continue;
        };
        let text = match record.text {
            None => return Err(field_err(text_key, "missing (or null)".into())),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(field_err(
                    text_key,
                    format!("expected a string, found {}", kind(&other)),
                ));
            }
        };
        if text.trim().is_empty() {
            match options.empty_text {
                EmptyTextPolicy::Error => {
                    return Err(DataError::EmptyText {
                        at: at(),
                        field: "text".into(),
                    });
                }
                EmptyTextPolicy::Skip => {
                    stats.skipped_empty += 1;
                    continue;
                }
            }
        }
        stats.keep(class);
        examples.push(Example { label: class, text });
    }
    Ok(Loaded { examples, stats })
}

/// Strict JSON forbids raw control characters (U+0000–U+001F) inside strings. They are accepted
/// as themselves (like Python's `json.loads(..., strict=False)`) by escaping them before parsing.
/// Error columns reported by the parser then count each such character as six bytes.
fn escape_raw_controls(line: &str) -> Cow<'_, str> {
    if !line.bytes().any(|b| b < 0x20) {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for c in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if u32::from(c) < 0x20 {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
                continue;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    Cow::Owned(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    fn parse(bytes: &[u8], opts: &LoadOptions) -> Result<Loaded> {
        read_jsonl(bytes, Path::new("t.jsonl"), &LabelMap::binary(), opts)
    }

    fn err(bytes: &[u8]) -> String {
        parse(bytes, &LoadOptions::default())
            .unwrap_err()
            .to_string()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    const GOOD: &[u8] = b"{\"label\":0,\"text\":\"bad film\"}\n{\"text\":\"fine\",\"label\":1,\"extra\":[1,{\"a\":null}]}\n";

    #[test]
    fn parses_plain_and_gzip_identically() {
        let plain = parse(GOOD, &LoadOptions::default()).unwrap();
        assert_eq!(plain.examples.len(), 2);
        assert_eq!(
            plain.examples[1],
            Example {
                label: 1,
                text: "fine".into()
            }
        );
        assert_eq!(parse(&gzip(GOOD), &LoadOptions::default()).unwrap(), plain);
    }

    #[test]
    fn file_round_trip_with_gz_detected_by_magic_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("misnamed.jsonl");
        std::fs::write(&p, gzip(GOOD)).unwrap();
        let loaded = load_jsonl(&p, &LabelMap::binary(), &LoadOptions::default()).unwrap();
        assert_eq!(loaded.stats.records, 2);
        let missing = load_jsonl(
            dir.path().join("nope.jsonl"),
            &LabelMap::binary(),
            &LoadOptions::default(),
        );
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("nope.jsonl: cannot open")
        );
    }

    #[test]
    fn bom_crlf_trailing_blank_lines_nul_are_fine() {
        let data = b"\xEF\xBB\xBF{\"label\":1,\"text\":\"a\\u0000b\\u0085c\"}\r\n{\"label\":0,\"text\":\"x\"}\r\n\r\n  \n";
        let l = parse(data, &LoadOptions::default()).unwrap();
        assert_eq!(l.examples[0].text, "a\0b\u{85}c");
        assert_eq!(l.examples.len(), 2);
        let raw = b"{\"label\":1,\t\"text\":\"a\x00b\tc\\\"\x01\"}\n";
        let l = parse(raw, &LoadOptions::default()).unwrap();
        assert_eq!(l.examples[0].text, "a\0b\tc\"\u{1}");
    }

    #[test]
    fn error_messages_name_path_and_line() {
        assert_eq!(
            err(b"{\"label\":0,\"text\":\"ok\"}\n{\"label\":0,\"text\":\"b\xffd\"}\n"),
            "t.jsonl:2: invalid UTF-8 (byte 21 of the line)"
        );
        assert!(
            err(b"{\"label\":0,\"text\":\"ok\"\n")
                .starts_with("t.jsonl:1: invalid JSON: EOF while parsing")
        );
        assert_eq!(
            err(b"[0, \"x\"]\n"),
            "t.jsonl:1: invalid JSON: expected a JSON object `{...}`"
        );
        assert_eq!(
            err(b"{\"text\":\"x\"}\n"),
            "t.jsonl:1: field `label`: missing (or null)"
        );
        assert_eq!(
            err(b"{\"label\":1}\n"),
            "t.jsonl:1: field `text`: missing (or null)"
        );
        // Labels written as text: an integer, or a class name.
        let named = parse(
            b"{\"label\":\"1\",\"text\":\"x\"}\n{\"label\":\"negative\",\"sentence\":\"y\"}\n",
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(
            named.examples,
            [
                Example {
                    label: 1,
                    text: "x".into()
                },
                Example {
                    label: 0,
                    text: "y".into()
                }
            ]
        );
        assert_eq!(
            err(b"{\"label\":\"meh\",\"text\":\"x\"}"),
            "t.jsonl:1: field `label`: unknown label \"meh\" (expected one of 0, 1, or the class names negative, positive)"
        );
        assert_eq!(
            err(b"{\"label\":1.5,\"text\":\"x\"}"),
            "t.jsonl:1: field `label`: expected an integer, found 1.5"
        );
        assert_eq!(
            err(b"{\"label\":1,\"text\":3}"),
            "t.jsonl:1: field `text`: expected a string, found a number"
        );
        assert!(
            err(b"{\"label\":1,\"label\":0,\"text\":\"x\"}").contains("duplicate field `label`")
        );
        assert_eq!(
            err(b"{\"label\":0,\"text\":\"x\"}\n\n{\"label\":0,\"text\":\"y\"}\n"),
            "t.jsonl:2: blank line before the end of the file"
        );
        assert_eq!(
            err(b"{\"label\":0,\"text\":\"x\"}\n{\"label\":7,\"text\":\"y\"}\n"),
            "t.jsonl:2: unknown label 7 (expected one of 0, 1)"
        );
    }

    #[test]
    fn empty_text_policies() {
        let data = b"{\"label\":0,\"text\":\"x\"}\n{\"label\":1,\"text\":\" \\t\\n\"}\n{\"label\":1,\"text\":\"\"}\n";
        assert_eq!(
            err(data),
            "t.jsonl:2: field `text` is empty or whitespace only (use EmptyTextPolicy::Skip to skip such records)"
        );
        let skip = LoadOptions {
            empty_text: EmptyTextPolicy::Skip,
            ..LoadOptions::default()
        };
        let l = parse(data, &skip).unwrap();
        assert_eq!((l.stats.records, l.stats.skipped_empty), (1, 2));
    }

    #[test]
    fn filtered_labels_are_counted_not_errors() {
        let m = LabelMap::new([(0, 0), (1, 1)], [2, 3], ["neg", "pos"]).unwrap();
        let ok = b"{\"label\":2,\"text\":\"meh\"}\n{\"label\":1,\"text\":\"yay\"}\n{\"label\":3,\"text\":\"\"}\n";
        let bad = [&ok[..], b"{\"label\":4,\"text\":\"?\"}\n"].concat();
        let e =
            read_jsonl(&bad[..], Path::new("s.jsonl"), &m, &LoadOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "s.jsonl:4: unknown label 4 (expected one of 0, 1 (filtered: 2, 3))"
        );
        let l = read_jsonl(&ok[..], Path::new("s.jsonl"), &m, &LoadOptions::default()).unwrap();
        assert_eq!((l.stats.records, l.stats.filtered_label), (1, 2));
    }

    #[test]
    fn long_line_over_cap() {
        let opts = LoadOptions {
            max_line_bytes: 64,
            ..LoadOptions::default()
        };
        let long = format!(
            "{{\"label\":0,\"text\":\"ok\"}}\n{{\"label\":0,\"text\":\"{}\"}}\n",
            "a".repeat(100)
        );
        let e = parse(long.as_bytes(), &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.jsonl:2: line is longer than the cap of 64 bytes"
        );
    }

    #[test]
    fn truncated_and_corrupt_gzip() {
        let mut many = Vec::new();
        for i in 0..2000 {
            many.extend_from_slice(
                format!("{{\"label\":{},\"text\":\"review number {i}\"}}\n", i % 2).as_bytes(),
            );
        }
        let gz = gzip(&many);
        let e = parse(&gz[..gz.len() / 2], &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, DataError::Read { .. }), "{e}");
        let line = e.location().unwrap().line.unwrap();
        assert!(line > 1 && line <= 2000, "{e}");
        assert!(
            e.to_string()
                .starts_with(&format!("t.jsonl:{line}: read error"))
        );
        // Missing trailer only (CRC and length).
        let e = parse(&gz[..gz.len() - 4], &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, DataError::Read { .. }), "{e}");
        // Just the magic.
        assert!(parse(&[0x1f, 0x8b], &LoadOptions::default()).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let opts = LoadOptions { max_line_bytes: 128, ..LoadOptions::default() };
            let _ = parse(&bytes, &opts);
        }

        #[test]
        fn jsonish_lines_never_panic(lines in proptest::collection::vec("[{}\\[\\]\":,0-9a-z \\\\]{0,40}", 0..8)) {
            let text = lines.join("\n");
            let _ = parse(text.as_bytes(), &LoadOptions::default());
            let _ = parse(&gzip(text.as_bytes()), &LoadOptions::default());
        }
    }
}
