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
        if !f.is_file() && !run.file(names::CONFIG).is_file() {
            return Err(crate::exit::usage(format!(
                "--model {}: not a run directory (no {} or {}) and not a model file",
                path.display(),
                names::MODEL,
                names::CONFIG
            )));
        }
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

/// An inference error as the user should see it: non-finite outputs are the model file's
/// fault (exit code 4, naming the file), never a prediction or a score.
pub fn inference_error(e: set_train::TrainError, model: &Path) -> anyhow::Error {
    match e {
        set_train::TrainError::NonFinite { tensor, .. } => crate::exit::Failure::BadFile(format!(
            "model {}: non-finite logit in the {tensor}: its weights are finite but too large to compute with",
            model.display()
        ))
        .into(),
        other => anyhow::Error::new(other).context(format!("model {}", model.display())),
    }
}

/// Checks that inference batches of `batch_size` fit in memory (the weights are loaded
/// already): exit code 2 with the estimate and the limit.
///
/// # Errors
/// [`set_train::TrainError::Memory`].
pub fn check_inference_memory(bundle: &ModelBundle, batch_size: usize) -> Result<()> {
    let e = set_train::memory::MemoryEstimate::inference(
        &bundle.model.config,
        batch_size,
        bundle.spec.max_len,
    );
    set_train::memory::MemoryEstimate { weights: 0, ..e }.check_available()?;
    Ok(())
}
