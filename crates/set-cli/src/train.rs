//! `train` and `resume`: the training loop with derived RNG streams, per-epoch evaluation,
//! metrics, evolution events, checkpoints, NaN/Inf stops, signal handling and final outputs.

use crate::checkpoint::{
    Counters, ModelBundle, Progress, TrainingState, decode_checkpoint, encode_checkpoint,
    encode_model, read_bytes,
};
use crate::cli::{ResumeArgs, TrainArgs, Which};
use crate::config::{TrainConfig, merge, read_settings_file};
use crate::data::{RunData, digests, vocab_sha256};
use crate::dist::{Collective, DataParallel, Handoff, Local};
use crate::eval::{SplitEval, evaluate_with};
use crate::exit::{Failure, usage};
use crate::rng::{Stream, stream_rng};
use crate::rundir::{
    METRICS_HEADER, RunDir, RunLock, append_synced, file_len, names, remove_orphaned_tmp,
    truncate_to, write_atomic,
};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use set_evolve::EvolutionPolicy;
use set_nn::{BatchRef, Classifier, NnError, Optimizer, model_report};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

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

/// Run-control options that do not change results.
#[derive(Debug, Clone)]
struct RunOptions {
    max_steps: Option<u64>,
    checkpoint_every: u64,
    step_delay_ms: u64,
}

/// `summary.json`.
#[derive(Debug, Serialize)]
struct Summary {
    test_accuracy: Option<f64>,
    test_loss: Option<f64>,
    dev_accuracy: Option<f64>,
    best_dev_accuracy: Option<f64>,
    best_dev_epoch: Option<usize>,
    params: usize,
    dense_params: usize,
    density: f64,
    weight_bytes: usize,
    train_seconds: f64,
    epochs: usize,
    global_steps: u64,
    evolution_steps: u64,
    itop_rate: Option<f64>,
    topology_sha256: String,
    peak_rss_bytes: Option<u64>,
}

/// One live training session over a run directory.
struct Session {
    run: RunDir,
    state: TrainingState,
    policy: Box<dyn EvolutionPolicy>,
    data: RunData,
    opts: RunOptions,
    session_start: Instant,
    base_train_ms: u64,
    /// Whether `checkpoints/latest` is known to be valid (written by this process or loaded
    /// from): only then does it become `last-good` when the next checkpoint is written.
    latest_is_valid: bool,
    /// The processes training this model (one, or MPI ranks); only rank 0 writes `run`.
    comm: Arc<dyn Collective>,
    /// Gradient exchange buffers of data-parallel steps.
    dp: DataParallel,
    /// Dev and test evaluation of the last epoch trained in this process, with its epoch
    /// (0-based): the final model is that epoch's model, so `finish` need not evaluate again.
    last_eval: Option<(usize, Option<SplitEval>, Option<SplitEval>)>,
    /// Held by rank 0 only.
    _lock: Option<RunLock>,
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn non_finite(e: NnError) -> anyhow::Error {
    match e {
        NnError::NonFinite { what, tensor, step } => Failure::NonFinite {
            what: what.to_string(),
            tensor,
            step,
        }
        .into(),
        other => other.into(),
    }
}

fn progress_bar(len: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} batches {elapsed}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(format!("{}/{epochs}", epoch + 1));
    pb
}

impl Session {
    /// A session continuing `state` from its counters and its training time so far, with the
    /// configured evolution policy (the state holds the one topology tracker).
    fn new(
        run: RunDir,
        lock: Option<RunLock>,
        state: TrainingState,
        data: RunData,
        opts: RunOptions,
        comm: Arc<dyn Collective>,
        latest_is_valid: bool,
    ) -> Self {
        let policy = crate::evolution::build_policy(state.config.policy);
        Session {
            run,
            base_train_ms: state.progress.train_ms,
            state,
            policy,
            data,
            opts,
            session_start: Instant::now(),
            latest_is_valid,
            comm,
            dp: DataParallel::default(),
            last_eval: None,
            _lock: lock,
        }
    }

    fn train_ms(&self) -> u64 {
        self.base_train_ms + ms(self.session_start.elapsed())
    }

    /// Writes a checkpoint of the current state (refuses non-finite values). Rank 0 only.
    fn checkpoint(&mut self, epoch_ms: u64) -> Result<()> {
        if !self.comm.is_root() {
            return Ok(());
        }
        self.state.progress.metrics_bytes = file_len(&self.run.file(names::METRICS));
        self.state.progress.events_bytes = file_len(&self.run.file(names::EVENTS));
        self.state.progress.train_ms = self.train_ms();
        self.state.progress.epoch_ms = epoch_ms;
        let bytes = encode_checkpoint(&self.state).context("refusing to write a checkpoint")?;
        self.run
            .rotate_and_write_checkpoint(&bytes, self.latest_is_valid)?;
        self.latest_is_valid = true;
        tracing::debug!(
            "checkpoint at epoch {} step {} (global step {})",
            self.state.counters.epoch,
            self.state.counters.step_in_epoch,
            self.state.counters.global_step
        );
        Ok(())
    }

    fn nnz(&self) -> (usize, f64) {
        let r = model_report(&self.state.model, None);
        (r.total_params, r.density)
    }

    /// The training loop, from the state's counters to the end (or a stop).
    fn run(&mut self) -> Result<Outcome> {
        let cfg = self.state.config.clone();
        let bcfg = cfg.batch_config();
        let has_sparse = crate::evolution::has_sparse(&self.state.model);
        while self.state.counters.epoch < cfg.epochs {
            let epoch = self.state.counters.epoch;
            let epoch_start = Instant::now();
            let epoch_base_ms = self.state.progress.epoch_ms;
            let epoch_ms = |start: &Instant| epoch_base_ms + ms(start.elapsed());
            let mut shuffle = stream_rng(cfg.seed, Stream::Shuffle, epoch as u64);
            let batches =
                set_data::make_batches(&self.data.splits.train, &bcfg, Some(&mut shuffle))?;
            let pb = progress_bar(batches.len(), epoch, cfg.epochs);
            pb.set_position(self.state.counters.step_in_epoch as u64);
            // No checkpoint is ever taken between an epoch's last step and its end (evaluation,
            // evolution): gradient-based policies regrow by that last step's gradient, which
            // lives only in memory.
            let mut stop_after_epoch = false;
            while self.state.counters.step_in_epoch < batches.len() {
                if self.comm.any(crate::signal::requested()) {
                    pb.finish_and_clear();
                    self.checkpoint(epoch_ms(&epoch_start))?;
                    return Ok(Outcome::Interrupted {
                        global_step: self.state.counters.global_step,
                        run_dir: self.run.root.clone(),
                    });
                }
                let b = &batches[self.state.counters.step_in_epoch];
                let g = self.state.counters.global_step;
                let step_no = g + 1;
                #[cfg(feature = "mpi")]
                crate::dist::planted_panic(&*self.comm, step_no);
                let mut dropout = crate::dist::dropout_rng(cfg.seed, g, &*self.comm);
                let model = &mut self.state.model;
                let stats = self
                    .dp
                    .train_step(
                        &*self.comm,
                        model,
                        &BatchRef {
                            tokens: &b.tokens,
                            lengths: &b.lengths,
                            seq_len: b.seq_len,
                        },
                        &b.labels,
                        &mut dropout,
                        step_no,
                    )
                    .map_err(non_finite)?;
                model.check_finite_grads(step_no).map_err(non_finite)?;
                if cfg.clip > 0.0 {
                    set_nn::clip_global_norm(model.params_mut(), cfg.clip);
                }
                self.state.optimizer.step(model.params_mut());
                model.check_finite_weights(step_no).map_err(non_finite)?;
                let p = &mut self.state.progress;
                p.loss_sum_bits =
                    (f64::from_bits(p.loss_sum_bits) + stats.loss * stats.batch as f64).to_bits();
                p.correct += stats.correct as u64;
                p.examples += stats.batch as u64;
                self.state.counters.global_step += 1;
                self.state.counters.step_in_epoch += 1;
                pb.inc(1);
                if self.opts.step_delay_ms > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(self.opts.step_delay_ms));
                }
                let gs = self.state.counters.global_step;
                let last_in_epoch = self.state.counters.step_in_epoch == batches.len();
                if self.opts.max_steps == Some(gs) && last_in_epoch {
                    stop_after_epoch = true;
                } else if self.opts.max_steps == Some(gs) {
                    pb.finish_and_clear();
                    self.checkpoint(epoch_ms(&epoch_start))?;
                    return Ok(Outcome::Stopped {
                        global_step: gs,
                        run_dir: self.run.root.clone(),
                    });
                }
                if self.opts.checkpoint_every > 0
                    && gs.is_multiple_of(self.opts.checkpoint_every)
                    && !last_in_epoch
                {
                    self.checkpoint(epoch_ms(&epoch_start))?;
                }
            }
            pb.finish_and_clear();
            self.end_epoch(epoch, has_sparse, epoch_ms(&epoch_start))?;
            self.checkpoint(0)?;
            let more = self.state.counters.epoch < cfg.epochs;
            if more && stop_after_epoch {
                return Ok(Outcome::Stopped {
                    global_step: self.state.counters.global_step,
                    run_dir: self.run.root.clone(),
                });
            }
            if more && self.comm.any(crate::signal::requested()) {
                return Ok(Outcome::Interrupted {
                    global_step: self.state.counters.global_step,
                    run_dir: self.run.root.clone(),
                });
            }
        }
        self.finish()?;
        Ok(Outcome::Finished)
    }

    /// Evaluation, metrics rows, the summary line and the evolution step after `epoch`.
    fn end_epoch(&mut self, epoch: usize, has_sparse: bool, epoch_ms: u64) -> Result<()> {
        let cfg = self.state.config.clone();
        let bcfg = cfg.batch_config();
        let p = &self.state.progress;
        let n = p.examples.max(1) as f64;
        let train = SplitEval {
            loss: f64::from_bits(p.loss_sum_bits) / n,
            accuracy: p.correct as f64 / n,
            examples: p.examples as usize,
        };
        let root = self.comm.is_root();
        let model = &self.state.model;
        let comm = &*self.comm;
        let dev = evaluate_with(model, &self.data.splits.dev, &bcfg, comm)?;
        let test = evaluate_with(model, &self.data.splits.test, &bcfg, comm)?;
        self.last_eval = Some((epoch, dev, test));
        let (nnz, density) = self.nnz();
        let secs = epoch_ms as f64 / 1000.0;
        let mut rows = String::new();
        for (split, e) in [("train", Some(train)), ("dev", dev), ("test", test)] {
            if let Some(e) = e {
                rows.push_str(&format!(
                    "{},{split},{},{},{nnz},{density},{secs:.3}\n",
                    epoch + 1,
                    e.loss,
                    e.accuracy
                ));
            }
        }
        if root {
            append_synced(&self.run.file(names::METRICS), &rows)?;
        }
        if let Some(d) = dev {
            let best = self
                .state
                .progress
                .best_dev_accuracy_bits
                .map(f64::from_bits);
            if best.is_none_or(|b| d.accuracy > b) {
                self.state.progress.best_dev_accuracy_bits = Some(d.accuracy.to_bits());
                self.state.progress.best_dev_epoch = Some(epoch + 1);
            }
        }
        let mut line = format!(
            "epoch {}/{} | train loss {:.4} acc {:.4}",
            epoch + 1,
            cfg.epochs,
            train.loss,
            train.accuracy
        );
        for (split, e) in [("dev", dev), ("test", test)] {
            if let Some(e) = e {
                line.push_str(&format!(
                    " | {split} loss {:.4} acc {:.4}",
                    e.loss, e.accuracy
                ));
            }
        }
        line.push_str(&format!(" | params {nnz} ({:.2}%)", density * 100.0));
        if has_sparse && set_evolve::should_evolve(epoch, cfg.epochs) {
            let ctx = crate::evolution::context(epoch, cfg.epochs, cfg.zeta, cfg.new_weight_std)?;
            let when = format!("before the evolution step after epoch {}", epoch + 1);
            crate::dist::check_in_sync(&*self.comm, &self.state.model, &when)?;
            if root {
                let mut rng = stream_rng(cfg.seed, Stream::Evolve, epoch as u64);
                let report = crate::evolution::evolve(
                    &mut self.state.model,
                    &mut self.state.optimizer,
                    self.policy.as_mut(),
                    &ctx,
                    &mut self.state.tracker,
                    &mut rng,
                )
                .with_context(|| format!("evolution step after epoch {}", epoch + 1))?;
                append_synced(
                    &self.run.file(names::EVENTS),
                    &format!("{}\n", serde_json::to_string(&report)?),
                )?;
                line.push_str(&format!(
                    " | {} pruned/regrown {}/{}",
                    report.policy, report.total_removed, report.total_added
                ));
            }
            self.state.counters.evolution_steps += 1;
            if self.comm.size() > 1 {
                self.sync_from_root()
                    .with_context(|| format!("sharing the topology after epoch {}", epoch + 1))?;
                let when = format!("after the evolution step after epoch {}", epoch + 1);
                crate::dist::check_in_sync(&*self.comm, &self.state.model, &when)?;
            }
        }
        line.push_str(&format!(" | {secs:.1}s"));
        if root {
            println!("{line}");
        }
        self.state.counters.epoch += 1;
        self.state.counters.step_in_epoch = 0;
        let p = &mut self.state.progress;
        p.loss_sum_bits = 0f64.to_bits();
        p.correct = 0;
        p.examples = 0;
        p.epoch_ms = 0;
        Ok(())
    }

    /// Rank 0's model and optimizer state (weights, topology, moments) replace every other
    /// rank's: the evolution step of rank 0 becomes everyone's.
    fn sync_from_root(&mut self) -> Result<()> {
        let mut bytes = if self.comm.is_root() {
            encode_checkpoint(&self.state).context("encoding the state for the other ranks")?
        } else {
            Vec::new()
        };
        self.comm.broadcast_bytes(&mut bytes);
        if !self.comm.is_root() {
            let s = decode_checkpoint(&bytes).context("decoding the state sent by rank 0")?;
            self.state.model = s.model;
            self.state.optimizer = s.optimizer;
        }
        Ok(())
    }

    /// Final model, summary and plots (written by rank 0; every rank takes part in the final
    /// evaluation).
    fn finish(&mut self) -> Result<()> {
        let cfg = &self.state.config;
        let bcfg = cfg.batch_config();
        let comm = &*self.comm;
        // The last epoch's evaluation is the final model's (no evolution follows the last
        // epoch); only a run resumed after its last epoch evaluates here.
        let (dev, test) = match self.last_eval {
            Some((e, dev, test)) if e + 1 == cfg.epochs => (dev, test),
            _ => (
                evaluate_with(&self.state.model, &self.data.splits.dev, &bcfg, comm)?,
                evaluate_with(&self.state.model, &self.data.splits.test, &bcfg, comm)?,
            ),
        };
        if !comm.is_root() {
            return Ok(());
        }
        let bundle = ModelBundle {
            config: cfg.clone(),
            model: self.state.model.clone(),
            vocab: self.data.vocab.clone(),
            class_names: self.state.class_names.clone(),
        };
        let bytes = encode_model(&bundle).context("refusing to write the final model")?;
        write_atomic(&self.run.file(names::MODEL), &bytes)?;
        let r = model_report(&self.state.model, None);
        let tracker = &self.state.tracker;
        let summary = Summary {
            test_accuracy: test.map(|t| t.accuracy),
            test_loss: test.map(|t| t.loss),
            dev_accuracy: dev.map(|d| d.accuracy),
            best_dev_accuracy: self
                .state
                .progress
                .best_dev_accuracy_bits
                .map(f64::from_bits),
            best_dev_epoch: self.state.progress.best_dev_epoch,
            params: r.total_params,
            dense_params: r.dense_params,
            density: r.density,
            weight_bytes: r.weight_bytes,
            train_seconds: self.train_ms() as f64 / 1000.0,
            epochs: cfg.epochs,
            global_steps: self.state.counters.global_step,
            evolution_steps: self.state.counters.evolution_steps,
            itop_rate: tracker
                .names()
                .next()
                .is_some()
                .then(|| tracker.total_itop_rate()),
            topology_sha256: crate::evolution::topology_sha256(&self.state.model),
            peak_rss_bytes: crate::sysinfo::peak_rss_bytes(),
        };
        write_atomic(
            &self.run.file(names::SUMMARY),
            format!("{}\n", serde_json::to_string_pretty(&summary)?).as_bytes(),
        )?;
        if let Err(e) = crate::plots::write_all(&self.run, &self.state.model) {
            tracing::warn!("plots not written: {e:#}");
        }
        let acc = test.map_or("n/a".to_string(), |t| format!("{:.4}", t.accuracy));
        println!(
            "test accuracy {acc} | params {} of {} dense ({:.2}%) | {:.1}s | run directory {}",
            r.total_params,
            r.dense_params,
            r.density * 100.0,
            summary.train_seconds,
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
    datasets: &'a [crate::data::FileDigest],
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

fn check_steps(max_steps: Option<u64>) -> Result<()> {
    if max_steps == Some(0) {
        return Err(usage(
            "invalid value 0 for --max-steps: expected an integer >= 1",
        ));
    }
    Ok(())
}

/// `set-lstm train` in one process.
///
/// # Errors
/// Usage errors before anything is written; data, I/O and numerical errors after.
pub fn train(args: TrainArgs) -> Result<Outcome> {
    train_with(args, Arc::new(Local))
}

/// `set-lstm train` on the processes of `comm` (see [`crate::dist`]): rank 0 does everything
/// [`train`] does and hands the initial state to the others; all ranks then train together.
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
    check_steps(args.max_steps)?;
    let opts = RunOptions {
        max_steps: args.max_steps,
        checkpoint_every: args.checkpoint_every,
        step_delay_ms: args.step_delay_ms,
    };
    if !comm.is_root() {
        return follow_root(comm, Some(cfg.threads), opts);
    }
    let out = args.out.clone().unwrap_or_else(|| default_out(&cfg));
    check_out_free(&out)?;
    let pool = set_nn::runtime::training_pool(cfg.threads).context("building the thread pool")?;
    let data = crate::data::load(&cfg, None)?;
    let classes = data.splits.num_classes;
    let mcfg = cfg.classifier_config(data.vocab.len(), classes)?;
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

    let model = pool.install(|| {
        Classifier::<f32>::new(mcfg.clone(), &mut stream_rng(cfg.seed, Stream::Init, 0))
    })?;
    let optimizer = Optimizer::new(cfg.optimizer_config(), model.params());
    let report = model_report(&model, None);
    let tokenizer = crate::data::tokenizer();
    let manifest = Manifest {
        format: "set-lstm-run",
        seed: cfg.seed,
        crate_version: env!("CARGO_PKG_VERSION"),
        git_revision: crate::sysinfo::git_revision(),
        created_utc: crate::rundir::now_stamp(),
        command: std::env::args().collect(),
        threads: cfg.threads,
        isa: crate::sysinfo::isa(),
        datasets: &data.files,
        splits: Splits {
            train: data.splits.train.len(),
            dev: data.splits.dev.len(),
            test: data.splits.test.len(),
        },
        class_names: &data.splits.class_names,
        vocab_size: data.vocab.len(),
        vocab_sha256: vocab_sha256(&data.vocab),
        tokenizer: tokenizer.config(),
        model: &mcfg,
        params: report.total_params,
        dense_params: report.dense_params,
    };
    write_atomic(
        &run.file(names::MANIFEST),
        format!("{}\n", serde_json::to_string_pretty(&manifest)?).as_bytes(),
    )?;
    println!(
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

    let policy = crate::evolution::build_policy(cfg.policy);
    let state = TrainingState {
        class_names: data.splits.class_names.clone(),
        vocab_sha256: vocab_sha256(&data.vocab),
        datasets: data.files.clone(),
        policy: policy.name().to_string(),
        tracker: set_evolve::TopologyTracker::new(),
        config: cfg,
        model,
        optimizer,
        counters: Counters::default(),
        progress: Progress::default(),
    };
    let mut session = Session::new(run, Some(lock), state, data, opts, comm, false);
    session.checkpoint(0)?;
    session.hand_off()?;
    pool.install(|| session.run())
}

impl Session {
    /// Rank 0: sends the configuration, vocabulary and complete state to the other ranks
    /// (see [`follow_root`]); then every rank checks that they hold the same model.
    fn hand_off(&self) -> Result<()> {
        if self.comm.size() == 1 {
            return Ok(());
        }
        let h = Handoff {
            config_toml: self.state.config.to_toml()?,
            vocab: crate::data::vocab_bytes(&self.data.vocab),
            checkpoint: encode_checkpoint(&self.state)
                .context("encoding the state for the other ranks")?,
        };
        crate::dist::handoff(&*self.comm, Some(h));
        crate::dist::check_in_sync(&*self.comm, &self.state.model, "at the start")?;
        Ok(())
    }
}

/// Ranks other than 0: receive what rank 0 hands off, read this rank's copy of the data with
/// rank 0's vocabulary, and train in step with rank 0 without writing anything.
/// `threads`: this rank's `--threads` (`None`: the run's setting).
fn follow_root(
    comm: Arc<dyn Collective>,
    threads: Option<usize>,
    opts: RunOptions,
) -> Result<Outcome> {
    let h = crate::dist::handoff(&*comm, None);
    if h.config_toml.is_empty() {
        return Ok(Outcome::AlreadyFinished);
    }
    let config = TrainConfig::from_toml(&h.config_toml)
        .context("reading the configuration sent by rank 0")?;
    let vocab = crate::dist::vocab_from_bytes(&h.vocab)?;
    let threads = crate::config::resolve_threads(threads.unwrap_or(config.threads));
    let pool = set_nn::runtime::training_pool(threads).context("building the thread pool")?;
    let data = crate::data::load(&config, Some(vocab))?;
    let state = decode_checkpoint(&h.checkpoint).context("decoding the state sent by rank 0")?;
    let run = RunDir::new(PathBuf::from("<written by rank 0>"));
    let mut session = Session::new(run, None, state, data, opts, comm, false);
    crate::dist::check_in_sync(&*session.comm, &session.state.model, "at the start")?;
    pool.install(|| session.run())
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
    check_steps(args.max_steps)?;
    crate::config::check_threads(args.threads)?;
    let opts = RunOptions {
        max_steps: args.max_steps,
        checkpoint_every: args.checkpoint_every,
        step_delay_ms: args.step_delay_ms,
    };
    if !comm.is_root() {
        return follow_root(comm, args.threads, opts);
    }
    // Rank 0 releases the other ranks when there is nothing left to train.
    let release = |comm: &dyn Collective| {
        if comm.size() > 1 {
            crate::dist::handoff(comm, Some(Handoff::default()));
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
    let state = read_bytes(&ckpt)
        .and_then(|b| decode_checkpoint(&b))
        .map_err(anyhow::Error::new)
        .with_context(|| format!("checkpoint {}", ckpt.display()))?;
    if !state.config.same_training(&config) {
        let diff = state.config.first_difference(&config).unwrap_or_default();
        return Err(Failure::Refused(format!(
            "{} differs from the checkpoint's configuration ({diff})",
            config_path.display()
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
    let vocab_sha = crate::sysinfo::sha256_file(&vocab_path)?;
    if vocab_sha != state.vocab_sha256 {
        return Err(Failure::Refused(format!(
            "{} does not match the checkpoint's vocabulary (sha256 {vocab_sha}, expected {})",
            vocab_path.display(),
            state.vocab_sha256
        ))
        .into());
    }
    let now = digests(&config)?;
    for (want, have) in state.datasets.iter().zip(&now) {
        if want.sha256 != have.sha256 || want.path != have.path {
            return Err(Failure::Refused(format!(
                "data file {} changed since the run started (sha256 {}, expected {})",
                have.path.display(),
                have.sha256,
                want.sha256
            ))
            .into());
        }
    }
    if state.datasets.len() != now.len() {
        return Err(Failure::Refused("the run's data files changed".into()).into());
    }
    let policy_name = config.policy.as_str();
    if state.policy != policy_name {
        return Err(Failure::Refused(format!(
            "checkpoint policy `{}` differs from the configured `{policy_name}`",
            state.policy
        ))
        .into());
    }
    let finished = state.counters.epoch >= config.epochs;
    if finished && run.file(names::MODEL).is_file() {
        println!(
            "run {} already finished ({} epochs, {} steps)",
            dir.display(),
            config.epochs,
            state.counters.global_step
        );
        release(&*comm);
        return Ok(Outcome::AlreadyFinished);
    }
    if let Some(n) = args.max_steps
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
    let data = crate::data::load(&config, Some(vocab))?;
    if data.vocab.len() != state.model.config.vocab_size
        || data.splits.num_classes != state.model.config.classes
    {
        return Err(Failure::Refused(
            "vocabulary or classes do not match the checkpoint's model".into(),
        )
        .into());
    }

    // Everything checked: from here on the run directory is written.
    let lock = RunLock::acquire(&run.root)?;
    remove_orphaned_tmp(&run.root)?;
    remove_orphaned_tmp(&run.checkpoints())?;
    truncate_to(&run.file(names::METRICS), state.progress.metrics_bytes)?;
    truncate_to(&run.file(names::EVENTS), state.progress.events_bytes)?;
    let threads = crate::config::resolve_threads(args.threads.unwrap_or(config.threads));
    let pool = set_nn::runtime::training_pool(threads).context("building the thread pool")?;
    println!(
        "resuming {} at epoch {}/{}, batch {}, step {}",
        dir.display(),
        state.counters.epoch + 1,
        config.epochs,
        state.counters.step_in_epoch,
        state.counters.global_step
    );
    let latest_is_valid = ckpt == run.latest();
    let mut session = Session::new(run, Some(lock), state, data, opts, comm, latest_is_valid);
    if finished {
        // The other ranks are released: rank 0 writes the final outputs alone.
        release(&*session.comm);
        session.comm = Arc::new(Local);
        pool.install(|| session.finish())?;
        return Ok(Outcome::Finished);
    }
    session.hand_off()?;
    pool.install(|| session.run())
}
