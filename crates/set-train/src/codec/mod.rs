//! Checkpoints and model files in safetensors format: a deterministic writer, and a reader that
//! validates every name, dtype, shape and length (with checked arithmetic, before allocating),
//! sparse structure (through `SparseMatrix::try_new`) and finiteness, with typed errors.
//!
//! Tensors: a dense matrix or vector `<name>` (F32); a sparse matrix `<name>.indptr` (I64,
//! `[rows + 1]`), `<name>.indices` (I32, `[nnz]`), `<name>.values` (F32, `[nnz]`), its shape in
//! the `sparse_shapes` metadata; optimizer buffers `optim.<param>.<buffer>` (F32, aligned with
//! the values); ever-active positions of the evolution tracker `evolve.tracker.<param>` (I64,
//! sorted flat positions), and its initial topology `evolve.initial.<param>` (same form; absent
//! in checkpoints written before it was kept). Metadata values are strings, JSON where structured.
//!
//! Format 2 (written now) records the [`crate::ModelSpec`] (`spec`), the
//! [`crate::TrainerConfig`] of checkpoints (`trainer`) and, optionally, the front end's own
//! settings (`front_end`). Format 1 files, which recorded the command line's configuration as
//! `config`, still load: the spec and trainer settings are read out of it.

mod checkpoint;
mod consistency;
mod model_file;
mod params;
mod tensors;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_counters;

pub(crate) use checkpoint::decode_state_in_transit;
pub use checkpoint::{decode_checkpoint, encode_checkpoint};
pub use model_file::{ModelBundle, Prediction, decode_model, encode_model};
pub use tensors::{OutTensor, TensorFile, encode_safetensors, read_bytes};

use safetensors::Dtype;
use set_nn::NnError;

/// `format` of a training checkpoint.
pub const CHECKPOINT_FORMAT: &str = "set-lstm-checkpoint";
/// `format` of a model file (final model, exports).
pub const MODEL_FORMAT: &str = "set-lstm-model";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// The oldest format version this build reads.
pub const OLDEST_VERSION: u32 = 1;
/// Largest file accepted (16 GiB): a sanity bound checked before reading.
pub const MAX_FILE_BYTES: u64 = 16 << 30;

/// Everything that can be wrong with a checkpoint or model file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// File path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("file is {bytes} bytes, larger than the accepted {MAX_FILE_BYTES}")]
    TooLarge {
        /// File size.
        bytes: u64,
    },
    /// Not a well-formed safetensors file (truncated, bad header, bad offsets...).
    #[error("not a valid safetensors file")]
    Format(#[from] safetensors::SafeTensorError),
    /// The header has no `__metadata__`.
    #[error("no __metadata__ in the header")]
    MissingMetadata,
    /// A metadata key is missing.
    #[error("metadata key `{0}` is missing")]
    MissingKey(String),
    /// A metadata key this format does not have (files are pure data: nothing in them is
    /// interpreted beyond the documented keys).
    #[error("unexpected metadata key `{0}`")]
    UnexpectedMetadata(String),
    /// A metadata value does not parse.
    #[error("metadata `{key}`: {message}")]
    BadMetadata {
        /// Key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The `format` is not the expected one.
    #[error("format is `{found}`, expected `{expected}`")]
    WrongFormat {
        /// Found.
        found: String,
        /// Expected.
        expected: &'static str,
    },
    /// Unsupported `version`.
    #[error(
        "format version {found} is not supported (this build reads versions {OLDEST_VERSION} to {VERSION})"
    )]
    Version {
        /// Found.
        found: String,
    },
    /// An expected tensor is absent.
    #[error("tensor `{0}` is missing")]
    MissingTensor(String),
    /// A tensor that the metadata does not account for.
    #[error("unexpected tensor `{0}`")]
    UnexpectedTensor(String),
    /// Wrong dtype.
    #[error("tensor `{name}`: dtype {found:?}, expected {expected:?}")]
    Dtype {
        /// Tensor.
        name: String,
        /// Found.
        found: Dtype,
        /// Expected.
        expected: Dtype,
    },
    /// Wrong shape.
    #[error("tensor `{name}`: shape {found:?}, expected {expected}")]
    Shape {
        /// Tensor.
        name: String,
        /// Found.
        found: Vec<usize>,
        /// Expected (described).
        expected: String,
    },
    /// A size computation overflowed.
    #[error("tensor `{name}`: size overflows")]
    Overflow {
        /// Tensor.
        name: String,
    },
    /// A NaN or infinity.
    #[error("tensor `{name}`: non-finite value {value} at index {index}")]
    NonFinite {
        /// Tensor.
        name: String,
        /// Flat index.
        index: usize,
        /// The value, printed.
        value: String,
    },
    /// An out-of-range integer (negative index, unsorted positions...).
    #[error("tensor `{name}`: {message}")]
    BadValue {
        /// Tensor.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Invalid CSR structure.
    #[error("tensor `{name}`: invalid sparse structure")]
    Sparse {
        /// Matrix name.
        name: String,
        /// The violation.
        #[source]
        source: set_sparse::SparseError,
    },
    /// The parameters do not form a model of the configuration.
    #[error("model does not match its configuration")]
    Model(#[source] Box<NnError>),
}

/// `Result` with [`CheckpointError`].
pub type CResult<T> = Result<T, CheckpointError>;

/// A [`CheckpointError::BadMetadata`].
pub(crate) fn bad_meta(key: &str, message: impl Into<String>) -> CheckpointError {
    CheckpointError::BadMetadata {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A [`CheckpointError::BadValue`].
pub(crate) fn bad(name: &str, message: String) -> CheckpointError {
    CheckpointError::BadValue {
        name: name.to_string(),
        message,
    }
}

/// JSON text of metadata.
pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable metadata")
}
