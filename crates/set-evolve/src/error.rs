//! Typed errors for density allocation, schedules and evolution steps.

use set_sparse::SparseError;

/// Everything an allocation, a schedule or an evolution step can reject.
///
/// Every check that guards a topology change runs while the step is being planned, before any
/// matrix is touched: when a policy returns one of these, no matrix and no state buffer has
/// changed (the only exception is [`EvolveError::Sparse`] or [`EvolveError::NnzNotConserved`]
/// raised while applying, which would be a bug in this crate).
///
/// ```
/// use set_evolve::{EvolveContext, EvolveError};
/// let err = EvolveContext::new(0, 10, 1.5).unwrap_err();
/// assert_eq!(err, EvolveError::InvalidZeta { zeta: 1.5 });
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvolveError {
    /// The prune fraction is not a finite number in `[0, 1]`.
    #[error("prune fraction zeta = {zeta} is not in [0, 1]")]
    InvalidZeta {
        /// The value given.
        zeta: f64,
    },
    /// A density, epsilon, standard deviation or similar parameter is out of range.
    #[error("invalid {what}: {value} ({expected})")]
    InvalidParameter {
        /// Parameter name.
        what: &'static str,
        /// Value given.
        value: f64,
        /// What was expected.
        expected: &'static str,
    },
    /// Regrowth matched to a matrix's initial scale, for a matrix lent without that scale.
    #[error(
        "matrix `{matrix}`: matched new-weight initialisation needs the matrix's initial std (MatrixView::with_init_std)"
    )]
    MissingInitStd {
        /// Matrix name.
        matrix: String,
    },
    /// An evolution step was requested after the last epoch (see [`crate::should_evolve`]).
    #[error("no evolution after the last epoch: epoch {epoch} of {total_epochs}")]
    AfterLastEpoch {
        /// 0-based epoch.
        epoch: usize,
        /// Number of epochs.
        total_epochs: usize,
    },
    /// The number of non-zeros changed where it must be conserved (`scope` is a matrix name, or
    /// `"<total>"` for a policy that conserves only the sum over all matrices).
    #[error("nnz not conserved in {scope}: {before} before, {after} after")]
    NnzNotConserved {
        /// Matrix name or `"<total>"`.
        scope: String,
        /// Non-zeros before the step.
        before: usize,
        /// Non-zeros after the step (or planned after it).
        after: usize,
    },
    /// A policy with a per-matrix target (GMP) was handed a matrix it has no target for.
    #[error("matrix {matrix}: the policy has no final non-zero count for it")]
    MissingTarget {
        /// Matrix name.
        matrix: String,
    },
    /// A topology edit was rejected by `set-sparse`.
    #[error("matrix {matrix}: {source}")]
    Sparse {
        /// Matrix name.
        matrix: String,
        /// The underlying error.
        #[source]
        source: SparseError,
    },
    /// A per-weight state buffer is not aligned with the matrix values.
    #[error("matrix {matrix}: state buffer {buffer} has length {len}, but the matrix stores {nnz}")]
    StateLength {
        /// Matrix name.
        matrix: String,
        /// Index into `MatrixView::state`.
        buffer: usize,
        /// Its length.
        len: usize,
        /// `matrix.nnz()`.
        nnz: usize,
    },
    /// `MatrixView::momentum` points past the end of `MatrixView::state`.
    #[error("matrix {matrix}: momentum index {index} but only {buffers} state buffers")]
    MomentumIndex {
        /// Matrix name.
        matrix: String,
        /// The index given.
        index: usize,
        /// Number of state buffers.
        buffers: usize,
    },
    /// The policy needs a momentum buffer and the view has none.
    #[error("matrix {matrix}: policy {policy} needs a momentum buffer")]
    MissingMomentum {
        /// Matrix name.
        matrix: String,
        /// Policy name.
        policy: &'static str,
    },
    /// The policy needs `MatrixView::gradient_row` and the view has none.
    #[error("matrix {matrix}: policy {policy} needs gradient_row for regrowth")]
    MissingGradient {
        /// Matrix name.
        matrix: String,
        /// Policy name.
        policy: &'static str,
    },
    /// A weight, gradient or momentum value is NaN or infinite.
    #[error("matrix {matrix}: non-finite {what} {value} at row {row}, column {col}")]
    NonFinite {
        /// Matrix name.
        matrix: String,
        /// `"weight"`, `"gradient"` or `"momentum"`.
        what: &'static str,
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// `row_groups` is 0 or does not divide the number of rows.
    #[error("matrix {matrix}: {rows} rows cannot be split into {groups} equal row groups")]
    RowGroups {
        /// Matrix name.
        matrix: String,
        /// Rows of the matrix.
        rows: usize,
        /// Groups requested.
        groups: usize,
    },
    /// Two views in one step carry the same name.
    #[error("matrix name {name} appears twice in one evolution step")]
    DuplicateMatrix {
        /// The repeated name.
        name: String,
    },
    /// A matrix changed shape since the topology tracker first saw it.
    #[error("matrix {matrix}: shape {got:?} differs from the tracked shape {expected:?}")]
    ShapeChanged {
        /// Matrix name.
        matrix: String,
        /// Shape recorded by the tracker.
        expected: (usize, usize),
        /// Shape now.
        got: (usize, usize),
    },
    /// Fewer empty positions than connections to place.
    #[error("matrix {matrix}: need {needed} empty positions but only {available} exist")]
    NotEnoughEmpty {
        /// Matrix name.
        matrix: String,
        /// Positions requested.
        needed: u64,
        /// Empty positions available.
        available: u64,
    },
    /// A policy's plan does not fit the matrices (found before anything changed).
    #[error("matrix {matrix}: invalid plan: {reason}")]
    InvalidPlan {
        /// Matrix name (`<step>` for a plan of the wrong length).
        matrix: String,
        /// What is wrong.
        reason: String,
    },
}
