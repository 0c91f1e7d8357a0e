//! Kernel report: GFLOP/s of SpMM, transposed SpMM and SDDMM at LSTM shapes, beside ndarray's
//! dense `dot` on the same shape, measured in the same run.
//!
//! `cargo run --release -p set-sparse --example kernel_report [-- --threads N --quick]`
//!
//! Shapes: `m = 4H`, `n = E + H` with `E = H`, batch `B = 64`. Useful work is `2 * nnz * B`
//! flops per product; the dense baseline does `2 * m * n * B`. Each figure is the median of
//! repeated timings after a warm-up. The last lines are JSON, one per case.

use ndarray::Array2;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use set_sparse::SparseMatrix;
use std::time::Instant;

fn median_seconds(min_total: f64, mut f: impl FnMut()) -> f64 {
    f();
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 5 || (start.elapsed().as_secs_f64() < min_total && times.len() < 200) {
        let t = Instant::now();
        f();
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--threads takes a number"))
        .unwrap_or(2);
    let quick = args.iter().any(|a| a == "--quick");
    let pool = set_sparse::denormal::build_thread_pool(threads, true).expect("thread pool");
    let batch = 64;
    let hs: &[usize] = if quick { &[256] } else { &[256, 1024] };
    let min_total = if quick { 0.2 } else { 1.0 };
    println!(
        "ISA: {:?}, threads: {threads}, batch: {batch}",
        set_sparse::simd::isa()
    );
    println!(
        "{:>6} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12}",
        "H", "density", "nnz", "spmm GF/s", "spmm_t GF/s", "sddmm GF/s", "dense GF/s"
    );
    let mut json = Vec::new();
    for &h in hs {
        let (m, n) = (4 * h, 2 * h);
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let x = Array2::from_shape_fn((n, batch), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array2::from_shape_fn((m, batch), |_| rng.random_range(-1.0f32..1.0));
        // The dense baseline: ndarray's `dot` on the same shape, with a dense weight matrix.
        let wd = Array2::from_shape_fn((m, n), |_| rng.random_range(-1.0f32..1.0));
        let mut yd = Array2::<f32>::zeros((m, batch));
        let dense_s = pool.install(|| {
            median_seconds(min_total, || {
                ndarray::linalg::general_mat_mul(1.0, &wd, &x, 0.0, &mut yd)
            })
        });
        let dense_gflops = 2.0 * (m * n * batch) as f64 / dense_s / 1e9;
        for &density in &[0.01, 0.04, 0.10, 1.0] {
            let w = SparseMatrix::<f32>::random_density(m, n, density, &mut rng, |r| {
                r.random_range(-1.0..1.0)
            })
            .expect("init");
            let flops = 2.0 * (w.nnz() * batch) as f64;
            let mut y = Array2::<f32>::zeros((m, batch));
            let mut dx = Array2::<f32>::zeros((n, batch));
            let mut g = vec![0.0f32; w.nnz()];
            let (t_spmm, t_spmm_t, t_sddmm) = pool.install(|| {
                (
                    median_seconds(min_total, || w.spmm(x.view(), y.view_mut())),
                    median_seconds(min_total, || w.spmm_t(dy.view(), dx.view_mut())),
                    median_seconds(min_total, || {
                        g.fill(0.0);
                        w.sddmm_acc(dy.view(), x.view(), &mut g)
                    }),
                )
            });
            let gf = |t: f64| flops / t / 1e9;
            println!(
                "{h:>6} {density:>8.2} {:>8} {:>12.1} {:>12.1} {:>12.1} {:>12.1}",
                w.nnz(),
                gf(t_spmm),
                gf(t_spmm_t),
                gf(t_sddmm),
                dense_gflops
            );
            for (kernel, t) in [("spmm", t_spmm), ("spmm_t", t_spmm_t), ("sddmm", t_sddmm)] {
                json.push(format!(
                    "{{\"kernel\":\"{kernel}\",\"h\":{h},\"density\":{density},\"batch\":{batch},\"threads\":{threads},\"gflops\":{:.2},\"dense_gflops\":{:.2}}}",
                    gf(t),
                    dense_gflops
                ));
            }
        }
    }
    for line in json {
        println!("{line}");
    }
}
