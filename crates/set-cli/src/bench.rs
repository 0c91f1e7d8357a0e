//! `bench`: median time of training steps (forward, backward, clipping-free optimizer step) and
//! inference batches on random tokens, after warm-up; one JSON line on stdout.

use crate::cli::BenchArgs;
use crate::exit::usage;
use crate::floor::{Machine, StepShape, percent_of_floor};
use anyhow::{Context, Result};
use rand::RngExt;
use serde::Serialize;
use set_nn::{
    ActivationMode, BatchRef, Classifier, ClassifierConfig, Optimizer, OptimizerConfig, Pooling,
    Storage, model_report,
};
use set_train::OptimizerName;
use set_train::rng::{Stream, stream_rng};
use std::time::Instant;

#[derive(Debug, Serialize)]
struct BenchResult {
    /// Always `"set-lstm"` (reports mix our lines with PyTorch's).
    #[serde(rename = "impl")]
    implementation: &'static str,
    threads: usize,
    /// Processes training data-parallel (MPI ranks); `batch_size` is the global batch.
    ranks: usize,
    vocab_size: usize,
    embed_dim: usize,
    hidden: usize,
    batch_size: usize,
    seq_len: usize,
    /// Density of the embedding and LSTM matrices (1 for `--dense`).
    density: f64,
    dense: bool,
    train_ms_per_step: f64,
    infer_ms_per_batch: f64,
    train_tokens_per_s: f64,
    infer_tokens_per_s: f64,
    params: usize,
    dense_params: usize,
    peak_rss_bytes: Option<u64>,
    /// Peak resident set before the inference loop: what training needed.
    train_peak_rss_bytes: Option<u64>,
    /// Stored weights with their sparse structure (values, column indices, row pointers).
    weight_bytes: usize,
    /// Gradients (one per stored weight).
    gradient_bytes: usize,
    /// Optimizer state (Adam: two moments per stored weight).
    optimizer_bytes: usize,
    /// Activations and backward workspaces of one training step (the reused cache).
    activation_bytes: usize,
    /// Tokens of the batch-1 sentence.
    batch1_tokens: usize,
    /// Median compute time of one sentence's forward (inference path, loaded model).
    batch1_ms: f64,
    /// Live dense GEMM rate the floors use (`gemm` crate, GFLOP/s).
    floor_gemm_gflops: f64,
    /// Live copy bandwidth the floors use (GB/s, read + write).
    floor_bandwidth_gbs: f64,
    /// Floor of one training step (see `floor.rs`): sparse FLOPs at the GEMM rate plus the
    /// activation round trip at the copy bandwidth.
    train_floor_ms: f64,
    /// Floor of one inference batch.
    infer_floor_ms: f64,
    /// Floor of the batch-1 forward.
    batch1_floor_ms: f64,
    /// `train_floor_ms / train_ms_per_step`, percent.
    train_pct_of_floor: f64,
    /// `infer_floor_ms / infer_ms_per_batch`, percent.
    infer_pct_of_floor: f64,
    /// `batch1_floor_ms / batch1_ms`, percent.
    batch1_pct_of_floor: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn validate(a: &BenchArgs) -> Result<()> {
    let max = set_train::MAX_WIDTH;
    let checks: [(&str, usize, usize, usize); 9] = [
        ("--vocab-size", a.vocab_size, 3, 1 << 24),
        ("--embed-dim", a.embed_dim, 1, max),
        ("--hidden", a.hidden, 1, max),
        ("--batch-size", a.batch_size, 1, 1 << 16),
        ("--seq-len", a.seq_len, 1, 1 << 16),
        ("--steps", a.steps, 1, 1 << 20),
        ("--batch1-tokens", a.batch1_tokens, 1, 1 << 16),
        ("--batch1-runs", a.batch1_runs, 1, 1 << 20),
        ("--layers", a.layers, 1, set_train::MAX_LAYERS),
    ];
    for (flag, v, lo, hi) in checks {
        if !(lo..=hi).contains(&v) {
            return Err(usage(format!(
                "invalid value {v} for {flag}: expected an integer in {lo}..={hi}"
            )));
        }
    }
    if let Some(d) = a.density
        && !(d.is_finite() && d > 0.0 && d <= 1.0)
    {
        return Err(usage(format!(
            "invalid value {d} for --density: expected a density in (0, 1]"
        )));
    }
    if a.threads > 1024 {
        return Err(usage(format!(
            "invalid value {} for --threads: expected 0..=1024",
            a.threads
        )));
    }
    Ok(())
}

/// `set-lstm bench` in one process.
///
/// # Errors
/// Bad values (usage errors) or model construction failures.
pub fn run(args: &BenchArgs) -> Result<()> {
    run_with(args, &set_train::dist::Local)
}

/// `set-lstm bench` on the ranks of `comm`: each training step is a data-parallel step over the
/// global batch (see [`set_train::dist::DataParallel`]) and each inference batch forwards this
/// rank's shard; every timed step ends with a collective, so times are the slowest rank's.
/// Rank 0 prints the line.
///
/// # Errors
/// Bad values (usage errors) or model construction failures.
pub fn run_with(args: &BenchArgs, comm: &dyn set_train::dist::Collective) -> Result<()> {
    validate(args)?;
    let storage = match args.density {
        Some(density) if !args.dense => Storage::Sparse { density },
        _ => Storage::Dense,
    };
    let cfg = ClassifierConfig {
        vocab_size: args.vocab_size,
        embed_dim: args.embed_dim,
        hidden: args.hidden,
        classes: 2,
        embedding: storage,
        lstm_ih: storage,
        lstm_hh: storage,
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.0,
        dropout_output: 0.0,
        activation: ActivationMode::Fast,
        rnn: set_nn::RnnArch {
            cell: args.cell,
            layers: args.layers,
            bidirectional: args.bidirectional,
            dropout_between: 0.0,
            upper_ih: None,
        },
    };
    let mut tc = set_train::TrainerConfig::default().with_batch_size(args.batch_size);
    tc.optimizer = args.optimizer;
    // Every buffer, estimated before anything is allocated (the token batch included).
    set_train::memory::MemoryEstimate::training(&cfg, &tc, args.seq_len).check_available()?;
    let pool = set_nn::runtime::training_pool(args.threads).context("building the thread pool")?;
    let mut rng = stream_rng(args.seed, Stream::Bench, 0);
    let (b, t) = (args.batch_size, args.seq_len);
    let tokens: Vec<u32> = (0..b * t)
        .map(|_| rng.random_range(2..args.vocab_size as u32))
        .collect();
    let lengths = vec![t; b];
    let labels: Vec<usize> = (0..b).map(|_| rng.random_range(0..2)).collect();
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    let result = pool.install(|| -> Result<BenchResult> {
        let mut model = Classifier::<f32>::new(cfg, &mut rng)?;
        let oc = match args.optimizer {
            OptimizerName::Adam => OptimizerConfig::adam_default(1e-3),
            OptimizerName::Sgd => OptimizerConfig::sgd_default(),
        };
        let mut opt = Optimizer::new(oc, model.params());
        let mut train = Vec::with_capacity(args.steps);
        let mut dp = set_train::dist::DataParallel::default();
        for i in 0..args.warmup + args.steps {
            let start = Instant::now();
            dp.train_step(comm, &mut model, &batch, &labels, &mut rng, i as u64)?;
            opt.step(model.params_mut());
            if i >= args.warmup {
                train.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        let train_peak_rss_bytes = crate::sysinfo::peak_rss_bytes();
        let mut infer = Vec::with_capacity(args.steps);
        // Inference reuses one scratch, as a serving loop would (the path of `predict`).
        let mut scratch = set_nn::InferScratch::default();
        let mut shard = set_train::dist::Shard::default();
        let range = set_train::dist::shard_range(b, comm.rank(), comm.size());
        shard.fill(&batch, &labels, range.clone());
        for i in 0..args.warmup + args.steps {
            let start = Instant::now();
            if !range.is_empty() {
                std::hint::black_box(model.infer(&shard.batch_ref(), &mut scratch)?);
            }
            comm.any(false);
            if i >= args.warmup {
                infer.push(start.elapsed().as_secs_f64() * 1e3);
            }
        }
        // Before the floor measurement's buffers exist.
        let peak_rss_bytes = crate::sysinfo::peak_rss_bytes();
        let batch1_ms = batch1_latency(&model, args, &mut rng)?;
        let shape = StepShape {
            e: args.embed_dim,
            h: args.hidden,
            b,
            t,
            // Every layer and direction reads all b * t columns once: their stored values add.
            nnz_ih: model.rnn.iter().map(|l| l.w_ih.value.len()).sum(),
            nnz_hh: model.rnn.iter().map(|l| l.w_hh.value.len()).sum(),
        };
        let machine = Machine::measure(args.embed_dim, args.hidden, b, t, 9);
        let train_floor_ms = machine.floor_ms(shape.training());
        let infer_floor_ms = machine.floor_ms(shape.inference());
        let batch1_floor_ms = machine.floor_ms(
            StepShape {
                b: 1,
                t: args.batch1_tokens,
                ..shape
            }
            .inference(),
        );
        let r = model_report(&model, Some(&opt));
        let gradient_bytes = model.params().iter().map(|p| p.grad.len() * 4).sum();
        let activation_bytes = model.activation_memory_bytes();
        let (tm, im) = (median(train), median(infer));
        let tokens = (b * t) as f64;
        Ok(BenchResult {
            implementation: "set-lstm",
            threads: rayon::current_num_threads(),
            ranks: comm.size(),
            vocab_size: args.vocab_size,
            embed_dim: args.embed_dim,
            hidden: args.hidden,
            batch_size: b,
            seq_len: t,
            density: if args.dense {
                1.0
            } else {
                args.density.unwrap_or(1.0)
            },
            dense: args.dense,
            train_ms_per_step: tm,
            infer_ms_per_batch: im,
            train_tokens_per_s: tokens / (tm / 1e3),
            infer_tokens_per_s: tokens / (im / 1e3),
            params: r.total_params,
            dense_params: r.dense_params,
            peak_rss_bytes,
            train_peak_rss_bytes,
            weight_bytes: r.weight_bytes,
            gradient_bytes,
            optimizer_bytes: r.optimizer_bytes,
            activation_bytes,
            batch1_tokens: args.batch1_tokens,
            batch1_ms,
            floor_gemm_gflops: machine.gemm_flops / 1e9,
            floor_bandwidth_gbs: machine.bandwidth / 1e9,
            train_floor_ms,
            infer_floor_ms,
            batch1_floor_ms,
            train_pct_of_floor: percent_of_floor(train_floor_ms, tm),
            infer_pct_of_floor: percent_of_floor(infer_floor_ms, im),
            batch1_pct_of_floor: percent_of_floor(batch1_floor_ms, batch1_ms),
        })
    })?;
    if comm.is_root() {
        crate::out::say!("{}", serde_json::to_string(&result)?)?;
    }
    Ok(())
}

/// Median compute time (ms) of the forward of one sentence of `--batch1-tokens` random tokens
/// through [`Classifier::infer`], the path `predict` takes, with one reused scratch.
fn batch1_latency(
    model: &Classifier<f32>,
    args: &BenchArgs,
    rng: &mut impl rand::Rng,
) -> Result<f64> {
    let n = args.batch1_tokens;
    let tokens: Vec<u32> = (0..n)
        .map(|_| rng.random_range(2..args.vocab_size as u32))
        .collect();
    let lengths = [n];
    let one = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: n,
    };
    let mut scratch = set_nn::InferScratch::default();
    let mut times = Vec::with_capacity(args.batch1_runs);
    for i in 0..args.warmup.max(3) + args.batch1_runs {
        let start = Instant::now();
        std::hint::black_box(model.infer(&one, &mut scratch)?);
        if i >= args.warmup.max(3) {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(median(times))
}
