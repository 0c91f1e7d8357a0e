//! `SnfsPolicy`: sparse momentum (Dettmers & Zettlemoyer 2019), made truly sparse.

use crate::context::{EvolveContext, NewWeightInit, prune_count};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
use crate::policies::rigl::{grow_by_gradient, open_capacity};
use crate::policy::EvolutionPolicy;
use crate::select::magnitude_prune_selection;
use crate::view::MatrixView;
use serde::{Deserialize, Serialize};

/// Options of [`SnfsPolicy`].
///
/// ```
/// let c = set_evolve::SnfsConfig::default();
/// assert!(c.redistribute && c.regrow_into_removed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnfsConfig {
    /// Redistribute the regrowth budget across matrices by mean |momentum| (`true`, the
    /// paper). With `false` every matrix regrows what it pruned and keeps its nnz.
    pub redistribute: bool,
    /// Whether connections pruned in this step may be regrown (as in [`crate::RiglConfig`]).
    pub regrow_into_removed: bool,
}

impl Default for SnfsConfig {
    fn default() -> Self {
        SnfsConfig {
            redistribute: true,
            regrow_into_removed: true,
        }
    }
}

/// Sparse momentum / SNFS, truly sparse.
///
/// 1. Per matrix `i`: `M_i` = mean `|momentum|` over its stored weights (before pruning).
/// 2. Prune `k_i = floor(zeta * nnz_i)` weights smallest by `|w|`; `K = sum k_i`.
/// 3. Split `K` over the matrices in proportion to `M_i` (largest-remainder rounding, so the
///    shares sum to `K` exactly), capping matrix `i` at its absent positions
///    `rows * cols - (nnz_i - k_i)` and re-splitting any excess among the others. If every
///    `M_i` is 0, the split follows `k_i` (each matrix regrows what it pruned).
/// 4. Within each matrix regrow the absent positions with the largest `|gradient|` (via
///    `gradient_row`, as RigL). **Deviation:** the paper ranks absent positions by their
///    momentum, which needs a dense momentum tensor; here momentum exists only for stored
///    weights, so the current gradient (the first step of momentum from 0) is used instead.
///
/// The sum of nnz over the matrices of the step is conserved exactly; single matrices grow or
/// shrink (that is the point of the redistribution), unless `redistribute` is off. New weights
/// start at 0 by default (the paper). Needs `momentum` and `gradient_row` on every view.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, SnfsPolicy, TopologyTracker};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut a = SparseMatrix::<f32>::random(20, 20, 100, &mut rng, |_| 1.0).unwrap();
/// let mut b = SparseMatrix::<f32>::random(20, 20, 100, &mut rng, |_| 1.0).unwrap();
/// let (mut ma, mut mb) = (vec![1.0f32; 100], vec![0.0f32; 100]); // only `a` has momentum
/// let grad = |_r: usize, out: &mut [f32]| out.fill(1.0);
/// let ctx = EvolveContext::new(0, 10, 0.5).unwrap();
/// let mut views = [
///     MatrixView::new("a", &mut a).with_momentum(&mut ma).with_gradient_row(&grad),
///     MatrixView::new("b", &mut b).with_momentum(&mut mb).with_gradient_row(&grad),
/// ];
/// let mut tracker = TopologyTracker::new();
/// let r = SnfsPolicy::default().evolve(&mut views, &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!(r.total_nnz_after, 200);
/// assert_eq!((a.nnz(), b.nnz()), (150, 50)); // b's pruned budget moved to a
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnfsPolicy {
    /// Options.
    pub config: SnfsConfig,
}

impl SnfsPolicy {
    /// A sparse-momentum policy with the given options.
    pub fn new(config: SnfsConfig) -> Self {
        SnfsPolicy { config }
    }
}

/// Splits `total` into integers proportional to `weights` (largest remainder, ties to the lower
/// index), each at most `caps[i]`; excess is re-split among the uncapped. Falls back to
/// `fallback` weights, then to `caps`, when the weights of the uncapped entries sum to 0.
/// Requires `sum(caps) >= total`; the result sums to `total`.
pub(crate) fn apportion(
    total: usize,
    weights: &[f64],
    fallback: &[f64],
    caps: &[u64],
) -> Vec<usize> {
    let n = weights.len();
    let mut out = vec![0usize; n];
    let mut fixed = vec![false; n];
    for i in 0..n {
        if caps[i] == 0 {
            fixed[i] = true;
        }
    }
    loop {
        let assigned: usize = (0..n).filter(|&i| fixed[i]).map(|i| out[i]).sum();
        let remaining = total.saturating_sub(assigned);
        let free: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
        if free.is_empty() || remaining == 0 {
            for &i in &free {
                out[i] = 0;
            }
            return out;
        }
        let pick = |w: &[f64]| {
            let s: f64 = free.iter().map(|&i| w[i]).sum();
            (s.is_finite() && s > 0.0).then_some(s)
        };
        let caps_f: Vec<f64> = caps.iter().map(|&c| c as f64).collect();
        let (w, sum): (&[f64], f64) = if let Some(s) = pick(weights) {
            (weights, s)
        } else if let Some(s) = pick(fallback) {
            (fallback, s)
        } else {
            (&caps_f, pick(&caps_f).unwrap_or(1.0))
        };
        let quotas: Vec<f64> = free
            .iter()
            .map(|&i| remaining as f64 * w[i] / sum)
            .collect();
        let mut share: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
        let mut left = remaining.saturating_sub(share.iter().sum());
        let mut order: Vec<usize> = (0..free.len()).collect();
        order.sort_by(|&a, &b| {
            let fa = quotas[a] - quotas[a].floor();
            let fb = quotas[b] - quotas[b].floor();
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        // Rounding error can only leave fewer than free.len() units; cycle to be safe.
        let mut j = 0;
        while left > 0 {
            share[order[j % order.len()]] += 1;
            left -= 1;
            j += 1;
        }
        // Floating-point error could also overshoot by a unit: take it back from the smallest
        // fractional parts.
        let mut excess = share.iter().sum::<usize>().saturating_sub(remaining);
        for &slot in order.iter().rev().cycle() {
            if excess == 0 {
                break;
            }
            if share[slot] > 0 {
                share[slot] -= 1;
                excess -= 1;
            }
        }
        let capped = free
            .iter()
            .enumerate()
            .any(|(slot, &i)| share[slot] as u64 > caps[i]);
        if !capped {
            for (slot, &i) in free.iter().enumerate() {
                out[i] = share[slot];
            }
            return out;
        }
        for (slot, &i) in free.iter().enumerate() {
            if share[slot] as u64 > caps[i] {
                out[i] = caps[i] as usize;
                fixed[i] = true;
            }
        }
    }
}

impl EvolutionPolicy for SnfsPolicy {
    fn name(&self) -> &'static str {
        "snfs"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }

    fn needs(&self) -> PolicyNeeds {
        PolicyNeeds {
            momentum: true,
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
        let mut momenta = Vec::with_capacity(matrices.len());
        for v in matrices {
            let index = v.momentum.ok_or_else(|| EvolveError::MissingMomentum {
                matrix: v.name.to_string(),
                policy: self.name(),
            })?;
            let mom: &[f32] = v.state[index];
            let mean = if mom.is_empty() {
                0.0
            } else {
                mom.iter().map(|x| (*x as f64).abs()).sum::<f64>() / mom.len() as f64
            };
            momenta.push(mean);
        }
        let removes: Vec<Vec<usize>> = matrices
            .iter()
            .map(|v| {
                magnitude_prune_selection(v.matrix.values(), prune_count(ctx.zeta, v.matrix.nnz()))
            })
            .collect();
        let removed: Vec<usize> = removes.iter().map(Vec::len).collect();
        let budgets = if self.config.redistribute {
            let caps: Vec<u64> = matrices
                .iter()
                .zip(&removes)
                .map(|(v, remove)| {
                    // Open positions once the removals are done, outside frozen rows.
                    let (capacity, stored) = open_capacity(v);
                    let frozen_nnz = v.matrix.indptr()[v.frozen_rows.min(v.matrix.rows())];
                    let freed = remove.iter().filter(|&&p| p >= frozen_nnz).count() as u64;
                    capacity - (stored - freed)
                })
                .collect();
            let fallback: Vec<f64> = removed.iter().map(|&k| k as f64).collect();
            apportion(removed.iter().sum(), &momenta, &fallback, &caps)
        } else {
            removed.clone()
        };
        let mut plans = Vec::with_capacity(matrices.len());
        for ((v, remove), (&budget, &mean)) in matrices
            .iter()
            .zip(removes)
            .zip(budgets.iter().zip(&momenta))
        {
            let insert = grow_by_gradient(
                v,
                &remove,
                budget,
                self.config.regrow_into_removed,
                self.name(),
            )?;
            plans.push(MatrixPlan {
                remove,
                insert,
                mean_abs_momentum: Some(mean),
            });
        }
        let conservation = if self.config.redistribute {
            Conservation::Total
        } else {
            Conservation::PerMatrix
        };
        Ok(StepPlan {
            matrices: plans,
            conservation,
        })
    }
}
