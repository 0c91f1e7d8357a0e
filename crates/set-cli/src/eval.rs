//! `set-lstm eval`: a trained model on the run's test split or a file, with per-class
//! precision, recall, F1 and the confusion matrix.

use crate::cli::EvalArgs;
use crate::rundir::{names, write_atomic};
use anyhow::{Context, Result};
use set_train::eval::{EvalReport, logits_all, report};

/// Prints a report as text.
pub fn print_report(r: &EvalReport) {
    println!("model     {}", r.model);
    println!("data      {} ({} examples)", r.data, r.examples);
    println!("accuracy  {:.4}", r.accuracy);
    println!("loss      {:.4}", r.loss);
    println!("macro F1  {:.4}", r.macro_f1);
    println!();
    let w = r
        .classes
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    println!("{:<w$}  precision  recall  f1      support", "class");
    for c in &r.classes {
        println!(
            "{:<w$}  {:<9.4}  {:<6.4}  {:<6.4}  {}",
            c.name, c.precision, c.recall, c.f1, c.support
        );
    }
    println!();
    println!("confusion matrix (rows: true class, columns: predicted)");
    print!("{:<w$}", "");
    for c in &r.classes {
        print!("  {:>w$}", c.name);
    }
    println!();
    for (c, row) in r.classes.iter().zip(&r.confusion) {
        print!("{:<w$}", c.name);
        for v in row {
            print!("  {v:>w$}");
        }
        println!();
    }
}

/// `set-lstm eval`.
///
/// # Errors
/// Loading or data errors.
pub fn run(args: &EvalArgs) -> Result<()> {
    crate::config::check_threads(args.threads)?;
    let (bundle, run) = crate::modelfile::load(&args.model)?;
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
                        "model {}: cannot re-create its test split (pass --test FILE)",
                        args.model.display()
                    )
                })?;
            let d =
                set_train::RunData::load(&cfg.data_config(), cfg.seed, Some(bundle.vocab.clone()))
                    .context(
                        "re-creating the run's test split (pass --test FILE to use another file)",
                    )?;
            (
                d.splits.test,
                format!(
                    "test split of `{}` (seed {})",
                    cfg.dataset_label(),
                    cfg.seed
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
    let logits = pool
        .install(|| logits_all(&bundle.model, &examples, &bcfg))
        .map_err(|e| crate::modelfile::inference_error(e, &args.model))?;
    let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let r = report(
        args.model.display().to_string(),
        data,
        &bundle.class_names,
        &labels,
        &logits,
    );
    print_report(&r);
    if let Some(run) = run {
        let dir = run.file(names::EVAL);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("report.json");
        write_atomic(
            &path,
            format!("{}\n", serde_json::to_string_pretty(&r)?).as_bytes(),
        )?;
        println!("\nreport written to {}", path.display());
        if run.file(crate::report::REPORT).is_file() {
            let density = set_nn::model_report(&bundle.model, None).density;
            let title = crate::report::title(bundle.front_end.as_ref(), density);
            crate::report::write(&run, &title)?;
        }
    }
    Ok(())
}
