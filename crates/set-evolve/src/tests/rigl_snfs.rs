//! RigL and sparse momentum: true top-k of a brute-force dense gradient, magnitude pruning,
//! budget redistribution with caps, total conservation.

use super::*;
use crate::policies::apportion;
use crate::{
    EvolutionPolicy, RiglConfig, RiglPolicy, SnfsConfig, SnfsPolicy, magnitude_prune_selection,
    prune_count, top_k_absent_by_gradient,
};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// A dense gradient for tests only (the library never builds one), quantized to create ties.
fn dense_gradient(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..rows * cols)
        .map(|_| rng.random_range(-8i32..=8) as f32 * 0.5)
        .collect()
}

/// Brute-force RigL grow set: absent positions sorted by (-|g|, flat), first k.
fn brute_top_k(
    rows: usize,
    cols: usize,
    occupied: &BTreeSet<(usize, usize)>,
    grad: &[f32],
    k: usize,
) -> Vec<(usize, usize)> {
    let mut absent: Vec<usize> = (0..rows * cols)
        .filter(|&f| !occupied.contains(&(f / cols, f % cols)))
        .collect();
    absent.sort_by(|&a, &b| grad[b].abs().total_cmp(&grad[a].abs()).then(a.cmp(&b)));
    let mut out: Vec<(usize, usize)> = absent[..k.min(absent.len())]
        .iter()
        .map(|&f| (f / cols, f % cols))
        .collect();
    out.sort_unstable();
    out
}

fn brute_magnitude(values: &[f32], k: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..values.len()).collect();
    all.sort_by_key(|&i| (values[i].abs().to_bits(), i));
    let mut out = all[..k].to_vec();
    out.sort_unstable();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn top_k_matches_brute_force(
        rows in 1usize..9, cols in 1usize..9, fill in 0.0f64..=1.0, k in 0usize..40,
        seed in any::<u64>(), free_every in 1usize..4,
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let m = quantized_matrix(rows, cols, nnz, seed);
        let freed: Vec<usize> = (0..nnz).filter(|p| p % free_every == 0 && free_every > 1).collect();
        let grad = dense_gradient(rows, cols, seed ^ 1);
        let g = |r: usize, out: &mut [f32]| out.copy_from_slice(&grad[r * cols..(r + 1) * cols]);
        let got = top_k_absent_by_gradient(&m, &freed, k, &g, "w").unwrap();
        let occupied: BTreeSet<(usize, usize)> = m
            .entries()
            .filter(|(_, _, p)| freed.binary_search(p).is_err())
            .map(|(r, c, _)| (r, c))
            .collect();
        prop_assert_eq!(got, brute_top_k(rows, cols, &occupied, &grad, k));
    }

    #[test]
    fn rigl_step_matches_brute_force(
        rows in 1usize..9, cols in 1usize..9, fill in 0.0f64..=1.0,
        zeta in 0.0f64..=1.0, seed in any::<u64>(), regrow_into_removed in any::<bool>(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let mut m = quantized_matrix(rows, cols, nnz, seed);
        let mut s0 = ids(nnz);
        let mut s1 = ids(nnz);
        let before = entry_map(&m, &s0, &s1);
        let k = prune_count(zeta, nnz);
        let removed_pos = brute_magnitude(m.values(), k);
        prop_assert_eq!(&magnitude_prune_selection(m.values(), k), &removed_pos);
        let entries: Vec<(usize, usize)> = m.entries().map(|(r, c, _)| (r, c)).collect();
        let removed: BTreeSet<(usize, usize)> = removed_pos.iter().map(|&p| entries[p]).collect();
        let survivors: BTreeSet<(usize, usize)> =
            entries.iter().copied().filter(|e| !removed.contains(e)).collect();
        let grad = dense_gradient(rows, cols, seed ^ 2);
        let occupied = if regrow_into_removed || rows * cols - nnz < k {
            survivors.clone()
        } else {
            entries.iter().copied().collect()
        };
        let expected_new = brute_top_k(rows, cols, &occupied, &grad, k);

        let g = |r: usize, out: &mut [f32]| out.copy_from_slice(&grad[r * cols..(r + 1) * cols]);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let report = {
            let v = view("w", &mut m, &mut s0, &mut s1).with_gradient_row(&g);
            RiglPolicy::new(RiglConfig { regrow_into_removed })
                .evolve(&mut [v], &ctx(zeta), &mut TopologyTracker::new(), &mut rng)
                .unwrap()
        };
        prop_assert_eq!(m.nnz(), nnz);
        assert_valid(&m);
        let after = entry_map(&m, &s0, &s1);
        for s in &survivors {
            prop_assert_eq!(after.get(s), before.get(s));
        }
        let mut new = Vec::new();
        for (pos, st) in &after {
            if !survivors.contains(pos) {
                prop_assert_eq!(*st, (0.0, 0.0, 0.0));
                new.push(*pos);
            }
        }
        new.sort_unstable();
        prop_assert_eq!(new, expected_new);
        prop_assert_eq!(report.matrices[0].removed, k);
    }

    #[test]
    fn snfs_conserves_total_and_respects_caps(
        shapes in proptest::collection::vec((1usize..8, 1usize..8, 0.0f64..=1.0), 1..4),
        zeta in 0.0f64..=1.0, seed in any::<u64>(), redistribute in any::<bool>(),
    ) {
        let mut mats: Vec<SparseMatrix<f32>> = Vec::new();
        let mut moms: Vec<Vec<f32>> = Vec::new();
        let mut s0s: Vec<Vec<f32>> = Vec::new();
        let mut grads: Vec<Vec<f32>> = Vec::new();
        for (i, &(r, c, fill)) in shapes.iter().enumerate() {
            let nnz = (fill * (r * c) as f64).round() as usize;
            mats.push(smooth_matrix(r, c, nnz, seed.wrapping_add(i as u64)));
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i as u64);
            moms.push((0..nnz).map(|_| rng.random_range(-1.0f32..1.0)).collect());
            s0s.push(ids(nnz));
            grads.push(dense_gradient(r, c, seed ^ (i as u64 + 10)));
        }
        let before: Vec<usize> = mats.iter().map(|m| m.nnz()).collect();
        let ks: Vec<usize> = before.iter().map(|&n| prune_count(zeta, n)).collect();
        let closures: Vec<_> = shapes
            .iter()
            .zip(&grads)
            .map(|(&(_, c, _), g)| move |r: usize, out: &mut [f32]| out.copy_from_slice(&g[r * c..(r + 1) * c]))
            .collect();
        let names: Vec<String> = (0..shapes.len()).map(|i| format!("m{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let report = {
            let mut views: Vec<MatrixView<'_>> = mats
                .iter_mut()
                .zip(moms.iter_mut())
                .zip(s0s.iter_mut())
                .zip(&closures)
                .zip(&names)
                .map(|((((m, mo), s0), g), n)| {
                    MatrixView::new(n, m).with_state(s0).with_momentum(mo).with_gradient_row(g)
                })
                .collect();
            SnfsPolicy::new(SnfsConfig { redistribute, regrow_into_removed: true })
                .evolve(&mut views, &ctx(zeta), &mut TopologyTracker::new(), &mut rng)
                .unwrap()
        };
        prop_assert_eq!(report.total_nnz_after, report.total_nnz_before);
        prop_assert_eq!(mats.iter().map(|m| m.nnz()).sum::<usize>(), before.iter().sum::<usize>());
        for (i, m) in mats.iter().enumerate() {
            assert_valid(m);
            prop_assert_eq!(moms[i].len(), m.nnz());
            prop_assert_eq!(s0s[i].len(), m.nnz());
            prop_assert!(m.nnz() <= m.rows() * m.cols());
            let r = &report.matrices[i];
            prop_assert_eq!(r.removed, ks[i]);
            prop_assert_eq!(r.nnz_after, before[i] - ks[i] + r.added);
            if !redistribute {
                prop_assert_eq!(m.nnz(), before[i]);
            }
        }
    }

    #[test]
    fn apportion_sums_and_caps(
        items in proptest::collection::vec((0.0f64..5.0, 0u64..30, 0.0f64..3.0), 1..6),
        frac in 0.0f64..=1.0,
    ) {
        let weights: Vec<f64> = items.iter().map(|i| i.0).collect();
        let caps: Vec<u64> = items.iter().map(|i| i.1).collect();
        let fallback: Vec<f64> = items.iter().map(|i| i.2).collect();
        let total = (frac * caps.iter().sum::<u64>() as f64).floor() as usize;
        let out = apportion(total, &weights, &fallback, &caps);
        prop_assert_eq!(out.iter().sum::<usize>(), total);
        for (o, c) in out.iter().zip(&caps) {
            prop_assert!(*o as u64 <= *c);
        }
    }
}

#[test]
fn apportion_is_proportional_and_redistributes_excess() {
    assert_eq!(
        apportion(10, &[1.0, 1.0], &[0.0, 0.0], &[100, 100]),
        vec![5, 5]
    );
    assert_eq!(
        apportion(10, &[3.0, 1.0], &[0.0, 0.0], &[100, 100]),
        vec![8, 2]
    ); // 7.5 / 2.5, tie to index 0
    // The first wants 9 but holds at most 4: the excess goes to the other.
    assert_eq!(
        apportion(10, &[9.0, 1.0], &[0.0, 0.0], &[4, 100]),
        vec![4, 6]
    );
    // No momentum anywhere: fall back to the pruned counts.
    assert_eq!(
        apportion(6, &[0.0, 0.0], &[2.0, 4.0], &[100, 100]),
        vec![2, 4]
    );
    assert_eq!(apportion(0, &[1.0], &[1.0], &[5]), vec![0]);
}

#[test]
fn snfs_moves_budget_to_high_momentum_matrix_with_cap() {
    // "a" is tiny (4 x 4, 12 stored) with large momentum; "b" is 20 x 20 with small momentum.
    let mut a = smooth_matrix(4, 4, 12, 1);
    let mut b = smooth_matrix(20, 20, 100, 2);
    let mut ma = vec![10.0f32; 12];
    let mut mb = vec![0.1f32; 100];
    let ga = |_r: usize, out: &mut [f32]| out.fill(1.0);
    let gb = |_r: usize, out: &mut [f32]| out.fill(1.0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let r = {
        let mut views = [
            MatrixView::new("a", &mut a)
                .with_momentum(&mut ma)
                .with_gradient_row(&ga),
            MatrixView::new("b", &mut b)
                .with_momentum(&mut mb)
                .with_gradient_row(&gb),
        ];
        SnfsPolicy::default()
            .evolve(&mut views, &ctx(0.5), &mut TopologyTracker::new(), &mut rng)
            .unwrap()
    };
    // a prunes 6 and b 50: K = 56. a's share (~55) is capped at its 16 - 6 = 10 absent positions.
    assert_eq!(r.matrices[0].removed, 6);
    assert_eq!(r.matrices[1].removed, 50);
    assert_eq!(a.nnz(), 16);
    assert_eq!(b.nnz(), 112 - 16);
    assert_eq!(r.matrices[0].mean_abs_momentum, Some(10.0));
    assert!((r.matrices[1].mean_abs_momentum.unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(ma.len(), 16);
}

#[test]
fn rigl_and_snfs_new_weights_start_at_zero() {
    let mut m = smooth_matrix(10, 10, 30, 3);
    let mut mom = vec![1.0f32; 30];
    let g = |r: usize, out: &mut [f32]| {
        for (c, o) in out.iter_mut().enumerate() {
            *o = (r * 10 + c) as f32;
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let r = {
        let v = MatrixView::new("w", &mut m)
            .with_momentum(&mut mom)
            .with_gradient_row(&g);
        SnfsPolicy::new(SnfsConfig {
            redistribute: false,
            regrow_into_removed: true,
        })
        .evolve(&mut [v], &ctx(0.5), &mut TopologyTracker::new(), &mut rng)
        .unwrap()
    };
    assert_eq!(r.matrices[0].added, 15);
    let zeros = m.values().iter().filter(|&&v| v == 0.0).count();
    assert_eq!(zeros, 15);
    // Gradient grows with the flat position: the new connections sit at the 15 largest absent
    // positions, i.e. in the last rows.
    assert!(
        m.entries()
            .filter(|&(_, _, k)| m.values()[k] == 0.0)
            .all(|(r, _, _)| r >= 7)
    );
}

/// GMP prunes the smallest magnitudes along the cubic schedule, never into frozen rows' count,
/// adds nothing, and moves its state with the weights; a matrix without a target is refused.
#[test]
fn gmp_follows_the_cubic_schedule_and_only_prunes() {
    use crate::GmpPolicy;
    let (rows, cols) = (9, 8);
    // Every position outside the frozen first row, |w| distinct.
    let mut entries = Vec::new();
    for r in 1..rows {
        for c in 0..cols {
            entries.push((
                r,
                c,
                ((r * cols + c) as f32) * if c % 2 == 0 { 1.0 } else { -1.0 },
            ));
        }
    }
    let mut indptr = vec![0, 0];
    for r in 1..rows {
        indptr.push(r * cols);
    }
    let indices: Vec<u32> = entries.iter().map(|e| e.1 as u32).collect();
    let values: Vec<f32> = entries.iter().map(|e| e.2).collect();
    let mut m = SparseMatrix::<f32>::try_new(rows, cols, indptr, indices, values).unwrap();
    let start = (rows - 1) * cols; // 64
    let mut state = [m.values().to_vec()];
    let mut gmp = GmpPolicy::new([("emb".to_string(), 8)].into());
    let mut tracker = TopologyTracker::new();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let updates = 4;
    let mut kept = Vec::new();
    for u in 0..updates {
        let ctx = EvolveContext::new(u, updates + 1, 0.3).unwrap();
        let view = MatrixView::new("emb", &mut m)
            .with_frozen_rows(1)
            .with_state(&mut state[0]);
        let r = gmp
            .evolve(&mut [view], &ctx, &mut tracker, &mut rng)
            .unwrap();
        assert_eq!(r.total_added, 0);
        // Pruning alone keeps only initial connections.
        assert_eq!(r.matrices[0].initial_kept, Some(m.nnz()));
        kept.push(m.nnz());
        // The survivors are the largest magnitudes, and the state moved with them.
        let smallest_kept = m.values().iter().map(|v| v.abs()).fold(f32::MAX, f32::min);
        assert_eq!(smallest_kept as usize, rows * cols - m.nnz(), "update {u}");
        assert_eq!(state[0], m.values());
    }
    let want: Vec<usize> = (0..updates)
        .map(|u| GmpPolicy::kept(start, 8, u, updates))
        .collect();
    assert_eq!(kept, want);
    assert_eq!(want, [8 + 24, 8 + 7, 8 + 1, 8]); // 56 * (3/4)^3 = 23.6 -> 24, ...
    // An unknown matrix is an error naming it, and nothing changes.
    let before = (m.topology_hash(), m.values().to_vec());
    let ctx = EvolveContext::new(0, 3, 0.3).unwrap();
    let err = gmp
        .evolve(
            &mut [MatrixView::new("other", &mut m)],
            &ctx,
            &mut tracker,
            &mut rng,
        )
        .unwrap_err();
    assert_eq!(
        err,
        crate::EvolveError::MissingTarget {
            matrix: "other".into()
        }
    );
    assert_eq!((m.topology_hash(), m.values().to_vec()), before);
}

/// The overlap with the initial topology: at SET's first step, the kept connections plus the
/// ones regrown into just-pruned positions; it never exceeds the initial count.
#[test]
fn initial_overlap_is_counted_exactly() {
    let mut m = smooth_matrix(20, 10, 60, 4);
    let mut policy = crate::PolicyConfig::default().build();
    let mut tracker = TopologyTracker::new();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for epoch in 0..4 {
        let c = EvolveContext::new(epoch, 5, 0.5).unwrap();
        let r = policy
            .evolve(
                &mut [MatrixView::new("w", &mut m)],
                &c,
                &mut tracker,
                &mut rng,
            )
            .unwrap();
        let x = &r.matrices[0];
        let kept = x.initial_kept.unwrap();
        assert!(kept <= 60);
        if epoch == 0 {
            assert_eq!(kept, x.nnz_before - x.removed + x.regrown_into_removed);
        }
    }
    let initial = tracker.get("w").unwrap().initial.clone().unwrap();
    let now: Vec<u64> = m.entries().map(|(r, c, _)| (r * 10 + c) as u64).collect();
    let want = now.iter().filter(|p| initial.contains(p)).count();
    assert_eq!(tracker.get("w").unwrap().initial_kept(&now), Some(want));
}
