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
/// Usage errors (no run given, texts and `--file` both), loading errors, unreadable input.
pub fn run(args: &PredictArgs) -> Result<()> {
    let (model, given) = match &args.model {
        Some(m) => (m.as_path(), &args.texts[..]),
        None => match args.texts.split_first() {
            Some((run, texts)) => (std::path::Path::new(run.as_str()), texts),
            None => {
                return Err(crate::exit::usage(
                    "no run directory: give it first, `set-lstm predict RUN [TEXT]...`, or as --model RUN",
                ));
            }
        },
    };
    if let Some(n) = args.timing_runs
        && !(1..=1_000_000).contains(&n)
    {
        return Err(crate::exit::usage(format!(
            "invalid value {n} for --timing-runs: expected an integer in 1..=1000000"
        )));
    }
    if args.file.is_some() && !given.is_empty() {
        return Err(crate::exit::usage(
            "--file and texts on the command line: give one or the other",
        ));
    }
    let (bundle, _) = crate::modelfile::load(model)?;
    let lines = match &args.file {
        _ if !given.is_empty() => Lines {
            texts: given.to_vec(),
            ..Lines::default()
        },
        Some(path) if path.as_os_str() != "-" => {
            let file = set_data::bounded::open_regular(path)
                .with_context(|| format!("--file {}", path.display()))?;
            read_lines(std::io::BufReader::new(file), &path.display().to_string())
        }
        _ => read_lines(std::io::stdin().lock(), "stdin"),
    };
    if lines.skipped_blank > 0 {
        eprintln!(
            "skipped {} blank line{} (not predicted)",
            lines.skipped_blank,
            if lines.skipped_blank == 1 { "" } else { "s" }
        );
    }
    let (texts, stdin_error) = (lines.texts, lines.error);
    let threads = crate::config::resolve_threads(0);
    let pool = set_nn::runtime::training_pool(threads).context("building the thread pool")?;
    crate::modelfile::check_inference_memory(&bundle, 64)?;
    let predictions = pool
        .install(|| bundle.predict(&texts, 64))
        .map_err(|e| crate::modelfile::inference_error(e, model))?;
    if let Some(runs) = args.timing_runs {
        let tokens = predictions.iter().map(|p| p.token_ids.len()).sum();
        let timing = pool
            .install(|| time_predictions(&bundle, &texts, runs, tokens))
            .map_err(|e| crate::modelfile::inference_error(e, model))?;
        eprintln!("{}", serde_json::to_string(&timing)?);
    }
    let mut out = String::new();
    use std::fmt::Write;
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
    crate::out::write(&out)?;
    // The lines before a bad one are answered; then the bad one is the error.
    stdin_error.map_or(Ok(()), Err)
}

/// The `--timing-runs` report (one JSON line on stderr).
#[derive(Debug, Serialize)]
struct Timing {
    /// Median wall time of one `ModelBundle::predict` call over all the texts: tokenising,
    /// the forward pass and the softmax; no process start, no file load.
    predict_compute_ms: f64,
    runs: usize,
    texts: usize,
    tokens: usize,
    threads: usize,
}

/// Times `runs` more predictions of `texts` (the first, already done, warmed the caches).
fn time_predictions(
    bundle: &set_train::ModelBundle,
    texts: &[String],
    runs: usize,
    tokens: usize,
) -> Result<Timing, set_train::TrainError> {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = std::time::Instant::now();
        std::hint::black_box(bundle.predict(texts, 64)?);
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    Ok(Timing {
        predict_compute_ms: ms[ms.len() / 2],
        runs,
        texts: texts.len(),
        tokens,
        threads: rayon::current_num_threads(),
    })
}

/// Most lines `predict` reads from stdin or `--file`.
pub const MAX_STDIN_LINES: usize = 1_000_000;
/// The longest line `predict` reads from stdin or `--file` (bytes).
pub const MAX_STDIN_LINE_BYTES: usize = 1 << 20;

/// The texts of a line input, up to the first line that cannot be read.
#[derive(Debug, Default)]
struct Lines {
    texts: Vec<String>,
    /// Blank lines (empty or only whitespace), skipped.
    skipped_blank: usize,
    /// The error of the first line that cannot be read, naming `<name>:<line>`.
    error: Option<anyhow::Error>,
}

/// Non-blank lines of `input` up to the first that cannot be read (invalid UTF-8, too long,
/// too many, an I/O error), with that line's error naming `<name>:<line>`.
fn read_lines(mut input: impl BufRead, name: &str) -> Lines {
    use std::io::Read;
    let mut out = Lines::default();
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        n += 1;
        buf.clear();
        let cap = MAX_STDIN_LINE_BYTES as u64 + 2;
        match (&mut input).take(cap).read_until(b'\n', &mut buf) {
            Ok(0) => return out,
            Ok(_) => {}
            Err(e) => {
                out.error = Some(anyhow::Error::new(e).context(format!("{name}:{n}")));
                return out;
            }
        }
        if n > MAX_STDIN_LINES {
            out.error = Some(anyhow::anyhow!(
                "{name}:{n}: more than the accepted {MAX_STDIN_LINES} lines"
            ));
            return out;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_STDIN_LINE_BYTES {
            out.error = Some(anyhow::anyhow!(
                "{name}:{n}: line longer than the accepted {MAX_STDIN_LINE_BYTES} bytes"
            ));
            return out;
        }
        match std::str::from_utf8(&buf) {
            Ok(t) if t.trim().is_empty() => out.skipped_blank += 1,
            Ok(t) => out.texts.push(t.to_string()),
            Err(e) => {
                out.error = Some(anyhow::anyhow!(
                    "{name}:{n}: invalid UTF-8 (byte {} of the line); the lines before it were answered",
                    e.valid_up_to() + 1
                ));
                return out;
            }
        }
    }
}
