//! Exit codes and the typed failures that select them.

use set_train::{CheckpointError, TrainError};

/// Success (also after `--max-steps` stopped a run with a resumable checkpoint).
pub const OK: i32 = 0;
/// Any other error: unreadable data, I/O failure, bad input file.
pub const FAILURE: i32 = 1;
/// Usage error: unknown flag, bad value, conflicting options, bad config file.
pub const USAGE: i32 = 2;
/// Training diverged: a NaN or infinite loss, gradient or weight (the message names the step
/// and tensor; the last checkpoint is kept unchanged).
pub const NON_FINITE: i32 = 3;
/// A checkpoint or model file is invalid, or `resume` refused a mismatching run (config,
/// vocabulary or data files changed).
pub const CHECKPOINT: i32 = 4;
/// The run directory is locked by another live process.
pub const LOCKED: i32 = 5;
/// Interrupted by SIGINT/SIGTERM after writing a checkpoint: continue with `resume`.
pub const INTERRUPTED: i32 = 130;

/// The exit-code table shown by `--help` and in the user guide.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also a run stopped by --max-steps; it can be resumed)
  1    error (unreadable data, I/O failure, ...)
  2    usage error (bad flag, value, or config file)
  3    training diverged (NaN/Inf loss, gradient or weight); last checkpoint kept
  4    invalid checkpoint/model file, or resume refused (config, vocabulary or data changed)
  5    run directory locked by another process
  130  interrupted (SIGINT/SIGTERM); a checkpoint was written, continue with `resume`";

/// Failures with their own exit code (everything else exits with [`FAILURE`]).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A bad flag, value or config file.
    #[error("{0}")]
    Usage(String),
    /// Training produced a non-finite value.
    #[error("training diverged: non-finite {what} in tensor `{tensor}` at step {step}")]
    NonFinite {
        /// "loss", "gradient" or "weight".
        what: String,
        /// Tensor name.
        tensor: String,
        /// Optimizer step (0-based global step).
        step: u64,
    },
    /// `resume` found the run inconsistent with its checkpoint or data.
    #[error("resume refused: {0}")]
    Refused(String),
    /// A model or data file that cannot be used as it is (outputs that are not finite
    /// numbers, data that differ from a run's).
    #[error("{0}")]
    BadFile(String),
    /// Another live process holds the run directory's lock.
    #[error(
        "run directory {dir} is locked by process {pid} (lock file {lock}); wait for it to finish, or delete the lock file if no such run is active"
    )]
    Locked {
        /// Run directory.
        dir: String,
        /// Pid in the lock file.
        pid: String,
        /// Lock file path.
        lock: String,
    },
}

/// A usage error (exit code 2) with a message naming the flag.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    Failure::Usage(msg.into()).into()
}

/// The exit code for an error: the first typed failure in its chain decides.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return match f {
                Failure::Usage(_) => USAGE,
                Failure::NonFinite { .. } => NON_FINITE,
                Failure::Refused(_) | Failure::BadFile(_) => CHECKPOINT,
                Failure::Locked { .. } => LOCKED,
            };
        }
        if cause.downcast_ref::<CheckpointError>().is_some() {
            return CHECKPOINT;
        }
        if let Some(e) = cause.downcast_ref::<TrainError>() {
            match e {
                TrainError::NonFinite { .. } => return NON_FINITE,
                TrainError::Setting(_) | TrainError::Memory { .. } => return USAGE,
                TrainError::Codec(_) => return CHECKPOINT,
                _ => {}
            }
        }
        if let Some(set_nn::NnError::NonFinite { .. }) = cause.downcast_ref::<set_nn::NnError>() {
            return NON_FINITE;
        }
    }
    FAILURE
}
