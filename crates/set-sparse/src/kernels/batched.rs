//! Batched products over time steps: `[steps, features, batch]` operands, one call for all steps.
//!
//! The LSTM keeps activations time-major so that each step's block is one contiguous
//! `[features, batch]` matrix (streamed, prefetch-friendly), and runs the input projection, the
//! input gradient and the weight gradients of all steps as one batched call each.

use crate::Scalar;
use crate::matrix::SparseMatrix;
use ndarray::{ArrayView3, ArrayViewMut3, Axis};

impl<T: Scalar> SparseMatrix<T> {
    /// `y[t] (+)= W x[t]` for every step `t`. `x` is `[steps, cols, batch]`, `y` is
    /// `[steps, rows, batch]`.
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
        assert_eq!(
            x.len_of(Axis(0)),
            y.len_of(Axis(0)),
            "spmm_batched: step counts differ"
        );
        for (xt, yt) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
            if accumulate {
                self.spmm_acc(xt, yt);
            } else {
                self.spmm(xt, yt);
            }
        }
    }

    /// `dx[t] (+)= W^T dy[t]` for every step. `dy` is `[steps, rows, batch]`, `dx` is
    /// `[steps, cols, batch]`.
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
        assert_eq!(
            dy.len_of(Axis(0)),
            dx.len_of(Axis(0)),
            "spmm_t_batched: step counts differ"
        );
        for (dyt, dxt) in dy.axis_iter(Axis(0)).zip(dx.axis_iter_mut(Axis(0))) {
            if accumulate {
                self.spmm_t_acc(dyt, dxt);
            } else {
                self.spmm_t(dyt, dxt);
            }
        }
    }

    /// `grad[k] += sum_t sum_b dy[t, i, b] x[t, j, b]` at every stored `(i, j)`, steps added in
    /// order. `dy` is `[steps, rows, batch]`, `x` is `[steps, cols, batch]`.
    ///
    /// # Panics
    /// If the shapes do not match (caller bugs).
    #[track_caller]
    pub fn sddmm_batched_acc(&self, dy: ArrayView3<'_, T>, x: ArrayView3<'_, T>, grad: &mut [T]) {
        assert_eq!(
            dy.len_of(Axis(0)),
            x.len_of(Axis(0)),
            "sddmm_batched: step counts differ"
        );
        for (dyt, xt) in dy.axis_iter(Axis(0)).zip(x.axis_iter(Axis(0))) {
            self.sddmm_acc(dyt, xt, grad);
        }
    }
}
