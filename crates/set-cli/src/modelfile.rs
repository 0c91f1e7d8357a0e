//! Finding and loading a trained model: `--model` is a run directory (its `model.safetensors`)
//! or a model file (`model.safetensors` or an `export`).

use crate::rundir::{RunDir, names};
use anyhow::{Context, Result};
use set_train::codec::read_bytes;
use set_train::{CheckpointError, ModelBundle, decode_model};
use std::path::Path;

/// Loads the model of a run directory or a model file; returns the run directory too when
/// `path` is one.
///
/// # Errors
/// A missing path (usage error), a run without a final model, or an invalid file (typed
/// [`CheckpointError`], exit code 4).
pub fn load(path: &Path) -> Result<(ModelBundle, Option<RunDir>)> {
    let (file, run) = if path.is_dir() {
        let run = RunDir::new(path);
        let f = run.file(names::MODEL);
        if !f.is_file() {
            anyhow::bail!(
                "{} has no {}: the run has not finished (continue it with `set-lstm resume {}`)",
                path.display(),
                names::MODEL,
                path.display()
            );
        }
        (f, Some(run))
    } else if path.is_file() {
        (path.to_path_buf(), None)
    } else {
        return Err(crate::exit::usage(format!(
            "--model {}: no such run directory or model file",
            path.display()
        )));
    };
    let bundle = read_bytes(&file)
        .and_then(|b| decode_model(&b))
        .map_err(|e: CheckpointError| anyhow::Error::new(e))
        .with_context(|| format!("loading model {}", file.display()))?;
    Ok((bundle, run))
}
