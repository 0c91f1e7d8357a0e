//! Every Rust error as a Python exception, in one place: settings and data are `ValueError`,
//! model files `ModelFileError` (an `OSError`), divergence `TrainingDivergedError` (a
//! `FloatingPointError`), and a Rust panic a `RuntimeError`, never a crash.

use pyo3::PyErr;
use pyo3::exceptions::{PyFloatingPointError, PyOSError, PyRuntimeError, PyValueError};
use set_train::TrainError;
use set_train::set_data::DataError;

pyo3::create_exception!(
    set_lstm,
    ModelFileError,
    PyOSError,
    "A model file that cannot be read, written or trusted (missing, truncated, corrupt, or not a set-lstm model)."
);
pyo3::create_exception!(
    set_lstm,
    TrainingDivergedError,
    PyFloatingPointError,
    "Training produced a NaN or infinite loss, gradient or weight (try a smaller `lr` or `clip`)."
);

/// The Python exception of a training, data or model-file error.
pub fn train_error(e: TrainError) -> PyErr {
    match e {
        TrainError::Setting(s) => PyValueError::new_err(s.to_string()),
        TrainError::NonFinite { .. } => TrainingDivergedError::new_err(e.to_string()),
        TrainError::Codec(c) => ModelFileError::new_err(c.to_string()),
        TrainError::Data(d) => data_error(d),
        TrainError::ThreadPool(_) | TrainError::Distributed(_) => {
            PyRuntimeError::new_err(e.to_string())
        }
        TrainError::Observer(inner) => PyRuntimeError::new_err(inner.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// Reading failures are `OSError`s; everything else about data is a `ValueError`.
pub fn data_error(e: DataError) -> PyErr {
    match e {
        DataError::Io { .. } | DataError::Read { .. } => PyOSError::new_err(e.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// Runs `f`, turning a Rust panic into a `RuntimeError`.
pub fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|p| {
        Err(PyRuntimeError::new_err(format!(
            "{what}: internal error: {}",
            panic_text(&*p)
        )))
    })
}

/// The message of a caught panic.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
