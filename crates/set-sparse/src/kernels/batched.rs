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

use super::rows::{PARALLEL_MIN_WORK, balanced_bounds};
use super::sddmm::split_grad;
use crate::Scalar;
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
    let threads = rayon::current_num_threads();
    threads > 1 && steps >= MIN_STEPS_PER_THREAD * threads && work >= PARALLEL_MIN_WORK
}

impl<T: Scalar> SparseMatrix<T> {
    /// `y[t] (+)= W x[t]` for every step `t`. `x` is `[steps, cols, batch]`, `y` is
    /// `[steps, rows, batch]`; the rows of each step's block must be contiguous (inner stride 1).
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
    /// If the shapes do not match (caller bugs).
    #[track_caller]
    pub fn spmm_batched(
        &self,
        x: ArrayView3<'_, T>,
        mut y: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) {
        let (steps, cols, batch) = x.dim();
        assert_eq!(y.len_of(Axis(0)), steps, "spmm_batched: step counts differ");
        assert_eq!(
            (cols, y.dim().1, y.dim().2),
            (self.cols(), self.rows(), batch),
            "spmm_batched: x is [steps, {cols}, {batch}], y is {:?}, W is {:?}",
            y.dim(),
            self.shape()
        );
        if by_steps(steps, self.nnz() * batch * steps) {
            x.axis_iter(Axis(0))
                .into_par_iter()
                .zip(y.axis_iter_mut(Axis(0)).into_par_iter())
                .for_each(|(xt, yt)| self.spmm_into(xt, yt, accumulate, false));
        } else {
            for (xt, yt) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
                self.spmm_into(xt, yt, accumulate, true);
            }
        }
    }

    /// `dx[t] (+)= W^T dy[t]` for every step. `dy` is `[steps, rows, batch]`, `dx` is
    /// `[steps, cols, batch]`.
    ///
    /// Bit-identical to calling [`SparseMatrix::spmm_t`] (or [`SparseMatrix::spmm_t_acc`]) per
    /// step.
    ///
    /// # Panics
    /// If the shapes do not match (caller bugs).
    #[track_caller]
    pub fn spmm_t_batched(
        &self,
        dy: ArrayView3<'_, T>,
        mut dx: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) {
        let (steps, rows, batch) = dy.dim();
        assert_eq!(
            dx.len_of(Axis(0)),
            steps,
            "spmm_t_batched: step counts differ"
        );
        assert_eq!(
            (rows, dx.dim().1, dx.dim().2),
            (self.rows(), self.cols(), batch),
            "spmm_t_batched: dy is [steps, {rows}, {batch}], dx is {:?}, W is {:?}",
            dx.dim(),
            self.shape()
        );
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
                .for_each(|(dyt, dxt)| self.spmm_t_into(dyt, dxt, accumulate, false, vt));
        } else {
            for (dyt, dxt) in dy.axis_iter(Axis(0)).zip(dx.axis_iter_mut(Axis(0))) {
                self.spmm_t_into(dyt, dxt, accumulate, true, vt);
            }
        }
    }

    /// `grad[k] += sum_t sum_b dy[t, i, b] x[t, j, b]` at every stored `(i, j)`, steps added in
    /// order. `dy` is `[steps, rows, batch]`, `x` is `[steps, cols, batch]`.
    ///
    /// Bit-identical to calling [`SparseMatrix::sddmm_acc`] for `t = 0, 1, ...` in turn, for any
    /// thread count.
    ///
    /// # Panics
    /// If the shapes do not match (caller bugs).
    #[track_caller]
    pub fn sddmm_batched_acc(&self, dy: ArrayView3<'_, T>, x: ArrayView3<'_, T>, grad: &mut [T]) {
        let (steps, rows, batch) = dy.dim();
        assert_eq!(
            x.len_of(Axis(0)),
            steps,
            "sddmm_batched: step counts differ"
        );
        assert_eq!(
            (rows, x.dim().1, x.dim().2),
            (self.rows(), self.cols(), batch),
            "sddmm_batched: dy is [steps, {rows}, {batch}], x is {:?}, W is {:?}",
            x.dim(),
            self.shape()
        );
        assert_eq!(
            grad.len(),
            self.nnz(),
            "sddmm_batched: grad has {} elements, W has {} non-zeros",
            grad.len(),
            self.nnz()
        );
        let threads = rayon::current_num_threads();
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
    }
}
