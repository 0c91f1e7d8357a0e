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
    let (texts, stdin_error) = if args.texts.is_empty() {
        read_stdin_lines(std::io::stdin().lock())
    } else {
        (args.texts.clone(), None)
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
    out.flush()?;
    // The lines before a bad one are answered; then the bad one is the error.
    stdin_error.map_or(Ok(()), Err)
}

/// Most lines `predict` reads from stdin, and the longest line (bytes).
pub const MAX_STDIN_LINES: usize = 1_000_000;
/// The longest line `predict` reads from stdin (bytes).
pub const MAX_STDIN_LINE_BYTES: usize = 1 << 20;

/// Lines of `input` up to the first that cannot be read (invalid UTF-8, too long, too many,
/// an I/O error), with that line's error naming `stdin:<line>`.
fn read_stdin_lines(mut input: impl BufRead) -> (Vec<String>, Option<anyhow::Error>) {
    use std::io::Read;
    let mut lines = Vec::new();
    let mut buf = Vec::new();
    loop {
        let n = lines.len() + 1;
        buf.clear();
        let cap = MAX_STDIN_LINE_BYTES as u64 + 2;
        match (&mut input).take(cap).read_until(b'\n', &mut buf) {
            Ok(0) => return (lines, None),
            Ok(_) => {}
            Err(e) => {
                return (
                    lines,
                    Some(anyhow::Error::new(e).context(format!("stdin:{n}"))),
                );
            }
        }
        if n > MAX_STDIN_LINES {
            let e = anyhow::anyhow!("stdin:{n}: more than the accepted {MAX_STDIN_LINES} lines");
            return (lines, Some(e));
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_STDIN_LINE_BYTES {
            let e = anyhow::anyhow!(
                "stdin:{n}: line longer than the accepted {MAX_STDIN_LINE_BYTES} bytes"
            );
            return (lines, Some(e));
        }
        match std::str::from_utf8(&buf) {
            Ok(t) => lines.push(t.to_string()),
            Err(e) => {
                let e = anyhow::anyhow!(
                    "stdin:{n}: invalid UTF-8 (byte {} of the line); the lines before it were answered",
                    e.valid_up_to() + 1
                );
                return (lines, Some(e));
            }
        }
    }
}
