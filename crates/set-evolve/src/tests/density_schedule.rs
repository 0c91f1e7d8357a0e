//! Density allocation (ER, uniform, ERK) and prune-rate schedules.

use crate::{DensityReport, DensityScheme, EvolveContext, EvolveError, PruneSchedule, allocate};
use proptest::prelude::*;

proptest! {
    #[test]
    fn erk_hits_target_and_caps_at_one(
        shapes in proptest::collection::vec((1usize..300, 1usize..300), 1..7),
        density in 0.0f64..=1.0,
    ) {
        let d = allocate(&shapes, &DensityScheme::Erk { density }).unwrap();
        let total: f64 = shapes.iter().map(|&(r, c)| (r * c) as f64).sum();
        let nnz: f64 = shapes.iter().zip(&d).map(|(&(r, c), d)| d * (r * c) as f64).sum();
        prop_assert!((nnz - density * total).abs() <= 1e-6 * total.max(1.0), "{} vs {}", nnz, density * total);
        let mut scale: Option<f64> = None;
        for (&(r, c), &di) in shapes.iter().zip(&d) {
            prop_assert!((0.0..=1.0).contains(&di));
            if di < 1.0 {
                // Uncapped matrices share one scale: density * size / (rows + cols).
                let s = di * (r * c) as f64 / (r + c) as f64;
                if let Some(s0) = scale {
                    prop_assert!((s - s0).abs() <= 1e-9 * s.max(1.0));
                } else {
                    scale = Some(s);
                }
            }
        }
        // Capped matrices are exactly those that would exceed 1 at the common scale.
        if let Some(s) = scale {
            for (&(r, c), &di) in shapes.iter().zip(&d) {
                if di == 1.0 {
                    prop_assert!(s * (r + c) as f64 / (r * c) as f64 >= 1.0 - 1e-9);
                }
            }
        }
        let rep = DensityReport::new(&shapes, &d).unwrap();
        prop_assert!((rep.total_nnz as f64 - density * total).abs() <= shapes.len() as f64 * 0.5 + 1e-6);
    }
}

#[test]
fn erk_caps_small_layer() {
    let shapes = [(1024, 256), (256, 256), (2, 256)];
    let d = allocate(&shapes, &DensityScheme::Erk { density: 0.2 }).unwrap();
    assert_eq!(d[2], 1.0);
    assert!(d[0] < d[1] && d[1] < 1.0);
    let r = DensityReport::new(&shapes, &d).unwrap();
    assert_eq!(r.dense_total, 1024 * 256 + 256 * 256 + 512);
    assert!((r.fraction - 0.2).abs() < 1e-5);
    assert_eq!(
        allocate(&shapes, &DensityScheme::Erk { density: 1.0 }).unwrap(),
        vec![1.0; 3]
    );
    assert_eq!(
        allocate(&shapes, &DensityScheme::Erk { density: 0.0 }).unwrap(),
        vec![0.0; 3]
    );
}

#[test]
fn er_and_uniform() {
    let shapes = [(1024, 256), (4, 4), (0, 5)];
    let d = allocate(&shapes, &DensityScheme::ErdosRenyi { epsilon: 20.0 }).unwrap();
    assert_eq!(d[0], set_sparse::er_density(20.0, 1024, 256).unwrap());
    assert_eq!(d[1], 1.0);
    assert_eq!(d[2], 0.0);
    let u = allocate(&shapes, &DensityScheme::Uniform { density: 0.25 }).unwrap();
    assert_eq!(u, vec![0.25, 0.25, 0.0]);
}

#[test]
fn density_errors() {
    let bad = [
        DensityScheme::Erk { density: 1.5 },
        DensityScheme::Uniform { density: -0.1 },
        DensityScheme::Uniform { density: f64::NAN },
        DensityScheme::ErdosRenyi { epsilon: 0.0 },
        DensityScheme::ErdosRenyi {
            epsilon: f64::INFINITY,
        },
    ];
    for s in bad {
        assert!(
            matches!(
                allocate(&[(3, 3)], &s),
                Err(EvolveError::InvalidParameter { .. })
            ),
            "{s:?}"
        );
        assert!(
            matches!(allocate(&[], &s), Err(EvolveError::InvalidParameter { .. })),
            "{s:?}"
        );
    }
    assert!(DensityReport::new(&[(3, 3)], &[0.5, 0.5]).is_err());
    assert!(DensityReport::new(&[(3, 3)], &[2.0]).is_err());
}

#[test]
fn cosine_schedule_values() {
    let s = PruneSchedule::Cosine {
        initial: 0.4,
        final_epoch: 8,
    };
    let expect = |t: f64| 0.5 * 0.4 * (1.0 + (std::f64::consts::PI * t / 8.0).cos());
    for t in 0..8 {
        assert!((s.zeta_at(t) - expect(t as f64)).abs() < 1e-15, "t = {t}");
    }
    assert_eq!(s.zeta_at(0), 0.4);
    assert!((s.zeta_at(4) - 0.2).abs() < 1e-15);
    assert!((s.zeta_at(2) - 0.2 * (1.0 + std::f64::consts::FRAC_1_SQRT_2)).abs() < 1e-15);
    assert_eq!(s.zeta_at(8), 0.0);
    assert_eq!(s.zeta_at(100), 0.0);
    // Monotone non-increasing.
    assert!((0..9).all(|t| s.zeta_at(t + 1) <= s.zeta_at(t)));
    assert_eq!(
        PruneSchedule::Cosine {
            initial: 0.4,
            final_epoch: 0
        }
        .zeta_at(0),
        0.0
    );
    assert_eq!(PruneSchedule::default(), PruneSchedule::Constant(0.3));
    assert_eq!(PruneSchedule::Constant(0.3).zeta_at(7), 0.3);
}

#[test]
fn schedule_and_context_errors() {
    assert_eq!(
        PruneSchedule::Constant(1.5).validate(),
        Err(EvolveError::InvalidZeta { zeta: 1.5 })
    );
    assert_eq!(
        PruneSchedule::Cosine {
            initial: -0.1,
            final_epoch: 3
        }
        .validate(),
        Err(EvolveError::InvalidZeta { zeta: -0.1 })
    );
    assert!(matches!(
        EvolveContext::from_schedule(0, 5, &PruneSchedule::Constant(f64::NAN)),
        Err(EvolveError::InvalidZeta { zeta }) if zeta.is_nan()
    ));
    assert_eq!(
        EvolveContext::new(4, 5, 0.3),
        Err(EvolveError::AfterLastEpoch {
            epoch: 4,
            total_epochs: 5
        })
    );
    let c = EvolveContext::from_schedule(
        2,
        5,
        &PruneSchedule::Cosine {
            initial: 0.5,
            final_epoch: 4,
        },
    )
    .unwrap();
    assert!((c.zeta - 0.25).abs() < 1e-15);
}
