//! Training configuration: every setting is a `train` flag and a key of the `--config` TOML file
//! (flags win); [`TrainConfig`] is the fully resolved, validated form saved as `config.toml`.

use crate::exit::usage;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use set_nn::Pooling;
use set_train::{
    DataConfig, DataSource, Density, DropoutRate, Epsilon, LrScheduleName, ModelSpec,
    OptimizerName, PolicyName, ScheduleName, SettingError, Sparsity, TrainerConfig, Zeta,
};
use std::path::{Path, PathBuf};

/// A clap parser for one of `set-train`'s named settings (`policy`, `optimizer`, ...): the
/// accepted `names` are listed in `--help` and completions, and parsed with `FromStr`.
pub fn named<T>(names: &'static [&'static str]) -> impl clap::builder::TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Display,
{
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(names)
        .try_map(|s: String| s.parse::<T>().map_err(|e| e.to_string()))
}

/// Pooling names: `set_nn::Pooling` serialised in lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PoolingName(pub Pooling);

impl PoolingName {
    /// Every name.
    pub const NAMES: &'static [&'static str] = &["last", "mean"];
}

impl std::str::FromStr for PoolingName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "last" => Ok(PoolingName(Pooling::Last)),
            "mean" => Ok(PoolingName(Pooling::Mean)),
            other => Err(format!("`{other}` is not one of last, mean")),
        }
    }
}

macro_rules! settings {
    ($( $(#[$m:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        /// Training settings as given on the command line or in a `--config` file: every field
        /// optional; unset fields take defaults in [`TrainConfig::resolve`].
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                $(#[$m])*
                #[arg(long, allow_negative_numbers = true)]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<$ty>,
            )*
        }

        impl Settings {
            /// Field-wise `self.or(other)`: values set in `self` win.
            pub fn or(self, other: Settings) -> Settings {
                Settings { $( $name: self.$name.or(other.$name), )* }
            }
        }
    };
}

settings! {
    /// Registry dataset name (imdb, sst2, sst5, sanders, sanders4, uci, uci-amazon, uci-imdb, uci-yelp) [default: uci]
    #[arg(value_name = "NAME")]
    #[arg(short = 'd')]
    data: String,
    /// Data directory holding the registry datasets [default: $SET_LSTM_DATA, else ./datasets, else the repository's datasets/]
    #[arg(value_name = "DIR")]
    data_dir: PathBuf,
    /// Training file (JSONL `{"label": int, "text": str}`, plain or .gz) instead of --data
    #[arg(value_name = "FILE")]
    train: PathBuf,
    /// Dev file (with --train); without it, dev is carved from train
    #[arg(value_name = "FILE")]
    dev: PathBuf,
    /// Test file (required with --train)
    #[arg(value_name = "FILE")]
    test: PathBuf,
    /// Number of classes of --train/--test files with integer labels 0..N-1 [default: 2; with --labels: their number]
    #[arg(value_name = "N")]
    classes: usize,
    /// Class names of --train/--test files whose labels are words, in class order, e.g. `neg,pos` [default: the training file's labels, sorted]
    #[arg(value_name = "NAMES")]
    labels: String,
    /// Format of --train/--dev/--test files: jsonl, csv or tsv (CSV and TSV with a header row) [default: by extension]
    #[arg(value_parser = named::<set_data::FileFormat>(set_data::FileFormat::NAMES), value_name = "FORMAT")]
    format: set_data::FileFormat,
    /// Text field of --train/--dev/--test files (JSONL key or CSV/TSV column) [default: text, or sentence]
    #[arg(value_name = "NAME")]
    text_field: String,
    /// Label field of --train/--dev/--test files [default: label]
    #[arg(value_name = "NAME")]
    label_field: String,
    /// Fraction of train carved out as dev when there is no dev file [default: 0.1]
    #[arg(value_name = "F")]
    dev_fraction: f64,
    /// Fraction carved out as test for datasets without a test split (uci, sanders) [default: 0.2]
    #[arg(value_name = "F")]
    test_fraction: f64,
    /// Training epochs [default: 10]
    #[arg(value_name = "N")]
    #[arg(short = 'e')]
    epochs: usize,
    /// Sequences per batch [default: 32]
    #[arg(value_name = "N")]
    #[arg(short = 'b')]
    batch_size: usize,
    /// Longest sequence in tokens; longer ones keep their last tokens [default: 64]
    #[arg(value_name = "N")]
    max_len: usize,
    /// Largest vocabulary, including <pad> and <unk> [default: 20000]
    #[arg(value_name = "N")]
    vocab_size: usize,
    /// Fewest training occurrences for a token to enter the vocabulary [default: 1]
    #[arg(value_name = "N")]
    min_count: usize,
    /// Embedding width [default: 128]
    #[arg(value_name = "N")]
    embed_dim: usize,
    /// LSTM hidden width [default: 128]
    #[arg(value_name = "N")]
    hidden: usize,
    /// Pooling of the LSTM outputs: last, mean [default: mean]
    #[arg(value_parser = named::<PoolingName>(PoolingName::NAMES), value_name = "KIND")]
    pooling: PoolingName,
    /// Dropout on the embeddings [default: 0.2]
    #[arg(value_name = "P")]
    dropout_embed: f64,
    /// Dropout before the output layer [default: 0.2]
    #[arg(value_name = "P")]
    dropout_output: f64,
    /// Recurrent cell: lstm, gru (PyTorch's nn.LSTM / nn.GRU equations) [default: lstm]
    #[arg(value_parser = named::<set_nn::CellKind>(&["lstm", "gru"]), value_name = "CELL")]
    cell: set_nn::CellKind,
    /// Stacked recurrent layers, in 1..=16 [default: 1]
    #[arg(value_name = "N")]
    layers: usize,
    /// Each recurrent layer also reads every sequence backwards; outputs concatenated [default: false]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    bidirectional: bool,
    /// Dropout on the input of every recurrent layer after the first [default: 0]
    #[arg(value_name = "P")]
    dropout_between: f64,
    /// Erdős–Rényi sparsity level: density of an n_out x n_in matrix = epsilon (n_in + n_out) / (n_in n_out) [default: 5]
    #[arg(value_name = "EPS")]
    epsilon: f64,
    /// The same density for the embedding and LSTM matrices, in (0, 1] (instead of --epsilon)
    #[arg(value_name = "D")]
    density: f64,
    /// RigL's Erdős–Rényi-Kernel allocation with this overall density, in (0, 1] (instead of --epsilon)
    #[arg(value_name = "D")]
    erk: f64,
    /// Dense baseline: every matrix dense, no evolution
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    dense: bool,
    /// The output layer sparse too (with the same allocation as the other matrices) [default: false]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    sparse_output: bool,
    /// Topology evolution policy: set, rigl, snfs, static [default: set]
    #[arg(value_parser = named::<PolicyName>(PolicyName::NAMES), value_name = "POLICY")]
    policy: PolicyName,
    /// Fraction of each sparse matrix's connections pruned and regrown after every epoch but the last [default: 0.3]
    #[arg(value_name = "F")]
    zeta: f64,
    /// How the prune fraction changes over the run: constant, or cosine decay from --zeta to 0 [default: constant]
    #[arg(value_parser = named::<ScheduleName>(ScheduleName::NAMES), value_name = "KIND")]
    prune_schedule: ScheduleName,
    /// SET: whether positions pruned in a step may regrow in the same step [default: true]
    #[arg(num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    regrow_into_removed: bool,
    /// Standard deviation of regrown weights (0 = start at zero) [default: the policy's own: set 0.1, rigl/snfs 0]
    #[arg(value_name = "STD")]
    new_weight_std: f64,
    /// Optimizer: sgd, adam [default: adam]
    #[arg(value_parser = named::<OptimizerName>(OptimizerName::NAMES), value_name = "NAME")]
    optimizer: OptimizerName,
    /// Learning rate [default: 0.01]
    #[arg(value_name = "LR")]
    lr: f64,
    /// Learning-rate schedule after the warm-up: constant, cosine or linear decay to 0 at the last step [default: constant]
    #[arg(value_parser = named::<LrScheduleName>(LrScheduleName::NAMES), value_name = "KIND")]
    lr_schedule: LrScheduleName,
    /// Optimizer steps of linear learning-rate warm-up [default: 0]
    #[arg(value_name = "N")]
    warmup_steps: u64,
    /// SGD momentum [default: 0.9]
    #[arg(value_name = "M")]
    momentum: f64,
    /// L2 weight decay on matrices [default: 0]
    #[arg(value_name = "WD")]
    weight_decay: f64,
    /// Clip the global gradient norm to this value (0 = off) [default: 5]
    #[arg(value_name = "NORM")]
    clip: f64,
    /// End the run once the dev accuracy has not improved for N epochs; best.safetensors holds the best dev epoch's model either way [default: off]
    #[arg(value_name = "N")]
    early_stopping: usize,
    /// Seed of every random choice (split, init, batch order, dropout, evolution) [default: 42]
    #[arg(value_name = "SEED")]
    #[arg(short = 's')]
    seed: u64,
    /// Worker threads (0 = one per core); results do not depend on it [default: 0]
    #[arg(value_name = "N")]
    #[arg(short = 'j')]
    threads: usize,
}

/// Keys that select the data source: flags setting any of them replace all of them from a file.
const DATA_GROUP: &[&str] = &[
    "data",
    "data_dir",
    "train",
    "dev",
    "test",
    "classes",
    "labels",
    "format",
    "text_field",
    "label_field",
];
/// Keys that select the sparsity: flags setting any of them replace all of them from a file.
const SPARSITY_GROUP: &[&str] = &["epsilon", "density", "erk", "dense"];

/// The fully resolved training configuration (`config.toml` of a run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Registry dataset name; absent when training from files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Absolute data directory (registry datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// Absolute training file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    /// Absolute dev file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<PathBuf>,
    /// Absolute test file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Classes of file data.
    pub classes: usize,
    /// Class names of file data with word labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Format of the data files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<set_data::FileFormat>,
    /// Text field of the data files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_field: Option<String>,
    /// Label field of the data files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_field: Option<String>,
    /// Dev fraction for carved splits.
    pub dev_fraction: f64,
    /// Test fraction for carved splits.
    pub test_fraction: f64,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Longest sequence.
    pub max_len: usize,
    /// Largest vocabulary.
    pub vocab_size: usize,
    /// Minimum token count.
    pub min_count: usize,
    /// Embedding width.
    pub embed_dim: usize,
    /// Hidden width.
    pub hidden: usize,
    /// Pooling.
    pub pooling: PoolingName,
    /// Embedding dropout.
    pub dropout_embed: f64,
    /// Output dropout.
    pub dropout_output: f64,
    /// Recurrent cell.
    #[serde(default, skip_serializing_if = "is_lstm")]
    pub cell: set_nn::CellKind,
    /// Stacked recurrent layers.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub layers: usize,
    /// Bidirectional recurrent layers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bidirectional: bool,
    /// Dropout between recurrent layers.
    #[serde(default, skip_serializing_if = "is_zero_rate")]
    pub dropout_between: f64,
    /// ER epsilon (when sparse and no uniform density).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    /// Uniform density.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density: Option<f64>,
    /// ERK overall density.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erk: Option<f64>,
    /// Dense baseline.
    pub dense: bool,
    /// Sparse output layer.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sparse_output: bool,
    /// Evolution policy.
    pub policy: PolicyName,
    /// Prune fraction.
    pub zeta: f64,
    /// Prune schedule.
    #[serde(default, skip_serializing_if = "is_constant")]
    pub prune_schedule: ScheduleName,
    /// SET: regrowth into positions pruned in the same step.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub regrow_into_removed: bool,
    /// Regrown weight std; absent = the policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_weight_std: Option<f64>,
    /// Optimizer.
    pub optimizer: OptimizerName,
    /// Learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    #[serde(default, skip_serializing_if = "is_constant_lr")]
    pub lr_schedule: LrScheduleName,
    /// Warm-up steps.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: u64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Gradient clipping norm (0 = off).
    pub clip: f64,
    /// Early-stopping patience in epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
    /// Seed.
    pub seed: u64,
    /// Worker threads, 0 = one per core (written only when given). Not compared on resume.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub threads: usize,
}

fn is_lstm(c: &set_nn::CellKind) -> bool {
    *c == set_nn::CellKind::Lstm
}

fn one() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_zero_rate(p: &f64) -> bool {
    *p == 0.0
}

fn is_false(b: &bool) -> bool {
    !b
}
fn is_true(b: &bool) -> bool {
    *b
}
fn yes() -> bool {
    true
}
fn is_constant_lr(s: &LrScheduleName) -> bool {
    *s == LrScheduleName::Constant
}
fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}
fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn is_constant(s: &ScheduleName) -> bool {
    *s == ScheduleName::Constant
}

/// The compiled-in dataset directory (the repository's `datasets/`).
pub fn compiled_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// The data directory when `--data-dir` is not given: the rule every tool shares
/// ([`set_data::DataDir::default_root`]: `$SET_LSTM_DATA`, else `./datasets`, else the user's
/// data directory).
pub fn default_data_dir() -> PathBuf {
    set_data::DataDir::default_root()
}

/// The directory to read `dataset` from when `--data-dir` is not given: the shared rule's, or,
/// when that one lacks the dataset, the source checkout's `datasets/` (compiled in) if it has it
/// (it ships the UCI sentences, so `set-lstm train` works from any folder of a checkout).
fn default_data_dir_for(dataset: set_data::DatasetName) -> PathBuf {
    let has = |d: &Path| dataset.layout().files().iter().all(|f| d.join(f).is_file());
    let d = default_data_dir();
    if !has(&d) && has(&compiled_data_dir()) {
        return compiled_data_dir();
    }
    d
}

/// Reads a `--config` TOML file (unknown keys are errors).
pub fn read_settings_file(path: &Path) -> Result<Settings> {
    let text = set_data::read_text_bounded(path, set_data::bounded::MAX_SETTINGS_BYTES)
        .map_err(|e| usage(format!("--config: {e}")))?;
    toml::from_str(&text).map_err(|e| usage(format!("--config {}: {e}", path.display())))
}

fn flag(key: &str) -> String {
    format!("--{}", key.replace('_', "-"))
}

fn is_set(s: &Settings, key: &str) -> bool {
    // Serialised settings hold exactly the keys that are set.
    match toml::Table::try_from(s) {
        Ok(t) => t.contains_key(key),
        Err(_) => false,
    }
}

fn clear(s: &mut Settings, keys: &[&str]) {
    for k in keys {
        match *k {
            "data" => s.data = None,
            "data_dir" => s.data_dir = None,
            "train" => s.train = None,
            "dev" => s.dev = None,
            "test" => s.test = None,
            "classes" => s.classes = None,
            "labels" => s.labels = None,
            "format" => s.format = None,
            "text_field" => s.text_field = None,
            "label_field" => s.label_field = None,
            "epsilon" => s.epsilon = None,
            "density" => s.density = None,
            "erk" => s.erk = None,
            "dense" => s.dense = None,
            _ => unreachable!("group key {k}"),
        }
    }
}

/// Merges flags over a config file: flags win key by key, and a flag from the data-source or
/// sparsity group replaces that whole group of the file.
pub fn merge(flags: Settings, mut file: Settings) -> Settings {
    for group in [DATA_GROUP, SPARSITY_GROUP] {
        if group.iter().any(|k| is_set(&flags, k)) {
            clear(&mut file, group);
        }
    }
    flags.or(file)
}

/// A setting error of `set-train` as a usage error naming the flag.
fn setting(e: SettingError) -> anyhow::Error {
    usage(format!(
        "invalid value {} for {} (config key `{}`): expected {}",
        e.value,
        flag(e.key),
        e.key,
        e.expected
    ))
}

fn check(ok: bool, key: &str, value: impl std::fmt::Display, expected: &str) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(usage(format!(
            "invalid value {value} for {} (config key `{key}`): expected {expected}",
            flag(key)
        )))
    }
}

fn absolute(path: &Path, key: &str, must_be_file: bool) -> Result<PathBuf> {
    let ok = if must_be_file {
        path.is_file()
    } else {
        path.is_dir()
    };
    if !ok {
        let what = if must_be_file { "file" } else { "directory" };
        let why = if path.exists() && must_be_file {
            "not a regular file".to_string()
        } else {
            format!("no such {what}")
        };
        return Err(usage(format!("{} {}: {why}", flag(key), path.display())));
    }
    std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}

/// `0` means one thread per core.
pub fn resolve_threads(n: usize) -> usize {
    match n {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// Checks a `--threads` value of `resume` or `eval`.
///
/// # Errors
/// A usage error above 1024.
pub fn check_threads(n: Option<usize>) -> Result<()> {
    match n {
        Some(n) if n > 1024 => Err(usage(format!(
            "invalid value {n} for --threads: expected an integer in 0..=1024 (0 = one per core)"
        ))),
        _ => Ok(()),
    }
}

impl TrainConfig {
    /// Applies defaults to `s` and validates every value, naming the flag of the first bad one.
    /// Paths are checked to exist and made absolute. Nothing is written.
    ///
    /// # Errors
    /// A usage error (exit code 2).
    pub fn resolve(s: Settings) -> Result<Self> {
        let files = s.train.is_some() || s.dev.is_some() || s.test.is_some();
        if files && s.data.is_some() {
            return Err(usage("--data cannot be combined with --train/--dev/--test"));
        }
        if files && s.data_dir.is_some() {
            return Err(usage(
                "--data-dir cannot be combined with --train/--dev/--test",
            ));
        }
        let (data, data_dir, train, dev, test) = if files {
            let train = s
                .train
                .ok_or_else(|| usage("--dev/--test given without --train"))?;
            let test = s
                .test
                .ok_or_else(|| usage("--train needs --test (and optionally --dev)"))?;
            let dev = s.dev.map(|d| absolute(&d, "dev", true)).transpose()?;
            (
                None,
                None,
                Some(absolute(&train, "train", true)?),
                dev,
                Some(absolute(&test, "test", true)?),
            )
        } else {
            let name = s.data.unwrap_or_else(|| "uci".to_string());
            let parsed: set_data::DatasetName = name
                .parse()
                .map_err(|e: set_data::DataError| usage(format!("--data {name}: {e}")))?;
            let explicit = s.data_dir.is_some();
            let dir = match s.data_dir {
                Some(d) => absolute(&d, "data_dir", false)?,
                None => {
                    let d = default_data_dir_for(parsed);
                    std::fs::canonicalize(&d).unwrap_or(d)
                }
            };
            for f in parsed.layout().files() {
                if !dir.join(f).is_file() {
                    return Err(usage(format!(
                        "--data {name}: file {f} not found in data directory {dir} \
                         (--data-dir, else ${env}, else ./datasets, else the user data directory); \
                         fetch it with `cargo xtask fetch-data {name} --data-dir {dir}` \
                         (add `--from ARCHIVE` for a downloaded archive), or pass --data-dir DIR",
                        dir = dir.display(),
                        env = set_data::DataDir::ENV_VAR
                    )));
                }
            }
            // The default directory is found again wherever the run is resumed or evaluated:
            // only a directory given explicitly is part of the configuration.
            (
                Some(parsed.as_str().to_string()),
                explicit.then_some(dir),
                None,
                None,
                None,
            )
        };

        let dense = s.dense.unwrap_or(false);
        let given = usize::from(s.epsilon.is_some())
            + usize::from(s.density.is_some())
            + usize::from(s.erk.is_some());
        if dense && given > 0 {
            return Err(usage(
                "--dense cannot be combined with --epsilon, --density or --erk",
            ));
        }
        if given > 1 {
            return Err(usage(
                "--epsilon, --density and --erk are alternatives: give one",
            ));
        }
        if let Some(p) = s.policy.filter(|p| dense && *p != PolicyName::Set) {
            return Err(usage(format!(
                "--policy {p} with --dense: a dense model has no topology to evolve (drop --policy, or train a sparse model with --epsilon, --density or --erk)"
            )));
        }
        let epsilon = if dense || given > 0 {
            s.epsilon
        } else {
            Some(Epsilon::DEFAULT.get())
        };
        // 0 (one per core) unless given: the configuration carries to another machine.
        let threads = s.threads.unwrap_or(0);
        let file_settings = s.labels.is_some()
            || s.format.is_some()
            || s.text_field.is_some()
            || s.label_field.is_some();
        if file_settings && train.is_none() {
            return Err(usage(
                "--labels, --format, --text-field and --label-field describe --train/--test files",
            ));
        }
        let labels: Option<Vec<String>> = s.labels.as_deref().map(|l| {
            l.split(',')
                .map(|n| n.trim().to_string())
                .collect::<Vec<_>>()
        });
        if let Some(l) = &labels
            && let Err(e) = set_data::LabelMap::from_names(l.iter().cloned())
        {
            return Err(usage(format!("--labels {}: {e}", l.join(","))));
        }
        if labels
            .as_ref()
            .is_some_and(|l| l.iter().any(String::is_empty))
        {
            return Err(usage("--labels: a class name is empty"));
        }
        let c = TrainConfig {
            data,
            data_dir,
            train,
            dev,
            test,
            classes: match (&labels, s.classes) {
                (Some(l), Some(c)) if l.len() != c => {
                    return Err(usage(format!(
                        "--classes {c} and --labels with {} names disagree",
                        l.len()
                    )));
                }
                (Some(l), _) => l.len(),
                (None, c) => c.unwrap_or(2),
            },
            labels,
            format: s.format,
            text_field: s.text_field,
            label_field: s.label_field,
            dev_fraction: s.dev_fraction.unwrap_or(0.1),
            test_fraction: s.test_fraction.unwrap_or(0.2),
            epochs: s.epochs.unwrap_or(10),
            batch_size: s.batch_size.unwrap_or(32),
            max_len: s.max_len.unwrap_or(64),
            vocab_size: s.vocab_size.unwrap_or(20_000),
            min_count: s.min_count.unwrap_or(1),
            embed_dim: s.embed_dim.unwrap_or(128),
            hidden: s.hidden.unwrap_or(128),
            pooling: s.pooling.unwrap_or(PoolingName(Pooling::Mean)),
            dropout_embed: s.dropout_embed.unwrap_or(0.2),
            dropout_output: s.dropout_output.unwrap_or(0.2),
            cell: s.cell.unwrap_or_default(),
            layers: s.layers.unwrap_or(1),
            bidirectional: s.bidirectional.unwrap_or(false),
            dropout_between: s.dropout_between.unwrap_or(0.0),
            epsilon,
            density: s.density,
            erk: s.erk,
            dense,
            sparse_output: s.sparse_output.unwrap_or(false),
            policy: s.policy.unwrap_or_default(),
            zeta: s.zeta.unwrap_or(Zeta::DEFAULT.get()),
            prune_schedule: s.prune_schedule.unwrap_or_default(),
            regrow_into_removed: s.regrow_into_removed.unwrap_or(true),
            new_weight_std: s.new_weight_std,
            optimizer: s.optimizer.unwrap_or_default(),
            lr: s.lr.unwrap_or(0.01),
            lr_schedule: s.lr_schedule.unwrap_or_default(),
            warmup_steps: s.warmup_steps.unwrap_or(0),
            momentum: s.momentum.unwrap_or(0.9),
            weight_decay: s.weight_decay.unwrap_or(0.0),
            clip: s.clip.unwrap_or(5.0),
            early_stopping: s.early_stopping,
            seed: s.seed.unwrap_or(42),
            threads,
        };
        c.validate()?;
        Ok(c)
    }

    /// Range checks of every value (also run on a `config.toml` read back by `resume`): the
    /// data settings here, the model and training settings by `set-train`'s checked types.
    ///
    /// # Errors
    /// A usage error naming the flag.
    pub fn validate(&self) -> Result<()> {
        let frac = |v: f64| v.is_finite() && (0.0..1.0).contains(&v);
        check(
            self.data.is_some() != self.train.is_some(),
            "data",
            "(none)",
            "either --data or --train/--test",
        )?;
        check(
            (2..=set_train::MAX_CLASSES).contains(&self.classes),
            "classes",
            self.classes,
            "an integer in 2..=1000",
        )?;
        check(
            frac(self.dev_fraction),
            "dev_fraction",
            self.dev_fraction,
            "a fraction in [0, 1)",
        )?;
        check(
            frac(self.test_fraction),
            "test_fraction",
            self.test_fraction,
            "a fraction in [0, 1)",
        )?;
        check(
            self.min_count >= 1,
            "min_count",
            self.min_count,
            "an integer >= 1",
        )?;
        check(
            usize::from(self.dense)
                + usize::from(self.epsilon.is_some())
                + usize::from(self.density.is_some())
                + usize::from(self.erk.is_some())
                == 1,
            "dense",
            self.dense,
            "exactly one of --dense, --epsilon, --density, --erk",
        )?;
        check(
            self.threads <= 1024,
            "threads",
            self.threads,
            "an integer in 0..=1024 (0 = one per core)",
        )?;
        self.trainer_config().map_err(setting)?;
        self.model_spec(self.vocab_size, self.classes)
            .map_err(setting)?;
        Ok(())
    }

    /// The dataset label used in run directory names (`uci`, or `files`).
    pub fn dataset_label(&self) -> &str {
        self.data.as_deref().unwrap_or("files")
    }

    /// The training settings.
    ///
    /// # Errors
    /// The first setting out of range.
    pub fn trainer_config(&self) -> Result<TrainerConfig, SettingError> {
        let c = TrainerConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            clip: self.clip,
            seed: self.seed,
            policy: self.policy,
            zeta: Zeta::new(self.zeta)?,
            prune_schedule: self.prune_schedule,
            new_weight_std: self.new_weight_std,
            regrow_into_removed: self.regrow_into_removed,
            lr_schedule: self.lr_schedule,
            warmup_steps: self.warmup_steps,
            early_stopping: self.early_stopping,
        };
        c.validate()?;
        Ok(c)
    }

    /// The model of these settings for a vocabulary of `vocab_size` ids and `classes` classes.
    ///
    /// # Errors
    /// The first setting out of range.
    pub fn model_spec(&self, vocab_size: usize, classes: usize) -> Result<ModelSpec, SettingError> {
        let sparsity = match (self.dense, self.epsilon, self.density, self.erk) {
            (true, ..) => Sparsity::Dense,
            (_, _, Some(d), _) => Sparsity::Uniform {
                density: Density::new(d)?,
            },
            (_, _, _, Some(d)) => Sparsity::Erk {
                density: Density::new(d).map_err(|e| e.for_key("erk"))?,
            },
            (_, e, ..) => Sparsity::ErdosRenyi {
                epsilon: Epsilon::new(e.unwrap_or(Epsilon::DEFAULT.get()))?,
            },
        };
        let spec = ModelSpec::new(vocab_size, self.embed_dim, self.hidden, classes)
            .with_max_len(self.max_len)
            .with_sparsity(sparsity)
            .with_sparse_output(self.sparse_output)
            .with_pooling(self.pooling.0)
            .with_dropout(
                DropoutRate::new(self.dropout_embed).map_err(|e| e.for_key("dropout_embed"))?,
                DropoutRate::new(self.dropout_output).map_err(|e| e.for_key("dropout_output"))?,
            )
            .with_rnn(
                self.cell,
                self.layers,
                self.bidirectional,
                DropoutRate::new(self.dropout_between).map_err(|e| e.for_key("dropout_between"))?,
            );
        spec.validate()?;
        Ok(spec)
    }

    /// Where the data come from and how they are split and encoded.
    pub fn data_config(&self) -> DataConfig {
        let source = match &self.data {
            Some(name) => DataSource::Registry {
                name: name.clone(),
                dir: self.data_dir.clone().unwrap_or_else(|| {
                    let d = name
                        .parse()
                        .map_or_else(|_| default_data_dir(), default_data_dir_for);
                    std::fs::canonicalize(&d).unwrap_or(d)
                }),
            },
            _ => DataSource::Files {
                train: self.train.clone().unwrap_or_default(),
                dev: self.dev.clone(),
                test: self.test.clone().unwrap_or_default(),
                classes: self.classes,
                labels: self.labels.clone(),
                text_field: self.text_field.clone(),
                label_field: self.label_field.clone(),
                format: self.format,
            },
        };
        DataConfig {
            source,
            dev_fraction: self.dev_fraction,
            test_fraction: self.test_fraction,
            vocab_size: self.vocab_size,
            min_count: self.min_count,
        }
    }

    /// The configuration as JSON, as model files and checkpoints record it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// The configuration recorded in a model file or checkpoint, validated.
    ///
    /// # Errors
    /// None recorded (a model saved by a library program), or an invalid one.
    pub fn from_json(v: Option<&serde_json::Value>) -> Result<Self> {
        let v = v.context("the file records no set-lstm training configuration")?;
        let c: TrainConfig = serde_json::from_value(v.clone())
            .context("the file's training configuration does not parse")?;
        c.validate()?;
        Ok(c)
    }

    /// `config.toml` text.
    ///
    /// # Errors
    /// If serialisation fails (it does not for valid configs).
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(self).context("serialising the configuration")?;
        Ok(format!(
            "# set-lstm training configuration (fully resolved; usable as --config)\n{body}"
        ))
    }

    /// Parses a `config.toml` written by [`TrainConfig::to_toml`].
    ///
    /// # Errors
    /// A parse error or an invalid value.
    pub fn from_toml(text: &str) -> Result<Self> {
        let c: TrainConfig = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// Whether two configurations train identically (`threads` does not matter).
    pub fn same_training(&self, other: &TrainConfig) -> bool {
        let mut a = self.clone();
        a.threads = other.threads;
        a == *other
    }

    /// The first key whose value differs (for resume's error message).
    pub fn first_difference(&self, other: &TrainConfig) -> Option<String> {
        let a = toml::Table::try_from(self).ok()?;
        let b = toml::Table::try_from(other).ok()?;
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .filter(|k| k.as_str() != "threads")
            .find(|k| a.get(k.as_str()) != b.get(k.as_str()))
            .map(|k| {
                let show = |t: &toml::Table| {
                    t.get(k.as_str())
                        .map_or("(unset)".to_string(), |v| v.to_string())
                };
                format!("`{k}`: {} vs {}", show(&a), show(&b))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uci() -> Settings {
        Settings {
            data_dir: Some(compiled_data_dir()),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_resolve_and_round_trip_through_toml() {
        let c = TrainConfig::resolve(uci()).unwrap();
        assert_eq!(c.data.as_deref(), Some("uci"));
        assert_eq!(c.epsilon, Some(Epsilon::DEFAULT.get()));
        let text = c.to_toml().unwrap();
        let back = TrainConfig::from_toml(&text).unwrap();
        assert_eq!(back, c);
        // A resolved config is a valid --config file.
        let s: Settings = toml::from_str(&text).unwrap();
        assert_eq!(TrainConfig::resolve(s).unwrap(), c);
    }

    #[test]
    fn flags_win_and_groups_replace() {
        let file = Settings {
            epsilon: Some(2.0),
            lr: Some(0.5),
            epochs: Some(3),
            ..uci()
        };
        let flags = Settings {
            density: Some(0.1),
            lr: Some(0.1),
            ..Settings::default()
        };
        let m = merge(flags, file);
        assert_eq!(
            (m.epsilon, m.density, m.lr, m.epochs),
            (None, Some(0.1), Some(0.1), Some(3))
        );
    }

    #[test]
    fn bad_values_name_the_flag() {
        let err = |s: Settings| TrainConfig::resolve(s).unwrap_err().to_string();
        assert!(
            err(Settings {
                lr: Some(-1.0),
                ..uci()
            })
            .contains("--lr")
        );
        assert!(
            err(Settings {
                zeta: Some(1.5),
                ..uci()
            })
            .contains("--zeta")
        );
        assert!(
            err(Settings {
                density: Some(0.0),
                ..uci()
            })
            .contains("--density")
        );
        assert!(
            err(Settings {
                hidden: Some(0),
                ..uci()
            })
            .contains("--hidden")
        );
        assert!(
            err(Settings {
                data: Some("mnist".into()),
                ..uci()
            })
            .contains("--data mnist")
        );
        assert!(
            err(Settings {
                epsilon: Some(1.0),
                density: Some(0.1),
                ..uci()
            })
            .contains("alternatives")
        );
        assert!(
            err(Settings {
                train: Some("/nonexistent".into()),
                ..Settings::default()
            })
            .contains("--test")
        );
        assert!(toml::from_str::<Settings>("lr = 0.1\nbogus = 1\n").is_err());
    }

    #[test]
    fn differences_are_named() {
        let a = TrainConfig::resolve(uci()).unwrap();
        let mut b = a.clone();
        b.threads += 1;
        assert!(a.same_training(&b));
        b.lr = 0.5;
        assert!(!a.same_training(&b));
        assert!(a.first_difference(&b).unwrap().starts_with("`lr`"));
    }
}
