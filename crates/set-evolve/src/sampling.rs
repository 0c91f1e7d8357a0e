//! Uniform sampling of empty positions of a CSR matrix, exact and without a dense mask.

use crate::error::EvolveError;
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use set_sparse::{Scalar, SparseMatrix, sample_sorted_distinct};
use std::collections::HashSet;

/// How [`sample_empty_positions`] draws. Both methods are exact: every `k`-subset of the empty
/// positions is equally likely. They consume the RNG differently, so a run is reproducible for
/// a fixed method (and `Auto` picks deterministically from the shapes and counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingMethod {
    /// `Rejection` when at most half the positions are occupied and `k` is at most half the
    /// empty positions (expected draws < `2k`); `Enumerate` otherwise.
    #[default]
    Auto,
    /// Draw flat positions uniformly, reject occupied ones (binary search in the row) and ones
    /// already chosen (a hash set of the `k` picks). `O(k log(nnz / rows))` expected time at low
    /// density; slow when the matrix is nearly full.
    Rejection,
    /// Draw `k` distinct ranks among the `E` empty positions, then walk the rows once and map
    /// each rank to its column through the gaps of the sorted column list. `O(rows + nnz +
    /// k log k)` time and `O(k)` memory at any density (the complement is drawn when
    /// `k > E / 2`, costing `O(E)` time).
    Enumerate,
}

/// Draws `k` distinct positions, uniformly among the empty positions of `matrix`, and returns
/// them as `(row, col)` sorted.
///
/// "Empty" means nothing is stored there, or the stored entry's value position is listed in
/// `freed` (sorted ascending, unique: entries pruned in this step that may be regrown). Memory
/// is `O(k + cols)`; nothing of size `rows x cols` is allocated.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{SamplingMethod, sample_empty_positions};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
/// // Row 0 full, row 1 holds only column 0: the empty positions are (1, 1) and (1, 2).
/// let w = SparseMatrix::<f32>::try_new(2, 3, vec![0, 3, 4], vec![0, 1, 2, 0], vec![1.0; 4]).unwrap();
/// let got = sample_empty_positions(&w, &[], 2, SamplingMethod::Auto, &mut rng, "w").unwrap();
/// assert_eq!(got, vec![(1, 1), (1, 2)]);
/// // Freeing stored position 0 makes (0, 0) a candidate too.
/// let got = sample_empty_positions(&w, &[0], 3, SamplingMethod::Rejection, &mut rng, "w").unwrap();
/// assert_eq!(got, vec![(0, 0), (1, 1), (1, 2)]);
/// ```
///
/// # Errors
/// [`EvolveError::NotEnoughEmpty`] if `k` exceeds the empty positions;
/// [`EvolveError::InvalidParameter`] if `freed` is not sorted, unique and below `nnz`.
pub fn sample_empty_positions<T: Scalar, R: Rng + ?Sized>(
    matrix: &SparseMatrix<T>,
    freed: &[usize],
    k: usize,
    method: SamplingMethod,
    rng: &mut R,
    name: &str,
) -> Result<Vec<(usize, usize)>, EvolveError> {
    sample_empty_positions_from(matrix, 0, freed, k, method, rng, name)
}

/// As [`sample_empty_positions`], among the rows `first_row..` only (rows before it are
/// frozen: [`crate::MatrixView::frozen_rows`]). With `first_row = 0` the draws are those of
/// [`sample_empty_positions`].
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{SamplingMethod, sample_empty_positions_from};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
/// let w = SparseMatrix::<f32>::try_new(3, 2, vec![0, 0, 1, 1], vec![0], vec![1.0]).unwrap();
/// let got = sample_empty_positions_from(&w, 1, &[], 3, SamplingMethod::Auto, &mut rng, "w").unwrap();
/// assert_eq!(got, vec![(1, 1), (2, 0), (2, 1)]); // never row 0
/// ```
///
/// # Errors
/// As [`sample_empty_positions`] (the empty positions counted in rows `first_row..`).
pub fn sample_empty_positions_from<T: Scalar, R: Rng + ?Sized>(
    matrix: &SparseMatrix<T>,
    first_row: usize,
    freed: &[usize],
    k: usize,
    method: SamplingMethod,
    rng: &mut R,
    name: &str,
) -> Result<Vec<(usize, usize)>, EvolveError> {
    let nnz = matrix.nnz();
    if freed.windows(2).any(|w| w[0] >= w[1]) || freed.last().is_some_and(|&p| p >= nnz) {
        return Err(EvolveError::InvalidParameter {
            what: "freed positions",
            value: freed.len() as f64,
            expected: "sorted, unique value positions below nnz",
        });
    }
    let (rows, cols) = matrix.shape();
    let first_row = first_row.min(rows);
    // Stored entries and freed positions of the frozen rows count for nothing.
    let frozen_nnz = matrix.indptr()[first_row];
    let frozen_freed = freed.partition_point(|&p| p < frozen_nnz);
    let capacity = (rows - first_row) as u64 * cols as u64;
    let occupied = ((nnz - frozen_nnz) - (freed.len() - frozen_freed)) as u64;
    let empty = capacity - occupied;
    if k as u64 > empty {
        return Err(EvolveError::NotEnoughEmpty {
            matrix: name.to_string(),
            needed: k as u64,
            available: empty,
        });
    }
    if k == 0 {
        return Ok(Vec::new());
    }
    let method = match method {
        SamplingMethod::Auto if occupied * 2 <= capacity && k as u64 * 2 <= empty => {
            SamplingMethod::Rejection
        }
        SamplingMethod::Auto => SamplingMethod::Enumerate,
        m => m,
    };
    let out = if method == SamplingMethod::Rejection {
        rejection(matrix, first_row, freed, k, rng)
    } else {
        enumerate(matrix, first_row, &freed[frozen_freed..], k, empty, rng)
    };
    Ok(out)
}

fn rejection<T: Scalar, R: Rng + ?Sized>(
    matrix: &SparseMatrix<T>,
    first_row: usize,
    freed: &[usize],
    k: usize,
    rng: &mut R,
) -> Vec<(usize, usize)> {
    let cols = matrix.cols() as u64;
    let capacity = matrix.rows() as u64 * cols;
    let start = first_row as u64 * cols;
    let mut chosen: HashSet<u64> = HashSet::with_capacity(k);
    let mut out = Vec::with_capacity(k);
    while out.len() < k {
        let flat = rng.random_range(start..capacity);
        let (r, c) = ((flat / cols) as usize, (flat % cols) as usize);
        if let Some(p) = matrix.position(r, c)
            && freed.binary_search(&p).is_err()
        {
            continue;
        }
        if chosen.insert(flat) {
            out.push((r, c));
        }
    }
    out.sort_unstable();
    out
}

fn enumerate<T: Scalar, R: Rng + ?Sized>(
    matrix: &SparseMatrix<T>,
    first_row: usize,
    freed: &[usize],
    k: usize,
    empty: u64,
    rng: &mut R,
) -> Vec<(usize, usize)> {
    let (rows, cols) = matrix.shape();
    let indices = matrix.indices();
    let mut rng = rng;
    let ranks = sample_sorted_distinct(empty, k as u64, &mut rng);
    let mut out = Vec::with_capacity(k);
    let mut occ: Vec<usize> = Vec::new();
    let (mut next_rank, mut base, mut next_freed) = (0usize, 0u64, 0usize);
    for r in first_row..rows {
        if next_rank == k {
            break;
        }
        let range = matrix.row_range(r);
        let first_freed = next_freed;
        while next_freed < freed.len() && freed[next_freed] < range.end {
            next_freed += 1;
        }
        let row_freed = &freed[first_freed..next_freed];
        let row_empty = (cols - (range.len() - row_freed.len())) as u64;
        let end = base + row_empty;
        if ranks[next_rank] < end {
            // Occupied columns of this row, ascending: stored entries that were not freed.
            occ.clear();
            let mut f = 0;
            for p in range {
                if f < row_freed.len() && row_freed[f] == p {
                    f += 1;
                } else {
                    occ.push(indices[p] as usize);
                }
            }
            // The t-th empty column is t + j, where j counts occupied columns o_j with
            // o_j - j <= t (o_j - j empty columns precede o_j).
            let mut j = 0;
            while next_rank < k && ranks[next_rank] < end {
                let t = (ranks[next_rank] - base) as usize;
                while j < occ.len() && occ[j] - j <= t {
                    j += 1;
                }
                out.push((r, t + j));
                next_rank += 1;
            }
        }
        base = end;
    }
    out
}
