//! [`TrainingState`]: everything a run needs to continue exactly where it stopped, as written
//! to and read from checkpoints.

use crate::config::TrainerConfig;
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use set_data::FileDigest;
use set_evolve::TopologyTracker;
use set_nn::{Classifier, Optimizer};

/// Position of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Current epoch (0-based); equals `epochs` when the run is finished.
    pub epoch: usize,
    /// Batches of `epoch` already trained.
    pub step_in_epoch: usize,
    /// Optimizer steps taken.
    pub global_step: u64,
    /// Evolution steps taken.
    pub evolution_steps: u64,
}

/// Running statistics needed to continue a run exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// `f64` bits of the sum of `loss * batch` over the current epoch.
    pub loss_sum_bits: u64,
    /// Correct training predictions in the current epoch.
    pub correct: u64,
    /// Training examples seen in the current epoch.
    pub examples: u64,
    /// Wall time of the current epoch so far (ms).
    pub epoch_ms: u64,
    /// Wall time of training so far (ms).
    pub train_ms: u64,
    /// `f64` bits of the best dev accuracy so far.
    pub best_dev_accuracy_bits: Option<u64>,
    /// Epoch (1-based) of the best dev accuracy.
    pub best_dev_epoch: Option<usize>,
    /// `f64` bits of the test accuracy after the best dev epoch (the early-stopped model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_dev_test_accuracy_bits: Option<u64>,
    /// Whether early stopping ended the run before its last epoch (it is then finished).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub early_stopped: bool,
    /// Bytes of the front end's metrics log at the checkpoint (a front end truncates its log
    /// back to this length when it resumes, so no row is written twice).
    pub metrics_bytes: u64,
    /// Bytes of the front end's event log at the checkpoint.
    pub events_bytes: u64,
}

/// The complete state of a training run.
#[derive(Debug, Clone)]
pub struct TrainingState {
    /// What the model is.
    pub spec: ModelSpec,
    /// How it is trained.
    pub config: TrainerConfig,
    /// The front end's own settings (for example the command line's whole configuration),
    /// kept verbatim as provenance; `None` for library runs that give none.
    pub front_end: Option<serde_json::Value>,
    /// Class names.
    pub class_names: Vec<String>,
    /// Model (its `config` is the model configuration of `spec`).
    pub model: Classifier<f32>,
    /// Optimizer with state.
    pub optimizer: Optimizer<f32>,
    /// Counters.
    pub counters: Counters,
    /// Running statistics.
    pub progress: Progress,
    /// Positions ever active, per sparse matrix (the run's only topology tracker).
    pub tracker: TopologyTracker,
    /// SHA-256 of the vocabulary file.
    pub vocab_sha256: String,
    /// Data files and digests.
    pub datasets: Vec<FileDigest>,
}

impl TrainingState {
    /// Whether the run has nothing left to train: all epochs done, or stopped early.
    pub fn is_finished(&self) -> bool {
        self.counters.epoch >= self.config.epochs || self.progress.early_stopped
    }

    /// Checks that `now`, the digests of the files the run reads today, are the files it was
    /// trained on (same paths, same SHA-256, same number of files).
    ///
    /// # Errors
    /// [`crate::TrainError::DataChanged`] naming the first file that differs.
    pub fn check_data(&self, now: &[FileDigest]) -> Result<(), crate::TrainError> {
        crate::data::check_same_data(&self.datasets, now, crate::data::DataMatch::SamePaths)
    }
}
