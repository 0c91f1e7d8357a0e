//! SET: conservation, exact per-sign removal set, regrowth into empty positions, state remap,
//! determinism, analytics.

use super::*;
use crate::{
    EvolutionPolicy, NewWeightInit, SamplingMethod, SetConfig, SetPolicy, prune_count,
    set_prune_selection,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Brute-force SET removal set: sort each sign by (|v|, position), take floor(zeta * count).
fn brute_set_removed(values: &[f32], zeta: f64) -> (Vec<usize>, Vec<usize>) {
    let mut pos: Vec<usize> = (0..values.len()).filter(|&k| values[k] >= 0.0).collect();
    let mut neg: Vec<usize> = (0..values.len()).filter(|&k| values[k] < 0.0).collect();
    let key = |&k: &usize| (values[k].abs().to_bits(), k);
    pos.sort_by_key(key);
    neg.sort_by_key(key);
    let kp = prune_count(zeta, pos.len());
    let kn = prune_count(zeta, neg.len());
    let mut p: Vec<usize> = pos[..kp].to_vec();
    let mut n: Vec<usize> = neg[..kn].to_vec();
    p.sort_unstable();
    n.sort_unstable();
    (p, n)
}

fn sampling_strategy() -> impl Strategy<Value = SamplingMethod> {
    prop_oneof![
        Just(SamplingMethod::Auto),
        Just(SamplingMethod::Rejection),
        Just(SamplingMethod::Enumerate)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn selection_matches_brute_force(
        rows in 1usize..10, cols in 1usize..10, fill in 0.0f64..=1.0,
        zeta in prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0], seed in any::<u64>(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let m = quantized_matrix(rows, cols, nnz, seed);
        let sel = set_prune_selection(m.values(), zeta);
        let (p, n) = brute_set_removed(m.values(), zeta);
        prop_assert_eq!(&sel.positive, &p);
        prop_assert_eq!(&sel.negative, &n);
    }

    #[test]
    fn set_step_properties(
        rows in 1usize..12, cols in 1usize..12, fill in 0.0f64..=1.0,
        zeta in prop_oneof![Just(1.0), 0.0f64..=1.0], seed in any::<u64>(),
        regrow_into_removed in any::<bool>(), sampling in sampling_strategy(),
        zero_init in any::<bool>(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let mut m = quantized_matrix(rows, cols, nnz, seed);
        let mut s0 = ids(nnz);
        let mut s1: Vec<f32> = s0.iter().map(|x| -x).collect();
        let before = entry_map(&m, &s0, &s1);
        let (p, n) = brute_set_removed(m.values(), zeta);
        let removed: BTreeSet<(usize, usize)> = p
            .iter()
            .chain(&n)
            .map(|&k| m.entries().nth(k).map(|(r, c, _)| (r, c)).unwrap())
            .collect();
        let k = removed.len();
        let groups = if rows % 2 == 0 { 2 } else { 1 };

        let mut policy = SetPolicy::new(SetConfig { regrow_into_removed, sampling });

        let mut tracker = TopologyTracker::new();
        let mut c = ctx(zeta);
        if zero_init {
            c = c.with_new_weight_init(NewWeightInit::Zero);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5e7);
        let report = {
            let v = view("w", &mut m, &mut s0, &mut s1).with_row_groups(groups);
            policy.evolve(&mut [v], &c, &mut tracker, &mut rng).unwrap()
        };

        // nnz conserved, structure valid, state aligned.
        prop_assert_eq!(m.nnz(), nnz);
        assert_valid(&m);
        prop_assert_eq!((s0.len(), s1.len()), (nnz, nnz));
        let after = entry_map(&m, &s0, &s1);

        // Survivors keep value and state; the removed set is exactly the brute-force one.
        for (pos, &(v, id, mom)) in &before {
            match after.get(pos) {
                Some(&(v2, id2, mom2)) if !removed.contains(pos) => {
                    prop_assert_eq!((v.to_bits(), id, mom), (v2.to_bits(), id2, mom2));
                }
                None if !removed.contains(pos) => prop_assert!(false, "survivor {:?} lost", pos),
                // A removed position is gone or regrown with fresh (zero) state.
                Some(&(_, id2, mom2)) => prop_assert_eq!((id2, mom2), (0.0, 0.0)),
                None => {}
            }
        }
        // New entries: exactly k, fresh state, on empty (or, per the rule, just-removed) positions.
        let new: Vec<_> = after
            .iter()
            .filter(|(pos, _)| !before.contains_key(*pos) || removed.contains(*pos))
            .collect();
        prop_assert_eq!(new.len(), k);
        let capacity = rows * cols;
        let excluded_fits = capacity - nnz >= k;
        for &(pos, &(v, id, mom)) in &new {
            prop_assert_eq!((id, mom), (0.0, 0.0));
            if zero_init {
                prop_assert_eq!(v, 0.0);
            }
            if before.contains_key(pos) {
                prop_assert!(regrow_into_removed || !excluded_fits, "regrown into removed {:?}", pos);
            }
        }

        // Analytics.
        let r = &report.matrices[0];
        prop_assert_eq!((r.nnz_before, r.nnz_after, r.removed, r.added), (nnz, nnz, k, k));
        prop_assert_eq!((r.positive_removed, r.negative_removed), (p.len(), n.len()));
        prop_assert_eq!(r.regrown_into_removed, new.iter().filter(|(pos, _)| before.contains_key(*pos)).count());
        prop_assert_eq!(r.groups.len(), groups);
        prop_assert_eq!(r.groups.iter().map(|g| g.nnz).sum::<usize>(), nnz);
        prop_assert_eq!(r.groups.iter().map(|g| g.removed).sum::<usize>(), k);
        prop_assert_eq!(r.groups.iter().map(|g| g.added).sum::<usize>(), k);
        let gr = rows / groups;
        for (g, stats) in r.groups.iter().enumerate() {
            let brute = after.keys().filter(|(row, _)| row / gr == g).count();
            prop_assert_eq!(stats.nnz, brute);
        }
        let ever: BTreeSet<_> = before.keys().chain(after.keys()).collect();
        prop_assert_eq!(r.ever_active, ever.len() as u64);
        prop_assert_eq!(report.total_nnz_before, report.total_nnz_after);
    }

    #[test]
    fn zeta_zero_is_bit_identical(
        rows in 1usize..12, cols in 1usize..12, fill in 0.0f64..=1.0, seed in any::<u64>(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let mut m = smooth_matrix(rows, cols, nnz, seed);
        let orig = m.clone();
        let mut s0 = ids(nnz);
        let mut s1 = vec![0.5f32; nnz];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let report = SetPolicy::default()
            .evolve(&mut [view("w", &mut m, &mut s0, &mut s1)], &ctx(0.0), &mut TopologyTracker::new(), &mut rng)
            .unwrap();
        prop_assert_eq!(m.indptr(), orig.indptr());
        prop_assert_eq!(m.indices(), orig.indices());
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        prop_assert_eq!(bits(m.values()), bits(orig.values()));
        prop_assert_eq!(bits(&s0), bits(&ids(nnz)));
        prop_assert_eq!(bits(&s1), bits(&vec![0.5f32; nnz]));
        prop_assert_eq!(report.total_removed + report.total_added, 0);
    }

    #[test]
    fn same_seed_same_topology(
        rows in 1usize..16, cols in 1usize..16, fill in 0.0f64..=1.0, seed in any::<u64>(),
        zeta in 0.0f64..=1.0,
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let run = || {
            let mut m = smooth_matrix(rows, cols, nnz, seed);
            let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(1));
            let mut policy = SetPolicy::default();
            let mut tracker = TopologyTracker::new();
            for epoch in 0..3 {
                let c = EvolveContext::new(epoch, 4, zeta).unwrap();
                policy.evolve(&mut [MatrixView::new("w", &mut m)], &c, &mut tracker, &mut rng).unwrap();
            }
            m
        };
        let (a, b) = (run(), run());
        prop_assert_eq!(a.indptr(), b.indptr());
        prop_assert_eq!(a.indices(), b.indices());
        prop_assert_eq!(a.values(), b.values());
    }
}

#[test]
fn different_seed_different_topology() {
    let base = smooth_matrix(64, 64, 400, 9);
    let run = |seed: u64| {
        let mut m = base.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        SetPolicy::default()
            .evolve(
                &mut [MatrixView::new("w", &mut m)],
                &ctx(0.3),
                &mut TopologyTracker::new(),
                &mut rng,
            )
            .unwrap();
        m.topology_hash()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert_ne!(run(1), base.topology_hash());
}

#[test]
fn set_counts_are_per_sign_floor() {
    // 5 positive (one is an exact zero), 3 negative; zeta = 0.5 -> floor(2.5) = 2 and floor(1.5) = 1.
    let values = vec![0.5f32, -0.2, 0.0, 0.3, -0.1, 0.9, -0.8, 0.1];
    let mut m = SparseMatrix::<f32>::try_new(1, 8, vec![0, 8], (0..8).collect(), values).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let r = SetPolicy::default()
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &ctx(0.5),
            &mut TopologyTracker::new(),
            &mut rng,
        )
        .unwrap();
    let r = &r.matrices[0];
    assert_eq!((r.positive_removed, r.negative_removed), (2, 1));
    assert_eq!(r.removed_max_abs, Some(0.1f32 as f64));
    // The row is full: all three pruned positions are regrown in place with new values.
    assert_eq!(r.regrown_into_removed, 3);
    assert_eq!(m.nnz(), 8);
}

#[test]
fn exclude_removed_when_room() {
    let mut m = smooth_matrix(20, 20, 100, 3);
    let before: BTreeSet<(usize, usize)> = m.entries().map(|(r, c, _)| (r, c)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let config = SetConfig {
        regrow_into_removed: false,
        ..SetConfig::default()
    };
    let r = SetPolicy::new(config)
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &ctx(0.5),
            &mut TopologyTracker::new(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(r.matrices[0].regrown_into_removed, 0);
    let after: BTreeSet<(usize, usize)> = m.entries().map(|(r, c, _)| (r, c)).collect();
    assert_eq!(after.difference(&before).count(), r.matrices[0].added);
}

#[test]
fn default_new_weights_are_normal_0_1() {
    // Large matrix, zeta = 1: every weight is replaced by a draw from the default init.
    let mut m = smooth_matrix(200, 200, 4000, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    SetPolicy::default()
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &ctx(1.0),
            &mut TopologyTracker::new(),
            &mut rng,
        )
        .unwrap();
    let v = m.values();
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let std = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!(mean.abs() < 0.01, "mean {mean}");
    assert!((std - 0.1).abs() < 0.01, "std {std}");
}

#[test]
fn itop_grows_and_matches_union_of_topologies() {
    let mut m = smooth_matrix(30, 40, 120, 8);
    let mut seen: BTreeSet<(usize, usize)> = m.entries().map(|(r, c, _)| (r, c)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut policy = SetPolicy::default();
    let mut tracker = TopologyTracker::new();
    let mut last = 0.0;
    for epoch in 0..5 {
        let c = EvolveContext::new(epoch, 6, 0.3).unwrap();
        let r = policy
            .evolve(
                &mut [MatrixView::new("w", &mut m)],
                &c,
                &mut tracker,
                &mut rng,
            )
            .unwrap();
        seen.extend(m.entries().map(|(r, c, _)| (r, c)));
        assert_eq!(r.matrices[0].ever_active, seen.len() as u64);
        assert_eq!(r.itop_rate, seen.len() as f64 / 1200.0);
        assert!(r.itop_rate > last);
        last = r.itop_rate;
    }
    assert_eq!(tracker.ever_active("w"), Some(seen.len() as u64));
}

#[test]
fn embedding_degree_summary_and_gate_groups() {
    // 8 rows in 4 groups of 2; rows 1 and 6 empty.
    let indptr = vec![0, 2, 2, 5, 6, 8, 9, 9, 10];
    let indices = vec![0, 3, 0, 1, 2, 3, 1, 2, 0, 1];
    let mut m = SparseMatrix::<f32>::try_new(8, 4, indptr, indices, vec![1.0; 10]).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let r = crate::StaticPolicy::new()
        .evolve(
            &mut [MatrixView::new("emb", &mut m).with_row_groups(4)],
            &ctx(0.3),
            &mut TopologyTracker::new(),
            &mut rng,
        )
        .unwrap();
    let r = &r.matrices[0];
    assert_eq!(r.degree.min, 0);
    assert_eq!(r.degree.max, 3);
    assert_eq!(r.degree.empty_rows, 2);
    assert_eq!(r.degree.mean, 10.0 / 8.0);
    assert_eq!(
        r.groups.iter().map(|g| g.nnz).collect::<Vec<_>>(),
        vec![2, 4, 3, 1]
    );
    assert_eq!(r.itop_rate, 10.0 / 32.0);
}

#[test]
fn policy_config_builds_and_policies_are_object_safe() {
    let configs = [
        crate::PolicyConfig::default(),
        crate::PolicyConfig::Rigl(crate::RiglConfig::default()),
        crate::PolicyConfig::Snfs(crate::SnfsConfig::default()),
        crate::PolicyConfig::Static,
    ];
    let names: Vec<&str> = configs.iter().map(|c| c.build().name()).collect();
    assert_eq!(names, vec!["set", "rigl", "snfs", "static"]);
    let inits: Vec<NewWeightInit> = configs
        .iter()
        .map(|c| c.build().default_new_weight_init())
        .collect();
    assert_eq!(inits[0], NewWeightInit::Normal { std: 0.1 });
    assert_eq!(inits[1], NewWeightInit::Zero);
    assert_eq!(inits[2], NewWeightInit::Zero);
    fn is_send<T: Send>() {}
    is_send::<Box<dyn EvolutionPolicy>>();
    fn is_serde<T: serde::Serialize + serde::de::DeserializeOwned>() {}
    is_serde::<crate::EvolutionReport>();
    is_serde::<crate::PolicyConfig>();
    is_serde::<crate::TopologyTracker>();
    is_serde::<crate::DensityReport>();
}

/// The survival rate of regrown connections, checked by brute force: the positions step 1 adds
/// are judged at step 2 against the positions step 2 removes.
#[test]
fn regrowth_survival_counts_the_previous_steps_additions() {
    let mut m = smooth_matrix(30, 30, 200, 4);
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // No regrowth into just-freed positions: every survivor is visible in the topology.
    let mut policy = SetPolicy::new(SetConfig {
        regrow_into_removed: false,
        sampling: SamplingMethod::Auto,
    });
    let mut tracker = TopologyTracker::new();
    let positions =
        |m: &SparseMatrix<f32>| m.entries().map(|(r, c, _)| (r, c)).collect::<BTreeSet<_>>();
    let before = positions(&m);
    let r1 = policy
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &ctx(0.3),
            &mut tracker,
            &mut rng,
        )
        .unwrap();
    assert_eq!((r1.matrices[0].prev_added, r1.regrowth_survival), (0, None));
    let after1 = positions(&m);
    // Added at step 1: stored now and not before, plus any regrown into a freed position.
    let added: BTreeSet<_> = after1.difference(&before).copied().collect();
    let regrown_in_place = r1.matrices[0].regrown_into_removed;
    assert_eq!(added.len() + regrown_in_place, r1.matrices[0].added);
    // Make the new connections the smallest, so step 2 prunes many of them.
    let small: Vec<usize> = m
        .entries()
        .filter(|(r, c, _)| added.contains(&(*r, *c)))
        .map(|(_, _, k)| k)
        .collect();
    for k in small.iter().step_by(2) {
        m.values_mut()[*k] = 1e-6;
    }
    let r2 = policy
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &ctx(0.3),
            &mut tracker,
            &mut rng,
        )
        .unwrap();
    let after2 = positions(&m);
    let rep = &r2.matrices[0];
    assert_eq!(rep.prev_added, r1.matrices[0].added);
    // Survivors: added at step 1 and still stored after step 2.
    assert_eq!((rep.regrown_into_removed, regrown_in_place), (0, 0));
    let survived = added.iter().filter(|p| after2.contains(p)).count();
    assert_eq!(rep.prev_added_survived, survived);
    assert!(rep.prev_added_survived < rep.prev_added, "{rep:?}");
    assert_eq!(
        r2.regrowth_survival,
        Some(rep.prev_added_survived as f64 / rep.prev_added as f64)
    );
    let t = tracker.get("w").unwrap();
    assert_eq!(t.regrown_judged, rep.prev_added as u64);
    assert_eq!(t.regrowth_survival(), r2.regrowth_survival);
}

#[test]
fn matched_regrowth_draws_at_the_lent_scale() {
    let mut m = smooth_matrix(60, 60, 1800, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let c = ctx(0.5).with_new_weight_init(NewWeightInit::Matched { scale: 2.0 });
    let before: BTreeSet<(usize, usize)> = m.entries().map(|(r, c, _)| (r, c)).collect();
    SetPolicy::new(SetConfig {
        regrow_into_removed: false,
        sampling: SamplingMethod::Auto,
    })
    .evolve(
        &mut [MatrixView::new("w", &mut m).with_init_std(0.25)],
        &c,
        &mut TopologyTracker::new(),
        &mut rng,
    )
    .unwrap();
    let new: Vec<f64> = m
        .entries()
        .filter(|(r, c, _)| !before.contains(&(*r, *c)))
        .map(|(_, _, k)| m.values()[k] as f64)
        .collect();
    assert!(new.len() > 500);
    let sd = (new.iter().map(|v| v * v).sum::<f64>() / new.len() as f64).sqrt();
    assert!(
        (sd / 0.5 - 1.0).abs() < 0.1,
        "std {sd} of {} new weights",
        new.len()
    );
    // Without the lent scale the step is refused, before any change.
    let orig = m.clone();
    let err = SetPolicy::default()
        .evolve(
            &mut [MatrixView::new("w", &mut m)],
            &c,
            &mut TopologyTracker::new(),
            &mut rng,
        )
        .unwrap_err();
    assert!(
        matches!(err, crate::EvolveError::MissingInitStd { .. }),
        "{err}"
    );
    assert_eq!(m.indices(), orig.indices());
}
