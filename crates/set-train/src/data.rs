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
    /// JSONL files of `{"text": .., "label": ..}` (plain or gzip).
    Files {
        /// Training file.
        train: PathBuf,
        /// Dev file; without it dev is carved from train.
        dev: Option<PathBuf>,
        /// Test file.
        test: PathBuf,
        /// Number of classes (labels `0..classes`).
        classes: usize,
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

    /// The label map of the source: the registry's, or binary/identity for files.
    ///
    /// # Errors
    /// An unknown dataset name.
    pub fn label_map(&self) -> Result<LabelMap, TrainError> {
        Ok(match &self.source {
            DataSource::Registry { name, .. } => name.parse::<set_data::DatasetName>()?.labels(),
            DataSource::Files { classes: 2, .. } => LabelMap::binary(),
            DataSource::Files { classes, .. } => LabelMap::identity(*classes),
        })
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
            } => [Some(train), dev.as_ref(), Some(test)]
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
            ..SplitConfig::default()
        };
        let splits = match &cfg.source {
            DataSource::Registry { name, dir } => {
                let dir = DataDir::new(dir)?;
                set_data::load_dataset_tokenized(name, &dir, &tok, None, &mut rng, &split)?
            }
            DataSource::Files {
                train, dev, test, ..
            } => {
                let files = SplitFiles {
                    train: train.clone(),
                    dev: dev.clone(),
                    test: test.clone(),
                };
                set_data::load_files_tokenized(
                    &files,
                    &cfg.label_map()?,
                    &tok,
                    None,
                    &mut rng,
                    &split,
                )?
            }
        };
        let vocab = vocab.unwrap_or_else(|| {
            Vocab::build(
                splits.train.iter().map(|e| &e.tokens),
                cfg.vocab_size,
                cfg.min_count,
            )
        });
        let files = splits
            .source_files
            .iter()
            .map(|p| FileDigest::of(p))
            .collect::<Result<Vec<_>, _>>()?;
        let encoded = splits.encode(&vocab);
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

/// Reads a JSONL file of labelled examples (labels mapped with `labels`) and encodes it with
/// `vocab`, for evaluation.
///
/// # Errors
/// Data errors naming `path:line`.
pub fn load_eval_file(
    path: &Path,
    labels: &LabelMap,
    vocab: &Vocab,
) -> Result<Vec<EncodedExample>, TrainError> {
    let loaded = set_data::load_jsonl(path, labels, &set_data::LoadOptions::default())?;
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
