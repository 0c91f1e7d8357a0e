//! Batched products over time steps: `[steps, features, batch]` operands, one call for all steps.
//!
//! The LSTM keeps activations time-major so that each step's block is one contiguous
//! `[features, batch]` matrix (streamed, prefetch-friendly), and runs the input projection, the
//! input gradient and the weight gradients of all steps as one batched call each.
//!
//! Parallelism is one rayon fork-join per call, not one per step:
//! - SpMM and transposed SpMM hand out whole steps (each a serial 2-D product, its dense operand
//!   packed once by the worker) when there are at least [`MIN_STEPS_PER_THREAD`] steps per
//!   thread; with fewer steps each step is split by rows as in the 2-D call.
//! - SDDMM splits the rows (and so the gradient) across workers by equal work; each worker loops
//!   over the steps in order, so every `grad[k]` receives the steps' contributions in step order:
//!   the result is bit-identical to a loop of [`SparseMatrix::sddmm_acc`] calls, for any thread
//!   count.
//!
//! Every batched result is bit-identical to the corresponding loop of 2-D calls.

use super::check;
use super::rows::{PARALLEL_MIN_WORK, balanced_bounds};
use super::sddmm::split_grad;
use crate::Scalar;
use crate::error::SparseError;
use crate::matrix::SparseMatrix;
use ndarray::{ArrayView3, ArrayViewMut3, Axis};
use rayon::prelude::*;

/// Steps per thread from which steps, rather than rows, are handed out to workers.
const MIN_STEPS_PER_THREAD: usize = 2;

/// Row ranges per thread in batched SDDMM. Each range streams (and packs) every step's `x`, so
/// fewer is better: one range per thread measured fastest (2 and 4 lost 20-40 %).
const SDDMM_PARTS_PER_THREAD: usize = 1;

/// Whether to hand out whole steps to workers.
fn by_steps(steps: usize, work: usize) -> bool {
    let threads = crate::workers::workers();
    threads > 1 && steps >= MIN_STEPS_PER_THREAD * threads && work >= PARALLEL_MIN_WORK
}

impl<T: Scalar> SparseMatrix<T> {
    /// The validation of batched SpMM operands (the only one): `x` is `[steps, cols, batch]`,
    /// `y` is `[steps, rows, batch]`, both with contiguous rows.
    fn check_spmm_batched(
        &self,
        x: &ArrayView3<'_, T>,
        y: &ArrayViewMut3<'_, T>,
    ) -> Result<(), SparseError> {
        const OP: &str = "spmm_batched";
        let (steps, _, batch) = x.dim();
        check::shape(self, OP, "x", &[steps, self.cols(), batch], x.shape())?;
        check::contiguous(OP, "x", x.shape(), x.strides())?;
        check::shape(self, OP, "y", &[steps, self.rows(), batch], y.shape())?;
        check::contiguous(OP, "y", y.shape(), y.strides())
    }

    /// The validation of batched transposed-SpMM operands (the only one): `dy` is
    /// `[steps, rows, batch]`, `dx` is `[steps, cols, batch]`, both with contiguous rows.
    fn check_spmm_t_batched(
        &self,
        dy: &ArrayView3<'_, T>,
        dx: &ArrayViewMut3<'_, T>,
    ) -> Result<(), SparseError> {
        const OP: &str = "spmm_t_batched";
        let (steps, _, batch) = dy.dim();
        check::shape(self, OP, "dy", &[steps, self.rows(), batch], dy.shape())?;
        check::contiguous(OP, "dy", dy.shape(), dy.strides())?;
        check::shape(self, OP, "dx", &[steps, self.cols(), batch], dx.shape())?;
        check::contiguous(OP, "dx", dx.shape(), dx.strides())
    }

    /// The validation of batched SDDMM operands (the only one): `dy` is `[steps, rows, batch]`,
    /// `x` is `[steps, cols, batch]`, both with contiguous rows, and `grad` has `nnz` elements.
    fn check_sddmm_batched(
        &self,
        dy: &ArrayView3<'_, T>,
        x: &ArrayView3<'_, T>,
        grad: &[T],
    ) -> Result<(), SparseError> {
        const OP: &str = "sddmm_batched_acc";
        let (steps, _, batch) = dy.dim();
        check::shape(self, OP, "dy", &[steps, self.rows(), batch], dy.shape())?;
        check::contiguous(OP, "dy", dy.shape(), dy.strides())?;
        check::shape(self, OP, "x", &[steps, self.cols(), batch], x.shape())?;
        check::contiguous(OP, "x", x.shape(), x.strides())?;
        check::nnz_len(self, OP, "grad", grad.len())
    }

    /// `y[t] (+)= W x[t]` for every step `t`.
    ///
    /// Shapes (each step is `[features, batch]`): `x` is `[steps, cols, batch]`, `y` is
    /// `[steps, rows, batch]`; the rows of each step's block must be contiguous (inner stride 1).
    /// [`SparseMatrix::try_spmm_batched`] is the checked form.
    ///
    /// Bit-identical to calling [`SparseMatrix::spmm`] (or [`SparseMatrix::spmm_acc`]) per step.
    ///
    /// ```
    /// use ndarray::{array, Array3};
    /// let w = set_sparse::SparseMatrix::from_dense(array![[2.0f32, 0.0], [0.0, 3.0]].view()).unwrap();
    /// let x = Array3::<f32>::ones((4, 2, 5));
    /// let mut y = Array3::<f32>::zeros((4, 2, 5));
    /// w.spmm_batched(x.view(), y.view_mut(), false);
    /// assert!(y.index_axis(ndarray::Axis(1), 1).iter().all(|&v| v == 3.0));
    /// ```
    ///
    /// # Panics
    /// If the shapes do not match or rows are not contiguous (caller bugs), with the message of
    /// the error [`SparseMatrix::try_spmm_batched`] returns.
    #[track_caller]
    pub fn spmm_batched(&self, x: ArrayView3<'_, T>, y: ArrayViewMut3<'_, T>, accumulate: bool) {
        check::or_panic(self.try_spmm_batched(x, y, accumulate))
    }

    /// Checked [`SparseMatrix::spmm_batched`]: `y[t] (+)= W x[t]` for every step, or an error
    /// (and `y` untouched). `x` is `[steps, cols, batch]`, `y` is `[steps, rows, batch]`. Same
    /// bits as `spmm_batched`.
    ///
    /// ```
    /// use ndarray::{array, Array3};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[2.0f32, 0.0], [0.0, 3.0]].view()).unwrap();
    /// let x = Array3::<f32>::ones((4, 2, 5));
    /// let mut y = Array3::<f32>::zeros((4, 2, 5));
    /// w.try_spmm_batched(x.view(), y.view_mut(), false).unwrap();
    /// assert_eq!(y[[3, 1, 4]], 3.0);
    /// let mut y3 = Array3::<f32>::zeros((3, 2, 5)); // 3 steps, x has 4
    /// assert!(matches!(
    ///     w.try_spmm_batched(x.view(), y3.view_mut(), false),
    ///     Err(SparseError::ShapeMismatch { operand: "y", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] or [`SparseError::NotContiguous`], naming the operand.
    pub fn try_spmm_batched(
        &self,
        x: ArrayView3<'_, T>,
        mut y: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) -> Result<(), SparseError> {
        self.check_spmm_batched(&x, &y)?;
        let (steps, _, batch) = x.dim();
        if by_steps(steps, self.nnz() * batch * steps) {
            x.axis_iter(Axis(0))
                .into_par_iter()
                .zip(y.axis_iter_mut(Axis(0)).into_par_iter())
                .for_each(|(xt, yt)| self.spmm_impl(xt, yt, accumulate, false));
        } else {
            for (xt, yt) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
                self.spmm_impl(xt, yt, accumulate, true);
            }
        }
        Ok(())
    }

    /// `dx[t] (+)= W^T dy[t]` for every step.
    ///
    /// Shapes (each step is `[features, batch]`): `dy` is `[steps, rows, batch]`, `dx` is
    /// `[steps, cols, batch]`, rows contiguous. [`SparseMatrix::try_spmm_t_batched`] is the
    /// checked form.
    ///
    /// Bit-identical to calling [`SparseMatrix::spmm_t`] (or [`SparseMatrix::spmm_t_acc`]) per
    /// step.
    ///
    /// # Panics
    /// If the shapes do not match or rows are not contiguous (caller bugs), with the message of
    /// the error [`SparseMatrix::try_spmm_t_batched`] returns.
    #[track_caller]
    pub fn spmm_t_batched(
        &self,
        dy: ArrayView3<'_, T>,
        dx: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) {
        check::or_panic(self.try_spmm_t_batched(dy, dx, accumulate))
    }

    /// Checked [`SparseMatrix::spmm_t_batched`]: `dx[t] (+)= W^T dy[t]` for every step, or an
    /// error (and `dx` untouched). `dy` is `[steps, rows, batch]`, `dx` is
    /// `[steps, cols, batch]`. Same bits as `spmm_t_batched`.
    ///
    /// ```
    /// use ndarray::{array, Array3};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 2.0]].view()).unwrap(); // 1 x 2
    /// let dy = Array3::<f32>::ones((3, 1, 4));
    /// let mut dx = Array3::<f32>::zeros((3, 2, 4));
    /// w.try_spmm_t_batched(dy.view(), dx.view_mut(), false).unwrap();
    /// assert_eq!(dx[[2, 1, 3]], 2.0);
    /// // A `[steps, batch, features]` array viewed with the last two axes swapped.
    /// let mut dx_t = Array3::<f32>::zeros((3, 4, 2));
    /// let mut view = dx_t.view_mut();
    /// view.swap_axes(1, 2);
    /// assert!(matches!(
    ///     w.try_spmm_t_batched(dy.view(), view, false),
    ///     Err(SparseError::NotContiguous { operand: "dx", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] or [`SparseError::NotContiguous`], naming the operand.
    pub fn try_spmm_t_batched(
        &self,
        dy: ArrayView3<'_, T>,
        mut dx: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) -> Result<(), SparseError> {
        self.check_spmm_t_batched(&dy, &dx)?;
        let (steps, _, batch) = dy.dim();
        // The AVX-512 kernels read the values in transposed order once gathered for all steps.
        #[cfg(target_arch = "x86_64")]
        let values_t = (super::avx512::applies::<T>() && steps > 1)
            .then(|| super::avx512::transposed_values(self));
        #[cfg(not(target_arch = "x86_64"))]
        let values_t: Option<Vec<T>> = None;
        let vt = values_t.as_deref();
        if by_steps(steps, self.nnz() * batch * steps) {
            dy.axis_iter(Axis(0))
                .into_par_iter()
                .zip(dx.axis_iter_mut(Axis(0)).into_par_iter())
                .for_each(|(dyt, dxt)| self.spmm_t_impl(dyt, dxt, accumulate, false, vt));
        } else {
            for (dyt, dxt) in dy.axis_iter(Axis(0)).zip(dx.axis_iter_mut(Axis(0))) {
                self.spmm_t_impl(dyt, dxt, accumulate, true, vt);
            }
        }
        Ok(())
    }

    /// `grad[k] += sum_t sum_b dy[t, i, b] x[t, j, b]` at every stored `(i, j)`, steps added in
    /// order.
    ///
    /// Shapes (each step is `[features, batch]`): `dy` is `[steps, rows, batch]`, `x` is
    /// `[steps, cols, batch]`, rows contiguous; `grad` has `nnz` elements aligned with
    /// [`SparseMatrix::values`]. [`SparseMatrix::try_sddmm_batched_acc`] is the checked form.
    ///
    /// Bit-identical to calling [`SparseMatrix::sddmm_acc`] for `t = 0, 1, ...` in turn, for any
    /// thread count.
    ///
    /// # Panics
    /// If the shapes or the gradient length do not match or rows are not contiguous (caller
    /// bugs), with the message of the error [`SparseMatrix::try_sddmm_batched_acc`] returns.
    #[track_caller]
    pub fn sddmm_batched_acc(&self, dy: ArrayView3<'_, T>, x: ArrayView3<'_, T>, grad: &mut [T]) {
        check::or_panic(self.try_sddmm_batched_acc(dy, x, grad))
    }

    /// Checked [`SparseMatrix::sddmm_batched_acc`]: `grad[k] += sum_t sum_b dy[t, i, b]
    /// x[t, j, b]`, or an error (and `grad` untouched). `dy` is `[steps, rows, batch]`, `x` is
    /// `[steps, cols, batch]`, `grad` has `nnz` elements. Same bits as `sddmm_batched_acc`.
    ///
    /// ```
    /// use ndarray::{array, Array3};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let w = SparseMatrix::from_dense(array![[1.0f32, 0.0]].view()).unwrap(); // 1 x 2, nnz 1
    /// let (dy, x) = (Array3::<f32>::ones((3, 1, 2)), Array3::<f32>::ones((3, 2, 2)));
    /// let mut g = vec![0.0f32];
    /// w.try_sddmm_batched_acc(dy.view(), x.view(), &mut g).unwrap();
    /// assert_eq!(g, vec![6.0]); // 3 steps x 2 batch columns
    /// let x_short = Array3::<f32>::ones((2, 2, 2)); // 2 steps, dy has 3
    /// assert!(matches!(
    ///     w.try_sddmm_batched_acc(dy.view(), x_short.view(), &mut g),
    ///     Err(SparseError::ShapeMismatch { operand: "x", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`], [`SparseError::NotContiguous`] or
    /// [`SparseError::LengthMismatch`], naming the operand.
    pub fn try_sddmm_batched_acc(
        &self,
        dy: ArrayView3<'_, T>,
        x: ArrayView3<'_, T>,
        grad: &mut [T],
    ) -> Result<(), SparseError> {
        self.check_sddmm_batched(&dy, &x, grad)?;
        let (steps, rows, batch) = dy.dim();
        let threads = crate::workers::workers();
        if threads > 1 && steps > 1 && self.nnz() * batch * steps >= PARALLEL_MIN_WORK {
            let bounds = balanced_bounds(self.indptr(), threads * SDDMM_PARTS_PER_THREAD);
            split_grad(self, &bounds, grad)
                .into_par_iter()
                .for_each(|(part, g)| {
                    for (dyt, xt) in dy.axis_iter(Axis(0)).zip(x.axis_iter(Axis(0))) {
                        self.sddmm_tiles(part.clone(), dyt, xt, g, false);
                    }
                });
        } else {
            for (dyt, xt) in dy.axis_iter(Axis(0)).zip(x.axis_iter(Axis(0))) {
                self.sddmm_tiles(0..rows, dyt, xt, grad, true);
            }
        }
        Ok(())
    }
}
