//! Parameters in files: the tensors of each parameter, and reading them back against the
//! names, shapes and storage that the model configuration implies.

use super::tensors::{OutTensor, TensorFile};
use super::{CResult, CheckpointError, bad};
use ndarray::{Array1, Array2};
use set_nn::{ClassifierConfig, Param, ParamValue, Storage};
use set_sparse::SparseMatrix;
use std::collections::BTreeMap;

fn sparse_name(name: &str, part: &str) -> String {
    format!("{name}.{part}")
}

/// The tensors of one parameter; records sparse shapes in `shapes`.
pub(crate) fn param_tensors(
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

/// Names, shapes and storage of a model's parameters, from its configuration's parameter table
/// (checked sizes). A parameter's name, shape and matrix storage (`None` for a vector).
type Expected = (String, Vec<usize>, Option<Storage>);

pub(crate) fn expected_params(cfg: &ClassifierConfig) -> CResult<Vec<Expected>> {
    let over = || CheckpointError::BadMetadata {
        key: "model".into(),
        message: "dimensions overflow".into(),
    };
    let specs = cfg.param_specs().map_err(|_| over())?;
    for spec in &specs {
        spec.dense_len().checked_mul(4).ok_or_else(over)?;
    }
    Ok(specs
        .into_iter()
        .map(|s| (s.name, s.shape, s.storage))
        .collect())
}

/// Validates a model configuration read from a file, with the limits training itself enforces.
/// Dimensions are the only sizes of a model that are not backed by bytes of the file (a sparse
/// matrix's column count sizes its transposed index), so bounding them here, before any tensor is
/// read, is what keeps a hostile header from making the loader allocate more than a small
/// multiple of the file's length.
pub(crate) fn check_model_config(mcfg: &ClassifierConfig) -> CResult<()> {
    mcfg.validate()
        .map_err(|e| CheckpointError::Model(Box::new(e)))?;
    for (field, value, max) in [
        ("vocab_size", mcfg.vocab_size, crate::spec::MAX_VOCAB),
        ("embed_dim", mcfg.embed_dim, crate::spec::MAX_WIDTH),
        ("hidden", mcfg.hidden, crate::spec::MAX_WIDTH),
        ("classes", mcfg.classes, crate::spec::MAX_CLASSES),
        ("layers", mcfg.rnn.layers, crate::spec::MAX_LAYERS),
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

pub(crate) fn read_sparse(
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
pub(crate) fn read_params(f: &TensorFile<'_>, cfg: &ClassifierConfig) -> CResult<Vec<Param<f32>>> {
    let shapes: BTreeMap<String, [usize; 2]> = f.meta_json("sparse_shapes")?;
    let mut params = Vec::with_capacity(7);
    for (name, shape, storage) in expected_params(cfg)? {
        let value = match storage {
            Some(Storage::Sparse { .. }) => {
                let (r, c) = (shape[0], shape[1]);
                match shapes.get(&name) {
                    Some(&[sr, sc]) if (sr, sc) == (r, c) => {}
                    other => {
                        return Err(CheckpointError::BadMetadata {
                            key: "sparse_shapes".into(),
                            message: format!("`{name}`: {other:?}, expected [{r}, {c}]"),
                        });
                    }
                }
                ParamValue::Sparse(read_sparse(f, &name, r, c)?)
            }
            Some(Storage::Dense) => {
                let v = f.f32(&name, &shape)?;
                ParamValue::Dense(
                    Array2::from_shape_vec((shape[0], shape[1]), v).expect("length checked"),
                )
            }
            None => ParamValue::Vector(Array1::from_vec(f.f32(&name, &shape)?)),
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
