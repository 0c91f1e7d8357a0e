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

/// The recurrent cell of every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// PyTorch's `nn.LSTM` cell: gates i, f, g, o.
    #[default]
    Lstm,
    /// PyTorch's `nn.GRU` cell: gates r, z, n, with `b_hn` inside the reset product.
    Gru,
}

impl CellKind {
    /// Gates stacked as row blocks of the cell's matrices and biases (4 or 3).
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => LSTM_GATES,
            CellKind::Gru => GRU_GATES,
        }
    }

    /// The PyTorch module name the parameters live under (`lstm` or `gru`).
    pub fn module(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.module())
    }
}

impl std::str::FromStr for CellKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(format!("unknown cell {s:?} (expected lstm or gru)")),
        }
    }
}

/// The recurrent part of a [`crate::Classifier`]: cell, depth, directions and the dropout
/// between stacked layers. The default is one unidirectional LSTM layer (the original model).
///
/// ```
/// let arch = set_nn::RnnArch::default();
/// assert_eq!((arch.layers, arch.bidirectional, arch.directions()), (1, false, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RnnArch {
    /// The cell of every layer.
    pub cell: CellKind,
    /// Stacked layers (>= 1).
    pub layers: usize,
    /// Whether every layer also reads each sequence backwards (outputs concatenated).
    pub bidirectional: bool,
    /// Dropout on the input of every layer after the first.
    pub dropout_between: f64,
    /// Storage of the input weights of layers >= 1 (`[G H, D H]`); `None`: as `lstm_ih`.
    pub upper_ih: Option<Storage>,
}

impl Default for RnnArch {
    fn default() -> Self {
        RnnArch {
            cell: CellKind::Lstm,
            layers: 1,
            bidirectional: false,
            dropout_between: 0.0,
            upper_ih: None,
        }
    }
}

impl RnnArch {
    /// 2 when bidirectional, else 1.
    pub fn directions(&self) -> usize {
        if self.bidirectional { 2 } else { 1 }
    }

    /// Whether this is the default (one unidirectional LSTM layer).
    pub fn is_default(&self) -> bool {
        *self == RnnArch::default()
    }
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
    /// Cell, layers and directions (absent in older files: one unidirectional LSTM layer).
    #[serde(default, skip_serializing_if = "RnnArch::is_default")]
    pub rnn: RnnArch,
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
        if self.rnn.layers == 0 {
            return Err(NnError::Config {
                field: "layers",
                value: "0".into(),
                expected: "a positive integer",
            });
        }
        for (field, st) in [
            ("embedding", self.embedding),
            ("lstm_ih", self.lstm_ih),
            ("lstm_hh", self.lstm_hh),
            ("output", self.output),
            ("upper_ih", self.rnn.upper_ih.unwrap_or(self.lstm_ih)),
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
            ("dropout_between", self.rnn.dropout_between),
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
/// The four parameters of one direction of one recurrent layer, in PyTorch's order.
pub(crate) const RNN_PARAMS: [&str; 4] = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"];

/// PyTorch's name of a recurrent parameter: `{module}.{kind}_l{layer}[_reverse]`, e.g.
/// `lstm.weight_ih_l1_reverse` or `gru.bias_hh_l0`.
///
/// ```
/// use set_nn::{CellKind, rnn_param_name};
/// assert_eq!(rnn_param_name(CellKind::Lstm, "weight_ih", 1, 1), "lstm.weight_ih_l1_reverse");
/// assert_eq!(rnn_param_name(CellKind::Gru, "bias_hh", 0, 0), "gru.bias_hh_l0");
/// ```
pub fn rnn_param_name(cell: CellKind, kind: &str, layer: usize, direction: usize) -> String {
    let reverse = if direction == 1 { "_reverse" } else { "" };
    format!("{}.{kind}_l{layer}{reverse}", cell.module())
}
/// `fc.weight`: output layer `[C, H]`.
pub(crate) const FC_WEIGHT: &str = "fc.weight";
/// `fc.bias`: output bias `[C]`.
pub(crate) const FC_BIAS: &str = "fc.bias";

/// The LSTM's gates i, f, g, o, stacked as row blocks of its matrices and biases.
pub const LSTM_GATES: usize = 4;
/// The GRU's gates r, z, n, stacked as row blocks of its matrices and biases.
pub const GRU_GATES: usize = 3;

/// What a parameter is in the model (how it is initialised, which row gradient it has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// The embedding table `[V, E]`: row `v` is token `v`'s vector.
    Embedding,
    /// Recurrent-layer input weights `[G H, E]` (or `[G H, D H]` above the first layer),
    /// gates stacked as row blocks (LSTM or GRU).
    LstmInputGates,
    /// Recurrent weights `[G H, H]`, gates stacked as row blocks (LSTM or GRU).
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
    pub name: String,
    /// Logical shape: `[rows, cols]` for a matrix, `[len]` for a vector.
    pub shape: Vec<usize>,
    /// How a matrix is stored; `None` for a bias vector (always dense).
    pub storage: Option<Storage>,
    /// What the parameter is.
    pub kind: ParamKind,
    /// Equal blocks of rows for per-block analytics: the cell's gates ([`LSTM_GATES`] or
    /// [`GRU_GATES`]) for the stacked gate matrices, 1 otherwise.
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

    /// Connections a sparse matrix is built with: `round(density * rows * cols)`, and for the
    /// embedding at most the positions outside its padding row (which stores nothing); `None`
    /// for dense storage or a vector.
    ///
    /// ```
    /// use set_nn::{ParamKind, ParamSpec, Storage};
    /// let spec = ParamSpec { name: "embedding.weight".into(), shape: vec![3, 4],
    ///     storage: Some(Storage::Sparse { density: 1.0 }), kind: ParamKind::Embedding, row_groups: 1 };
    /// assert_eq!(spec.initial_nnz(), Some(8));
    /// ```
    pub fn initial_nnz(&self) -> Option<usize> {
        let Some(Storage::Sparse { density }) = self.storage else {
            return None;
        };
        let (rows, cols) = (self.shape[0], self.shape[1]);
        let nnz = set_sparse::nnz_for_density(density, rows, cols).ok()?;
        Some(if self.kind == ParamKind::Embedding {
            nnz.min(rows.saturating_sub(1) * cols)
        } else {
            nnz
        })
    }
}

impl ClassifierConfig {
    /// The same model with every sparse matrix stored full (density 1, still CSR): where
    /// gradual magnitude pruning starts.
    ///
    /// ```
    /// use set_nn::{ActivationMode, ClassifierConfig, Pooling, Storage};
    /// let c = ClassifierConfig {
    ///     vocab_size: 50, embed_dim: 8, hidden: 6, classes: 3,
    ///     embedding: Storage::Sparse { density: 0.3 }, lstm_ih: Storage::Sparse { density: 0.5 },
    ///     lstm_hh: Storage::Dense, output: Storage::Dense,
    ///     pooling: Pooling::Last, dropout_embed: 0.0, dropout_output: 0.0,
    ///     activation: ActivationMode::Fast, rnn: Default::default(),
    /// }
    /// .with_sparse_full();
    /// assert_eq!(c.embedding, Storage::Sparse { density: 1.0 });
    /// assert_eq!(c.lstm_ih, Storage::Sparse { density: 1.0 });
    /// assert_eq!(c.lstm_hh, Storage::Dense);
    /// ```
    pub fn with_sparse_full(mut self) -> Self {
        let full = |s: Storage| match s {
            Storage::Sparse { .. } => Storage::Sparse { density: 1.0 },
            Storage::Dense => Storage::Dense,
        };
        self.embedding = full(self.embedding);
        self.lstm_ih = full(self.lstm_ih);
        self.lstm_hh = full(self.lstm_hh);
        self.output = full(self.output);
        self.rnn.upper_ih = self.rnn.upper_ih.map(full);
        self
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
    ///     activation: ActivationMode::Fast, rnn: Default::default(),
    /// };
    /// let specs = config.param_specs().unwrap();
    /// let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    /// assert_eq!(names, ["embedding.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0",
    ///     "lstm.bias_ih_l0", "lstm.bias_hh_l0", "fc.weight", "fc.bias"]);
    /// assert_eq!((specs[1].shape.clone(), specs[1].row_groups), (vec![24, 8], 4));
    /// assert_eq!((specs[1].kind, specs[6].storage), (ParamKind::LstmInputGates, None));
    /// // Sizes that do not fit in memory are an error, not an overflow.
    /// let huge = ClassifierConfig { hidden: usize::MAX / 2, ..config };
    /// assert!(huge.param_specs().is_err());
    /// // Two bidirectional GRU layers: PyTorch's names, layer by layer, direction by direction.
    /// let gru = ClassifierConfig { rnn: set_nn::RnnArch { cell: set_nn::CellKind::Gru,
    ///     layers: 2, bidirectional: true, ..Default::default() }, ..config };
    /// let specs = gru.param_specs().unwrap();
    /// // The embedding, 4 tensors per layer and direction, the output weight and bias.
    /// assert_eq!(specs.len(), 1 + 16 + 2);
    /// assert_eq!(specs[5].name, "gru.weight_ih_l0_reverse");
    /// assert_eq!((specs[9].shape.clone(), specs[9].row_groups), (vec![18, 12], 3));
    /// assert_eq!((specs[17].name.as_str(), specs[17].shape.clone()), ("fc.weight", vec![3, 12]));
    /// ```
    ///
    /// # Errors
    /// An invalid configuration ([`ClassifierConfig::validate`]), or
    /// [`NnError::TooLarge`] / [`NnError::Config`] when a shape's size overflows `usize`.
    pub fn param_specs(&self) -> Result<Vec<ParamSpec>, NnError> {
        self.validate()?;
        let (v, e, h, c) = (self.vocab_size, self.embed_dim, self.hidden, self.classes);
        let arch = self.rnn;
        let g = arch.cell.gates();
        let gates = g.checked_mul(h).ok_or_else(|| NnError::Config {
            field: "hidden",
            value: h.to_string(),
            expected: "small enough that 4 * hidden fits in usize",
        })?;
        let out_width = arch
            .directions()
            .checked_mul(h)
            .ok_or_else(|| NnError::Config {
                field: "hidden",
                value: h.to_string(),
                expected: "small enough that 2 * hidden fits in usize",
            })?;
        let matrix = |name: String, rows, cols, storage, kind, row_groups| ParamSpec {
            name,
            shape: vec![rows, cols],
            storage: Some(storage),
            kind,
            row_groups,
        };
        let bias = |name: String, len| ParamSpec {
            name,
            shape: vec![len],
            storage: None,
            kind: ParamKind::Bias,
            row_groups: 1,
        };
        let mut specs = vec![matrix(
            EMBEDDING.into(),
            v,
            e,
            self.embedding,
            ParamKind::Embedding,
            1,
        )];
        for layer in 0..arch.layers {
            let (in_width, ih_storage) = if layer == 0 {
                (e, self.lstm_ih)
            } else {
                (out_width, arch.upper_ih.unwrap_or(self.lstm_ih))
            };
            for dir in 0..arch.directions() {
                let name = |kind| rnn_param_name(arch.cell, kind, layer, dir);
                let [w_ih, w_hh, b_ih, b_hh] = RNN_PARAMS;
                specs.push(matrix(
                    name(w_ih),
                    gates,
                    in_width,
                    ih_storage,
                    ParamKind::LstmInputGates,
                    g,
                ));
                specs.push(matrix(
                    name(w_hh),
                    gates,
                    h,
                    self.lstm_hh,
                    ParamKind::LstmRecurrentGates,
                    g,
                ));
                specs.push(bias(name(b_ih), gates));
                specs.push(bias(name(b_hh), gates));
            }
        }
        specs.push(matrix(
            FC_WEIGHT.into(),
            c,
            out_width,
            self.output,
            ParamKind::Output,
            1,
        ));
        specs.push(bias(FC_BIAS.into(), c));
        for spec in &specs {
            if spec
                .shape
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .is_none()
            {
                return Err(NnError::TooLarge {
                    name: spec.name.clone(),
                    shape: spec.shape.clone(),
                });
            }
        }
        Ok(specs)
    }
}
