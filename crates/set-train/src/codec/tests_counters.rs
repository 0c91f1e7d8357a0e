//! Class 2 of RELIABILITY.md: every counter and statistic read from a checkpoint is checked
//! against the others, the settings and the tensors. A property test edits one field of a valid
//! checkpoint at a time, to any value, and requires that the edit is refused (at load, or by
//! the position check against the run's epochs) unless the value cannot be told from a real one.

use super::tests::state;
use super::*;
use crate::TrainingState;
use proptest::prelude::*;

/// Batches per epoch of the fixture's run: epoch 1, step 2, global step 9.
const BATCHES: usize = 7;

fn accepted(s: &TrainingState) -> bool {
    let bytes = encode_checkpoint(s).unwrap();
    decode_checkpoint(&bytes).is_ok_and(|d| d.check_position(BATCHES).is_ok())
}

#[test]
fn the_fixture_is_consistent_and_named_edits_are_refused() {
    let good = state();
    assert!(accepted(&good));
    type Edit = Box<dyn Fn(&mut TrainingState)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("optimizer", Box::new(|s| s.optimizer.steps = 100)),
        ("counters", Box::new(|s| s.counters.global_step = 10)),
        ("counters", Box::new(|s| s.counters.step_in_epoch = 7)),
        ("counters", Box::new(|s| s.counters.evolution_steps = 0)),
        ("progress", Box::new(|s| s.progress.correct = 7)),
        (
            "progress",
            Box::new(|s| s.progress.best_dev_epoch = Some(3)),
        ),
        ("progress", Box::new(|s| s.progress.epoch_ms = 5)),
        (
            "optim.embedding.weight.exp_avg_sq",
            Box::new(|s| s.optimizer.state[0][1][0] = -1.0),
        ),
    ];
    for (key, edit) in cases {
        let mut s = state();
        s.progress.train_ms = 1;
        edit(&mut s);
        let bytes = encode_checkpoint(&s).unwrap();
        let e = decode_checkpoint(&bytes)
            .and_then(|d| d.check_position(BATCHES).map(|()| d))
            .unwrap_err();
        assert!(
            matches!(
                e,
                CheckpointError::BadMetadata { .. } | CheckpointError::BadValue { .. }
            ),
            "{key}: {e}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fields fixed by the others (epoch, step in epoch, global step, evolution steps, the
    /// optimizer's step count): any other value is refused.
    #[test]
    fn any_edit_of_a_determined_counter_is_refused(field in 0usize..5, v in 0u64..40) {
        let mut s = state();
        let before = (s.counters, s.optimizer.steps);
        match field {
            0 => s.counters.epoch = v as usize,
            1 => s.counters.step_in_epoch = v as usize,
            2 => s.counters.global_step = v,
            3 => s.counters.evolution_steps = v,
            _ => s.optimizer.steps = v,
        }
        prop_assume!((s.counters, s.optimizer.steps) != before);
        prop_assert!(!accepted(&s));
    }

    /// Statistics with a range: values outside it are refused, values inside it load.
    #[test]
    fn statistics_outside_their_range_are_refused(
        correct in 0u64..200,
        examples in 0u64..200,
        best_epoch in proptest::option::of(0usize..5),
        best_acc in -1.0f64..2.0,
        train_ms in 0u64..100,
        epoch_ms in 0u64..100,
    ) {
        let mut s = state();
        s.progress.correct = correct;
        s.progress.examples = examples;
        s.progress.best_dev_epoch = best_epoch;
        s.progress.best_dev_accuracy_bits = best_epoch.map(|_| best_acc.to_bits());
        s.progress.train_ms = train_ms;
        s.progress.epoch_ms = epoch_ms;
        let batch = s.config.batch_size as u64;
        let valid = correct <= examples
            && (2..=2 * batch).contains(&examples)
            && best_epoch.is_none_or(|e| e == 1 && (0.0..=1.0).contains(&best_acc))
            && epoch_ms <= train_ms;
        prop_assert_eq!(accepted(&s), valid);
    }
}
