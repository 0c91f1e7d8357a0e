//! A run's data: a registry dataset or explicit files, split with the seed's split stream,
//! tokenised with the one tokenizer every run uses, a vocabulary built from the training split
//! (or given), encoded; plus the SHA-256 of every file read.

use crate::error::TrainError;
use crate::rng::{Stream, stream_rng};
use serde::{Deserialize, Serialize};
use set_data::{
    DataDir, DatasetSplits, EncodedExample, FileDigest, LabelMap, SplitConfig, SplitFiles,
    Tokenizer, Vocab,
};
use std::path::{Path, PathBuf};

/// Where the examples come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DataSource {
    /// A registry dataset (`uci`, `imdb`, `sst2`, ...) in a data directory.
    Registry {
        /// Dataset name.
        name: String,
        /// The directory holding the registry datasets.
        dir: PathBuf,
    },
    /// Labelled files: JSONL, CSV or TSV (by extension, or `format`), plain or gzip'd.
    Files {
        /// Training file.
        train: PathBuf,
        /// Dev file; without it dev is carved from train.
        dev: Option<PathBuf>,
        /// Test file; without it test (and dev) are carved from train.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        test: Option<PathBuf>,
        /// Number of classes when labels are integers `0..classes`.
        classes: usize,
        /// Class names, in class order, when labels are words; `None`: the training file's
        /// distinct word labels, sorted (or integer labels when all are integers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        labels: Option<Vec<String>>,
        /// The text field (JSONL key or CSV/TSV column); `None`: `text`, or `sentence`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text_field: Option<String>,
        /// The label field; `None`: `label`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label_field: Option<String>,
        /// The format; `None`: by extension (`.csv`, `.tsv`, else JSONL).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<set_data::FileFormat>,
    },
}

/// How a run's data are read, split and turned into ids.
///
/// ```no_run
/// let cfg = set_train::DataConfig::registry("uci", "datasets");
/// let data = set_train::RunData::load(&cfg, 42, None).unwrap();
/// println!("{} training examples", data.splits.train.len());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The examples.
    pub source: DataSource,
    /// Fraction of train carved out as dev when there is no dev split.
    pub dev_fraction: f64,
    /// Fraction carved out as test for datasets without a test split.
    pub test_fraction: f64,
    /// Largest vocabulary, including `<pad>` and `<unk>`.
    pub vocab_size: usize,
    /// Fewest training occurrences for a token to enter the vocabulary.
    pub min_count: usize,
}

impl DataConfig {
    /// A registry dataset with default splits (dev 0.1, test 0.2) and vocabulary (20,000
    /// tokens, min count 1).
    pub fn registry(name: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        DataConfig {
            source: DataSource::Registry {
                name: name.into(),
                dir: dir.into(),
            },
            dev_fraction: 0.1,
            test_fraction: 0.2,
            vocab_size: 20_000,
            min_count: 1,
        }
    }

    /// The label map of the source: the registry's; for files the given class names, else the
    /// training file's word labels (sorted), else binary / identity on integer labels.
    ///
    /// # Errors
    /// An unknown dataset name, or an unreadable training file.
    pub fn label_map(&self) -> Result<LabelMap, TrainError> {
        Ok(match &self.source {
            DataSource::Registry { name, .. } => name.parse::<set_data::DatasetName>()?.labels(),
            DataSource::Files {
                labels: Some(names),
                ..
            } => LabelMap::from_names(names.iter().cloned())?,
            DataSource::Files { train, classes, .. } => {
                match set_data::discover_labels(train, &self.load_options())? {
                    Some(names) => LabelMap::from_names(names)?,
                    None if *classes == 2 => LabelMap::binary(),
                    None => LabelMap::identity(*classes),
                }
            }
        })
    }

    /// How each file is read: the field names and format of file sources.
    pub fn load_options(&self) -> set_data::LoadOptions {
        match &self.source {
            DataSource::Files {
                text_field,
                label_field,
                format,
                ..
            } => set_data::LoadOptions {
                text_field: text_field.clone(),
                label_field: label_field.clone(),
                format: *format,
                ..set_data::LoadOptions::default()
            },
            DataSource::Registry { .. } => set_data::LoadOptions::default(),
        }
    }

    /// The files the source reads, in load order.
    ///
    /// # Errors
    /// An unknown dataset name.
    pub fn files(&self) -> Result<Vec<PathBuf>, TrainError> {
        Ok(match &self.source {
            DataSource::Registry { name, dir } => {
                let d: set_data::DatasetName = name.parse()?;
                d.layout()
                    .files()
                    .into_iter()
                    .map(|f| dir.join(f))
                    .collect()
            }
            DataSource::Files {
                train, dev, test, ..
            } => [Some(train), dev.as_ref(), test.as_ref()]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        })
    }

    /// The digests of the files the source reads now.
    ///
    /// # Errors
    /// I/O errors naming the file.
    pub fn digests(&self) -> Result<Vec<FileDigest>, TrainError> {
        self.files()?
            .iter()
            .map(|p| Ok(FileDigest::of(p)?))
            .collect()
    }
}

/// Encoded splits, vocabulary and provenance of a run's data.
#[derive(Debug)]
pub struct RunData {
    /// Encoded train/dev/test.
    pub splits: DatasetSplits<EncodedExample>,
    /// The vocabulary.
    pub vocab: Vocab,
    /// The files read, with digests.
    pub files: Vec<FileDigest>,
}

/// Distinct token strings numbered in first-seen order.
#[derive(Default)]
struct Interner {
    ids: std::collections::HashMap<String, u32>,
    tokens: Vec<String>,
}

impl Interner {
    fn intern(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = u32::try_from(self.tokens.len()).expect("fewer than 2^32 distinct tokens");
        self.ids.insert(token.to_string(), id);
        self.tokens.push(token.to_string());
        id
    }
}

/// The tokenizer every run uses.
pub fn tokenizer() -> Tokenizer {
    Tokenizer::default()
}

impl RunData {
    /// Loads, splits (split stream of `seed`), tokenises and encodes the data of `cfg`, with
    /// `vocab` or a vocabulary built from the training split.
    ///
    /// # Errors
    /// Data errors (naming `path:line`).
    pub fn load(cfg: &DataConfig, seed: u64, vocab: Option<Vocab>) -> Result<Self, TrainError> {
        let tok = tokenizer();
        let mut rng = stream_rng(seed, Stream::Split, 0);
        let split = SplitConfig {
            dev_fraction: cfg.dev_fraction,
            test_fraction: cfg.test_fraction,
            load: cfg.load_options(),
        };
        // Raw texts, then each text tokenised and interned on its own (its text freed at
        // once): a split is held as 4-byte ids, never as one `String` per token (which cost
        // ~700 MiB for IMDB's 50,000 reviews).
        let raw = match &cfg.source {
            DataSource::Registry { name, dir } => {
                let dir = DataDir::new(dir)?;
                set_data::load_dataset(name, &dir, &mut rng, &split)?
            }
            DataSource::Files {
                train, dev, test, ..
            } => {
                let files = SplitFiles {
                    train: train.clone(),
                    dev: dev.clone(),
                    test: test.clone(),
                };
                set_data::load_files(&files, &cfg.label_map()?, &mut rng, &split)?
            }
        };
        let mut interner = Interner::default();
        let interned = raw.map(|e| EncodedExample {
            ids: tok
                .tokenize(&e.text)
                .iter()
                .map(|t| interner.intern(t))
                .collect(),
            label: e.label,
        });
        let vocab = vocab.unwrap_or_else(|| {
            let mut counts = vec![0usize; interner.tokens.len()];
            for id in interned.train.iter().flat_map(|e| &e.ids) {
                counts[*id as usize] += 1;
            }
            let pairs = interner.tokens.iter().map(String::as_str).zip(counts);
            Vocab::build_from_counts(pairs.filter(|&(_, c)| c > 0), cfg.vocab_size, cfg.min_count)
        });
        // Interned id -> vocabulary id, with `Vocab::encode`'s own rules (unknown and `<pad>`
        // text become `<unk>`).
        let final_id = vocab.encode(&interner.tokens);
        drop(interner);
        let encoded = interned.map(|mut e| {
            e.ids.iter_mut().for_each(|id| *id = final_id[*id as usize]);
            e
        });
        let files = encoded
            .source_files
            .iter()
            .map(|p| FileDigest::of(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RunData {
            splits: encoded,
            vocab,
            files,
        })
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.splits.num_classes
    }
}

/// Reads a labelled file (JSONL, CSV or TSV by extension; labels mapped with `labels`) and
/// encodes it with `vocab`, for evaluation.
///
/// # Errors
/// Data errors naming `path:line`.
pub fn load_eval_file(
    path: &Path,
    labels: &LabelMap,
    vocab: &Vocab,
) -> Result<Vec<EncodedExample>, TrainError> {
    let loaded = set_data::load_labeled(path, labels, &set_data::LoadOptions::default())?;
    let tok = tokenizer();
    Ok(loaded
        .examples
        .iter()
        .map(|e| EncodedExample {
            ids: vocab.encode(&tok.tokenize(&e.text)),
            label: e.label,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interned loading gives exactly the vocabulary and ids of tokenising every example into
    /// strings, building the vocabulary from the training lists and encoding them.
    #[test]
    fn interned_loading_equals_tokenise_build_encode() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets");
        let mut cfg = DataConfig::registry("uci", dir);
        cfg.vocab_size = 500;
        cfg.min_count = 2;
        let data = RunData::load(&cfg, 9, None).unwrap();
        let tok = tokenizer();
        let mut rng = stream_rng(9, Stream::Split, 0);
        let split = SplitConfig {
            dev_fraction: cfg.dev_fraction,
            test_fraction: cfg.test_fraction,
            ..SplitConfig::default()
        };
        let dd = DataDir::new(dir).unwrap();
        let tokenized =
            set_data::load_dataset_tokenized("uci", &dd, &tok, None, &mut rng, &split).unwrap();
        let vocab = Vocab::build(tokenized.train.iter().map(|e| &e.tokens), 500, 2);
        assert_eq!(data.vocab.tokens(), vocab.tokens());
        assert_eq!(data.splits, tokenized.encode(&vocab));
        // With a given vocabulary, that one is used.
        let again = RunData::load(&cfg, 9, Some(vocab.clone())).unwrap();
        assert_eq!(again.splits, data.splits);
    }
}

/// How [`check_same_data`] pairs the files a run recorded with the files read now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataMatch {
    /// The same paths (the data stayed where they were).
    SamePaths,
    /// The same file names, anywhere (the data directory moved: `resume --data-dir`).
    SameNames,
}

/// Checks that `now`, the digests of the files read today, are the files a run `recorded`
/// (in order, with the same SHA-256 and the same number of files; paired by `by`).
///
/// ```
/// use set_train::data::{DataMatch, check_same_data};
/// use set_train::set_data::FileDigest;
/// let a = FileDigest { path: "/old/train.jsonl".into(), sha256: "ab".into(), bytes: 1 };
/// let moved = FileDigest { path: "/new/train.jsonl".into(), ..a.clone() };
/// assert!(check_same_data(&[a.clone()], &[moved.clone()], DataMatch::SameNames).is_ok());
/// assert!(check_same_data(&[a], &[moved], DataMatch::SamePaths).is_err());
/// ```
///
/// # Errors
/// [`TrainError::DataChanged`] naming the first file that differs.
pub fn check_same_data(
    recorded: &[FileDigest],
    now: &[FileDigest],
    by: DataMatch,
) -> Result<(), TrainError> {
    for (want, have) in recorded.iter().zip(now) {
        let same_file = match by {
            DataMatch::SamePaths => want.path == have.path,
            DataMatch::SameNames => want.path.file_name() == have.path.file_name(),
        };
        if want.sha256 != have.sha256 || !same_file {
            return Err(TrainError::DataChanged(format!(
                "data file {} changed since the run started (sha256 {}, expected {} of {})",
                have.path.display(),
                have.sha256,
                want.sha256,
                want.path.display()
            )));
        }
    }
    if recorded.len() != now.len() {
        return Err(TrainError::DataChanged(format!(
            "the run read {} data files, now {}",
            recorded.len(),
            now.len()
        )));
    }
    Ok(())
}
