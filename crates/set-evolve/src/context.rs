//! The per-step context (epoch, prune fraction, new-weight init) and the `should_evolve` rule.

use crate::error::EvolveError;
use crate::schedule::{PruneSchedule, check_zeta};
use rand::Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Whether an evolution step runs after epoch `epoch` (0-based) of `total_epochs`: after every
/// epoch except the last, so the final model is evaluated on a topology it was trained on.
///
/// `epoch` may just as well count evolution periods of a fixed number of batches, with
/// `total_epochs` the number of periods.
///
/// ```
/// assert!(set_evolve::should_evolve(0, 3));
/// assert!(set_evolve::should_evolve(1, 3));
/// assert!(!set_evolve::should_evolve(2, 3));
/// ```
pub fn should_evolve(epoch: usize, total_epochs: usize) -> bool {
    epoch + 1 < total_epochs
}

/// How many of `count` candidates a prune fraction removes: `floor(zeta * count)`, computed as
/// `floor(zeta * count + 1e-9)` so that decimal fractions are not cut by one through binary
/// rounding (`0.29 * 100` is `28.999999999999996` in `f64`).
///
/// ```
/// use set_evolve::prune_count;
/// assert_eq!(prune_count(0.29, 100), 29);
/// assert_eq!(prune_count(0.3, 7), 2);
/// assert_eq!(prune_count(0.0, 7), 0);
/// assert_eq!(prune_count(1.0, 7), 7);
/// ```
pub fn prune_count(zeta: f64, count: usize) -> usize {
    let k = (zeta * count as f64 + 1e-9).floor();
    if k <= 0.0 { 0 } else { (k as usize).min(count) }
}

/// The value a newly grown connection starts from.
///
/// SET's sparse reference code draws `N(0, 1) / 10` (std 0.1); its Keras code, RigL and sparse
/// momentum start at 0. Which default trains best for SET-LSTM is still to be settled by
/// experiment; until then each policy's default is its paper's (see
/// [`crate::EvolutionPolicy::default_new_weight_init`]).
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::NewWeightInit;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// assert_eq!(NewWeightInit::Zero.sample_n(2, &mut rng).unwrap(), vec![0.0, 0.0]);
/// let v = NewWeightInit::Normal { std: 0.1 }.sample_n(3, &mut rng).unwrap();
/// assert_eq!(v.len(), 3);
/// assert!(NewWeightInit::Normal { std: -1.0 }.validate().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NewWeightInit {
    /// Exactly 0.
    Zero,
    /// `N(0, std^2)`.
    Normal {
        /// Standard deviation (finite, >= 0).
        std: f64,
    },
    /// `N(0, (scale * s_m)^2)` with `s_m` the standard deviation of matrix `m`'s own
    /// initial distribution, which the model lends with each matrix
    /// ([`crate::MatrixView::with_init_std`]): regrown weights start at their neighbours' scale
    /// (an embedding initialised `N(0, 1)` regrows at std 1, an LSTM matrix initialised
    /// `U(-k, k)` at `k / sqrt(3)`), where one fixed std starts them 10x smaller in one
    /// matrix and larger in another.
    Matched {
        /// Multiple of each matrix's initial std (finite, >= 0); 1 = the same scale.
        scale: f64,
    },
}

impl Default for NewWeightInit {
    /// `Normal { std: 0.1 }`, SET's sparse reference code. Provisional: to be confirmed by
    /// experiment.
    fn default() -> Self {
        NewWeightInit::Normal { std: 0.1 }
    }
}

impl NewWeightInit {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`EvolveError::InvalidParameter`] for a negative or non-finite `std`.
    pub fn validate(&self) -> Result<(), EvolveError> {
        match *self {
            NewWeightInit::Zero => Ok(()),
            NewWeightInit::Normal { std } if std.is_finite() && std >= 0.0 => Ok(()),
            NewWeightInit::Normal { std } => Err(EvolveError::InvalidParameter {
                what: "new weight std",
                value: std,
                expected: "a finite number >= 0",
            }),
            NewWeightInit::Matched { scale } if scale.is_finite() && scale >= 0.0 => Ok(()),
            NewWeightInit::Matched { scale } => Err(EvolveError::InvalidParameter {
                what: "new weight scale",
                value: scale,
                expected: "a finite number >= 0",
            }),
        }
    }

    /// The draw for one matrix whose initial distribution has standard deviation `init_std`
    /// (`None`: not known): `Matched` becomes `Normal` with `scale * init_std`, the others
    /// stay as they are.
    ///
    /// ```
    /// use set_evolve::NewWeightInit;
    /// let m = NewWeightInit::Matched { scale: 0.5 };
    /// assert_eq!(m.for_matrix("w", Some(0.2)).unwrap(), NewWeightInit::Normal { std: 0.1 });
    /// assert!(m.for_matrix("w", None).is_err());
    /// ```
    ///
    /// # Errors
    /// [`EvolveError::MissingInitStd`] for `Matched` without `init_std`.
    pub fn for_matrix(&self, matrix: &str, init_std: Option<f64>) -> Result<Self, EvolveError> {
        match *self {
            NewWeightInit::Matched { scale } => match init_std {
                Some(s) => Ok(NewWeightInit::Normal { std: scale * s }),
                None => Err(EvolveError::MissingInitStd {
                    matrix: matrix.to_string(),
                }),
            },
            other => Ok(other),
        }
    }

    /// Draws `n` initial values in order (no randomness is consumed for `Zero`).
    ///
    /// # Errors
    /// As [`NewWeightInit::validate`].
    pub fn sample_n<R: Rng + ?Sized>(
        &self,
        n: usize,
        rng: &mut R,
    ) -> Result<Vec<f32>, EvolveError> {
        self.validate()?;
        match *self {
            NewWeightInit::Zero => Ok(vec![0.0; n]),
            NewWeightInit::Matched { .. } => Err(EvolveError::MissingInitStd {
                matrix: "<unknown: sample through NewWeightInit::for_matrix>".to_string(),
            }),
            NewWeightInit::Normal { std } => {
                let dist =
                    Normal::new(0.0f32, std as f32).map_err(|_| EvolveError::InvalidParameter {
                        what: "new weight std",
                        value: std,
                        expected: "a finite number >= 0",
                    })?;
                Ok((0..n).map(|_| dist.sample(rng)).collect())
            }
        }
    }
}

/// What a policy needs to know about the step it runs.
///
/// ```
/// use set_evolve::{EvolveContext, NewWeightInit, PruneSchedule};
/// let ctx = EvolveContext::from_schedule(4, 10, &PruneSchedule::Constant(0.3)).unwrap();
/// assert_eq!((ctx.epoch, ctx.zeta), (4, 0.3));
/// assert_eq!(ctx.new_weight_init, None); // the policy's default
/// let ctx = ctx.with_new_weight_init(NewWeightInit::Zero);
/// assert_eq!(ctx.new_weight_init, Some(NewWeightInit::Zero));
/// // No step after the last epoch.
/// assert!(EvolveContext::new(9, 10, 0.3).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EvolveContext {
    /// 0-based epoch just finished.
    pub epoch: usize,
    /// Number of epochs of the run.
    pub total_epochs: usize,
    /// Prune fraction for this step, in `[0, 1]`.
    pub zeta: f64,
    /// Start value of new connections; `None` = the policy's paper default
    /// ([`crate::EvolutionPolicy::default_new_weight_init`]).
    pub new_weight_init: Option<NewWeightInit>,
}

impl EvolveContext {
    /// A context with an explicit prune fraction and the policy's default new-weight init.
    ///
    /// # Errors
    /// [`EvolveError::InvalidZeta`], or [`EvolveError::AfterLastEpoch`] when
    /// [`should_evolve`] is false.
    pub fn new(epoch: usize, total_epochs: usize, zeta: f64) -> Result<Self, EvolveError> {
        let ctx = EvolveContext {
            epoch,
            total_epochs,
            zeta,
            new_weight_init: None,
        };
        ctx.validate()?;
        Ok(ctx)
    }

    /// A context whose prune fraction comes from a schedule.
    ///
    /// # Errors
    /// As [`EvolveContext::new`].
    pub fn from_schedule(
        epoch: usize,
        total_epochs: usize,
        schedule: &PruneSchedule,
    ) -> Result<Self, EvolveError> {
        schedule.validate()?;
        Self::new(epoch, total_epochs, schedule.zeta_at(epoch))
    }

    /// Overrides the policy's default start value for new connections.
    pub fn with_new_weight_init(mut self, init: NewWeightInit) -> Self {
        self.new_weight_init = Some(init);
        self
    }

    /// Checks every field (policies call this first, since the fields are public).
    ///
    /// # Errors
    /// As [`EvolveContext::new`], or an invalid [`NewWeightInit`].
    pub fn validate(&self) -> Result<(), EvolveError> {
        check_zeta(self.zeta)?;
        if !should_evolve(self.epoch, self.total_epochs) {
            return Err(EvolveError::AfterLastEpoch {
                epoch: self.epoch,
                total_epochs: self.total_epochs,
            });
        }
        if let Some(init) = &self.new_weight_init {
            init.validate()?;
        }
        Ok(())
    }
}
