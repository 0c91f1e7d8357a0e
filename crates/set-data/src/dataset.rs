//! Loading a dataset's train/dev/test splits: by registry name or from explicit files, raw or tokenised (optionally cached).
//!
//! Carved splits are stratified by class ([`stratified_split`]) and deterministic given the rng:
//! for pooled datasets the test split (`test_fraction`) is drawn first, then the dev split
//! (`dev_fraction` of what remains); for datasets with official train/test but no dev (`imdb`)
//! only the dev split is drawn. Every split keeps file order, so **shuffle before training**
//! (batching does). See [`crate::registry`] for the dataset names and files.

use std::path::{Path, PathBuf};

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::batch::{EncodedExample, encode_examples};
use crate::cache::{CacheStatus, TokenCache};
use crate::datadir::DataDir;
use crate::error::{DataError, Location, Result};
use crate::example::{
    Example, LabelMap, Labeled, LoadOptions, LoadStats, TokenizedExample, tokenize_examples,
};
use crate::labeled::load_labeled;
use crate::registry::{DatasetName, Layout};
use crate::split::{check_fraction, stratified_split};
use crate::tokenizer::Tokenizer;
use crate::vocab::Vocab;

/// Fractions for carved splits and the loader options.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Fraction of the training data held out as dev when there is no official dev split (default 0.1).
    pub dev_fraction: f64,
    /// Fraction held out as test for datasets without an official split (default 0.2).
    pub test_fraction: f64,
    /// Loader options (empty-text policy, line cap).
    pub load: LoadOptions,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            dev_fraction: 0.1,
            test_fraction: 0.2,
            load: LoadOptions::default(),
        }
    }
}

/// Where a split came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitOrigin {
    /// An official split file.
    File,
    /// Drawn from the training data with the rng.
    CarvedFromTrain,
    /// Drawn from the pooled files with the rng.
    CarvedFromPool,
}

/// Explicit split files for [`load_files`] (JSONL, plain or gzip'd).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitFiles {
    /// Training file.
    pub train: PathBuf,
    /// Dev file; if `None`, dev is carved from train with [`SplitConfig::dev_fraction`].
    pub dev: Option<PathBuf>,
    /// Test file; if `None`, test is carved from train with [`SplitConfig::test_fraction`]
    /// (then dev must be `None` too, and is carved from the rest).
    pub test: Option<PathBuf>,
}

/// Train/dev/test examples of one dataset. `T` is [`Example`], [`TokenizedExample`] or [`EncodedExample`].
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSplits<T = Example> {
    /// Dataset name (`"files"` for [`load_files`]).
    pub name: String,
    /// Training examples, in file order.
    pub train: Vec<T>,
    /// Dev examples, in file order.
    pub dev: Vec<T>,
    /// Test examples, in file order.
    pub test: Vec<T>,
    /// Number of classes.
    pub num_classes: usize,
    /// Class names, indexed by class.
    pub class_names: Vec<String>,
    /// The files read, in load order.
    pub source_files: Vec<PathBuf>,
    /// Load statistics, one per source file (same order).
    pub load_stats: Vec<LoadStats>,
    /// Cache use, one per source file (same order); [`CacheStatus::Disabled`] without a cache.
    pub cache_status: Vec<CacheStatus>,
    /// Origin of the dev split.
    pub dev_origin: SplitOrigin,
    /// Origin of the test split.
    pub test_origin: SplitOrigin,
}

impl<T> DatasetSplits<T> {
    /// Applies `f` to every example of every split (train, then dev, then test).
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> DatasetSplits<U> {
        DatasetSplits {
            name: self.name,
            train: self.train.into_iter().map(&mut f).collect(),
            dev: self.dev.into_iter().map(&mut f).collect(),
            test: self.test.into_iter().map(&mut f).collect(),
            num_classes: self.num_classes,
            class_names: self.class_names,
            source_files: self.source_files,
            load_stats: self.load_stats,
            cache_status: self.cache_status,
            dev_origin: self.dev_origin,
            test_origin: self.test_origin,
        }
    }
}

impl DatasetSplits<Example> {
    /// Tokenises every split (no cache).
    pub fn tokenize(self, tokenizer: &Tokenizer) -> DatasetSplits<TokenizedExample> {
        self.map(|e| TokenizedExample {
            tokens: tokenizer.tokenize(&e.text),
            label: e.label,
        })
    }
}

impl DatasetSplits<TokenizedExample> {
    /// Encodes every split with `vocab` (build it from `train` only).
    pub fn encode(&self, vocab: &Vocab) -> DatasetSplits<EncodedExample> {
        DatasetSplits {
            name: self.name.clone(),
            train: encode_examples(&self.train, vocab),
            dev: encode_examples(&self.dev, vocab),
            test: encode_examples(&self.test, vocab),
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
            source_files: self.source_files.clone(),
            load_stats: self.load_stats.clone(),
            cache_status: self.cache_status.clone(),
            dev_origin: self.dev_origin,
            test_origin: self.test_origin,
        }
    }
}

/// Loads a named dataset from `data_dir` and forms its train/dev/test splits.
///
/// `rng` is used only to carve splits (see the [module docs](self)).
pub fn load_dataset<R: Rng + ?Sized>(
    name: &str,
    data_dir: &DataDir,
    rng: &mut R,
    config: &SplitConfig,
) -> Result<DatasetSplits> {
    let dataset: DatasetName = name.parse()?;
    let labels = dataset.labels();
    let files = resolve_files(dataset, data_dir)?;
    assemble(dataset.as_str(), &labels, files, rng, config, |path| {
        let loaded = load_labeled(path, &labels, &config.load)?;
        Ok((loaded.examples, loaded.stats, CacheStatus::Disabled))
    })
}

/// [`load_dataset`], tokenised, through `cache` when given: a second run with the same files,
/// tokenizer and options neither parses nor tokenises. The splits are identical to tokenising
/// the output of `load_dataset` with the same rng state.
pub fn load_dataset_tokenized<R: Rng + ?Sized>(
    name: &str,
    data_dir: &DataDir,
    tokenizer: &Tokenizer,
    cache: Option<&TokenCache>,
    rng: &mut R,
    config: &SplitConfig,
) -> Result<DatasetSplits<TokenizedExample>> {
    let dataset: DatasetName = name.parse()?;
    let labels = dataset.labels();
    let files = resolve_files(dataset, data_dir)?;
    assemble(dataset.as_str(), &labels, files, rng, config, |path| {
        load_tokenized(path, &labels, tokenizer, cache, &config.load)
    })
}

/// Loads explicit split files with `labels`; a missing dev file is carved from train, and
/// without a test file both test and dev are carved from train (stratified, with `rng`).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let (tr, te) = (dir.path().join("tr.jsonl"), dir.path().join("te.jsonl"));
/// # let line = |l: usize, t: &str| format!("{{\"label\":{l},\"text\":\"{t}\"}}\n");
/// # std::fs::write(&tr, (0..20).map(|i| line(i % 2, "some text")).collect::<String>()).unwrap();
/// # std::fs::write(&te, line(1, "test text")).unwrap();
/// use rand::SeedableRng;
/// use set_data::{load_files, LabelMap, SplitConfig, SplitFiles, SplitOrigin};
/// let files = SplitFiles { train: tr.clone(), dev: None, test: Some(te) };
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let s = load_files(&files, &LabelMap::binary(), &mut rng, &SplitConfig::default())?;
/// assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (18, 2, 1));
/// assert_eq!(s.dev_origin, SplitOrigin::CarvedFromTrain);
///
/// // One file only: test and dev are both carved from it.
/// let one = SplitFiles { train: tr, dev: None, test: None };
/// let s = load_files(&one, &LabelMap::binary(), &mut rng, &SplitConfig::default())?;
/// assert_eq!(s.train.len() + s.dev.len() + s.test.len(), 20);
/// assert_eq!(s.test_origin, SplitOrigin::CarvedFromPool);
/// # Ok::<(), set_data::DataError>(())
/// ```
pub fn load_files<R: Rng + ?Sized>(
    files: &SplitFiles,
    labels: &LabelMap,
    rng: &mut R,
    config: &SplitConfig,
) -> Result<DatasetSplits> {
    assemble("files", labels, explicit(files)?, rng, config, |path| {
        let loaded = load_labeled(path, labels, &config.load)?;
        Ok((loaded.examples, loaded.stats, CacheStatus::Disabled))
    })
}

/// [`load_files`], tokenised, through `cache` when given.
pub fn load_files_tokenized<R: Rng + ?Sized>(
    files: &SplitFiles,
    labels: &LabelMap,
    tokenizer: &Tokenizer,
    cache: Option<&TokenCache>,
    rng: &mut R,
    config: &SplitConfig,
) -> Result<DatasetSplits<TokenizedExample>> {
    assemble("files", labels, explicit(files)?, rng, config, |path| {
        load_tokenized(path, labels, tokenizer, cache, &config.load)
    })
}

type Part<T> = (Vec<T>, LoadStats, CacheStatus);

fn load_tokenized(
    path: &Path,
    labels: &LabelMap,
    tokenizer: &Tokenizer,
    cache: Option<&TokenCache>,
    options: &LoadOptions,
) -> Result<Part<TokenizedExample>> {
    let load = || load_labeled(path, labels, options);
    match cache {
        Some(cache) => {
            let key = loader_key(labels, options);
            let c = cache.tokenize_cached(path, &key, tokenizer, load)?;
            Ok((c.examples, c.stats, c.status))
        }
        None => {
            let loaded = load()?;
            Ok((
                tokenize_examples(&loaded.examples, tokenizer),
                loaded.stats,
                CacheStatus::Disabled,
            ))
        }
    }
}

/// Everything besides file bytes and tokenizer that shapes a loaded file, for the cache key.
fn loader_key(labels: &LabelMap, options: &LoadOptions) -> String {
    format!(
        "jsonl;labels={};options={}",
        serde_json::to_string(labels).unwrap_or_default(),
        serde_json::to_string(options).unwrap_or_default()
    )
}

/// Absolute files of one dataset, checked to exist.
enum Files {
    Official {
        train: PathBuf,
        dev: Option<PathBuf>,
        test: PathBuf,
    },
    Pooled(Vec<PathBuf>),
}

fn resolve_files(dataset: DatasetName, dir: &DataDir) -> Result<Files> {
    let path = |rel: &str| {
        let p = dir.root().join(rel);
        if p.is_file() {
            Ok(p)
        } else {
            Err(DataError::MissingFile {
                at: Location::file(p),
                dataset: dataset.as_str().to_owned(),
            })
        }
    };
    Ok(match dataset.layout() {
        Layout::Official { train, dev, test } => Files::Official {
            train: path(train)?,
            dev: dev.map(path).transpose()?,
            test: path(test)?,
        },
        Layout::Pooled { files } => {
            Files::Pooled(files.iter().map(|f| path(f)).collect::<Result<_>>()?)
        }
    })
}

fn explicit(files: &SplitFiles) -> Result<Files> {
    match (&files.dev, &files.test) {
        (_, Some(test)) => Ok(Files::Official {
            train: files.train.clone(),
            dev: files.dev.clone(),
            test: test.clone(),
        }),
        (None, None) => Ok(Files::Pooled(vec![files.train.clone()])),
        (Some(dev), None) => Err(DataError::invalid(
            "test",
            format!(
                "a dev file ({}) without a test file: give the test file too, or neither \
                 (then both are carved from the training file)",
                dev.display()
            ),
        )),
    }
}

fn assemble<T, R, F>(
    name: &str,
    labels: &LabelMap,
    files: Files,
    rng: &mut R,
    config: &SplitConfig,
    mut load: F,
) -> Result<DatasetSplits<T>>
where
    T: Labeled,
    R: Rng + ?Sized,
    F: FnMut(&Path) -> Result<Part<T>>,
{
    check_fraction("dev_fraction", config.dev_fraction)?;
    check_fraction("test_fraction", config.test_fraction)?;
    let mut source_files = Vec::new();
    let mut load_stats = Vec::new();
    let mut cache_status = Vec::new();
    let mut read = |path: PathBuf| -> Result<Vec<T>> {
        let (examples, stats, status) = load(&path)?;
        source_files.push(path);
        load_stats.push(stats);
        cache_status.push(status);
        Ok(examples)
    };
    let (train, dev, test, dev_origin, test_origin) = match files {
        Files::Official { train, dev, test } => {
            let train = read(train)?;
            let dev = dev.map(&mut read).transpose()?;
            let test = read(test)?;
            match dev {
                Some(dev) => (train, dev, test, SplitOrigin::File, SplitOrigin::File),
                None => {
                    let (train, dev) = stratified_split(train, config.dev_fraction, rng)?;
                    (
                        train,
                        dev,
                        test,
                        SplitOrigin::CarvedFromTrain,
                        SplitOrigin::File,
                    )
                }
            }
        }
        Files::Pooled(paths) => {
            let mut all = Vec::new();
            for p in paths {
                all.extend(read(p)?);
            }
            let (rest, test) = stratified_split(all, config.test_fraction, rng)?;
            let (train, dev) = stratified_split(rest, config.dev_fraction, rng)?;
            (
                train,
                dev,
                test,
                SplitOrigin::CarvedFromTrain,
                SplitOrigin::CarvedFromPool,
            )
        }
    };
    if train.is_empty() {
        return Err(DataError::invalid(
            "dataset",
            format!("`{name}`: the training split is empty (files: {source_files:?})"),
        ));
    }
    Ok(DatasetSplits {
        name: name.to_owned(),
        train,
        dev,
        test,
        num_classes: labels.num_classes(),
        class_names: labels.class_names().to_vec(),
        source_files,
        load_stats,
        cache_status,
        dev_origin,
        test_origin,
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::fs;
    use std::io::Write;

    fn write_gz(path: &Path, lines: &[(i64, String)]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for (l, t) in lines {
            writeln!(
                enc,
                "{}",
                serde_json::json!({"label": l, "text": t, "extra": 1})
            )
            .unwrap();
        }
        fs::write(path, enc.finish().unwrap()).unwrap();
    }

    fn rows(n: usize, classes: i64, tag: &str) -> Vec<(i64, String)> {
        (0..n)
            .map(|i| (i as i64 % classes, format!("{tag} text number {i}!")))
            .collect()
    }

    /// A miniature data directory with every layout.
    fn mini() -> (tempfile::TempDir, DataDir) {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        write_gz(&r.join("imdb/train.jsonl.gz"), &rows(40, 2, "imdb train"));
        write_gz(&r.join("imdb/test.jsonl.gz"), &rows(10, 2, "imdb test"));
        for (p, n, c) in [("sst/sst2_", 20, 2), ("sst/", 25, 5)] {
            for s in ["train", "dev", "test"] {
                write_gz(&r.join(format!("{p}{s}.jsonl.gz")), &rows(n, c, s));
            }
        }
        write_gz(
            &r.join("sanders_twitter/all.jsonl.gz"),
            &rows(100, 4, "tweet"),
        );
        for f in ["amazon_cells", "imdb", "yelp"] {
            write_gz(
                &r.join(format!("uci_sentiment_sentences/{f}.jsonl.gz")),
                &rows(50, 2, f),
            );
        }
        let dir = DataDir::new(r).unwrap();
        (d, dir)
    }

    fn load(name: &str, dir: &DataDir, seed: u64) -> DatasetSplits {
        load_dataset(
            name,
            dir,
            &mut ChaCha8Rng::seed_from_u64(seed),
            &SplitConfig::default(),
        )
        .unwrap()
    }

    #[test]
    fn every_dataset_loads_with_expected_shapes() {
        let (_d, dir) = mini();
        let sizes = |s: &DatasetSplits| (s.train.len(), s.dev.len(), s.test.len(), s.num_classes);
        assert_eq!(sizes(&load("imdb", &dir, 0)), (36, 4, 10, 2));
        assert_eq!(sizes(&load("sst2", &dir, 0)), (20, 20, 20, 2));
        assert_eq!(sizes(&load("sst5", &dir, 0)), (25, 25, 25, 5));
        // Sanders: 50 of 100 have labels 0/1; test 20% → 10, dev 10% of 40 → 4.
        let s = load("sanders", &dir, 0);
        assert_eq!(sizes(&s), (36, 4, 10, 2));
        assert_eq!(s.load_stats[0].filtered_label, 50);
        assert_eq!(s.class_names, ["negative", "positive"]);
        let s4 = load("sanders4", &dir, 0);
        assert_eq!(sizes(&s4), (72, 8, 20, 4));
        assert_eq!(s4.test.iter().filter(|e| e.label == 3).count(), 5);
        let u = load("uci", &dir, 0);
        assert_eq!(sizes(&u), (108, 12, 30, 2));
        assert_eq!(u.source_files.len(), 3);
        assert_eq!(
            (u.dev_origin, u.test_origin),
            (SplitOrigin::CarvedFromTrain, SplitOrigin::CarvedFromPool)
        );
        assert_eq!(sizes(&load("uci-yelp", &dir, 0)), (36, 4, 10, 2));
        assert!(
            load("uci-yelp", &dir, 0)
                .train
                .iter()
                .all(|e| e.text.starts_with("yelp"))
        );
    }

    #[test]
    fn carving_is_seeded_and_deterministic() {
        let (_d, dir) = mini();
        assert_eq!(load("uci", &dir, 1), load("uci", &dir, 1));
        assert_ne!(load("uci", &dir, 1).test, load("uci", &dir, 2).test);
        assert_ne!(load("imdb", &dir, 1).dev, load("imdb", &dir, 2).dev);
    }

    #[test]
    fn tokenized_with_cache_matches_uncached() {
        let (d, dir) = mini();
        let tok = Tokenizer::default();
        let cache = TokenCache::new(d.path().join("cache")).unwrap();
        let cfg = SplitConfig::default();
        let plain = load("sanders", &dir, 4).tokenize(&tok);
        let run = |name| {
            load_dataset_tokenized(
                name,
                &dir,
                &tok,
                Some(&cache),
                &mut ChaCha8Rng::seed_from_u64(4),
                &cfg,
            )
            .unwrap()
        };
        let cold = run("sanders");
        let warm = run("sanders");
        assert_eq!(cold.cache_status, [CacheStatus::Built]);
        assert_eq!(warm.cache_status, [CacheStatus::Hit]);
        assert_eq!(
            (&cold.train, &cold.dev, &cold.test),
            (&plain.train, &plain.dev, &plain.test)
        );
        assert_eq!((&warm.train, &warm.test), (&plain.train, &plain.test));
        assert_eq!(warm.load_stats, plain.load_stats);
        // Same file, different label map: a separate cache entry.
        assert_eq!(run("sanders4").cache_status, [CacheStatus::Built]);
        assert_eq!(run("sanders4").train.len(), 72);
        let vocab = Vocab::build(warm.train.iter().map(|e| &e.tokens), 100, 1);
        let enc = warm.encode(&vocab);
        assert_eq!(enc.train.len(), warm.train.len());
    }

    #[test]
    fn errors_name_what_is_missing() {
        let (d, dir) = mini();
        fs::remove_file(d.path().join("sst/sst2_dev.jsonl.gz")).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let cfg = SplitConfig::default();
        let e = load_dataset("sst2", &dir, &mut rng, &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("sst/sst2_dev.jsonl.gz: file of dataset `sst2` not found (is the data directory right?)"), "{e}");
        let e = load_dataset("nope", &dir, &mut rng, &cfg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown dataset `nope`"), "{e}");
        let bad = SplitConfig {
            dev_fraction: 1.5,
            ..SplitConfig::default()
        };
        assert!(
            load_dataset("imdb", &dir, &mut rng, &bad)
                .unwrap_err()
                .to_string()
                .contains("dev_fraction")
        );
    }

    #[test]
    fn explicit_files_with_and_without_dev() {
        let (d, _dir) = mini();
        let r = d.path();
        let files = SplitFiles {
            train: r.join("sst/sst2_train.jsonl.gz"),
            dev: Some(r.join("sst/sst2_dev.jsonl.gz")),
            test: Some(r.join("sst/sst2_test.jsonl.gz")),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let s = load_files(
            &files,
            &LabelMap::binary(),
            &mut rng,
            &SplitConfig::default(),
        )
        .unwrap();
        assert_eq!(
            (s.train.len(), s.dev.len(), s.dev_origin),
            (20, 20, SplitOrigin::File)
        );
        let t = load_files_tokenized(
            &files,
            &LabelMap::binary(),
            &Tokenizer::default(),
            None,
            &mut rng,
            &SplitConfig::default(),
        )
        .unwrap();
        assert_eq!(t.train[0].tokens, ["train", "text", "number", "0", "!"]);
        let wrong = load_files(
            &files,
            &LabelMap::new([(0, 0)], [], ["only"]).unwrap(),
            &mut rng,
            &SplitConfig::default(),
        );
        assert!(
            wrong
                .unwrap_err()
                .to_string()
                .contains("sst2_train.jsonl.gz:2: unknown label 1 (expected one of 0)")
        );
    }

    #[test]
    fn one_training_file_is_carved_into_three_splits() {
        let (d, _dir) = mini();
        let train = d.path().join("imdb/train.jsonl.gz");
        let one = SplitFiles {
            train: train.clone(),
            dev: None,
            test: None,
        };
        let cfg = SplitConfig::default();
        let s = load_files(
            &one,
            &LabelMap::binary(),
            &mut ChaCha8Rng::seed_from_u64(0),
            &cfg,
        )
        .unwrap();
        // 40 examples: 20 % test (8), then 10 % of the rest dev, the remainder train.
        assert_eq!(s.test.len(), 8);
        assert_eq!(s.train.len() + s.dev.len() + s.test.len(), 40);
        assert_eq!(s.test.iter().filter(|e| e.label == 1).count(), 4);
        assert_eq!(
            (s.dev_origin, s.test_origin),
            (SplitOrigin::CarvedFromTrain, SplitOrigin::CarvedFromPool)
        );
        assert_eq!(s.source_files, std::slice::from_ref(&train));
        // The same seed carves the same splits; no example is in two of them.
        let again = load_files(
            &one,
            &LabelMap::binary(),
            &mut ChaCha8Rng::seed_from_u64(0),
            &cfg,
        )
        .unwrap();
        assert_eq!(s, again);
        let texts: std::collections::HashSet<_> = s
            .train
            .iter()
            .chain(&s.dev)
            .chain(&s.test)
            .map(|e| &e.text)
            .collect();
        assert_eq!(texts.len(), 40);
        let dev_only = SplitFiles {
            train,
            dev: Some(d.path().join("sst/sst2_dev.jsonl.gz")),
            test: None,
        };
        let e = load_files(
            &dev_only,
            &LabelMap::binary(),
            &mut ChaCha8Rng::seed_from_u64(0),
            &cfg,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("without a test file"), "{e}");
    }

    /// The one test that reads real data: the UCI copy shipped in the repository, when present.
    #[test]
    fn shipped_uci_copy_loads_when_present() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets");
        if !root.join("uci_sentiment_sentences/yelp.jsonl.gz").is_file() {
            return;
        }
        let dir = DataDir::new(&root).unwrap();
        let s = load("uci", &dir, 0);
        assert_eq!(
            s.load_stats.iter().map(|l| l.records).collect::<Vec<_>>(),
            [1000, 1000, 1000]
        );
        assert_eq!(s.train.len() + s.dev.len() + s.test.len(), 3000);
        assert_eq!(s.test.len(), 600);
        assert_eq!(s.test.iter().filter(|e| e.label == 1).count(), 300);
        let tok = Tokenizer::default();
        let t = s.tokenize(&tok);
        assert!(t.train.iter().all(|e| !e.tokens.is_empty()));
        assert!(
            t.train
                .iter()
                .flat_map(|e| &e.tokens)
                .all(|w| !w.chars().any(char::is_control))
        );
    }
}
