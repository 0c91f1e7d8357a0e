//! Analytics recorded at every evolution step (serde-serialisable).

use serde::{Deserialize, Serialize};
use set_sparse::{Scalar, SparseMatrix};

/// Non-zeros and churn of one block of rows (e.g. one LSTM gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupStats {
    /// Non-zeros in the block after the step.
    pub nnz: usize,
    /// Connections removed from the block.
    pub removed: usize,
    /// Connections added to the block.
    pub added: usize,
}

/// Summary of non-zeros per row (for an embedding: connections per token).
///
/// ```
/// use set_evolve::DegreeSummary;
/// use set_sparse::SparseMatrix;
/// let w = SparseMatrix::<f32>::try_new(3, 2, vec![0, 2, 2, 3], vec![0, 1, 1], vec![1.0; 3]).unwrap();
/// let d = DegreeSummary::of_rows(&w);
/// assert_eq!((d.min, d.max, d.empty_rows), (0, 2, 1));
/// assert_eq!(d.mean, 1.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct DegreeSummary {
    /// Fewest non-zeros in a row.
    pub min: usize,
    /// Mean non-zeros per row.
    pub mean: f64,
    /// Most non-zeros in a row.
    pub max: usize,
    /// Rows with no non-zero at all (for an embedding: tokens mapped to the zero vector).
    pub empty_rows: usize,
}

impl DegreeSummary {
    /// Computed from the row pointers, `O(rows)`. All zeros for a matrix without rows.
    pub fn of_rows<T: Scalar>(m: &SparseMatrix<T>) -> Self {
        let p = m.indptr();
        let rows = m.rows();
        if rows == 0 {
            return Self::default();
        }
        let (mut min, mut max, mut empty) = (usize::MAX, 0, 0);
        for w in p.windows(2) {
            let d = w[1] - w[0];
            min = min.min(d);
            max = max.max(d);
            empty += usize::from(d == 0);
        }
        DegreeSummary {
            min,
            mean: m.nnz() as f64 / rows as f64,
            max,
            empty_rows: empty,
        }
    }
}

/// What one evolution step did to one matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatrixReport {
    /// Matrix name.
    pub name: String,
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Non-zeros before the step.
    pub nnz_before: usize,
    /// Non-zeros after the step (equal to `nnz_before` for every policy except sparse momentum
    /// with redistribution, which conserves only the total).
    pub nnz_after: usize,
    /// Connections removed.
    pub removed: usize,
    /// Connections added.
    pub added: usize,
    /// Removed connections whose weight was `>= 0` (zeros count as positive).
    pub positive_removed: usize,
    /// Removed connections whose weight was `< 0`.
    pub negative_removed: usize,
    /// Largest `|w|` among the removed connections (the effective pruning threshold); `None`
    /// when nothing was removed.
    pub removed_max_abs: Option<f64>,
    /// Added connections placed on a position pruned in this same step (their weight and state
    /// restart).
    pub regrown_into_removed: usize,
    /// Density after the step.
    pub density: f64,
    /// Positions ever active, including this step.
    pub ever_active: u64,
    /// In-time over-parameterisation rate: `ever_active / (rows * cols)`.
    pub itop_rate: f64,
    /// Per row block (`row_groups` blocks of `rows / row_groups` rows, in order).
    pub groups: Vec<GroupStats>,
    /// Non-zeros per row after the step.
    pub degree: DegreeSummary,
    /// Mean `|momentum|` of the weights before the step, when the policy used it (sparse
    /// momentum).
    pub mean_abs_momentum: Option<f64>,
    /// Connections the previous step added to this matrix (0 at the first step).
    #[serde(default)]
    pub prev_added: usize,
    /// Of those, the ones this step did not prune.
    #[serde(default)]
    pub prev_added_survived: usize,
    /// `prev_added_survived / prev_added` (`None` when the previous step added nothing).
    #[serde(default)]
    pub regrowth_survival: Option<f64>,
    /// Connections after the step that were in the matrix's initial topology (`None` when the
    /// tracker does not know it: a run resumed from a checkpoint written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_kept: Option<usize>,
}

/// What one evolution step did, per matrix and in total.
///
/// ```
/// fn is_serde<T: serde::Serialize + serde::de::DeserializeOwned>() {}
/// is_serde::<set_evolve::EvolutionReport>();
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionReport {
    /// Policy name (`"set"`, `"rigl"`, `"snfs"`, `"static"`).
    pub policy: String,
    /// 0-based epoch after which the step ran.
    pub epoch: usize,
    /// Epochs of the run.
    pub total_epochs: usize,
    /// Prune fraction used.
    pub zeta: f64,
    /// One entry per matrix, in the order they were handed over.
    pub matrices: Vec<MatrixReport>,
    /// Sum of `nnz_before`.
    pub total_nnz_before: usize,
    /// Sum of `nnz_after`.
    pub total_nnz_after: usize,
    /// Sum of `removed`.
    pub total_removed: usize,
    /// Sum of `added`.
    pub total_added: usize,
    /// Ever-active positions over all positions of the matrices in this step.
    pub itop_rate: f64,
    /// Share of the connections the previous step added (all matrices) that this step kept
    /// (`None` at the first step, or when the previous step added nothing).
    #[serde(default)]
    pub regrowth_survival: Option<f64>,
}
