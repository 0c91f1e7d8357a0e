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
    (
        $( $(#[$m:meta])* $name:ident : $ty:ty ),* $(,)?
        ;
        switches:
        $( $(#[$sm:meta])* $switch:ident / $no:ident = $no_flag:literal : $no_doc:literal ),* $(,)?
    ) => {
        /// Training settings as given on the command line or in a `--config` file: every field
        /// optional; unset fields take defaults in [`TrainConfig::resolve`].
        ///
        /// Boolean settings are switches, as in every subcommand: `--dense` turns one on,
        /// `--no-dense` off (over a config file's `dense = true`); the last one given wins. In
        /// the file they are `dense = true` / `false`.
        #[derive(Debug, Clone, Default, PartialEq, clap::Args, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Settings {
            $(
                $(#[$m])*
                #[arg(long, allow_negative_numbers = true)]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $name: Option<$ty>,
            )*
            $(
                $(#[$sm])*
                #[arg(long, num_args = 0, default_missing_value = "true", overrides_with = stringify!($no))]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $switch: Option<bool>,
                #[doc = $no_doc]
                #[arg(long = $no_flag, overrides_with = stringify!($switch))]
                #[serde(skip)]
                pub $no: bool,
            )*
        }

        impl Settings {
            /// Field-wise `self.or(other)`: values set in `self` win.
            pub fn or(self, other: Settings) -> Settings {
                let (a, b) = (self.negations_applied(), other.negations_applied());
                Settings {
                    $( $name: a.$name.or(b.$name), )*
                    $( $switch: a.$switch.or(b.$switch), $no: false, )*
                }
            }

            /// `--no-X` flags folded into their setting (`X = false`).
            pub fn negations_applied(mut self) -> Settings {
                $(
                    if std::mem::take(&mut self.$no) {
                        self.$switch = Some(false);
                    }
                )*
                self
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
    /// Training file (JSONL, CSV or TSV with a text and a label field, plain or .gz) instead of --data
    #[arg(value_name = "FILE")]
    train: PathBuf,
    /// Dev file (with --train); without it, dev is carved from train
    #[arg(value_name = "FILE")]
    dev: PathBuf,
    /// Test file (with --train); without it, test and dev are carved from train
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
    /// Fraction carved out as test for data without a test split (uci, sanders, --train alone) [default: 0.2]
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
    /// Small-dense baseline of the finished sparse run RUN: a dense model with embedding = hidden width chosen so that it stores about as many parameters as RUN (the nearest width, from RUN's manifest.json); replaces --dense, --embed-dim and --hidden
    #[arg(value_name = "RUN")]
    match_params_of: PathBuf,
    /// Topology evolution policy: set, rigl, snfs, static, or gmp (gradual magnitude pruning: every sparse matrix starts full and is pruned on Zhu & Gupta's cubic schedule to the density of --epsilon/--density/--erk) [default: set]
    #[arg(value_parser = named::<PolicyName>(PolicyName::NAMES), value_name = "POLICY")]
    policy: PolicyName,
    /// Fraction of each sparse matrix's connections pruned and regrown after every epoch but the last [default: 0.3]
    #[arg(value_name = "F")]
    zeta: f64,
    /// How the prune fraction changes over the run: constant, or cosine decay from --zeta to 0 [default: constant]
    #[arg(value_parser = named::<ScheduleName>(ScheduleName::NAMES), value_name = "KIND")]
    prune_schedule: ScheduleName,
    /// Evolve the topology every N optimizer steps until 75 % of the run's steps (RigL's schedule) instead of after every epoch but the last; with gmp, prune every N steps; 0: after every epoch but the last [default: 0]
    #[arg(value_name = "N")]
    evolve_every: u64,
    /// Standard deviation of regrown weights (0 = start at zero) [default: the policy's own: set 0.1, rigl/snfs 0]
    #[arg(value_name = "STD")]
    new_weight_std: f64,
    /// Regrown weights drawn from N(0, (F s)^2) with s the std of each matrix's own initialisation (embedding 1, LSTM and output U(-a, a): a / sqrt(3)) instead of --new-weight-std [default: off]
    #[arg(value_name = "F")]
    new_weight_matched: f64,
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
    /// Seed of the model's random choices (init, batch order, dropout, evolution) [default: 42]
    #[arg(value_name = "SEED")]
    #[arg(short = 's')]
    seed: u64,
    /// Seed of the dev/test split carved from the data, separate from --seed so that runs of different seeds share one split [default: 42]
    #[arg(value_name = "SEED")]
    split_seed: u64,
    /// Worker threads (0 = one per core); results do not depend on it [default: 0]
    #[arg(value_name = "N")]
    #[arg(short = 'j')]
    threads: usize;
    switches:
    /// Dense baseline: every matrix dense, no evolution
    dense / no_dense = "no-dense": "Sparse model (the default; overrides `dense = true` of a config file)",
    /// The output layer sparse too (with the same allocation as the other matrices) [default: off]
    sparse_output / no_sparse_output = "no-sparse-output": "Dense output layer (the default)",
    /// SET: positions pruned in a step may regrow in the same step [default: on]
    regrow_into_removed / no_regrow_into_removed = "no-regrow-into-removed": "SET: positions pruned in a step stay empty until the next step",
    /// Each recurrent layer also reads every sequence backwards; outputs concatenated [default: off]
    bidirectional / no_bidirectional = "no-bidirectional": "One direction per recurrent layer (the default)",
    /// Adam: bias correction from each weight's own step count, so a regrown weight starts like a weight at step 1 [default: off]
    adam_per_weight_steps / no_adam_per_weight_steps = "no-adam-per-weight-steps": "Adam: bias correction from the global step count (the default)",
}

/// Replaces `--match-params-of RUN` in `s` by `--dense --embed-dim K --hidden K`
/// ([`crate::match_params`]).
///
/// # Errors
/// A usage error when the widths or the sparsity are also given, or RUN cannot be read.
fn apply_match_params(mut s: Settings) -> Result<Settings> {
    let Some(run) = s.match_params_of.take() else {
        return Ok(s);
    };
    let clash = [
        ("--embed-dim", s.embed_dim.is_some()),
        ("--hidden", s.hidden.is_some()),
        ("--epsilon", s.epsilon.is_some()),
        ("--density", s.density.is_some()),
        ("--erk", s.erk.is_some()),
        ("--policy", s.policy.is_some()),
    ];
    if let Some((flag, _)) = clash.iter().find(|(_, set)| *set) {
        return Err(usage(format!(
            "--match-params-of chooses a dense model and its widths: drop {flag}"
        )));
    }
    let k = crate::match_params::matching_width(&crate::match_params::ParamTarget::of_run(&run)?);
    s.dense = Some(true);
    s.embed_dim = Some(k);
    s.hidden = Some(k);
    Ok(s)
}

/// The split seed of runs that do not set `--split-seed`. It is the default model seed, so a
/// run with the default seed splits as runs did before the split seed existed.
pub const DEFAULT_SPLIT_SEED: u64 = 42;

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
    /// Evolution every this many optimizer steps (0 = after every epoch but the last).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evolve_every: u64,
    /// SET: regrowth into positions pruned in the same step.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub regrow_into_removed: bool,
    /// Adam: per-weight bias correction.
    #[serde(default, skip_serializing_if = "is_false")]
    pub adam_per_weight_steps: bool,
    /// Regrown weight std; absent = the policy's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_weight_std: Option<f64>,
    /// Regrown weights at this multiple of each matrix's initial std; absent = not matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_weight_matched: Option<f64>,
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
    /// Seed of the model (init, batch order, dropout, evolution).
    pub seed: u64,
    /// Seed of the carved dev/test splits. Absent in configurations written before split seeds
    /// existed: those runs split with `seed` ([`TrainConfig::split_seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
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
    if !has(&d) && checkout_fallback() && has(&compiled_data_dir()) {
        return compiled_data_dir();
    }
    d
}

/// How to fetch a missing registry dataset into `dir`.
fn fetch_hint(dataset: set_data::DatasetName, name: &str, dir: &Path) -> String {
    if set_data::bundled::files(dataset).is_some() {
        format!(
            "install it with `set-lstm data fetch {name} --data-dir {}` (set-lstm carries a copy)",
            dir.display()
        )
    } else {
        format!(
            "install it with `set-lstm data fetch {name} --from DIR --data-dir {d}` (DIR holding its files) \
             or download and convert it with `cargo xtask fetch-data {name} --data-dir {d}`",
            d = dir.display()
        )
    }
}

/// Whether the compiled-in checkout path may be used. Test builds turn it off with
/// `SET_LSTM_TEST_NO_CHECKOUT=1`, to run the binary as if installed away from the checkout.
fn checkout_fallback() -> bool {
    #[cfg(feature = "test-hooks")]
    if std::env::var_os("SET_LSTM_TEST_NO_CHECKOUT").is_some_and(|v| v == "1") {
        return false;
    }
    true
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
    let flags = flags.negations_applied();
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
        let s = apply_match_params(s.negations_applied())?;
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
            if s.dev.is_some() && s.test.is_none() {
                return Err(usage(
                    "--dev needs --test (or give --train alone: test and dev are then carved \
                     from it with --test-fraction and --dev-fraction)",
                ));
            }
            let dev = s.dev.map(|d| absolute(&d, "dev", true)).transpose()?;
            let test = s.test.map(|t| absolute(&t, "test", true)).transpose()?;
            (
                None,
                None,
                Some(absolute(&train, "train", true)?),
                dev,
                test,
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
                         {fetch}, or pass --data-dir DIR",
                        fetch = fetch_hint(parsed, &name, &dir),
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
            evolve_every: s.evolve_every.unwrap_or(0),
            regrow_into_removed: s.regrow_into_removed.unwrap_or(true),
            adam_per_weight_steps: s.adam_per_weight_steps.unwrap_or(false),
            new_weight_std: s.new_weight_std,
            new_weight_matched: s.new_weight_matched,
            optimizer: s.optimizer.unwrap_or_default(),
            lr: s.lr.unwrap_or(0.01),
            lr_schedule: s.lr_schedule.unwrap_or_default(),
            warmup_steps: s.warmup_steps.unwrap_or(0),
            momentum: s.momentum.unwrap_or(0.9),
            weight_decay: s.weight_decay.unwrap_or(0.0),
            clip: s.clip.unwrap_or(5.0),
            early_stopping: s.early_stopping,
            seed: s.seed.unwrap_or(42),
            split_seed: Some(s.split_seed.unwrap_or(DEFAULT_SPLIT_SEED)),
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

    /// The seed that carves the dev and test splits: `split_seed`, or for a configuration
    /// written before split seeds existed (no `split_seed` key) the model `seed`, as those runs
    /// used, so that they resume and evaluate on their own splits.
    ///
    ///
    /// ```
    /// use set_cli::config::{Settings, TrainConfig};
    /// let c = TrainConfig::resolve(Settings { seed: Some(3), ..Settings::default() })?;
    /// assert_eq!((c.seed, c.split_seed()), (3, set_cli::config::DEFAULT_SPLIT_SEED));
    /// let mut old = c.clone();
    /// old.split_seed = None; // a config.toml written before split seeds existed
    /// assert_eq!(old.split_seed(), 3);
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
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
            evolve_every: self.evolve_every,
            new_weight_std: self.new_weight_std,
            new_weight_matched: self.new_weight_matched,
            regrow_into_removed: self.regrow_into_removed,
            adam_per_weight_steps: self.adam_per_weight_steps,
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
                test: self.test.clone(),
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
        let mut b = other.clone();
        a.threads = b.threads;
        // An absent split seed means the model seed: compare the seeds the splits use.
        a.split_seed = Some(a.split_seed());
        b.split_seed = Some(b.split_seed());
        a == b
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
                dev: Some("/nonexistent-dev".into()),
                ..Settings::default()
            })
            .contains("--dev needs --test")
        );
        let missing = err(Settings {
            train: Some("/nonexistent".into()),
            ..Settings::default()
        });
        assert!(missing.contains("/nonexistent"), "{missing}");
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

    #[test]
    fn split_seed_is_fixed_by_default_and_legacy_configs_split_with_the_model_seed() {
        let a = TrainConfig::resolve(Settings {
            seed: Some(1),
            ..uci()
        })
        .unwrap();
        let b = TrainConfig::resolve(Settings {
            seed: Some(2),
            ..uci()
        })
        .unwrap();
        assert_eq!(a.split_seed(), DEFAULT_SPLIT_SEED);
        assert_eq!(a.split_seed(), b.split_seed());
        let c = TrainConfig::resolve(Settings {
            seed: Some(1),
            split_seed: Some(9),
            ..uci()
        })
        .unwrap();
        assert_eq!((c.seed, c.split_seed()), (1, 9));
        assert!(!a.same_training(&c));
        // Written and read back, the split seed stays.
        let back = TrainConfig::from_toml(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back.split_seed(), 9);
        // A config.toml from before split seeds: no key, the model seed splits.
        let text = a.to_toml().unwrap();
        let legacy: String = text
            .lines()
            .filter(|l| !l.starts_with("split_seed"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_ne!(legacy, text);
        let old = TrainConfig::from_toml(&legacy).unwrap();
        assert_eq!((old.split_seed, old.split_seed()), (None, 1));
        // The same training as a resolved config that names that seed explicitly.
        let explicit = TrainConfig::resolve(Settings {
            seed: Some(1),
            split_seed: Some(1),
            ..uci()
        })
        .unwrap();
        assert!(old.same_training(&explicit));
        assert!(!old.same_training(&a));
    }

    #[test]
    fn match_params_of_chooses_the_dense_widths_and_refuses_clashes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            r#"{"params": 30152, "vocab_size": 4366, "class_names": ["negative", "positive"]}"#,
        )
        .unwrap();
        let c = TrainConfig::resolve(Settings {
            match_params_of: Some(dir.path().to_path_buf()),
            ..uci()
        })
        .unwrap();
        assert_eq!((c.dense, c.embed_dim, c.hidden), (true, 7, 7));
        let e = TrainConfig::resolve(Settings {
            match_params_of: Some(dir.path().to_path_buf()),
            hidden: Some(3),
            ..uci()
        })
        .unwrap_err();
        assert!(e.to_string().contains("--hidden"), "{e}");
    }
}
