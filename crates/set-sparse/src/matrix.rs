//! `SparseMatrix`: a CSR weight matrix (on `sprs`) with a transposed index for `W^T` products.

use crate::error::SparseError;
use crate::scalar::Scalar;
use sprs::CsMatI;

/// The largest dimension or non-zero count a [`SparseMatrix`] accepts (indices are `u32`).
pub const MAX_INDEX: u64 = u32::MAX as u64 - 1;

/// A sparse weight matrix in CSR form: `rows x cols`, `nnz` stored values.
///
/// Storage is `sprs::CsMatI<T, u32, usize>` (values, `u32` column indices, row pointers) plus a
/// column-major index of the same entries (`u32` row and `u32` value position per entry) that the
/// transposed product [`SparseMatrix::spmm_t`] walks. The transposed index holds positions, not
/// values, so optimizer updates to the values need no re-sync; it is rebuilt only when the
/// topology changes. Memory is `nnz * (size_of::<T>() + 12)` bytes plus the two pointer arrays;
/// nothing is ever allocated at `rows x cols`.
///
/// Per-weight state (gradients, optimizer moments) is kept by callers in plain `Vec<T>`s aligned
/// with [`SparseMatrix::values`]; topology edits return a [`crate::Remap`] that moves such
/// buffers along.
///
/// ```
/// use set_sparse::SparseMatrix;
/// // [[1, 0, 2],
/// //  [0, 0, 3]]
/// let w = SparseMatrix::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 2, 2], vec![1.0, 2.0, 3.0]).unwrap();
/// assert_eq!(w.nnz(), 3);
/// assert_eq!(w.get(1, 2), Some(3.0));
/// assert_eq!(w.get(1, 0), None);
/// // Bad structure from outside data is a typed error, not a panic.
/// assert!(SparseMatrix::<f32>::try_new(2, 3, vec![0, 2, 3], vec![2, 0, 2], vec![1.0; 3]).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SparseMatrix<T: Scalar = f32> {
    pub(crate) csr: CsMatI<T, u32, usize>,
    pub(crate) t_index: TransposeIndex,
}

/// Column-major view of the structure: for each column, the rows and value positions of its
/// entries, rows ascending.
#[derive(Clone, Debug, Default)]
pub(crate) struct TransposeIndex {
    pub(crate) col_ptr: Vec<usize>,
    pub(crate) rows: Vec<u32>,
    pub(crate) pos: Vec<u32>,
}

impl TransposeIndex {
    fn build(rows: usize, cols: usize, indptr: &[usize], indices: &[u32]) -> Self {
        let nnz = indices.len();
        let mut col_ptr = vec![0usize; cols + 1];
        for &c in indices {
            col_ptr[c as usize + 1] += 1;
        }
        for c in 0..cols {
            col_ptr[c + 1] += col_ptr[c];
        }
        let mut next = col_ptr.clone();
        let mut t_rows = vec![0u32; nnz];
        let mut pos = vec![0u32; nnz];
        for r in 0..rows {
            for (k, &c) in indices
                .iter()
                .enumerate()
                .take(indptr[r + 1])
                .skip(indptr[r])
            {
                let slot = next[c as usize];
                t_rows[slot] = r as u32;
                pos[slot] = k as u32;
                next[c as usize] += 1;
            }
        }
        TransposeIndex {
            col_ptr,
            rows: t_rows,
            pos,
        }
    }
}

/// [`SparseError::TooLarge`] unless both dimensions are at most [`MAX_INDEX`] (so `rows + 1`,
/// `cols + 1` and every index fit `u32` and `usize`).
pub(crate) fn check_dims(rows: usize, cols: usize) -> Result<(), SparseError> {
    for (what, value) in [("rows", rows), ("cols", cols)] {
        let value = u64::try_from(value).unwrap_or(u64::MAX);
        if value > MAX_INDEX {
            return Err(SparseError::TooLarge {
                what,
                value,
                max: MAX_INDEX,
            });
        }
    }
    Ok(())
}

/// Checks CSR invariants on raw arrays and returns the first violation.
pub(crate) fn validate_csr(
    rows: usize,
    cols: usize,
    indptr: &[usize],
    indices: &[u32],
    n_values: usize,
) -> Result<(), SparseError> {
    check_dims(rows, cols)?;
    if indices.len() as u64 > MAX_INDEX {
        return Err(SparseError::TooLarge {
            what: "nnz",
            value: indices.len() as u64,
            max: MAX_INDEX,
        });
    }
    if indptr.len() != rows + 1 {
        return Err(SparseError::IndptrLength {
            expected: rows + 1,
            got: indptr.len(),
        });
    }
    if indptr[0] != 0 {
        return Err(SparseError::IndptrStart { got: indptr[0] });
    }
    if indices.len() != n_values {
        return Err(SparseError::ValuesLength {
            indices: indices.len(),
            values: n_values,
        });
    }
    for r in 0..rows {
        let (start, end) = (indptr[r], indptr[r + 1]);
        if start > end {
            return Err(SparseError::IndptrNotMonotone { row: r, start, end });
        }
        if end > indices.len() {
            return Err(SparseError::IndptrEnd {
                nnz: indices.len(),
                got: end,
            });
        }
        let mut prev: Option<u32> = None;
        for &c in &indices[start..end] {
            if c as usize >= cols {
                return Err(SparseError::ColumnOutOfRange {
                    row: r,
                    col: c as usize,
                    cols,
                });
            }
            if prev.is_some_and(|p| p >= c) {
                return Err(SparseError::ColumnsNotSorted {
                    row: r,
                    col: c as usize,
                });
            }
            prev = Some(c);
        }
    }
    if indptr[rows] != indices.len() {
        return Err(SparseError::IndptrEnd {
            nnz: indices.len(),
            got: indptr[rows],
        });
    }
    Ok(())
}

impl<T: Scalar> SparseMatrix<T> {
    /// Builds a matrix from raw CSR arrays, checking every invariant: `indptr` has `rows + 1`
    /// entries starting at 0, is monotone and ends at `indices.len()`; column indices are in range
    /// and strictly increasing within each row; `values` matches `indices` in length.
    ///
    /// # Errors
    /// The first violated invariant, as a [`SparseError`].
    pub fn try_new(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<T>,
    ) -> Result<Self, SparseError> {
        validate_csr(rows, cols, &indptr, &indices, values.len())?;
        Ok(Self::from_valid_parts(rows, cols, indptr, indices, values))
    }

    /// Builds a matrix from `(row, col, value)` triplets (COO), in any order.
    ///
    /// **Duplicates are summed**, as in `sprs`' `TriMat`, SciPy and Eigen: the values of all
    /// triplets naming one position are added in the order they appear in `triplets`, so the
    /// result is deterministic. Every position named by at least one triplet is stored, even if
    /// its value (or the sum of its duplicates) is zero: in a sparse network a stored zero is still
    /// a connection. The result is sorted CSR with unique column indices per row, with the
    /// transposed index built, exactly like [`SparseMatrix::try_new`]'s. Takes
    /// `O(rows + t log t)` time for `t` triplets and never allocates at `rows x cols`.
    ///
    /// ```
    /// use set_sparse::SparseMatrix;
    /// // [[1, 0, 2],
    /// //  [0, 0, 3]]   with (0, 2) given twice: 0.5 + 1.5 = 2
    /// let w = SparseMatrix::<f32>::from_triplets(2, 3, &[(1, 2, 3.0), (0, 2, 0.5), (0, 0, 1.0), (0, 2, 1.5)]).unwrap();
    /// assert_eq!(w.indptr(), &[0, 2, 3]);
    /// assert_eq!(w.indices(), &[0, 2, 2]);
    /// assert_eq!(w.values(), &[1.0, 2.0, 3.0]);
    /// // Out-of-range positions are typed errors, naming the triplet.
    /// assert!(SparseMatrix::<f32>::from_triplets(2, 3, &[(2, 0, 1.0)]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`SparseError::TooLarge`] if a dimension or the number of distinct positions exceeds
    /// [`MAX_INDEX`]; [`SparseError::TripletOutOfRange`] for the first triplet with
    /// `row >= rows` or `col >= cols`.
    pub fn from_triplets(
        rows: usize,
        cols: usize,
        triplets: &[(usize, usize, T)],
    ) -> Result<Self, SparseError> {
        check_dims(rows, cols)?;
        if let Some(index) = triplets
            .iter()
            .position(|&(r, c, _)| r >= rows || c >= cols)
        {
            let (row, col, _) = triplets[index];
            return Err(SparseError::TripletOutOfRange {
                index,
                row,
                col,
                rows,
                cols,
            });
        }
        // Bucket by row (stable counting sort: input order kept within a row). `rows + 1` cannot
        // overflow (`check_dims`), and the prefix sums total `triplets.len()`.
        let mut start = vec![0usize; rows + 1];
        for &(r, _, _) in triplets {
            start[r + 1] += 1;
        }
        for r in 0..rows {
            start[r + 1] += start[r];
        }
        let mut next = start[..rows].to_vec();
        let mut bucketed = vec![(0u32, T::zero()); triplets.len()];
        for &(r, c, v) in triplets {
            // `c < cols <= MAX_INDEX < u32::MAX`: the cast is exact.
            bucketed[next[r]] = (c as u32, v);
            next[r] += 1;
        }
        drop(next);
        // Sort each row by column (a stable sort: duplicates stay in input order) and merge
        // duplicates by summing.
        let mut indptr = Vec::with_capacity(rows + 1);
        let mut indices = Vec::with_capacity(triplets.len());
        let mut values = Vec::with_capacity(triplets.len());
        indptr.push(0);
        for r in 0..rows {
            let row = &mut bucketed[start[r]..start[r + 1]];
            row.sort_by_key(|&(c, _)| c);
            let row_start = indices.len();
            for &(c, v) in row.iter() {
                if indices.len() > row_start && indices.last() == Some(&c) {
                    *values.last_mut().expect("values has one entry per index") += v;
                } else {
                    indices.push(c);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Self::try_new(rows, cols, indptr, indices, values)
    }

    /// Builds from arrays already known to be valid (internal constructors and edits).
    pub(crate) fn from_valid_parts(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<T>,
    ) -> Self {
        debug_assert!(validate_csr(rows, cols, &indptr, &indices, values.len()).is_ok());
        let t_index = TransposeIndex::build(rows, cols, &indptr, &indices);
        let csr = CsMatI::try_new((rows, cols), indptr, indices, values)
            .map_err(|(_, _, _, e)| e)
            .expect("internal CSR construction produced an invalid structure");
        SparseMatrix { csr, t_index }
    }

    /// An empty (`nnz = 0`) matrix of the given shape.
    ///
    /// # Errors
    /// If a dimension exceeds [`MAX_INDEX`].
    pub fn empty(rows: usize, cols: usize) -> Result<Self, SparseError> {
        check_dims(rows, cols)?;
        Self::try_new(rows, cols, vec![0; rows + 1], Vec::new(), Vec::new())
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.csr.rows()
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.csr.cols()
    }

    /// `(rows, cols)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.rows(), self.cols())
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.csr.nnz()
    }

    /// `nnz / (rows * cols)`; 0 for an empty shape.
    pub fn density(&self) -> f64 {
        let cap = self.rows() as f64 * self.cols() as f64;
        if cap == 0.0 {
            0.0
        } else {
            self.nnz() as f64 / cap
        }
    }

    /// Row pointers: entries of row `r` are at positions `indptr[r]..indptr[r + 1]`.
    pub fn indptr(&self) -> &[usize] {
        self.csr.indptr().into_raw_storage()
    }

    /// Column index of every stored entry, in CSR order.
    pub fn indices(&self) -> &[u32] {
        self.csr.indices()
    }

    /// Stored values, in CSR order. Per-weight buffers align with this slice.
    pub fn values(&self) -> &[T] {
        self.csr.data()
    }

    /// Mutable stored values (the structure cannot change through this).
    pub fn values_mut(&mut self) -> &mut [T] {
        self.csr.data_mut()
    }

    /// The underlying `sprs` matrix, for interoperability.
    pub fn as_sprs(&self) -> &CsMatI<T, u32, usize> {
        &self.csr
    }

    /// Positions (into [`Self::values`]) of row `r`'s entries.
    ///
    /// # Panics
    /// If `r >= rows`.
    #[track_caller]
    pub fn row_range(&self, r: usize) -> std::ops::Range<usize> {
        let p = self.indptr();
        p[r]..p[r + 1]
    }

    /// Number of entries in rows `rows` (e.g. one gate of a stacked LSTM matrix).
    pub fn nnz_in_rows(&self, rows: std::ops::Range<usize>) -> usize {
        let p = self.indptr();
        p[rows.end] - p[rows.start]
    }

    /// The value position of `(row, col)`, if stored (binary search in the row).
    pub fn position(&self, row: usize, col: usize) -> Option<usize> {
        if row >= self.rows() || col >= self.cols() {
            return None;
        }
        let range = self.row_range(row);
        let idx = &self.indices()[range.clone()];
        idx.binary_search(&(col as u32))
            .ok()
            .map(|k| range.start + k)
    }

    /// The stored value at `(row, col)`, if any.
    pub fn get(&self, row: usize, col: usize) -> Option<T> {
        self.position(row, col).map(|k| self.values()[k])
    }

    /// Iterates `(row, col, position)` over all stored entries in CSR order.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let indptr = self.indptr();
        let indices = self.indices();
        (0..self.rows())
            .flat_map(move |r| (indptr[r]..indptr[r + 1]).map(move |k| (r, indices[k] as usize, k)))
    }

    /// Bytes held by values, indices, row pointers and the transposed index.
    pub fn memory_bytes(&self) -> usize {
        let nnz = self.nnz();
        nnz * (T::BYTES + 4)
            + (self.rows() + 1) * 8
            + self.t_index.col_ptr.len() * 8
            + self.t_index.rows.len() * 4
            + self.t_index.pos.len() * 4
    }

    /// Returns an error naming the first NaN or infinite value.
    ///
    /// # Errors
    /// [`SparseError::NonFinite`] with its row and column.
    pub fn check_finite(&self) -> Result<(), SparseError> {
        for (r, c, k) in self.entries() {
            let v = self.values()[k];
            if !v.is_finite() {
                return Err(SparseError::NonFinite {
                    row: r,
                    col: c,
                    value: format!("{v}"),
                });
            }
        }
        Ok(())
    }

    /// A 64-bit hash of the structure (shape, row pointers, column indices), for checking that
    /// two runs or two ranks hold the same topology.
    pub fn topology_hash(&self) -> u64 {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update((self.rows() as u64).to_le_bytes());
        h.update((self.cols() as u64).to_le_bytes());
        for &p in self.indptr() {
            h.update((p as u64).to_le_bytes());
        }
        for &c in self.indices() {
            h.update(c.to_le_bytes());
        }
        let d = h.finalize();
        u64::from_le_bytes(d[..8].try_into().expect("sha256 has 32 bytes"))
    }

    /// Converts to another float type (e.g. `f32` weights to `f64` for a gradient check).
    pub fn cast<U: Scalar>(&self) -> SparseMatrix<U> {
        SparseMatrix {
            csr: CsMatI::try_new(
                self.shape(),
                self.indptr().to_vec(),
                self.indices().to_vec(),
                self.values()
                    .iter()
                    .map(|v| U::of_f64(v.as_f64()))
                    .collect(),
            )
            .map_err(|(_, _, _, e)| e)
            .expect("cast keeps a valid structure"),
            t_index: self.t_index.clone(),
        }
    }

    /// Materialises the dense `rows x cols` matrix.
    ///
    /// Only for tests, reference checks and `export --dense`: never used on a training path.
    pub fn to_dense(&self) -> ndarray::Array2<T> {
        let mut d = ndarray::Array2::zeros(self.shape());
        for (r, c, k) in self.entries() {
            d[[r, c]] = self.values()[k];
        }
        d
    }

    /// Builds a sparse matrix holding the non-zero entries of a dense one (tests, imports).
    ///
    /// # Errors
    /// If a dimension or the non-zero count exceeds [`MAX_INDEX`].
    pub fn from_dense(dense: ndarray::ArrayView2<T>) -> Result<Self, SparseError> {
        let (rows, cols) = dense.dim();
        let mut indptr = Vec::with_capacity(rows + 1);
        let mut indices = Vec::new();
        let mut values = Vec::new();
        indptr.push(0);
        for r in 0..rows {
            for c in 0..cols {
                let v = dense[[r, c]];
                if v != T::zero() {
                    indices.push(c as u32);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Self::try_new(rows, cols, indptr, indices, values)
    }

    /// The same structure with every value replaced by `value` (e.g. a zero gradient holder).
    pub fn with_values(&self, values: Vec<T>) -> Self {
        assert_eq!(
            values.len(),
            self.nnz(),
            "with_values: length must equal nnz"
        );
        let mut m = self.clone();
        m.values_mut().copy_from_slice(&values);
        m
    }
}
