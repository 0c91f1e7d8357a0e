//! Checkpoints and model files in safetensors format: a deterministic writer, and a reader that
//! validates every name, dtype, shape and length (with checked arithmetic, before allocating),
//! sparse structure (through `SparseMatrix::try_new`) and finiteness, with typed errors.
//!
//! Tensors: a dense matrix or vector `<name>` (F32); a sparse matrix `<name>.indptr` (I64,
//! `[rows + 1]`), `<name>.indices` (I32, `[nnz]`), `<name>.values` (F32, `[nnz]`), its shape in
//! the `sparse_shapes` metadata; optimizer buffers `optim.<param>.<buffer>` (F32, aligned with
//! the values); ever-active positions of the evolution tracker `evolve.tracker.<param>` (I64,
//! sorted flat positions). Metadata values are strings, JSON where structured.

use crate::config::TrainConfig;
use crate::data::FileDigest;
use ndarray::{Array1, Array2};
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use set_evolve::TopologyTracker;
use set_nn::{
    Classifier, ClassifierConfig, NnError, Optimizer, OptimizerConfig, Param, ParamValue, Storage,
};
use set_sparse::SparseMatrix;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `format` of a training checkpoint.
pub const CHECKPOINT_FORMAT: &str = "set-lstm-checkpoint";
/// `format` of a model file (final model, exports).
pub const MODEL_FORMAT: &str = "set-lstm-model";
/// The format version this build writes and reads.
pub const VERSION: u32 = 1;
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
    #[error("format version {found} is not supported (this build reads version {VERSION})")]
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
    Model(#[source] NnError),
}

type CResult<T> = Result<T, CheckpointError>;

// ---------------------------------------------------------------------------------------------
// Writing

/// One tensor to write.
#[derive(Debug, Clone)]
pub struct OutTensor {
    /// Name.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Little-endian bytes.
    pub data: Vec<u8>,
}

impl OutTensor {
    /// An F32 tensor.
    pub fn f32(name: impl Into<String>, shape: Vec<usize>, v: &[f32]) -> Self {
        OutTensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape,
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// An I64 tensor.
    pub fn i64(name: impl Into<String>, shape: Vec<usize>, v: impl Iterator<Item = i64>) -> Self {
        OutTensor {
            name: name.into(),
            dtype: Dtype::I64,
            shape,
            data: v.flat_map(i64::to_le_bytes).collect(),
        }
    }

    /// An I32 tensor.
    pub fn i32(name: impl Into<String>, shape: Vec<usize>, v: impl Iterator<Item = i32>) -> Self {
        OutTensor {
            name: name.into(),
            dtype: Dtype::I32,
            shape,
            data: v.flat_map(i32::to_le_bytes).collect(),
        }
    }
}

/// Serialises tensors and metadata to safetensors bytes, deterministically: header keys sorted,
/// tensors laid out by decreasing alignment then name (as the `safetensors` crate does), header
/// padded with spaces to a multiple of 8.
pub fn encode_safetensors(
    mut tensors: Vec<OutTensor>,
    metadata: &BTreeMap<String, String>,
) -> Vec<u8> {
    tensors.sort_by(|a, b| b.dtype.cmp(&a.dtype).then_with(|| a.name.cmp(&b.name)));
    let mut header = serde_json::Map::new();
    header.insert(
        "__metadata__".into(),
        serde_json::Value::Object(
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect(),
        ),
    );
    let mut offset = 0usize;
    for t in &tensors {
        let end = offset + t.data.len();
        header.insert(
            t.name.clone(),
            serde_json::json!({ "dtype": t.dtype, "shape": t.shape, "data_offsets": [offset, end] }),
        );
        offset = end;
    }
    let mut head = serde_json::to_string(&serde_json::Value::Object(header))
        .expect("JSON of strings and numbers");
    while !head.len().is_multiple_of(8) {
        head.push(' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + offset);
    out.extend((head.len() as u64).to_le_bytes());
    out.extend(head.as_bytes());
    for t in &tensors {
        out.extend(&t.data);
    }
    out
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable metadata")
}

fn sparse_name(name: &str, part: &str) -> String {
    format!("{name}.{part}")
}

/// The tensors of one parameter; records sparse shapes in `shapes`.
fn param_tensors(
    p: &Param<f32>,
    out: &mut Vec<OutTensor>,
    shapes: &mut BTreeMap<String, [usize; 2]>,
) {
    match &p.value {
        ParamValue::Sparse(m) => {
            shapes.insert(p.name.clone(), [m.rows(), m.cols()]);
            out.push(OutTensor::i64(
                sparse_name(&p.name, "indptr"),
                vec![m.rows() + 1],
                m.indptr().iter().map(|&x| x as i64),
            ));
            out.push(OutTensor::i32(
                sparse_name(&p.name, "indices"),
                vec![m.nnz()],
                m.indices().iter().map(|&x| x as i32),
            ));
            out.push(OutTensor::f32(
                sparse_name(&p.name, "values"),
                vec![m.nnz()],
                m.values(),
            ));
        }
        ParamValue::Dense(_) | ParamValue::Vector(_) => {
            out.push(OutTensor::f32(p.name.clone(), p.value.shape(), p.values()));
        }
    }
}

fn first_non_finite(name: &str, v: &[f32]) -> CResult<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(CheckpointError::NonFinite {
            name: name.to_string(),
            index,
            value: v[index].to_string(),
        }),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A parsed safetensors file whose tensors are checked as they are taken; [`TensorFile::finish`]
/// rejects tensors nobody asked for.
pub struct TensorFile<'a> {
    st: SafeTensors<'a>,
    metadata: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
    used_meta: RefCell<BTreeSet<String>>,
}

impl<'a> TensorFile<'a> {
    /// Parses the header (the `safetensors` crate checks offsets and lengths) and requires
    /// `__metadata__` with the given `format` and [`VERSION`].
    ///
    /// # Errors
    /// Any format problem.
    pub fn parse(bytes: &'a [u8], format: &'static str) -> CResult<Self> {
        let st = SafeTensors::deserialize(bytes)?;
        let (_, meta) = SafeTensors::read_metadata(bytes)?;
        let metadata: BTreeMap<String, String> = meta
            .metadata()
            .clone()
            .ok_or(CheckpointError::MissingMetadata)?
            .into_iter()
            .collect();
        let f = TensorFile {
            st,
            metadata,
            used: RefCell::new(BTreeSet::new()),
            used_meta: RefCell::new(BTreeSet::new()),
        };
        let found = f.meta("format")?;
        if found != format {
            return Err(CheckpointError::WrongFormat {
                found: found.to_string(),
                expected: format,
            });
        }
        let v = f.meta("version")?;
        if v != VERSION.to_string() {
            return Err(CheckpointError::Version {
                found: v.to_string(),
            });
        }
        Ok(f)
    }

    /// A metadata string.
    ///
    /// # Errors
    /// [`CheckpointError::MissingKey`].
    pub fn meta(&self, key: &str) -> CResult<&str> {
        let v = self
            .metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| CheckpointError::MissingKey(key.to_string()))?;
        self.used_meta.borrow_mut().insert(key.to_string());
        Ok(v)
    }

    /// A metadata value parsed as JSON.
    ///
    /// # Errors
    /// Missing or unparsable.
    pub fn meta_json<T: DeserializeOwned>(&self, key: &str) -> CResult<T> {
        serde_json::from_str(self.meta(key)?).map_err(|e| CheckpointError::BadMetadata {
            key: key.to_string(),
            message: e.to_string(),
        })
    }

    /// The shape of a tensor (marks nothing as used).
    ///
    /// # Errors
    /// [`CheckpointError::MissingTensor`].
    pub fn shape_of(&self, name: &str) -> CResult<Vec<usize>> {
        Ok(self
            .st
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor(name.to_string()))?
            .shape()
            .to_vec())
    }

    fn raw(&self, name: &str, dtype: Dtype, shape: &[usize]) -> CResult<&'a [u8]> {
        let t = self
            .st
            .tensor(name)
            .map_err(|_| CheckpointError::MissingTensor(name.to_string()))?;
        if t.dtype() != dtype {
            return Err(CheckpointError::Dtype {
                name: name.to_string(),
                found: t.dtype(),
                expected: dtype,
            });
        }
        if t.shape() != shape {
            return Err(CheckpointError::Shape {
                name: name.to_string(),
                found: t.shape().to_vec(),
                expected: format!("{shape:?}"),
            });
        }
        let len = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.bitsize() / 8))
            .ok_or_else(|| CheckpointError::Overflow {
                name: name.to_string(),
            })?;
        if t.data().len() != len {
            return Err(CheckpointError::Shape {
                name: name.to_string(),
                found: t.shape().to_vec(),
                expected: format!("{len} bytes of data"),
            });
        }
        self.used.borrow_mut().insert(name.to_string());
        Ok(t.data())
    }

    /// An F32 tensor of exactly `shape`, all values finite.
    ///
    /// # Errors
    /// Missing, wrong dtype or shape, or a non-finite value.
    pub fn f32(&self, name: &str, shape: &[usize]) -> CResult<Vec<f32>> {
        let raw = self.raw(name, Dtype::F32, shape)?;
        let v: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        first_non_finite(name, &v)?;
        Ok(v)
    }

    /// An I64 tensor of exactly `shape`.
    ///
    /// # Errors
    /// Missing, wrong dtype or shape.
    pub fn i64(&self, name: &str, shape: &[usize]) -> CResult<Vec<i64>> {
        let raw = self.raw(name, Dtype::I64, shape)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }

    /// An I32 tensor of exactly `shape`.
    ///
    /// # Errors
    /// Missing, wrong dtype or shape.
    pub fn i32(&self, name: &str, shape: &[usize]) -> CResult<Vec<i32>> {
        let raw = self.raw(name, Dtype::I32, shape)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// Rejects any tensor or metadata key that was not read.
    ///
    /// # Errors
    /// [`CheckpointError::UnexpectedTensor`], [`CheckpointError::UnexpectedMetadata`].
    pub fn finish(self) -> CResult<()> {
        let used_meta = self.used_meta.borrow();
        if let Some(k) = self.metadata.keys().find(|k| !used_meta.contains(*k)) {
            return Err(CheckpointError::UnexpectedMetadata(k.clone()));
        }
        let used = self.used.borrow();
        let mut names = self.st.names();
        names.sort();
        match names.into_iter().find(|n| !used.contains(*n)) {
            Some(n) => Err(CheckpointError::UnexpectedTensor(n.to_string())),
            None => Ok(()),
        }
    }
}

/// Names, shapes and storage of a model's parameters, from its configuration (checked sizes).
/// A parameter's name, shape and matrix storage (`None` for a vector).
type Expected = (&'static str, Vec<usize>, Option<Storage>);

fn expected_params(cfg: &ClassifierConfig) -> CResult<Vec<Expected>> {
    let over = || CheckpointError::BadMetadata {
        key: "model".into(),
        message: "dimensions overflow".into(),
    };
    let h4 = cfg.hidden.checked_mul(4).ok_or_else(over)?;
    for (a, b) in [
        (cfg.vocab_size, cfg.embed_dim),
        (h4, cfg.embed_dim),
        (h4, cfg.hidden),
        (cfg.classes, cfg.hidden),
    ] {
        a.checked_mul(b)
            .and_then(|n| n.checked_mul(4))
            .ok_or_else(over)?;
    }
    Ok(vec![
        (
            "embedding.weight",
            vec![cfg.vocab_size, cfg.embed_dim],
            Some(cfg.embedding),
        ),
        (
            "lstm.weight_ih_l0",
            vec![h4, cfg.embed_dim],
            Some(cfg.lstm_ih),
        ),
        ("lstm.weight_hh_l0", vec![h4, cfg.hidden], Some(cfg.lstm_hh)),
        ("lstm.bias_ih_l0", vec![h4], None),
        ("lstm.bias_hh_l0", vec![h4], None),
        ("fc.weight", vec![cfg.classes, cfg.hidden], Some(cfg.output)),
        ("fc.bias", vec![cfg.classes], None),
    ])
}

fn bad(name: &str, message: String) -> CheckpointError {
    CheckpointError::BadValue {
        name: name.to_string(),
        message,
    }
}

/// Largest vocabulary a file may declare (the `vocab_size` limit of training).
pub const MAX_VOCAB: usize = 1 << 24;
/// Most classes a file may declare (the `classes` limit of training).
pub const MAX_CLASSES: usize = 1_000;

/// Validates a model configuration read from a file, with the limits training itself enforces.
/// Dimensions are the only sizes of a model that are not backed by bytes of the file (a sparse
/// matrix's column count sizes its transposed index), so bounding them here, before any tensor is
/// read, is what keeps a hostile header from making the loader allocate more than a small
/// multiple of the file's length.
fn check_model_config(mcfg: &ClassifierConfig) -> CResult<()> {
    mcfg.validate().map_err(CheckpointError::Model)?;
    for (field, value, max) in [
        ("vocab_size", mcfg.vocab_size, MAX_VOCAB),
        ("embed_dim", mcfg.embed_dim, crate::config::MAX_WIDTH),
        ("hidden", mcfg.hidden, crate::config::MAX_WIDTH),
        ("classes", mcfg.classes, MAX_CLASSES),
    ] {
        if value > max {
            return Err(CheckpointError::BadMetadata {
                key: "model".into(),
                message: format!("`{field}` = {value} exceeds the limit {max}"),
            });
        }
    }
    Ok(())
}

/// Validates a training configuration read from a file (the checks of `config.toml`).
fn check_train_config(config: &TrainConfig) -> CResult<()> {
    config.validate().map_err(|e| CheckpointError::BadMetadata {
        key: "config".into(),
        message: e.to_string(),
    })
}

fn read_sparse(
    f: &TensorFile<'_>,
    name: &str,
    rows: usize,
    cols: usize,
) -> CResult<SparseMatrix<f32>> {
    let (ip, ix, vx) = (
        sparse_name(name, "indptr"),
        sparse_name(name, "indices"),
        sparse_name(name, "values"),
    );
    let nnz = match f.shape_of(&ix)?.as_slice() {
        &[n] => n,
        other => {
            return Err(CheckpointError::Shape {
                name: ix,
                found: other.to_vec(),
                expected: "[nnz]".into(),
            });
        }
    };
    let cap = rows
        .checked_mul(cols)
        .ok_or_else(|| CheckpointError::Overflow {
            name: name.to_string(),
        })?;
    if nnz > cap || nnz as u64 > set_sparse::MAX_INDEX {
        return Err(bad(
            &ix,
            format!("{nnz} entries do not fit a {rows} x {cols} matrix"),
        ));
    }
    let rows1 = rows
        .checked_add(1)
        .ok_or_else(|| CheckpointError::Overflow { name: ip.clone() })?;
    let indptr = f
        .i64(&ip, &[rows1])?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            usize::try_from(v)
                .ok()
                .filter(|&u| u <= nnz)
                .ok_or_else(|| bad(&ip, format!("entry {i} = {v} is outside 0..={nnz}")))
        })
        .collect::<CResult<Vec<usize>>>()?;
    let indices = f
        .i32(&ix, &[nnz])?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            u32::try_from(v).map_err(|_| bad(&ix, format!("entry {i} = {v} is negative")))
        })
        .collect::<CResult<Vec<u32>>>()?;
    let values = f.f32(&vx, &[nnz])?;
    SparseMatrix::try_new(rows, cols, indptr, indices, values).map_err(|source| {
        CheckpointError::Sparse {
            name: name.to_string(),
            source,
        }
    })
}

/// Reads and checks the parameters of a model with configuration `cfg`.
fn read_params(f: &TensorFile<'_>, cfg: &ClassifierConfig) -> CResult<Vec<Param<f32>>> {
    let shapes: BTreeMap<String, [usize; 2]> = f.meta_json("sparse_shapes")?;
    let mut params = Vec::with_capacity(7);
    for (name, shape, storage) in expected_params(cfg)? {
        let value = match storage {
            Some(Storage::Sparse { .. }) => {
                let (r, c) = (shape[0], shape[1]);
                match shapes.get(name) {
                    Some(&[sr, sc]) if (sr, sc) == (r, c) => {}
                    other => {
                        return Err(CheckpointError::BadMetadata {
                            key: "sparse_shapes".into(),
                            message: format!("`{name}`: {other:?}, expected [{r}, {c}]"),
                        });
                    }
                }
                ParamValue::Sparse(read_sparse(f, name, r, c)?)
            }
            Some(Storage::Dense) => {
                let v = f.f32(name, &shape)?;
                ParamValue::Dense(
                    Array2::from_shape_vec((shape[0], shape[1]), v).expect("length checked"),
                )
            }
            None => ParamValue::Vector(Array1::from_vec(f.f32(name, &shape)?)),
        };
        params.push(Param::new(name, value));
    }
    if let Some(extra) = shapes.keys().find(|k| {
        !params
            .iter()
            .any(|p| p.name == **k && p.value.as_sparse().is_some())
    }) {
        return Err(CheckpointError::BadMetadata {
            key: "sparse_shapes".into(),
            message: format!("`{extra}` is not a sparse parameter"),
        });
    }
    Ok(params)
}

/// Reads a whole file after checking its size.
///
/// # Errors
/// [`CheckpointError::Io`] or [`CheckpointError::TooLarge`].
pub fn read_bytes(path: &Path) -> CResult<Vec<u8>> {
    let io = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(CheckpointError::TooLarge { bytes: len });
    }
    std::fs::read(path).map_err(io)
}

// ---------------------------------------------------------------------------------------------
// Model files

/// A trained model with everything needed to use it.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    /// The training configuration.
    pub config: TrainConfig,
    /// The model.
    pub model: Classifier<f32>,
    /// Vocabulary, in id order.
    pub vocab: set_data::Vocab,
    /// Class names.
    pub class_names: Vec<String>,
}

/// Serialises a model file (`model.safetensors`, or an export).
pub fn encode_model(b: &ModelBundle) -> CResult<Vec<u8>> {
    let mut tensors = Vec::new();
    let mut shapes = BTreeMap::new();
    for p in b.model.params() {
        first_non_finite(&p.name, p.values())?;
        param_tensors(p, &mut tensors, &mut shapes);
    }
    let layout = if shapes.is_empty() { "dense" } else { "sparse" };
    let meta = BTreeMap::from([
        ("format".to_string(), MODEL_FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("layout".to_string(), layout.to_string()),
        ("config".to_string(), json(&b.config)),
        ("model".to_string(), json(&b.model.config)),
        ("class_names".to_string(), json(&b.class_names)),
        ("vocab".to_string(), json(&b.vocab.tokens())),
        (
            "vocab_sha256".to_string(),
            crate::data::vocab_sha256(&b.vocab),
        ),
        ("sparse_shapes".to_string(), json(&shapes)),
    ]);
    Ok(encode_safetensors(tensors, &meta))
}

/// The metadata every model file and checkpoint carries: the training configuration, the model
/// configuration and one class name per class, each validated.
fn read_configs(f: &TensorFile<'_>) -> CResult<(TrainConfig, ClassifierConfig, Vec<String>)> {
    let config: TrainConfig = f.meta_json("config")?;
    check_train_config(&config)?;
    let mcfg: ClassifierConfig = f.meta_json("model")?;
    check_model_config(&mcfg)?;
    let class_names: Vec<String> = f.meta_json("class_names")?;
    if class_names.len() != mcfg.classes {
        return Err(CheckpointError::BadMetadata {
            key: "class_names".into(),
            message: format!("{} names for {} classes", class_names.len(), mcfg.classes),
        });
    }
    Ok((config, mcfg, class_names))
}

/// Parses and validates a model file.
///
/// # Errors
/// Any problem, typed.
pub fn decode_model(bytes: &[u8]) -> CResult<ModelBundle> {
    let f = TensorFile::parse(bytes, MODEL_FORMAT)?;
    let (config, mcfg, class_names) = read_configs(&f)?;
    let tokens: Vec<String> = f.meta_json("vocab")?;
    let vocab = set_data::Vocab::from_tokens(tokens).map_err(|e| CheckpointError::BadMetadata {
        key: "vocab".into(),
        message: e.to_string(),
    })?;
    if vocab.len() != mcfg.vocab_size {
        return Err(CheckpointError::BadMetadata {
            key: "vocab".into(),
            message: format!("{} tokens for vocab_size {}", vocab.len(), mcfg.vocab_size),
        });
    }
    if crate::data::vocab_sha256(&vocab) != f.meta("vocab_sha256")? {
        return Err(CheckpointError::BadMetadata {
            key: "vocab_sha256".into(),
            message: "does not match the vocabulary".into(),
        });
    }
    let params = read_params(&f, &mcfg)?;
    let layout = f.meta("layout")?;
    let sparse = params.iter().any(|p| p.value.as_sparse().is_some());
    let expected = if sparse { "sparse" } else { "dense" };
    if layout != expected {
        return Err(CheckpointError::BadMetadata {
            key: "layout".into(),
            message: format!("`{layout}`, but the tensors are {expected}"),
        });
    }
    f.finish()?;
    let model = Classifier::from_params(mcfg, params).map_err(CheckpointError::Model)?;
    Ok(ModelBundle {
        config,
        model,
        vocab,
        class_names,
    })
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// Position of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Current epoch (0-based); equals `epochs` when the run is finished.
    pub epoch: usize,
    /// Batches of `epoch` already trained.
    pub step_in_epoch: usize,
    /// Optimizer steps taken.
    pub global_step: u64,
    /// Evolution steps taken.
    pub evolution_steps: u64,
}

/// Running statistics needed to continue a run exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// `f64` bits of the sum of `loss * batch` over the current epoch.
    pub loss_sum_bits: u64,
    /// Correct training predictions in the current epoch.
    pub correct: u64,
    /// Training examples seen in the current epoch.
    pub examples: u64,
    /// Wall time of the current epoch so far (ms).
    pub epoch_ms: u64,
    /// Wall time of training so far (ms).
    pub train_ms: u64,
    /// `f64` bits of the best dev accuracy so far.
    pub best_dev_accuracy_bits: Option<u64>,
    /// Epoch (1-based) of the best dev accuracy.
    pub best_dev_epoch: Option<usize>,
    /// Bytes of `metrics.csv` at the checkpoint.
    pub metrics_bytes: u64,
    /// Bytes of `events.jsonl` at the checkpoint.
    pub events_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimMeta {
    config: OptimizerConfig,
    steps: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvolutionMeta {
    policy: String,
    tracked: BTreeMap<String, [usize; 2]>,
}

/// The complete state of a training run.
#[derive(Debug, Clone)]
pub struct TrainingState {
    /// Configuration.
    pub config: TrainConfig,
    /// Class names.
    pub class_names: Vec<String>,
    /// Model (its `config` is the model configuration).
    pub model: Classifier<f32>,
    /// Optimizer with state.
    pub optimizer: Optimizer<f32>,
    /// Counters.
    pub counters: Counters,
    /// Running statistics.
    pub progress: Progress,
    /// Evolution policy name.
    pub policy: String,
    /// Positions ever active.
    pub tracker: TopologyTracker,
    /// SHA-256 of the vocabulary file.
    pub vocab_sha256: String,
    /// Data files and digests.
    pub datasets: Vec<FileDigest>,
}

/// Serialises a checkpoint.
///
/// # Errors
/// [`CheckpointError::NonFinite`] if a weight or optimizer value is NaN or infinite: a
/// checkpoint with non-finite values is never written.
pub fn encode_checkpoint(s: &TrainingState) -> CResult<Vec<u8>> {
    let mut tensors = Vec::new();
    let mut shapes = BTreeMap::new();
    let names = s.optimizer.config.state_names();
    let params = s.model.params();
    if s.optimizer.state.len() != params.len() {
        return Err(CheckpointError::BadMetadata {
            key: "optimizer".into(),
            message: "state does not match the parameters".into(),
        });
    }
    for (p, st) in params.iter().zip(&s.optimizer.state) {
        first_non_finite(&p.name, p.values())?;
        param_tensors(p, &mut tensors, &mut shapes);
        for (buf, bname) in st.iter().zip(names) {
            let tname = format!("optim.{}.{bname}", p.name);
            first_non_finite(&tname, buf)?;
            tensors.push(OutTensor::f32(tname, vec![buf.len()], buf));
        }
    }
    let mut tracked = BTreeMap::new();
    for name in s.tracker.names() {
        let t = s.tracker.get(name).expect("listed");
        tracked.insert(name.to_string(), [t.shape.0, t.shape.1]);
        tensors.push(OutTensor::i64(
            format!("evolve.tracker.{name}"),
            vec![t.ever_active.len()],
            t.ever_active.iter().map(|&x| x as i64),
        ));
    }
    let meta = BTreeMap::from([
        ("format".to_string(), CHECKPOINT_FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("config".to_string(), json(&s.config)),
        ("model".to_string(), json(&s.model.config)),
        ("class_names".to_string(), json(&s.class_names)),
        ("counters".to_string(), json(&s.counters)),
        ("progress".to_string(), json(&s.progress)),
        (
            "optimizer".to_string(),
            json(&OptimMeta {
                config: s.optimizer.config,
                steps: s.optimizer.steps,
            }),
        ),
        (
            "evolution".to_string(),
            json(&EvolutionMeta {
                policy: s.policy.clone(),
                tracked,
            }),
        ),
        ("vocab_sha256".to_string(), s.vocab_sha256.clone()),
        ("datasets".to_string(), json(&s.datasets)),
        ("sparse_shapes".to_string(), json(&shapes)),
    ]);
    Ok(encode_safetensors(tensors, &meta))
}

/// Parses and validates a checkpoint.
///
/// # Errors
/// Any problem, typed.
pub fn decode_checkpoint(bytes: &[u8]) -> CResult<TrainingState> {
    let f = TensorFile::parse(bytes, CHECKPOINT_FORMAT)?;
    let (config, mcfg, class_names) = read_configs(&f)?;
    let counters: Counters = f.meta_json("counters")?;
    let progress: Progress = f.meta_json("progress")?;
    for (what, bits) in [
        ("loss_sum_bits", Some(progress.loss_sum_bits)),
        ("best_dev_accuracy_bits", progress.best_dev_accuracy_bits),
    ] {
        if let Some(b) = bits
            && !f64::from_bits(b).is_finite()
        {
            return Err(CheckpointError::BadMetadata {
                key: "progress".into(),
                message: format!("`{what}` is the non-finite {}", f64::from_bits(b)),
            });
        }
    }
    let om: OptimMeta = f.meta_json("optimizer")?;
    if om.config != config.optimizer_config() {
        return Err(CheckpointError::BadMetadata {
            key: "optimizer".into(),
            message: "differs from the optimizer of the configuration".into(),
        });
    }
    let em: EvolutionMeta = f.meta_json("evolution")?;
    let vocab_sha256 = f.meta("vocab_sha256")?.to_string();
    let datasets: Vec<FileDigest> = f.meta_json("datasets")?;
    let params = read_params(&f, &mcfg)?;
    let mut state = Vec::with_capacity(params.len());
    for p in &params {
        let mut bufs = Vec::new();
        for bname in om.config.state_names() {
            bufs.push(f.f32(&format!("optim.{}.{bname}", p.name), &[p.values().len()])?);
        }
        state.push(bufs);
    }
    let mut tracker = TopologyTracker::new();
    for (name, [r, c]) in &em.tracked {
        let Some(p) = params
            .iter()
            .find(|p| p.name == *name && p.value.as_sparse().is_some())
        else {
            return Err(CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: format!("`{name}` is not a sparse parameter"),
            });
        };
        if p.value.shape() != [*r, *c] {
            return Err(CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: format!("`{name}`: shape [{r}, {c}] differs from the parameter's"),
            });
        }
        let tname = format!("evolve.tracker.{name}");
        let n = match f.shape_of(&tname)?.as_slice() {
            &[n] => n,
            other => {
                return Err(CheckpointError::Shape {
                    name: tname,
                    found: other.to_vec(),
                    expected: "[count]".into(),
                });
            }
        };
        let cap = (*r as u64)
            .checked_mul(*c as u64)
            .ok_or_else(|| CheckpointError::Overflow {
                name: tname.clone(),
            })?;
        if n as u64 > cap {
            return Err(bad(
                &tname,
                format!("{n} positions exceed the {cap} of the matrix"),
            ));
        }
        let raw = f.i64(&tname, &[n])?;
        let mut flat = Vec::with_capacity(n);
        for (i, &v) in raw.iter().enumerate() {
            let u = u64::try_from(v)
                .ok()
                .filter(|&u| u < cap)
                .ok_or_else(|| bad(&tname, format!("entry {i} = {v} is outside 0..{cap}")))?;
            if flat.last().is_some_and(|&l| l >= u) {
                return Err(bad(
                    &tname,
                    format!("entry {i} = {v} is not strictly increasing"),
                ));
            }
            flat.push(u);
        }
        tracker
            .record(name, (*r, *c), &flat)
            .map_err(|e| CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: e.to_string(),
            })?;
    }
    f.finish()?;
    let model = Classifier::from_params(mcfg, params).map_err(CheckpointError::Model)?;
    let optimizer = Optimizer {
        config: om.config,
        state,
        steps: om.steps,
    };
    if counters.epoch > config.epochs {
        return Err(CheckpointError::BadMetadata {
            key: "counters".into(),
            message: format!(
                "epoch {} beyond the {} epochs of the run",
                counters.epoch, config.epochs
            ),
        });
    }
    Ok(TrainingState {
        config,
        class_names,
        model,
        optimizer,
        counters,
        progress,
        policy: em.policy,
        tracker,
        vocab_sha256,
        datasets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Settings, TrainConfig, compiled_data_dir};
    use rand::SeedableRng;

    fn state() -> TrainingState {
        let config = TrainConfig::resolve(Settings {
            data_dir: Some(compiled_data_dir()),
            embed_dim: Some(4),
            hidden: Some(3),
            ..Settings::default()
        })
        .unwrap();
        let mcfg = ClassifierConfig {
            vocab_size: 12,
            embed_dim: 4,
            hidden: 3,
            classes: 2,
            embedding: Storage::Sparse { density: 0.3 },
            lstm_ih: Storage::Sparse { density: 0.4 },
            lstm_hh: Storage::Sparse { density: 0.4 },
            output: Storage::Dense,
            pooling: set_nn::Pooling::Mean,
            dropout_embed: 0.1,
            dropout_output: 0.1,
            activation: set_nn::ActivationMode::Fast,
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let model = Classifier::<f32>::new(mcfg, &mut rng).unwrap();
        let mut optimizer = Optimizer::new(config.optimizer_config(), model.params());
        optimizer.steps = 5;
        for (i, b) in optimizer.state.iter_mut().flatten().enumerate() {
            b.iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = (i * 7 + k) as f32 * 0.01);
        }
        let mut tracker = TopologyTracker::new();
        if let ParamValue::Sparse(m) = &model.embedding.value {
            tracker.observe("embedding.weight", m).unwrap();
        }
        TrainingState {
            config,
            class_names: vec!["negative".into(), "positive".into()],
            model,
            optimizer,
            counters: Counters {
                epoch: 1,
                step_in_epoch: 2,
                global_step: 9,
                evolution_steps: 1,
            },
            progress: Progress {
                loss_sum_bits: 1.5f64.to_bits(),
                correct: 3,
                examples: 6,
                ..Progress::default()
            },
            policy: "set".into(),
            tracker,
            vocab_sha256: "ab".repeat(32),
            datasets: vec![],
        }
    }

    #[test]
    fn checkpoint_round_trips_exactly() {
        let s = state();
        let bytes = encode_checkpoint(&s).unwrap();
        let back = decode_checkpoint(&bytes).unwrap();
        assert_eq!(encode_checkpoint(&back).unwrap(), bytes);
        assert_eq!(back.counters, s.counters);
        assert_eq!(back.progress, s.progress);
        assert_eq!(back.tracker, s.tracker);
        assert_eq!(back.optimizer.state, s.optimizer.state);
        // Also readable by the safetensors crate with the documented names.
        let st = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(
            st.tensor("lstm.weight_ih_l0.indptr").unwrap().dtype(),
            Dtype::I64
        );
        assert_eq!(st.tensor("fc.weight").unwrap().shape(), &[2, 3]);
        assert!(st.tensor("optim.fc.bias.exp_avg_sq").is_ok());
    }

    #[test]
    fn every_prefix_is_rejected() {
        let bytes = encode_checkpoint(&state()).unwrap();
        for n in 0..bytes.len() {
            assert!(
                decode_checkpoint(&bytes[..n]).is_err(),
                "prefix of {n} bytes accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode_checkpoint(&longer),
            Err(CheckpointError::Format(_))
        ));
    }

    /// Rewrites one tensor of a valid checkpoint.
    fn with_tensor(bytes: &[u8], name: &str, f: impl Fn(&mut OutTensor)) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
        let meta: BTreeMap<String, String> = meta.metadata().clone().unwrap().into_iter().collect();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                let mut t = OutTensor {
                    name: n.clone(),
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data().to_vec(),
                };
                if n == name {
                    f(&mut t);
                }
                t
            })
            .collect();
        encode_safetensors(tensors, &meta)
    }

    fn with_meta(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
        let mut meta: BTreeMap<String, String> =
            meta.metadata().clone().unwrap().into_iter().collect();
        match value {
            Some(v) => meta.insert(key.into(), v.into()),
            None => meta.remove(key),
        };
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(n, v)| OutTensor {
                name: n,
                dtype: v.dtype(),
                shape: v.shape().to_vec(),
                data: v.data().to_vec(),
            })
            .collect();
        encode_safetensors(tensors, &meta)
    }

    #[test]
    fn corruptions_are_typed_errors() {
        let good = encode_checkpoint(&state()).unwrap();
        let nan = with_tensor(&good, "fc.weight", |t| {
            t.data[0..4].copy_from_slice(&f32::NAN.to_le_bytes())
        });
        assert!(
            matches!(decode_checkpoint(&nan), Err(CheckpointError::NonFinite { name, index: 0, .. }) if name == "fc.weight")
        );
        let inf = with_tensor(&good, "optim.lstm.bias_ih_l0.exp_avg", |t| {
            t.data[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes())
        });
        assert!(matches!(
            decode_checkpoint(&inf),
            Err(CheckpointError::NonFinite { index: 1, .. })
        ));
        let dtype = with_tensor(&good, "fc.bias", |t| t.dtype = Dtype::I32);
        assert!(matches!(
            decode_checkpoint(&dtype),
            Err(CheckpointError::Dtype { .. })
        ));
        let shape = with_tensor(&good, "fc.weight", |t| t.shape = vec![3, 2]);
        assert!(matches!(
            decode_checkpoint(&shape),
            Err(CheckpointError::Shape { .. })
        ));
        let unsorted = with_tensor(&good, "lstm.weight_hh_l0.indices", |t| {
            let (a, b) = (t.data[0..4].to_vec(), t.data[4..8].to_vec());
            t.data[0..4].copy_from_slice(&b);
            t.data[4..8].copy_from_slice(&a);
        });
        assert!(matches!(
            decode_checkpoint(&unsorted),
            Err(CheckpointError::Sparse { .. })
        ));
        let negative = with_tensor(&good, "embedding.weight.indices", |t| {
            t.data[0..4].copy_from_slice(&(-1i32).to_le_bytes())
        });
        assert!(matches!(
            decode_checkpoint(&negative),
            Err(CheckpointError::BadValue { .. })
        ));
        let indptr = with_tensor(&good, "embedding.weight.indptr", |t| {
            t.data[8..16].copy_from_slice(&(1i64 << 40).to_le_bytes())
        });
        assert!(matches!(
            decode_checkpoint(&indptr),
            Err(CheckpointError::BadValue { .. })
        ));
        let huge = with_tensor(&good, "evolve.tracker.embedding.weight", |t| {
            t.data[0..8].copy_from_slice(&i64::MAX.to_le_bytes())
        });
        assert!(matches!(
            decode_checkpoint(&huge),
            Err(CheckpointError::BadValue { .. })
        ));
        let extra = {
            let st = SafeTensors::deserialize(&good).unwrap();
            let (_, meta) = SafeTensors::read_metadata(&good).unwrap();
            let meta: BTreeMap<String, String> =
                meta.metadata().clone().unwrap().into_iter().collect();
            let mut t: Vec<OutTensor> = st
                .tensors()
                .into_iter()
                .map(|(n, v)| OutTensor {
                    name: n,
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data().to_vec(),
                })
                .collect();
            t.push(OutTensor::f32("bogus", vec![1], &[1.0]));
            encode_safetensors(t, &meta)
        };
        assert!(
            matches!(decode_checkpoint(&extra), Err(CheckpointError::UnexpectedTensor(n)) if n == "bogus")
        );
        let missing = {
            let st = SafeTensors::deserialize(&good).unwrap();
            let (_, meta) = SafeTensors::read_metadata(&good).unwrap();
            let meta: BTreeMap<String, String> =
                meta.metadata().clone().unwrap().into_iter().collect();
            let t = st
                .tensors()
                .into_iter()
                .filter(|(n, _)| n != "fc.bias")
                .map(|(n, v)| OutTensor {
                    name: n,
                    dtype: v.dtype(),
                    shape: v.shape().to_vec(),
                    data: v.data().to_vec(),
                })
                .collect();
            encode_safetensors(t, &meta)
        };
        assert!(
            matches!(decode_checkpoint(&missing), Err(CheckpointError::MissingTensor(n)) if n == "fc.bias")
        );
        assert!(matches!(
            decode_checkpoint(&with_meta(&good, "version", Some("2"))),
            Err(CheckpointError::Version { .. })
        ));
        assert!(matches!(
            decode_checkpoint(&with_meta(&good, "format", Some("x"))),
            Err(CheckpointError::WrongFormat { .. })
        ));
        assert!(
            matches!(decode_checkpoint(&with_meta(&good, "counters", None)), Err(CheckpointError::MissingKey(k)) if k == "counters")
        );
        assert!(matches!(
            decode_checkpoint(&with_meta(&good, "counters", Some("{\"epoch\": -1}"))),
            Err(CheckpointError::BadMetadata { .. })
        ));
        assert!(matches!(
            decode_checkpoint(&with_meta(&good, "model", Some("{}"))),
            Err(CheckpointError::BadMetadata { .. })
        ));
        // A model file is not a checkpoint and vice versa.
        assert!(matches!(
            decode_model(&good),
            Err(CheckpointError::WrongFormat { .. })
        ));
        // Garbage header.
        let mut garbage = good.clone();
        garbage[10] = b'!';
        assert!(decode_checkpoint(&garbage).is_err());
    }

    #[test]
    fn metadata_must_be_known_consistent_and_within_limits() {
        let good = encode_checkpoint(&state()).unwrap();
        let bad_key = |bytes: &[u8], key: &str| matches!(decode_checkpoint(bytes), Err(CheckpointError::BadMetadata { key: k, .. }) if k == key);
        let meta: BTreeMap<String, String> = {
            let (_, m) = SafeTensors::read_metadata(&good).unwrap();
            m.metadata().clone().unwrap().into_iter().collect()
        };
        let edit = |key: &str, f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
            f(&mut v);
            with_meta(&good, key, Some(&v.to_string()))
        };
        // The optimizer must be the one the configuration describes.
        assert!(bad_key(
            &edit("optimizer", &|v| v["config"]["lr"] = 0.5.into()),
            "optimizer"
        ));
        // The configuration passes the checks of config.toml.
        assert!(bad_key(
            &edit("config", &|v| v["epochs"] = 0.into()),
            "config"
        ));
        // Dimensions within the limits of training, checked before any tensor is read.
        for (field, value) in [
            ("embed_dim", 1u64 << 20),
            ("hidden", 1 << 20),
            ("vocab_size", 1 << 30),
            ("classes", 5000),
        ] {
            assert!(
                bad_key(&edit("model", &|v| v[field] = value.into()), "model"),
                "{field}"
            );
        }
        // Running sums are finite.
        let nan = f64::NAN.to_bits();
        assert!(bad_key(
            &edit("progress", &|v| v["loss_sum_bits"] = nan.into()),
            "progress"
        ));
        // Every metadata key is known.
        assert!(matches!(
            decode_checkpoint(&with_meta(&good, "hook", Some("x"))),
            Err(CheckpointError::UnexpectedMetadata(k)) if k == "hook"
        ));
    }

    #[test]
    fn non_finite_state_is_never_encoded() {
        let mut s = state();
        s.optimizer.state[1][0][0] = f32::NAN;
        assert!(
            matches!(encode_checkpoint(&s), Err(CheckpointError::NonFinite { name, .. }) if name == "optim.lstm.weight_ih_l0.exp_avg")
        );
    }
}
