//! Kernel report: GFLOP/s of SpMM, transposed SpMM and SDDMM at LSTM shapes, beside ndarray's
//! dense `dot` on the same shape, measured in the same run, then the batched (all time steps in
//! one call) entry points at the LSTM's per-layer shape beside a loop of per-step calls.
//!
//! `cargo run --release -p set-sparse --example kernel_report [-- --threads N --quick]`
//!
//! Options for quick experiments (defaults in brackets): `--h 256,1024`, `--density
//! 0.01,0.04,0.1,1`, `--steps 100` (batched table; `0` skips it), `--min-time 1.0` (seconds per
//! measurement), `--cpu-time` (report CPU seconds of all threads per call instead of wall-clock
//! medians: steadier for one-thread A/B comparisons on a shared machine).
//!
//! Shapes: `m = 4H`, `n = E + H` with `E = H`, batch `B = 64`. Useful work is `2 * nnz * B`
//! flops per product; the dense baseline does `2 * m * n * B`. Each figure is the median of
//! repeated timings after a warm-up. The batched table uses `W` of `4H x H` (one of `W_ih`,
//! `W_hh` at `E = H`) and `[steps, features, B]` operands. The last lines are JSON, one per case.

use ndarray::{Array2, Array3, Axis};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use set_sparse::SparseMatrix;
use std::time::Instant;

/// How measurements are taken: wall-clock medians (the default) or CPU time.
#[derive(Clone, Copy)]
enum Clock {
    Wall,
    /// Mean CPU time of all threads per call (`--cpu-time`): for A/B comparisons at one thread on
    /// a shared machine, where time slices lost to other processes would otherwise count.
    Cpu,
}

static CLOCK: std::sync::OnceLock<Clock> = std::sync::OnceLock::new();

/// CPU time used by all threads of this process so far (Linux `schedstat`), in seconds.
fn process_cpu_seconds() -> f64 {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.expect("task entry").path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(path) {
            ns += s
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    ns as f64 * 1e-9
}

fn median_seconds(min_total: f64, mut f: impl FnMut()) -> f64 {
    f();
    if let Some(Clock::Cpu) = CLOCK.get() {
        let (start, cpu0) = (Instant::now(), process_cpu_seconds());
        let mut n = 0;
        while n < 5 || start.elapsed().as_secs_f64() < min_total {
            f();
            n += 1;
        }
        return (process_cpu_seconds() - cpu0) / n as f64;
    }
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

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn list<T>(args: &[String], name: &str, default: &[T]) -> Vec<T>
where
    T: std::str::FromStr + Clone,
    T::Err: std::fmt::Debug,
{
    arg(args, name).map_or_else(
        || default.to_vec(),
        |s| {
            s.split(',')
                .map(|v| v.parse().expect("a comma-separated list"))
                .collect()
        },
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads =
        arg(&args, "--threads").map_or(2, |s| s.parse().expect("--threads takes a number"));
    let quick = args.iter().any(|a| a == "--quick");
    let clock = if args.iter().any(|a| a == "--cpu-time") {
        Clock::Cpu
    } else {
        Clock::Wall
    };
    CLOCK.set(clock).ok();
    let pool = set_sparse::denormal::build_thread_pool(threads, true).expect("thread pool");
    let batch = 64;
    let hs = list(&args, "--h", if quick { &[256] } else { &[256, 1024] });
    let densities = list(&args, "--density", &[0.01, 0.04, 0.10, 1.0]);
    let steps: usize = arg(&args, "--steps").map_or(if quick { 20 } else { 100 }, |s| {
        s.parse().expect("--steps takes a number")
    });
    let min_total = arg(&args, "--min-time").map_or(if quick { 0.2 } else { 1.0 }, |s| {
        s.parse().expect("--min-time takes seconds")
    });
    println!(
        "ISA: {:?}, threads: {threads}, batch: {batch}",
        set_sparse::simd::isa()
    );
    println!(
        "{:>6} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12}",
        "H", "density", "nnz", "spmm GF/s", "spmm_t GF/s", "sddmm GF/s", "dense GF/s"
    );
    let mut json = Vec::new();
    for &h in &hs {
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
        for &density in &densities {
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
    if steps > 0 {
        batched_table(
            &pool, &hs, &densities, steps, batch, threads, min_total, &mut json,
        );
    }
    for line in json {
        println!("{line}");
    }
}

/// Batched kernels over `steps` time steps for `W` of `4H x H` (an LSTM's `W_ih` or `W_hh` at
/// `E = H`), against a loop of per-step 2-D calls on the same data.
#[allow(clippy::too_many_arguments)]
fn batched_table(
    pool: &rayon::ThreadPool,
    hs: &[usize],
    densities: &[f64],
    steps: usize,
    batch: usize,
    threads: usize,
    min_total: f64,
    json: &mut Vec<String>,
) {
    println!();
    println!("batched over {steps} steps, W = 4H x H, GF/s (per-step loop in brackets)");
    println!(
        "{:>6} {:>8} {:>8} {:>18} {:>18} {:>18}",
        "H", "density", "nnz", "spmm", "spmm_t", "sddmm"
    );
    for &h in hs.iter().filter(|&&h| h <= 512) {
        let (m, n) = (4 * h, h);
        let mut rng = ChaCha8Rng::seed_from_u64(43);
        let x = Array3::from_shape_fn((steps, n, batch), |_| rng.random_range(-1.0f32..1.0));
        let dy = Array3::from_shape_fn((steps, m, batch), |_| rng.random_range(-1.0f32..1.0));
        for &density in densities.iter().filter(|&&d| d < 0.5) {
            let w = SparseMatrix::<f32>::random_density(m, n, density, &mut rng, |r| {
                r.random_range(-1.0..1.0)
            })
            .expect("init");
            let flops = 2.0 * (w.nnz() * batch * steps) as f64;
            let mut y = Array3::<f32>::zeros((steps, m, batch));
            let mut dx = Array3::<f32>::zeros((steps, n, batch));
            let mut g = vec![0.0f32; w.nnz()];
            let times: Vec<f64> = pool.install(|| {
                vec![
                    median_seconds(min_total, || w.spmm_batched(x.view(), y.view_mut(), false)),
                    median_seconds(min_total, || {
                        for t in 0..steps {
                            w.spmm(x.index_axis(Axis(0), t), y.index_axis_mut(Axis(0), t));
                        }
                    }),
                    median_seconds(min_total, || {
                        w.spmm_t_batched(dy.view(), dx.view_mut(), false)
                    }),
                    median_seconds(min_total, || {
                        for t in 0..steps {
                            w.spmm_t(dy.index_axis(Axis(0), t), dx.index_axis_mut(Axis(0), t));
                        }
                    }),
                    median_seconds(min_total, || {
                        g.fill(0.0);
                        w.sddmm_batched_acc(dy.view(), x.view(), &mut g)
                    }),
                    median_seconds(min_total, || {
                        g.fill(0.0);
                        for t in 0..steps {
                            w.sddmm_acc(
                                dy.index_axis(Axis(0), t),
                                x.index_axis(Axis(0), t),
                                &mut g,
                            );
                        }
                    }),
                ]
            });
            let gf: Vec<f64> = times.iter().map(|t| flops / t / 1e9).collect();
            let cell = |a: f64, b: f64| format!("{a:.1} ({b:.1})");
            println!(
                "{h:>6} {density:>8.2} {:>8} {:>18} {:>18} {:>18}",
                w.nnz(),
                cell(gf[0], gf[1]),
                cell(gf[2], gf[3]),
                cell(gf[4], gf[5])
            );
            for (i, kernel) in ["spmm_batched", "spmm_t_batched", "sddmm_batched"]
                .iter()
                .enumerate()
            {
                json.push(format!(
                    "{{\"kernel\":\"{kernel}\",\"h\":{h},\"density\":{density},\"batch\":{batch},\"steps\":{steps},\"threads\":{threads},\"gflops\":{:.2},\"per_step_loop_gflops\":{:.2}}}",
                    gf[2 * i],
                    gf[2 * i + 1]
                ));
            }
        }
    }
}
