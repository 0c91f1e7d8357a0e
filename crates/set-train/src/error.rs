//! Errors of `set-train`: every way training, evaluation or a model file can fail, typed so
//! that a front end can map each to its own exit code or exception.

use set_data::DataError;
use set_evolve::EvolveError;
use set_nn::NnError;

pub use crate::codec::CheckpointError;

/// A setting outside the range where it makes sense.
///
/// ```
/// let e = set_train::Zeta::new(1.5).unwrap_err();
/// assert_eq!(e.key, "zeta");
/// assert!(e.to_string().contains("a fraction in [0, 1]"));
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid value {value} for `{key}`: expected {expected}")]
pub struct SettingError {
    /// The setting's name (`zeta`, `lr`, ...), as in config files.
    pub key: &'static str,
    /// The rejected value, printed.
    pub value: String,
    /// What would be accepted.
    pub expected: &'static str,
}

impl SettingError {
    /// The same error for another setting name (for one type used by several settings).
    #[must_use]
    pub fn for_key(mut self, key: &'static str) -> Self {
        self.key = key;
        self
    }
}

/// Any failure of training, evaluation, or reading and writing models and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A setting is out of range.
    #[error(transparent)]
    Setting(#[from] SettingError),
    /// Training produced a NaN or infinite value; nothing after that step was kept.
    #[error("training diverged: non-finite {what} in tensor `{tensor}` at step {step}")]
    NonFinite {
        /// "loss", "gradient" or "weight".
        what: String,
        /// Tensor name.
        tensor: String,
        /// Optimizer step (1-based).
        step: u64,
    },
    /// A model or batch error from `set-nn` (shapes, token ids, configuration).
    #[error(transparent)]
    Nn(Box<NnError>),
    /// The evolution policy refused a step (nothing was changed).
    #[error("evolution step after epoch {epoch}")]
    Evolve {
        /// 1-based epoch after which the step ran.
        epoch: usize,
        /// The policy's error.
        #[source]
        source: Box<EvolveError>,
    },
    /// Reading or preparing data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint or model file is invalid, or could not be read or written.
    #[error(transparent)]
    Codec(#[from] CheckpointError),
    /// The processes of a data-parallel run disagree or cannot communicate.
    #[error("{0}")]
    Distributed(String),
    /// The data files differ from those a run was trained on.
    #[error("{0}")]
    DataChanged(String),
    /// The model, data and settings do not fit together.
    #[error("{0}")]
    Mismatch(String),
    /// The run would need more memory than this process may use (checked before anything
    /// large is allocated; see [`crate::memory`]).
    #[error(
        "not enough memory: the run needs about {} ({detail}), but only {} is available: reduce the vocabulary, widths, density, batch size or max_len",
        human(*needed),
        human(*available)
    )]
    Memory {
        /// Estimated bytes.
        needed: u64,
        /// Bytes available (the smallest known limit).
        available: u64,
        /// The estimate per buffer.
        detail: String,
    },
    /// The thread pool could not be built.
    #[error("building the thread pool: {0}")]
    ThreadPool(String),
    /// An [`crate::Observer`] asked training to stop with an error of its own.
    #[error("stopped by an observer")]
    Observer(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<NnError> for TrainError {
    fn from(e: NnError) -> Self {
        match e {
            NnError::NonFinite { what, tensor, step } => TrainError::NonFinite {
                what: what.to_string(),
                tensor,
                step,
            },
            other => TrainError::Nn(Box::new(other)),
        }
    }
}

/// `Result` with [`TrainError`].
pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// Bytes as MiB or GiB, for messages.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}
