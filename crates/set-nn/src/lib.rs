#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod accounting;
pub mod activation;
pub mod classifier;
mod config;
pub mod dense;
pub mod dropout;
mod error;
pub mod evolve;
pub mod gru;
mod infer;
pub mod loss;
pub mod lstm;
pub mod optim;
pub mod param;
mod rows;
pub mod runtime;
mod stack;

pub use accounting::{ModelReport, ParamReport, model_report};
pub use activation::ActivationMode;
pub use classifier::{
    BatchRef, CellKind, Classifier, ClassifierConfig, ForwardCache, GRU_GATES, LSTM_GATES, PAD_ID,
    ParamKind, ParamSpec, Pooling, RnnArch, StepStats, Storage,
};
pub use config::rnn_param_name;
pub use error::NnError;
pub use evolve::{EvolutionInputs, RowGradients};
pub use infer::InferScratch;
pub use optim::{Optimizer, OptimizerConfig, clip_global_norm};
pub use param::{Param, ParamValue};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_rnn;
