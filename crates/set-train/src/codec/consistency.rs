//! Consistency of a decoded checkpoint's counters, running statistics and optimizer state with
//! each other, with the training settings and with the tensors: an edited counter is an error
//! at load, never a silently different resumed run or summary.
//!
//! What needs the run's data (the number of batches per epoch) is checked when training
//! resumes, by [`TrainingState::check_position`].

use super::{CResult, CheckpointError, bad, bad_meta};
use crate::state::TrainingState;

/// Longest training time a checkpoint may claim (ms): 100 years, far beyond any run, far
/// below any overflow.
pub const MAX_TRAIN_MS: u64 = 100 * 366 * 24 * 3_600_000;

/// Checks everything about `s` that the file alone determines.
pub(crate) fn check_state(s: &TrainingState) -> CResult<()> {
    let c = &s.counters;
    let p = &s.progress;
    let epochs = s.config.epochs;
    let counters = |m: String| bad_meta("counters", m);
    let progress = |m: String| bad_meta("progress", m);
    if c.epoch > epochs {
        return Err(counters(format!(
            "epoch {} beyond the {epochs} epochs of the run",
            c.epoch
        )));
    }
    if c.epoch == epochs && c.step_in_epoch != 0 {
        return Err(counters(format!(
            "step_in_epoch {} in a finished run",
            c.step_in_epoch
        )));
    }
    // Every epoch takes at least one step.
    let least = (c.epoch as u64).saturating_add(c.step_in_epoch as u64);
    if c.global_step < least {
        return Err(counters(format!(
            "global_step {} is less than epoch {} plus step_in_epoch {}",
            c.global_step, c.epoch, c.step_in_epoch
        )));
    }
    let sparse = crate::analytics::has_sparse(&s.model);
    let every = s.config.evolve_every;
    let evolved = if !sparse {
        0
    } else if every == 0 {
        c.epoch.min(epochs.saturating_sub(1)) as u64
    } else if c.epoch > 0 {
        // Every epoch has the same number of batches.
        let per_epoch = (c.global_step - c.step_in_epoch as u64) / c.epoch as u64;
        let updates = s.config.evolution_updates(per_epoch) as u64;
        (c.global_step / every).min(updates)
    } else if epochs >= 2 {
        // Within the first epoch of two or more, 75 % of the run is not reached yet.
        c.global_step / every
    } else {
        // One epoch of unknown length: any count up to one step every `every` optimizer steps.
        c.evolution_steps.min(c.global_step / every)
    };
    if c.evolution_steps != evolved {
        return Err(counters(format!(
            "evolution_steps {} after {} epochs (expected {evolved})",
            c.evolution_steps, c.epoch
        )));
    }
    if s.optimizer.steps != c.global_step {
        return Err(bad_meta(
            "optimizer",
            format!(
                "steps {} differ from the run's global_step {}",
                s.optimizer.steps, c.global_step
            ),
        ));
    }
    // The running statistics of the current epoch.
    let max_examples = (c.step_in_epoch as u64).saturating_mul(s.config.batch_size as u64);
    if p.examples < c.step_in_epoch as u64 || p.examples > max_examples {
        return Err(progress(format!(
            "examples {} cannot come from {} batches of at most {}",
            p.examples, c.step_in_epoch, s.config.batch_size
        )));
    }
    if p.correct > p.examples {
        return Err(progress(format!(
            "correct {} exceeds examples {}",
            p.correct, p.examples
        )));
    }
    let loss_sum = f64::from_bits(p.loss_sum_bits);
    if !(loss_sum.is_finite() && loss_sum >= 0.0) || (p.examples == 0 && loss_sum != 0.0) {
        return Err(progress(format!(
            "`loss_sum_bits` is {loss_sum} for {} examples",
            p.examples
        )));
    }
    match (p.best_dev_accuracy_bits, p.best_dev_epoch) {
        (None, None) => {}
        (Some(bits), Some(e)) => {
            let acc = f64::from_bits(bits);
            if !(0.0..=1.0).contains(&acc) {
                return Err(progress(format!(
                    "best dev accuracy {acc} is not in [0, 1]"
                )));
            }
            if e == 0 || e > c.epoch {
                return Err(progress(format!(
                    "best_dev_epoch {e} is not one of the {} epochs done",
                    c.epoch
                )));
            }
        }
        _ => {
            return Err(progress(
                "best_dev_accuracy_bits and best_dev_epoch must be given together".into(),
            ));
        }
    }
    if let Some(bits) = p.best_dev_test_accuracy_bits {
        let acc = f64::from_bits(bits);
        if !(0.0..=1.0).contains(&acc) || p.best_dev_epoch.is_none() {
            return Err(progress(format!(
                "best dev epoch's test accuracy {acc} is not in [0, 1] or has no best dev epoch"
            )));
        }
    }
    if p.early_stopped && p.best_dev_epoch.is_none() {
        return Err(progress(
            "`early_stopped` without a best dev epoch to stop at".into(),
        ));
    }
    if p.train_ms > MAX_TRAIN_MS || p.epoch_ms > p.train_ms {
        return Err(progress(format!(
            "epoch_ms {} and train_ms {} are not a sane pair of times",
            p.epoch_ms, p.train_ms
        )));
    }
    // Adam's second moment is a running mean of squares: never negative.
    let names = s.optimizer.config.state_names();
    if let Some(k) = names.iter().position(|n| *n == "exp_avg_sq") {
        for (bufs, param) in s.optimizer.state.iter().zip(s.model.params()) {
            if let Some(i) = bufs[k].iter().position(|v| *v < 0.0) {
                return Err(bad(
                    &format!("optim.{}.exp_avg_sq", param.name),
                    format!("negative second moment {} at index {i}", bufs[k][i]),
                ));
            }
        }
    }
    Ok(())
}

impl TrainingState {
    /// Checks the state's position against an epoch of `batches` batches: the global step is
    /// `epoch * batches + step_in_epoch`, and the epoch is not past its last batch. Run by
    /// [`crate::Trainer::fit`] before the first step, so that a checkpoint whose counters were
    /// edited never silently changes the resumed run.
    ///
    /// # Errors
    /// [`CheckpointError::BadMetadata`] for `counters`.
    pub fn check_position(&self, batches: usize) -> Result<(), CheckpointError> {
        let c = &self.counters;
        let expected = (c.epoch as u64)
            .checked_mul(batches as u64)
            .and_then(|x| x.checked_add(c.step_in_epoch as u64));
        if c.step_in_epoch >= batches.max(1) || expected != Some(c.global_step) {
            return Err(bad_meta(
                "counters",
                format!(
                    "epoch {}, step_in_epoch {} and global_step {} do not fit epochs of {batches} batches",
                    c.epoch, c.step_in_epoch, c.global_step
                ),
            ));
        }
        Ok(())
    }
}
