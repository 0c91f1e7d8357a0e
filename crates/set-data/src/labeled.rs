//! Labelled data files in the formats people have: JSONL, CSV or TSV (by extension or as
//! given), plain or gzip'd, with the text and label fields named as the file names them, and
//! labels as integers or as class names.

use crate::delimited::{ColumnRef, CsvOptions, load_delimited};
use crate::error::{DataError, Location, Result};
use crate::example::{FileFormat, LabelMap, LoadOptions, Loaded};
use crate::jsonl::load_jsonl;
use crate::reader::open_text;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;

/// The CSV/TSV reading options of a format, with the configured field names.
fn delimited_options(format: FileFormat, options: &LoadOptions) -> CsvOptions {
    let (delimiter, quoting) = match format {
        FileFormat::Tsv => (b'\t', false),
        _ => (b',', true),
    };
    CsvOptions {
        delimiter,
        has_header: true,
        text_column: ColumnRef::Name(options.text_field.clone().unwrap_or_else(|| "text".into())),
        label_column: ColumnRef::Name(
            options
                .label_field
                .clone()
                .unwrap_or_else(|| "label".into()),
        ),
        quoting,
    }
}

/// Loads a labelled file in its format (`options.format`, else by extension).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("train.csv");
/// use set_data::{LabelMap, LoadOptions, load_labeled};
/// std::fs::write(&path, "sentence,label\n\"Great, really\",pos\nDull,neg\n")?;
/// let labels = LabelMap::from_names(["neg", "pos"])?;
/// let l = load_labeled(&path, &labels, &LoadOptions::default())?;
/// assert_eq!((l.examples[0].label, l.examples[1].label), (1, 0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As the format's loader: errors name the file, line and field.
pub fn load_labeled(path: &Path, labels: &LabelMap, options: &LoadOptions) -> Result<Loaded> {
    match options.format.unwrap_or_else(|| FileFormat::of_path(path)) {
        FileFormat::Jsonl => load_jsonl(path, labels, options),
        f => load_delimited(path, labels, &delimited_options(f, options), options),
    }
}

/// The class names of a file whose labels are words: its distinct labels, sorted. `None` when
/// every label is an integer (the integer label maps apply then).
///
/// # Errors
/// An unreadable file, a malformed line or record, or a missing label field.
pub fn discover_labels(path: &Path, options: &LoadOptions) -> Result<Option<Vec<String>>> {
    let field = options.label_field.as_deref().unwrap_or("label");
    let mut words = BTreeSet::new();
    let mut all_integers = true;
    let mut note = |raw: &str| {
        let raw = raw.trim();
        if raw.parse::<i64>().is_err() {
            all_integers = false;
        }
        if words.len() <= crate::MAX_DISCOVERED_LABELS {
            words.insert(raw.to_string());
        }
    };
    match options.format.unwrap_or_else(|| FileFormat::of_path(path)) {
        FileFormat::Jsonl => {
            let reader = std::io::BufReader::new(open_text(path)?);
            for (i, line) in reader.lines().enumerate() {
                let at = || Location::at(path, i + 1);
                let line = line.map_err(|e| DataError::Read {
                    at: at(),
                    source: e,
                })?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value =
                    serde_json::from_str(&line).map_err(|e| DataError::Json {
                        at: at(),
                        message: e.to_string(),
                    })?;
                match v.get(field) {
                    Some(serde_json::Value::String(s)) => note(s),
                    Some(serde_json::Value::Number(n)) => note(&n.to_string()),
                    _ => {
                        return Err(DataError::Field {
                            at: at(),
                            field: field.into(),
                            message: "missing, or neither an integer nor a class name".into(),
                        });
                    }
                }
            }
        }
        f => {
            let opts = delimited_options(f, options);
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(opts.delimiter)
                .quoting(opts.quoting)
                .from_reader(open_text(path)?);
            let header = reader
                .headers()
                .map_err(|e| DataError::invalid("CSV header", e.to_string()))?
                .clone();
            let Some(col) = header.iter().position(|c| c == field) else {
                return Err(DataError::MissingColumn {
                    at: Location::at(path, 1),
                    name: field.into(),
                    columns: header.iter().collect::<Vec<_>>().join(", "),
                });
            };
            for (i, rec) in reader.records().enumerate() {
                let rec = rec.map_err(|e| DataError::Field {
                    at: Location::at(path, i + 2),
                    field: field.into(),
                    message: e.to_string(),
                })?;
                note(rec.get(col).unwrap_or(""));
            }
        }
    }
    if all_integers {
        return Ok(None);
    }
    if words.len() > crate::MAX_DISCOVERED_LABELS {
        return Err(DataError::invalid(
            "labels",
            format!(
                "{} has more than {} distinct labels: is `{field}` the label field?",
                path.display(),
                crate::MAX_DISCOVERED_LABELS
            ),
        ));
    }
    Ok(Some(words.into_iter().collect()))
}
