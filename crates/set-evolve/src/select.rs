//! Which weights to prune (per sign or by magnitude) and which absent positions to regrow by
//! gradient, with deterministic tie-breaking.

use crate::context::prune_count;
use crate::error::EvolveError;
use serde::{Deserialize, Serialize};
use set_sparse::{Scalar, SparseMatrix};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// SET's removal set, as value positions (indices into `SparseMatrix::values`), each list
/// sorted ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SignedSelection {
    /// The `floor(zeta * n_pos)` smallest non-negative weights (exact zeros included here, as
    /// magnitude 0).
    pub positive: Vec<usize>,
    /// The `floor(zeta * n_neg)` negative weights closest to zero.
    pub negative: Vec<usize>,
}

impl SignedSelection {
    /// Both lists merged, sorted ascending.
    pub fn all(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .positive
            .iter()
            .chain(&self.negative)
            .copied()
            .collect();
        v.sort_unstable();
        v
    }
}

/// Orders positions by `(|value|, position)`: the total order every magnitude rule uses, so ties
/// in magnitude go to the lower value position (earlier row, then earlier column).
fn by_magnitude<T: Scalar>(values: &[T]) -> impl Fn(&usize, &usize) -> Ordering + '_ {
    move |&a, &b| {
        values[a]
            .as_f64()
            .abs()
            .total_cmp(&values[b].as_f64().abs())
            .then(a.cmp(&b))
    }
}

/// The `k` candidates smallest by `(|value|, position)`, sorted by position.
fn k_smallest<T: Scalar>(values: &[T], mut candidates: Vec<usize>, k: usize) -> Vec<usize> {
    let k = k.min(candidates.len());
    if k == 0 {
        return Vec::new();
    }
    if k < candidates.len() {
        candidates.select_nth_unstable_by(k - 1, by_magnitude(values));
        candidates.truncate(k);
    }
    candidates.sort_unstable();
    candidates
}

/// SET's pruning rule: remove `floor(zeta * n_pos)` of the non-negative weights closest to zero
/// and `floor(zeta * n_neg)` of the negative weights closest to zero (see
/// [`crate::prune_count`] for the rounding). Exact zeros (also `-0.0`) count as non-negative
/// with magnitude 0. Ties in magnitude go to the lower value position.
///
/// ```
/// use set_evolve::set_prune_selection;
/// let values = [0.5f32, -0.1, 0.2, -0.7, 0.0, -0.1];
/// let s = set_prune_selection(&values, 0.5);
/// // Non-negative: 0.0 (pos 4), 0.2, 0.5 -> floor(1.5) = 1 removed: the zero.
/// assert_eq!(s.positive, vec![4]);
/// // Negative: -0.1 (pos 1), -0.7, -0.1 (pos 5) -> 1 removed; the tie goes to position 1.
/// assert_eq!(s.negative, vec![1]);
/// ```
pub fn set_prune_selection<T: Scalar>(values: &[T], zeta: f64) -> SignedSelection {
    let zero = T::zero();
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..values.len()).partition(|&k| values[k] >= zero);
    let kp = prune_count(zeta, pos.len());
    let kn = prune_count(zeta, neg.len());
    SignedSelection {
        positive: k_smallest(values, pos, kp),
        negative: k_smallest(values, neg, kn),
    }
}

/// Magnitude pruning (RigL, sparse momentum): the `k` weights smallest by `|value|`, ties to
/// the lower position; returned sorted ascending. `k` is capped at `values.len()`.
///
/// ```
/// use set_evolve::magnitude_prune_selection;
/// assert_eq!(magnitude_prune_selection(&[0.3f32, -0.1, 0.1, 2.0], 2), vec![1, 2]);
/// ```
pub fn magnitude_prune_selection<T: Scalar>(values: &[T], k: usize) -> Vec<usize> {
    k_smallest(values, (0..values.len()).collect(), k)
}

/// A growth candidate; `Ord` puts the *worst* candidate on top of a max-heap: smaller score is
/// worse, and for equal scores the larger flat position is worse.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    score: f32,
    flat: u64,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.flat.cmp(&other.flat))
    }
}

/// The `k` absent positions of `matrix` with the largest `|gradient|`, found row by row with a
/// bounded heap: memory is one row of length `cols` plus `k` candidates, never `rows x cols`.
///
/// A position is absent if nothing is stored there, or if its value position is listed in
/// `freed` (sorted ascending: entries pruned in this step, which may be regrown). Ties in
/// `|gradient|` go to the lower flat position `row * cols + col`. Returns `(row, col)` sorted.
/// `k` larger than the number of absent positions returns all of them.
///
/// ```
/// use set_evolve::top_k_absent_by_gradient;
/// use set_sparse::SparseMatrix;
/// // [[1, 0, 0],
/// //  [0, 0, 1]]
/// let w = SparseMatrix::<f32>::try_new(2, 3, vec![0, 1, 2], vec![0, 2], vec![1.0, 1.0]).unwrap();
/// let g = [[9.0f32, -3.0, 1.0], [2.0, -5.0, 9.0]];
/// let top = top_k_absent_by_gradient(&w, &[], 2, &|r, out: &mut [f32]| out.copy_from_slice(&g[r]), "w")
///     .unwrap();
/// assert_eq!(top, vec![(0, 1), (1, 1)]); // |-3| and |-5|; the 9s are stored
/// ```
///
/// # Errors
/// [`EvolveError::NonFinite`] if an absent position's gradient is NaN or infinite.
pub fn top_k_absent_by_gradient<T: Scalar>(
    matrix: &SparseMatrix<T>,
    freed: &[usize],
    k: usize,
    gradient_row: &(dyn Fn(usize, &mut [f32]) + Sync),
    name: &str,
) -> Result<Vec<(usize, usize)>, EvolveError> {
    top_k_absent_by_gradient_from(matrix, 0, freed, k, gradient_row, name)
}

/// As [`top_k_absent_by_gradient`], among the rows `first_row..` only (rows before it are
/// frozen: [`crate::MatrixView::frozen_rows`]; their gradient is never asked for).
///
/// # Errors
/// As [`top_k_absent_by_gradient`].
pub fn top_k_absent_by_gradient_from<T: Scalar>(
    matrix: &SparseMatrix<T>,
    first_row: usize,
    freed: &[usize],
    k: usize,
    gradient_row: &(dyn Fn(usize, &mut [f32]) + Sync),
    name: &str,
) -> Result<Vec<(usize, usize)>, EvolveError> {
    let (rows, cols) = matrix.shape();
    if k == 0 || rows == 0 || cols == 0 {
        return Ok(Vec::new());
    }
    let indices = matrix.indices();
    let mut heap: BinaryHeap<Candidate> = BinaryHeap::with_capacity(k + 1);
    let mut buf = vec![0.0f32; cols];
    let mut next_freed = 0;
    for r in first_row.min(rows)..rows {
        buf.fill(0.0);
        gradient_row(r, &mut buf);
        let range = matrix.row_range(r);
        let mut p = range.start;
        for (c, &g) in buf.iter().enumerate() {
            let mut absent = true;
            if p < range.end && indices[p] as usize == c {
                while next_freed < freed.len() && freed[next_freed] < p {
                    next_freed += 1;
                }
                absent = next_freed < freed.len() && freed[next_freed] == p;
                p += 1;
            }
            if !absent {
                continue;
            }
            if !g.is_finite() {
                return Err(EvolveError::NonFinite {
                    matrix: name.to_string(),
                    what: "gradient",
                    row: r,
                    col: c,
                    value: g as f64,
                });
            }
            let cand = Candidate {
                score: g.abs(),
                flat: r as u64 * cols as u64 + c as u64,
            };
            if heap.len() < k {
                heap.push(cand);
            } else if let Some(worst) = heap.peek()
                && cand < *worst
            {
                heap.pop();
                heap.push(cand);
            }
        }
    }
    let mut out: Vec<(usize, usize)> = heap
        .into_iter()
        .map(|c| {
            (
                (c.flat / cols as u64) as usize,
                (c.flat % cols as u64) as usize,
            )
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}
