//! Typed errors for sparse structures built from outside data and for topology edits.

/// Everything that can be wrong with a sparse structure or an edit request.
///
/// Constructors and topology edits return these for data that came from outside (a checkpoint, a
/// policy's edit list, a triplet list). Every kernel has a checked sibling (`try_spmm` next to
/// `spmm`, ...) that returns the operand errors below ([`SparseError::ShapeMismatch`],
/// [`SparseError::NotContiguous`], [`SparseError::LengthMismatch`],
/// [`SparseError::IdOutOfRange`]) instead of panicking; the unchecked kernel runs the same
/// validation and panics with the same message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SparseError {
    /// The row-pointer array does not have `rows + 1` entries.
    #[error("row pointer array has {got} entries, expected rows + 1 = {expected}")]
    IndptrLength {
        /// `rows + 1`.
        expected: usize,
        /// Entries found.
        got: usize,
    },
    /// The row-pointer array does not start at 0 or decreases.
    #[error("row pointer array is not monotone at row {row} ({start} > {end})")]
    IndptrNotMonotone {
        /// First row whose start exceeds its end.
        row: usize,
        /// Row start.
        start: usize,
        /// Row end.
        end: usize,
    },
    /// The row-pointer array does not start at 0.
    #[error("row pointer array starts at {got}, expected 0")]
    IndptrStart {
        /// First entry found.
        got: usize,
    },
    /// The last row pointer does not equal the number of stored entries.
    #[error("row pointer array ends at {got}, but there are {nnz} column indices")]
    IndptrEnd {
        /// Number of column indices.
        nnz: usize,
        /// Last row pointer.
        got: usize,
    },
    /// Column indices and values differ in length.
    #[error("{indices} column indices but {values} values")]
    ValuesLength {
        /// Column index count.
        indices: usize,
        /// Value count.
        values: usize,
    },
    /// A column index is not below the number of columns.
    #[error("row {row}: column index {col} out of range (matrix has {cols} columns)")]
    ColumnOutOfRange {
        /// Row of the entry.
        row: usize,
        /// Column found.
        col: usize,
        /// Number of columns.
        cols: usize,
    },
    /// Column indices in a row are not strictly increasing.
    #[error("row {row}: column indices not strictly increasing at column {col}")]
    ColumnsNotSorted {
        /// Row of the entry.
        row: usize,
        /// Offending column.
        col: usize,
    },
    /// A dimension or non-zero count exceeds what 32-bit indices can address.
    #[error("{what} = {value} exceeds the supported maximum {max}")]
    TooLarge {
        /// Which quantity.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// More non-zeros were requested than the matrix has positions.
    #[error("requested {nnz} non-zeros but a {rows} x {cols} matrix has only {capacity} positions")]
    NnzExceedsCapacity {
        /// Requested non-zeros.
        nnz: u64,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
        /// `rows * cols`.
        capacity: u64,
    },
    /// A density or epsilon outside its valid range.
    #[error("invalid {what}: {value} ({expected})")]
    InvalidParameter {
        /// Parameter name.
        what: &'static str,
        /// Value given.
        value: f64,
        /// What was expected.
        expected: &'static str,
    },
    /// A value is NaN or infinite.
    #[error("non-finite value {value} at row {row}, column {col}")]
    NonFinite {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value, printed.
        value: String,
    },
    /// An edit asked to remove a position that does not exist.
    #[error("cannot remove stored entry {pos}: the matrix stores only {nnz}")]
    RemoveOutOfRange {
        /// Position in the value array.
        pos: usize,
        /// Stored entries.
        nnz: usize,
    },
    /// An edit asked to remove the same position twice.
    #[error("stored entry {pos} listed twice for removal")]
    DuplicateRemove {
        /// Position in the value array.
        pos: usize,
    },
    /// An edit asked to insert outside the matrix.
    #[error("cannot insert at ({row}, {col}): matrix is {rows} x {cols}")]
    InsertOutOfRange {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// Rows.
        rows: usize,
        /// Columns.
        cols: usize,
    },
    /// An edit asked to insert where a surviving entry already is, or twice at one place.
    #[error("cannot insert at ({row}, {col}): position is already occupied")]
    InsertOccupied {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
    },
    /// A triplet names a position outside the matrix.
    #[error("triplet {index}: ({row}, {col}) is out of range for a {rows} x {cols} matrix")]
    TripletOutOfRange {
        /// Position of the triplet in the input list.
        index: usize,
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// A dense operand of a kernel has the wrong shape. Dense operands are feature-major:
    /// `[features, batch]` (or `[steps, features, batch]` for the batched kernels), where
    /// `features` is `W`'s column count for inputs multiplied by `W` and its row count for
    /// outputs of `W` and gradients flowing back into them. The batch (and step) size is taken
    /// from the first dense operand.
    #[error(
        "{op}: operand `{operand}` has shape {got:?}, expected {expected:?} \
         (dense operands are [features, batch]; W is {w_rows} x {w_cols})"
    )]
    ShapeMismatch {
        /// The kernel, e.g. `"spmm"`.
        op: &'static str,
        /// The operand, as named in the kernel's signature, e.g. `"x"`.
        operand: &'static str,
        /// Expected shape.
        expected: Vec<usize>,
        /// Shape found.
        got: Vec<usize>,
        /// Rows of `W`.
        w_rows: usize,
        /// Columns of `W`.
        w_cols: usize,
    },
    /// A dense operand's rows are not contiguous (its last axis has a stride other than 1, e.g.
    /// a transposed view or a stepped slice). Call `.as_standard_layout()` (inputs) or copy into
    /// a standard-layout array first.
    #[error(
        "{op}: operand `{operand}` rows not contiguous: the last axis must have stride 1, \
         got strides {strides:?}"
    )]
    NotContiguous {
        /// The kernel.
        op: &'static str,
        /// The operand.
        operand: &'static str,
        /// The operand's strides, in elements.
        strides: Vec<isize>,
    },
    /// A flat buffer (a gradient aligned with the stored values) has the wrong length.
    #[error("{op}: `{operand}` has {got} elements, expected {expected}")]
    LengthMismatch {
        /// The kernel.
        op: &'static str,
        /// The buffer.
        operand: &'static str,
        /// Expected length (the matrix's `nnz`).
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A row id passed to an embedding kernel is not a row of the matrix.
    #[error("{op}: ids[{index}] = {id} is out of range for {rows} rows")]
    IdOutOfRange {
        /// The kernel.
        op: &'static str,
        /// Position in `ids`.
        index: usize,
        /// The id.
        id: u32,
        /// Rows of the matrix.
        rows: usize,
    },
}
