//! What a policy plans for one evolution step ([`StepPlan`]: per matrix, positions to remove and
//! to add) and what it needs from the matrices ([`PolicyNeeds`]).

/// What a policy needs from the views of a step; the shared skeleton
/// ([`crate::EvolutionPolicy::evolve`]) checks it before planning.
///
/// ```
/// use set_evolve::{EvolutionPolicy, PolicyNeeds, SnfsPolicy};
/// let needs = SnfsPolicy::default().needs();
/// assert_eq!(needs, PolicyNeeds { momentum: true, gradient_row: true, finite_values: true });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PolicyNeeds {
    /// Every view must carry a momentum buffer ([`crate::MatrixView::momentum`]).
    pub momentum: bool,
    /// Every view must carry a row-gradient callback ([`crate::MatrixView::gradient_row`]).
    pub gradient_row: bool,
    /// Weights (and the momentum buffer, when `momentum` is set) must be finite: the step is
    /// refused with [`crate::EvolveError::NonFinite`] on the first NaN or infinity, matrix by matrix.
    /// Off only for a policy that reads no value (the static baseline).
    pub finite_values: bool,
}

/// One matrix's planned edit, as returned by [`crate::EvolutionPolicy::plan`].
///
/// The skeleton checks it against the matrix before anything changes (removals sorted,
/// distinct and in range; inserts sorted by `(row, col)`, distinct, in shape, and each at an
/// empty position or one being removed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatrixPlan {
    /// Value positions (indices into `matrix.values()`) to remove, sorted ascending.
    pub remove: Vec<usize>,
    /// Positions `(row, col)` to insert, sorted by `(row, col)`.
    pub insert: Vec<(usize, usize)>,
    /// Mean |momentum| before the step, if the policy used it (reported as
    /// [`crate::MatrixReport::mean_abs_momentum`]).
    pub mean_abs_momentum: Option<f64>,
}

/// Which non-zero counts a step conserves; the skeleton refuses a plan that breaks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conservation {
    /// Every matrix keeps its nnz.
    #[default]
    PerMatrix,
    /// Only the sum over the matrices of the step is kept (sparse momentum's redistribution).
    Total,
    /// Non-zeros may only fall and nothing is added (gradual magnitude pruning).
    Shrink,
}

/// A whole step's plan: one [`MatrixPlan`] per view, in view order, and what it conserves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepPlan {
    /// One plan per matrix of the step, in the order of the views.
    pub matrices: Vec<MatrixPlan>,
    /// The conservation rule the plan follows.
    pub conservation: Conservation,
}
