//! Prune-rate schedules: constant, or Selfish-RNN's cosine decay.

use crate::error::EvolveError;
use serde::{Deserialize, Serialize};

/// The prune fraction `zeta_t` used at each evolution step, for every policy.
///
/// `t` is the 0-based epoch after which the step runs (the `epoch` of
/// [`crate::EvolveContext`]).
///
/// ```
/// use set_evolve::PruneSchedule;
/// let s = PruneSchedule::Cosine { initial: 0.5, final_epoch: 10 };
/// assert_eq!(s.zeta_at(0), 0.5);
/// assert!((s.zeta_at(5) - 0.25).abs() < 1e-12);
/// assert_eq!(s.zeta_at(10), 0.0);
/// assert_eq!(PruneSchedule::Constant(0.3).zeta_at(99), 0.3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PruneSchedule {
    /// The same `zeta` at every step (SET).
    Constant(f64),
    /// Cosine decay (Selfish-RNN; also sparse momentum and RigL):
    /// `zeta_t = 0.5 * initial * (1 + cos(pi * t / final_epoch))` for `t < final_epoch`, and 0
    /// from `final_epoch` on (the topology is then frozen).
    Cosine {
        /// `zeta_0`, in `[0, 1]`.
        initial: f64,
        /// `T`: the epoch at which the rate reaches 0. With `T = 0` the rate is always 0.
        final_epoch: usize,
    },
}

impl Default for PruneSchedule {
    /// `Constant(0.3)`, SET's `zeta`.
    fn default() -> Self {
        PruneSchedule::Constant(0.3)
    }
}

impl PruneSchedule {
    /// Checks that the rate(s) lie in `[0, 1]`.
    ///
    /// # Errors
    /// [`EvolveError::InvalidZeta`].
    pub fn validate(&self) -> Result<(), EvolveError> {
        let z = match *self {
            PruneSchedule::Constant(z) => z,
            PruneSchedule::Cosine { initial, .. } => initial,
        };
        check_zeta(z)
    }

    /// The prune fraction after epoch `t` (not validated; see [`PruneSchedule::validate`]).
    pub fn zeta_at(&self, t: usize) -> f64 {
        match *self {
            PruneSchedule::Constant(z) => z,
            PruneSchedule::Cosine {
                initial,
                final_epoch,
            } => {
                if t >= final_epoch {
                    0.0
                } else {
                    let x = std::f64::consts::PI * t as f64 / final_epoch as f64;
                    // Clamp against rounding: the value must stay a valid fraction.
                    (0.5 * initial * (1.0 + x.cos())).clamp(0.0, initial.max(0.0))
                }
            }
        }
    }
}

/// Checks that a prune fraction lies in `[0, 1]`.
pub(crate) fn check_zeta(zeta: f64) -> Result<(), EvolveError> {
    if zeta.is_finite() && (0.0..=1.0).contains(&zeta) {
        Ok(())
    } else {
        Err(EvolveError::InvalidZeta { zeta })
    }
}
