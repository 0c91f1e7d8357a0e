//! Random sparse initialisation: Erdős–Rényi (`epsilon`) or uniform density, with exact nnz.

use crate::error::SparseError;
use crate::matrix::SparseMatrix;
use crate::scalar::Scalar;
use rand::{Rng, RngExt};

/// Density of an `n_out x n_in` matrix under SET's Erdős–Rényi rule:
/// `epsilon * (n_in + n_out) / (n_in * n_out)`, capped at 1.
///
/// ```
/// // A 1024 x 256 stacked LSTM input matrix with epsilon 20.
/// let d = set_sparse::er_density(20.0, 1024, 256).unwrap();
/// assert!((d - 20.0 * 1280.0 / (1024.0 * 256.0)).abs() < 1e-12);
/// assert_eq!(set_sparse::er_density(1e9, 4, 4).unwrap(), 1.0);
/// ```
///
/// # Errors
/// If `epsilon` is not finite and positive.
pub fn er_density(epsilon: f64, n_out: usize, n_in: usize) -> Result<f64, SparseError> {
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(SparseError::InvalidParameter {
            what: "epsilon",
            value: epsilon,
            expected: "a finite number > 0",
        });
    }
    if n_in == 0 || n_out == 0 {
        return Ok(0.0);
    }
    Ok((epsilon * (n_in + n_out) as f64 / (n_in as f64 * n_out as f64)).min(1.0))
}

/// The exact non-zero count for a density: `round(density * rows * cols)`.
///
/// # Errors
/// If `density` is outside `[0, 1]` or not finite.
pub fn nnz_for_density(density: f64, rows: usize, cols: usize) -> Result<usize, SparseError> {
    if !(density.is_finite() && (0.0..=1.0).contains(&density)) {
        return Err(SparseError::InvalidParameter {
            what: "density",
            value: density,
            expected: "a number in [0, 1]",
        });
    }
    let cap = rows as f64 * cols as f64;
    Ok(((density * cap).round() as usize).min(rows * cols))
}

/// Draws `k` distinct integers from `0..total`, returned sorted ascending.
///
/// Works in `O(k log k)` time and `O(k)` memory when `k <= total / 2` (draw, sort, dedup, top
/// up), and by drawing the complement otherwise, so neither dense nor huge sparse shapes
/// allocate `total`-sized buffers needlessly. Deterministic for a given RNG state.
///
/// # Panics
/// If `k > total`.
pub fn sample_sorted_distinct(total: u64, k: u64, rng: &mut impl Rng) -> Vec<u64> {
    assert!(k <= total, "cannot draw {k} distinct values from {total}");
    if k == 0 {
        return Vec::new();
    }
    if k > total / 2 {
        let excluded = sample_sorted_distinct(total, total - k, rng);
        let mut out = Vec::with_capacity(k as usize);
        let mut ex = excluded.iter().peekable();
        for v in 0..total {
            if ex.peek() == Some(&&v) {
                ex.next();
            } else {
                out.push(v);
            }
        }
        return out;
    }
    let mut out: Vec<u64> = Vec::with_capacity(k as usize);
    while (out.len() as u64) < k {
        let missing = k - out.len() as u64;
        for _ in 0..missing {
            out.push(rng.random_range(0..total));
        }
        out.sort_unstable();
        out.dedup();
    }
    out
}

impl<T: Scalar> SparseMatrix<T> {
    /// A random matrix with exactly `nnz` entries at uniformly random distinct positions, values
    /// drawn by `init` in CSR order.
    ///
    /// ```
    /// use rand::SeedableRng;
    /// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    /// let w = set_sparse::SparseMatrix::<f32>::random(64, 32, 100, &mut rng, |_| 0.5).unwrap();
    /// assert_eq!(w.nnz(), 100);
    /// ```
    ///
    /// # Errors
    /// If `nnz > rows * cols` or a size exceeds 32-bit indices.
    pub fn random<R: Rng>(
        rows: usize,
        cols: usize,
        nnz: usize,
        rng: &mut R,
        mut init: impl FnMut(&mut R) -> T,
    ) -> Result<Self, SparseError> {
        let capacity = rows as u64 * cols as u64;
        if nnz as u64 > capacity {
            return Err(SparseError::NnzExceedsCapacity {
                nnz: nnz as u64,
                rows,
                cols,
                capacity,
            });
        }
        if nnz as u64 > crate::matrix::MAX_INDEX {
            return Err(SparseError::TooLarge {
                what: "nnz",
                value: nnz as u64,
                max: crate::matrix::MAX_INDEX,
            });
        }
        let positions = sample_sorted_distinct(capacity, nnz as u64, rng);
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(nnz);
        let mut values = Vec::with_capacity(nnz);
        for p in positions {
            let r = (p / cols as u64) as usize;
            indptr[r + 1] += 1;
            indices.push((p % cols as u64) as u32);
            values.push(init(rng));
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        crate::matrix::validate_csr(rows, cols, &indptr, &indices, values.len())?;
        Ok(Self::from_valid_parts(rows, cols, indptr, indices, values))
    }

    /// A random matrix at `density` (exact nnz = `round(density * rows * cols)`).
    ///
    /// # Errors
    /// If `density` is outside `[0, 1]`, or as [`SparseMatrix::random`].
    pub fn random_density<R: Rng>(
        rows: usize,
        cols: usize,
        density: f64,
        rng: &mut R,
        init: impl FnMut(&mut R) -> T,
    ) -> Result<Self, SparseError> {
        let nnz = nnz_for_density(density, rows, cols)?;
        Self::random(rows, cols, nnz, rng, init)
    }

    /// A random matrix with SET's Erdős–Rényi density for `epsilon` (see [`er_density`]);
    /// `rows` is the output width, `cols` the input width.
    ///
    /// # Errors
    /// If `epsilon` is invalid, or as [`SparseMatrix::random`].
    pub fn random_er<R: Rng>(
        rows: usize,
        cols: usize,
        epsilon: f64,
        rng: &mut R,
        init: impl FnMut(&mut R) -> T,
    ) -> Result<Self, SparseError> {
        let density = er_density(epsilon, rows, cols)?;
        Self::random_density(rows, cols, density, rng, init)
    }
}
