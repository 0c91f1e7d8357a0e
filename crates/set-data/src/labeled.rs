//! Labelled data files in the formats people have: JSONL, CSV or TSV (by extension or as
//! given), plain or gzip'd, with the text and label fields named as the file names them, and
//! labels as integers or as class names.

use crate::delimited::{ColumnRef, CsvOptions, load_delimited};
use crate::error::{DataError, Result};
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
/// every label is an integer (the integer label maps apply then), and also when the file cannot
/// be read or parsed: the loader then reports that with file, line and field.
///
/// # Errors
/// More distinct word labels than [`crate::MAX_DISCOVERED_LABELS`].
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
            let Ok(file) = open_text(path) else {
                return Ok(None);
            };
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { return Ok(None) };
                if line.trim().is_empty() {
                    continue;
                }
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    return Ok(None);
                };
                match v.get(field) {
                    Some(serde_json::Value::String(s)) => note(s),
                    Some(serde_json::Value::Number(n)) => note(&n.to_string()),
                    _ => return Ok(None),
                }
            }
        }
        f => {
            let opts = delimited_options(f, options);
            let Ok(file) = open_text(path) else {
                return Ok(None);
            };
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(opts.delimiter)
                .quoting(opts.quoting)
                .from_reader(file);
            let Ok(header) = reader.headers().cloned() else {
                return Ok(None);
            };
            let Some(col) = header.iter().position(|c| c == field) else {
                return Ok(None);
            };
            for rec in reader.records() {
                let Ok(rec) = rec else { return Ok(None) };
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
