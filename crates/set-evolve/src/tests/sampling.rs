//! Empty-position sampling: validity for both methods at every density, exact uniformity over
//! k-subsets.

use super::*;
use crate::{EvolveError, SamplingMethod, sample_empty_positions, sample_empty_positions_from};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn method() -> impl Strategy<Value = SamplingMethod> {
    prop_oneof![
        Just(SamplingMethod::Auto),
        Just(SamplingMethod::Rejection),
        Just(SamplingMethod::Enumerate)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn samples_are_distinct_empty_and_sorted(
        rows in 1usize..15, cols in 1usize..15, fill in 0.0f64..=1.0, free_every in 1usize..5,
        kfrac in 0.0f64..=1.0, seed in any::<u64>(), m in method(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let w = smooth_matrix(rows, cols, nnz, seed);
        let freed: Vec<usize> = (0..nnz).filter(|p| free_every > 1 && p % free_every == 0).collect();
        let occupied: BTreeSet<(usize, usize)> = w
            .entries()
            .filter(|(_, _, p)| freed.binary_search(p).is_err())
            .map(|(r, c, _)| (r, c))
            .collect();
        let empty = rows * cols - occupied.len();
        let k = (kfrac * empty as f64).floor() as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let got = sample_empty_positions(&w, &freed, k, m, &mut rng, "w").unwrap();
        prop_assert_eq!(got.len(), k);
        prop_assert!(got.windows(2).all(|p| p[0] < p[1]));
        for &(r, c) in &got {
            prop_assert!(r < rows && c < cols);
            prop_assert!(!occupied.contains(&(r, c)));
        }
        // One more than available is a typed error.
        let err = sample_empty_positions(&w, &freed, empty + 1, m, &mut rng, "w").unwrap_err();
        prop_assert_eq!(err, EvolveError::NotEnoughEmpty { matrix: "w".into(), needed: empty as u64 + 1, available: empty as u64 });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Frozen rows (the embedding's padding row) are never drawn, whatever they store or free;
    /// the open positions are counted in the other rows only.
    #[test]
    fn frozen_rows_are_never_drawn(
        rows in 1usize..12, cols in 1usize..12, fill in 0.0f64..=1.0, free_every in 1usize..5,
        frozen in 0usize..4, kfrac in 0.0f64..=1.0, seed in any::<u64>(), m in method(),
    ) {
        let nnz = (fill * (rows * cols) as f64).round() as usize;
        let w = smooth_matrix(rows, cols, nnz, seed);
        let freed: Vec<usize> = (0..nnz).filter(|p| free_every > 1 && p % free_every == 0).collect();
        let occupied: BTreeSet<(usize, usize)> = w
            .entries()
            .filter(|(_, _, p)| freed.binary_search(p).is_err())
            .map(|(r, c, _)| (r, c))
            .collect();
        let open = (frozen.min(rows)..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .filter(|p| !occupied.contains(p))
            .count();
        let k = (kfrac * open as f64).floor() as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let got = sample_empty_positions_from(&w, frozen, &freed, k, m, &mut rng, "w").unwrap();
        prop_assert_eq!(got.len(), k);
        prop_assert!(got.windows(2).all(|p| p[0] < p[1]));
        for &(r, c) in &got {
            prop_assert!(r >= frozen && r < rows && c < cols);
            prop_assert!(!occupied.contains(&(r, c)));
        }
        let err = sample_empty_positions_from(&w, frozen, &freed, open + 1, m, &mut rng, "w").unwrap_err();
        prop_assert_eq!(err, EvolveError::NotEnoughEmpty { matrix: "w".into(), needed: open as u64 + 1, available: open as u64 });
    }
}

fn subset_counts(method: SamplingMethod, trials: usize) -> BTreeMap<Vec<(usize, usize)>, usize> {
    // 3 x 4; stored (0,0) (0,1) (1,2) (2,0) (2,3); position 1 = (0,1) freed -> 8 empty positions.
    let w = SparseMatrix::<f32>::try_new(3, 4, vec![0, 2, 3, 5], vec![0, 1, 2, 0, 3], vec![1.0; 5])
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut counts = BTreeMap::new();
    for _ in 0..trials {
        let s = sample_empty_positions(&w, &[1], 3, method, &mut rng, "w").unwrap();
        assert!(
            !s.iter()
                .any(|p| [(0, 0), (1, 2), (2, 0), (2, 3)].contains(p))
        );
        *counts.entry(s).or_insert(0) += 1;
    }
    counts
}

#[test]
fn both_methods_are_uniform_over_subsets() {
    let trials = 28_000;
    for method in [SamplingMethod::Rejection, SamplingMethod::Enumerate] {
        let counts = subset_counts(method, trials);
        // C(8, 3) = 56 subsets, each with probability 1/56.
        assert_eq!(counts.len(), 56, "{method:?}");
        let p = 1.0 / 56.0;
        let mean = trials as f64 * p;
        let sigma = (trials as f64 * p * (1.0 - p)).sqrt();
        for (s, &n) in &counts {
            assert!(
                (n as f64 - mean).abs() < 5.0 * sigma,
                "{method:?} {s:?}: {n} vs {mean}"
            );
        }
        // And a chi-square sanity bound (55 degrees of freedom; 100 is far in the tail).
        let chi2: f64 = counts
            .values()
            .map(|&n| (n as f64 - mean).powi(2) / mean)
            .sum();
        assert!(chi2 < 100.0, "{method:?} chi2 {chi2}");
    }
}

#[test]
fn bad_freed_list_is_an_error() {
    let w = smooth_matrix(4, 4, 5, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for freed in [vec![1, 1], vec![2, 1], vec![5]] {
        let e = sample_empty_positions(&w, &freed, 1, SamplingMethod::Auto, &mut rng, "w");
        assert!(matches!(
            e,
            Err(EvolveError::InvalidParameter {
                what: "freed positions",
                ..
            })
        ));
    }
}

#[test]
fn large_sparse_and_nearly_full_are_fast_and_exact() {
    // 100k x 300 at density 0.001: rejection; 300 x 300 nearly full: enumeration.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let w = SparseMatrix::<f32>::random(100_000, 300, 30_000, &mut rng, |_| 1.0).unwrap();
    let got =
        sample_empty_positions(&w, &[], 10_000, SamplingMethod::Auto, &mut rng, "emb").unwrap();
    assert_eq!(got.len(), 10_000);
    assert!(got.iter().all(|&(r, c)| w.position(r, c).is_none()));
    let w = SparseMatrix::<f32>::random(300, 300, 89_990, &mut rng, |_| 1.0).unwrap();
    let got = sample_empty_positions(&w, &[], 10, SamplingMethod::Auto, &mut rng, "full").unwrap();
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|&(r, c)| w.position(r, c).is_none()));
}
