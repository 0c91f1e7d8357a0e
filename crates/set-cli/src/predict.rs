//! `predict`: label and class probabilities for texts from the command line or stdin.

use crate::cli::PredictArgs;
use crate::eval::{argmax, logits_all, softmax};
use anyhow::{Context, Result};
use serde::Serialize;
use set_data::EncodedExample;
use std::io::BufRead;

/// One `--json` output line.
#[derive(Debug, Serialize)]
struct Prediction<'a> {
    text: &'a str,
    token_ids: &'a [u32],
    logits: &'a [f32],
    probabilities: Vec<f64>,
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
    let tok = crate::data::tokenizer();
    let cfg = bundle.config.batch_config();
    // Token ids as fed to the model: truncated like training batches (keep the last max_len).
    let examples: Vec<EncodedExample> = texts
        .iter()
        .map(|t| {
            let mut ids = bundle.vocab.encode(&tok.tokenize(t));
            if ids.len() > cfg.max_len {
                ids.drain(..ids.len() - cfg.max_len);
            }
            EncodedExample { ids, label: 0 }
        })
        .collect();
    let pool = set_nn::runtime::training_pool(bundle.config.threads)
        .context("building the thread pool")?;
    let logits = pool.install(|| logits_all(&bundle.model, &examples, &cfg))?;
    let mut out = std::io::stdout().lock();
    use std::io::Write;
    for ((text, ex), l) in texts.iter().zip(&examples).zip(&logits) {
        let p = softmax(l);
        let label = &bundle.class_names[argmax(l)];
        if args.json {
            let ids: Vec<u32> = if ex.ids.is_empty() {
                vec![set_data::Vocab::UNK]
            } else {
                ex.ids.clone()
            };
            let line = serde_json::to_string(&Prediction {
                text,
                token_ids: &ids,
                logits: l,
                probabilities: p,
                label,
            })?;
            writeln!(out, "{line}")?;
        } else {
            let probs: Vec<String> = bundle
                .class_names
                .iter()
                .zip(&p)
                .map(|(n, x)| format!("{n}={x:.4}"))
                .collect();
            writeln!(out, "{label}\t{}\t{text}", probs.join(" "))?;
        }
    }
    Ok(())
}
