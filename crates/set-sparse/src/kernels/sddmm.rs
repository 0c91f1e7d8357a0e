//! SDDMM: the weight gradient `dW = dY X^T` sampled at the stored entries only.
//!
//! `grad[k] += dot(dY[i, :], X[j, :])` for each stored `(i, j)` at position `k`. Each dot product
//! uses fixed lanes and a fixed-order tree reduction; rows are split across rayon workers by
//! disjoint slices of `grad` (equal work, [`super::rows::balanced_bounds`]), so results are
//! bit-identical for any thread count.

use super::check;
use super::rows::{COL_TILE, PARALLEL_MIN_WORK, Rows, parallel_bounds};
use crate::Scalar;
use crate::error::SparseError;
use crate::matrix::SparseMatrix;
use crate::simd::{dispatch, madd};
use ndarray::{ArrayView2, s};
use rayon::prelude::*;
use std::ops::Range;

const LANES: usize = 32;

/// Dot product with `LANES` independent accumulators, reduced in a fixed tree order.
#[inline(always)]
pub(crate) fn dot<T: Scalar, const FMA: bool>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let mut acc = [T::zero(); LANES];
    let full = n / LANES * LANES;
    let mut s = 0;
    while s < full {
        let av: &[T; LANES] = a[s..s + LANES].try_into().expect("LANES elements");
        let bv: &[T; LANES] = b[s..s + LANES].try_into().expect("LANES elements");
        for l in 0..LANES {
            acc[l] = madd::<T, FMA>(acc[l], av[l], bv[l]);
        }
        s += LANES;
    }
    for l in 0..n - full {
        acc[l] = madd::<T, FMA>(acc[l], a[full + l], b[full + l]);
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for l in 0..width {
            acc[l] += acc[l + width];
        }
    }
    acc[0]
}

#[inline(always)]
fn sddmm_rows<T: Scalar, const FMA: bool>(
    w: &SparseMatrix<T>,
    rows: std::ops::Range<usize>,
    dy: &Rows<'_, T>,
    x: &Rows<'_, T>,
    grad: &mut [T],
) {
    let indptr = w.indptr();
    let indices = w.indices();
    let base = indptr[rows.start];
    for i in rows {
        let dyr = dy.row(i);
        for k in indptr[i]..indptr[i + 1] {
            grad[k - base] += dot::<T, FMA>(dyr, x.row(indices[k] as usize));
        }
    }
}

dispatch!(fn sddmm_rows_generic<T>(w: &SparseMatrix<T>, rows: std::ops::Range<usize>, dy: &Rows<'_, T>, x: &Rows<'_, T>, grad: &mut [T]) => sddmm_rows);

pub(crate) fn sddmm_rows_dispatch<T: Scalar>(
    w: &SparseMatrix<T>,
    rows: std::ops::Range<usize>,
    dy: &Rows<'_, T>,
    x: &Rows<'_, T>,
    grad: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::applies::<T>() {
        // SAFETY: `applies` checked that T is f32 and the CPU has AVX-512F.
        return unsafe { super::avx512::sddmm_rows(w, rows, dy, x, grad) };
    }
    sddmm_rows_generic(w, rows, dy, x, grad)
}

/// Splits `grad` (aligned with `w`'s values) into the entry slices of row ranges `bounds`.
pub(crate) fn split_grad<'g, T>(
    w: &SparseMatrix<impl Scalar>,
    bounds: &[usize],
    grad: &'g mut [T],
) -> Vec<(Range<usize>, &'g mut [T])> {
    let indptr = w.indptr();
    let mut parts = Vec::with_capacity(bounds.len());
    let mut rest = grad;
    for r in bounds.windows(2) {
        let (head, tail) = rest.split_at_mut(indptr[r[1]] - indptr[r[0]]);
        parts.push((r[0]..r[1], head));
        rest = tail;
    }
    parts
}

/// Runs `f` with `x`, or with a 64-byte aligned copy of it when the kernels gain from that
/// (`uses` random row reads of `x` follow).
#[inline]
pub(crate) fn with_aligned_x<T: Scalar, R>(
    x: Rows<'_, T>,
    uses: usize,
    parallel: bool,
    f: impl FnOnce(&Rows<'_, T>) -> R,
) -> R {
    #[cfg(target_arch = "x86_64")]
    if super::avx512::applies::<T>() {
        // SAFETY: `applies` checked that T is f32 and the CPU has AVX-512F.
        return unsafe { super::avx512::with_aligned(x, uses, parallel, f) };
    }
    let _ = (uses, parallel);
    f(&x)
}

/// `grad += sddmm(dy, x)` over all rows, split across rayon workers when `parallel` and the
/// product is large enough (shapes checked by the caller).
fn sddmm_driver<T: Scalar>(
    w: &SparseMatrix<T>,
    dy: Rows<'_, T>,
    x: Rows<'_, T>,
    grad: &mut [T],
    parallel: bool,
) {
    let parallel =
        parallel && w.nnz() * dy.ncols() >= PARALLEL_MIN_WORK && crate::workers::workers() > 1;
    with_aligned_x(x, w.nnz(), parallel, |x| {
        if !parallel {
            sddmm_rows_dispatch(w, 0..w.rows(), &dy, x, grad);
            return;
        }
        split_grad(w, &parallel_bounds(w.indptr()), grad)
            .into_par_iter()
            .for_each(|(rows, g)| sddmm_rows_dispatch(w, rows, &dy, x, g));
    });
}

impl<T: Scalar> SparseMatrix<T> {
    /// The validation of SDDMM operands (the only one): `dy` is `[rows, batch]`, `x` is
    /// `[cols, batch]`, both with contiguous rows, and `grad` has `nnz` elements.
    fn check_sddmm(
        &self,
        op: &'static str,
        dy: &ArrayView2<'_, T>,
        x: &ArrayView2<'_, T>,
        grad: &[T],
    ) -> Result<(), SparseError> {
        check::shape(self, op, "dy", &[self.rows(), dy.ncols()], dy.shape())?;
        check::contiguous(op, "dy", dy.shape(), dy.strides())?;
        check::shape(self, op, "x", &[self.cols(), dy.ncols()], x.shape())?;
        check::contiguous(op, "x", x.shape(), x.strides())?;
        check::nnz_len(self, op, "grad", grad.len())
    }

    /// Accumulates the weight gradient at the stored entries:
    /// `grad[k] += sum_b dy[i, b] * x[j, b]` for every stored `(i, j)` at position `k`.
    ///
    /// Shapes (`[features, batch]`): `dy` is `[rows, batch]`, `x` is `[cols, batch]`, both with
    /// contiguous rows; `grad` has `nnz` elements aligned with [`SparseMatrix::values`]. Pass
    /// all time steps at once as one wide batch. [`SparseMatrix::try_sddmm_acc`] is the checked
    /// form.
    ///
    /// ```
    /// use ndarray::array;
    /// use set_sparse::SparseMatrix;
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 0.0], [0.0, 1.0]].view()).unwrap();
    /// let dy = array![[1.0f32, 2.0], [3.0, 4.0]];
    /// let x = array![[5.0f32, 6.0], [7.0, 8.0]];
    /// let mut g = vec![0.0; 2];
    /// w.sddmm_acc(dy.view(), x.view(), &mut g);
    /// assert_eq!(g, vec![1.0 * 5.0 + 2.0 * 6.0, 3.0 * 7.0 + 4.0 * 8.0]);
    /// ```
    ///
    /// # Panics
    /// If the shapes or the gradient length do not match or rows are not contiguous (caller
    /// bugs), with the message of the error [`SparseMatrix::try_sddmm_acc`] returns.
    #[track_caller]
    pub fn sddmm_acc(&self, dy: ArrayView2<'_, T>, x: ArrayView2<'_, T>, grad: &mut [T]) {
        check::or_panic(self.try_sddmm_acc(dy, x, grad))
    }

    /// Checked [`SparseMatrix::sddmm_acc`]: `grad[k] += sum_b dy[i, b] * x[j, b]`, or an error
    /// (and `grad` untouched). `dy` is `[rows, batch]`, `x` is `[cols, batch]`, `grad` has
    /// `nnz` elements. Same bits as `sddmm_acc`.
    ///
    /// ```
    /// use ndarray::array;
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[0.0f32, 2.0]].view()).unwrap(); // 1 x 2, nnz 1
    /// let (dy, x) = (array![[1.0f32, 2.0]], array![[0.0f32, 0.0], [3.0, 4.0]]);
    /// let mut g = vec![0.0; 1];
    /// w.try_sddmm_acc(dy.view(), x.view(), &mut g).unwrap();
    /// assert_eq!(g, vec![1.0 * 3.0 + 2.0 * 4.0]);
    /// assert_eq!(
    ///     w.try_sddmm_acc(dy.view(), x.view(), &mut [0.0; 2]),
    ///     Err(SparseError::LengthMismatch { op: "sddmm_acc", operand: "grad", expected: 1, got: 2 })
    /// );
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`], [`SparseError::NotContiguous`] or
    /// [`SparseError::LengthMismatch`], naming the operand.
    pub fn try_sddmm_acc(
        &self,
        dy: ArrayView2<'_, T>,
        x: ArrayView2<'_, T>,
        grad: &mut [T],
    ) -> Result<(), SparseError> {
        self.check_sddmm("sddmm_acc", &dy, &x, grad)?;
        self.sddmm_tiles(0..self.rows(), dy, x, grad, true);
        Ok(())
    }

    /// `grad += sddmm` for rows `rows` (`grad` holds exactly their entries), in column tiles of
    /// at most [`COL_TILE`] added in order; split across workers when `parallel`. Shapes of `dy`
    /// and `x` must have been checked against `self`.
    pub(crate) fn sddmm_tiles(
        &self,
        rows: Range<usize>,
        dy: ArrayView2<'_, T>,
        x: ArrayView2<'_, T>,
        grad: &mut [T],
        parallel: bool,
    ) {
        for t0 in (0..dy.ncols().max(1)).step_by(COL_TILE) {
            let t1 = (t0 + COL_TILE).min(dy.ncols());
            let (dyt, xt) = (dy.slice(s![.., t0..t1]), x.slice(s![.., t0..t1]));
            let dyr = Rows::new(&dyt, "sddmm dy");
            let xr = Rows::new(&xt, "sddmm x");
            if rows == (0..self.rows()) {
                sddmm_driver(self, dyr, xr, grad, parallel);
            } else {
                let uses = self.nnz_in_rows(rows.clone());
                with_aligned_x(xr, uses, false, |x| {
                    sddmm_rows_dispatch(self, rows.clone(), &dyr, x, grad)
                });
            }
        }
    }
}
