//! The `EvolutionPolicy` trait: each policy plans a step, the trait's provided `evolve` checks
//! and applies it (the one copy of the shared skeleton).

use crate::context::{EvolveContext, NewWeightInit};
use crate::engine;
use crate::error::EvolveError;
use crate::plan::{PolicyNeeds, StepPlan};
use crate::report::EvolutionReport;
use crate::tracker::TopologyTracker;
use crate::view::MatrixView;

/// A rule that prunes and regrows connections between epochs.
///
/// A policy implements only [`EvolutionPolicy::plan`] (what to remove and add, per matrix)
/// plus its name, its needs and its default start value; the provided
/// [`EvolutionPolicy::evolve`] is the one shared skeleton: it validates the context and the
/// views, refuses non-finite values, asks the policy for its plan, checks the plan, applies it
/// (drawing new values, editing the matrices, remapping the state) and updates the
/// [`TopologyTracker`] handed in. Policies own no tracker: whoever owns the training state
/// (e.g. a checkpointed training state) holds the one tracker and passes it to every step.
///
/// Contract of the skeleton, for every policy:
/// - the matrices handed over are edited in place through `SparseMatrix::edit`, and every
///   buffer in `MatrixView::state` is remapped (survivors keep their state, new entries 0);
/// - non-zeros are conserved exactly as the plan's [`crate::Conservation`] says: per matrix, or
///   (sparse momentum with redistribution) the sum over the matrices of the step;
/// - nothing of size `rows x cols` is allocated, only one row of length `cols` at a time;
/// - all randomness comes from `rng`, first the plan's draws and then the new values, matrix by
///   matrix, so a seeded RNG gives a reproducible topology;
/// - on `Err`, no matrix, state buffer or tracker entry has changed (all checks run before the
///   first edit).
///
/// Call it after epoch `epoch` only when [`crate::should_evolve`] holds (the context refuses
/// anything else).
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, SetPolicy, TopologyTracker};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut w = SparseMatrix::<f32>::random(64, 32, 200, &mut rng, |r| {
///     use rand::RngExt;
///     r.random_range(-1.0..1.0)
/// })
/// .unwrap();
/// let mut policy: Box<dyn EvolutionPolicy> = Box::new(SetPolicy::default());
/// let mut tracker = TopologyTracker::new();
/// let ctx = EvolveContext::new(0, 10, 0.3).unwrap();
/// let view = MatrixView::new("w", &mut w);
/// let report = policy.evolve(&mut [view], &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!(w.nnz(), 200);
/// assert_eq!(report.matrices[0].removed, report.matrices[0].added);
/// assert!(tracker.ever_active("w").unwrap() > 200);
/// ```
pub trait EvolutionPolicy: Send {
    /// Short name used in reports (`"set"`, `"rigl"`, `"snfs"`, `"static"`).
    fn name(&self) -> &'static str;

    /// The start value of new connections when the context does not set one: the policy's
    /// paper default.
    fn default_new_weight_init(&self) -> NewWeightInit;

    /// What the views must carry; checked by the skeleton before [`EvolutionPolicy::plan`].
    fn needs(&self) -> PolicyNeeds;

    /// Whether the policy starts from full matrices (every position stored) and prunes them
    /// down, rather than from the sparse topology it keeps. Default: no.
    fn starts_full(&self) -> bool {
        false
    }

    /// Whether matrices holding `sizes` (name, stored connections) have reached the size the
    /// policy trains towards: only such a model may be kept as the best-dev model. Policies
    /// that keep each matrix's size, or move connections between matrices, are always there
    /// (the default).
    ///
    /// ```
    /// use set_evolve::{EvolutionPolicy, GmpPolicy, SetPolicy};
    /// let gmp = GmpPolicy::new([("w".to_string(), 10)].into());
    /// assert!(!gmp.at_final_size(&[("w", 11)]));
    /// assert!(gmp.at_final_size(&[("w", 10)]));
    /// assert!(SetPolicy::default().at_final_size(&[("w", 11)]));
    /// ```
    fn at_final_size(&self, sizes: &[(&str, usize)]) -> bool {
        let _ = sizes;
        true
    }

    /// Decides what to remove and add in each matrix, without changing anything.
    ///
    /// Called by [`EvolutionPolicy::evolve`] after the context and the views passed the checks
    /// of [`EvolutionPolicy::needs`]; may draw from `rng` (the skeleton draws the new values
    /// after it).
    ///
    /// # Errors
    /// Whatever makes the step impossible (e.g. [`EvolveError::NotEnoughEmpty`]).
    fn plan(
        &self,
        matrices: &[MatrixView<'_>],
        ctx: &EvolveContext,
        rng: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError>;

    /// Prunes and regrows connections of `matrices` after epoch `ctx.epoch`, and records the
    /// structure in `tracker` (the positions before the step and every new one). The shared
    /// skeleton of every policy; implementations provide [`EvolutionPolicy::plan`] instead.
    ///
    /// # Errors
    /// Invalid context, views or plan, or a matrix whose shape differs from the one `tracker`
    /// knows (see [`EvolveError`]); nothing is changed on error, `tracker` included.
    fn evolve(
        &mut self,
        matrices: &mut [MatrixView<'_>],
        ctx: &EvolveContext,
        tracker: &mut TopologyTracker,
        rng: &mut dyn rand::Rng,
    ) -> Result<EvolutionReport, EvolveError> {
        ctx.validate()?;
        let needs = self.needs();
        engine::validate_views(matrices, self.name(), needs.momentum, needs.gradient_row)?;
        if needs.finite_values {
            for v in matrices.iter() {
                engine::check_finite(v, v.matrix.values(), "weight")?;
                if needs.momentum
                    && let Some(m) = v.momentum
                {
                    engine::check_finite(v, v.state[m], "momentum")?;
                }
            }
        }
        let plan = self.plan(matrices, ctx, rng)?;
        let init = ctx
            .new_weight_init
            .unwrap_or_else(|| self.default_new_weight_init());
        engine::apply(matrices, plan, init, rng, tracker, ctx, self.name())
    }
}
