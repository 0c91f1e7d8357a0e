//! Forward + backward time per batch of the classifier, sparse (density d) vs dense (GEMM path).
//!
//! `cargo run --release -p set-nn --example step_report -- [--threads N] [--seq-len T] [--hidden H] [--density D] [--quick | --reps N] [--sparse-only]`
//! (`--reps 100` for a profile dominated by training steps rather than model building)
//!
//! Shapes: V = 20,000, E = H = 256, B = 64, T = 200 by default; random tokens, full lengths.
//! Prints the median of timed batches after one warm-up, and the sparse / dense ratio.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use set_nn::{
    ActivationMode, BatchRef, Classifier, ClassifierConfig, Optimizer, OptimizerConfig, Pooling,
    Storage,
};
use std::time::Instant;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().ok().expect("bad argument"))
        .unwrap_or(default)
}

fn time_model(storage: Storage, h: usize, t: usize, b: usize, reps: usize) -> (f64, f64, usize) {
    let v = 20_000;
    let cfg = ClassifierConfig {
        vocab_size: v,
        embed_dim: h,
        hidden: h,
        classes: 2,
        embedding: storage,
        lstm_ih: storage,
        lstm_hh: storage,
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.0,
        dropout_output: 0.0,
        activation: ActivationMode::Fast,
        rnn: Default::default(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut model = Classifier::<f32>::new(cfg, &mut rng).expect("model");
    let mut opt = Optimizer::new(OptimizerConfig::adam_default(1e-3), model.params());
    let tokens: Vec<u32> = (0..t * b).map(|_| rng.random_range(1..v as u32)).collect();
    let lengths = vec![t; b];
    let labels: Vec<usize> = (0..b).map(|i| i % 2).collect();
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    let mut fb = Vec::new();
    let mut opt_times = Vec::new();
    for step in 0..=reps {
        let s = Instant::now();
        model
            .train_step(&batch, &labels, &mut rng, step as u64)
            .expect("step");
        let mid = Instant::now();
        opt.step(model.params_mut());
        if step > 0 {
            fb.push((mid - s).as_secs_f64() * 1e3);
            opt_times.push(mid.elapsed().as_secs_f64() * 1e3);
        }
    }
    fb.sort_by(f64::total_cmp);
    opt_times.sort_by(f64::total_cmp);
    let params = set_nn::model_report(&model, None).total_params;
    (fb[fb.len() / 2], opt_times[opt_times.len() / 2], params)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = arg(&args, "--threads", 2);
    let t: usize = arg(&args, "--seq-len", 200);
    let h: usize = arg(&args, "--hidden", 256);
    let density: f64 = arg(&args, "--density", 0.04);
    let reps = if args.iter().any(|a| a == "--quick") {
        2
    } else {
        arg(&args, "--reps", 5)
    };
    let b = 64;
    let pool = set_nn::runtime::training_pool(threads).expect("pool");
    pool.install(|| {
        let (sparse_ms, sparse_opt, sparse_params) = time_model(Storage::Sparse { density }, h, t, b, reps);
        if args.iter().any(|a| a == "--sparse-only") {
            println!("sparse d = {density}: fwd+bwd {sparse_ms:.1} ms, optimizer {sparse_opt:.2} ms, {sparse_params} params");
            return;
        }
        let (dense_ms, dense_opt, dense_params) = time_model(Storage::Dense, h, t, b, reps);
        println!("E = H = {h}, B = {b}, T = {t}, V = 20000, threads = {threads}, ISA {:?}", set_sparse::simd::isa());
        println!("{:<22} {:>12} {:>14} {:>12}", "model", "fwd+bwd ms", "optimizer ms", "params");
        println!("{:<22} {:>12.1} {:>14.2} {:>12}", format!("sparse d = {density}"), sparse_ms, sparse_opt, sparse_params);
        println!("{:<22} {:>12.1} {:>14.2} {:>12}", "dense (GEMM)", dense_ms, dense_opt, dense_params);
        println!("dense / sparse fwd+bwd time: {:.1}x", dense_ms / sparse_ms);
        println!(
            "{{\"h\":{h},\"t\":{t},\"batch\":{b},\"threads\":{threads},\"density\":{density},\"sparse_ms\":{sparse_ms:.2},\"dense_ms\":{dense_ms:.2},\"ratio\":{:.2}}}",
            dense_ms / sparse_ms
        );
    });
}
