//! What a [`crate::Classifier`] is: sizes, pooling, per-matrix storage, dropout and activation
//! ([`ClassifierConfig`]), and its parameter table: every parameter's name, shape, storage and
//! kind, in model order ([`ClassifierConfig::param_specs`]).

use crate::activation::ActivationMode;
use crate::error::NnError;

/// How the LSTM's outputs become one vector per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The hidden state at each sequence's true length.
    #[default]
    Last,
    /// The mean of the hidden states over each sequence's true length.
    Mean,
}

/// Storage of one weight matrix: dense (GEMM path) or sparse at a density.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Storage {
    /// A dense matrix multiplied with ndarray's GEMM (the dense baseline).
    Dense,
    /// A CSR matrix with exactly `round(density * rows * cols)` stored entries.
    Sparse {
        /// Fraction of positions stored, in (0, 1].
        density: f64,
    },
}

/// Shapes and settings of a [`crate::Classifier`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Vocabulary size `V` (including padding id 0).
    pub vocab_size: usize,
    /// Embedding width `E`.
    pub embed_dim: usize,
    /// LSTM hidden width `H`.
    pub hidden: usize,
    /// Number of classes `C`.
    pub classes: usize,
    /// Embedding `[V, E]` storage.
    pub embedding: Storage,
    /// LSTM input weights `[4H, E]` storage.
    pub lstm_ih: Storage,
    /// LSTM recurrent weights `[4H, H]` storage.
    pub lstm_hh: Storage,
    /// Output layer `[C, H]` storage.
    pub output: Storage,
    /// Pooling of the LSTM outputs.
    pub pooling: Pooling,
    /// Dropout on the embeddings.
    pub dropout_embed: f64,
    /// Dropout before the output layer.
    pub dropout_output: f64,
    /// `tanh`/`sigmoid` implementation.
    pub activation: ActivationMode,
}

impl ClassifierConfig {
    /// Checks every field; returns the first problem.
    ///
    /// # Errors
    /// [`NnError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), NnError> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("embed_dim", self.embed_dim),
            ("hidden", self.hidden),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(NnError::Config {
                    field,
                    value: v.to_string(),
                    expected: "a positive integer",
                });
            }
        }
        if self.vocab_size < 2 {
            return Err(NnError::Config {
                field: "vocab_size",
                value: self.vocab_size.to_string(),
                expected: ">= 2 (padding + at least one token)",
            });
        }
        if self.classes < 2 {
            return Err(NnError::Config {
                field: "classes",
                value: self.classes.to_string(),
                expected: ">= 2",
            });
        }
        for (field, st) in [
            ("embedding", self.embedding),
            ("lstm_ih", self.lstm_ih),
            ("lstm_hh", self.lstm_hh),
            ("output", self.output),
        ] {
            if let Storage::Sparse { density } = st
                && !(density.is_finite() && density > 0.0 && density <= 1.0)
            {
                return Err(NnError::Config {
                    field,
                    value: density.to_string(),
                    expected: "a density in (0, 1]",
                });
            }
        }
        for (field, p) in [
            ("dropout_embed", self.dropout_embed),
            ("dropout_output", self.dropout_output),
        ] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(NnError::Config {
                    field,
                    value: p.to_string(),
                    expected: "a probability in [0, 1)",
                });
            }
        }
        Ok(())
    }
}

/// `embedding.weight`: the embedding table `[V, E]`.
pub(crate) const EMBEDDING: &str = "embedding.weight";
/// `lstm.weight_ih_l0`: LSTM input weights `[4H, E]`.
pub(crate) const LSTM_W_IH: &str = "lstm.weight_ih_l0";
/// `lstm.weight_hh_l0`: LSTM recurrent weights `[4H, H]`.
pub(crate) const LSTM_W_HH: &str = "lstm.weight_hh_l0";
/// `lstm.bias_ih_l0`: LSTM input bias `[4H]`.
pub(crate) const LSTM_B_IH: &str = "lstm.bias_ih_l0";
/// `lstm.bias_hh_l0`: LSTM recurrent bias `[4H]`.
pub(crate) const LSTM_B_HH: &str = "lstm.bias_hh_l0";
/// `fc.weight`: output layer `[C, H]`.
pub(crate) const FC_WEIGHT: &str = "fc.weight";
/// `fc.bias`: output bias `[C]`.
pub(crate) const FC_BIAS: &str = "fc.bias";

/// The LSTM's gates i, f, g, o, stacked as row blocks of its matrices and biases.
pub const LSTM_GATES: usize = 4;

/// What a parameter is in the model (how it is initialised, which row gradient it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// The embedding table `[V, E]`: row `v` is token `v`'s vector.
    Embedding,
    /// LSTM input weights `[4H, E]`, gates stacked as row blocks.
    LstmInputGates,
    /// LSTM recurrent weights `[4H, H]`, gates stacked as row blocks.
    LstmRecurrentGates,
    /// The output layer `[C, H]`.
    Output,
    /// A bias vector.
    Bias,
}

/// One entry of a model's parameter table ([`ClassifierConfig::param_specs`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    /// PyTorch-compatible name, as stored in files (e.g. `lstm.weight_ih_l0`).
    pub name: &'static str,
    /// Logical shape: `[rows, cols]` for a matrix, `[len]` for a vector.
    pub shape: Vec<usize>,
    /// How a matrix is stored; `None` for a bias vector (always dense).
    pub storage: Option<Storage>,
    /// What the parameter is.
    pub kind: ParamKind,
    /// Equal blocks of rows for per-block analytics: [`LSTM_GATES`] for the stacked LSTM gate
    /// matrices, 1 otherwise.
    pub row_groups: usize,
}

impl ParamSpec {
    /// Whether this is a matrix (may be sparse and evolve) rather than a bias vector.
    pub fn is_matrix(&self) -> bool {
        self.storage.is_some()
    }

    /// Number of entries of the dense equivalent (checked when the table was built).
    pub fn dense_len(&self) -> usize {
        self.shape.iter().product()
    }
}

impl ClassifierConfig {
    /// The model's parameter table: every parameter's name, shape, storage and kind, in the
    /// fixed model order (the order of [`crate::Classifier::params`], of the optimizer's state and of
    /// files on disk). [`crate::Classifier::new`], [`crate::Classifier::from_params`] and
    /// [`crate::evolve::evolve_model`] all work from this one table.
    ///
    /// ```
    /// use set_nn::{ActivationMode, ClassifierConfig, ParamKind, Pooling, Storage};
    /// let config = ClassifierConfig {
    ///     vocab_size: 50, embed_dim: 8, hidden: 6, classes: 3,
    ///     embedding: Storage::Sparse { density: 0.3 }, lstm_ih: Storage::Dense,
    ///     lstm_hh: Storage::Dense, output: Storage::Dense,
    ///     pooling: Pooling::Last, dropout_embed: 0.0, dropout_output: 0.0,
    ///     activation: ActivationMode::Fast,
    /// };
    /// let specs = config.param_specs().unwrap();
    /// let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
    /// assert_eq!(names, ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
    ///     "lstm.bias_ih_l0", "lstm.bias_hh_l0", "fc.weight", "fc.bias"]);
    /// assert_eq!((specs[1].shape.clone(), specs[1].row_groups), (vec![24, 8], 4));
    /// assert_eq!((specs[1].kind, specs[6].storage), (ParamKind::LstmInputGates, None));
    /// // Sizes that do not fit in memory are an error, not an overflow.
    /// let huge = ClassifierConfig { hidden: usize::MAX / 2, ..config };
    /// assert!(huge.param_specs().is_err());
    /// ```
    ///
    /// # Errors
    /// An invalid configuration ([`ClassifierConfig::validate`]), or
    /// [`NnError::TooLarge`] / [`NnError::Config`] when a shape's size overflows `usize`.
    pub fn param_specs(&self) -> Result<Vec<ParamSpec>, NnError> {
        self.validate()?;
        let (v, e, h, c) = (self.vocab_size, self.embed_dim, self.hidden, self.classes);
        let gates = LSTM_GATES.checked_mul(h).ok_or_else(|| NnError::Config {
            field: "hidden",
            value: h.to_string(),
            expected: "small enough that 4 * hidden fits in usize",
        })?;
        let matrix = |name, rows, cols, storage, kind, row_groups| ParamSpec {
            name,
            shape: vec![rows, cols],
            storage: Some(storage),
            kind,
            row_groups,
        };
        let bias = |name, len| ParamSpec {
            name,
            shape: vec![len],
            storage: None,
            kind: ParamKind::Bias,
            row_groups: 1,
        };
        let specs = vec![
            matrix(EMBEDDING, v, e, self.embedding, ParamKind::Embedding, 1),
            matrix(
                LSTM_W_IH,
                gates,
                e,
                self.lstm_ih,
                ParamKind::LstmInputGates,
                LSTM_GATES,
            ),
            matrix(
                LSTM_W_HH,
                gates,
                h,
                self.lstm_hh,
                ParamKind::LstmRecurrentGates,
                LSTM_GATES,
            ),
            bias(LSTM_B_IH, gates),
            bias(LSTM_B_HH, gates),
            matrix(FC_WEIGHT, c, h, self.output, ParamKind::Output, 1),
            bias(FC_BIAS, c),
        ];
        for spec in &specs {
            if spec
                .shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(NnError::TooLarge {
                    name: spec.name.to_string(),
                    shape: spec.shape.clone(),
                });
            }
        }
        Ok(specs)
    }
}
