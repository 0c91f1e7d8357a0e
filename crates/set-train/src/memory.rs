//! One estimate of every large buffer a run or an inference allocates (weights with their
//! sparse structure, gradients, optimizer state, the activation cache of a training step, the
//! evaluation batches), and the memory actually available to this process (cgroup limit,
//! `MemAvailable`, address-space limit), compared before anything large is allocated.
//!
//! ```
//! use set_train::{ModelSpec, TrainerConfig, memory::MemoryEstimate};
//! let cfg = ModelSpec::new(1000, 32, 32, 2).classifier_config().unwrap();
//! let e = MemoryEstimate::training(&cfg, &TrainerConfig::default(), 64);
//! assert!(e.activations > 0 && e.total() > e.weights);
//! assert!(e.check(Some(e.total() - 1)).is_err());
//! e.check(Some(e.total())).unwrap();
//! ```

use crate::config::TrainerConfig;
use crate::error::TrainError;
use crate::settings::OptimizerName;
use crate::spec::ModelSpec;
use set_nn::{ClassifierConfig, Storage};

impl ModelSpec {
    /// Checks that training this model with `config` fits in the memory this process may use
    /// (see [`crate::memory`]), before anything is allocated.
    ///
    /// # Errors
    /// An invalid spec, or [`TrainError::Memory`] with the estimate and the limit.
    pub fn check_memory(&self, config: &crate::TrainerConfig) -> Result<(), TrainError> {
        let cfg = self.classifier_config()?;
        MemoryEstimate::training(&cfg, config, self.max_len).check_available()
    }
}

/// Bytes of the large buffers of a run (each saturating: a huge claim stays huge, never wraps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryEstimate {
    /// Weight values and sparse structure (column indices, row pointers, transposed index).
    pub weights: u64,
    /// Gradients (one value per stored weight).
    pub gradients: u64,
    /// Optimizer buffers (SGD: one, Adam: two per stored weight).
    pub optimizer: u64,
    /// The activation cache of one training step: per layer and direction, inputs
    /// `[T, E, B]` (later layers `[T, D H, B]`), gates and their gradients `[T, G H, B]`, cell
    /// and hidden states `[T + 1, H, B]`, `tanh(c)`; masks and the embedding gradient.
    pub activations: u64,
    /// One evaluation (inference) batch's forward cache.
    pub evaluation: u64,
}

fn mul(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &x| a.saturating_mul(x))
}

/// Every matrix of `cfg` as `(rows, cols, storage)`, in table order (sizes saturate), and the
/// number of bias values.
fn matrices(cfg: &ClassifierConfig) -> (Vec<(u64, u64, Storage)>, u64) {
    let (v, e, h, c) = (
        cfg.vocab_size as u64,
        cfg.embed_dim as u64,
        cfg.hidden as u64,
        cfg.classes as u64,
    );
    let arch = cfg.rnn;
    let dirs = arch.directions() as u64;
    let gh = h.saturating_mul(arch.cell.gates() as u64);
    let mut list = vec![(v, e, cfg.embedding)];
    for layer in 0..arch.layers {
        for _ in 0..dirs {
            if layer == 0 {
                list.push((gh, e, cfg.lstm_ih));
            } else {
                let upper = arch.upper_ih.unwrap_or(cfg.lstm_ih);
                list.push((gh, dirs.saturating_mul(h), upper));
            }
            list.push((gh, h, cfg.lstm_hh));
        }
    }
    list.push((c, dirs.saturating_mul(h), cfg.output));
    let cells = (arch.layers as u64).saturating_mul(dirs);
    (list, mul(&[cells, 2, gh]).saturating_add(c))
}

/// Stored values of each matrix and their structure bytes.
fn weight_bytes(cfg: &ClassifierConfig) -> (u64, u64) {
    let mut values = 0u64;
    let mut bytes = 0u64;
    let (list, bias) = matrices(cfg);
    for (rows, cols, s) in list {
        let dense = mul(&[rows, cols]);
        let (n, structure) = match s {
            Storage::Dense => (dense, 0),
            Storage::Sparse { density } => {
                let n = (density * dense as f64).ceil().min(u64::MAX as f64) as u64;
                // CSR column indices and the transposed index (index + value position), row
                // pointers of both orientations.
                let idx = mul(&[n, 12]);
                let ptr = mul(&[rows.saturating_add(cols).saturating_add(2), 8]);
                (n, idx.saturating_add(ptr))
            }
        };
        values = values.saturating_add(n);
        bytes = bytes.saturating_add(mul(&[n, 4])).saturating_add(structure);
    }
    (
        values.saturating_add(bias),
        bytes.saturating_add(mul(&[bias, 4])),
    )
}

/// Bytes of a forward (and, with `train`, backward) cache for `batch` sequences of `len` tokens.
fn cache_bytes(cfg: &ClassifierConfig, batch: usize, len: usize, train: bool) -> u64 {
    let (e, h) = (cfg.embed_dim as u64, cfg.hidden as u64);
    let (b, t) = (batch as u64, len as u64);
    let arch = cfg.rnn;
    let dirs = arch.directions() as u64;
    let gh = h.saturating_mul(arch.cell.gates() as u64);
    let gru = u64::from(arch.cell == set_nn::CellKind::Gru);
    // Per step: the embedding mask [E], and per cell (layer and direction): its input [in],
    // gates [G H], c and h [H each] and tanh(c) (GRU: W_hn h + b_hn) [H]; the dropout mask on
    // each later layer's input [D H].
    let mut per_step = e;
    for layer in 0..arch.layers as u64 {
        let input = if layer == 0 {
            e
        } else {
            dirs.saturating_mul(h)
        };
        let cell = input.saturating_add(gh).saturating_add(h.saturating_mul(3));
        per_step = per_step.saturating_add(mul(&[dirs, cell]));
        if layer > 0 {
            per_step = per_step.saturating_add(dirs.saturating_mul(h));
        }
    }
    if train {
        // Backward: gate gradients [G H] (a GRU keeps a second set for its recurrent
        // products) and workspaces [2 H] per cell, the embedding gradient [E].
        let cell = gh
            .saturating_mul(1 + gru)
            .saturating_add(h.saturating_mul(2));
        let cells = (arch.layers as u64).saturating_mul(dirs);
        per_step = per_step
            .saturating_add(mul(&[cells, cell]))
            .saturating_add(e);
    }
    mul(&[t.saturating_add(1), b, per_step, 4]).saturating_add(mul(&[t, b, 4]))
}

impl MemoryEstimate {
    /// The buffers of training `cfg` with `config`'s optimizer and batch size on sequences of up
    /// to `max_len` tokens (evaluation batches have the training batch size).
    pub fn training(cfg: &ClassifierConfig, config: &TrainerConfig, max_len: usize) -> Self {
        let (values, weights) = weight_bytes(cfg);
        let buffers = match config.optimizer {
            OptimizerName::Sgd => 1,
            OptimizerName::Adam => 2,
        };
        MemoryEstimate {
            weights,
            gradients: mul(&[values, 4]),
            optimizer: mul(&[values, 4, buffers]),
            activations: cache_bytes(cfg, config.batch_size, max_len, true),
            evaluation: cache_bytes(cfg, config.batch_size, max_len, false),
        }
    }

    /// The buffers of inference (`eval`, `predict`) with batches of `batch_size`.
    pub fn inference(cfg: &ClassifierConfig, batch_size: usize, max_len: usize) -> Self {
        MemoryEstimate {
            weights: weight_bytes(cfg).1,
            evaluation: cache_bytes(cfg, batch_size, max_len, false),
            ..MemoryEstimate::default()
        }
    }

    /// The sum of every buffer.
    pub fn total(&self) -> u64 {
        [
            self.weights,
            self.gradients,
            self.optimizer,
            self.activations,
            self.evaluation,
        ]
        .iter()
        .fold(0u64, |a, &x| a.saturating_add(x))
    }

    /// Compares the estimate with `available` bytes (`None`: unknown, only the absolute limit
    /// [`crate::MAX_MODEL_BYTES`] applies).
    ///
    /// # Errors
    /// [`TrainError::Memory`] with the estimate and the limit.
    pub fn check(&self, available: Option<u64>) -> Result<(), TrainError> {
        let limit = available.map_or(crate::MAX_MODEL_BYTES, |a| a.min(crate::MAX_MODEL_BYTES));
        if self.total() > limit {
            return Err(TrainError::Memory {
                needed: self.total(),
                available: limit,
                detail: self.to_string(),
            });
        }
        Ok(())
    }

    /// [`MemoryEstimate::check`] against [`available_memory`].
    ///
    /// # Errors
    /// As [`MemoryEstimate::check`].
    pub fn check_available(&self) -> Result<(), TrainError> {
        self.check(available_memory())
    }
}

impl std::fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "weights {}, gradients {}, optimizer {}, activations {}, evaluation {}",
            human(self.weights),
            human(self.gradients),
            human(self.optimizer),
            human(self.activations),
            human(self.evaluation)
        )
    }
}

pub use crate::error::human;

/// The memory this process may use: the smallest of the cgroup's limit (v2 `memory.max` or v1
/// `memory.limit_in_bytes`) minus its current use, `MemAvailable` of `/proc/meminfo`, and the
/// address-space limit (`ulimit -v`). `None` where none is known.
pub fn available_memory() -> Option<u64> {
    [cgroup_available(), mem_available(), address_space_limit()]
        .into_iter()
        .flatten()
        .min()
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn cgroup_available() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut best: Option<u64> = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let (limit, usage) = if controllers.is_empty() {
            let d = format!("/sys/fs/cgroup{path}");
            (
                read_u64(&format!("{d}/memory.max")),
                read_u64(&format!("{d}/memory.current")),
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            let d = format!("/sys/fs/cgroup/memory{path}");
            (
                read_u64(&format!("{d}/memory.limit_in_bytes")),
                read_u64(&format!("{d}/memory.usage_in_bytes")),
            )
        } else {
            continue;
        };
        if let Some(l) = limit.filter(|&l| l < (1u64 << 60)) {
            let free = l.saturating_sub(usage.unwrap_or(0));
            best = Some(best.map_or(free, |b| b.min(free)));
        }
    }
    best
}

fn mem_available() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

fn address_space_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class 3 of RELIABILITY.md: every large buffer is in the estimate; a dense 20,000-unit
    /// LSTM or a huge batch is refused before allocation, naming the estimate and the limit.
    #[test]
    fn estimates_count_activations_and_refuse_what_does_not_fit() {
        let cfg = ModelSpec::new(5000, 128, 20_000, 2)
            .dense()
            .classifier_config();
        // 4H x H dense alone is 6.4 GB: x 4 for gradients and Adam.
        let cfg = match cfg {
            Ok(c) => c,
            Err(e) => {
                assert!(e.to_string().contains("GiB"), "{e}");
                return;
            }
        };
        let e = MemoryEstimate::training(&cfg, &TrainerConfig::default(), 64);
        assert!(e.weights >= 4 * 80_000 * 20_000);
        let err = e.check(Some(16 << 30)).unwrap_err();
        assert!(matches!(err, TrainError::Memory { .. }));
        assert!(err.to_string().contains("GiB"), "{err}");

        let small = ModelSpec::new(100, 8, 8, 2).classifier_config().unwrap();
        let huge_batch = TrainerConfig::default().with_batch_size(1 << 20);
        let e = MemoryEstimate::training(&small, &huge_batch, 1 << 20);
        assert!(e.activations > 1 << 40, "{e}");
        assert!(e.check(None).is_err());
        let ok = MemoryEstimate::training(&small, &TrainerConfig::default(), 64);
        ok.check(Some(1 << 30)).unwrap();
        assert!(available_memory().is_none_or(|a| a > 0));
    }

    /// Stacked and bidirectional layers are counted: weights and activations grow with every
    /// layer and direction, and the weight estimate equals the model's actual stored values.
    #[test]
    fn estimates_count_every_layer_and_direction() {
        use rand::SeedableRng;
        let rate = crate::DropoutRate::new(0.2).unwrap();
        let one = ModelSpec::new(300, 16, 24, 2);
        let two_bi = one.clone().with_rnn(set_nn::CellKind::Gru, 2, true, rate);
        let t = TrainerConfig::default();
        let (a, b) = (
            MemoryEstimate::training(&one.classifier_config().unwrap(), &t, 32),
            MemoryEstimate::training(&two_bi.classifier_config().unwrap(), &t, 32),
        );
        assert!(
            b.weights > a.weights && b.activations > 2 * a.activations,
            "{a} vs {b}"
        );
        let cfg = two_bi.classifier_config().unwrap();
        let model = set_nn::Classifier::<f32>::new(
            cfg.clone(),
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        )
        .unwrap();
        let stored: usize = model.params().iter().map(|p| p.values().len()).sum();
        // Sparse matrices round their nnz, the estimate rounds up: within one value per matrix.
        let (values, _) = weight_bytes(&cfg);
        assert!(
            values >= stored as u64 && values <= stored as u64 + 20,
            "{values} vs {stored}"
        );
    }
}
