//! The `EvolutionPolicy` trait and a serialisable `PolicyConfig` that builds any policy.

use crate::context::{EvolveContext, NewWeightInit};
use crate::error::EvolveError;
use crate::policies::{
    RiglConfig, RiglPolicy, SetConfig, SetPolicy, SnfsConfig, SnfsPolicy, StaticPolicy,
};
use crate::report::EvolutionReport;
use crate::tracker::TopologyTracker;
use crate::view::MatrixView;
use serde::{Deserialize, Serialize};

/// A rule that prunes and regrows connections between epochs.
///
/// Contract for every implementation in this crate:
/// - the matrices handed over are edited in place through `SparseMatrix::edit`, and every
///   buffer in `MatrixView::state` is remapped (survivors keep their state, new entries 0);
/// - non-zeros are conserved exactly: per matrix, except sparse momentum with redistribution,
///   which conserves the sum over the matrices of the step;
/// - nothing of size `rows x cols` is allocated, only one row of length `cols` at a time;
/// - all randomness comes from `rng`, so a seeded RNG gives a reproducible topology;
/// - on `Err`, no matrix or state buffer has changed (all checks run while planning).
///
/// Call it after epoch `epoch` only when [`crate::should_evolve`] holds (the context refuses
/// anything else).
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, SetPolicy};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut w = SparseMatrix::<f32>::random(64, 32, 200, &mut rng, |r| {
///     use rand::RngExt;
///     r.random_range(-1.0..1.0)
/// })
/// .unwrap();
/// let mut policy: Box<dyn EvolutionPolicy> = Box::new(SetPolicy::default());
/// let ctx = EvolveContext::new(0, 10, 0.3).unwrap();
/// let report = policy.evolve(&mut [MatrixView::new("w", &mut w)], &ctx, &mut rng).unwrap();
/// assert_eq!(w.nnz(), 200);
/// assert_eq!(report.matrices[0].removed, report.matrices[0].added);
/// ```
pub trait EvolutionPolicy: Send {
    /// Short name used in reports (`"set"`, `"rigl"`, `"snfs"`, `"static"`).
    fn name(&self) -> &'static str;

    /// The start value of new connections when the context does not set one: the policy's
    /// paper default.
    fn default_new_weight_init(&self) -> NewWeightInit;

    /// Prunes and regrows connections of `matrices` after epoch `ctx.epoch`.
    ///
    /// # Errors
    /// Invalid context or views (see [`EvolveError`]); nothing is changed on error.
    fn evolve(
        &mut self,
        matrices: &mut [MatrixView<'_>],
        ctx: &EvolveContext,
        rng: &mut dyn rand::Rng,
    ) -> Result<EvolutionReport, EvolveError>;

    /// Positions ever active so far (for checkpoints and analytics).
    fn tracker(&self) -> &TopologyTracker;

    /// Mutable tracker, e.g. to restore it from a checkpoint.
    fn tracker_mut(&mut self) -> &mut TopologyTracker;
}

/// Any policy with its configuration, for config files and the command line.
///
/// ```
/// use set_evolve::PolicyConfig;
/// assert_eq!(PolicyConfig::default().build().name(), "set");
/// assert_eq!(PolicyConfig::Static.build().name(), "static");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyConfig {
    /// Sparse Evolutionary Training (the default).
    Set(SetConfig),
    /// RigL: magnitude prune, gradient regrowth.
    Rigl(RiglConfig),
    /// Sparse momentum, truly sparse.
    Snfs(SnfsConfig),
    /// No topology change.
    Static,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::Set(SetConfig::default())
    }
}

impl PolicyConfig {
    /// A fresh policy (with an empty tracker).
    pub fn build(&self) -> Box<dyn EvolutionPolicy> {
        match *self {
            PolicyConfig::Set(c) => Box::new(SetPolicy::new(c)),
            PolicyConfig::Rigl(c) => Box::new(RiglPolicy::new(c)),
            PolicyConfig::Snfs(c) => Box::new(SnfsPolicy::new(c)),
            PolicyConfig::Static => Box::new(StaticPolicy::new()),
        }
    }
}
