//! `MatrixView`: one sparse matrix and its aligned per-weight state, lent to a policy.

use set_sparse::SparseMatrix;

/// Computes the dense gradient of one row into a buffer of length `cols`.
pub type GradientRowFn<'a> = &'a (dyn Fn(usize, &mut [f32]) + Sync);

/// One sparse matrix and everything aligned with its values, lent to a policy for one step.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::MatrixView;
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut w = SparseMatrix::<f32>::random(8, 4, 10, &mut rng, |_| 0.5).unwrap();
/// let mut m1 = vec![0.0f32; 10];
/// let mut m2 = vec![0.0f32; 10];
/// let grad = |_row: usize, out: &mut [f32]| out.fill(1.0);
/// let view = MatrixView::new("lstm.w_ih", &mut w)
///     .with_state(&mut m1)
///     .with_momentum(&mut m2)
///     .with_gradient_row(&grad)
///     .with_row_groups(4);
/// assert_eq!(view.state.len(), 2);
/// assert_eq!(view.momentum, Some(1));
/// ```
pub struct MatrixView<'a> {
    /// Name used in reports, errors and the topology tracker; unique within a step.
    pub name: &'a str,
    /// The weights.
    pub matrix: &'a mut SparseMatrix<f32>,
    /// Per-weight buffers aligned with `matrix.values()` (optimizer moments, accumulated
    /// gradients...). After an edit every one is remapped: survivors keep their state, new
    /// entries start at 0.
    pub state: Vec<&'a mut Vec<f32>>,
    /// Index into `state` of the momentum buffer, if the optimizer has one (SNFS uses it).
    pub momentum: Option<usize>,
    /// Fills `out` (len = cols) with the dense gradient of row `r` for the most recent
    /// batch(es), computed on the fly by the model from cached activations; `None` if
    /// unavailable. RigL and SNFS regrowth call it once per row; no policy builds the full
    /// dense gradient matrix.
    pub gradient_row: Option<GradientRowFn<'a>>,
    /// Rows grouped into equal blocks for analytics (e.g. the 4 gates of a stacked LSTM
    /// matrix); 1 = none. Must divide `matrix.rows()`.
    pub row_groups: usize,
    /// Rows `0..frozen_rows` are outside the topology: no policy regrows into them (the
    /// embedding's padding row, whose dense export must stay zero). The skeleton refuses a
    /// plan that inserts there. 0 = none.
    pub frozen_rows: usize,
    /// Standard deviation of the matrix's initial distribution, for regrowth matched to it
    /// ([`crate::NewWeightInit::Matched`]); `None` when not lent.
    pub init_std: Option<f64>,
}

impl<'a> MatrixView<'a> {
    /// A view with no state, no momentum, no gradient and one row group.
    pub fn new(name: &'a str, matrix: &'a mut SparseMatrix<f32>) -> Self {
        MatrixView {
            name,
            matrix,
            state: Vec::new(),
            momentum: None,
            gradient_row: None,
            row_groups: 1,
            frozen_rows: 0,
            init_std: None,
        }
    }

    /// Adds a per-weight buffer to be remapped.
    pub fn with_state(mut self, buf: &'a mut Vec<f32>) -> Self {
        self.state.push(buf);
        self
    }

    /// Adds a per-weight buffer and marks it as the momentum.
    pub fn with_momentum(mut self, buf: &'a mut Vec<f32>) -> Self {
        self.momentum = Some(self.state.len());
        self.state.push(buf);
        self
    }

    /// Sets the row-gradient callback.
    pub fn with_gradient_row(mut self, f: GradientRowFn<'a>) -> Self {
        self.gradient_row = Some(f);
        self
    }

    /// Freezes rows `0..rows`: they receive no new entries (see [`MatrixView::frozen_rows`]).
    pub fn with_frozen_rows(mut self, rows: usize) -> Self {
        self.frozen_rows = rows;
        self
    }

    /// Sets the number of row groups.
    pub fn with_row_groups(mut self, groups: usize) -> Self {
        self.row_groups = groups;
        self
    }
}

impl MatrixView<'_> {
    /// Lends the standard deviation of the matrix's initial distribution (for
    /// [`crate::NewWeightInit::Matched`]).
    pub fn with_init_std(mut self, std: f64) -> Self {
        self.init_std = Some(std);
        self
    }
}

impl std::fmt::Debug for MatrixView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MatrixView")
            .field("name", &self.name)
            .field("shape", &self.matrix.shape())
            .field("nnz", &self.matrix.nnz())
            .field("state_buffers", &self.state.len())
            .field("momentum", &self.momentum)
            .field("gradient_row", &self.gradient_row.is_some())
            .field("row_groups", &self.row_groups)
            .field("frozen_rows", &self.frozen_rows)
            .field("init_std", &self.init_std)
            .finish()
    }
}
