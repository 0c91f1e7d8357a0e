//! [`Trainer`]: the training step (forward and backward, finite checks, clipping, optimizer),
//! the epoch, evaluation, the evolution step, stop requests and step limits. Front ends watch
//! and extend a run through an [`Observer`] (progress bars, metric logs, checkpoints).

use crate::analytics::has_sparse;
use crate::batch::batch_ref;
use crate::config::TrainerConfig;
use crate::data::RunData;
use crate::dist::{Collective, DataParallel, Local};
use crate::error::{Result, TrainError};
use crate::eval::{SplitEval, evaluate_with, evaluate_with_progress};
use crate::rng::{Stream, stream_rng};
use crate::spec::ModelSpec;
use crate::state::{Counters, Progress, TrainingState};
use set_data::{Batch, BatchConfig};
use set_evolve::{EvolutionPolicy, EvolutionReport, TopologyTracker};
use set_nn::{Classifier, Optimizer, StepStats, model_report};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A flag that asks a running [`Trainer::fit`] to stop after its current step (checkpointing
/// through [`Observer::on_checkpoint`] first). Cheap to clone; all clones share the flag.
///
/// ```
/// let stop = set_train::StopFlag::default();
/// let other = stop.clone();
/// other.request();
/// assert!(stop.is_requested());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the run to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// When a run stops early and how often it checkpoints; none of it changes results.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Stop after this many optimizer steps in total (with a checkpoint).
    pub max_steps: Option<u64>,
    /// Also checkpoint every this many steps within an epoch (0 = only at epoch ends).
    pub checkpoint_every: u64,
    /// Stop requests (signals, a user interface).
    pub stop: StopFlag,
}

/// How [`Trainer::fit`] ended (errors aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All epochs done.
    Finished,
    /// [`RunControl::max_steps`] reached; a checkpoint was offered to the observer.
    Stopped {
        /// Optimizer steps taken.
        global_step: u64,
    },
    /// A stop was requested; a checkpoint was offered to the observer.
    Interrupted {
        /// Optimizer steps taken.
        global_step: u64,
    },
}

/// What one epoch produced, handed to [`Observer::on_epoch`].
#[derive(Debug, Clone)]
pub struct EpochEvent {
    /// The epoch (0-based).
    pub epoch: usize,
    /// Epochs of the run.
    pub epochs: usize,
    /// Running training loss and accuracy of the epoch.
    pub train: SplitEval,
    /// Dev evaluation after the epoch (before evolution); `None` without a dev split.
    pub dev: Option<SplitEval>,
    /// Test evaluation after the epoch.
    pub test: Option<SplitEval>,
    /// Stored parameters.
    pub params: usize,
    /// Stored / dense parameters.
    pub density: f64,
    /// Wall time of the epoch's training steps (ms), over all sessions.
    pub train_ms: u64,
    /// The epoch's last evolution step, if one ran (on the process that ran it): the step after
    /// the epoch, or with `evolve_every` the last of the epoch's steps
    /// ([`Observer::on_evolution`] sees every one).
    pub evolution: Option<EvolutionReport>,
    /// Whether this dev accuracy is the best so far.
    pub best_dev: bool,
}

/// One optimizer step, handed to [`Observer::on_step`].
#[derive(Debug, Clone, Copy)]
pub struct StepEvent {
    /// Epoch (0-based).
    pub epoch: usize,
    /// Steps of this epoch done, this one included.
    pub step_in_epoch: usize,
    /// Batches in the epoch.
    pub batches: usize,
    /// Optimizer steps taken in total.
    pub global_step: u64,
    /// The step's statistics (mean loss over the batch).
    pub stats: StepStats,
}

/// What a finished run reached: final and best-dev accuracy, parameter counts, time, steps and
/// topology facts (the command line writes it as `summary.json`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    /// Test accuracy of the final model.
    pub test_accuracy: Option<f64>,
    /// Test loss of the final model.
    pub test_loss: Option<f64>,
    /// Dev accuracy of the final model.
    pub dev_accuracy: Option<f64>,
    /// Best dev accuracy after any epoch.
    pub best_dev_accuracy: Option<f64>,
    /// Epoch (1-based) of the best dev accuracy.
    pub best_dev_epoch: Option<usize>,
    /// Test accuracy of the best dev epoch's model (the model early stopping keeps).
    pub best_dev_test_accuracy: Option<f64>,
    /// Whether early stopping ended the run before its last epoch.
    pub early_stopped: bool,
    /// Stored parameters.
    pub params: usize,
    /// Parameters of the dense model of the same shapes.
    pub dense_params: usize,
    /// `params / dense_params`.
    pub density: f64,
    /// Bytes of weights and sparse structure.
    pub weight_bytes: usize,
    /// Training wall time over all sessions.
    pub train_seconds: f64,
    /// Epochs.
    pub epochs: usize,
    /// Optimizer steps.
    pub global_steps: u64,
    /// Evolution steps.
    pub evolution_steps: u64,
    /// In-time over-parameterisation rate: positions ever active / all positions of the sparse
    /// matrices (sparse runs).
    pub itop_rate: Option<f64>,
    /// SHA-256 of the final topology ([`crate::topology_sha256`]).
    pub topology_sha256: String,
    /// Share of regrown connections that the next evolution step did not prune, over every
    /// step and sparse matrix (`None` without two evolution steps that regrow).
    pub regrowth_survival: Option<f64>,
}

/// An observer's error: anything it wants to stop training with.
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// Hooks into [`Trainer::fit`]; every method has a default that does nothing. Called on every
/// process of a data-parallel run (give processes other than rank 0 an observer that writes
/// nothing). An error from any hook stops training with [`TrainError::Observer`].
pub trait Observer {
    /// An epoch starts (or resumes at `done` of `batches` steps).
    fn on_epoch_start(&mut self, _epoch: usize, _batches: usize, _done: usize) {}

    /// Evaluation of `split` (`"dev"` or `"test"`) after an epoch has done `done` of `total`
    /// batches.
    fn on_eval_progress(&mut self, _split: &str, _done: usize, _total: usize) {}

    /// Called before each optimizer step (1-based `step`).
    ///
    /// # Errors
    /// Stops training.
    fn before_step(&mut self, _step: u64) -> Result<(), ObserverError> {
        Ok(())
    }

    /// An optimizer step finished.
    ///
    /// # Errors
    /// Stops training.
    fn on_step(&mut self, _event: &StepEvent) -> Result<(), ObserverError> {
        Ok(())
    }

    /// The dev accuracy just reached a new best: `state` holds that epoch's model, before any
    /// evolution step (front ends save it as the best-dev model).
    ///
    /// # Errors
    /// Stops training.
    fn on_best_dev(&mut self, _state: &TrainingState) -> Result<(), ObserverError> {
        Ok(())
    }

    /// An evolution step just ran (after an epoch, or every `evolve_every` optimizer steps),
    /// on the process that ran it; called before the next checkpoint.
    ///
    /// # Errors
    /// Stops training.
    fn on_evolution(&mut self, _report: &EvolutionReport) -> Result<(), ObserverError> {
        Ok(())
    }

    /// An epoch finished: evaluation done, evolution step done if one ran.
    ///
    /// # Errors
    /// Stops training.
    fn on_epoch(&mut self, _event: &EpochEvent) -> Result<(), ObserverError> {
        Ok(())
    }

    /// A point where the state is consistent and worth saving: an epoch's end, every
    /// [`RunControl::checkpoint_every`] steps, and before a stop. Front ends write checkpoints
    /// here (`crate::encode_checkpoint`); they may record their own log offsets in
    /// `state.progress` first.
    ///
    /// # Errors
    /// Stops training.
    fn on_checkpoint(&mut self, _state: &mut TrainingState) -> Result<(), ObserverError> {
        Ok(())
    }
}

/// The observer that observes nothing.
impl Observer for () {}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Trains one model: owns the [`TrainingState`], the evolution policy and the data-parallel
/// buffers.
///
/// ```no_run
/// use set_train::{DataConfig, ModelSpec, RunData, Trainer, TrainerConfig};
/// let data = RunData::load(&DataConfig::registry("uci", "datasets"), 42, None).unwrap();
/// let spec = ModelSpec::new(data.vocab.len(), 64, 64, data.num_classes());
/// let mut trainer = Trainer::new(spec, TrainerConfig::default().with_epochs(3), &data).unwrap();
/// trainer.fit(&data, &mut ()).unwrap();
/// let (_, test) = trainer.final_evaluation(&data).unwrap();
/// println!("test accuracy {:.3}", test.unwrap().accuracy);
/// ```
pub struct Trainer {
    state: TrainingState,
    policy: Box<dyn EvolutionPolicy>,
    comm: Arc<dyn Collective>,
    dp: DataParallel,
    control: RunControl,
    session_start: Instant,
    base_train_ms: u64,
    /// Dev and test evaluation of the last epoch trained in this process, with its epoch.
    last_eval: Option<(usize, Option<SplitEval>, Option<SplitEval>)>,
    /// Worker threads of the training pool (0 = one per core).
    threads: usize,
    /// Optimizer steps of the whole run, once known (the learning-rate schedule's length).
    total_steps: Option<u64>,
    /// The flush-to-zero pool every step and evaluation runs in, built on first use.
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl Trainer {
    /// A new run: the model of `spec` initialised from the seed's init stream, a fresh
    /// optimizer, counters at zero. `data` gives the class names, vocabulary digest and files.
    ///
    /// # Errors
    /// Invalid settings, or a spec that does not fit the data (vocabulary size, classes).
    pub fn new(spec: ModelSpec, config: TrainerConfig, data: &RunData) -> Result<Self> {
        config.validate()?;
        if spec.vocab_size != data.vocab.len() || spec.classes != data.num_classes() {
            return Err(TrainError::Mismatch(format!(
                "the spec has vocabulary {} and {} classes, the data {} and {}",
                spec.vocab_size,
                spec.classes,
                data.vocab.len(),
                data.num_classes()
            )));
        }
        let mcfg = spec.classifier_config()?;
        let policy = config.build_policy(&spec)?;
        // A policy that prunes full matrices down (GMP) starts from every connection (and a
        // full matrix's init scale); the model keeps the spec's configuration, the one it is
        // pruned to.
        let init_cfg = if policy.starts_full() {
            mcfg.clone().with_sparse_full()
        } else {
            mcfg.clone()
        };
        crate::memory::MemoryEstimate::training(&init_cfg, &config, spec.max_len)
            .check_available()?;
        let mut model =
            Classifier::<f32>::new(init_cfg, &mut stream_rng(config.seed, Stream::Init, 0))?;
        model.config = mcfg;
        let optimizer = Optimizer::new(config.optimizer_config(), model.params());
        let state = TrainingState {
            spec,
            class_names: data.splits.class_names.clone(),
            vocab_sha256: data.vocab.sha256(),
            datasets: data.files.clone(),
            tracker: TopologyTracker::new(),
            config,
            front_end: None,
            model,
            optimizer,
            counters: Counters::default(),
            progress: Progress::default(),
        };
        Ok(Self::with_policy(state, policy))
    }

    /// Continues a run from its state (a decoded checkpoint), with its training time so far.
    ///
    /// # Errors
    /// A spec whose sparse matrices cannot be allocated (GMP's targets come from it).
    pub fn from_state(state: TrainingState) -> Result<Self> {
        let policy = state.config.build_policy(&state.spec)?;
        Ok(Self::with_policy(state, policy))
    }

    /// A trainer of `state` with the evolution policy built from its settings.
    fn with_policy(state: TrainingState, policy: Box<dyn EvolutionPolicy>) -> Self {
        Trainer {
            base_train_ms: state.progress.train_ms,
            state,
            policy,
            comm: Arc::new(Local),
            dp: DataParallel::default(),
            control: RunControl::default(),
            session_start: Instant::now(),
            last_eval: None,
            threads: 0,
            total_steps: None,
            pool: None,
        }
    }

    /// Sets the run's length in optimizer steps for the learning-rate schedule ([`Trainer::fit`]
    /// sets it from the epochs and the batches of an epoch; needed only when calling
    /// [`Trainer::step`] directly with a decaying schedule).
    pub fn set_total_steps(&mut self, total: u64) {
        self.total_steps = Some(total);
    }

    /// Trains with `threads` worker threads (0 = one per core; the default). Results do not
    /// depend on it.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        if threads != self.threads {
            self.pool = None;
        }
        self.threads = threads;
        self
    }

    /// Runs `f` in the trainer's pool: `threads` workers with flush-to-zero arithmetic, the
    /// environment of every training step (see `set_nn::runtime::training_pool`).
    ///
    /// # Errors
    /// The pool cannot be built.
    pub fn install<T: Send>(&mut self, f: impl FnOnce(&mut Self) -> T + Send) -> Result<T> {
        let pool = match &self.pool {
            Some(p) => Arc::clone(p),
            None => {
                let p = Arc::new(
                    set_nn::runtime::training_pool(self.threads)
                        .map_err(|e| TrainError::ThreadPool(e.to_string()))?,
                );
                self.pool = Some(Arc::clone(&p));
                p
            }
        };
        Ok(pool.install(|| f(self)))
    }

    /// Trains on the processes of `comm` (data-parallel; see [`crate::dist`]).
    #[must_use]
    pub fn with_comm(mut self, comm: Arc<dyn Collective>) -> Self {
        self.comm = comm;
        self
    }

    /// Sets step limits, checkpoint frequency and the stop flag.
    #[must_use]
    pub fn with_control(mut self, control: RunControl) -> Self {
        self.control = control;
        self
    }

    /// The state (model, optimizer, counters...).
    pub fn state(&self) -> &TrainingState {
        &self.state
    }

    /// The state, mutably (for example to attach front-end settings).
    pub fn state_mut(&mut self) -> &mut TrainingState {
        &mut self.state
    }

    /// The model.
    pub fn model(&self) -> &Classifier<f32> {
        &self.state.model
    }

    /// The processes this trainer runs on.
    pub fn comm(&self) -> &Arc<dyn Collective> {
        &self.comm
    }

    /// Replaces the processes (for example with [`Local`] when a front end finishes alone).
    pub fn set_comm(&mut self, comm: Arc<dyn Collective>) {
        self.comm = comm;
    }

    /// Training wall time in ms, over all sessions of the run.
    pub fn train_ms(&self) -> u64 {
        self.base_train_ms + ms(self.session_start.elapsed())
    }

    /// The batching of training and evaluation.
    pub fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            batch_size: self.state.config.batch_size,
            max_len: self.state.spec.max_len,
            ..BatchConfig::default()
        }
    }

    /// The batching of evaluation: the training batches' (wider batches measured no faster on
    /// IMDB: 256 took 1.94x the epoch's step time for train + evaluation, 64 1.42x, 32 1.37x).
    pub fn eval_batch_config(&self) -> BatchConfig {
        self.batch_config()
    }

    /// The state with its time counters brought up to date, ready to encode.
    fn sync_state(&mut self, epoch_ms: u64) {
        self.state.progress.train_ms = self.train_ms();
        self.state.progress.epoch_ms = epoch_ms;
    }

    fn checkpoint(&mut self, observer: &mut dyn Observer, epoch_ms: u64) -> Result<()> {
        self.sync_state(epoch_ms);
        observer
            .on_checkpoint(&mut self.state)
            .map_err(TrainError::Observer)
    }

    /// One optimizer step on `batch` over all processes: forward and backward (data-parallel
    /// when there are several), finite gradients, clipping, the optimizer, finite weights;
    /// counters and running statistics advance.
    ///
    /// # Errors
    /// A non-finite loss, gradient or weight ([`TrainError::NonFinite`], naming the tensor and
    /// step; the weights then hold that step's values and must not be saved), or a malformed
    /// batch.
    pub fn step(&mut self, batch: &Batch) -> Result<StepStats> {
        let cfg = &self.state.config;
        let g = self.state.counters.global_step;
        let step_no = g + 1;
        let mut dropout = crate::dist::dropout_rng(cfg.seed, g, &*self.comm);
        let clip = cfg.clip;
        let model = &mut self.state.model;
        let stats = self.dp.train_step(
            &*self.comm,
            model,
            &batch_ref(batch),
            &batch.labels,
            &mut dropout,
            step_no,
        )?;
        model.check_finite_grads(step_no)?;
        if clip > 0.0 {
            set_nn::clip_global_norm(model.params_mut(), clip);
        }
        let total = self.total_steps.unwrap_or(u64::MAX);
        let factor = self.state.config.lr_factor(g, total);
        self.state.optimizer.step_scaled(model.params_mut(), factor);
        model.check_finite_weights(step_no)?;
        // An optimizer moment can overflow while the weights stay finite (a huge weight decay
        // squared): that state would poison every later step and checkpoint.
        for (bufs, p) in self.state.optimizer.state.iter().zip(model.params()) {
            if bufs.iter().any(|b| b.iter().any(|v| !v.is_finite())) {
                return Err(TrainError::NonFinite {
                    what: "optimizer state".into(),
                    tensor: p.name.clone(),
                    step: step_no,
                });
            }
        }
        let p = &mut self.state.progress;
        p.loss_sum_bits =
            (f64::from_bits(p.loss_sum_bits) + stats.loss * stats.batch as f64).to_bits();
        p.correct += stats.correct as u64;
        p.examples += stats.batch as u64;
        self.state.counters.global_step += 1;
        self.state.counters.step_in_epoch += 1;
        Ok(stats)
    }

    /// Trains from the state's counters to the last epoch, or until a step limit or stop
    /// request. Each epoch: shuffled batches (shuffle stream of the epoch), steps, dev and test
    /// evaluation, the evolution step (all epochs but the last), a checkpoint.
    ///
    /// # Errors
    /// As [`Trainer::step`], evaluation and evolution errors, or an observer's error.
    pub fn fit(&mut self, data: &RunData, observer: &mut (dyn Observer + Send)) -> Result<Outcome> {
        self.install(|t| t.fit_in_pool(data, observer))?
    }

    fn fit_in_pool(&mut self, data: &RunData, observer: &mut dyn Observer) -> Result<Outcome> {
        let epochs = self.state.config.epochs;
        let bcfg = self.batch_config();
        let has_sparse = has_sparse(&self.state.model);
        let mut first = true;
        while !self.state.is_finished() {
            let epoch = self.state.counters.epoch;
            let epoch_start = Instant::now();
            let epoch_base_ms = self.state.progress.epoch_ms;
            let epoch_ms = |start: &Instant| epoch_base_ms + ms(start.elapsed());
            let mut shuffle = stream_rng(self.state.config.seed, Stream::Shuffle, epoch as u64);
            let batches = set_data::make_batches(&data.splits.train, &bcfg, Some(&mut shuffle))?;
            self.total_steps = Some((batches.len() as u64).saturating_mul(epochs as u64));
            if first {
                // A resumed state's counters must fit this data's epochs.
                self.state.check_position(batches.len())?;
                first = false;
            }
            observer.on_epoch_start(epoch, batches.len(), self.state.counters.step_in_epoch);
            // No checkpoint is ever taken between an epoch's last step and its end (evaluation,
            // evolution): gradient-based policies regrow by that last step's gradient, which
            // lives only in memory.
            let mut stop_after_epoch = false;
            // With `evolve_every`, the epoch's last evolution step (for the epoch event).
            let mut step_evolution = None;
            while self.state.counters.step_in_epoch < batches.len() {
                if self.comm.any(self.control.stop.is_requested()) {
                    self.checkpoint(observer, epoch_ms(&epoch_start))?;
                    return Ok(Outcome::Interrupted {
                        global_step: self.state.counters.global_step,
                    });
                }
                let b = &batches[self.state.counters.step_in_epoch];
                observer
                    .before_step(self.state.counters.global_step + 1)
                    .map_err(TrainError::Observer)?;
                let stats = self.step(b)?;
                let gs = self.state.counters.global_step;
                observer
                    .on_step(&StepEvent {
                        epoch,
                        step_in_epoch: self.state.counters.step_in_epoch,
                        batches: batches.len(),
                        global_step: gs,
                        stats,
                    })
                    .map_err(TrainError::Observer)?;
                let every = self.state.config.evolve_every;
                if has_sparse && every > 0 && gs.is_multiple_of(every) {
                    let updates = self.state.config.evolution_updates(batches.len() as u64);
                    let update = usize::try_from(gs / every - 1).unwrap_or(usize::MAX);
                    if update < updates {
                        step_evolution = self.evolve(epoch, update, updates, observer)?;
                    }
                }
                let last_in_epoch = self.state.counters.step_in_epoch == batches.len();
                if self.control.max_steps == Some(gs) && last_in_epoch {
                    stop_after_epoch = true;
                } else if self.control.max_steps == Some(gs) {
                    self.checkpoint(observer, epoch_ms(&epoch_start))?;
                    return Ok(Outcome::Stopped { global_step: gs });
                }
                if self.control.checkpoint_every > 0
                    && gs.is_multiple_of(self.control.checkpoint_every)
                    && !last_in_epoch
                {
                    self.checkpoint(observer, epoch_ms(&epoch_start))?;
                }
            }
            self.end_epoch(
                data,
                epoch,
                has_sparse,
                step_evolution,
                epoch_ms(&epoch_start),
                observer,
            )?;
            if let (Some(patience), Some(best)) = (
                self.state.config.early_stopping,
                self.state.progress.best_dev_epoch,
            ) && self.state.counters.epoch < epochs
                && self.state.counters.epoch - best >= patience
            {
                self.state.progress.early_stopped = true;
            }
            self.checkpoint(observer, 0)?;
            let more = !self.state.is_finished();
            if more && stop_after_epoch {
                return Ok(Outcome::Stopped {
                    global_step: self.state.counters.global_step,
                });
            }
            if more && self.comm.any(self.control.stop.is_requested()) {
                return Ok(Outcome::Interrupted {
                    global_step: self.state.counters.global_step,
                });
            }
        }
        Ok(Outcome::Finished)
    }

    /// Evaluation, best-dev bookkeeping and the evolution step after `epoch`.
    fn end_epoch(
        &mut self,
        data: &RunData,
        epoch: usize,
        has_sparse: bool,
        step_evolution: Option<EvolutionReport>,
        epoch_ms: u64,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let epochs = self.state.config.epochs;
        let bcfg = self.eval_batch_config();
        let p = &self.state.progress;
        let n = p.examples.max(1) as f64;
        let train = SplitEval {
            loss: f64::from_bits(p.loss_sum_bits) / n,
            accuracy: p.correct as f64 / n,
            examples: p.examples as usize,
        };
        let comm = &*self.comm;
        let model = &self.state.model;
        let dev = evaluate_with_progress(model, &data.splits.dev, &bcfg, comm, &mut |d, t| {
            observer.on_eval_progress("dev", d, t);
        })?;
        let test = evaluate_with_progress(model, &data.splits.test, &bcfg, comm, &mut |d, t| {
            observer.on_eval_progress("test", d, t);
        })?;
        self.last_eval = Some((epoch, dev, test));
        let r = model_report(&self.state.model, None);
        let mut best_dev = false;
        // A model larger than the policy's target (GMP before its last pruning step) is not a
        // candidate for the best-dev model.
        let sizes: Vec<(&str, usize)> = (self.state.model.params().iter())
            .filter_map(|p| Some((p.name.as_str(), p.value.as_sparse()?.nnz())))
            .collect();
        let at_final_size = self.policy.at_final_size(&sizes);
        if let Some(d) = dev.filter(|_| at_final_size) {
            let best = self
                .state
                .progress
                .best_dev_accuracy_bits
                .map(f64::from_bits);
            if best.is_none_or(|b| d.accuracy > b) {
                self.state.progress.best_dev_accuracy_bits = Some(d.accuracy.to_bits());
                self.state.progress.best_dev_epoch = Some(epoch + 1);
                self.state.progress.best_dev_test_accuracy_bits =
                    test.map(|t| t.accuracy.to_bits());
                best_dev = true;
                observer
                    .on_best_dev(&self.state)
                    .map_err(TrainError::Observer)?;
            }
        }
        let mut evolution = step_evolution;
        if has_sparse
            && self.state.config.evolve_every == 0
            && set_evolve::should_evolve(epoch, epochs)
        {
            evolution = self.evolve(epoch, epoch, epochs - 1, observer)?;
        }
        observer
            .on_epoch(&EpochEvent {
                epoch,
                epochs,
                train,
                dev,
                test,
                params: r.total_params,
                density: r.density,
                train_ms: epoch_ms,
                evolution,
                best_dev,
            })
            .map_err(TrainError::Observer)?;
        self.state.counters.epoch += 1;
        self.state.counters.step_in_epoch = 0;
        let p = &mut self.state.progress;
        p.loss_sum_bits = 0f64.to_bits();
        p.correct = 0;
        p.examples = 0;
        p.epoch_ms = 0;
        Ok(())
    }

    /// Evolution step `update` (0-based) of `updates`, in `epoch` (0-based; with SET's
    /// schedule the step after that epoch, `update == epoch`): rank 0 evolves (RigL and SNFS
    /// read the last batch's gradient, which each rank has only for its shard) and shares the
    /// result; all ranks check that they hold the same model before and after. Returns the
    /// report on the process that evolved, after handing it to the observer.
    fn evolve(
        &mut self,
        epoch: usize,
        update: usize,
        updates: usize,
        observer: &mut dyn Observer,
    ) -> Result<Option<EvolutionReport>> {
        let ctx = self
            .state
            .config
            .evolve_context(update, updates)
            .map_err(|source| TrainError::Evolve {
                epoch: epoch + 1,
                source: Box::new(source),
            })?;
        let when = format!("before evolution step {} (epoch {})", update + 1, epoch + 1);
        crate::dist::check_in_sync(&*self.comm, &self.state.model, &when)?;
        let mut report = None;
        if self.comm.is_root() {
            let mut rng = stream_rng(self.state.config.seed, Stream::Evolve, update as u64);
            report = Some(
                set_nn::evolve::evolve_model(
                    &mut self.state.model,
                    &mut self.state.optimizer,
                    self.policy.as_mut(),
                    &ctx,
                    &mut self.state.tracker,
                    &mut rng,
                )
                .map_err(|e| match e {
                    set_nn::NnError::Evolve(source) => TrainError::Evolve {
                        epoch: epoch + 1,
                        source: Box::new(source),
                    },
                    other => other.into(),
                })?,
            );
        }
        if self.comm.size() > 1 {
            self.sync_from_root()?;
            let when = format!("after evolution step {} (epoch {})", update + 1, epoch + 1);
            crate::dist::check_in_sync(&*self.comm, &self.state.model, &when)?;
        }
        self.state.counters.evolution_steps += 1;
        if let Some(r) = &report {
            observer.on_evolution(r).map_err(TrainError::Observer)?;
        }
        Ok(report)
    }

    /// Rank 0's model and optimizer state (weights, topology, moments) replace every other
    /// rank's.
    fn sync_from_root(&mut self) -> Result<()> {
        let mut bytes = if self.comm.is_root() {
            self.sync_state(self.state.progress.epoch_ms);
            crate::codec::encode_checkpoint(&self.state)?
        } else {
            Vec::new()
        };
        self.comm.broadcast_bytes(&mut bytes);
        if !self.comm.is_root() {
            let s = crate::codec::decode_state_in_transit(&bytes)?;
            self.state.model = s.model;
            self.state.optimizer = s.optimizer;
        }
        Ok(())
    }

    /// Dev and test evaluation of the final model: the last epoch's, reused when this process
    /// trained it (no evolution follows the last epoch), else evaluated now.
    ///
    /// # Errors
    /// Evaluation errors.
    pub fn final_evaluation(
        &mut self,
        data: &RunData,
    ) -> Result<(Option<SplitEval>, Option<SplitEval>)> {
        self.install(|t| t.final_evaluation_in_pool(data))?
    }

    fn final_evaluation_in_pool(
        &self,
        data: &RunData,
    ) -> Result<(Option<SplitEval>, Option<SplitEval>)> {
        if let Some((e, dev, test)) = self.last_eval
            && e + 1 == self.state.config.epochs
            && self.state.counters.epoch == self.state.config.epochs
        {
            return Ok((dev, test));
        }
        let bcfg = self.eval_batch_config();
        let comm = &*self.comm;
        Ok((
            evaluate_with(&self.state.model, &data.splits.dev, &bcfg, comm)?,
            evaluate_with(&self.state.model, &data.splits.test, &bcfg, comm)?,
        ))
    }

    /// The positions ever active, per sparse matrix.
    pub fn tracker(&self) -> &TopologyTracker {
        &self.state.tracker
    }

    /// The run's summary with the given final dev and test evaluations (see
    /// [`Trainer::final_evaluation`]).
    pub fn summary(&self, dev: Option<SplitEval>, test: Option<SplitEval>) -> RunSummary {
        let s = &self.state;
        let r = model_report(&s.model, None);
        let tracker = &s.tracker;
        RunSummary {
            test_accuracy: test.map(|t| t.accuracy),
            test_loss: test.map(|t| t.loss),
            dev_accuracy: dev.map(|d| d.accuracy),
            best_dev_accuracy: s.progress.best_dev_accuracy_bits.map(f64::from_bits),
            best_dev_epoch: s.progress.best_dev_epoch,
            best_dev_test_accuracy: s.progress.best_dev_test_accuracy_bits.map(f64::from_bits),
            early_stopped: s.progress.early_stopped,
            params: r.total_params,
            dense_params: r.dense_params,
            density: r.density,
            weight_bytes: r.weight_bytes,
            train_seconds: self.train_ms() as f64 / 1000.0,
            epochs: s.config.epochs,
            global_steps: s.counters.global_step,
            evolution_steps: s.counters.evolution_steps,
            itop_rate: tracker
                .names()
                .next()
                .is_some()
                .then(|| tracker.total_itop_rate()),
            topology_sha256: crate::analytics::topology_sha256(&s.model),
            regrowth_survival: tracker.total_regrowth_survival(),
        }
    }

    /// The trained model with its vocabulary and class names, ready to save.
    pub fn bundle(&self, vocab: &set_data::Vocab) -> crate::ModelBundle {
        crate::ModelBundle {
            spec: self.state.spec.clone(),
            model: self.state.model.clone(),
            vocab: vocab.clone(),
            class_names: self.state.class_names.clone(),
            front_end: self.state.front_end.clone(),
        }
    }

    /// The state, consumed.
    pub fn into_state(mut self) -> TrainingState {
        self.sync_state(self.state.progress.epoch_ms);
        self.state
    }
}
