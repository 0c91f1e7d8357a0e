//! [`Vocabulary`] and [`tokenize`]: the command line's tokenizer and vocabularies, for people
//! who prepare token ids themselves (`fit_tokens`).

use crate::errors::data_error;
use numpy::{IntoPyArray, PyArray1, PyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use set_train::set_data::Vocab;
use std::path::PathBuf;

/// Splits `text` into tokens exactly as `set-lstm` does before looking them up (lower case,
/// HTML line breaks removed, punctuation as tokens).
///
/// >>> set_lstm.tokenize("Loved it!")
/// ['loved', 'it', '!']
#[pyfunction]
pub fn tokenize(text: &str) -> Vec<String> {
    set_train::data::tokenizer().tokenize(text)
}

/// A vocabulary: tokens in id order, id 0 `<pad>`, id 1 `<unk>` (every unknown token).
#[pyclass(module = "set_lstm", frozen, eq)]
#[derive(Debug, Clone, PartialEq)]
pub struct Vocabulary {
    pub inner: Vocab,
}

/// Ids of `texts` as a padded `[n, width]` array (`width` = longest, at most `max_len`; longer
/// texts keep their last tokens, as the model does) and their lengths.
pub fn encode_padded<'py>(
    py: Python<'py>,
    vocab: &Vocab,
    texts: &[String],
    max_len: Option<usize>,
) -> (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray1<i64>>) {
    let tok = set_train::data::tokenizer();
    let ids: Vec<Vec<u32>> = py.detach(|| {
        texts
            .iter()
            .map(|t| {
                let mut ids = vocab.encode(&tok.tokenize(t));
                if let Some(m) = max_len
                    && ids.len() > m
                {
                    ids.drain(..ids.len() - m);
                }
                ids
            })
            .collect()
    });
    let width = ids.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = set_train::ndarray::Array2::<u32>::zeros((ids.len(), width));
    for (mut row, v) in out.outer_iter_mut().zip(&ids) {
        for (o, &x) in row.iter_mut().zip(v) {
            *o = x;
        }
    }
    let lengths: Vec<i64> = ids.iter().map(|v| v.len() as i64).collect();
    (out.into_pyarray(py), lengths.into_pyarray(py))
}

#[pymethods]
impl Vocabulary {
    /// A vocabulary from tokens in id order; `tokens[0]` must be `"<pad>"` and `tokens[1]`
    /// `"<unk>"`. Raises `ValueError` for duplicates, empty tokens or tokens with line breaks.
    #[new]
    fn new(tokens: Vec<String>) -> PyResult<Self> {
        Vocab::from_tokens(tokens)
            .map(|inner| Vocabulary { inner })
            .map_err(data_error)
    }

    /// The vocabulary `set-lstm train` would build from these training texts: the `max_size`
    /// most frequent tokens (ties in first-seen order, `<pad>` and `<unk>` included) that occur
    /// at least `min_count` times.
    #[staticmethod]
    #[pyo3(signature = (texts, max_size = 20_000, min_count = 1))]
    fn build(
        py: Python<'_>,
        texts: Vec<String>,
        max_size: usize,
        min_count: usize,
    ) -> PyResult<Self> {
        if max_size < 3 {
            return Err(PyValueError::new_err(format!(
                "invalid value {max_size} for `max_size`: expected an integer >= 3"
            )));
        }
        if min_count < 1 {
            return Err(PyValueError::new_err(format!(
                "invalid value {min_count} for `min_count`: expected an integer >= 1"
            )));
        }
        let inner = py.detach(|| {
            let tok = set_train::data::tokenizer();
            let tokens: Vec<Vec<String>> = texts.iter().map(|t| tok.tokenize(t)).collect();
            Vocab::build(tokens.iter(), max_size, min_count)
        });
        Ok(Vocabulary { inner })
    }

    /// Reads a `vocab.txt` (one token per line, as `set-lstm` writes it). `OSError` if it
    /// cannot be read, `ValueError` if it is not a vocabulary.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Vocab::load(&path)
            .map(|inner| Vocabulary { inner })
            .map_err(data_error)
    }

    /// Writes a `vocab.txt` (one token per line).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        self.inner.save(&path).map_err(data_error)
    }

    /// The tokens, in id order.
    #[getter]
    fn tokens(&self) -> Vec<String> {
        self.inner.tokens().to_vec()
    }

    /// The id of `token` (1, `<unk>`, when it is unknown).
    fn id(&self, token: &str) -> u32 {
        self.inner.id(token)
    }

    /// The token with id `id`, or `None`.
    fn token(&self, id: u32) -> Option<String> {
        self.inner.token(id).map(str::to_string)
    }

    /// Tokenises `text` and maps the tokens to ids (`uint32`, no truncation).
    fn encode<'py>(&self, py: Python<'py>, text: &str) -> Bound<'py, PyArray1<u32>> {
        self.inner
            .encode(&set_train::data::tokenizer().tokenize(text))
            .into_pyarray(py)
    }

    /// Encodes many texts: `(ids, lengths)`, `ids` a `uint32` array `[n, width]` padded with 0
    /// (`<pad>`), `width` the longest text or `max_len` (longer texts keep their last tokens, as
    /// the model does); `lengths` an `int64` array `[n]`. Ready for `fit_tokens`.
    #[pyo3(signature = (texts, max_len = None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        max_len: Option<usize>,
    ) -> (Bound<'py, PyArray2<u32>>, Bound<'py, PyArray1<i64>>) {
        encode_padded(py, &self.inner, &texts, max_len)
    }

    /// SHA-256 of the vocabulary file's bytes (hex).
    fn sha256(&self) -> String {
        self.inner.sha256()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, token: &str) -> bool {
        self.inner.id(token) != Vocab::UNK || token == "<unk>"
    }

    fn __getitem__(&self, token: &str) -> u32 {
        self.inner.id(token)
    }

    fn __repr__(&self) -> String {
        format!("Vocabulary({} tokens)", self.inner.len())
    }
}
