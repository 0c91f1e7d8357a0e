//! Loading a run's data: the registry dataset or explicit files, split with the SPLIT stream,
//! tokenised, vocabulary built from train (or given), encoded; plus SHA-256 of every file read.

use crate::config::TrainConfig;
use crate::rng::{Stream, stream_rng};
use crate::sysinfo::sha256_file;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use set_data::{
    DataDir, DatasetSplits, EncodedExample, LabelMap, SplitConfig, SplitFiles, Tokenizer, Vocab,
};
use std::path::{Path, PathBuf};

/// One input file and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Absolute path.
    pub path: PathBuf,
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
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

/// The label map of a configuration: the registry's, or binary/identity for files.
pub fn label_map(cfg: &TrainConfig) -> Result<LabelMap> {
    Ok(match &cfg.data {
        Some(name) => name.parse::<set_data::DatasetName>()?.labels(),
        None if cfg.classes == 2 => LabelMap::binary(),
        None => LabelMap::identity(cfg.classes),
    })
}

/// The tokenizer every run uses.
pub fn tokenizer() -> Tokenizer {
    Tokenizer::default()
}

/// The files a configuration reads, in load order, with digests.
///
/// # Errors
/// I/O errors.
pub fn digests(cfg: &TrainConfig) -> Result<Vec<FileDigest>> {
    let paths: Vec<PathBuf> = match (&cfg.data, &cfg.data_dir) {
        (Some(name), Some(dir)) => {
            let d: set_data::DatasetName = name.parse()?;
            d.layout()
                .files()
                .into_iter()
                .map(|f| dir.join(f))
                .collect()
        }
        _ => [&cfg.train, &cfg.dev, &cfg.test]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
    };
    paths.iter().map(|p| digest(p)).collect()
}

fn digest(path: &Path) -> Result<FileDigest> {
    Ok(FileDigest {
        path: path.to_path_buf(),
        sha256: sha256_file(path)?,
        bytes: std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len(),
    })
}

/// Loads, splits (SPLIT stream of the seed), tokenises and encodes the data of `cfg`, with
/// `vocab` or a vocabulary built from the training split.
///
/// # Errors
/// Data errors (naming `path:line`).
pub fn load(cfg: &TrainConfig, vocab: Option<Vocab>) -> Result<RunData> {
    let tok = tokenizer();
    let mut rng = stream_rng(cfg.seed, Stream::Split, 0);
    let split = SplitConfig {
        dev_fraction: cfg.dev_fraction,
        test_fraction: cfg.test_fraction,
        ..SplitConfig::default()
    };
    let splits = match (&cfg.data, &cfg.data_dir) {
        (Some(name), Some(dir)) => {
            let dir = DataDir::new(dir)?;
            set_data::load_dataset_tokenized(name, &dir, &tok, None, &mut rng, &split)
                .with_context(|| {
                    format!("loading dataset `{name}` from {}", dir.root().display())
                })?
        }
        _ => {
            let files = SplitFiles {
                train: cfg.train.clone().context("no training file")?,
                dev: cfg.dev.clone(),
                test: cfg.test.clone().context("no test file")?,
            };
            set_data::load_files_tokenized(&files, &label_map(cfg)?, &tok, None, &mut rng, &split)
                .context("loading the data files")?
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
        .map(|p| digest(p))
        .collect::<Result<Vec<_>>>()?;
    let encoded = splits.encode(&vocab);
    Ok(RunData {
        splits: encoded,
        vocab,
        files,
    })
}

/// The bytes `Vocab::save` writes (header, then one token per line).
pub fn vocab_bytes(vocab: &Vocab) -> Vec<u8> {
    let mut s = String::from(Vocab::HEADER);
    s.push('\n');
    for t in vocab.tokens() {
        s.push_str(t);
        s.push('\n');
    }
    s.into_bytes()
}

/// SHA-256 of the vocabulary file contents.
pub fn vocab_sha256(vocab: &Vocab) -> String {
    crate::sysinfo::sha256_hex(&vocab_bytes(vocab))
}

/// Reads a JSONL file of labelled examples for evaluation (labels mapped with `labels`).
///
/// # Errors
/// Data errors naming `path:line`.
pub fn load_eval_file(
    path: &Path,
    labels: &LabelMap,
    vocab: &Vocab,
) -> Result<Vec<EncodedExample>> {
    let loaded = set_data::load_jsonl(path, labels, &set_data::LoadOptions::default())
        .with_context(|| format!("loading {}", path.display()))?;
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
