//! `SetPolicy`: Sparse Evolutionary Training (prune closest-to-zero per sign, regrow at random).

use crate::context::{EvolveContext, NewWeightInit};
use crate::engine::{self, Conservation, Plan};
use crate::error::EvolveError;
use crate::policy::EvolutionPolicy;
use crate::report::EvolutionReport;
use crate::sampling::{SamplingMethod, sample_empty_positions};
use crate::select::set_prune_selection;
use crate::tracker::TopologyTracker;
use crate::view::MatrixView;
use serde::{Deserialize, Serialize};

/// Options of [`SetPolicy`].
///
/// ```
/// let c = set_evolve::SetConfig::default();
/// assert!(c.regrow_into_removed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SetConfig {
    /// Whether positions pruned in this step count as empty for regrowth (`true`, as in SET's
    /// reference code, which regrows into a matrix from which the pruned entries are already
    /// gone). With `false` they are excluded, unless that leaves fewer empty positions than
    /// connections to place, in which case they become eligible again so nnz is still
    /// conserved.
    pub regrow_into_removed: bool,
    /// How empty positions are drawn.
    pub sampling: SamplingMethod,
}

impl Default for SetConfig {
    fn default() -> Self {
        SetConfig {
            regrow_into_removed: true,
            sampling: SamplingMethod::Auto,
        }
    }
}

/// Sparse Evolutionary Training (Mocanu et al. 2018; SET-LSTM, Liu et al. 2019).
///
/// Per matrix: remove `floor(zeta * n_pos)` of the non-negative weights closest to zero and
/// `floor(zeta * n_neg)` of the negative weights closest to zero
/// ([`crate::set_prune_selection`]), then add exactly as many connections at uniformly random
/// empty positions ([`crate::sample_empty_positions`]). New weights: the context's init, or by
/// default `Normal { std: 0.1 }` (SET's sparse reference code; provisional until the
/// experiment settles it). Needs neither gradients nor momentum.
#[derive(Debug, Clone, Default)]
pub struct SetPolicy {
    /// Options.
    pub config: SetConfig,
    tracker: TopologyTracker,
}

impl SetPolicy {
    /// A SET policy with an empty tracker.
    pub fn new(config: SetConfig) -> Self {
        SetPolicy {
            config,
            tracker: TopologyTracker::new(),
        }
    }
}

impl EvolutionPolicy for SetPolicy {
    fn name(&self) -> &'static str {
        "set"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Normal { std: 0.1 }
    }

    fn evolve(
        &mut self,
        matrices: &mut [MatrixView<'_>],
        ctx: &EvolveContext,
        rng: &mut dyn rand::Rng,
    ) -> Result<EvolutionReport, EvolveError> {
        ctx.validate()?;
        engine::validate_views(matrices, self.name(), false, false)?;
        for v in matrices.iter() {
            engine::check_finite(v, v.matrix.values(), "weight")?;
        }
        let mut plans = Vec::with_capacity(matrices.len());
        for v in matrices.iter() {
            let remove = set_prune_selection(v.matrix.values(), ctx.zeta).all();
            let k = remove.len();
            let freed: &[usize] = if self.config.regrow_into_removed {
                &remove
            } else {
                &[]
            };
            let insert = match sample_empty_positions(
                &*v.matrix,
                freed,
                k,
                self.config.sampling,
                rng,
                v.name,
            ) {
                Err(EvolveError::NotEnoughEmpty { .. }) if !self.config.regrow_into_removed => {
                    sample_empty_positions(
                        &*v.matrix,
                        &remove,
                        k,
                        self.config.sampling,
                        rng,
                        v.name,
                    )?
                }
                r => r?,
            };
            plans.push(Plan {
                remove,
                insert,
                mean_abs_momentum: None,
            });
        }
        let init = ctx
            .new_weight_init
            .unwrap_or_else(|| self.default_new_weight_init());
        let name = self.name();
        engine::apply(
            matrices,
            plans,
            init,
            rng,
            &mut self.tracker,
            ctx,
            name,
            Conservation::PerMatrix,
        )
    }

    fn tracker(&self) -> &TopologyTracker {
        &self.tracker
    }

    fn tracker_mut(&mut self) -> &mut TopologyTracker {
        &mut self.tracker
    }
}
