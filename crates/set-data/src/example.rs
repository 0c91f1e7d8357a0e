//! Labelled examples, label maps (raw label → class, or filtered out) and the options/statistics shared by loaders.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::tokenizer::Tokenizer;

/// One labelled text. `label` is a class index in `0..num_classes` (already mapped by a [`LabelMap`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// Class index.
    pub label: usize,
    /// The original text, unchanged (not trimmed).
    pub text: String,
}

/// One tokenised example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizedExample {
    /// Tokens as produced by [`Tokenizer::tokenize`]; may be empty (e.g. a text that was only markup).
    pub tokens: Vec<String>,
    /// Class index.
    pub label: usize,
}

/// Anything with a class label, so splitting and statistics work on raw, tokenised and encoded examples.
pub trait Labeled {
    /// The class index.
    fn label(&self) -> usize;
}

impl Labeled for Example {
    fn label(&self) -> usize {
        self.label
    }
}

impl Labeled for TokenizedExample {
    fn label(&self) -> usize {
        self.label
    }
}

/// Tokenises examples in order.
///
/// ```
/// use set_data::{tokenize_examples, Example, Tokenizer};
/// let ex = [Example { label: 1, text: "Loved it!".into() }];
/// let t = tokenize_examples(&ex, &Tokenizer::default());
/// assert_eq!(t[0].tokens, ["loved", "it", "!"]);
/// ```
pub fn tokenize_examples(examples: &[Example], tokenizer: &Tokenizer) -> Vec<TokenizedExample> {
    examples
        .iter()
        .map(|e| TokenizedExample {
            tokens: tokenizer.tokenize(&e.text),
            label: e.label,
        })
        .collect()
}

/// What a [`LabelMap`] does with one raw label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelLookup {
    /// Keep the record with this class index.
    Class(usize),
    /// Drop the record silently (counted in [`LoadStats::filtered_label`]).
    Filtered,
    /// Not mapped and not filtered: an error.
    Unknown,
}

/// Maps raw integer labels from a file to class indices `0..C`, optionally filtering some labels out.
///
/// Classes must be contiguous: every index in `0..C` is the target of at least one raw label.
///
/// ```
/// use set_data::{LabelLookup, LabelMap};
/// // Sanders, binary task: keep negative (0) and positive (1), filter neutral (2) and irrelevant (3).
/// let m = LabelMap::new([(0, 0), (1, 1)], [2, 3], ["negative", "positive"]).unwrap();
/// assert_eq!(m.lookup(1), LabelLookup::Class(1));
/// assert_eq!(m.lookup(3), LabelLookup::Filtered);
/// assert_eq!(m.lookup(7), LabelLookup::Unknown);
/// assert_eq!(m.expected(), "0, 1 (filtered: 2, 3)");
/// // SST-5 style: identity on 0..5.
/// assert_eq!(LabelMap::identity(5).num_classes(), 5);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelMap {
    map: BTreeMap<i64, usize>,
    filtered: BTreeSet<i64>,
    class_names: Vec<String>,
}

impl LabelMap {
    /// A map from `(raw, class)` pairs, a set of raw labels to filter out, and one name per class.
    ///
    /// Errors if a raw label is both mapped and filtered or mapped twice, if the classes are not
    /// exactly `0..class_names.len()`, or if there are no classes.
    pub fn new<N: Into<String>>(
        pairs: impl IntoIterator<Item = (i64, usize)>,
        filtered: impl IntoIterator<Item = i64>,
        class_names: impl IntoIterator<Item = N>,
    ) -> Result<Self> {
        let class_names: Vec<String> = class_names.into_iter().map(Into::into).collect();
        let mut map = BTreeMap::new();
        for (raw, class) in pairs {
            if map.insert(raw, class).is_some() {
                return Err(DataError::invalid(
                    "label map",
                    format!("raw label {raw} mapped twice"),
                ));
            }
        }
        let filtered: BTreeSet<i64> = filtered.into_iter().collect();
        if let Some(raw) = filtered.iter().find(|r| map.contains_key(r)) {
            return Err(DataError::invalid(
                "label map",
                format!("raw label {raw} is both mapped and filtered"),
            ));
        }
        let targets: BTreeSet<usize> = map.values().copied().collect();
        let c = class_names.len();
        if c == 0 || targets.len() != c || targets.iter().copied().ne(0..c) {
            return Err(DataError::invalid(
                "label map",
                format!("classes must be exactly 0..{c} (one name each); got targets {targets:?}"),
            ));
        }
        Ok(Self {
            map,
            filtered,
            class_names,
        })
    }

    /// Identity on `0..num_classes` (clamped to at least 1), classes named `"0"`, `"1"`, ...
    pub fn identity(num_classes: usize) -> Self {
        let n = num_classes.max(1);
        Self {
            map: (0..n).map(|c| (c as i64, c)).collect(),
            filtered: BTreeSet::new(),
            class_names: (0..n).map(|c| c.to_string()).collect(),
        }
    }

    /// Binary sentiment: 0 → `negative`, 1 → `positive`.
    pub fn binary() -> Self {
        Self::identity(2).with_class_names(["negative", "positive"])
    }

    /// Replaces the class names if exactly one name per class is given; otherwise keeps the old ones.
    fn with_class_names<N: Into<String>>(mut self, names: impl IntoIterator<Item = N>) -> Self {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() == self.class_names.len() {
            self.class_names = names;
        }
        self
    }

    /// What to do with raw label `raw`.
    pub fn lookup(&self, raw: i64) -> LabelLookup {
        match self.map.get(&raw) {
            Some(&c) => LabelLookup::Class(c),
            None if self.filtered.contains(&raw) => LabelLookup::Filtered,
            None => LabelLookup::Unknown,
        }
    }

    /// The class of raw label `raw` for a loader: `Some(class)`, `None` for a filtered label
    /// (counted in `stats.filtered_label`), or [`DataError::UnknownLabel`] at `at`.
    ///
    /// # Errors
    /// A label that is neither mapped nor filtered.
    pub fn classify(
        &self,
        raw: i64,
        at: crate::error::Location,
        stats: &mut LoadStats,
    ) -> Result<Option<usize>> {
        match self.lookup(raw) {
            LabelLookup::Class(c) => Ok(Some(c)),
            LabelLookup::Filtered => {
                stats.filtered_label += 1;
                Ok(None)
            }
            LabelLookup::Unknown => Err(DataError::UnknownLabel {
                at,
                label: raw,
                expected: self.expected(),
            }),
        }
    }

    /// Classes named `names`, in that order; raw integer labels `0..C` map to them too.
    ///
    /// # Errors
    /// No names, or a name given twice.
    pub fn from_names<N: Into<String>>(names: impl IntoIterator<Item = N>) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if let Some(dup) = names
            .iter()
            .enumerate()
            .find(|(i, n)| names[..*i].contains(n))
        {
            return Err(DataError::invalid(
                "labels",
                format!("`{}` is given twice", dup.1),
            ));
        }
        Self::new((0..names.len()).map(|c| (c as i64, c)), [], names)
    }

    /// [`LabelMap::classify`] of a label written as text: an integer is looked up as such, any
    /// other text by class name (`field` names the label field in the error).
    ///
    /// # Errors
    /// A label that is neither a mapped integer nor a class name.
    pub fn classify_text(
        &self,
        raw: &str,
        field: &str,
        at: crate::error::Location,
        stats: &mut LoadStats,
    ) -> Result<Option<usize>> {
        let raw = raw.trim();
        if let Ok(i) = raw.parse::<i64>() {
            return self.classify(i, at, stats);
        }
        match self.class_names.iter().position(|n| n == raw) {
            Some(c) => Ok(Some(c)),
            None => Err(DataError::Field {
                at,
                field: field.to_string(),
                message: format!(
                    "unknown label {raw:?} (expected one of {}, or the class names {})",
                    self.expected(),
                    self.class_names.join(", ")
                ),
            }),
        }
    }

    /// Number of classes `C`.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Class names, indexed by class.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The accepted raw labels for error messages, e.g. `0, 1 (filtered: 2, 3)`.
    pub fn expected(&self) -> String {
        let join = |it: &mut dyn Iterator<Item = &i64>| {
            it.map(i64::to_string).collect::<Vec<_>>().join(", ")
        };
        let mapped = join(&mut self.map.keys());
        if self.filtered.is_empty() {
            mapped
        } else {
            format!("{mapped} (filtered: {})", join(&mut self.filtered.iter()))
        }
    }
}

/// What loaders do with a record whose text is empty or whitespace only (after `trim`).
///
/// None of the shipped datasets has such a record, so the default is to fail loudly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyTextPolicy {
    /// Fail with [`DataError::EmptyText`] naming `path:line`.
    #[default]
    Error,
    /// Skip the record and count it in [`LoadStats::skipped_empty`].
    Skip,
}

/// The format of a labelled data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// JSON Lines: one object per line.
    Jsonl,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// Tab-separated values with a header row (no quoting).
    Tsv,
}

impl FileFormat {
    /// Every name.
    pub const NAMES: &'static [&'static str] = &["jsonl", "csv", "tsv"];

    /// The format of a file name: `.csv` and `.tsv` (also with `.gz` after them), else JSONL.
    ///
    /// ```
    /// use set_data::FileFormat;
    /// assert_eq!(FileFormat::of_path("a/train.csv.gz".as_ref()), FileFormat::Csv);
    /// assert_eq!(FileFormat::of_path("x.tsv".as_ref()), FileFormat::Tsv);
    /// assert_eq!(FileFormat::of_path("x.jsonl".as_ref()), FileFormat::Jsonl);
    /// ```
    pub fn of_path(path: &std::path::Path) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".csv") {
            FileFormat::Csv
        } else if name.ends_with(".tsv") || name.ends_with(".tab") {
            FileFormat::Tsv
        } else {
            FileFormat::Jsonl
        }
    }
}

impl std::str::FromStr for FileFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "jsonl" | "json" => Ok(FileFormat::Jsonl),
            "csv" => Ok(FileFormat::Csv),
            "tsv" => Ok(FileFormat::Tsv),
            other => Err(format!("`{other}` is not one of jsonl, csv, tsv")),
        }
    }
}

/// Options shared by the file loaders.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadOptions {
    /// Policy for empty texts (default [`EmptyTextPolicy::Error`]).
    pub empty_text: EmptyTextPolicy,
    /// Longest accepted line (JSONL) or record (CSV) in bytes, default 16 MiB. Longer input is an
    /// error instead of unbounded memory use. (The CSV reader checks after reading the record.)
    pub max_line_bytes: usize,
    /// The text field: a JSONL key or a CSV/TSV header column; `None` = `text`, or `sentence`
    /// in a file that has no `text` (as Hugging Face dumps of SST-2 have).
    pub text_field: Option<String>,
    /// The label field; `None` = `label`. Labels are integers, or names of the classes.
    pub label_field: Option<String>,
    /// The file format; `None` = by the name's extension (see [`FileFormat::of_path`]).
    pub format: Option<FileFormat>,
}

impl LoadOptions {
    /// The default line cap: 16 MiB.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 16 << 20;
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            empty_text: EmptyTextPolicy::Error,
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            text_field: None,
            label_field: None,
            format: None,
        }
    }
}

/// What a loader read from one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadStats {
    /// Examples returned.
    pub records: usize,
    /// Records skipped for empty text under [`EmptyTextPolicy::Skip`].
    pub skipped_empty: usize,
    /// Records dropped because the [`LabelMap`] filters their label (e.g. Sanders neutral/irrelevant).
    pub filtered_label: usize,
    /// Returned examples per class.
    pub per_class: Vec<usize>,
}

impl LoadStats {
    pub(crate) fn new(num_classes: usize) -> Self {
        Self {
            per_class: vec![0; num_classes],
            ..Self::default()
        }
    }

    pub(crate) fn keep(&mut self, class: usize) {
        self.records += 1;
        if let Some(n) = self.per_class.get_mut(class) {
            *n += 1;
        }
    }
}

/// Examples loaded from one source, with the statistics of the load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Examples in file order.
    pub examples: Vec<Example>,
    /// Counts of kept, skipped and filtered records.
    pub stats: LoadStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_map_validation() {
        assert!(LabelMap::new([(0, 0), (1, 1)], [], ["a", "b"]).is_ok());
        assert!(LabelMap::new([(0, 0), (1, 2)], [], ["a", "b"]).is_err());
        assert!(LabelMap::new([(0, 0), (1, 1)], [1], ["a", "b"]).is_err());
        assert!(LabelMap::new([(0, 0), (0, 1)], [], ["a", "b"]).is_err());
        assert!(LabelMap::new([(0, 0)], [], ["a", "b"]).is_err());
        assert!(LabelMap::new(std::iter::empty(), [], Vec::<String>::new()).is_err());
        // Several raw labels may map to one class (e.g. SST-5 → binary).
        let m = LabelMap::new([(0, 0), (1, 0), (3, 1), (4, 1)], [2], ["neg", "pos"]).unwrap();
        assert_eq!(m.lookup(1), LabelLookup::Class(0));
        assert_eq!(m.lookup(2), LabelLookup::Filtered);
        assert_eq!(LabelMap::binary().class_names(), ["negative", "positive"]);
        assert_eq!(LabelMap::identity(3).expected(), "0, 1, 2");
    }
}
