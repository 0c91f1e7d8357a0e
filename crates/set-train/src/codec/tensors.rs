//! The safetensors layer: a deterministic writer ([`encode_safetensors`]) and a reader
//! ([`TensorFile`]) that checks every tensor as it is taken and rejects anything not asked for.

use super::{CResult, CheckpointError, MAX_FILE_BYTES, OLDEST_VERSION, VERSION};
use safetensors::{Dtype, SafeTensors};
use serde::de::DeserializeOwned;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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

pub(crate) fn first_non_finite(name: &str, v: &[f32]) -> CResult<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(CheckpointError::NonFinite {
            name: name.to_string(),
            index,
            value: v[index].to_string(),
        }),
        None => Ok(()),
    }
}

/// A parsed safetensors file whose tensors are checked as they are taken; [`TensorFile::finish`]
/// rejects tensors nobody asked for.
pub struct TensorFile<'a> {
    st: SafeTensors<'a>,
    version: u32,
    metadata: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
    used_meta: RefCell<BTreeSet<String>>,
}

impl<'a> TensorFile<'a> {
    /// Parses the header (the `safetensors` crate checks offsets and lengths) and requires
    /// `__metadata__` with the given `format` and a version from [`OLDEST_VERSION`] to
    /// [`VERSION`].
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
        let mut f = TensorFile {
            st,
            version: VERSION,
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
        f.version = (OLDEST_VERSION..=VERSION)
            .find(|n| v == n.to_string())
            .ok_or_else(|| CheckpointError::Version {
                found: v.to_string(),
            })?;
        Ok(f)
    }

    /// The file's format version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// A metadata string that may be absent.
    pub fn meta_opt(&self, key: &str) -> Option<&str> {
        let v = self.metadata.get(key)?;
        self.used_meta.borrow_mut().insert(key.to_string());
        Some(v)
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
    /// Whether the file has a tensor of this name (optional tensors of older formats).
    pub fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

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
