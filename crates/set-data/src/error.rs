//! The crate's one error type, [`DataError`], and [`Location`], the `path:line` every message starts with.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// `Result` with [`DataError`] as the default error type.
pub type Result<T, E = DataError> = std::result::Result<T, E>;

/// Where in the input something went wrong: a file and, when the input is line-based, a 1-based line.
///
/// Displays as `path:line`, or just `path` when there is no line.
///
/// ```
/// use set_data::Location;
/// assert_eq!(Location::line("data/train.jsonl", 7).to_string(), "data/train.jsonl:7");
/// assert_eq!(Location::file("data/vocab.txt").to_string(), "data/vocab.txt");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file (or, for in-memory input, the name the caller gave it).
    pub path: PathBuf,
    /// 1-based line number, if the input has lines.
    pub line: Option<usize>,
}

impl Location {
    /// A location naming a file and a 1-based line.
    pub fn line(path: impl Into<PathBuf>, line: usize) -> Self {
        Self {
            path: path.into(),
            line: Some(line),
        }
    }

    /// A location naming a whole file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            line: None,
        }
    }

    pub(crate) fn at(path: &Path, line: usize) -> Self {
        Self::line(path.to_path_buf(), line)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Everything that can go wrong in `set-data`.
///
/// Bad input from outside (files, environment, user-supplied configuration) always comes back as
/// one of these, never as a panic. Messages start with the [`Location`] (`path:line`) where there is
/// one and name the field involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Opening, reading, creating, or renaming a file failed outside any particular line.
    #[error("{at}: cannot {action}: {source}")]
    Io {
        /// The file or directory.
        at: Location,
        /// What was being attempted, e.g. `"open"` or `"read directory"`.
        action: &'static str,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },

    /// Reading failed part-way through a file, typically a truncated or corrupt gzip stream.
    #[error("{at}: read error (truncated or corrupt gzip stream?): {source}")]
    Read {
        /// File and the line being read when the error happened.
        at: Location,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The bytes are not valid UTF-8.
    #[error("{at}: invalid UTF-8 ({detail})")]
    InvalidUtf8 {
        /// File and line.
        at: Location,
        /// Where in the line or field, e.g. `byte 17 of the line`.
        detail: String,
    },

    /// A line (or CSV record) is longer than the configured cap.
    #[error("{at}: line is longer than the cap of {limit} bytes")]
    LineTooLong {
        /// File and line.
        at: Location,
        /// The cap in bytes ([`crate::LoadOptions::max_line_bytes`]).
        limit: usize,
    },

    /// A JSONL line is not a JSON object.
    #[error("{at}: invalid JSON: {message}")]
    Json {
        /// File and line.
        at: Location,
        /// The parser's message (with the column).
        message: String,
    },

    /// A field is missing or has the wrong type or value.
    #[error("{at}: field `{field}`: {message}")]
    Field {
        /// File and line.
        at: Location,
        /// The field (JSON key or CSV column).
        field: String,
        /// What is wrong with it.
        message: String,
    },

    /// A label that the [`crate::LabelMap`] neither maps nor filters.
    #[error("{at}: unknown label {label} (expected one of {expected})")]
    UnknownLabel {
        /// File and line.
        at: Location,
        /// The raw label found.
        label: i64,
        /// The labels the map accepts, e.g. `0, 1` (and filters).
        expected: String,
    },

    /// The text is empty or whitespace only and the policy is [`crate::EmptyTextPolicy::Error`].
    #[error(
        "{at}: field `{field}` is empty or whitespace only (use EmptyTextPolicy::Skip to skip such records)"
    )]
    EmptyText {
        /// File and line.
        at: Location,
        /// The text field.
        field: String,
    },

    /// A blank line followed by more records in a JSONL file (blank lines are allowed only at the end).
    #[error("{at}: blank line before the end of the file")]
    BlankLine {
        /// File and the first blank line.
        at: Location,
    },

    /// A CSV/TSV syntax or reader error.
    #[error("{at}: CSV: {message}")]
    Csv {
        /// File and record line.
        at: Location,
        /// What the CSV reader reported.
        message: String,
    },

    /// A CSV column given by name is not in the header.
    #[error("{at}: no column named `{name}` in the header (columns: {columns})")]
    MissingColumn {
        /// The file (header line).
        at: Location,
        /// The requested column.
        name: String,
        /// The header's column names.
        columns: String,
    },

    /// A file name that does not follow the expected pattern (aclImdb `<id>_<rating>.txt`).
    #[error("{at}: bad file name: {reason}")]
    BadFileName {
        /// The file.
        at: Location,
        /// What was expected.
        reason: String,
    },

    /// A malformed vocabulary file (or serialised vocabulary).
    #[error("{at}: vocabulary: {message}")]
    Vocab {
        /// File and line.
        at: Location,
        /// What is wrong.
        message: String,
    },

    /// No data directory was given.
    #[error(
        "no data directory given: pass --data-dir <DIR> or set the environment variable SET_LSTM_DATA \
         to the folder holding imdb/, sst/, sanders_twitter/ and uci_sentiment_sentences/"
    )]
    NoDataDir,

    /// The data directory does not exist or is not a directory.
    #[error("{at}: data directory (from {origin}) does not exist or is not a directory")]
    DataDirMissing {
        /// The path given.
        at: Location,
        /// Where it came from: `--data-dir` or `SET_LSTM_DATA`.
        origin: &'static str,
    },

    /// A dataset name the registry does not know.
    #[error("unknown dataset `{name}` (known: {known})")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },

    /// A file the dataset layout requires is missing from the data directory.
    #[error("{at}: file of dataset `{dataset}` not found (is the data directory right?)")]
    MissingFile {
        /// The expected file.
        at: Location,
        /// The dataset name.
        dataset: String,
    },

    /// An argument or configuration value out of range (a fraction, a batch size, ...).
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// The argument.
        what: &'static str,
        /// Why it is invalid.
        message: String,
    },

    /// The token cache could not be written.
    #[error("{at}: cache: {message}")]
    Cache {
        /// The cache file.
        at: Location,
        /// What failed.
        message: String,
    },
}

impl DataError {
    /// The location the error names, if any.
    ///
    /// ```
    /// use set_data::{DataError, Location};
    /// let e = DataError::BlankLine { at: Location::line("a.jsonl", 3) };
    /// assert_eq!(e.location().and_then(|l| l.line), Some(3));
    /// ```
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Io { at, .. }
            | Self::Read { at, .. }
            | Self::InvalidUtf8 { at, .. }
            | Self::LineTooLong { at, .. }
            | Self::Json { at, .. }
            | Self::Field { at, .. }
            | Self::UnknownLabel { at, .. }
            | Self::EmptyText { at, .. }
            | Self::BlankLine { at }
            | Self::Csv { at, .. }
            | Self::MissingColumn { at, .. }
            | Self::BadFileName { at, .. }
            | Self::Vocab { at, .. }
            | Self::DataDirMissing { at, .. }
            | Self::MissingFile { at, .. }
            | Self::Cache { at, .. } => Some(at),
            Self::NoDataDir | Self::UnknownDataset { .. } | Self::InvalidArgument { .. } => None,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        Self::Io {
            at: Location::file(path),
            action,
            source,
        }
    }

    pub(crate) fn invalid(what: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            what,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_path_and_line() {
        let e = DataError::UnknownLabel {
            at: Location::line("x/train.jsonl", 12),
            label: 7,
            expected: "0, 1".into(),
        };
        assert_eq!(
            e.to_string(),
            "x/train.jsonl:12: unknown label 7 (expected one of 0, 1)"
        );
        assert_eq!(e.location().unwrap().line, Some(12));
        assert!(DataError::NoDataDir.to_string().contains("SET_LSTM_DATA"));
    }
}
