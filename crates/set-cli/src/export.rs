//! `export`: the model as safetensors, sparse (CSR, as `model.safetensors`) or dense with the
//! names and layouts PyTorch's `nn.Embedding`, `nn.LSTM` and `nn.Linear` load directly.

use crate::cli::ExportArgs;
use crate::rundir::write_atomic;
use anyhow::{Context, Result};
use set_train::encode_model;

/// `set-lstm export`.
///
/// # Errors
/// Loading errors, an existing output without `--force`, I/O errors.
pub fn run(args: &ExportArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        return Err(crate::exit::usage(format!(
            "--out {}: already exists (pass --force to overwrite)",
            args.out.display()
        )));
    }
    let (bundle, _) = crate::modelfile::load(args.model.path())?;
    let bundle = if args.dense {
        bundle.densified()?
    } else {
        bundle
    };
    let bytes = encode_model(&bundle)?;
    write_atomic(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    let r = set_nn::model_report(&bundle.model, None);
    crate::out::say!(
        "wrote {}: {} layout, {} parameters, {} stored values ({} dense), {} bytes",
        args.out.display(),
        if args.dense {
            "dense PyTorch"
        } else {
            "sparse CSR"
        },
        r.params.len(),
        r.total_params,
        r.dense_params,
        bytes.len()
    )?;
    Ok(())
}
