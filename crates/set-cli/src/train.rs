//! `train` and `resume`: a run directory around `set_train::Trainer`. The trainer trains; this
//! file creates and checks the run directory, writes checkpoints, metrics, events, the final
//! model, summary and plots through an observer, prints progress, and wires signals.

use crate::cli::{ResumeArgs, RunControlArgs, TrainArgs, Which};
use crate::config::{TrainConfig, merge, read_settings_file};
use crate::exit::{Failure, usage};
use crate::rundir::{
    METRICS_HEADER, RunDir, RunLock, append_synced, file_len, names, remove_orphaned_tmp,
    truncate_to, write_atomic,
};
use anyhow::{Context, Result};
use indicatif::ProgressBar;
use serde::Serialize;
use set_nn::model_report;
use set_train::dist::{Collective, Handoff, Local};
use set_train::{
    EpochEvent, Observer, ObserverError, RunControl, RunData, StepEvent, Trainer, TrainingState,
    decode_checkpoint, encode_checkpoint,
};
use std::path::PathBuf;
use std::sync::Arc;

/// How a `train` or `resume` invocation ended (errors aside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs done; final outputs written.
    Finished,
    /// `--max-steps` reached; a checkpoint was written.
    Stopped {
        /// Optimizer steps taken.
        global_step: u64,
        /// The run directory.
        run_dir: PathBuf,
    },
    /// A signal stopped the run after a checkpoint.
    Interrupted {
        /// Optimizer steps taken.
        global_step: u64,
        /// The run directory.
        run_dir: PathBuf,
    },
    /// `resume` of a run that had already finished.
    AlreadyFinished,
}

/// `summary.json`: the trainer's summary and the process's peak memory.
#[derive(Debug, Serialize)]
struct Summary {
    #[serde(flatten)]
    run: set_train::RunSummary,
    peak_rss_bytes: Option<u64>,
}

fn progress_bar(len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let pb = crate::ui::bar(
        len,
        "epoch {msg} [{bar:30}] {pos}/{len} batches {elapsed} (eta {eta})",
    );
    pb.set_message(format!("{}/{epochs}", epoch + 1));
    pb
}

/// A spinner on stderr for a step without a known length (hidden with `-q` or without a
/// terminal).
fn spinner(what: &str) -> ProgressBar {
    if !crate::ui::bars_shown() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner().with_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// The run directory's observer on rank 0: progress bar, metrics rows, evolution events, the
/// epoch line, checkpoints. Errors are kept here (with their exit codes) and the trainer is
/// only told to stop.
struct RunObserver<'a> {
    run: &'a RunDir,
    epochs: usize,
    /// The vocabulary, for the best-dev model file.
    vocab: &'a set_data::Vocab,
    /// `--show-test`: the epoch line shows test loss and accuracy too.
    show_test: bool,
    /// Whether `checkpoints/latest` is known to be valid (written by this process or loaded
    /// from): only then does it become `last-good` when the next checkpoint is written.
    latest_is_valid: bool,
    bar: ProgressBar,
    /// Running loss of the epoch, for the progress bar.
    loss_sum: f64,
    loss_n: usize,
    hooks: crate::testing::Hooks,
    error: Option<anyhow::Error>,
}

/// The error handed to the trainer when an observer fails; the real one stays in the observer.
#[derive(Debug, thiserror::Error)]
#[error("the run directory observer failed")]
struct ObserverFailed;

impl<'a> RunObserver<'a> {
    /// The observer of a session's run directory (the session lends its settings).
    fn new(run: &'a RunDir, vocab: &'a set_data::Vocab, epochs: usize, s: &Session) -> Self {
        RunObserver {
            run,
            epochs,
            vocab,
            show_test: s.show_test,
            latest_is_valid: s.latest_is_valid,
            bar: ProgressBar::hidden(),
            loss_sum: 0.0,
            loss_n: 0,
            hooks: s.hooks.clone(),
            error: None,
        }
    }

    fn keep(&mut self, r: Result<()>) -> Result<(), ObserverError> {
        r.map_err(|e| {
            self.error = Some(e);
            Box::new(ObserverFailed) as ObserverError
        })
    }

    fn epoch_rows(&self, e: &EpochEvent) -> Result<()> {
        let secs = e.train_ms as f64 / 1000.0;
        let mut rows = String::new();
        for (split, ev) in [("train", Some(e.train)), ("dev", e.dev), ("test", e.test)] {
            if let Some(ev) = ev {
                rows.push_str(&format!(
                    "{},{split},{},{},{},{},{secs:.3}\n",
                    e.epoch + 1,
                    ev.loss,
                    ev.accuracy,
                    e.params,
                    e.density
                ));
            }
        }
        append_synced(&self.run.file(names::METRICS), &rows)?;
        let mut line = format!(
            "epoch {}/{} | train loss {:.4} acc {:.4}",
            e.epoch + 1,
            e.epochs,
            e.train.loss,
            e.train.accuracy
        );
        let test = if self.show_test { e.test } else { None };
        for (split, ev) in [("dev", e.dev), ("test", test)] {
            if let Some(ev) = ev {
                line.push_str(&format!(
                    " | {split} loss {:.4} acc {:.4}",
                    ev.loss, ev.accuracy
                ));
            }
        }
        if e.best_dev {
            line.push_str(" | best dev");
        }
        line.push_str(&format!(
            " | params {} ({:.2}%)",
            e.params,
            e.density * 100.0
        ));
        if let Some(r) = &e.evolution {
            line.push_str(&format!(
                " | {} pruned/regrown {}/{}",
                r.policy, r.total_removed, r.total_added
            ));
        }
        line.push_str(&format!(" | {secs:.1}s"));
        if !crate::ui::quiet() {
            crate::out::progress!("{line}");
        }
        Ok(())
    }

    fn write_checkpoint(&mut self, state: &mut TrainingState) -> Result<()> {
        state.progress.metrics_bytes = file_len(&self.run.file(names::METRICS));
        state.progress.events_bytes = file_len(&self.run.file(names::EVENTS));
        let bytes = encode_checkpoint(state).context("refusing to write a checkpoint")?;
        self.run
            .rotate_and_write_checkpoint(&bytes, self.latest_is_valid)?;
        self.latest_is_valid = true;
        tracing::debug!(
            "checkpoint at epoch {} step {} (global step {})",
            state.counters.epoch,
            state.counters.step_in_epoch,
            state.counters.global_step
        );
        Ok(())
    }
}

impl Observer for RunObserver<'_> {
    fn on_best_dev(&mut self, state: &TrainingState) -> Result<(), ObserverError> {
        let bundle = set_train::ModelBundle {
            spec: state.spec.clone(),
            model: state.model.clone(),
            vocab: self.vocab.clone(),
            class_names: state.class_names.clone(),
            front_end: state.front_end.clone(),
        };
        let r = set_train::encode_model(&bundle)
            .context("refusing to write the best-dev model")
            .and_then(|bytes| write_atomic(&self.run.file(names::BEST), &bytes));
        self.keep(r)
    }

    fn on_epoch_start(&mut self, epoch: usize, batches: usize, done: usize) {
        (self.loss_sum, self.loss_n) = (0.0, 0);
        self.bar = progress_bar(batches, epoch, self.epochs);
        self.bar.set_position(done as u64);
    }

    fn on_eval_progress(&mut self, split: &str, done: usize, total: usize) {
        if done == 1 {
            // The epoch's training bar is done; evaluation gets its own.
            self.bar.finish_and_clear();
            self.bar = crate::ui::eval_bar(total, split);
        }
        self.bar.set_position(done as u64);
    }

    fn before_step(&mut self, step: u64) -> Result<(), ObserverError> {
        let r = self.hooks.before_step(step);
        self.keep(r)
    }

    fn on_step(&mut self, e: &StepEvent) -> Result<(), ObserverError> {
        self.bar.inc(1);
        // The epoch's running mean loss, as the epoch line reports it at the end.
        self.loss_sum += e.stats.loss * e.stats.batch as f64;
        self.loss_n += e.stats.batch;
        self.bar.set_message(format!(
            "{}/{} | loss {:.4}",
            e.epoch + 1,
            self.epochs,
            self.loss_sum / self.loss_n.max(1) as f64
        ));
        if e.step_in_epoch == e.batches {
            self.bar.finish_and_clear();
        }
        self.hooks.after_step();
        Ok(())
    }

    fn on_evolution(&mut self, report: &set_evolve::EvolutionReport) -> Result<(), ObserverError> {
        let r = serde_json::to_string(report)
            .map_err(anyhow::Error::from)
            .and_then(|line| append_synced(&self.run.file(names::EVENTS), &format!("{line}\n")));
        self.keep(r)
    }

    fn on_epoch(&mut self, e: &EpochEvent) -> Result<(), ObserverError> {
        self.bar.finish_and_clear();
        let r = self.epoch_rows(e);
        self.keep(r)
    }

    fn on_checkpoint(&mut self, state: &mut TrainingState) -> Result<(), ObserverError> {
        self.bar.finish_and_clear();
        let r = self.write_checkpoint(state);
        self.keep(r)
    }
}

/// The observer of ranks other than 0: writes nothing; runs the test hooks.
struct Follower {
    hooks: crate::testing::Hooks,
}

impl Observer for Follower {
    fn before_step(&mut self, step: u64) -> Result<(), ObserverError> {
        self.hooks
            .before_step(step)
            .map_err(|e| e.to_string().into())
    }
}

/// One live training session over a run directory.
struct Session {
    run: RunDir,
    trainer: Trainer,
    data: RunData,
    latest_is_valid: bool,
    hooks: crate::testing::Hooks,
    /// `--show-test`.
    show_test: bool,
    /// Held by rank 0 only.
    _lock: Option<RunLock>,
}

/// The trainer's error, or the observer's own error when the observer stopped training.
fn with_observer_error(e: set_train::TrainError, kept: Option<anyhow::Error>) -> anyhow::Error {
    match (e, kept) {
        (set_train::TrainError::Observer(_), Some(kept)) => kept,
        (e, _) => e.into(),
    }
}

impl Session {
    /// The training loop, from the state's counters to the end (or a stop).
    fn run(&mut self) -> Result<Outcome> {
        let comm = Arc::clone(self.trainer.comm());
        let result = if comm.is_root() {
            let epochs = self.trainer.state().config.epochs;
            let mut obs = RunObserver::new(&self.run, &self.data.vocab, epochs, self);
            let r = self.trainer.fit(&self.data, &mut obs);
            obs.bar.finish_and_clear();
            self.latest_is_valid = obs.latest_is_valid;
            r.map_err(|e| with_observer_error(e, obs.error.take()))
        } else {
            let mut obs = Follower {
                hooks: self.hooks.clone(),
            };
            self.trainer.fit(&self.data, &mut obs).map_err(Into::into)
        };
        let run_dir = self.run.root.clone();
        match result? {
            set_train::Outcome::Finished => {
                self.finish()?;
                Ok(Outcome::Finished)
            }
            set_train::Outcome::Stopped { global_step } => Ok(Outcome::Stopped {
                global_step,
                run_dir,
            }),
            set_train::Outcome::Interrupted { global_step } => Ok(Outcome::Interrupted {
                global_step,
                run_dir,
            }),
        }
    }

    /// Final model, summary and plots (written by rank 0; every rank takes part in the final
    /// evaluation).
    fn finish(&mut self) -> Result<()> {
        let (dev, test) = self.trainer.final_evaluation(&self.data)?;
        if !self.trainer.comm().is_root() {
            return Ok(());
        }
        let bundle = self.trainer.bundle(&self.data.vocab);
        let bytes =
            set_train::encode_model(&bundle).context("refusing to write the final model")?;
        write_atomic(&self.run.file(names::MODEL), &bytes)?;
        let summary = Summary {
            run: self.trainer.summary(dev, test),
            peak_rss_bytes: crate::sysinfo::peak_rss_bytes(),
        };
        write_atomic(
            &self.run.file(names::SUMMARY),
            format!("{}\n", serde_json::to_string_pretty(&summary)?).as_bytes(),
        )?;
        // A failed plot or report is an error that `resume` repairs (it finishes a run whose
        // final files are incomplete), never a warning followed by "already finished".
        let title =
            crate::report::title(self.trainer.state().front_end.as_ref(), summary.run.density);
        let repair = || {
            format!(
                "(write it with `set-lstm resume {}`)",
                self.run.root.display()
            )
        };
        crate::plots::write_all(&self.run, self.trainer.model(), &title)
            .with_context(|| format!("writing the plots {}", repair()))?;
        crate::report::write(&self.run, &title)
            .with_context(|| format!("writing {} {}", crate::report::REPORT, repair()))?;
        let r = &summary.run;
        let mut acc = r
            .test_accuracy
            .map_or("n/a".to_string(), |a| format!("{a:.4}"));
        if let (Some(e), Some(a)) = (r.best_dev_epoch, r.best_dev_test_accuracy) {
            acc.push_str(&format!(
                " (best dev epoch {e}: {a:.4}, model in {}{})",
                names::BEST,
                if r.early_stopped {
                    "; stopped early"
                } else {
                    ""
                }
            ));
        }
        crate::out::progress!(
            "test accuracy {acc} | params {} of {} dense ({:.2}%) | {:.1}s | run directory {}",
            r.params,
            r.dense_params,
            r.density * 100.0,
            r.train_seconds,
            self.run.root.display()
        );
        Ok(())
    }
}

#[derive(Serialize)]
struct Splits {
    train: usize,
    dev: usize,
    test: usize,
}

#[derive(Serialize)]
struct Manifest<'a> {
    format: &'static str,
    seed: u64,
    crate_version: &'static str,
    git_revision: Option<String>,
    created_utc: String,
    command: Vec<String>,
    threads: usize,
    isa: crate::sysinfo::Isa,
    datasets: &'a [set_data::FileDigest],
    splits: Splits,
    class_names: &'a [String],
    vocab_size: usize,
    vocab_sha256: String,
    tokenizer: &'a set_data::TokenizerConfig,
    model: &'a set_nn::ClassifierConfig,
    params: usize,
    dense_params: usize,
}

fn default_out(cfg: &TrainConfig) -> PathBuf {
    let policy = if cfg.dense {
        "dense"
    } else {
        cfg.policy.as_str()
    };
    PathBuf::from("runs").join(format!(
        "{}-{policy}-{}-{}",
        cfg.dataset_label(),
        cfg.seed,
        crate::rundir::now_stamp()
    ))
}

fn check_out_free(dir: &std::path::Path) -> Result<()> {
    if dir.exists() && !(dir.is_dir() && std::fs::read_dir(dir)?.next().is_none()) {
        return Err(usage(format!(
            "--out {}: already exists and is not an empty directory (continue a run with `set-lstm resume {}`)",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// The run control of `--max-steps` and `--checkpoint-every`, with the process's stop flag.
fn run_control(args: &RunControlArgs) -> Result<RunControl> {
    if args.max_steps == Some(0) {
        return Err(usage(
            "invalid value 0 for --max-steps: expected an integer >= 1",
        ));
    }
    Ok(RunControl {
        max_steps: args.max_steps,
        checkpoint_every: args.checkpoint_every,
        stop: crate::signal::flag(),
    })
}

/// `set-lstm train` in one process.
///
/// # Errors
/// Usage errors before anything is written; data, I/O and numerical errors after.
pub fn train(args: TrainArgs) -> Result<Outcome> {
    train_with(args, Arc::new(Local))
}

/// `set-lstm train` on the processes of `comm` (see [`set_train::dist`]): rank 0 does
/// everything [`train`] does and hands the initial state to the others; all ranks then train
/// together.
///
/// # Errors
/// As [`train`]; an error on one rank must end the whole job (the binary aborts it).
pub fn train_with(args: TrainArgs, comm: Arc<dyn Collective>) -> Result<Outcome> {
    crate::signal::install();
    let file = args
        .config
        .as_deref()
        .map(read_settings_file)
        .transpose()?
        .unwrap_or_default();
    let cfg = TrainConfig::resolve(merge(args.settings, file))?;
    let control = run_control(&args.run)?;
    let hooks = crate::testing::Hooks::new(&args.run, comm.rank());
    let show_test = args.run.show_test;
    if !comm.is_root() {
        return follow_root(comm, Some(cfg.threads), control, hooks);
    }
    let out = args.out.clone().unwrap_or_else(|| default_out(&cfg));
    check_out_free(&out)?;
    // A signal while the data load exits at once: there is nothing to checkpoint yet.
    crate::signal::exit_at_once(true);
    let spinner = spinner("loading and tokenising the data");
    let data = RunData::load(&cfg.data_config(), cfg.split_seed(), None);
    spinner.finish_and_clear();
    let data = data?;
    for w in data.check_trainable().map_err(|e| usage(e.to_string()))? {
        eprintln!("warning: {w}");
    }
    let spec = cfg
        .model_spec(data.vocab.len(), data.num_classes())
        .map_err(|e| usage(e.to_string()))?;
    spec.classifier_config().map_err(|e| usage(e.to_string()))?;
    let trainer_cfg = cfg.trainer_config().map_err(|e| usage(e.to_string()))?;
    spec.check_memory(&trainer_cfg)?;
    if crate::signal::exit_at_once(false) {
        eprintln!("interrupted before the run directory was created: nothing written");
        std::process::exit(crate::exit::INTERRUPTED);
    }
    tracing::debug!(
        "data: {} train, {} dev, {} test examples; vocabulary {}",
        data.splits.train.len(),
        data.splits.dev.len(),
        data.splits.test.len(),
        data.vocab.len()
    );

    let run = RunDir::create(&out)?;
    let lock = RunLock::acquire(&run.root)?;
    write_atomic(&run.file(names::CONFIG), cfg.to_toml()?.as_bytes())?;
    data.vocab
        .save(run.file(names::VOCAB))
        .with_context(|| format!("writing {}", run.file(names::VOCAB).display()))?;
    write_atomic(&run.file(names::METRICS), METRICS_HEADER.as_bytes())?;
    write_atomic(&run.file(names::EVENTS), b"")?;

    let threads = crate::config::resolve_threads(cfg.threads);
    let mut trainer = Trainer::new(spec, trainer_cfg, &data)?.with_threads(threads);
    trainer.state_mut().front_end = Some(cfg.to_json());
    let report = model_report(trainer.model(), None);
    let tokenizer = set_train::data::tokenizer();
    let manifest = Manifest {
        format: "set-lstm-run",
        seed: cfg.seed,
        crate_version: env!("CARGO_PKG_VERSION"),
        git_revision: crate::sysinfo::git_revision(),
        created_utc: crate::rundir::now_stamp(),
        command: std::env::args().collect(),
        threads,
        isa: crate::sysinfo::isa(),
        datasets: &data.files,
        splits: Splits {
            train: data.splits.train.len(),
            dev: data.splits.dev.len(),
            test: data.splits.test.len(),
        },
        class_names: &data.splits.class_names,
        vocab_size: data.vocab.len(),
        vocab_sha256: data.vocab.sha256(),
        tokenizer: tokenizer.config(),
        model: &trainer.model().config,
        params: report.total_params,
        dense_params: report.dense_params,
    };
    write_atomic(
        &run.file(names::MANIFEST),
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
    )?;
    crate::out::progress!(
        "run directory {} | {} train / {} dev / {} test examples | vocabulary {} | params {} of {} dense ({:.2}%)",
        run.root.display(),
        data.splits.train.len(),
        data.splits.dev.len(),
        data.splits.test.len(),
        data.vocab.len(),
        report.total_params,
        report.dense_params,
        report.density * 100.0
    );

    let trainer = trainer.with_comm(comm).with_control(control);
    let mut session = Session {
        run,
        trainer,
        data,
        latest_is_valid: false,
        hooks,
        show_test,
        _lock: Some(lock),
    };
    session.first_checkpoint()?;
    session.hand_off(&cfg)?;
    session.run()
}

impl Session {
    /// The checkpoint of the untrained state, so that a run killed in its first epoch resumes.
    fn first_checkpoint(&mut self) -> Result<()> {
        let mut obs = RunObserver::new(&self.run, &self.data.vocab, 0, self);
        obs.write_checkpoint(self.trainer.state_mut())?;
        self.latest_is_valid = true;
        Ok(())
    }

    /// Rank 0: sends the configuration, vocabulary and complete state to the other ranks
    /// (see [`follow_root`]); then every rank checks that they hold the same model.
    fn hand_off(&self, cfg: &TrainConfig) -> Result<()> {
        let comm = self.trainer.comm();
        if comm.size() == 1 {
            return Ok(());
        }
        let h = Handoff {
            config_toml: cfg.to_toml()?,
            vocab: self.data.vocab.to_bytes(),
            checkpoint: encode_checkpoint(self.trainer.state())
                .context("encoding the state for the other ranks")?,
        };
        set_train::dist::handoff(&**comm, Some(h));
        set_train::dist::check_in_sync(&**comm, self.trainer.model(), "at the start")?;
        Ok(())
    }
}

/// Ranks other than 0: receive what rank 0 hands off, read this rank's copy of the data with
/// rank 0's vocabulary, and train in step with rank 0 without writing anything.
/// `threads`: this rank's `--threads` (`None`: the run's setting).
fn follow_root(
    comm: Arc<dyn Collective>,
    threads: Option<usize>,
    control: RunControl,
    hooks: crate::testing::Hooks,
) -> Result<Outcome> {
    let h = set_train::dist::handoff(&*comm, None);
    if h.config_toml.is_empty() {
        return Ok(Outcome::AlreadyFinished);
    }
    let config = TrainConfig::from_toml(&h.config_toml)
        .context("reading the configuration sent by rank 0")?;
    let vocab = set_train::dist::vocab_from_bytes(&h.vocab)?;
    let threads = crate::config::resolve_threads(threads.unwrap_or(config.threads));
    let data = RunData::load(&config.data_config(), config.split_seed(), Some(vocab))?;
    let state = decode_checkpoint(&h.checkpoint).context("decoding the state sent by rank 0")?;
    let trainer = Trainer::from_state(state)?
        .with_comm(Arc::clone(&comm))
        .with_control(control)
        .with_threads(threads);
    set_train::dist::check_in_sync(&*comm, trainer.model(), "at the start")?;
    let mut session = Session {
        run: RunDir::new(PathBuf::from("<written by rank 0>")),
        trainer,
        data,
        latest_is_valid: false,
        hooks,
        show_test: false,
        _lock: None,
    };
    session.run()
}

/// `set-lstm resume` in one process.
///
/// # Errors
/// Refusals (exit code 4) before anything is written; then as `train`.
pub fn resume(args: ResumeArgs) -> Result<Outcome> {
    resume_with(args, Arc::new(Local))
}

/// `set-lstm resume` on the processes of `comm`: rank 0 checks and reads the run directory and
/// hands the state to the others, as in [`train_with`].
///
/// # Errors
/// As [`resume`].
pub fn resume_with(args: ResumeArgs, comm: Arc<dyn Collective>) -> Result<Outcome> {
    crate::signal::install();
    let control = run_control(&args.run)?;
    crate::config::check_threads(args.threads)?;
    let hooks = crate::testing::Hooks::new(&args.run, comm.rank());
    let show_test = args.run.show_test;
    if !comm.is_root() {
        return follow_root(comm, args.threads, control, hooks);
    }
    // Rank 0 releases the other ranks when there is nothing left to train.
    let release = |comm: &dyn Collective| {
        if comm.size() > 1 {
            set_train::dist::handoff(comm, Some(Handoff::default()));
        }
    };
    let dir = &args.run_dir;
    let run = RunDir::new(dir);
    let config_path = run.file(names::CONFIG);
    if !config_path.is_file() {
        return Err(usage(format!(
            "{}: not a run directory (no {})",
            dir.display(),
            names::CONFIG
        )));
    }
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config = TrainConfig::from_toml(&text)
        .map_err(|e| Failure::Refused(format!("{}: {e:#}", config_path.display())))?;
    if !run.latest().is_file() && !run.last_good().is_file() {
        return restart_unstarted(&run, &text, args, comm);
    }
    let ckpt = match args.from {
        Which::Latest if !run.latest().is_file() && run.last_good().is_file() => {
            tracing::warn!(
                "{} is missing; resuming from {}",
                run.latest().display(),
                run.last_good().display()
            );
            run.last_good()
        }
        Which::Latest => run.latest(),
        Which::LastGood => run.last_good(),
    };
    let state = set_train::codec::read_bytes(&ckpt)
        .and_then(|b| decode_checkpoint(&b))
        .map_err(anyhow::Error::new)
        .with_context(|| format!("checkpoint {}", ckpt.display()))?;
    let recorded = TrainConfig::from_json(state.front_end.as_ref())
        .map_err(|e| Failure::Refused(format!("checkpoint {}: {e:#}", ckpt.display())))?;
    if !recorded.same_training(&config) {
        let diff = recorded.first_difference(&config).unwrap_or_default();
        return Err(Failure::Refused(format!(
            "{} differs from the checkpoint's configuration ({diff})",
            config_path.display()
        ))
        .into());
    }
    // The settings the trainer reads (`trainer`, `spec`) must be those the recorded
    // configuration implies: an edited one would silently change the resumed run.
    let implied = (
        config.trainer_config().ok(),
        config
            .model_spec(state.spec.vocab_size, state.spec.classes)
            .ok(),
    );
    if implied != (Some(state.config.clone()), Some(state.spec.clone())) {
        return Err(Failure::Refused(format!(
            "checkpoint {}: its `trainer` or `spec` metadata differ from the configuration it records",
            ckpt.display()
        ))
        .into());
    }
    if let Some(path) = &args.config {
        let given = TrainConfig::resolve(read_settings_file(path)?)?;
        if !given.same_training(&config) {
            let diff = config.first_difference(&given).unwrap_or_default();
            return Err(Failure::Refused(format!(
                "--config {} does not match the run's configuration ({diff})",
                path.display()
            ))
            .into());
        }
    }
    let vocab_path = run.file(names::VOCAB);
    let (vocab_sha, _) = set_data::digest::sha256_file(&vocab_path)?;
    if vocab_sha != state.vocab_sha256 {
        return Err(Failure::Refused(format!(
            "{} does not match the checkpoint's vocabulary (sha256 {vocab_sha}, expected {})",
            vocab_path.display(),
            state.vocab_sha256
        ))
        .into());
    }
    // A moved data directory: read the data there, the same files by name and digest.
    let mut config = config;
    let by = match &args.data_dir {
        None => set_train::data::DataMatch::SamePaths,
        Some(_) if config.data.is_none() => {
            return Err(usage(
                "resume --data-dir: the run reads files given with --train/--test, not a registry dataset",
            ));
        }
        Some(d) => {
            if !d.is_dir() {
                return Err(usage(format!(
                    "resume --data-dir {}: no such directory",
                    d.display()
                )));
            }
            config.data_dir = Some(std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()));
            set_train::data::DataMatch::SameNames
        }
    };
    let now = config.data_config().digests()?;
    set_train::data::check_same_data(&state.datasets, &now, by)
        .map_err(|e| Failure::Refused(e.to_string()))?;
    if state.config.policy != config.policy {
        return Err(Failure::Refused(format!(
            "checkpoint policy `{}` differs from the configured `{}`",
            state.config.policy, config.policy
        ))
        .into());
    }
    let finished = state.is_finished();
    if finished && final_files_complete(&run) {
        crate::out::progress!(
            "run {} already finished ({} epochs, {} steps)",
            dir.display(),
            config.epochs,
            state.counters.global_step
        );
        release(&*comm);
        return Ok(Outcome::AlreadyFinished);
    }
    if let Some(n) = control.max_steps
        && n <= state.counters.global_step
    {
        return Err(usage(format!(
            "--max-steps {n}: the run has already taken {} steps",
            state.counters.global_step
        )));
    }
    for (name, recorded) in [
        (names::METRICS, state.progress.metrics_bytes),
        (names::EVENTS, state.progress.events_bytes),
    ] {
        let path = run.file(name);
        if file_len(&path) < recorded {
            return Err(Failure::Refused(format!(
                "{} is shorter than when the checkpoint was written: the file was modified",
                path.display()
            ))
            .into());
        }
    }
    let vocab = set_data::Vocab::load(&vocab_path)
        .with_context(|| format!("reading {}", vocab_path.display()))?;
    let data = RunData::load(&config.data_config(), config.split_seed(), Some(vocab))?;
    if data.vocab.len() != state.model.config.vocab_size
        || data.num_classes() != state.model.config.classes
    {
        return Err(Failure::Refused(
            "vocabulary or classes do not match the checkpoint's model".into(),
        )
        .into());
    }

    // The buffers the resumed run allocates (its weights are loaded already).
    let est = set_train::memory::MemoryEstimate::training(
        &state.model.config,
        &state.config,
        state.spec.max_len,
    );
    set_train::memory::MemoryEstimate {
        weights: 0,
        gradients: 0,
        optimizer: 0,
        ..est
    }
    .check_available()?;

    // Everything checked: from here on the run directory is written.
    let lock = RunLock::acquire(&run.root)?;
    remove_orphaned_tmp(&run.root)?;
    remove_orphaned_tmp(&run.checkpoints())?;
    truncate_to(&run.file(names::METRICS), state.progress.metrics_bytes)?;
    truncate_to(&run.file(names::EVENTS), state.progress.events_bytes)?;
    let threads = crate::config::resolve_threads(args.threads.unwrap_or(config.threads));
    crate::out::progress!(
        "resuming {} at epoch {}/{}, batch {}, step {}",
        dir.display(),
        state.counters.epoch + 1,
        config.epochs,
        state.counters.step_in_epoch,
        state.counters.global_step
    );
    let latest_is_valid = ckpt == run.latest();
    let trainer = Trainer::from_state(state)?
        .with_comm(Arc::clone(&comm))
        .with_control(control)
        .with_threads(threads);
    let mut session = Session {
        run,
        trainer,
        data,
        latest_is_valid,
        hooks,
        show_test,
        _lock: Some(lock),
    };
    if finished {
        // The other ranks are released: rank 0 writes the final outputs alone.
        release(&*comm);
        session.trainer.set_comm(Arc::new(Local));
        session.finish()?;
        return Ok(Outcome::Finished);
    }
    session.hand_off(&config)?;
    session.run()
}

/// Whether a finished run's final files are all there (and no temporary file is left): a run
/// killed while writing them is completed by `resume`, not reported "already finished".
fn final_files_complete(run: &RunDir) -> bool {
    let plots = ["learning_curves.svg", "evolution.svg", "topology.svg"];
    let tmp_left = [run.root.clone(), run.checkpoints(), run.plots()]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
    run.file(names::MODEL).is_file()
        && run.file(names::SUMMARY).is_file()
        && plots.iter().all(|p| run.plots().join(p).is_file())
        && run.file(crate::report::REPORT).is_file()
        && !tmp_left
}

/// `resume` of a run killed before its first checkpoint: nothing was trained, so the run starts
/// again from its `config.toml` in the same directory (whose other files are the run's own and
/// are removed first; an unknown file is left alone and refuses the restart).
fn restart_unstarted(
    run: &RunDir,
    config_text: &str,
    args: ResumeArgs,
    comm: Arc<dyn Collective>,
) -> Result<Outcome> {
    let settings: crate::config::Settings = toml::from_str(config_text)
        .map_err(|e| Failure::Refused(format!("{}: {e}", run.file(names::CONFIG).display())))?;
    {
        let _lock = RunLock::acquire(&run.root)?;
        for name in [
            names::CONFIG,
            names::VOCAB,
            names::METRICS,
            names::EVENTS,
            names::MANIFEST,
        ] {
            let p = run.file(name);
            if p.is_file() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
        for dir in [run.checkpoints(), run.plots()] {
            remove_orphaned_tmp(&dir)?;
            let _ = std::fs::remove_dir(&dir);
        }
        remove_orphaned_tmp(&run.root)?;
    }
    eprintln!(
        "{} has no checkpoint (the run was stopped before its first one): starting it again from its configuration",
        run.root.display()
    );
    let train = TrainArgs {
        config: None,
        settings,
        out: Some(run.root.clone()),
        run: args.run,
    };
    train_with(train, comm)
}
