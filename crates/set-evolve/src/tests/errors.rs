//! Typed errors: bad zeta, misaligned state, bad views, missing callbacks, non-finite values;
//! nothing changes on error.

use super::*;
use crate::{
    EvolutionPolicy, EvolveError, NewWeightInit, RiglPolicy, SetPolicy, SnfsPolicy, StaticPolicy,
};

fn assert_unchanged(m: &SparseMatrix<f32>, orig: &SparseMatrix<f32>) {
    assert_eq!(m.indptr(), orig.indptr());
    assert_eq!(m.indices(), orig.indices());
    assert_eq!(m.values(), orig.values());
}

#[test]
fn invalid_zeta_in_context_fields() {
    let mut m = smooth_matrix(5, 5, 10, 0);
    let orig = m.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for zeta in [-0.1, 1.01, f64::INFINITY] {
        let mut c = ctx(0.3);
        c.zeta = zeta;
        let e = SetPolicy::default().evolve(
            &mut [MatrixView::new("w", &mut m)],
            &c,
            &mut TopologyTracker::new(),
            &mut rng,
        );
        assert_eq!(e.unwrap_err(), EvolveError::InvalidZeta { zeta });
    }
    let mut c = ctx(0.3);
    c.epoch = 9;
    let e = StaticPolicy::new().evolve(
        &mut [MatrixView::new("w", &mut m)],
        &c,
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::AfterLastEpoch {
            epoch: 9,
            total_epochs: 10
        }
    );
    let c = ctx(0.3).with_new_weight_init(NewWeightInit::Normal { std: f64::NAN });
    let e = SetPolicy::default().evolve(
        &mut [MatrixView::new("w", &mut m)],
        &c,
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert!(matches!(
        e,
        Err(EvolveError::InvalidParameter {
            what: "new weight std",
            ..
        })
    ));
    assert_unchanged(&m, &orig);
}

#[test]
fn bad_views_are_rejected_before_any_change() {
    let mut a = smooth_matrix(4, 5, 10, 1);
    let mut b = smooth_matrix(4, 5, 10, 2);
    let (oa, ob) = (a.clone(), b.clone());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut short = vec![0.0f32; 9];
    let mut ok = vec![0.0f32; 10];

    // The second view is bad: the first must not have been edited either.
    let e = SetPolicy::default().evolve(
        &mut [
            MatrixView::new("a", &mut a),
            MatrixView::new("b", &mut b).with_state(&mut short),
        ],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::StateLength {
            matrix: "b".into(),
            buffer: 0,
            len: 9,
            nnz: 10
        }
    );
    assert_unchanged(&a, &oa);
    assert_unchanged(&b, &ob);

    let e = SetPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a), MatrixView::new("a", &mut b)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::DuplicateMatrix { name: "a".into() }
    );

    let e = SetPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a).with_row_groups(3)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::RowGroups {
            matrix: "a".into(),
            rows: 4,
            groups: 3
        }
    );
    let e = SetPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a).with_row_groups(0)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert!(matches!(e, Err(EvolveError::RowGroups { groups: 0, .. })));

    let mut v = MatrixView::new("a", &mut a).with_state(&mut ok);
    v.momentum = Some(1);
    let e = SetPolicy::default().evolve(&mut [v], &ctx(0.5), &mut TopologyTracker::new(), &mut rng);
    assert_eq!(
        e.unwrap_err(),
        EvolveError::MomentumIndex {
            matrix: "a".into(),
            index: 1,
            buffers: 1
        }
    );
    assert_unchanged(&a, &oa);
}

#[test]
fn missing_callbacks() {
    let mut a = smooth_matrix(4, 5, 10, 1);
    let mut mom = vec![0.0f32; 10];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let e = RiglPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::MissingGradient {
            matrix: "a".into(),
            policy: "rigl"
        }
    );
    let g = |_r: usize, out: &mut [f32]| out.fill(0.0);
    let e = SnfsPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a).with_gradient_row(&g)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::MissingMomentum {
            matrix: "a".into(),
            policy: "snfs"
        }
    );
    let e = SnfsPolicy::default().evolve(
        &mut [MatrixView::new("a", &mut a).with_momentum(&mut mom)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::MissingGradient {
            matrix: "a".into(),
            policy: "snfs"
        }
    );
}

#[test]
fn non_finite_values() {
    // [[1, NaN], [0, 2]] stored as (0,0) (0,1) (1,1).
    let mut w =
        SparseMatrix::<f32>::try_new(2, 2, vec![0, 2, 3], vec![0, 1, 1], vec![1.0, f32::NAN, 2.0])
            .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let e = SetPolicy::default().evolve(
        &mut [MatrixView::new("w", &mut w)],
        &ctx(0.5),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert!(matches!(
        e,
        Err(EvolveError::NonFinite { what: "weight", row: 0, col: 1, ref matrix, .. }) if matrix == "w"
    ));

    let mut w = SparseMatrix::<f32>::try_new(2, 2, vec![0, 1, 1], vec![0], vec![1.0]).unwrap();
    let g = |r: usize, out: &mut [f32]| {
        out.copy_from_slice(if r == 0 {
            &[0.0, 1.0]
        } else {
            &[f32::INFINITY, 0.0]
        })
    };
    let mut rigl = RiglPolicy::default();
    let mut tracker = TopologyTracker::new();
    let e = rigl.evolve(
        &mut [MatrixView::new("w", &mut w).with_gradient_row(&g)],
        &ctx(1.0),
        &mut tracker,
        &mut rng,
    );
    assert!(matches!(
        e,
        Err(EvolveError::NonFinite {
            what: "gradient",
            row: 1,
            col: 0,
            ..
        })
    ));
    assert_eq!((w.nnz(), w.get(0, 0)), (1, Some(1.0)));
    // A failed step leaves the tracker untouched too.
    assert_eq!(tracker.names().count(), 0);

    let mut mom = vec![f32::NAN];
    let e = SnfsPolicy::default().evolve(
        &mut [MatrixView::new("w", &mut w)
            .with_momentum(&mut mom)
            .with_gradient_row(&g)],
        &ctx(1.0),
        &mut TopologyTracker::new(),
        &mut rng,
    );
    assert!(matches!(
        e,
        Err(EvolveError::NonFinite {
            what: "momentum",
            row: 0,
            col: 0,
            ..
        })
    ));
}

#[test]
fn tracker_rejects_shape_change() {
    let mut a = smooth_matrix(4, 5, 10, 1);
    let mut b = smooth_matrix(5, 4, 10, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut p = SetPolicy::default();
    let mut tracker = TopologyTracker::new();
    p.evolve(
        &mut [MatrixView::new("w", &mut a)],
        &ctx(0.5),
        &mut tracker,
        &mut rng,
    )
    .unwrap();
    let e = p.evolve(
        &mut [MatrixView::new("w", &mut b)],
        &ctx(0.5),
        &mut tracker,
        &mut rng,
    );
    assert_eq!(
        e.unwrap_err(),
        EvolveError::ShapeChanged {
            matrix: "w".into(),
            expected: (4, 5),
            got: (5, 4)
        }
    );
}

#[test]
fn errors_display_with_matrix_name() {
    let e = EvolveError::Sparse {
        matrix: "lstm.w_hh".into(),
        source: set_sparse::SparseError::DuplicateRemove { pos: 3 },
    };
    assert!(e.to_string().starts_with("matrix lstm.w_hh: "));
    assert!(std::error::Error::source(&e).is_some());
    let e = EvolveError::NnzNotConserved {
        scope: "<total>".into(),
        before: 5,
        after: 4,
    };
    assert_eq!(
        e.to_string(),
        "nnz not conserved in <total>: 5 before, 4 after"
    );
}
