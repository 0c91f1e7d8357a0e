//! Model fingerprints and topology facts: the topology and weight hashes that summaries,
//! data-parallel checks and tests compare, and per-row / per-gate non-zero counts for plots.

use set_data::digest::hex;
use set_nn::{Classifier, ParamValue};
use sha2::{Digest, Sha256};

/// SHA-256 (hex) of the model's topology: for every sparse parameter in order, its name, shape
/// and CSR structure (row pointers, column indices), not its values. Two models with the same
/// topology have the same hash (`summary.json` records it as `topology_sha256`).
pub fn topology_sha256(model: &Classifier<f32>) -> String {
    let mut h = Sha256::new();
    for p in model.params() {
        if let Some(m) = p.value.as_sparse() {
            h.update((p.name.len() as u64).to_le_bytes());
            h.update(p.name.as_bytes());
            for d in [m.rows(), m.cols(), m.nnz()] {
                h.update((d as u64).to_le_bytes());
            }
            for &x in m.indptr() {
                h.update((x as u64).to_le_bytes());
            }
            for &c in m.indices() {
                h.update(c.to_le_bytes());
            }
        }
    }
    hex(&h.finalize())
}

/// A 64-bit hash of a model's weights and topology: the first 8 bytes of a SHA-256 over the
/// topology hash and every parameter's name, shape and value bits. Equal for two models exactly
/// when they hold the same weights at the same positions.
pub fn model_hash64(model: &Classifier<f32>) -> u64 {
    let mut h = Sha256::new();
    h.update(topology_sha256(model).as_bytes());
    for p in model.params() {
        h.update(p.name.as_bytes());
        for d in p.value.shape() {
            h.update((d as u64).to_le_bytes());
        }
        for v in p.values() {
            h.update(v.to_bits().to_le_bytes());
        }
    }
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_le_bytes(first)
}

/// Whether the model has any sparse matrix to evolve.
pub fn has_sparse(model: &Classifier<f32>) -> bool {
    model.params().iter().any(|p| p.value.as_sparse().is_some())
}

/// Non-zeros per row of a sparse parameter (for topology plots).
pub fn row_degrees(model: &Classifier<f32>, name: &str) -> Option<Vec<usize>> {
    let p = model.params().into_iter().find(|p| p.name == name)?;
    let m = p.value.as_sparse()?;
    Some(m.indptr().windows(2).map(|w| w[1] - w[0]).collect())
}

/// Non-zeros per gate of a stacked-gate parameter `[G H, *]` (LSTM: i, f, g, o; GRU: r, z, n);
/// dense ones count every entry.
pub fn gate_nnz(model: &Classifier<f32>, name: &str) -> Option<Vec<usize>> {
    let p = model.params().into_iter().find(|p| p.name == name)?;
    let shape = p.value.shape();
    let gates = model.config.rnn.cell.gates();
    let h = shape[0] / gates;
    Some(match &p.value {
        ParamValue::Sparse(m) => (0..gates)
            .map(|g| m.nnz_in_rows(g * h..(g + 1) * h))
            .collect(),
        _ => vec![h * shape[1]; gates],
    })
}

/// The same model with every matrix stored dense (zeros where no connection exists): the
/// layout PyTorch's `nn.Embedding`, `nn.LSTM` / `nn.GRU` and `nn.Linear` load.
///
/// # Errors
/// Never for a valid model (shapes are unchanged).
pub fn densify(model: &Classifier<f32>) -> Result<Classifier<f32>, crate::TrainError> {
    use set_nn::{Param, Storage};
    let mut cfg = model.config.clone();
    cfg.embedding = Storage::Dense;
    cfg.lstm_ih = Storage::Dense;
    cfg.lstm_hh = Storage::Dense;
    cfg.output = Storage::Dense;
    if cfg.rnn.upper_ih.is_some() {
        cfg.rnn.upper_ih = Some(Storage::Dense);
    }
    let params = model
        .params()
        .into_iter()
        .map(|p| {
            let v = match &p.value {
                ParamValue::Sparse(m) => ParamValue::Dense(m.to_dense()),
                other => other.clone(),
            };
            Param::new(p.name.clone(), v)
        })
        .collect();
    Ok(Classifier::from_params(cfg, params)?)
}
