//! Inference-only loop for profiling:
//! `perf record -g target/release/examples/forward_profile [THREADS] [H] [ITERS] [infer|train]`.
//! `infer` (the default) times [`Classifier::infer`], the path `predict` and evaluation take;
//! `train` times the training forward without dropout.
use rand::{RngExt, SeedableRng};
use set_nn::{
    ActivationMode, BatchRef, Classifier, ClassifierConfig, ForwardCache, InferScratch, Pooling,
    Storage,
};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).map_or(2, |s| s.parse().unwrap());
    let h: usize = args.get(2).map_or(256, |s| s.parse().unwrap());
    let iters: usize = args.get(3).map_or(200, |s| s.parse().unwrap());
    let train_forward = args.get(4).is_some_and(|s| s == "train");
    let pool = set_nn::runtime::training_pool(threads).unwrap();
    let s = Storage::Sparse { density: 0.04 };
    let cfg = ClassifierConfig {
        vocab_size: 20000,
        embed_dim: h,
        hidden: h,
        classes: 2,
        embedding: s,
        lstm_ih: s,
        lstm_hh: s,
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.0,
        dropout_output: 0.0,
        activation: ActivationMode::Fast,
        rnn: Default::default(),
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let b: usize = args.get(5).map_or(64, |s| s.parse().unwrap());
    let t = 100;
    let tokens: Vec<u32> = (0..b * t).map(|_| rng.random_range(2..20000u32)).collect();
    let lengths = vec![t; b];
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    pool.install(|| {
        let model = Classifier::<f32>::new(cfg, &mut rng).unwrap();
        let mut cache = ForwardCache::default();
        let mut scratch = InferScratch::default();
        let mut times = Vec::new();
        for _ in 0..iters {
            let st = std::time::Instant::now();
            if train_forward {
                model
                    .forward_into::<rand_chacha::ChaCha8Rng>(&batch, None, &mut cache)
                    .unwrap();
            } else {
                std::hint::black_box(model.infer(&batch, &mut scratch).unwrap());
            }
            times.push(st.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "threads {threads} H {h}: median {:.2} ms",
            times[times.len() / 2]
        );
    });
}
