//! `GmpPolicy`: gradual magnitude pruning (Zhu & Gupta 2017), the dense-to-sparse baseline.

use crate::context::{EvolveContext, NewWeightInit};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
use crate::policy::EvolutionPolicy;
use crate::select::magnitude_prune_selection;
use crate::view::MatrixView;
use std::collections::BTreeMap;

/// Gradual magnitude pruning: each matrix starts with every position stored and is pruned, step
/// by step, to its final non-zero count, nothing regrown.
///
/// At update `u` (0-based, [`EvolveContext::epoch`]) of `U = total_epochs - 1` updates, a
/// matrix keeps `final + ceil((start - final) * (1 - (u + 1) / U)^3)` connections, removing the
/// ones smallest by `|w|` (ties to the lower position); `start` is every position outside the
/// frozen rows, `final` the count given for the matrix. This is Zhu & Gupta's cubic sparsity
/// schedule `s_t = s_f + (s_i - s_f)(1 - (t - t_0) / (n dt))^3`, expressed in connections and
/// ending at the last update. The prune fraction `zeta` is not used.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, GmpPolicy, MatrixView, TopologyTracker};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// // A full 4 x 4 matrix pruned to 2 connections over 2 updates (U = 3 - 1).
/// let mut w = SparseMatrix::<f32>::random(4, 4, 16, &mut rng, |_| 1.0).unwrap();
/// let mut gmp = GmpPolicy::new([("w".to_string(), 2)].into());
/// let mut tracker = TopologyTracker::new();
/// let ctx = EvolveContext::new(0, 3, 0.0).unwrap();
/// gmp.evolve(&mut [MatrixView::new("w", &mut w)], &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!(w.nnz(), 2 + 2); // 2 + ceil(14 * 0.5^3)
/// let ctx = EvolveContext::new(1, 3, 0.0).unwrap();
/// gmp.evolve(&mut [MatrixView::new("w", &mut w)], &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!(w.nnz(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GmpPolicy {
    /// Final non-zero count of each matrix, by name.
    pub final_nnz: BTreeMap<String, usize>,
}

impl GmpPolicy {
    /// A GMP policy pruning each named matrix to its final count.
    pub fn new(final_nnz: BTreeMap<String, usize>) -> Self {
        GmpPolicy { final_nnz }
    }

    /// Connections a matrix of `start` positions keeps after update `u` of `updates`.
    ///
    /// ```
    /// use set_evolve::GmpPolicy;
    /// assert_eq!(GmpPolicy::kept(1000, 40, 0, 4), 40 + 405); // 960 * 0.75^3 = 405
    /// assert_eq!(GmpPolicy::kept(1000, 40, 3, 4), 40);
    /// assert_eq!(GmpPolicy::kept(1000, 40, 9, 4), 40);
    /// ```
    pub fn kept(start: usize, final_nnz: usize, u: usize, updates: usize) -> usize {
        if start <= final_nnz || updates == 0 {
            return final_nnz.min(start);
        }
        let left = 1.0 - ((u + 1) as f64 / updates as f64).min(1.0);
        final_nnz + ((start - final_nnz) as f64 * left.powi(3)).ceil() as usize
    }
}

impl EvolutionPolicy for GmpPolicy {
    fn name(&self) -> &'static str {
        "gmp"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }

    fn needs(&self) -> PolicyNeeds {
        PolicyNeeds {
            momentum: false,
            gradient_row: false,
            finite_values: true,
        }
    }

    fn starts_full(&self) -> bool {
        true
    }

    /// A matrix without a target is not GMP's to prune and does not count.
    fn at_final_size(&self, sizes: &[(&str, usize)]) -> bool {
        sizes
            .iter()
            .all(|&(name, nnz)| self.final_nnz.get(name).is_none_or(|&f| nnz <= f))
    }

    fn plan(
        &self,
        matrices: &[MatrixView<'_>],
        ctx: &EvolveContext,
        _rng: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError> {
        let updates = ctx.total_epochs.saturating_sub(1);
        let mut plans = Vec::with_capacity(matrices.len());
        for v in matrices {
            let &final_nnz =
                self.final_nnz
                    .get(v.name)
                    .ok_or_else(|| EvolveError::MissingTarget {
                        matrix: v.name.to_string(),
                    })?;
            let (rows, cols) = v.matrix.shape();
            let start = (rows - v.frozen_rows.min(rows)) * cols;
            let keep = GmpPolicy::kept(start, final_nnz, ctx.epoch, updates);
            let k = v.matrix.nnz().saturating_sub(keep);
            plans.push(MatrixPlan {
                remove: magnitude_prune_selection(v.matrix.values(), k),
                insert: Vec::new(),
                mean_abs_momentum: None,
            });
        }
        Ok(StepPlan {
            matrices: plans,
            conservation: Conservation::Shrink,
        })
    }
}
