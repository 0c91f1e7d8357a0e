//! `RiglPolicy`: RigL (magnitude prune, regrow where the dense gradient is largest), truly
//! sparse.

use crate::context::{EvolveContext, NewWeightInit, prune_count};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
use crate::policy::EvolutionPolicy;
use crate::select::{magnitude_prune_selection, top_k_absent_by_gradient_from};
use crate::view::MatrixView;
use serde::{Deserialize, Serialize};

/// Options of [`RiglPolicy`].
///
/// ```
/// assert!(set_evolve::RiglConfig::default().regrow_into_removed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RiglConfig {
    /// Whether connections pruned in this step may be regrown (`true`, as in RigL, whose grow
    /// step ranks every position absent after the drop; a regrown one restarts from 0). With
    /// `false` they are excluded, unless too few other absent positions exist.
    pub regrow_into_removed: bool,
}

impl Default for RiglConfig {
    fn default() -> Self {
        RiglConfig {
            regrow_into_removed: true,
        }
    }
}

/// RigL (Evci et al. 2020), with SET's per-epoch schedule.
///
/// Per matrix: `k = floor(zeta * nnz)`; remove the `k` weights smallest by `|w|` (ties to the
/// lower position); add the `k` absent positions with the largest `|dL/dW|`, found row by row
/// through `MatrixView::gradient_row` with a bounded heap (ties to the lower flat position).
/// New weights start at 0 by default (RigL). Needs `gradient_row` on every view.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, RiglPolicy, TopologyTracker};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// // [[0.1, 2.0, 0], [0, 0, 3.0]]; the gradient is largest at (1, 0).
/// let mut w = SparseMatrix::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 1, 2], vec![0.1, 2.0, 3.0])
///     .unwrap();
/// let grad = |r: usize, out: &mut [f32]| out.copy_from_slice(if r == 0 { &[0.0, 0.0, 1.0] } else { &[-4.0, 0.0, 0.0] });
/// let ctx = EvolveContext::new(0, 2, 0.34).unwrap();
/// let view = MatrixView::new("w", &mut w).with_gradient_row(&grad);
/// let mut tracker = TopologyTracker::new();
/// RiglPolicy::default().evolve(&mut [view], &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!(w.get(0, 0), None); // 0.1 pruned
/// assert_eq!(w.get(1, 0), Some(0.0)); // grown at the largest |gradient|, value 0
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiglPolicy {
    /// Options.
    pub config: RiglConfig,
}

impl RiglPolicy {
    /// A RigL policy with the given options.
    pub fn new(config: RiglConfig) -> Self {
        RiglPolicy { config }
    }
}

/// The `k` absent positions with the largest |gradient|, excluding `remove` unless
/// `regrow_into_removed` or too few other positions are absent.
pub(crate) fn grow_by_gradient(
    v: &MatrixView<'_>,
    remove: &[usize],
    k: usize,
    regrow_into_removed: bool,
    policy: &'static str,
) -> Result<Vec<(usize, usize)>, EvolveError> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let grad = v.gradient_row.ok_or_else(|| EvolveError::MissingGradient {
        matrix: v.name.to_string(),
        policy,
    })?;
    let (capacity, stored) = open_capacity(v);
    let absent_without_removed = capacity - stored;
    let freed: &[usize] = if regrow_into_removed || absent_without_removed < k as u64 {
        remove
    } else {
        &[]
    };
    let frozen_nnz = v.matrix.indptr()[v.frozen_rows.min(v.matrix.rows())];
    let absent = absent_without_removed + freed.iter().filter(|&&p| p >= frozen_nnz).count() as u64;
    if absent < k as u64 {
        return Err(EvolveError::NotEnoughEmpty {
            matrix: v.name.to_string(),
            needed: k as u64,
            available: absent,
        });
    }
    top_k_absent_by_gradient_from(&*v.matrix, v.frozen_rows, freed, k, grad, v.name)
}

/// The positions of the rows a view may grow into (all but its frozen rows), and how many of
/// them are stored.
pub(crate) fn open_capacity(v: &MatrixView<'_>) -> (u64, u64) {
    let (rows, cols) = v.matrix.shape();
    let first = v.frozen_rows.min(rows);
    let frozen_nnz = v.matrix.indptr()[first];
    (
        (rows - first) as u64 * cols as u64,
        (v.matrix.nnz() - frozen_nnz) as u64,
    )
}

impl EvolutionPolicy for RiglPolicy {
    fn name(&self) -> &'static str {
        "rigl"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }

    fn needs(&self) -> PolicyNeeds {
        PolicyNeeds {
            momentum: false,
            gradient_row: true,
            finite_values: true,
        }
    }

    fn plan(
        &self,
        matrices: &[MatrixView<'_>],
        ctx: &EvolveContext,
        _rng: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError> {
        let mut plans = Vec::with_capacity(matrices.len());
        for v in matrices {
            let k = prune_count(ctx.zeta, v.matrix.nnz());
            let remove = magnitude_prune_selection(v.matrix.values(), k);
            let insert =
                grow_by_gradient(v, &remove, k, self.config.regrow_into_removed, self.name())?;
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
