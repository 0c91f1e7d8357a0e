//! Criterion benches for the sparse kernels at LSTM shapes (`spmm/h256/d0.04` ...) and for the
//! batched entry points (`spmm_batched/h256/d0.04/t100` ...).
//! CI only compiles them: `cargo bench -p set-sparse --no-run`.

use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{Array2, Array3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use set_sparse::SparseMatrix;
use std::hint::black_box;

fn kernels(c: &mut Criterion) {
    let batch = 64;
    for h in [256usize, 1024] {
        let (m, n) = (4 * h, 2 * h);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x = Array2::from_shape_fn((n, batch), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array2::from_shape_fn((m, batch), |_| rng.random_range(-1.0f32..1.0));
        for density in [0.01, 0.04, 0.1] {
            let w = SparseMatrix::<f32>::random_density(m, n, density, &mut rng, |r| {
                r.random_range(-1.0..1.0)
            })
            .unwrap();
            let mut y = Array2::<f32>::zeros((m, batch));
            let mut dx = Array2::<f32>::zeros((n, batch));
            let mut g = vec![0.0f32; w.nnz()];
            c.bench_function(&format!("spmm/h{h}/d{density}"), |b| {
                b.iter(|| w.spmm(black_box(x.view()), y.view_mut()))
            });
            c.bench_function(&format!("spmm_t/h{h}/d{density}"), |b| {
                b.iter(|| w.spmm_t(black_box(dy.view()), dx.view_mut()))
            });
            c.bench_function(&format!("sddmm/h{h}/d{density}"), |b| {
                b.iter(|| w.sddmm_acc(black_box(dy.view()), x.view(), &mut g))
            });
        }
    }
}

/// The batched entry points at the LSTM's per-layer shape (`W` is `4H x H`, `[T, features, B]`
/// operands), all time steps in one call.
fn batched(c: &mut Criterion) {
    let (batch, steps, density) = (64, 100, 0.04);
    for h in [128usize, 256] {
        let (m, n) = (4 * h, h);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let w = SparseMatrix::<f32>::random_density(m, n, density, &mut rng, |r| {
            r.random_range(-1.0..1.0)
        })
        .unwrap();
        let x = Array3::from_shape_fn((steps, n, batch), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array3::from_shape_fn((steps, m, batch), |_| rng.random_range(-1.0f32..1.0));
        let mut y = Array3::<f32>::zeros((steps, m, batch));
        let mut dx = Array3::<f32>::zeros((steps, n, batch));
        let mut g = vec![0.0f32; w.nnz()];
        c.bench_function(&format!("spmm_batched/h{h}/d{density}/t{steps}"), |b| {
            b.iter(|| w.spmm_batched(black_box(x.view()), y.view_mut(), false))
        });
        c.bench_function(&format!("spmm_t_batched/h{h}/d{density}/t{steps}"), |b| {
            b.iter(|| w.spmm_t_batched(black_box(dy.view()), dx.view_mut(), false))
        });
        c.bench_function(&format!("sddmm_batched/h{h}/d{density}/t{steps}"), |b| {
            b.iter(|| w.sddmm_batched_acc(black_box(dy.view()), x.view(), &mut g))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = kernels, batched
}
criterion_main!(benches);
