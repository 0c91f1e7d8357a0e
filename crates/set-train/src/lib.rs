#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod analytics;
mod batch;
pub mod codec;
mod config;
pub mod data;
mod data_check;
pub mod dist;
mod error;
pub mod eval;
#[doc(hidden)]
pub mod fuzzing;
mod in_memory;
pub mod memory;
pub mod rng;
mod settings;
mod spec;
mod state;
mod trainer;
#[cfg(test)]
mod trainer_tests;

pub use analytics::{densify, model_hash64, topology_sha256};
pub use batch::batch_ref;
pub use codec::{
    CheckpointError, ModelBundle, Prediction, decode_checkpoint, decode_model, encode_checkpoint,
    encode_model,
};
pub use config::{STEP_EVOLUTION_END, TrainerConfig};
pub use data::{DataConfig, DataSource, RunData};
pub use error::{Result, SettingError, TrainError};
pub use in_memory::InMemoryData;
pub use settings::{
    Density, DropoutRate, Epsilon, LrScheduleName, OptimizerName, PolicyName, ScheduleName, Zeta,
};
pub use spec::{
    MAX_CLASSES, MAX_LAYERS, MAX_LEN, MAX_MODEL_BYTES, MAX_VOCAB, MAX_WIDTH, ModelSpec, Sparsity,
};
pub use state::{Counters, Progress, TrainingState};
pub use trainer::{
    EpochEvent, Observer, ObserverError, Outcome, RunControl, RunSummary, StepEvent, StopFlag,
    Trainer,
};

/// The lower crates, re-exported so that users need not pin matching versions by hand.
pub use {ndarray, rand, rand_chacha, set_data, set_evolve, set_nn, set_sparse};
