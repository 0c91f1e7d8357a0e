//! Typed errors of the neural-network layers: bad configuration, shape mismatches from outside
//! data, and numerical failures.

/// Errors from building, loading or training a model.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A hyper-parameter is outside its valid range.
    #[error("invalid configuration: {field} = {value} ({expected})")]
    Config {
        /// The configuration field.
        field: &'static str,
        /// Its value, printed.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A tensor from outside (checkpoint, import) has the wrong shape.
    #[error("tensor {name}: expected shape {expected:?}, got {got:?}")]
    Shape {
        /// Tensor name.
        name: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// Found shape.
        got: Vec<usize>,
    },
    /// A batch is malformed (token id out of range, bad length, label out of range).
    #[error("bad batch: {0}")]
    Batch(String),
    /// A loss or gradient became NaN or infinite.
    #[error("non-finite {what} in {tensor} at step {step}")]
    NonFinite {
        /// "loss", "gradient" or "weight".
        what: &'static str,
        /// The tensor's name (or "loss").
        tensor: String,
        /// The optimizer step.
        step: u64,
    },
    /// An evolution step was rejected (nothing was changed).
    #[error("evolution step: {0}")]
    Evolve(#[source] set_evolve::EvolveError),
    /// A sparse structure is invalid.
    #[error("tensor {name}: {source}")]
    Sparse {
        /// Tensor name.
        name: String,
        /// The structural problem.
        #[source]
        source: set_sparse::SparseError,
    },
    /// A tensor's size does not fit in `usize`.
    #[error("tensor {name}: shape {shape:?} has more entries than fit in memory")]
    TooLarge {
        /// Tensor name.
        name: String,
        /// The shape asked for.
        shape: Vec<usize>,
    },
}
