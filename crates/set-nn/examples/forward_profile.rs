//! Inference-only loop for profiling: `perf record -g target/release/examples/forward_profile`.
use rand::{RngExt, SeedableRng};
use set_nn::{
    ActivationMode, BatchRef, Classifier, ClassifierConfig, ForwardCache, Pooling, Storage,
};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).map_or(2, |s| s.parse().unwrap());
    let h: usize = args.get(2).map_or(256, |s| s.parse().unwrap());
    let iters: usize = args.get(3).map_or(200, |s| s.parse().unwrap());
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
    let (b, t) = (64, 100);
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
        let mut times = Vec::new();
        for _ in 0..iters {
            let st = std::time::Instant::now();
            model
                .forward_into::<rand_chacha::ChaCha8Rng>(&batch, None, &mut cache)
                .unwrap();
            times.push(st.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "threads {threads} H {h}: median {:.2} ms",
            times[times.len() / 2]
        );
    });
}
