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

use super::check;
use super::rows::{COL_TILE, PARALLEL_MIN_WORK, Rows, check_rows_mut, for_row_blocks, row_mut};
use crate::Scalar;
use crate::error::SparseError;
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
    pub(super) fn spmm_impl(
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
                    // rows (checked by `check_spmm`); `part` is rows `rows` of `y`, contiguous
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
    pub(super) fn spmm_t_impl(
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
                    // rows (checked by `check_spmm_t`); `part` is rows `cols` of `dx`,
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
    /// The validation of SpMM operands (the only one: [`SparseMatrix::spmm`] and
    /// [`SparseMatrix::try_spmm`] and their `_acc` forms all run it): `x` is `[cols, batch]`,
    /// `y` is `[rows, batch]`, both with contiguous rows.
    fn check_spmm(
        &self,
        op: &'static str,
        x: &ArrayView2<'_, T>,
        y: &ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        check::shape(self, op, "x", &[self.cols(), x.ncols()], x.shape())?;
        check::contiguous(op, "x", x.shape(), x.strides())?;
        check::shape(self, op, "y", &[self.rows(), x.ncols()], y.shape())?;
        check::contiguous(op, "y", y.shape(), y.strides())
    }

    /// The validation of transposed-SpMM operands (the only one): `dy` is `[rows, batch]`, `dx`
    /// is `[cols, batch]`, both with contiguous rows.
    fn check_spmm_t(
        &self,
        op: &'static str,
        dy: &ArrayView2<'_, T>,
        dx: &ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        check::shape(self, op, "dy", &[self.rows(), dy.ncols()], dy.shape())?;
        check::contiguous(op, "dy", dy.shape(), dy.strides())?;
        check::shape(self, op, "dx", &[self.cols(), dy.ncols()], dx.shape())?;
        check::contiguous(op, "dx", dx.shape(), dx.strides())
    }

    /// `y = W x`.
    ///
    /// Shapes (dense operands are feature-major, `[features, batch]`): `W` is `[rows, cols]`,
    /// `x` is `[cols, batch]`, `y` is `[rows, batch]`. Both need contiguous rows (inner stride 1;
    /// any row stride, e.g. a column slice of a wider array). [`SparseMatrix::try_spmm`] is the
    /// checked form.
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
    /// If the shapes do not match or rows are not contiguous (caller bugs), with the message of
    /// the error [`SparseMatrix::try_spmm`] returns.
    #[track_caller]
    pub fn spmm(&self, x: ArrayView2<'_, T>, y: ArrayViewMut2<'_, T>) {
        check::or_panic(self.try_spmm(x, y))
    }

    /// Checked [`SparseMatrix::spmm`]: `y = W x`, or an error (and `y` untouched) if an operand
    /// is mis-shaped or its rows are not contiguous. `x` is `[cols, batch]`, `y` is
    /// `[rows, batch]`. Same bits as `spmm`.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 0.0, 2.0]].view()).unwrap(); // 1 x 3
    /// let x = Array2::<f32>::ones((3, 4)); // [features = 3, batch = 4]
    /// let mut y = Array2::zeros((1, 4));
    /// w.try_spmm(x.view(), y.view_mut()).unwrap();
    /// assert_eq!(y, array![[3.0, 3.0, 3.0, 3.0]]);
    /// // `[batch, features]` by mistake: an error, not a panic.
    /// let err = w.try_spmm(x.t(), y.view_mut()).unwrap_err();
    /// assert!(matches!(err, SparseError::ShapeMismatch { operand: "x", .. }));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] or [`SparseError::NotContiguous`], naming the operand.
    pub fn try_spmm(
        &self,
        x: ArrayView2<'_, T>,
        y: ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        self.check_spmm("spmm", &x, &y)?;
        self.spmm_impl(x, y, false, true);
        Ok(())
    }

    /// `y += W x`. Shapes as [`SparseMatrix::spmm`]: `x` is `[cols, batch]`, `y` is
    /// `[rows, batch]`, both with contiguous rows. [`SparseMatrix::try_spmm_acc`] is the checked
    /// form.
    ///
    /// # Panics
    /// As [`SparseMatrix::spmm`].
    #[track_caller]
    pub fn spmm_acc(&self, x: ArrayView2<'_, T>, y: ArrayViewMut2<'_, T>) {
        check::or_panic(self.try_spmm_acc(x, y))
    }

    /// Checked [`SparseMatrix::spmm_acc`]: `y += W x`, or an error (and `y` untouched). `x` is
    /// `[cols, batch]`, `y` is `[rows, batch]`. Same bits as `spmm_acc`.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[2.0f32, 0.0]].view()).unwrap(); // 1 x 2
    /// let x = Array2::<f32>::ones((2, 3));
    /// let mut y = Array2::ones((1, 3));
    /// w.try_spmm_acc(x.view(), y.view_mut()).unwrap();
    /// assert_eq!(y, array![[3.0, 3.0, 3.0]]);
    /// let mut y_short = Array2::zeros((1, 2)); // batch 2, but x has batch 3
    /// assert!(matches!(
    ///     w.try_spmm_acc(x.view(), y_short.view_mut()),
    ///     Err(SparseError::ShapeMismatch { operand: "y", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// As [`SparseMatrix::try_spmm`].
    pub fn try_spmm_acc(
        &self,
        x: ArrayView2<'_, T>,
        y: ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        self.check_spmm("spmm_acc", &x, &y)?;
        self.spmm_impl(x, y, true, true);
        Ok(())
    }

    /// `dx = W^T dy` without building a transposed copy (walks the stored transposed index).
    ///
    /// Shapes (`[features, batch]`): `dy` is `[rows, batch]`, `dx` is `[cols, batch]`, both with
    /// contiguous rows. [`SparseMatrix::try_spmm_t`] is the checked form.
    ///
    /// # Panics
    /// If the shapes do not match or rows are not contiguous (caller bugs), with the message of
    /// the error [`SparseMatrix::try_spmm_t`] returns.
    #[track_caller]
    pub fn spmm_t(&self, dy: ArrayView2<'_, T>, dx: ArrayViewMut2<'_, T>) {
        check::or_panic(self.try_spmm_t(dy, dx))
    }

    /// Checked [`SparseMatrix::spmm_t`]: `dx = W^T dy`, or an error (and `dx` untouched). `dy`
    /// is `[rows, batch]`, `dx` is `[cols, batch]`. Same bits as `spmm_t`.
    ///
    /// ```
    /// use ndarray::{array, s, Array2};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 2.0]].view()).unwrap(); // 1 x 2
    /// let dy = array![[1.0f32, 10.0]]; // [rows = 1, batch = 2]
    /// let mut dx = Array2::zeros((2, 2));
    /// w.try_spmm_t(dy.view(), dx.view_mut()).unwrap();
    /// assert_eq!(dx, array![[1.0, 10.0], [2.0, 20.0]]);
    /// // Every other column: rows are not contiguous.
    /// let mut wide = Array2::zeros((2, 4));
    /// assert!(matches!(
    ///     w.try_spmm_t(dy.view(), wide.slice_mut(s![.., ..;2])),
    ///     Err(SparseError::NotContiguous { operand: "dx", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] or [`SparseError::NotContiguous`], naming the operand.
    pub fn try_spmm_t(
        &self,
        dy: ArrayView2<'_, T>,
        dx: ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        self.check_spmm_t("spmm_t", &dy, &dx)?;
        self.spmm_t_impl(dy, dx, false, true, None);
        Ok(())
    }

    /// `dx += W^T dy`. Shapes as [`SparseMatrix::spmm_t`]: `dy` is `[rows, batch]`, `dx` is
    /// `[cols, batch]`. [`SparseMatrix::try_spmm_t_acc`] is the checked form.
    ///
    /// # Panics
    /// As [`SparseMatrix::spmm_t`].
    #[track_caller]
    pub fn spmm_t_acc(&self, dy: ArrayView2<'_, T>, dx: ArrayViewMut2<'_, T>) {
        check::or_panic(self.try_spmm_t_acc(dy, dx))
    }

    /// Checked [`SparseMatrix::spmm_t_acc`]: `dx += W^T dy`, or an error (and `dx` untouched).
    /// `dy` is `[rows, batch]`, `dx` is `[cols, batch]`. Same bits as `spmm_t_acc`.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use set_sparse::SparseMatrix;
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 2.0]].view()).unwrap(); // 1 x 2
    /// let mut dx = Array2::ones((2, 1));
    /// w.try_spmm_t_acc(array![[3.0f32]].view(), dx.view_mut()).unwrap();
    /// assert_eq!(dx, array![[4.0], [7.0]]);
    /// // dy must have W's 1 row, not 2.
    /// assert!(w.try_spmm_t_acc(Array2::zeros((2, 1)).view(), dx.view_mut()).is_err());
    /// ```
    ///
    /// # Errors
    /// As [`SparseMatrix::try_spmm_t`].
    pub fn try_spmm_t_acc(
        &self,
        dy: ArrayView2<'_, T>,
        dx: ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        self.check_spmm_t("spmm_t_acc", &dy, &dx)?;
        self.spmm_t_impl(dy, dx, true, true, None);
        Ok(())
    }
}
