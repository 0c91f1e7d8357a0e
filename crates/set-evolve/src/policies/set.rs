//! `SetPolicy`: Sparse Evolutionary Training (prune closest-to-zero per sign, regrow at random).

use crate::context::{EvolveContext, NewWeightInit};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
use crate::policy::EvolutionPolicy;
use crate::sampling::{SamplingMethod, sample_empty_positions_from};
use crate::select::set_prune_selection;
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetPolicy {
    /// Options.
    pub config: SetConfig,
}

impl SetPolicy {
    /// A SET policy with the given options.
    pub fn new(config: SetConfig) -> Self {
        SetPolicy { config }
    }
}

impl EvolutionPolicy for SetPolicy {
    fn name(&self) -> &'static str {
        "set"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Normal { std: 0.1 }
    }

    fn needs(&self) -> PolicyNeeds {
        PolicyNeeds {
            momentum: false,
            gradient_row: false,
            finite_values: true,
        }
    }

    fn plan(
        &self,
        matrices: &[MatrixView<'_>],
        ctx: &EvolveContext,
        rng: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError> {
        let mut plans = Vec::with_capacity(matrices.len());
        for v in matrices {
            let remove = set_prune_selection(v.matrix.values(), ctx.zeta).all();
            let k = remove.len();
            let freed: &[usize] = if self.config.regrow_into_removed {
                &remove
            } else {
                &[]
            };
            let insert = match sample_empty_positions_from(
                &*v.matrix,
                v.frozen_rows,
                freed,
                k,
                self.config.sampling,
                rng,
                v.name,
            ) {
                Err(EvolveError::NotEnoughEmpty { .. }) if !self.config.regrow_into_removed => {
                    sample_empty_positions_from(
                        &*v.matrix,
                        v.frozen_rows,
                        &remove,
                        k,
                        self.config.sampling,
                        rng,
                        v.name,
                    )?
                }
                r => r?,
            };
            plans.push(MatrixPlan {
                remove,
                insert,
                mean_abs_momentum: None,
            });
        }
        Ok(StepPlan {
            matrices: plans,
            conservation: Conservation::PerMatrix,
        })
    }
}
