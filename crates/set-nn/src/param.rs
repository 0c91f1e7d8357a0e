//! Trainable parameters: sparse or dense matrices and dense vectors, each with a flat gradient
//! aligned with its values.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};
use set_sparse::{Scalar, SparseMatrix};

/// The storage of one parameter.
#[derive(Debug, Clone)]
pub enum ParamValue<T: Scalar> {
    /// A CSR matrix: only the stored entries exist and train.
    Sparse(SparseMatrix<T>),
    /// A dense row-major matrix (the dense baseline; small output layers).
    Dense(Array2<T>),
    /// A dense vector (biases).
    Vector(Array1<T>),
}

/// A named parameter and its gradient (same length and order as its values).
#[derive(Debug, Clone)]
pub struct Param<T: Scalar> {
    /// PyTorch-compatible name, e.g. `lstm.weight_ih_l0`.
    pub name: String,
    /// The values.
    pub value: ParamValue<T>,
    /// Gradient aligned with [`Param::values`].
    pub grad: Vec<T>,
}

impl<T: Scalar> Param<T> {
    /// A parameter with a zero gradient.
    pub fn new(name: impl Into<String>, value: ParamValue<T>) -> Self {
        let len = value.len();
        Param {
            name: name.into(),
            value,
            grad: vec![T::zero(); len],
        }
    }

    /// The trainable values as one flat slice.
    pub fn values(&self) -> &[T] {
        self.value.values()
    }

    /// Mutable trainable values.
    pub fn values_mut(&mut self) -> &mut [T] {
        self.value.values_mut()
    }

    /// Sets the gradient to zero (keeping its length in step with the values).
    pub fn zero_grad(&mut self) {
        let len = self.value.len();
        self.grad.clear();
        self.grad.resize(len, T::zero());
    }

    /// Whether this is a matrix (weight decay applies) rather than a bias vector.
    pub fn is_matrix(&self) -> bool {
        !matches!(self.value, ParamValue::Vector(_))
    }
}

impl<T: Scalar> ParamValue<T> {
    /// Number of trainable values (non-zeros for a sparse matrix).
    pub fn len(&self) -> usize {
        self.values().len()
    }

    /// Whether there are no trainable values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Logical shape: `[rows, cols]` or `[len]`.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            ParamValue::Sparse(m) => vec![m.rows(), m.cols()],
            ParamValue::Dense(a) => vec![a.nrows(), a.ncols()],
            ParamValue::Vector(v) => vec![v.len()],
        }
    }

    /// Number of entries of the dense equivalent.
    pub fn dense_len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Flat values.
    pub fn values(&self) -> &[T] {
        match self {
            ParamValue::Sparse(m) => m.values(),
            ParamValue::Dense(a) => a.as_slice().expect("dense params are standard layout"),
            ParamValue::Vector(v) => v.as_slice().expect("vectors are contiguous"),
        }
    }

    /// Mutable flat values.
    pub fn values_mut(&mut self) -> &mut [T] {
        match self {
            ParamValue::Sparse(m) => m.values_mut(),
            ParamValue::Dense(a) => a.as_slice_mut().expect("dense params are standard layout"),
            ParamValue::Vector(v) => v.as_slice_mut().expect("vectors are contiguous"),
        }
    }

    /// The sparse matrix, if this is one.
    pub fn as_sparse(&self) -> Option<&SparseMatrix<T>> {
        match self {
            ParamValue::Sparse(m) => Some(m),
            _ => None,
        }
    }

    /// The vector, if this is one.
    pub fn as_vector(&self) -> Option<&Array1<T>> {
        match self {
            ParamValue::Vector(v) => Some(v),
            _ => None,
        }
    }

    /// Bytes of the stored values and structure.
    pub fn memory_bytes(&self) -> usize {
        match self {
            ParamValue::Sparse(m) => m.memory_bytes(),
            _ => self.len() * T::BYTES,
        }
    }

    /// `y (+)= W x` for a matrix. `x` is `[cols, n]`, `y` is `[rows, n]`.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn matmul(&self, x: ArrayView2<'_, T>, mut y: ArrayViewMut2<'_, T>, accumulate: bool) {
        match self {
            ParamValue::Sparse(m) if accumulate => m.spmm_acc(x, y),
            ParamValue::Sparse(m) => m.spmm(x, y),
            ParamValue::Dense(a) => crate::dense::gemm(a.view(), x, &mut y, accumulate),
            ParamValue::Vector(_) => panic!("matmul on a vector parameter"),
        }
    }

    /// `dx (+)= W^T dy` for a matrix. `dy` is `[rows, n]`, `dx` is `[cols, n]`.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn matmul_t(&self, dy: ArrayView2<'_, T>, mut dx: ArrayViewMut2<'_, T>, accumulate: bool) {
        match self {
            ParamValue::Sparse(m) if accumulate => m.spmm_t_acc(dy, dx),
            ParamValue::Sparse(m) => m.spmm_t(dy, dx),
            ParamValue::Dense(a) => crate::dense::gemm(a.t(), dy, &mut dx, accumulate),
            ParamValue::Vector(_) => panic!("matmul_t on a vector parameter"),
        }
    }

    /// `grad += dy x^T`, at the stored entries for a sparse matrix (SDDMM) or everywhere for a
    /// dense one. `dy` is `[rows, n]`, `x` is `[cols, n]`.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn accumulate_grad(&self, dy: ArrayView2<'_, T>, x: ArrayView2<'_, T>, grad: &mut [T]) {
        match self {
            ParamValue::Sparse(m) => m.sddmm_acc(dy, x, grad),
            ParamValue::Dense(a) => {
                let mut g = ArrayViewMut2::from_shape(a.dim(), grad)
                    .expect("gradient matches the dense shape");
                crate::dense::gemm(dy, x.t(), &mut g, true);
            }
            ParamValue::Vector(_) => panic!("accumulate_grad on a vector parameter"),
        }
    }

    /// `y[t] (+)= W x[t]` for every step: `x` is `[steps, cols, n]`, `y` is `[steps, rows, n]`.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn matmul_batched(
        &self,
        x: ArrayView3<'_, T>,
        mut y: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) {
        match self {
            ParamValue::Sparse(m) => m.spmm_batched(x, y, accumulate),
            _ => {
                for (xt, yt) in x.axis_iter(Axis(0)).zip(y.axis_iter_mut(Axis(0))) {
                    self.matmul(xt, yt, accumulate);
                }
            }
        }
    }

    /// `dx[t] (+)= W^T dy[t]` for every step: `dy` is `[steps, rows, n]`, `dx` is
    /// `[steps, cols, n]`.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn matmul_t_batched(
        &self,
        dy: ArrayView3<'_, T>,
        mut dx: ArrayViewMut3<'_, T>,
        accumulate: bool,
    ) {
        match self {
            ParamValue::Sparse(m) => m.spmm_t_batched(dy, dx, accumulate),
            _ => {
                for (dyt, dxt) in dy.axis_iter(Axis(0)).zip(dx.axis_iter_mut(Axis(0))) {
                    self.matmul_t(dyt, dxt, accumulate);
                }
            }
        }
    }

    /// `grad += sum_t dy[t] x[t]^T` (at the stored entries for a sparse matrix), steps in order.
    ///
    /// # Panics
    /// On a vector or mismatched shapes (caller bugs).
    #[track_caller]
    pub fn accumulate_grad_batched(
        &self,
        dy: ArrayView3<'_, T>,
        x: ArrayView3<'_, T>,
        grad: &mut [T],
    ) {
        match self {
            ParamValue::Sparse(m) => m.sddmm_batched_acc(dy, x, grad),
            _ => {
                for (dyt, xt) in dy.axis_iter(Axis(0)).zip(x.axis_iter(Axis(0))) {
                    self.accumulate_grad(dyt, xt, grad);
                }
            }
        }
    }

    /// Embedding forward: `out[:, n] = W[ids[n], :]`, zero for `skip`.
    ///
    /// # Panics
    /// On a vector, an id out of range or a wrong output shape (caller bugs).
    #[track_caller]
    pub fn gather_rows(&self, ids: &[u32], skip: Option<u32>, mut out: ArrayViewMut2<'_, T>) {
        match self {
            ParamValue::Sparse(m) => m.gather_rows(ids, skip, out),
            ParamValue::Dense(a) => {
                assert_eq!(
                    out.dim(),
                    (a.ncols(), ids.len()),
                    "gather_rows: output shape"
                );
                for (n, &id) in ids.iter().enumerate() {
                    if Some(id) == skip {
                        out.column_mut(n).fill(T::zero());
                    } else {
                        out.column_mut(n).assign(&a.row(id as usize));
                    }
                }
            }
            ParamValue::Vector(_) => panic!("gather_rows on a vector parameter"),
        }
    }

    /// Embedding backward: `grad[ids[n], :] += grad_out[:, n]`, nothing for `skip`.
    ///
    /// # Panics
    /// On a vector, an id out of range or wrong shapes (caller bugs).
    #[track_caller]
    pub fn scatter_add_rows(
        &self,
        ids: &[u32],
        skip: Option<u32>,
        grad_out: ArrayView2<'_, T>,
        grad: &mut [T],
    ) {
        match self {
            ParamValue::Sparse(m) => m.scatter_add_rows(ids, skip, grad_out, grad),
            ParamValue::Dense(a) => {
                let cols = a.ncols();
                for (n, &id) in ids.iter().enumerate() {
                    if Some(id) == skip {
                        continue;
                    }
                    let row = &mut grad[id as usize * cols..(id as usize + 1) * cols];
                    for (g, &v) in row.iter_mut().zip(grad_out.column(n).iter()) {
                        *g += v;
                    }
                }
            }
            ParamValue::Vector(_) => panic!("scatter_add_rows on a vector parameter"),
        }
    }

    /// Converts element type (e.g. to `f64` for gradient checks).
    pub fn cast<U: Scalar>(&self) -> ParamValue<U> {
        let c = |v: &T| U::of_f64(v.as_f64());
        match self {
            ParamValue::Sparse(m) => ParamValue::Sparse(m.cast()),
            ParamValue::Dense(a) => ParamValue::Dense(a.map(c)),
            ParamValue::Vector(v) => ParamValue::Vector(v.map(c)),
        }
    }
}
