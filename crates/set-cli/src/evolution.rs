//! The one place the CLI runs an evolution step: builds the policy from its name and calls
//! `set_nn::evolve::evolve_model`, which lends the model's sparse matrices, their optimizer state
//! and row gradients of the last training batch to the policy.

use crate::config::PolicyName;
use anyhow::Result;
use set_evolve::{
    EvolutionPolicy, EvolutionReport, EvolveContext, NewWeightInit, PolicyConfig, RiglConfig,
    SetConfig, SnfsConfig, TopologyTracker,
};
use set_nn::{Classifier, Optimizer, ParamValue};

/// A fresh policy for a name.
pub fn build_policy(name: PolicyName) -> Box<dyn EvolutionPolicy> {
    match name {
        PolicyName::Set => PolicyConfig::Set(SetConfig::default()),
        PolicyName::Rigl => PolicyConfig::Rigl(RiglConfig::default()),
        PolicyName::Snfs => PolicyConfig::Snfs(SnfsConfig::default()),
        PolicyName::Static => PolicyConfig::Static,
    }
    .build()
}

/// The evolution context after `epoch` of `epochs`, with the configured new-weight std.
///
/// # Errors
/// An invalid zeta or an epoch after which no step runs.
pub fn context(
    epoch: usize,
    epochs: usize,
    zeta: f64,
    new_weight_std: Option<f64>,
) -> Result<EvolveContext> {
    let ctx = EvolveContext::new(epoch, epochs, zeta)?;
    Ok(match new_weight_std {
        Some(0.0) => ctx.with_new_weight_init(NewWeightInit::Zero),
        Some(std) => ctx.with_new_weight_init(NewWeightInit::Normal { std }),
        None => ctx,
    })
}

/// Whether the model has any sparse matrix to evolve.
pub fn has_sparse(model: &Classifier<f32>) -> bool {
    model.params().iter().any(|p| p.value.as_sparse().is_some())
}

/// Runs one evolution step on the model's sparse matrices; optimizer state moves with the
/// weights (new connections start with zero state). RigL and SNFS regrow by the gradient of the
/// last training batch, so call this right after the epoch's last `train_step`.
///
/// # Errors
/// A policy error (nothing changed then).
pub fn evolve(
    model: &mut Classifier<f32>,
    opt: &mut Optimizer<f32>,
    policy: &mut dyn EvolutionPolicy,
    ctx: &EvolveContext,
    tracker: &mut TopologyTracker,
    rng: &mut dyn rand::Rng,
) -> Result<EvolutionReport> {
    Ok(set_nn::evolve::evolve_model(
        model, opt, policy, ctx, tracker, rng,
    )?)
}

/// Non-zeros per row of a sparse parameter (for topology plots).
pub fn row_degrees(model: &Classifier<f32>, name: &str) -> Option<Vec<usize>> {
    let p = model.params().into_iter().find(|p| p.name == name)?;
    let m = p.value.as_sparse()?;
    Some(m.indptr().windows(2).map(|w| w[1] - w[0]).collect())
}

/// Non-zeros per LSTM gate (i, f, g, o) of a `[4H, *]` parameter; dense ones count every entry.
pub fn gate_nnz(model: &Classifier<f32>, name: &str) -> Option<[usize; 4]> {
    let p = model.params().into_iter().find(|p| p.name == name)?;
    let shape = p.value.shape();
    let h = shape[0] / 4;
    Some(match &p.value {
        ParamValue::Sparse(m) => [0, 1, 2, 3].map(|g| m.nnz_in_rows(g * h..(g + 1) * h)),
        _ => [h * shape[1]; 4],
    })
}

/// SHA-256 (hex) of the model's topology: for every sparse parameter in order, its name, shape
/// and CSR structure (row pointers, column indices), not its values. Two runs with the same
/// topology have the same hash; `summary.json` records it as `topology_sha256`.
pub fn topology_sha256(model: &Classifier<f32>) -> String {
    use sha2::{Digest, Sha256};
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
    crate::sysinfo::hex(&h.finalize())
}
