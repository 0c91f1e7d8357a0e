//! [`ModelSpec`]: what a model is (sizes, sparsity, pooling, dropout, activation), and the one
//! place where sparsity settings become per-matrix storage ([`ModelSpec::classifier_config`]).

use crate::error::{SettingError, TrainError};
use crate::settings::{Density, DropoutRate, Epsilon};
use serde::{Deserialize, Serialize};
use set_nn::{ActivationMode, CellKind, ClassifierConfig, Pooling, RnnArch, Storage};

/// Largest accepted width (embedding, hidden): keeps every index and size computation far from
/// overflow.
pub const MAX_WIDTH: usize = 1 << 16;
/// Largest vocabulary.
pub const MAX_VOCAB: usize = 1 << 24;
/// Most classes.
pub const MAX_CLASSES: usize = 1_000;
/// Most stacked recurrent layers.
pub const MAX_LAYERS: usize = 16;
/// Longest input sequence in tokens.
pub const MAX_LEN: usize = 1 << 20;
/// Largest memory a model may plan for (weights, gradients, two optimizer buffers): a guard
/// against typos such as an embedding width of 100000, checked before anything is allocated.
pub const MAX_MODEL_BYTES: u64 = 64 << 30;

/// How the sparse matrices (embedding, LSTM input and recurrent weights, and the output layer
/// with [`ModelSpec::sparse_output`]) get their densities.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Sparsity {
    /// Every matrix dense: the dense baseline.
    Dense,
    /// SET's Erdős–Rényi rule per matrix.
    ErdosRenyi {
        /// Sparsity level.
        epsilon: Epsilon,
    },
    /// RigL's Erdős–Rényi-Kernel allocation with an overall target density.
    Erk {
        /// Overall density of the sparse matrices.
        density: Density,
    },
    /// The same density for every sparse matrix.
    Uniform {
        /// Density of each matrix.
        density: Density,
    },
}

impl Default for Sparsity {
    /// Erdős–Rényi with the default epsilon (5).
    fn default() -> Self {
        Sparsity::ErdosRenyi {
            epsilon: Epsilon::DEFAULT,
        }
    }
}

/// What a model is: sizes, sparsity, pooling, dropout and activation mode. Serialised into every
/// model file and checkpoint.
///
/// ```
/// use set_train::{Density, ModelSpec, Sparsity};
/// let spec = ModelSpec::new(1000, 32, 32, 2)
///     .with_sparsity(Sparsity::Uniform { density: Density::new(0.1).unwrap() });
/// let cfg = spec.classifier_config().unwrap();
/// assert_eq!(cfg.vocab_size, 1000);
/// assert!(matches!(cfg.lstm_hh, set_nn::Storage::Sparse { density } if density == 0.1));
/// assert!(ModelSpec::new(1000, 0, 32, 2).classifier_config().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Vocabulary size (ids `0..vocab_size`, 0 = padding, 1 = unknown).
    pub vocab_size: usize,
    /// Embedding width.
    pub embed_dim: usize,
    /// LSTM hidden width.
    pub hidden: usize,
    /// Number of classes.
    pub classes: usize,
    /// Longest input in tokens; longer texts keep their last `max_len` tokens.
    pub max_len: usize,
    /// How the matrices are stored.
    pub sparsity: Sparsity,
    /// Whether the output layer is sparse too (with [`Sparsity`] other than dense).
    pub sparse_output: bool,
    /// Pooling of the LSTM outputs.
    pub pooling: Pooling,
    /// Dropout on the embeddings.
    pub dropout_embed: DropoutRate,
    /// Dropout before the output layer.
    pub dropout_output: DropoutRate,
    /// `tanh` / `sigmoid` implementation.
    pub activation: ActivationMode,
    /// The recurrent cell (absent in files written before it existed: LSTM).
    #[serde(default, skip_serializing_if = "is_lstm")]
    pub cell: CellKind,
    /// Stacked recurrent layers, in `1..=16` (absent in older files: 1).
    #[serde(default = "one_layer", skip_serializing_if = "is_one_layer")]
    pub layers: usize,
    /// Whether every layer also reads each sequence backwards (absent in older files: no).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bidirectional: bool,
    /// Dropout on the input of every layer after the first (absent in older files: 0).
    #[serde(default = "no_dropout", skip_serializing_if = "is_no_dropout")]
    pub dropout_between: DropoutRate,
}

fn is_lstm(c: &CellKind) -> bool {
    *c == CellKind::Lstm
}

fn one_layer() -> usize {
    1
}

fn is_one_layer(n: &usize) -> bool {
    *n == 1
}

fn no_dropout() -> DropoutRate {
    DropoutRate::new(0.0).expect("0 is a valid rate")
}

fn is_no_dropout(p: &DropoutRate) -> bool {
    p.get() == 0.0
}

impl ModelSpec {
    /// A spec with the given sizes and every other setting at its default: Erdős–Rényi sparsity
    /// with epsilon 5, dense output layer, mean pooling, dropout 0.2 on both, inputs of up to 64
    /// tokens, fast activations, one unidirectional LSTM layer.
    pub fn new(vocab_size: usize, embed_dim: usize, hidden: usize, classes: usize) -> Self {
        ModelSpec {
            vocab_size,
            embed_dim,
            hidden,
            classes,
            max_len: 64,
            sparsity: Sparsity::default(),
            sparse_output: false,
            pooling: Pooling::Mean,
            dropout_embed: DropoutRate::DEFAULT,
            dropout_output: DropoutRate::DEFAULT,
            activation: ActivationMode::Fast,
            cell: CellKind::Lstm,
            layers: 1,
            bidirectional: false,
            dropout_between: no_dropout(),
        }
    }

    /// Sets the recurrent architecture: cell, stacked layers, directions and the dropout
    /// between layers.
    ///
    /// ```
    /// use set_train::{DropoutRate, ModelSpec};
    /// let spec = ModelSpec::new(1000, 16, 16, 2)
    ///     .with_rnn(set_nn::CellKind::Gru, 2, true, DropoutRate::new(0.3).unwrap());
    /// let cfg = spec.classifier_config().unwrap();
    /// assert_eq!((cfg.rnn.layers, cfg.rnn.directions()), (2, 2));
    /// assert!(ModelSpec::new(1000, 16, 16, 2)
    ///     .with_rnn(set_nn::CellKind::Lstm, 0, false, DropoutRate::new(0.0).unwrap())
    ///     .classifier_config()
    ///     .is_err());
    /// ```
    #[must_use]
    pub fn with_rnn(
        mut self,
        cell: CellKind,
        layers: usize,
        bidirectional: bool,
        dropout_between: DropoutRate,
    ) -> Self {
        self.cell = cell;
        self.layers = layers;
        self.bidirectional = bidirectional;
        self.dropout_between = dropout_between;
        self
    }

    /// Sets the sparsity.
    #[must_use]
    pub fn with_sparsity(mut self, sparsity: Sparsity) -> Self {
        self.sparsity = sparsity;
        self
    }

    /// Erdős–Rényi sparsity at `epsilon`.
    #[must_use]
    pub fn with_epsilon(self, epsilon: Epsilon) -> Self {
        self.with_sparsity(Sparsity::ErdosRenyi { epsilon })
    }

    /// Every matrix dense (the baseline).
    #[must_use]
    pub fn dense(self) -> Self {
        self.with_sparsity(Sparsity::Dense)
    }

    /// Whether the output layer is sparse.
    #[must_use]
    pub fn with_sparse_output(mut self, sparse: bool) -> Self {
        self.sparse_output = sparse;
        self
    }

    /// Sets the pooling.
    #[must_use]
    pub fn with_pooling(mut self, pooling: Pooling) -> Self {
        self.pooling = pooling;
        self
    }

    /// Sets both dropout rates.
    #[must_use]
    pub fn with_dropout(mut self, embed: DropoutRate, output: DropoutRate) -> Self {
        self.dropout_embed = embed;
        self.dropout_output = output;
        self
    }

    /// Sets the longest input in tokens.
    #[must_use]
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Sets the activation mode.
    #[must_use]
    pub fn with_activation(mut self, activation: ActivationMode) -> Self {
        self.activation = activation;
        self
    }

    /// Whether any matrix is sparse.
    pub fn is_sparse(&self) -> bool {
        self.sparsity != Sparsity::Dense
    }

    /// Checks the sizes against the limits.
    ///
    /// # Errors
    /// [`SettingError`] naming the first bad size.
    pub fn validate(&self) -> Result<(), SettingError> {
        let bad = |key, value: usize, expected| SettingError {
            key,
            value: value.to_string(),
            expected,
        };
        if !(3..=MAX_VOCAB).contains(&self.vocab_size) {
            return Err(bad(
                "vocab_size",
                self.vocab_size,
                "an integer in 3..=16777216",
            ));
        }
        if !(1..=MAX_WIDTH).contains(&self.embed_dim) {
            return Err(bad("embed_dim", self.embed_dim, "an integer in 1..=65536"));
        }
        if !(1..=MAX_WIDTH).contains(&self.hidden) {
            return Err(bad("hidden", self.hidden, "an integer in 1..=65536"));
        }
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return Err(bad("classes", self.classes, "an integer in 2..=1000"));
        }
        if !(1..=MAX_LAYERS).contains(&self.layers) {
            return Err(bad("layers", self.layers, "an integer in 1..=16"));
        }
        if !(1..=MAX_LEN).contains(&self.max_len) {
            return Err(bad("max_len", self.max_len, "an integer in 1..=1048576"));
        }
        Ok(())
    }

    /// The model configuration: per-matrix storage from the sparsity (ER, ERK or uniform for
    /// the embedding and the LSTM matrices, and the output layer when it is sparse; at least one
    /// stored entry per matrix), checked against [`MAX_MODEL_BYTES`].
    ///
    /// # Errors
    /// A size out of range, a failed density allocation, or a model too large to train.
    pub fn classifier_config(&self) -> Result<ClassifierConfig, TrainError> {
        self.validate()?;
        let (v, e, h, c) = (self.vocab_size, self.embed_dim, self.hidden, self.classes);
        let (g, dirs) = (self.cell.gates(), if self.bidirectional { 2 } else { 1 });
        // Every matrix of every layer and direction gets its own density (the table's order):
        // the first layer reads E inputs, later layers the D H concatenated outputs.
        let mut shapes = vec![(v, e)];
        for layer in 0..self.layers {
            for _ in 0..dirs {
                shapes.push((g * h, if layer == 0 { e } else { dirs * h }));
                shapes.push((g * h, h));
            }
        }
        if self.sparse_output {
            shapes.push((c, dirs * h));
        }
        let scheme = match self.sparsity {
            Sparsity::Dense => None,
            Sparsity::ErdosRenyi { epsilon } => Some(set_evolve::DensityScheme::ErdosRenyi {
                epsilon: epsilon.get(),
            }),
            Sparsity::Erk { density } => Some(set_evolve::DensityScheme::Erk {
                density: density.get(),
            }),
            Sparsity::Uniform { density } => Some(set_evolve::DensityScheme::Uniform {
                density: density.get(),
            }),
        };
        let mut storages: Vec<Storage> = match scheme {
            None => vec![Storage::Dense; shapes.len()],
            Some(scheme) => set_evolve::allocate(&shapes, &scheme)
                .map_err(|e| TrainError::Mismatch(format!("sparsity: {e}")))?
                .into_iter()
                .zip(&shapes)
                .map(|(d, &(r, c))| {
                    let min = 1.0 / (r as f64 * c as f64);
                    Storage::Sparse {
                        density: d.max(min).min(1.0),
                    }
                })
                .collect(),
        };
        if !self.sparse_output {
            storages.push(Storage::Dense);
        }
        // Matrices of the same shape get the same density under every scheme; the first
        // layer's, a later layer's input matrix and the output layer's are what differ.
        let upper_ih = (self.layers > 1).then(|| storages[1 + 2 * dirs]);
        let output = storages[storages.len() - 1];
        let cfg = ClassifierConfig {
            vocab_size: v,
            embed_dim: e,
            hidden: h,
            classes: c,
            embedding: storages[0],
            lstm_ih: storages[1],
            lstm_hh: storages[2],
            output,
            pooling: self.pooling,
            dropout_embed: self.dropout_embed.get(),
            dropout_output: self.dropout_output.get(),
            activation: self.activation,
            rnn: RnnArch {
                cell: self.cell,
                layers: self.layers,
                bidirectional: self.bidirectional,
                dropout_between: self.dropout_between.get(),
                upper_ih,
            },
        };
        cfg.validate()?;
        let bytes = stored_values(&cfg) * 16.0;
        if bytes > MAX_MODEL_BYTES as f64 {
            return Err(TrainError::Mismatch(format!(
                "the model would need about {:.0} GiB for weights, gradients and optimizer state (limit {} GiB): reduce the vocabulary, embedding width, hidden width or the density",
                bytes / (1u64 << 30) as f64,
                MAX_MODEL_BYTES >> 30
            )));
        }
        Ok(cfg)
    }

    /// The connections of every sparse matrix of this spec's model, by parameter name: what a
    /// sparse model is built with, and what gradual magnitude pruning prunes a full model to.
    ///
    /// ```
    /// use set_train::ModelSpec;
    /// let n = ModelSpec::new(100, 16, 16, 2).final_nnz().unwrap();
    /// assert_eq!(n.keys().map(String::as_str).collect::<Vec<_>>(),
    ///     ["embedding.weight", "lstm.weight_hh_l0", "lstm.weight_ih_l0"]);
    /// assert!(ModelSpec::new(100, 16, 16, 2).dense().final_nnz().unwrap().is_empty());
    /// ```
    ///
    /// # Errors
    /// As [`ModelSpec::classifier_config`].
    pub fn final_nnz(&self) -> Result<std::collections::BTreeMap<String, usize>, TrainError> {
        let specs = self.classifier_config()?.param_specs()?;
        Ok(specs
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.initial_nnz()?)))
            .collect())
    }
}

/// Stored values of a model configuration (dense matrices count every entry), from its
/// parameter table.
fn stored_values(cfg: &ClassifierConfig) -> f64 {
    cfg.param_specs()
        .map(|specs| {
            specs
                .iter()
                .map(|s| {
                    let n = s.shape.iter().map(|&d| d as f64).product::<f64>();
                    match s.storage {
                        Some(Storage::Sparse { density }) => (density * n).round(),
                        _ => n,
                    }
                })
                .sum()
        })
        .unwrap_or(f64::INFINITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_json_and_rejects_bad_values() {
        let s = ModelSpec::new(100, 8, 8, 3).with_sparsity(Sparsity::Erk {
            density: Density::new(0.1).unwrap(),
        });
        let j = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ModelSpec>(&j).unwrap(), s);
        let bad = j.replace("0.1", "1.5");
        assert!(serde_json::from_str::<ModelSpec>(&bad).is_err());
        let bad = j.replace("\"dropout_embed\":0.2", "\"dropout_embed\":1.0");
        assert!(serde_json::from_str::<ModelSpec>(&bad).is_err());
    }

    #[test]
    fn sparse_output_gets_a_sparse_output_layer_and_dense_none() {
        let s = ModelSpec::new(100, 8, 8, 3).with_sparse_output(true);
        assert!(matches!(
            s.classifier_config().unwrap().output,
            Storage::Sparse { .. }
        ));
        let d = s.dense().classifier_config().unwrap();
        assert!(
            [d.embedding, d.lstm_ih, d.lstm_hh, d.output]
                .iter()
                .all(|s| *s == Storage::Dense)
        );
    }

    #[test]
    fn huge_models_are_refused_before_allocation() {
        let s = ModelSpec::new(MAX_VOCAB, MAX_WIDTH, 8, 2).dense();
        assert!(
            s.classifier_config()
                .unwrap_err()
                .to_string()
                .contains("GiB")
        );
    }
}
