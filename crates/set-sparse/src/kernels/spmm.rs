//! SpMM `Y = W X` and transposed SpMM `dX = W^T dY`, batch-contiguous layout.
//!
//! Dense operands are feature-major: row `j` of `X` holds feature `j` for every batch column,
//! contiguously. Each output row is then a sum of scaled input rows, an axpy over the batch that
//! vectorises at full width. Output rows are independent, so rows are split across rayon
//! workers without any reduction: the bits do not depend on the thread count. The split is by
//! equal work (entries + rows, [`super::rows::balanced_bounds`]), a few ranges per thread.
//!
//! On AVX-512 the `f32` products run the kernels of `avx512.rs`, which first copy a randomly
//! read operand whose rows are not 64-byte aligned into aligned scratch (in parallel).

use super::rows::{COL_TILE, PARALLEL_MIN_WORK, Rows, check_rows_mut, for_row_blocks, row_mut};
use crate::Scalar;
use crate::matrix::SparseMatrix;
use crate::simd::{dispatch, madd};
use ndarray::{ArrayView2, ArrayViewMut2, s};

/// Batch columns processed per register block.
const LANES: usize = 64;

/// `y (+)= sum_k v_k * x[c_k, :]` for one output row, over `entries = (c_k, v_k)`.
#[inline(always)]
fn axpy_row<T: Scalar, const FMA: bool, I>(
    entries: I,
    x: &Rows<'_, T>,
    y: &mut [T],
    accumulate: bool,
) where
    I: Iterator<Item = (u32, T)> + Clone,
{
    let b = y.len();
    let mut start = 0;
    while start + LANES <= b {
        let mut acc = [T::zero(); LANES];
        if accumulate {
            acc.copy_from_slice(&y[start..start + LANES]);
        }
        for (c, v) in entries.clone() {
            let xr: &[T; LANES] = x.row(c as usize)[start..start + LANES]
                .try_into()
                .expect("slice has LANES elements");
            for l in 0..LANES {
                acc[l] = madd::<T, FMA>(acc[l], v, xr[l]);
            }
        }
        y[start..start + LANES].copy_from_slice(&acc);
        start += LANES;
    }
    let rem = b - start;
    if rem > 0 {
        let mut acc = [T::zero(); LANES];
        if accumulate {
            acc[..rem].copy_from_slice(&y[start..]);
        }
        for (c, v) in entries {
            let xr = &x.row(c as usize)[start..];
            for l in 0..rem {
                acc[l] = madd::<T, FMA>(acc[l], v, xr[l]);
            }
        }
        y[start..].copy_from_slice(&acc[..rem]);
    }
}

/// Rows `first..first + y.nrows()` of `y (+)= W x`, plain loops (no closures) so the whole body
/// is compiled with the dispatched target features.
#[inline(always)]
fn spmm_block<T: Scalar, const FMA: bool>(
    w: &SparseMatrix<T>,
    x: Rows<'_, T>,
    y: &mut ArrayViewMut2<'_, T>,
    first: usize,
    accumulate: bool,
) {
    let (indptr, indices, values) = (w.indptr(), w.indices(), w.values());
    for local in 0..y.nrows() {
        let i = first + local;
        let r = indptr[i]..indptr[i + 1];
        let entries = indices[r.clone()]
            .iter()
            .copied()
            .zip(values[r].iter().copied());
        axpy_row::<T, FMA, _>(entries, &x, row_mut(y, local), accumulate);
    }
}

/// Rows `first..first + dx.nrows()` of `dx (+)= W^T dy`, walking the transposed index.
#[inline(always)]
fn spmm_t_block<T: Scalar, const FMA: bool>(
    w: &SparseMatrix<T>,
    dy: Rows<'_, T>,
    dx: &mut ArrayViewMut2<'_, T>,
    first: usize,
    accumulate: bool,
) {
    let t = &w.t_index;
    let values = w.values();
    for local in 0..dx.nrows() {
        let j = first + local;
        let r = t.col_ptr[j]..t.col_ptr[j + 1];
        let entries = t.rows[r.clone()]
            .iter()
            .zip(&t.pos[r])
            .map(|(&i, &p)| (i, values[p as usize]));
        axpy_row::<T, FMA, _>(entries, &dy, row_mut(dx, local), accumulate);
    }
}

dispatch!(fn spmm_block_dispatch<T>(w: &SparseMatrix<T>, x: Rows<'_, T>, y: &mut ArrayViewMut2<'_, T>, first: usize, accumulate: bool) => spmm_block);
dispatch!(fn spmm_t_block_dispatch<T>(w: &SparseMatrix<T>, dy: Rows<'_, T>, dx: &mut ArrayViewMut2<'_, T>, first: usize, accumulate: bool) => spmm_t_block);

impl<T: Scalar> SparseMatrix<T> {
    /// `y (+)= W x` (shapes checked by the caller) in column tiles of at most [`COL_TILE`]; rows
    /// split across rayon workers when `parallel` and the product is large enough.
    #[track_caller]
    fn spmm_impl(
        &self,
        x: ArrayView2<'_, T>,
        mut y: ArrayViewMut2<'_, T>,
        accumulate: bool,
        parallel: bool,
    ) {
        check_rows_mut(&y, "spmm output");
        if x.ncols() > COL_TILE {
            // Keep the touched part of `x` in cache: one column tile at a time.
            for t0 in (0..x.ncols()).step_by(COL_TILE) {
                let t1 = (t0 + COL_TILE).min(x.ncols());
                self.spmm_impl(
                    x.slice(s![.., t0..t1]),
                    y.slice_mut(s![.., t0..t1]),
                    accumulate,
                    parallel,
                );
            }
            return;
        }
        let xr = Rows::new(&x, "spmm input");
        let parallel = parallel && self.nnz() * xr.ncols() >= PARALLEL_MIN_WORK;
        #[cfg(target_arch = "x86_64")]
        if super::avx512::applies::<T>() {
            let run = |xa: &Rows<'_, T>| {
                for_row_blocks(&mut y, self.indptr(), parallel, |rows, part| {
                    // SAFETY: T is f32 and the CPU has AVX-512F (`applies`); `xa` has `cols`
                    // rows (checked by `spmm_into`); `part` is rows `rows` of `y`, contiguous
                    // (checked above) and owned by this task.
                    unsafe {
                        super::avx512::spmm_rows(
                            self,
                            xa,
                            rows,
                            part.as_mut_ptr(),
                            part.strides()[0],
                            accumulate,
                        )
                    }
                })
            };
            // SAFETY: `applies` checked that T is f32 and the CPU has AVX-512F.
            return unsafe { super::avx512::with_aligned(xr, self.nnz(), parallel, run) };
        }
        for_row_blocks(&mut y, self.indptr(), parallel, |rows, part| {
            spmm_block_dispatch(self, xr, part, rows.start, accumulate)
        });
    }

    /// `dx (+)= W^T dy` (shapes checked by the caller), tiled and split like `spmm_impl`.
    /// `values_t`: the values in transposed order, if the caller has them.
    #[track_caller]
    fn spmm_t_impl(
        &self,
        dy: ArrayView2<'_, T>,
        mut dx: ArrayViewMut2<'_, T>,
        accumulate: bool,
        parallel: bool,
        values_t: Option<&[T]>,
    ) {
        check_rows_mut(&dx, "spmm_t output");
        if dy.ncols() > COL_TILE {
            for t0 in (0..dy.ncols()).step_by(COL_TILE) {
                let t1 = (t0 + COL_TILE).min(dy.ncols());
                self.spmm_t_impl(
                    dy.slice(s![.., t0..t1]),
                    dx.slice_mut(s![.., t0..t1]),
                    accumulate,
                    parallel,
                    values_t,
                );
            }
            return;
        }
        let dyr = Rows::new(&dy, "spmm_t input");
        let parallel = parallel && self.nnz() * dyr.ncols() >= PARALLEL_MIN_WORK;
        let col_ptr = &self.t_index.col_ptr;
        #[cfg(target_arch = "x86_64")]
        if super::avx512::applies::<T>() {
            let run = |dya: &Rows<'_, T>| {
                for_row_blocks(&mut dx, col_ptr, parallel, |cols, part| {
                    // SAFETY: T is f32 and the CPU has AVX-512F (`applies`); `dya` has `rows`
                    // rows (checked by `spmm_t_into`); `part` is rows `cols` of `dx`,
                    // contiguous (checked above) and owned by this task.
                    unsafe {
                        super::avx512::spmm_t_rows(
                            self,
                            values_t,
                            dya,
                            cols,
                            part.as_mut_ptr(),
                            part.strides()[0],
                            accumulate,
                        )
                    }
                })
            };
            // SAFETY: `applies` checked that T is f32 and the CPU has AVX-512F.
            return unsafe { super::avx512::with_aligned(dyr, self.nnz(), parallel, run) };
        }
        for_row_blocks(&mut dx, col_ptr, parallel, |cols, part| {
            spmm_t_block_dispatch(self, dyr, part, cols.start, accumulate)
        });
    }
}

impl<T: Scalar> SparseMatrix<T> {
    /// `y = W x`. `x` is `[cols, batch]`, `y` is `[rows, batch]`; both need contiguous rows
    /// (any row stride, e.g. a column slice of a wider array).
    ///
    /// ```
    /// use ndarray::array;
    /// use set_sparse::SparseMatrix;
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 0.0], [0.0, 2.0]].view()).unwrap();
    /// let x = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
    /// let mut y = ndarray::Array2::zeros((2, 3));
    /// w.spmm(x.view(), y.view_mut());
    /// assert_eq!(y, array![[1.0, 2.0, 3.0], [8.0, 10.0, 12.0]]);
    /// ```
    ///
    /// # Panics
    /// If the shapes do not match or rows are not contiguous (caller bugs).
    #[track_caller]
    pub fn spmm(&self, x: ArrayView2<'_, T>, y: ArrayViewMut2<'_, T>) {
        self.spmm_into(x, y, false, true);
    }

    /// `y += W x`, shapes as [`SparseMatrix::spmm`].
    ///
    /// # Panics
    /// As [`SparseMatrix::spmm`].
    #[track_caller]
    pub fn spmm_acc(&self, x: ArrayView2<'_, T>, y: ArrayViewMut2<'_, T>) {
        self.spmm_into(x, y, true, true);
    }

    /// Checks the shapes, then `y (+)= W x`; rows split across rayon workers when `parallel`.
    #[track_caller]
    pub(crate) fn spmm_into(
        &self,
        x: ArrayView2<'_, T>,
        y: ArrayViewMut2<'_, T>,
        accumulate: bool,
        parallel: bool,
    ) {
        assert_eq!(
            x.nrows(),
            self.cols(),
            "spmm: x has {} rows, W has {} columns",
            x.nrows(),
            self.cols()
        );
        assert_eq!(
            y.nrows(),
            self.rows(),
            "spmm: y has {} rows, W has {} rows",
            y.nrows(),
            self.rows()
        );
        assert_eq!(
            x.ncols(),
            y.ncols(),
            "spmm: x has {} columns, y has {}",
            x.ncols(),
            y.ncols()
        );
        self.spmm_impl(x, y, accumulate, parallel);
    }

    /// `dx = W^T dy` without building a transposed copy (walks the stored transposed index).
    /// `dy` is `[rows, batch]`, `dx` is `[cols, batch]`.
    ///
    /// # Panics
    /// If the shapes do not match or rows are not contiguous (caller bugs).
    #[track_caller]
    pub fn spmm_t(&self, dy: ArrayView2<'_, T>, dx: ArrayViewMut2<'_, T>) {
        self.spmm_t_into(dy, dx, false, true, None);
    }

    /// `dx += W^T dy`, shapes as [`SparseMatrix::spmm_t`].
    ///
    /// # Panics
    /// As [`SparseMatrix::spmm_t`].
    #[track_caller]
    pub fn spmm_t_acc(&self, dy: ArrayView2<'_, T>, dx: ArrayViewMut2<'_, T>) {
        self.spmm_t_into(dy, dx, true, true, None);
    }

    /// Checks the shapes, then `dx (+)= W^T dy`; split across workers when `parallel`.
    /// `values_t`: the values in transposed order (`values[pos[k]]`), if the caller has them.
    #[track_caller]
    pub(crate) fn spmm_t_into(
        &self,
        dy: ArrayView2<'_, T>,
        dx: ArrayViewMut2<'_, T>,
        accumulate: bool,
        parallel: bool,
        values_t: Option<&[T]>,
    ) {
        assert_eq!(
            dy.nrows(),
            self.rows(),
            "spmm_t: dy has {} rows, W has {} rows",
            dy.nrows(),
            self.rows()
        );
        assert_eq!(
            dx.nrows(),
            self.cols(),
            "spmm_t: dx has {} rows, W has {} columns",
            dx.nrows(),
            self.cols()
        );
        assert_eq!(
            dy.ncols(),
            dx.ncols(),
            "spmm_t: dy has {} columns, dx has {}",
            dy.ncols(),
            dx.ncols()
        );
        self.spmm_t_impl(dy, dx, accumulate, parallel, values_t);
    }
}
