//! `set-lstm eval`: a trained model on the run's test split or a file, with per-class
//! precision, recall, F1 and the confusion matrix.

use crate::cli::{EvalArgs, Split};
use crate::exit::Failure;
use crate::rundir::{RunDir, names, write_atomic};
use anyhow::{Context, Result};
use set_train::eval::{EvalReport, logits_all_with_progress, report};

/// A report as text, as `eval` prints it.
pub fn report_text(r: &EvalReport) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = write_report(&mut s, r);
    s
}

fn write_report(s: &mut String, r: &EvalReport) -> std::fmt::Result {
    use std::fmt::Write;
    writeln!(s, "model     {}", r.model)?;
    writeln!(s, "data      {} ({} examples)", r.data, r.examples)?;
    writeln!(s, "accuracy  {:.4}", r.accuracy)?;
    writeln!(s, "loss      {:.4}", r.loss)?;
    writeln!(s, "macro F1  {:.4}", r.macro_f1)?;
    writeln!(s)?;
    let w = r
        .classes
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    writeln!(s, "{:<w$}  precision  recall  f1      support", "class")?;
    for c in &r.classes {
        writeln!(
            s,
            "{:<w$}  {:<9.4}  {:<6.4}  {:<6.4}  {}",
            c.name, c.precision, c.recall, c.f1, c.support
        )?;
    }
    writeln!(s)?;
    writeln!(s, "confusion matrix (rows: true class, columns: predicted)")?;
    write!(s, "{:<w$}", "")?;
    for c in &r.classes {
        write!(s, "  {:>w$}", c.name)?;
    }
    writeln!(s)?;
    for (c, row) in r.classes.iter().zip(&r.confusion) {
        write!(s, "{:<w$}", c.name)?;
        for v in row {
            write!(s, "  {v:>w$}")?;
        }
        writeln!(s)?;
    }
    Ok(())
}

/// `set-lstm eval`.
///
/// # Errors
/// Loading or data errors.
pub fn run(args: &EvalArgs) -> Result<()> {
    crate::config::check_threads(args.threads)?;
    let (bundle, run) = crate::modelfile::load(args.model.path())?;
    // The training configuration, when the model records one (models saved by `set-lstm`
    // do; a library program's need not, and are then evaluated on a given file only).
    let recorded = crate::config::TrainConfig::from_json(bundle.front_end.as_ref());
    let (examples, data) = match &args.test {
        Some(path) => {
            let labels = match &recorded {
                Ok(cfg) => cfg.data_config().label_map()?,
                Err(_) if bundle.class_names.len() == 2 => set_data::LabelMap::binary(),
                Err(_) => set_data::LabelMap::identity(bundle.class_names.len()),
            };
            (
                set_train::data::load_eval_file(path, &labels, &bundle.vocab)
                    .with_context(|| format!("loading {}", path.display()))?,
                path.display().to_string(),
            )
        }
        None => {
            let cfg = recorded
                .as_ref()
                .map_err(|e| anyhow::anyhow!("{e:#}"))
                .with_context(|| {
                    format!(
                        "model {}: cannot re-create its {} split (pass --test FILE)",
                        args.model.path().display(),
                        split_name(args.split)
                    )
                })?;
            let d = set_train::RunData::load(
                &cfg.data_config(),
                cfg.split_seed(),
                Some(bundle.vocab.clone()),
            )
            .with_context(|| {
                format!(
                    "re-creating the run's {} split (pass --test FILE to use another file)",
                    split_name(args.split)
                )
            })?;
            if let Some(run) = &run {
                check_run_data(run, &d.files, args.allow_changed_data)?;
            }
            let examples = match args.split {
                Split::Dev => d.splits.dev,
                Split::Test => d.splits.test,
            };
            (
                examples,
                format!(
                    "{} split of `{}` (split seed {})",
                    split_name(args.split),
                    cfg.dataset_label(),
                    cfg.split_seed()
                ),
            )
        }
    };
    if examples.is_empty() {
        anyhow::bail!("no examples to evaluate in {data}");
    }
    let threads = args
        .threads
        .or(recorded.as_ref().ok().map(|c| c.threads))
        .unwrap_or(0);
    let pool = set_nn::runtime::training_pool(crate::config::resolve_threads(threads))
        .context("building the thread pool")?;
    let bcfg = set_data::BatchConfig {
        batch_size: recorded.as_ref().map_or(64, |c| c.batch_size),
        max_len: bundle.spec.max_len,
        ..set_data::BatchConfig::default()
    };
    crate::modelfile::check_inference_memory(&bundle, bcfg.batch_size)?;
    let what = if args.test.is_some() {
        "file"
    } else {
        split_name(args.split)
    };
    let mut bar = None;
    let logits = pool
        .install(|| {
            logits_all_with_progress(&bundle.model, &examples, &bcfg, &mut |done, total| {
                bar.get_or_insert_with(|| crate::ui::eval_bar(total, what))
                    .set_position(done as u64);
            })
        })
        .map_err(|e| crate::modelfile::inference_error(e, args.model.path()));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let logits = logits?;
    let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let r = report(
        args.model.path().display().to_string(),
        data,
        &bundle.class_names,
        &labels,
        &logits,
    );
    if args.json {
        crate::out::say!("{}", serde_json::to_string_pretty(&r)?)?;
    } else {
        crate::out::write(&report_text(&r))?;
    }
    if let Some(run) = run {
        let dir = run.file(names::EVAL);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("report.json");
        write_atomic(
            &path,
            format!("{}\n", serde_json::to_string_pretty(&r)?).as_bytes(),
        )?;
        if args.json {
            tracing::info!("report written to {}", path.display());
        } else {
            crate::out::say!("\nreport written to {}", path.display())?;
        }
        if run.file(crate::report::REPORT).is_file() {
            let density = set_nn::model_report(&bundle.model, None).density;
            let title = crate::report::title(bundle.front_end.as_ref(), density);
            crate::report::write(&run, &title)?;
        }
    }
    Ok(())
}

fn split_name(split: Split) -> &'static str {
    match split {
        Split::Dev => "dev",
        Split::Test => "test",
    }
}

/// Compares the data files read now with those the run's `manifest.json` records: different
/// data would make a re-created split another set of examples. Refused (exit code 4) unless
/// `allow`, which warns instead. A run without a readable manifest is not checked (warned).
fn check_run_data(run: &RunDir, now: &[set_data::FileDigest], allow: bool) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Recorded {
        datasets: Vec<set_data::FileDigest>,
    }
    let path = run.file(names::MANIFEST);
    let recorded = set_data::bounded::read_text_bounded(&path, crate::rundir::MAX_MANIFEST_BYTES)
        .map_err(anyhow::Error::new)
        .and_then(|t| Ok(serde_json::from_str::<Recorded>(&t)?));
    let recorded = match recorded {
        Ok(r) => r.datasets,
        Err(e) => {
            eprintln!(
                "warning: cannot read the data digests of {} ({e:#}): the data are not compared with the run's",
                path.display()
            );
            return Ok(());
        }
    };
    match set_train::data::check_same_data(&recorded, now, set_train::data::DataMatch::SamePaths)
    {
        Ok(()) => Ok(()),
        Err(e) if allow => {
            eprintln!(
                "WARNING: {e}; evaluating anyway (--allow-changed-data): the split is not the one the run was trained and tested on"
            );
            Ok(())
        }
        Err(e) => Err(Failure::BadFile(format!(
            "the data differ from those the run recorded in {}: {e}; the re-created split would not be the run's (pass --allow-changed-data to evaluate anyway, or --test FILE)",
            path.display()
        ))
        .into()),
    }
}
