//! Command-line interface (clap derive): subcommands and their flags; help text comes from the
//! doc comments.

use crate::config::Settings;
use crate::exit::EXIT_CODES_HELP;
use clap::{Args, Parser, Subcommand};
use set_train::OptimizerName;
use std::path::{Path, PathBuf};

/// Truly sparse LSTM sentiment classifiers trained with Sparse Evolutionary Training (SET-LSTM).
///
/// `set-lstm train` with no arguments trains a sparse model on the shipped UCI sentences
/// dataset and prints its test accuracy and parameter fraction.
#[derive(Debug, Parser)]
#[command(name = "set-lstm", version, after_help = EXIT_CODES_HELP, propagate_version = true)]
pub struct Cli {
    /// Log level filter for stderr (overrides RUST_LOG and -q/-v), e.g. `warn`, `info`, `debug`
    #[arg(long, global = true, value_name = "FILTER")]
    pub log: Option<String>,
    /// Less output: no progress bars or per-epoch lines, errors only on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log output on stderr (-v: debug, -vv: trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model into a new run directory
    #[command(after_help = EXIT_CODES_HELP)]
    Train(Box<TrainArgs>),
    /// Continue an interrupted run; ends bit-identical to an uninterrupted one
    #[command(after_help = EXIT_CODES_HELP)]
    Resume(ResumeArgs),
    /// Accuracy, per-class precision/recall/F1 and confusion matrix of a trained model
    #[command(after_help = EXIT_CODES_HELP)]
    Eval(EvalArgs),
    /// Classify texts given as arguments or one per line on stdin
    #[command(after_help = EXIT_CODES_HELP)]
    Predict(PredictArgs),
    /// Per-matrix shape, non-zeros, density and bytes of a model
    #[command(after_help = EXIT_CODES_HELP)]
    Info(InfoArgs),
    /// Write a model as safetensors: sparse CSR, or dense with PyTorch names and layouts
    #[command(after_help = EXIT_CODES_HELP)]
    Export(ExportArgs),
    /// Time training steps and inference batches on random tokens; prints one JSON line
    #[command(after_help = EXIT_CODES_HELP)]
    Bench(BenchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout
    Completions(CompletionsArgs),
    /// The registry datasets in the data directory: list them, or install one from a folder
    Data(DataArgs),
    /// Expand a grid of train settings into runs; train them here or write a Slurm array job
    #[command(after_help = EXIT_CODES_HELP)]
    Sweep(SweepArgs),
    /// Test-only (hidden): rewrite a run's latest checkpoint in a loop, for the SIGKILL tests
    #[cfg(feature = "test-hooks")]
    #[command(name = "__test-write-loop", hide = true)]
    TestWriteLoop(TestWriteLoopArgs),
}

#[cfg(feature = "test-hooks")]
/// `__test-write-loop` flags: a helper of the reliability tests, not a user command. It
/// alternates between checkpoint files, writing each over `checkpoints/latest.safetensors` of
/// `RUN_DIR` exactly as training does (or, with `--plain`, with a bare `fs::write`: the
/// non-atomic control that the tests must see torn), until killed or `--max-seconds` pass.
#[derive(Debug, Args)]
pub struct TestWriteLoopArgs {
    /// Run directory whose `checkpoints/latest.safetensors` is rewritten
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Checkpoint files to write, in turn
    #[arg(value_name = "VERSION", num_args = 1.., required = true)]
    pub versions: Vec<PathBuf>,
    /// Write with a bare `std::fs::write` (truncate, then write): the torn-file control
    #[arg(long)]
    pub plain: bool,
    /// Stop after this many seconds (a safety net if the test never kills the process)
    #[arg(long, value_name = "S", default_value_t = 20)]
    pub max_seconds: u64,
}

/// `data` flags.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Data directory [default: the one `train` reads: $SET_LSTM_DATA, else ./datasets, else the user data directory]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: DataCommand,
}

/// `data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Every registry dataset: present, partial or missing, its bytes and files
    List,
    /// Install a registry dataset from a folder holding its files (each checked by loading it)
    Fetch {
        /// Dataset name (imdb, sst2, sst5, sanders, sanders4, uci, uci-amazon, uci-imdb, uci-yelp)
        #[arg(value_name = "NAME")]
        name: String,
        /// Folder holding the dataset's files (in it, or in its registry sub-folder)
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
    },
}

/// `completions` flags.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `bash`: `set-lstm completions bash > ~/.local/share/bash-completion/completions/set-lstm`
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `train` flags (a repeated flag: the last one wins).
#[derive(Debug, Args)]
#[command(args_override_self = true)]
pub struct TrainArgs {
    /// TOML file with any of the settings below as keys (snake_case, e.g. `batch_size = 16`); flags win
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The settings.
    #[command(flatten)]
    pub settings: Settings,
    /// Run directory to create [default: runs/<dataset>-<policy>-<seed>-<UTC time>]
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Step limits and checkpoint frequency.
    #[command(flatten)]
    pub run: RunControlArgs,
}

/// Run-control flags shared by `train` and `resume`: they never change results.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct RunControlArgs {
    /// Stop once the run has taken N optimizer steps in total, writing a resumable checkpoint
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u64>,
    /// Also write a checkpoint every N optimizer steps (0 = only after each epoch)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub checkpoint_every: u64,
    /// Print the test loss and accuracy after every epoch (by default only dev is shown, so
    /// that nobody picks settings by the test set; metrics.csv always records both)
    #[arg(long)]
    pub show_test: bool,
    /// Sleep this long after every step (test hook: signal handling)
    #[cfg(feature = "test-hooks")]
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    pub step_delay_ms: u64,
}

/// `resume` flags.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The run directory to continue
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Refuse to resume unless this TOML config resolves to the run's configuration
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Checkpoint to continue from
    #[arg(long, value_enum, default_value = "latest", value_name = "WHICH")]
    pub from: Which,
    /// Worker threads (0 = one per core) [default: the run's]; results do not depend on it
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// The run's registry dataset moved: read it from DIR (same file names and SHA-256 as
    /// recorded, else refused)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Step limits and checkpoint frequency.
    #[command(flatten)]
    pub run: RunControlArgs,
}

/// Which checkpoint `resume` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// `checkpoints/latest.safetensors` (or `last-good` if `latest` is missing)
    Latest,
    /// `checkpoints/last-good.safetensors`, the one before the latest
    LastGood,
}

/// The run directory (or model file) a subcommand reads: `RUN` or, the same, `--model RUN`.
#[derive(Debug, Args)]
pub struct ModelArg {
    /// Run directory (or model file)
    #[arg(
        value_name = "RUN",
        required_unless_present = "model",
        conflicts_with = "model"
    )]
    pub run: Option<PathBuf>,
    /// The same as RUN (an alias kept for scripts)
    #[arg(short, long, value_name = "RUN")]
    pub model: Option<PathBuf>,
}

impl ModelArg {
    /// The run directory or model file given.
    pub fn path(&self) -> &Path {
        // clap requires one of the two.
        self.model
            .as_deref()
            .or(self.run.as_deref())
            .unwrap_or(Path::new("."))
    }
}

/// `eval` flags.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory or model file.
    #[command(flatten)]
    pub model: ModelArg,
    /// JSONL file of labelled examples [default: the run's test split]
    #[arg(long, value_name = "FILE", conflicts_with = "split")]
    pub test: Option<PathBuf>,
    /// Which split of the run to re-create and evaluate: dev, test
    #[arg(long, value_enum, default_value = "test", value_name = "SPLIT")]
    pub split: Split,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
    /// Evaluate even when the run's data files changed since training (warns instead of refusing)
    #[arg(long)]
    pub allow_changed_data: bool,
    /// Worker threads (0 = one per core) [default: the run's]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// A split of a run's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    /// The development split (used to pick the best epoch)
    Dev,
    /// The held-out test split
    Test,
}

/// `predict` flags.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Run directory (or model file) [default: the first TEXT is the run]
    #[arg(short, long, value_name = "RUN")]
    pub model: Option<PathBuf>,
    /// One JSON object per input: {"text","token_ids","logits","probabilities","label"}
    #[arg(long)]
    pub json: bool,
    /// Read the texts from PATH, one per line (`-`: stdin); blank lines are skipped
    #[arg(short, long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// RUN then the texts to classify (without --model) [default texts: one per line on stdin]
    #[arg(value_name = "TEXT")]
    pub texts: Vec<String>,
    /// Also time the prediction N more times after loading and print the median compute time (ms, no process start or file load) as JSON on stderr
    #[arg(long, value_name = "N")]
    pub timing_runs: Option<usize>,
}

/// `info` flags.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The run directory or model file.
    #[command(flatten)]
    pub model: ModelArg,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// `export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The run directory or model file.
    #[command(flatten)]
    pub model: ModelArg,
    /// Output file (.safetensors)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Dense tensors named and shaped for PyTorch's nn.Embedding, nn.LSTM and nn.Linear
    #[arg(long)]
    pub dense: bool,
    /// Overwrite an existing output file
    #[arg(long)]
    pub force: bool,
}

/// `bench` flags.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("storage").required(true).args(["density", "dense"])))]
pub struct BenchArgs {
    /// Vocabulary size
    #[arg(long, value_name = "V", default_value_t = 20_000)]
    pub vocab_size: usize,
    /// Embedding width
    #[arg(long, value_name = "E", default_value_t = 128)]
    pub embed_dim: usize,
    /// Hidden width
    #[arg(long, value_name = "H", default_value_t = 128)]
    pub hidden: usize,
    /// Sequences per batch
    #[arg(long, value_name = "B", default_value_t = 32)]
    pub batch_size: usize,
    /// Tokens per sequence
    #[arg(long, value_name = "T", default_value_t = 64)]
    pub seq_len: usize,
    /// Density of the embedding and LSTM matrices, in (0, 1]
    #[arg(long, value_name = "D")]
    pub density: Option<f64>,
    /// Every matrix dense
    #[arg(long)]
    pub dense: bool,
    /// Worker threads (0 = one per core)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Timed steps (and inference batches), after warm-up
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub steps: usize,
    /// Untimed warm-up steps
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub warmup: usize,
    /// Optimizer of the training steps: sgd, adam
    #[arg(long, value_name = "NAME", default_value = "adam", value_parser = crate::config::named::<OptimizerName>(OptimizerName::NAMES))]
    pub optimizer: OptimizerName,
    /// Seed of the random tokens and weights
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub seed: u64,
    /// Tokens of the one sentence whose batch-1 latency is measured (`batch1_ms`)
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub batch1_tokens: usize,
    /// Timed batch-1 forwards (after warm-up)
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub batch1_runs: usize,
    /// Recurrent cell: lstm, gru
    #[arg(long, value_name = "CELL", default_value = "lstm", value_parser = crate::config::named::<set_nn::CellKind>(&["lstm", "gru"]))]
    pub cell: set_nn::CellKind,
    /// Stacked recurrent layers, in 1..=16
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub layers: usize,
    /// Bidirectional recurrent layers
    #[arg(long)]
    pub bidirectional: bool,
}

/// `sweep` flags.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Grid file (TOML): a `[base]` table of train settings and a `[grid]` table of settings with arrays of values
    #[arg(long, value_name = "FILE")]
    pub grid: PathBuf,
    /// Output folder: configs/, runs.txt and one run directory per run [default: runs/sweep-<grid file stem>]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write a Slurm array-job script to FILE (one task per run) instead of training here
    #[arg(long, value_name = "FILE")]
    pub slurm: Option<PathBuf>,
    /// Print the expanded runs and their state; write nothing, train nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Worker threads of each local run (0 = one per core) [default: the grid's `threads`, else 0]
    #[arg(long, value_name = "N", conflicts_with = "slurm")]
    pub threads: Option<usize>,
    /// With --slurm: CPUs per array task (#SBATCH --cpus-per-task; also each run's --threads)
    #[arg(long, value_name = "N", default_value_t = 2, requires = "slurm")]
    pub cpus_per_task: usize,
    /// With --slurm: the set-lstm executable the tasks run [default: this executable]
    #[arg(long, value_name = "PATH", requires = "slurm")]
    pub bin: Option<PathBuf>,
    /// With --slurm: an extra #SBATCH option, e.g. --sbatch-arg=--time=02:00:00 (repeatable)
    #[arg(
        long,
        value_name = "OPTION",
        requires = "slurm",
        allow_hyphen_values = true
    )]
    pub sbatch_arg: Vec<String>,
    /// Sleep this long after every step (test hook: signal handling)
    #[cfg(feature = "test-hooks")]
    #[arg(long, value_name = "MS", default_value_t = 0, hide = true)]
    pub step_delay_ms: u64,
}

/// The boolean settings of `train` that were once written `--flag BOOL`; they are switches now
/// (`--flag` / `--no-flag`), as every other boolean flag of every subcommand.
const SWITCHES: &[&str] = &[
    "dense",
    "sparse-output",
    "regrow-into-removed",
    "bidirectional",
];

/// A clear message for the old spelling `--dense true`, `--regrow-into-removed=false`, ...:
/// `None` when `args` do not use it.
///
/// ```
/// use set_cli::cli::old_bool_spelling;
/// let args = ["set-lstm", "train", "--regrow-into-removed", "false"].map(Into::into);
/// assert!(old_bool_spelling(&args).unwrap().contains("--no-regrow-into-removed"));
/// assert!(old_bool_spelling(&["set-lstm", "train", "--dense"].map(Into::into)).is_none());
/// ```
pub fn old_bool_spelling(args: &[std::ffi::OsString]) -> Option<String> {
    let args: Vec<&str> = args.iter().map(|a| a.to_str().unwrap_or("")).collect();
    for (i, a) in args.iter().enumerate() {
        if *a == "--" {
            break;
        }
        let Some(flag) = a.strip_prefix("--") else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, args.get(i + 1).copied()),
        };
        if !SWITCHES.contains(&name) {
            continue;
        }
        let Some(value) = value.filter(|v| matches!(*v, "true" | "false")) else {
            continue;
        };
        let instead = match (value, name) {
            ("true", _) => format!("write `--{name}`"),
            (_, "dense") => {
                "write `--no-dense` (train) or leave `--dense` out (bench, export)".into()
            }
            _ => format!("write `--no-{name}`"),
        };
        return Some(format!(
            "`--{name} {value}`: boolean flags are switches, without a value: {instead}"
        ));
    }
    None
}
