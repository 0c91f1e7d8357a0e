//! `predict`: label and class probabilities for texts from the command line or stdin.

use crate::cli::PredictArgs;
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::BufRead;

/// One `--json` output line.
#[derive(Debug, Serialize)]
struct Prediction<'a> {
    text: &'a str,
    token_ids: &'a [u32],
    logits: &'a [f32],
    probabilities: &'a [f64],
    label: &'a str,
}

/// `set-lstm predict`.
///
/// # Errors
/// Loading errors, unreadable stdin.
pub fn run(args: &PredictArgs) -> Result<()> {
    let (bundle, _) = crate::modelfile::load(&args.model)?;
    let texts: Vec<String> = if args.texts.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()
            .context("reading stdin")?
    } else {
        args.texts.clone()
    };
    let threads = crate::config::resolve_threads(0);
    let pool = set_nn::runtime::training_pool(threads).context("building the thread pool")?;
    crate::modelfile::check_inference_memory(&bundle, 64)?;
    let predictions = pool
        .install(|| bundle.predict(&texts, 64))
        .map_err(|e| crate::modelfile::inference_error(e, &args.model))?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for (text, p) in texts.iter().zip(predictions) {
        let label = &bundle.class_names[p.class];
        if args.json {
            let line = serde_json::to_string(&Prediction {
                text,
                token_ids: &p.token_ids,
                logits: &p.logits,
                probabilities: &p.probabilities,
                label,
            })?;
            writeln!(out, "{line}")?;
        } else {
            let probs: Vec<String> = bundle
                .class_names
                .iter()
                .zip(&p.probabilities)
                .map(|(n, x)| format!("{n}={x:.4}"))
                .collect();
            writeln!(out, "{label}\t{}\t{text}", probs.join(" "))?;
        }
    }
    Ok(())
}
