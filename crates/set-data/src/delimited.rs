//! CSV/TSV loader (plain or gzip'd) with columns chosen by index or header name.
//!
//! Records may span lines (quoted newlines); errors name the line the record starts on. Records
//! may have different field counts as long as the label and text columns exist. Blank lines are
//! skipped by the CSV reader. A UTF-8 BOM is accepted. Fields are decoded as UTF-8 one by one, so
//! invalid bytes in columns we do not read are ignored.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Location, Result};
use crate::example::{EmptyTextPolicy, Example, LabelMap, LoadOptions, LoadStats, Loaded};
use crate::reader::{maybe_gunzip, open_text, skip_utf8_bom};

/// A column chosen by 0-based index or by header name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnRef {
    /// 0-based column index.
    Index(usize),
    /// Header name (requires [`CsvOptions::has_header`]).
    Name(String),
}

/// How to read a delimited file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter, e.g. `b','` or `b'\t'`.
    pub delimiter: u8,
    /// Whether the first record is a header.
    pub has_header: bool,
    /// The text column.
    pub text_column: ColumnRef,
    /// The (integer) label column.
    pub label_column: ColumnRef,
    /// Honour `"` quoting (RFC 4180). Turn off for TSV files with stray quotes, such as the UCI
    /// originals.
    pub quoting: bool,
}

impl CsvOptions {
    /// Comma-separated with a header and columns `text` and `label`.
    pub fn csv_with_header() -> Self {
        Self {
            delimiter: b',',
            has_header: true,
            text_column: ColumnRef::Name("text".into()),
            label_column: ColumnRef::Name("label".into()),
            quoting: true,
        }
    }

    /// Tab-separated without header and without quoting: `text<TAB>label` (the UCI original layout).
    pub fn tsv_text_label() -> Self {
        Self {
            delimiter: b'\t',
            has_header: false,
            text_column: ColumnRef::Index(0),
            label_column: ColumnRef::Index(1),
            quoting: false,
        }
    }
}

/// Loads a delimited file (plain or gzip'd, detected by magic bytes).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("d.csv");
/// use set_data::{load_delimited, CsvOptions, LabelMap, LoadOptions};
/// std::fs::write(&path, "id,text,label\n1,\"Loved it, really\",1\n2,Meh,0\n")?;
/// let l = load_delimited(&path, &LabelMap::binary(), &CsvOptions::csv_with_header(), &LoadOptions::default())?;
/// assert_eq!(l.examples[0].text, "Loved it, really");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load_delimited(
    path: impl AsRef<Path>,
    labels: &LabelMap,
    csv: &CsvOptions,
    options: &LoadOptions,
) -> Result<Loaded> {
    let path = path.as_ref();
    parse(open_text(path)?, path, labels, csv, options)
}

/// Parses delimited data from any reader (gzip detected by magic bytes); `name` is used in messages.
pub fn read_delimited<R: Read>(
    reader: R,
    name: &Path,
    labels: &LabelMap,
    csv: &CsvOptions,
    options: &LoadOptions,
) -> Result<Loaded> {
    let input = maybe_gunzip(reader).map_err(|e| DataError::Read {
        at: Location::at(name, 1),
        source: e,
    })?;
    parse(input, name, labels, csv, options)
}

fn parse<R: Read>(
    input: R,
    path: &Path,
    labels: &LabelMap,
    opts: &CsvOptions,
    options: &LoadOptions,
) -> Result<Loaded> {
    let input = skip_utf8_bom(input).map_err(|e| DataError::Read {
        at: Location::at(path, 1),
        source: e,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(opts.delimiter)
        .has_headers(opts.has_header)
        .flexible(true)
        .quoting(opts.quoting)
        .from_reader(input);
    let mut last_line = 1usize;
    let csv_err = |e: csv::Error, fallback_line: usize| {
        let line = e
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(fallback_line);
        let at = Location::at(path, line);
        let message = e.to_string();
        match e.into_kind() {
            csv::ErrorKind::Io(source) => DataError::Read { at, source },
            _ => DataError::Csv { at, message },
        }
    };
    let header: Option<Vec<String>> = if opts.has_header {
        let h = reader.byte_headers().map_err(|e| csv_err(e, 1))?;
        Some(
            h.iter()
                .map(|f| String::from_utf8_lossy(f).trim().to_owned())
                .collect(),
        )
    } else {
        None
    };
    let resolve = |col: &ColumnRef, role: &str| -> Result<(usize, String)> {
        match (col, &header) {
            (ColumnRef::Index(i), Some(h)) => Ok((
                *i,
                h.get(*i).cloned().unwrap_or_else(|| format!("column {i}")),
            )),
            (ColumnRef::Index(i), None) => Ok((*i, format!("{role} (column {i})"))),
            (ColumnRef::Name(name), Some(h)) => h
                .iter()
                .position(|c| c == name)
                .map(|i| (i, name.clone()))
                // A file without a `text` column may call it `sentence` (SST-2 dumps).
                .or_else(|| {
                    (name == "text" && role == "text")
                        .then(|| h.iter().position(|c| c == "sentence"))
                        .flatten()
                        .map(|i| (i, "sentence".to_string()))
                })
                .ok_or_else(|| DataError::MissingColumn {
                    at: Location::at(path, 1),
                    name: name.clone(),
                    columns: h.join(", "),
                }),
            (ColumnRef::Name(name), None) => Err(DataError::invalid(
                "CSV options",
                format!("column `{name}` is given by name but has_header is false"),
            )),
        }
    };
    let (text_idx, text_name) = resolve(&opts.text_column, "text")?;
    let (label_idx, label_name) = resolve(&opts.label_column, "label")?;

    let mut examples = Vec::new();
    let mut stats = LoadStats::new(labels.num_classes());
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_err(e, last_line + 1)),
        }
        let line = record
            .position()
            .and_then(|p| usize::try_from(p.line()).ok())
            .unwrap_or(last_line + 1);
        last_line = line;
        let at = || Location::at(path, line);
        if record.as_slice().len() > options.max_line_bytes {
            return Err(DataError::LineTooLong {
                at: at(),
                limit: options.max_line_bytes,
            });
        }
        let field = |idx: usize, name: &str| -> Result<&str> {
            let bytes = record.get(idx).ok_or_else(|| DataError::Field {
                at: at(),
                field: name.to_owned(),
                message: format!("missing: the record has {} fields", record.len()),
            })?;
            std::str::from_utf8(bytes).map_err(|e| DataError::InvalidUtf8 {
                at: at(),
                detail: format!("field `{name}`, byte {}", e.valid_up_to() + 1),
            })
        };
        let label_str = field(label_idx, &label_name)?.trim();
        let Some(class) = labels.classify_text(label_str, &label_name, at(), &mut stats)? else {
            continue;
        };
        let text = field(text_idx, &text_name)?;
        if text.trim().is_empty() {
            match options.empty_text {
                EmptyTextPolicy::Error => {
                    return Err(DataError::EmptyText {
                        at: at(),
                        field: text_name.clone(),
                    });
                }
                EmptyTextPolicy::Skip => {
                    stats.skipped_empty += 1;
                    continue;
                }
            }
        }
        let text = text.to_owned();
        stats.keep(class);
        examples.push(Example { label: class, text });
    }
    Ok(Loaded { examples, stats })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_csv(bytes: &[u8], opts: &CsvOptions) -> Result<Loaded> {
        read_delimited(
            bytes,
            Path::new("d.csv"),
            &LabelMap::binary(),
            opts,
            &LoadOptions::default(),
        )
    }

    #[test]
    fn header_names_quotes_multiline_bom_crlf() {
        let data = "\u{feff}id,label,text\r\n1,1,\"multi\nline, quoted\"\r\n2,0,plain\r\n";
        let l = parse_csv(data.as_bytes(), &CsvOptions::csv_with_header()).unwrap();
        assert_eq!(l.examples[0].text, "multi\nline, quoted");
        assert_eq!(
            l.examples[1],
            Example {
                label: 0,
                text: "plain".into()
            }
        );
    }

    #[test]
    fn tsv_without_quoting_keeps_stray_quotes() {
        let data = b"A \"quoted start\t1\nnext one\t0\n";
        let l = parse_csv(data, &CsvOptions::tsv_text_label()).unwrap();
        assert_eq!(l.examples.len(), 2);
        assert_eq!(l.examples[0].text, "A \"quoted start");
        let nul = parse_csv(b"a\x00b\t1\n", &CsvOptions::tsv_text_label()).unwrap();
        assert_eq!(nul.examples[0].text, "a\0b");
    }

    #[test]
    fn errors_name_record_line_and_field() {
        let h = CsvOptions::csv_with_header();
        let e = |d: &str| parse_csv(d.as_bytes(), &h).unwrap_err().to_string();
        assert_eq!(
            e("label,text\n1,ok\nx,bad\n"),
            "d.csv:3: field `label`: unknown label \"x\" (expected one of 0, 1, or the class names negative, positive)"
        );
        assert_eq!(
            e("label,text\n1,ok\n5,bad\n"),
            "d.csv:3: unknown label 5 (expected one of 0, 1)"
        );
        assert_eq!(
            e("label,text\n1,ok\n0\n"),
            "d.csv:3: field `text`: missing: the record has 1 fields"
        );
        assert_eq!(
            e("label,txt\n1,ok\n"),
            "d.csv:1: no column named `text` in the header (columns: label, txt)"
        );
        assert_eq!(
            e("label,text\n1,\"a\nb\"\n0,  \n"),
            "d.csv:4: field `text` is empty or whitespace only (use EmptyTextPolicy::Skip to skip such records)"
        );
        let bad_utf8 = parse_csv(b"label,text\n1,ok\n0,b\xffd\n", &h)
            .unwrap_err()
            .to_string();
        assert_eq!(bad_utf8, "d.csv:3: invalid UTF-8 (field `text`, byte 2)");
        let no_header = CsvOptions {
            has_header: false,
            ..h
        };
        assert!(
            parse_csv(b"1,x\n", &no_header)
                .unwrap_err()
                .to_string()
                .contains("has_header is false")
        );
    }

    #[test]
    fn record_cap() {
        let long = format!("label,text\n1,{}\n", "a".repeat(200));
        let opts = LoadOptions {
            max_line_bytes: 100,
            ..LoadOptions::default()
        };
        let e = read_delimited(
            long.as_bytes(),
            Path::new("d.csv"),
            &LabelMap::binary(),
            &CsvOptions::csv_with_header(),
            &opts,
        );
        assert_eq!(
            e.unwrap_err().to_string(),
            "d.csv:2: line is longer than the cap of 100 bytes"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), header in any::<bool>()) {
            let opts = if header { CsvOptions::csv_with_header() } else { CsvOptions::tsv_text_label() };
            let _ = parse_csv(&bytes, &opts);
        }

        #[test]
        fn csvish_text_never_panics(text in "[01,\"\\n\\r\\ta-c]{0,80}") {
            let _ = parse_csv(text.as_bytes(), &CsvOptions::csv_with_header());
            let _ = parse_csv(text.as_bytes(), &CsvOptions::tsv_text_label());
        }
    }
}
