//! [`TrainerConfig`]: how a model is trained (epochs, batches, optimizer, clipping, seed and
//! topology evolution), validated once; and the evolution policy and contexts it implies.

use crate::error::{SettingError, TrainError};
use crate::settings::{LrScheduleName, OptimizerName, PolicyName, ScheduleName, Zeta};
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use set_evolve::{
    EvolutionPolicy, EvolveContext, EvolveError, GmpPolicy, NewWeightInit, PolicyConfig,
    PruneSchedule, RiglConfig, SetConfig, SnfsConfig,
};

/// Training settings. Field names are the `set-lstm train` flags and config keys.
///
/// ```
/// let c = set_train::TrainerConfig::default().with_epochs(3).with_lr(0.003);
/// c.validate().unwrap();
/// assert_eq!(c.batch_size, 32);
/// assert!(set_train::TrainerConfig::default().with_lr(-1.0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainerConfig {
    /// Training epochs.
    pub epochs: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Optimizer.
    pub optimizer: OptimizerName,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay on matrices.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0 = off).
    pub clip: f64,
    /// Seed of every random choice (init, batch order, dropout, evolution).
    pub seed: u64,
    /// Topology evolution policy.
    pub policy: PolicyName,
    /// Prune fraction of each evolution step (the start value with a cosine schedule).
    pub zeta: Zeta,
    /// How the prune fraction changes over the run.
    #[serde(default)]
    pub prune_schedule: ScheduleName,
    /// Standard deviation of regrown weights (0 = start at zero); `None` = the policy's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_weight_std: Option<f64>,
    /// Regrown weights drawn at this multiple of each matrix's own initial std
    /// ([`NewWeightInit::Matched`]) instead of `new_weight_std`; `None` = not matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_weight_matched: Option<f64>,
    /// SET only: whether positions pruned in a step may be regrown in the same step.
    #[serde(default = "yes")]
    pub regrow_into_removed: bool,
    /// How the learning rate changes after the warm-up (written only when not constant, so
    /// files of runs without a schedule keep the bytes of format 2 as first written).
    #[serde(default, skip_serializing_if = "is_constant_lr")]
    pub lr_schedule: LrScheduleName,
    /// Early stopping: end the run once the dev accuracy has not improved for this many epochs
    /// (`None`: train every epoch). The best dev epoch's model is the one to keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<usize>,
    /// Optimizer steps over which the learning rate rises linearly from `lr / warmup_steps`
    /// to `lr` (0 = none; written only when not 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup_steps: u64,
    /// Adam only: bias correction from each weight's own step count, so that a regrown weight
    /// starts like a weight at step 1 (see `set_nn::OptimizerConfig::Adam`); written only when on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adam_per_weight_steps: bool,
    /// Evolution every this many optimizer steps, until [`STEP_EVOLUTION_END`] of the run's
    /// steps (RigL's schedule); 0 = after every epoch but the last (SET's). Written only when
    /// not 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub evolve_every: u64,
}

/// With `evolve_every`, the share of the run's optimizer steps after which the topology no
/// longer changes (RigL's `T_end = 0.75`).
pub const STEP_EVOLUTION_END: f64 = 0.75;

fn yes() -> bool {
    true
}

fn is_constant_lr(s: &LrScheduleName) -> bool {
    *s == LrScheduleName::Constant
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            epochs: 10,
            batch_size: 32,
            optimizer: OptimizerName::Adam,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            clip: 5.0,
            seed: 42,
            policy: PolicyName::Set,
            zeta: Zeta::DEFAULT,
            prune_schedule: ScheduleName::Constant,
            new_weight_std: None,
            new_weight_matched: None,
            regrow_into_removed: true,
            lr_schedule: LrScheduleName::Constant,
            warmup_steps: 0,
            early_stopping: None,
            adam_per_weight_steps: false,
            evolve_every: 0,
        }
    }
}

fn check(
    ok: bool,
    key: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> Result<(), SettingError> {
    if ok {
        Ok(())
    } else {
        Err(SettingError {
            key,
            value: value.to_string(),
            expected,
        })
    }
}

impl TrainerConfig {
    /// Sets the epochs.
    #[must_use]
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the learning rate.
    #[must_use]
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Sets the batch size.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets the evolution policy.
    #[must_use]
    pub fn with_policy(mut self, policy: PolicyName) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the prune fraction.
    #[must_use]
    pub fn with_zeta(mut self, zeta: Zeta) -> Self {
        self.zeta = zeta;
        self
    }

    /// Range checks of every value.
    ///
    /// # Errors
    /// [`SettingError`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), SettingError> {
        check(
            (1..=100_000).contains(&self.epochs),
            "epochs",
            self.epochs,
            "an integer in 1..=100000",
        )?;
        check(
            (1..=1 << 20).contains(&self.batch_size),
            "batch_size",
            self.batch_size,
            "an integer in 1..=1048576",
        )?;
        check(
            self.lr.is_finite() && self.lr > 0.0,
            "lr",
            self.lr,
            "a finite number > 0",
        )?;
        check(
            self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum),
            "momentum",
            self.momentum,
            "a number in [0, 1)",
        )?;
        check(
            self.weight_decay.is_finite() && (0.0..=10.0).contains(&self.weight_decay),
            "weight_decay",
            self.weight_decay,
            "a number in [0, 10] (an L2 penalty beyond that only drives every weight to zero)",
        )?;
        check(
            self.clip.is_finite() && self.clip >= 0.0,
            "clip",
            self.clip,
            "a finite number >= 0 (0 = off)",
        )?;
        check(
            self.warmup_steps <= 1 << 40,
            "warmup_steps",
            self.warmup_steps,
            "an integer in 0..=1099511627776",
        )?;
        if let Some(p) = self.early_stopping {
            check(
                (1..=100_000).contains(&p),
                "early_stopping",
                p,
                "a patience in 1..=100000 epochs",
            )?;
        }
        if let Some(s) = self.new_weight_std {
            check(
                s.is_finite() && (0.0..=1e3).contains(&s),
                "new_weight_std",
                s,
                "a finite number in [0, 1000]",
            )?;
        }
        if let Some(s) = self.new_weight_matched {
            check(
                s.is_finite() && (0.0..=1e3).contains(&s),
                "new_weight_matched",
                s,
                "a finite number in [0, 1000]",
            )?;
            check(
                self.new_weight_std.is_none(),
                "new_weight_matched",
                s,
                "not both new_weight_matched and new_weight_std",
            )?;
        }
        check(
            !self.adam_per_weight_steps || self.optimizer == OptimizerName::Adam,
            "adam_per_weight_steps",
            self.adam_per_weight_steps,
            "off with optimizer sgd (it changes Adam's bias correction)",
        )?;
        Ok(())
    }

    /// The learning-rate factor of optimizer step `step` (0-based) of `total` steps: a linear
    /// warm-up over `warmup_steps`, then the schedule from 1 down to 0 at step `total`.
    ///
    /// ```
    /// use set_train::{LrScheduleName, TrainerConfig};
    /// let c = TrainerConfig { lr_schedule: LrScheduleName::Linear, warmup_steps: 10, ..TrainerConfig::default() };
    /// assert_eq!(c.lr_factor(0, 110), 0.1);
    /// assert_eq!(c.lr_factor(10, 110), 1.0);
    /// assert_eq!(c.lr_factor(60, 110), 0.5);
    /// assert_eq!(TrainerConfig::default().lr_factor(99, 100), 1.0);
    /// ```
    pub fn lr_factor(&self, step: u64, total: u64) -> f64 {
        let w = self.warmup_steps;
        if step < w {
            return (step + 1) as f64 / w as f64;
        }
        let span = total.saturating_sub(w).max(1) as f64;
        let x = ((step - w) as f64 / span).min(1.0);
        match self.lr_schedule {
            LrScheduleName::Constant => 1.0,
            LrScheduleName::Linear => 1.0 - x,
            LrScheduleName::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * x).cos()),
        }
    }

    /// The optimizer settings.
    pub fn optimizer_config(&self) -> set_nn::OptimizerConfig {
        match self.optimizer {
            OptimizerName::Sgd => set_nn::OptimizerConfig::Sgd {
                lr: self.lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            },
            OptimizerName::Adam => set_nn::OptimizerConfig::Adam {
                lr: self.lr,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: self.weight_decay,
                per_weight_steps: self.adam_per_weight_steps,
            },
        }
    }

    /// A fresh evolution policy of these settings for the model `spec` describes; GMP prunes
    /// each sparse matrix to its count in [`ModelSpec::final_nnz`].
    ///
    /// # Errors
    /// GMP only: a spec whose sparse matrices cannot be allocated.
    pub fn build_policy(&self, spec: &ModelSpec) -> Result<Box<dyn EvolutionPolicy>, TrainError> {
        Ok(match self.policy {
            PolicyName::Gmp => return Ok(Box::new(GmpPolicy::new(spec.final_nnz()?))),
            PolicyName::Set => PolicyConfig::Set(SetConfig {
                regrow_into_removed: self.regrow_into_removed,
                ..SetConfig::default()
            }),
            PolicyName::Rigl => PolicyConfig::Rigl(RiglConfig::default()),
            PolicyName::Snfs => PolicyConfig::Snfs(SnfsConfig::default()),
            PolicyName::Static => PolicyConfig::Static,
        }
        .build())
    }

    /// How many evolution steps a run of `steps_per_epoch` batches per epoch takes: one after
    /// every epoch but the last, or with `evolve_every = N` one every `N` optimizer steps up to
    /// [`STEP_EVOLUTION_END`] of all steps.
    ///
    /// ```
    /// use set_train::TrainerConfig;
    /// let c = TrainerConfig::default().with_epochs(10);
    /// assert_eq!(c.evolution_updates(68), 9);
    /// let r = TrainerConfig { evolve_every: 100, ..c };
    /// assert_eq!(r.evolution_updates(68), 5); // 0.75 * 680 = 510 steps
    /// ```
    pub fn evolution_updates(&self, steps_per_epoch: u64) -> usize {
        if self.evolve_every == 0 {
            return self.epochs.saturating_sub(1);
        }
        let total = steps_per_epoch.saturating_mul(self.epochs as u64);
        let end = (STEP_EVOLUTION_END * total as f64).floor() as u64;
        usize::try_from(end / self.evolve_every).unwrap_or(usize::MAX)
    }

    /// The prune schedule over `updates` evolution steps: constant `zeta`, or cosine from `zeta`
    /// to 0 at the last one.
    pub fn prune_schedule(&self, updates: usize) -> PruneSchedule {
        match self.prune_schedule {
            ScheduleName::Constant => PruneSchedule::Constant(self.zeta.get()),
            ScheduleName::Cosine => PruneSchedule::Cosine {
                initial: self.zeta.get(),
                final_epoch: updates,
            },
        }
    }

    /// The context of evolution step `update` (0-based) of `updates`, with the configured
    /// new-weight std. With SET's per-epoch schedule, `update` is the epoch after which it runs
    /// and `updates` is `epochs - 1`.
    ///
    /// # Errors
    /// An update past the last one.
    pub fn evolve_context(
        &self,
        update: usize,
        updates: usize,
    ) -> Result<EvolveContext, EvolveError> {
        let ctx = EvolveContext::from_schedule(
            update,
            updates.saturating_add(1),
            &self.prune_schedule(updates),
        )?;
        if let Some(scale) = self.new_weight_matched {
            return Ok(ctx.with_new_weight_init(NewWeightInit::Matched { scale }));
        }
        Ok(match self.new_weight_std {
            Some(0.0) => ctx.with_new_weight_init(NewWeightInit::Zero),
            Some(std) => ctx.with_new_weight_init(NewWeightInit::Normal { std }),
            None => ctx,
        })
    }

    /// Reads the training settings out of a format-1 file's `config` (the command line's whole
    /// configuration, a superset): the keys this type has, with the defaults of settings that
    /// format 1 did not record.
    ///
    /// # Errors
    /// A missing or invalid key.
    pub(crate) fn from_v1_config(config: &serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(map) = config else {
            return Err("not a JSON object".into());
        };
        const KEYS: [&str; 11] = [
            "epochs",
            "batch_size",
            "optimizer",
            "lr",
            "momentum",
            "weight_decay",
            "clip",
            "seed",
            "policy",
            "zeta",
            "new_weight_std",
        ];
        let picked: serde_json::Map<String, serde_json::Value> = map
            .iter()
            .filter(|(k, _)| KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let c: TrainerConfig =
            serde_json::from_value(serde_json::Value::Object(picked)).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_decays_to_zero_and_constant_stays() {
        let c = TrainerConfig {
            prune_schedule: ScheduleName::Cosine,
            ..TrainerConfig::default()
        };
        assert_eq!(c.evolve_context(0, 9).unwrap().zeta, 0.3);
        assert!(c.evolve_context(5, 9).unwrap().zeta < 0.3);
        assert!(
            c.evolve_context(9, 9).is_err(),
            "no step after the last epoch"
        );
        let k = TrainerConfig::default();
        assert_eq!(k.evolve_context(8, 9).unwrap().zeta, 0.3);
    }

    #[test]
    fn json_round_trip_and_unknown_keys() {
        let c = TrainerConfig::default();
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<TrainerConfig>(&j).unwrap(), c);
        assert!(serde_json::from_str::<TrainerConfig>(&j.replace("}", ",\"x\":1}")).is_err());
        assert!(
            serde_json::from_str::<TrainerConfig>(&j.replace("\"zeta\":0.3", "\"zeta\":2.0"))
                .is_err()
        );
    }

    /// Class 1 of RELIABILITY.md: a setting that cannot make sense is refused, not trained.
    #[test]
    fn senseless_weight_decay_is_refused() {
        let mut c = TrainerConfig {
            weight_decay: 1e30,
            ..TrainerConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().key, "weight_decay");
        c.weight_decay = 0.1;
        c.validate().unwrap();
    }

    #[test]
    fn matched_new_weights_reach_the_context_and_exclude_a_fixed_std() {
        let mut c = TrainerConfig {
            new_weight_matched: Some(1.0),
            ..TrainerConfig::default()
        };
        c.validate().unwrap();
        assert_eq!(
            c.evolve_context(0, 9).unwrap().new_weight_init,
            Some(NewWeightInit::Matched { scale: 1.0 })
        );
        c.new_weight_std = Some(0.1);
        assert_eq!(c.validate().unwrap_err().key, "new_weight_matched");
        c.new_weight_std = None;
        c.new_weight_matched = Some(f64::NAN);
        assert_eq!(c.validate().unwrap_err().key, "new_weight_matched");
    }
}
