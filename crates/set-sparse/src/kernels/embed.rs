//! Sparse row gather and scatter-add: the forward and backward of a sparse embedding.

use super::check;
use crate::Scalar;
use crate::error::SparseError;
use crate::matrix::SparseMatrix;
use ndarray::{ArrayView2, ArrayViewMut2};

impl<T: Scalar> SparseMatrix<T> {
    /// The validation of [`SparseMatrix::gather_rows`] operands (the only one): `out` is
    /// `[cols, ids.len()]` and every id other than `skip` is a row.
    fn check_gather(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        out: &ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        const OP: &str = "gather_rows";
        check::shape(self, OP, "out", &[self.cols(), ids.len()], out.shape())?;
        check::ids_in_range(self, OP, ids, skip)
    }

    /// The validation of [`SparseMatrix::scatter_add_rows`] operands (the only one): `grad_out`
    /// is `[cols, ids.len()]`, `grad` has `nnz` elements and every id other than `skip` is a row.
    fn check_scatter(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        grad_out: &ArrayView2<'_, T>,
        grad: &[T],
    ) -> Result<(), SparseError> {
        const OP: &str = "scatter_add_rows";
        check::shape(
            self,
            OP,
            "grad_out",
            &[self.cols(), ids.len()],
            grad_out.shape(),
        )?;
        check::nnz_len(self, OP, "grad", grad.len())?;
        check::ids_in_range(self, OP, ids, skip)
    }

    /// Writes the rows named by `ids` into the columns of `out`: `out[:, n] = W[ids[n], :]`.
    /// Ids equal to `skip` (the padding id) give zero columns.
    ///
    /// Shapes (`[features, batch]`): `W` is `[vocabulary, cols]`, `out` is `[cols, ids.len()]`
    /// (one column per id; any strides). [`SparseMatrix::try_gather_rows`] is the checked form.
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
    /// come from a vocabulary of the same size), with the message of the error
    /// [`SparseMatrix::try_gather_rows`] returns.
    #[track_caller]
    pub fn gather_rows(&self, ids: &[u32], skip: Option<u32>, out: ArrayViewMut2<'_, T>) {
        check::or_panic(self.try_gather_rows(ids, skip, out))
    }

    /// Checked [`SparseMatrix::gather_rows`]: `out[:, n] = W[ids[n], :]`, or an error (and `out`
    /// untouched) if `out` is not `[cols, ids.len()]` or an id (other than `skip`) is not a row.
    /// Validating the ids is one pass over `ids`, before any write.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let emb = SparseMatrix::from_dense(array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]].view()).unwrap();
    /// let mut out = Array2::zeros((2, 2));
    /// emb.try_gather_rows(&[1, 2], None, out.view_mut()).unwrap();
    /// assert_eq!(out, array![[1.0, 0.0], [0.0, 2.0]]);
    /// assert_eq!(
    ///     emb.try_gather_rows(&[1, 3], None, out.view_mut()),
    ///     Err(SparseError::IdOutOfRange { op: "gather_rows", index: 1, id: 3, rows: 3 })
    /// );
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] for `out`, or [`SparseError::IdOutOfRange`] for the first
    /// bad id.
    pub fn try_gather_rows(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        mut out: ArrayViewMut2<'_, T>,
    ) -> Result<(), SparseError> {
        self.check_gather(ids, skip, &out)?;
        out.fill(T::zero());
        let (indptr, indices, values) = (self.indptr(), self.indices(), self.values());
        for (n, &id) in ids.iter().enumerate() {
            if Some(id) == skip {
                continue;
            }
            let r = id as usize;
            for k in indptr[r]..indptr[r + 1] {
                out[[indices[k] as usize, n]] = values[k];
            }
        }
        Ok(())
    }

    /// Backward of [`SparseMatrix::gather_rows`]: `grad[pos(ids[n], j)] += grad_out[j, n]` for
    /// every stored entry of each named row; `skip` ids contribute nothing. Runs in a fixed
    /// order, so it is deterministic.
    ///
    /// Shapes (`[features, batch]`): `grad_out` is `[cols, ids.len()]` (any strides); `grad` has
    /// `nnz` elements aligned with [`SparseMatrix::values`].
    /// [`SparseMatrix::try_scatter_add_rows`] is the checked form.
    ///
    /// # Panics
    /// If an id is out of range or the shapes do not match (caller bugs), with the message of
    /// the error [`SparseMatrix::try_scatter_add_rows`] returns.
    #[track_caller]
    pub fn scatter_add_rows(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        grad_out: ArrayView2<'_, T>,
        grad: &mut [T],
    ) {
        check::or_panic(self.try_scatter_add_rows(ids, skip, grad_out, grad))
    }

    /// Checked [`SparseMatrix::scatter_add_rows`]: `grad[pos(ids[n], j)] += grad_out[j, n]`, or
    /// an error (and `grad` untouched) if `grad_out` is not `[cols, ids.len()]`, `grad` does not
    /// have `nnz` elements, or an id (other than `skip`) is not a row.
    ///
    /// ```
    /// use ndarray::array;
    /// use set_sparse::{SparseError, SparseMatrix};
    /// let emb = SparseMatrix::from_dense(array![[0.0f32, 0.0], [1.0, 0.0], [0.0, 2.0]].view()).unwrap();
    /// let grad_out = array![[10.0f32, 20.0], [30.0, 40.0]]; // [cols = 2, ids = 2]
    /// let mut g = vec![0.0; emb.nnz()];
    /// emb.try_scatter_add_rows(&[2, 2], None, grad_out.view(), &mut g).unwrap();
    /// assert_eq!(g, vec![0.0, 30.0 + 40.0]); // row 2 stores only column 1
    /// assert!(matches!(
    ///     emb.try_scatter_add_rows(&[2], None, grad_out.view(), &mut g),
    ///     Err(SparseError::ShapeMismatch { operand: "grad_out", .. })
    /// ));
    /// ```
    ///
    /// # Errors
    /// [`SparseError::ShapeMismatch`] for `grad_out`, [`SparseError::LengthMismatch`] for
    /// `grad`, or [`SparseError::IdOutOfRange`] for the first bad id.
    pub fn try_scatter_add_rows(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        grad_out: ArrayView2<'_, T>,
        grad: &mut [T],
    ) -> Result<(), SparseError> {
        self.check_scatter(ids, skip, &grad_out, grad)?;
        let (indptr, indices) = (self.indptr(), self.indices());
        for (n, &id) in ids.iter().enumerate() {
            if Some(id) == skip {
                continue;
            }
            let r = id as usize;
            for k in indptr[r]..indptr[r + 1] {
                grad[k] += grad_out[[indices[k] as usize, n]];
            }
        }
        Ok(())
    }
}
