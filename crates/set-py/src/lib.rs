//! `set_lstm._native`: the Rust core of the `set_lstm` Python package. Thin classes over
//! `set-train` (a trained `model::Model`, a `vocab::Vocabulary`), training on a thread of its
//! own while the calling thread waits without the GIL and watches for Ctrl-C (`fit`), and one
//! mapping of every Rust error to a Python exception (`errors`). The scikit-learn style
//! estimator lives in `python/set_lstm/__init__.py` over these.

mod errors;
mod fit;
mod model;
mod settings;
mod vocab;

use pyo3::prelude::*;

/// The Rust core of `set_lstm` (use the `set_lstm` package, not this module).
#[pymodule(name = "_native")]
fn native_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<model::Model>()?;
    m.add_class::<vocab::Vocabulary>()?;
    m.add_function(wrap_pyfunction!(vocab::tokenize, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit_texts, m)?)?;
    m.add_function(wrap_pyfunction!(fit::fit_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(settings::check_settings, m)?)?;
    m.add_function(wrap_pyfunction!(settings::default_settings, m)?)?;
    m.add("ModelFileError", py.get_type::<errors::ModelFileError>())?;
    m.add(
        "TrainingDivergedError",
        py.get_type::<errors::TrainingDivergedError>(),
    )?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
