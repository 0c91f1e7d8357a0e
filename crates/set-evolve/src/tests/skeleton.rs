//! The shared skeleton of `EvolutionPolicy::evolve`: the tracker handed in is the one updated,
//! and a custom policy's plan is checked before anything changes.

use super::*;
use crate::{
    Conservation, EvolutionPolicy, EvolveError, MatrixPlan, NewWeightInit, PolicyConfig,
    PolicyNeeds, StepPlan,
};
use rand_chacha::ChaCha8Rng;

#[test]
fn the_tracker_passed_in_is_the_one_updated() {
    for config in [
        PolicyConfig::default(),
        PolicyConfig::Rigl(Default::default()),
        PolicyConfig::Snfs(Default::default()),
        PolicyConfig::Static,
    ] {
        let mut policy = config.build();
        let mut m = smooth_matrix(12, 10, 40, 3);
        let mut mom = vec![1.0f32; 40];
        let grad = |r: usize, out: &mut [f32]| {
            for (c, o) in out.iter_mut().enumerate() {
                *o = (r * 7 + c) as f32;
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut tracker = TopologyTracker::new();
        let untouched = TopologyTracker::new();
        let mut seen: std::collections::BTreeSet<(usize, usize)> =
            m.entries().map(|(r, c, _)| (r, c)).collect();
        for epoch in 0..3 {
            let c = EvolveContext::new(epoch, 4, 0.3).unwrap();
            let view = MatrixView::new("w", &mut m)
                .with_momentum(&mut mom)
                .with_gradient_row(&grad);
            let r = policy
                .evolve(&mut [view], &c, &mut tracker, &mut rng)
                .unwrap();
            seen.extend(m.entries().map(|(r, c, _)| (r, c)));
            assert_eq!(r.matrices[0].ever_active, seen.len() as u64);
        }
        let name = policy.name();
        assert_eq!(tracker.ever_active("w"), Some(seen.len() as u64), "{name}");
        assert_eq!(tracker.names().collect::<Vec<_>>(), vec!["w"], "{name}");
        assert_eq!(untouched, TopologyTracker::new());
        // A second, independent tracker starts from scratch: the policy kept nothing.
        let mut fresh = TopologyTracker::new();
        let c = EvolveContext::new(0, 4, 0.0).unwrap();
        let view = MatrixView::new("w", &mut m)
            .with_momentum(&mut mom)
            .with_gradient_row(&grad);
        policy
            .evolve(&mut [view], &c, &mut fresh, &mut rng)
            .unwrap();
        assert_eq!(fresh.ever_active("w"), Some(m.nnz() as u64), "{name}");
    }
}

/// A custom policy returning a fixed plan.
struct Fixed(StepPlan);

impl EvolutionPolicy for Fixed {
    fn name(&self) -> &'static str {
        "fixed"
    }
    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }
    fn needs(&self) -> PolicyNeeds {
        PolicyNeeds::default()
    }
    fn plan(
        &self,
        _: &[MatrixView<'_>],
        _: &EvolveContext,
        _: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError> {
        Ok(self.0.clone())
    }
}

#[test]
fn a_custom_plan_is_applied_or_refused_before_any_change() {
    // [[1, 2, 0], [0, 0, 3]]
    let fresh = || {
        SparseMatrix::<f32>::try_new(2, 3, vec![0, 2, 3], vec![0, 1, 2], vec![1.0, 2.0, 3.0])
            .unwrap()
    };
    let plan = |remove: Vec<usize>, insert: Vec<(usize, usize)>| StepPlan {
        matrices: vec![MatrixPlan {
            remove,
            insert,
            mean_abs_momentum: None,
        }],
        conservation: Conservation::PerMatrix,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);

    // Move (0, 0) to (1, 0); the state follows the survivors.
    let mut m = fresh();
    let mut s = vec![10.0, 20.0, 30.0];
    let mut tracker = TopologyTracker::new();
    let view = MatrixView::new("w", &mut m).with_state(&mut s);
    Fixed(plan(vec![0], vec![(1, 0)]))
        .evolve(&mut [view], &ctx(0.3), &mut tracker, &mut rng)
        .unwrap();
    assert_eq!((m.get(0, 0), m.get(1, 0)), (None, Some(0.0)));
    assert_eq!(s, vec![20.0, 0.0, 30.0]);
    assert_eq!(tracker.ever_active("w"), Some(4));

    let bad = [
        plan(vec![1, 0], vec![(1, 0), (1, 1)]),
        plan(vec![3], vec![(1, 0)]),
        plan(vec![0], vec![(0, 1)]),
        plan(vec![0], vec![(2, 0)]),
        plan(vec![0, 1], vec![(1, 1), (1, 0)]),
        plan(vec![0], vec![]),
        StepPlan::default(),
    ];
    for p in bad {
        let mut m = fresh();
        let mut tracker = TopologyTracker::new();
        let e = Fixed(p.clone())
            .evolve(
                &mut [MatrixView::new("w", &mut m)],
                &ctx(0.3),
                &mut tracker,
                &mut rng,
            )
            .unwrap_err();
        assert!(
            matches!(
                e,
                EvolveError::InvalidPlan { .. } | EvolveError::NnzNotConserved { .. }
            ),
            "{p:?}: {e:?}"
        );
        assert_eq!(
            m.entries().collect::<Vec<_>>(),
            fresh().entries().collect::<Vec<_>>()
        );
        assert_eq!(m.values(), fresh().values(), "{p:?}");
        assert_eq!(tracker, TopologyTracker::new(), "{p:?}");
    }
}
