//! Parameter accounting: stored values per matrix, dense equivalents, density, bytes.

use crate::classifier::Classifier;
use crate::optim::Optimizer;
use set_sparse::Scalar;

/// One parameter's size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ParamReport {
    /// PyTorch-style name.
    pub name: String,
    /// Logical shape.
    pub shape: Vec<usize>,
    /// Stored (trainable) values.
    pub stored: usize,
    /// Entries of the dense equivalent.
    pub dense: usize,
    /// `stored / dense`.
    pub density: f64,
    /// Bytes of values and sparse structure.
    pub bytes: usize,
    /// Whether it is stored sparse.
    pub sparse: bool,
}

/// Sizes of a whole model (and optionally its optimizer).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelReport {
    /// Per-parameter sizes, in model order.
    pub params: Vec<ParamReport>,
    /// Stored values in total (the model's parameter count).
    pub total_params: usize,
    /// Parameter count of the dense model with the same shapes.
    pub dense_params: usize,
    /// `total_params / dense_params`.
    pub density: f64,
    /// Bytes of weights and structure.
    pub weight_bytes: usize,
    /// Bytes of optimizer state (0 without an optimizer).
    pub optimizer_bytes: usize,
}

/// Counts a model's parameters and bytes.
pub fn model_report<T: Scalar>(
    model: &Classifier<T>,
    optimizer: Option<&Optimizer<T>>,
) -> ModelReport {
    let params: Vec<ParamReport> = model
        .params()
        .into_iter()
        .map(|p| {
            let dense = p.value.dense_len();
            ParamReport {
                name: p.name.clone(),
                shape: p.value.shape(),
                stored: p.values().len(),
                dense,
                density: if dense == 0 {
                    0.0
                } else {
                    p.values().len() as f64 / dense as f64
                },
                bytes: p.value.memory_bytes(),
                sparse: p.value.as_sparse().is_some(),
            }
        })
        .collect();
    let total_params = params.iter().map(|p| p.stored).sum();
    let dense_params = params.iter().map(|p| p.dense).sum();
    ModelReport {
        total_params,
        dense_params,
        density: total_params as f64 / dense_params.max(1) as f64,
        weight_bytes: params.iter().map(|p| p.bytes).sum(),
        optimizer_bytes: optimizer.map_or(0, Optimizer::memory_bytes),
        params,
    }
}
