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
mod infer;
pub mod loss;
pub mod lstm;
pub mod optim;
pub mod param;
mod rows;
pub mod runtime;

pub use accounting::{ModelReport, ParamReport, model_report};
pub use activation::ActivationMode;
pub use classifier::{
    BatchRef, Classifier, ClassifierConfig, ForwardCache, LSTM_GATES, PAD_ID, ParamKind, ParamSpec,
    Pooling, StepStats, Storage,
};
pub use error::NnError;
pub use evolve::{EvolutionInputs, RowGradients};
pub use infer::InferScratch;
pub use optim::{Optimizer, OptimizerConfig, clip_global_norm};
pub use param::{Param, ParamValue};

#[cfg(test)]
mod tests;
