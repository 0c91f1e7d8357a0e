//! Data-parallel training across processes: the [`Collective`] operations a run needs, one
//! process ([`Local`]) or MPI ranks (`mpi` cargo feature), and the pieces built on them.
//!
//! How a data-parallel run works (docs/CLUSTER.md has the commands):
//! - every rank holds the whole model and the same topology; rank 0 builds (or resumes) it and
//!   hands it to the others as checkpoint bytes ([`handoff`]);
//! - each global batch is cut into contiguous shards, one per rank ([`shard_range`]); a rank's
//!   gradient is scaled by its share of the batch, and one sum-allreduce over a flat buffer of
//!   all stored gradients (values only, no indices) gives every rank the gradient of the whole
//!   batch ([`DataParallel`]); the optimizer step is then the same arithmetic on the same
//!   numbers everywhere;
//! - rank 0 alone evolves the topology and broadcasts the result, because gradient-based
//!   policies (RigL, SNFS) read the last batch's gradient, which each rank only has for its own
//!   shard; before and after, all ranks compare a 64-bit hash of weights and topology
//!   ([`check_in_sync`]) and the job stops on a mismatch;
//! - only rank 0 writes the run directory; an error or panic on any rank aborts the whole job.
//!
//! With one process every function here is the identity, and training takes exactly the code
//! path it takes without the feature.

mod shard;
pub use shard::{Shard, shard_range};

#[cfg(feature = "mpi")]
mod mpi_world;

use crate::error::TrainError;
use rand::Rng;
use set_nn::{BatchRef, Classifier, StepStats};
use std::sync::Arc;

/// The collective operations a data-parallel run uses. Every rank must call the same
/// operations in the same order (MPI semantics); with one process they are trivial.
pub trait Collective: Send + Sync {
    /// This process's rank (0-based).
    fn rank(&self) -> usize;
    /// Number of processes.
    fn size(&self) -> usize;
    /// Replaces `bytes` on every rank with rank 0's `bytes` (any length).
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>);
    /// Element-wise sum over ranks of `send`, into `recv` on every rank (same lengths).
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]);
    /// Element-wise sum over ranks, in place, on every rank.
    fn sum_f64(&self, values: &mut [f64]);
    /// Every rank's `value`, in rank order, on every rank.
    fn all_gather_u64(&self, value: u64) -> Vec<u64>;
    /// Ends every process of the job with exit code `code`.
    fn abort(&self, code: i32) -> !;
    /// Whether this is rank 0, the one that writes the run directory.
    fn is_root(&self) -> bool {
        self.rank() == 0
    }
    /// Whether `flag` is set on any rank (a collective call).
    fn any(&self, flag: bool) -> bool {
        if self.size() == 1 {
            return flag;
        }
        let mut v = [f64::from(u8::from(flag))];
        self.sum_f64(&mut v);
        v[0] > 0.0
    }
}

/// A single process: rank 0 of 1.
///
/// ```
/// use set_train::dist::{Collective, Local};
/// let mut recv = [0.0f32; 2];
/// Local.sum_f32(&[1.0, 2.0], &mut recv);
/// assert_eq!(recv, [1.0, 2.0]);
/// assert!(Local.is_root() && Local.size() == 1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Local;

impl Collective for Local {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn broadcast_bytes(&self, _bytes: &mut Vec<u8>) {}
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        recv.copy_from_slice(send);
    }
    fn sum_f64(&self, _values: &mut [f64]) {}
    fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        vec![value]
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The processes of this job. Built once by [`World::init`] at start-up; with the `mpi`
/// feature it owns the MPI environment, which is finalised when the world is dropped.
pub struct World {
    comm: Arc<dyn Collective>,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl World {
    /// One process ([`Local`]).
    pub fn local() -> Self {
        World {
            comm: Arc::new(Local),
            #[cfg(feature = "mpi")]
            _universe: None,
        }
    }

    /// With the `mpi` feature: initialises MPI (a singleton job when not started by `mpirun`)
    /// and, with more than one rank, installs a panic hook that aborts the whole job. Without
    /// the feature: [`World::local`].
    ///
    /// # Errors
    /// MPI could not be initialised.
    pub fn init() -> Result<Self, TrainError> {
        #[cfg(feature = "mpi")]
        {
            let (universe, comm) = mpi_world::init()?;
            Ok(World {
                comm,
                _universe: Some(universe),
            })
        }
        #[cfg(not(feature = "mpi"))]
        Ok(Self::local())
    }

    /// The collective operations of this world.
    pub fn comm(&self) -> Arc<dyn Collective> {
        Arc::clone(&self.comm)
    }
}

/// Compares [`crate::analytics::model_hash64`] across ranks (a collective call).
///
/// # Errors
/// The ranks hold different models; the message names each rank's hash and `when`.
pub fn check_in_sync(
    comm: &dyn Collective,
    model: &Classifier<f32>,
    when: &str,
) -> Result<u64, TrainError> {
    let mine = crate::analytics::model_hash64(model);
    if comm.size() == 1 {
        return Ok(mine);
    }
    let all = comm.all_gather_u64(mine);
    tracing::info!(
        "rank {} of {}: weights and topology hash {mine:016x} {when}",
        comm.rank(),
        comm.size()
    );
    if all.iter().any(|&h| h != all[0]) {
        let list: Vec<String> = all
            .iter()
            .enumerate()
            .map(|(r, h)| format!("rank {r}: {h:016x}"))
            .collect();
        return Err(TrainError::Distributed(format!(
            "ranks hold different models {when} (weights and topology hashes {}); stopping the job",
            list.join(", ")
        )));
    }
    Ok(mine)
}

/// What rank 0 hands to the other ranks when a run starts or resumes.
#[derive(Debug, Default)]
pub struct Handoff {
    /// The front end's settings (the command line sends its `config.toml` text); empty when
    /// there is nothing to train.
    pub config_toml: String,
    /// The vocabulary file's bytes.
    pub vocab: Vec<u8>,
    /// A checkpoint of the complete training state.
    pub checkpoint: Vec<u8>,
}

/// Rank 0 sends `h` (pass `Some`); every other rank passes `None` and receives it.
pub fn handoff(comm: &dyn Collective, h: Option<Handoff>) -> Handoff {
    let mut h = h.unwrap_or_default();
    let mut config = std::mem::take(&mut h.config_toml).into_bytes();
    comm.broadcast_bytes(&mut config);
    comm.broadcast_bytes(&mut h.vocab);
    comm.broadcast_bytes(&mut h.checkpoint);
    h.config_toml = String::from_utf8_lossy(&config).into_owned();
    h
}

/// Reads the vocabulary from handed-off bytes.
///
/// # Errors
/// Malformed vocabulary bytes.
pub fn vocab_from_bytes(bytes: &[u8]) -> Result<set_data::Vocab, TrainError> {
    Ok(set_data::Vocab::read_from(
        bytes,
        std::path::Path::new("<vocabulary sent by rank 0>"),
    )?)
}

/// One data-parallel training step: this rank's shard of the batch forward and backward, then
/// the gradient of the whole batch on every rank. Keeps its buffers between steps.
#[derive(Debug, Default)]
pub struct DataParallel {
    shard: Shard,
    send: Vec<f32>,
    recv: Vec<f32>,
}

impl DataParallel {
    /// Like [`Classifier::train_step`] on the whole `batch`, over all ranks of `comm`: on
    /// return every rank holds the mean-loss gradient of the whole batch and the returned
    /// statistics are the whole batch's. With one process this is `train_step` itself.
    ///
    /// # Errors
    /// As `train_step` (on this rank's shard).
    pub fn train_step<R: Rng>(
        &mut self,
        comm: &dyn Collective,
        model: &mut Classifier<f32>,
        batch: &BatchRef<'_>,
        labels: &[usize],
        rng: &mut R,
        step: u64,
    ) -> Result<StepStats, TrainError> {
        if comm.size() == 1 {
            return Ok(model.train_step(batch, labels, rng, step)?);
        }
        let total = labels.len();
        let range = shard_range(total, comm.rank(), comm.size());
        let n = range.len();
        let local = if n == 0 {
            model.zero_grad();
            StepStats {
                loss: 0.0,
                correct: 0,
                batch: 0,
            }
        } else {
            self.shard.fill(batch, labels, range);
            let labels = std::mem::take(&mut self.shard.labels);
            let r = model.train_step(&self.shard.batch_ref(), &labels, rng, step);
            self.shard.labels = labels;
            r?
        };
        // The shard's loss is a mean over n examples: weight it by n / total so that the sum
        // over ranks is the mean over the whole batch.
        let scale = n as f32 / total as f32;
        self.send.clear();
        for p in model.params() {
            self.send.extend(p.grad.iter().map(|&g| g * scale));
        }
        self.recv.resize(self.send.len(), 0.0);
        comm.sum_f32(&self.send, &mut self.recv);
        let mut offset = 0;
        for p in model.params_mut() {
            let len = p.grad.len();
            p.grad.copy_from_slice(&self.recv[offset..offset + len]);
            offset += len;
        }
        let mut stats = [local.loss * n as f64, local.correct as f64, n as f64];
        comm.sum_f64(&mut stats);
        Ok(StepStats {
            loss: stats[0] / total as f64,
            correct: stats[1] as usize,
            batch: total,
        })
    }
}

/// The dropout generator of one optimizer step on one rank. A single process uses the run's
/// dropout stream unchanged; with several ranks each rank draws from its own derived stream,
/// so shards get independent masks (a data-parallel run with dropout is therefore equal in
/// distribution, not bit for bit, to a one-process run).
pub fn dropout_rng(seed: u64, step: u64, comm: &dyn Collective) -> rand_chacha::ChaCha8Rng {
    use crate::rng::{Stream, splitmix64, stream_rng, stream_seed};
    use rand::SeedableRng;
    if comm.size() == 1 {
        return stream_rng(seed, Stream::Dropout, step);
    }
    let base = stream_seed(seed, Stream::Dropout, step);
    rand_chacha::ChaCha8Rng::seed_from_u64(splitmix64(base ^ splitmix64(comm.rank() as u64 + 1)))
}

#[cfg(test)]
mod tests;
