//! [`Model`]: a trained model (a `set-train` `ModelBundle`): probabilities of texts or token ids,
//! the CLI's model file both ways, parameter counts and the CSR weights as NumPy arrays.

use crate::errors::{ModelFileError, no_panic, train_error};
use crate::vocab::Vocabulary;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use set_train::set_data::{BatchConfig, EncodedExample};
use set_train::set_nn::ParamValue;
use set_train::{ModelBundle, ndarray::Array2};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Texts per batch at prediction time, as `set-lstm predict` uses.
pub const PREDICT_BATCH: usize = 64;

/// A trained SET-LSTM classifier: weights, vocabulary, class names and settings. Made by
/// `fit` or `Model.load`; the estimator `SETLSTMClassifier` holds one.
#[pyclass(module = "set_lstm", frozen)]
pub struct Model {
    pub bundle: ModelBundle,
    /// The prediction thread pool and its size, built on first use.
    pool: Mutex<Option<(usize, Arc<rayon::ThreadPool>)>>,
}

impl Model {
    pub fn new(bundle: ModelBundle) -> Self {
        Model {
            bundle,
            pool: Mutex::new(None),
        }
    }

    fn pool(&self, threads: usize) -> PyResult<Arc<rayon::ThreadPool>> {
        let mut guard = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, p)) = guard.as_ref()
            && *n == threads
        {
            return Ok(Arc::clone(p));
        }
        let p = Arc::new(
            set_train::set_nn::runtime::training_pool(threads)
                .map_err(|e| PyRuntimeError::new_err(format!("building the thread pool: {e}")))?,
        );
        *guard = Some((threads, Arc::clone(&p)));
        Ok(p)
    }

    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        rows: Vec<Vec<f64>>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let c = self.bundle.class_names.len();
        let n = rows.len();
        let flat: Vec<f64> = rows.into_iter().flatten().collect();
        let a = Array2::from_shape_vec((n, c), flat)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(a.into_pyarray(py))
    }
}

#[pymethods]
impl Model {
    /// Reads a model file (`model.safetensors` of a `set-lstm train` run, an `export`, or one
    /// saved from Python). Every value is checked: a missing, truncated or corrupt file raises
    /// `ModelFileError` (an `OSError`).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let bundle = py
            .detach(|| {
                std::panic::catch_unwind(|| ModelBundle::load(&path))
                    .map_err(|p| crate::errors::panic_text(&*p))
            })
            .map_err(|m| ModelFileError::new_err(format!("{}: {m}", path.display())))?
            .map_err(|e| ModelFileError::new_err(format!("{}: {e}", path.display())))?;
        Ok(Model::new(bundle))
    }

    /// Writes the model file atomically, in the format `set-lstm predict`, `eval` and `info`
    /// read. `ModelFileError` if it cannot be written.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.bundle.save(&path))
            .map_err(|e| ModelFileError::new_err(format!("{}: {e}", path.display())))
    }

    /// Class probabilities `[n, classes]` (`float64`, rows sum to 1) of `texts`, exactly as
    /// `set-lstm predict --json` computes them. Runs without the GIL on `threads` threads
    /// (0 = one per core; results do not depend on it).
    #[pyo3(signature = (texts, threads = 0))]
    fn predict_proba<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let pool = self.pool(threads)?;
        let rows = py.detach(|| {
            no_panic("predict", || {
                pool.install(|| self.bundle.predict(&texts, PREDICT_BATCH))
                    .map_err(train_error)
            })
        })?;
        self.probabilities(py, rows.into_iter().map(|p| p.probabilities).collect())
    }

    /// Class probabilities of token ids: `ids` is the concatenation of every example's ids
    /// (`uint32`), `offsets` (`int64`, `n + 1` entries) where each starts and ends. Texts longer
    /// than `max_len` keep their last tokens.
    #[pyo3(signature = (ids, offsets, threads = 0))]
    fn predict_proba_ids<'py>(
        &self,
        py: Python<'py>,
        ids: PyReadonlyArray1<'py, u32>,
        offsets: PyReadonlyArray1<'py, i64>,
        threads: usize,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let max = self.bundle.spec.max_len;
        let examples = split_ids(&ids, &offsets, self.bundle.vocab.len(), |i| {
            let mut v = i.to_vec();
            if v.len() > max {
                v.drain(..v.len() - max);
            }
            v
        })?;
        let pool = self.pool(threads)?;
        let cfg = BatchConfig {
            batch_size: PREDICT_BATCH,
            max_len: max,
            ..BatchConfig::default()
        };
        let logits = py.detach(|| {
            no_panic("predict", || {
                pool.install(|| set_train::eval::logits_all(&self.bundle.model, &examples, &cfg))
                    .map_err(train_error)
            })
        })?;
        if logits.iter().flatten().any(|x| !x.is_finite()) {
            return Err(crate::errors::TrainingDivergedError::new_err(
                "a non-finite logit: the model's weights overflow on this input",
            ));
        }
        self.probabilities(
            py,
            logits.iter().map(|l| set_train::eval::softmax(l)).collect(),
        )
    }

    /// Class names, one per class (their order is the column order of the probabilities).
    #[getter]
    fn class_names(&self) -> Vec<String> {
        self.bundle.class_names.clone()
    }

    /// The vocabulary.
    #[getter]
    fn vocabulary(&self) -> Vocabulary {
        Vocabulary {
            inner: self.bundle.vocab.clone(),
        }
    }

    /// The model's specification (sizes, sparsity, pooling, dropout) as JSON text.
    #[getter]
    fn spec_json(&self) -> PyResult<String> {
        serde_json::to_string(&self.bundle.spec).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// The settings the front end that trained it recorded (JSON text), or `None`.
    #[getter]
    fn front_end_json(&self) -> Option<String> {
        self.bundle.front_end.as_ref().map(|v| v.to_string())
    }

    /// Longest input in tokens (longer texts keep their last `max_len` tokens).
    #[getter]
    fn max_len(&self) -> usize {
        self.bundle.spec.max_len
    }

    /// Stored parameters, parameters of the dense model of the same shapes, their ratio,
    /// bytes of weights and structure, and the topology's SHA-256.
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let r = set_train::set_nn::model_report(&self.bundle.model, None);
        let d = PyDict::new(py);
        d.set_item("n_params", r.total_params)?;
        d.set_item("dense_params", r.dense_params)?;
        d.set_item("density", r.density)?;
        d.set_item("weight_bytes", r.weight_bytes)?;
        d.set_item(
            "topology_sha256",
            set_train::topology_sha256(&self.bundle.model),
        )?;
        Ok(d)
    }

    /// Every sparse (CSR) weight matrix: name -> `(indptr, indices, data, shape)`, with
    /// `indptr` `int64 [rows + 1]`, `indices` `int32 [nnz]` (sorted within each row), `data`
    /// `float32 [nnz]`; `scipy.sparse.csr_matrix((data, indices, indptr), shape)` takes them as
    /// they are. Dense matrices (the output layer by default) are in `dense_weights()`.
    fn sparse_weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for p in self.bundle.model.params() {
            if let ParamValue::Sparse(m) = &p.value {
                let indptr: Vec<i64> = m.indptr().iter().map(|&x| x as i64).collect();
                let indices: Vec<i32> = m.indices().iter().map(|&x| x as i32).collect();
                let data = m.values().to_vec();
                d.set_item(
                    &p.name,
                    (
                        indptr.into_pyarray(py),
                        indices.into_pyarray(py),
                        data.into_pyarray(py),
                        (m.rows(), m.cols()),
                    ),
                )?;
            }
        }
        Ok(d)
    }

    /// Every dense parameter (dense matrices and bias vectors): name -> `float32` array.
    fn dense_weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for p in self.bundle.model.params() {
            match &p.value {
                ParamValue::Dense(a) => d.set_item(&p.name, a.clone().into_pyarray(py))?,
                ParamValue::Vector(v) => d.set_item(&p.name, v.clone().into_pyarray(py))?,
                ParamValue::Sparse(_) => {}
            }
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.bundle.spec;
        format!(
            "Model(vocab={}, embed_dim={}, hidden={}, classes={:?})",
            s.vocab_size, s.embed_dim, s.hidden, self.bundle.class_names
        )
    }
}

/// Splits concatenated `ids` at `offsets` into examples, checking every id against `vocab_len`.
pub fn split_ids(
    ids: &PyReadonlyArray1<'_, u32>,
    offsets: &PyReadonlyArray1<'_, i64>,
    vocab_len: usize,
    mut each: impl FnMut(&[u32]) -> Vec<u32>,
) -> PyResult<Vec<EncodedExample>> {
    let ids = ids.as_slice()?;
    let offsets = offsets.as_slice()?;
    if offsets.first() != Some(&0) || offsets.last().copied() != Some(ids.len() as i64) {
        return Err(PyValueError::new_err(
            "offsets must start at 0 and end at the number of ids",
        ));
    }
    if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab_len) {
        return Err(PyValueError::new_err(format!(
            "token id {bad} is outside the vocabulary (ids 0..{vocab_len})"
        )));
    }
    offsets
        .windows(2)
        .map(|w| {
            if w[1] < w[0] {
                return Err(PyValueError::new_err("offsets must not decrease"));
            }
            Ok(EncodedExample {
                ids: each(&ids[w[0] as usize..w[1] as usize]),
                label: 0,
            })
        })
        .collect()
}
