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
    /// The activation cache of one training step: inputs `[T, E, B]`, gates and their
    /// gradients `[T, 4H, B]`, cell and hidden states `[T + 1, H, B]`, `tanh(c)`, masks and
    /// the embedding gradient.
    pub activations: u64,
    /// One evaluation (inference) batch's forward cache.
    pub evaluation: u64,
}

fn mul(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &x| a.saturating_mul(x))
}

/// Stored values of each matrix and their structure bytes.
fn weight_bytes(cfg: &ClassifierConfig) -> (u64, u64) {
    let (v, e, h, c) = (
        cfg.vocab_size as u64,
        cfg.embed_dim as u64,
        cfg.hidden as u64,
        cfg.classes as u64,
    );
    let h4 = h.saturating_mul(4);
    let mut values = 0u64;
    let mut bytes = 0u64;
    for (rows, cols, s) in [
        (v, e, cfg.embedding),
        (h4, e, cfg.lstm_ih),
        (h4, h, cfg.lstm_hh),
        (c, h, cfg.output),
    ] {
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
    // Biases: 2 x 4H and C.
    let bias = h4.saturating_mul(2).saturating_add(c);
    (
        values.saturating_add(bias),
        bytes.saturating_add(mul(&[bias, 4])),
    )
}

/// Bytes of a forward (and, with `train`, backward) cache for `batch` sequences of `len` tokens.
fn cache_bytes(cfg: &ClassifierConfig, batch: usize, len: usize, train: bool) -> u64 {
    let (e, h) = (cfg.embed_dim as u64, cfg.hidden as u64);
    let (b, t) = (batch as u64, len as u64);
    // Forward: x [T,E,B], gates [T,4H,B], c and h [T+1,H,B], tanh(c) [T,H,B], embedding mask.
    let mut per_step = e
        .saturating_mul(2)
        .saturating_add(h.saturating_mul(4 + 2 + 1));
    if train {
        // Backward: gate gradients [T,4H,B], embedding gradient [T,E,B], workspaces.
        per_step = per_step
            .saturating_add(h.saturating_mul(4 + 2))
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
}
