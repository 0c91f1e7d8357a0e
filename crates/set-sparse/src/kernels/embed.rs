//! Sparse row gather and scatter-add: the forward and backward of a sparse embedding.

use crate::Scalar;
use crate::matrix::SparseMatrix;
use ndarray::{ArrayView2, ArrayViewMut2};

impl<T: Scalar> SparseMatrix<T> {
    /// Writes the rows named by `ids` into the columns of `out` (`[cols, ids.len()]`):
    /// `out[:, n] = W[ids[n], :]`. Ids equal to `skip` (the padding id) give zero columns.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use set_sparse::SparseMatrix;
    /// let emb = SparseMatrix::from_dense(array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]].view()).unwrap();
    /// let mut out = Array2::zeros((2, 3));
    /// emb.gather_rows(&[2, 0, 1], Some(0), out.view_mut());
    /// assert_eq!(out, array![[0.0, 0.0, 1.0], [2.0, 0.0, 0.0]]);
    /// ```
    ///
    /// # Panics
    /// If an id is not a row of the matrix or `out` has the wrong shape (caller bugs: token ids
    /// come from a vocabulary of the same size).
    #[track_caller]
    pub fn gather_rows(&self, ids: &[u32], skip: Option<u32>, mut out: ArrayViewMut2<'_, T>) {
        assert_eq!(
            out.dim(),
            (self.cols(), ids.len()),
            "gather_rows: output shape"
        );
        out.fill(T::zero());
        let (indptr, indices, values) = (self.indptr(), self.indices(), self.values());
        for (n, &id) in ids.iter().enumerate() {
            if Some(id) == skip {
                continue;
            }
            let r = id as usize;
            assert!(
                r < self.rows(),
                "gather_rows: id {r} out of range for {} rows",
                self.rows()
            );
            for k in indptr[r]..indptr[r + 1] {
                out[[indices[k] as usize, n]] = values[k];
            }
        }
    }

    /// Backward of [`SparseMatrix::gather_rows`]: `grad[pos(ids[n], j)] += grad_out[j, n]` for
    /// every stored entry of each named row; `skip` ids contribute nothing. `grad` aligns with
    /// [`SparseMatrix::values`]. Runs in a fixed order, so it is deterministic.
    ///
    /// # Panics
    /// If an id is out of range or the shapes do not match (caller bugs).
    #[track_caller]
    pub fn scatter_add_rows(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        grad_out: ArrayView2<'_, T>,
        grad: &mut [T],
    ) {
        assert_eq!(
            grad_out.dim(),
            (self.cols(), ids.len()),
            "scatter_add_rows: grad_out shape"
        );
        assert_eq!(grad.len(), self.nnz(), "scatter_add_rows: grad length");
        let (indptr, indices) = (self.indptr(), self.indices());
        for (n, &id) in ids.iter().enumerate() {
            if Some(id) == skip {
                continue;
            }
            let r = id as usize;
            assert!(
                r < self.rows(),
                "scatter_add_rows: id {r} out of range for {} rows",
                self.rows()
            );
            for k in indptr[r]..indptr[r + 1] {
                grad[k] += grad_out[[indices[k] as usize, n]];
            }
        }
    }
}
