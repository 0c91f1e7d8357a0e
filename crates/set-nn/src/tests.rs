//! Proof of correctness: finite-difference gradient checks in f64 on every stored value, padding
//! invariance, thread-count independence, and a PyTorch `nn.LSTM` forward fixture.

use crate::activation::ActivationMode;
use crate::classifier::{BatchRef, Classifier, ClassifierConfig, Pooling, Storage};
use crate::loss::softmax_cross_entropy;
use crate::lstm::OutputGrad;
use ndarray::{Array2, Array3};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) const EPS: f64 = 1e-6;

pub(crate) fn close(analytic: f64, numeric: f64) -> bool {
    (analytic - numeric).abs() <= 1e-5 + 1e-3 * numeric.abs()
}

pub(crate) fn config(
    storage: Storage,
    output: Storage,
    pooling: Pooling,
    dropout: f64,
) -> ClassifierConfig {
    ClassifierConfig {
        vocab_size: 9,
        embed_dim: 4,
        hidden: 3,
        classes: 3,
        embedding: storage,
        lstm_ih: storage,
        lstm_hh: storage,
        output,
        pooling,
        dropout_embed: dropout,
        dropout_output: dropout,
        activation: ActivationMode::Exact,
        rnn: Default::default(),
    }
}

/// Variable lengths and padding: time-major tokens for 3 sequences of lengths 4, 2, 1 (T = 5).
pub(crate) fn small_batch() -> (Vec<u32>, Vec<usize>, usize, Vec<usize>) {
    let seqs: [&[u32]; 3] = [&[3, 5, 1, 8], &[2, 7], &[4]];
    let t = 5;
    let mut tokens = vec![0u32; t * 3];
    for (b, s) in seqs.iter().enumerate() {
        for (i, &id) in s.iter().enumerate() {
            tokens[i * 3 + b] = id;
        }
    }
    (
        tokens,
        seqs.iter().map(|s| s.len()).collect(),
        t,
        vec![2, 0, 1],
    )
}

/// Loss of the classifier with dropout masks drawn from a fixed seed (the same masks each call).
pub(crate) fn loss(
    model: &Classifier<f64>,
    batch: &BatchRef<'_>,
    labels: &[usize],
    seed: u64,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cache = model.forward(batch, Some(&mut rng)).unwrap();
    softmax_cross_entropy(cache.logits.view(), labels).0
}

pub(crate) fn check_classifier(cfg: ClassifierConfig, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut model = Classifier::<f64>::new(cfg, &mut rng).unwrap();
    // Perturb biases and the padding row away from trivial values.
    let (tokens, lengths, t, labels) = small_batch();
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    let mut r = ChaCha8Rng::seed_from_u64(99);
    model.train_step(&batch, &labels, &mut r, 0).unwrap();
    let grads: Vec<Vec<f64>> = model.params().iter().map(|p| p.grad.clone()).collect();
    let mut checked = 0;
    for (pi, grad) in grads.iter().enumerate() {
        for (k, &analytic) in grad.iter().enumerate() {
            let orig = model.params()[pi].values()[k];
            model.params_mut()[pi].values_mut()[k] = orig + EPS;
            let lp = loss(&model, &batch, &labels, 99);
            model.params_mut()[pi].values_mut()[k] = orig - EPS;
            let lm = loss(&model, &batch, &labels, 99);
            model.params_mut()[pi].values_mut()[k] = orig;
            let numeric = (lp - lm) / (2.0 * EPS);
            let name = &model.params()[pi].name;
            assert!(
                close(analytic, numeric),
                "{name}[{k}]: analytic {analytic} vs numeric {numeric}"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "checked only {checked} values");
}

#[test]
fn gradcheck_sparse_classifier_last_pooling_with_dropout() {
    check_classifier(
        config(
            Storage::Sparse { density: 0.6 },
            Storage::Sparse { density: 0.7 },
            Pooling::Last,
            0.3,
        ),
        1,
    );
}

#[test]
fn gradcheck_sparse_classifier_mean_pooling() {
    check_classifier(
        config(
            Storage::Sparse { density: 0.5 },
            Storage::Dense,
            Pooling::Mean,
            0.0,
        ),
        2,
    );
}

#[test]
fn gradcheck_dense_classifier() {
    check_classifier(
        config(Storage::Dense, Storage::Dense, Pooling::Last, 0.2),
        3,
    );
}

/// The LSTM alone: loss = sum(R .* outputs) + sum(S .* final state), gradients of all four
/// parameters and of the input.
#[test]
fn gradcheck_lstm_alone_including_input_gradient() {
    let cfg = config(
        Storage::Sparse { density: 0.5 },
        Storage::Dense,
        Pooling::Last,
        0.0,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let model = Classifier::<f64>::new(cfg, &mut rng).unwrap();
    let mut lstm = model.rnn[0].clone();
    let (e, h, b, t) = (4, 3, 3, 5);
    let lengths = [5, 3, 1];
    let x = Array3::from_shape_fn((t, e, b), |_| rng.random_range(-1.0..1.0));
    let r = Array3::from_shape_fn((t, h, b), |_| rng.random_range(-1.0..1.0));
    let objective = |l: &crate::lstm::Lstm<f64>, x: &Array3<f64>| -> f64 {
        let c = l.forward(x.clone(), &lengths, t);
        (&c.outputs() * &r).sum()
    };
    let mut cache = lstm.forward(x.clone(), &lengths, t);
    lstm.params_mut().into_iter().for_each(|p| p.zero_grad());
    let dx = lstm.backward(&mut cache, OutputGrad::All(r.view()));
    for pi in 0..4 {
        let g = lstm.params()[pi].grad.clone();
        for (k, &gk) in g.iter().enumerate() {
            let mut l2 = lstm.clone();
            let orig = l2.params()[pi].values()[k];
            l2.params_mut()[pi].values_mut()[k] = orig + EPS;
            let lp = objective(&l2, &x);
            l2.params_mut()[pi].values_mut()[k] = orig - EPS;
            let lm = objective(&l2, &x);
            let numeric = (lp - lm) / (2.0 * EPS);
            assert!(
                close(gk, numeric),
                "{}[{k}]: {gk} vs {numeric}",
                lstm.params()[pi].name
            );
        }
    }
    for ((ti, i, bi), &analytic) in dx.indexed_iter() {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[[ti, i, bi]] += EPS;
        xm[[ti, i, bi]] -= EPS;
        let numeric = (objective(&lstm, &xp) - objective(&lstm, &xm)) / (2.0 * EPS);
        assert!(
            close(analytic, numeric),
            "dx[{ti},{i},{bi}]: {analytic} vs {numeric}"
        );
    }
    // Inputs past a sequence's length have no influence at all.
    assert!(dx.slice(ndarray::s![2, .., 2]).iter().all(|&v| v == 0.0));
}

/// A directional derivative check at a realistic size (H = 32, T = 20) over all parameters.
#[test]
fn directional_gradcheck_at_realistic_size() {
    let cfg = ClassifierConfig {
        vocab_size: 100,
        embed_dim: 24,
        hidden: 32,
        classes: 2,
        embedding: Storage::Sparse { density: 0.2 },
        lstm_ih: Storage::Sparse { density: 0.15 },
        lstm_hh: Storage::Sparse { density: 0.15 },
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.1,
        dropout_output: 0.1,
        activation: ActivationMode::Exact,
        rnn: Default::default(),
    };
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut model = Classifier::<f64>::new(cfg, &mut rng).unwrap();
    let (t, b) = (20, 6);
    let lengths: Vec<usize> = vec![20, 17, 9, 20, 3, 12];
    let mut tokens = vec![0u32; t * b];
    for (bi, &len) in lengths.iter().enumerate() {
        for ti in 0..len {
            tokens[ti * b + bi] = rng.random_range(1..100);
        }
    }
    let labels = vec![0, 1, 1, 0, 1, 0];
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    model
        .train_step(&batch, &labels, &mut ChaCha8Rng::seed_from_u64(7), 0)
        .unwrap();
    let dirs: Vec<Vec<f64>> = model
        .params()
        .iter()
        .map(|p| {
            (0..p.values().len())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect()
        })
        .collect();
    let analytic: f64 = model
        .params()
        .iter()
        .zip(&dirs)
        .map(|(p, d)| p.grad.iter().zip(d).map(|(g, u)| g * u).sum::<f64>())
        .sum();
    let shifted = |m: &Classifier<f64>, s: f64| {
        let mut m2 = m.clone();
        for (p, d) in m2.params_mut().into_iter().zip(&dirs) {
            p.values_mut()
                .iter_mut()
                .zip(d)
                .for_each(|(w, u)| *w += s * u);
        }
        loss(&m2, &batch, &labels, 7)
    };
    let numeric = (shifted(&model, EPS) - shifted(&model, -EPS)) / (2.0 * EPS);
    assert!(
        close(analytic, numeric),
        "directional: {analytic} vs {numeric}"
    );
}

fn f32_model(h: usize, seed: u64) -> (Classifier<f32>, Vec<u32>, Vec<usize>, usize, Vec<usize>) {
    f32_model_arch(h, seed, Default::default())
}

/// A random f32 model of width `h` with the recurrent architecture `rnn`, and a batch.
pub(crate) fn f32_model_arch(
    h: usize,
    seed: u64,
    rnn: crate::RnnArch,
) -> (Classifier<f32>, Vec<u32>, Vec<usize>, usize, Vec<usize>) {
    let cfg = ClassifierConfig {
        vocab_size: 500,
        embed_dim: h,
        hidden: h,
        classes: 2,
        embedding: Storage::Sparse { density: 0.1 },
        lstm_ih: Storage::Sparse { density: 0.1 },
        lstm_hh: Storage::Sparse { density: 0.1 },
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.2,
        dropout_output: 0.3,
        activation: ActivationMode::Fast,
        rnn,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let model = Classifier::<f32>::new(cfg, &mut rng).unwrap();
    let (t, b) = (30, 32);
    let lengths: Vec<usize> = (0..b).map(|_| rng.random_range(1..=t)).collect();
    let mut tokens = vec![0u32; t * b];
    for (bi, &len) in lengths.iter().enumerate() {
        for ti in 0..len {
            tokens[ti * b + bi] = rng.random_range(1..500);
        }
    }
    let labels = (0..b).map(|i| i % 2).collect();
    (model, tokens, lengths, t, labels)
}

#[test]
fn appending_padding_leaves_loss_and_gradients_bitwise_unchanged() {
    let (mut model, tokens, lengths, t, labels) = f32_model(16, 8);
    let b = lengths.len();
    let run = |m: &mut Classifier<f32>, tokens: &[u32], seq_len: usize| {
        let batch = BatchRef {
            tokens,
            lengths: &lengths,
            seq_len,
        };
        let s = m
            .train_step(&batch, &labels, &mut ChaCha8Rng::seed_from_u64(1), 0)
            .unwrap();
        (
            s.loss.to_bits(),
            m.params()
                .iter()
                .map(|p| p.grad.iter().map(|g| g.to_bits()).collect::<Vec<_>>())
                .collect::<Vec<_>>(),
        )
    };
    let base = run(&mut model, &tokens, t);
    let mut padded = tokens.clone();
    padded.extend(std::iter::repeat_n(0, 7 * b));
    assert_eq!(run(&mut model, &padded, t + 7), base);
}

/// A sequence's result does not depend on steps past its length, nor on what else is in the
/// batch: its logits and gradient contribution match those of the sequence alone.
#[test]
fn steps_past_a_sequence_length_do_not_change_it() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut model = Classifier::<f64>::new(
        config(
            Storage::Sparse { density: 0.6 },
            Storage::Dense,
            Pooling::Last,
            0.0,
        ),
        &mut rng,
    )
    .unwrap();
    let alone = BatchRef {
        tokens: &[3, 5],
        lengths: &[2],
        seq_len: 2,
    };
    // Same sequence next to a longer one, whose gradient is masked out of the loss.
    let together_tokens = [3, 1, 5, 2, 0, 7, 0, 8];
    let together = BatchRef {
        tokens: &together_tokens,
        lengths: &[2, 4],
        seq_len: 4,
    };
    let mut ca = model.forward::<ChaCha8Rng>(&alone, None).unwrap();
    let mut ct = model.forward::<ChaCha8Rng>(&together, None).unwrap();
    for k in 0..3 {
        assert!((ca.logits[[k, 0]] - ct.logits[[k, 0]]).abs() < 1e-12);
    }
    let (_, da, _) = softmax_cross_entropy(ca.logits.view(), &[1]);
    model.zero_grad();
    model.backward(&mut ca, da.view());
    let ga: Vec<Vec<f64>> = model.params().iter().map(|p| p.grad.clone()).collect();
    let mut dt = Array2::zeros((3, 2));
    dt.column_mut(0).assign(&da.column(0));
    model.zero_grad();
    model.backward(&mut ct, dt.view());
    for (p, g) in model.params().iter().zip(&ga) {
        for (a, b) in p.grad.iter().zip(g) {
            assert!((a - b).abs() < 1e-12, "{}: {a} vs {b}", p.name);
        }
    }
}

#[test]
fn same_seed_gives_bit_identical_results_on_1_2_and_4_threads() {
    let run = |threads: usize| {
        let pool = set_sparse::denormal::build_thread_pool(threads, true).unwrap();
        pool.install(|| {
            let (mut model, tokens, lengths, t, labels) = f32_model(128, 9);
            let batch = BatchRef {
                tokens: &tokens,
                lengths: &lengths,
                seq_len: t,
            };
            let s = model
                .train_step(&batch, &labels, &mut ChaCha8Rng::seed_from_u64(2), 0)
                .unwrap();
            let logits = model.logits(&batch).unwrap();
            (
                s.loss.to_bits(),
                logits.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                model
                    .params()
                    .iter()
                    .flat_map(|p| p.grad.iter().map(|g| g.to_bits()))
                    .collect::<Vec<_>>(),
            )
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(4), one);
}

#[test]
fn invalid_config_and_batches_are_typed_errors() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut cfg = config(
        Storage::Sparse { density: 1.5 },
        Storage::Dense,
        Pooling::Last,
        0.0,
    );
    assert!(matches!(
        Classifier::<f32>::new(cfg.clone(), &mut rng),
        Err(crate::NnError::Config {
            field: "embedding",
            ..
        })
    ));
    (cfg.embedding, cfg.lstm_ih, cfg.lstm_hh) = (Storage::Dense, Storage::Dense, Storage::Dense);
    cfg.dropout_output = 1.0;
    assert!(matches!(
        Classifier::<f32>::new(cfg.clone(), &mut rng),
        Err(crate::NnError::Config {
            field: "dropout_output",
            ..
        })
    ));
    cfg.dropout_output = 0.0;
    let mut model = Classifier::<f32>::new(cfg, &mut rng).unwrap();
    let bad_id = BatchRef {
        tokens: &[42],
        lengths: &[1],
        seq_len: 1,
    };
    assert!(matches!(
        model.train_step(&bad_id, &[0], &mut rng, 0),
        Err(crate::NnError::Batch(_))
    ));
    let bad_len = BatchRef {
        tokens: &[1, 2],
        lengths: &[3],
        seq_len: 2,
    };
    assert!(matches!(
        model.train_step(&bad_len, &[0], &mut rng, 0),
        Err(crate::NnError::Batch(_))
    ));
    let ok = BatchRef {
        tokens: &[1],
        lengths: &[1],
        seq_len: 1,
    };
    assert!(matches!(
        model.train_step(&ok, &[7], &mut rng, 0),
        Err(crate::NnError::Batch(_))
    ));
    let params = model.params().into_iter().cloned().rev().collect();
    assert!(matches!(
        Classifier::<f32>::from_params(model.config.clone(), params),
        Err(crate::NnError::Shape { .. })
    ));
}

#[test]
fn long_sequences_and_saturated_gates_stay_finite() {
    let (mut model, _, _, _, _) = f32_model(16, 10);
    // Huge weights saturate every gate.
    for p in model.params_mut() {
        p.values_mut().iter_mut().for_each(|v| *v *= 1e3);
    }
    let t = 1000;
    let tokens: Vec<u32> = (0..t as u32).map(|i| 1 + i % 400).collect();
    let batch = BatchRef {
        tokens: &tokens,
        lengths: &[t],
        seq_len: t,
    };
    let s = model
        .train_step(&batch, &[1], &mut ChaCha8Rng::seed_from_u64(0), 0)
        .unwrap();
    assert!(s.loss.is_finite());
    model.check_finite_grads(0).unwrap();
}

/// Forward values from PyTorch's `nn.LSTM` (see `fixtures/make_lstm_fixture.py`): weights
/// densified from a sparse pattern, a padded batch with lengths, outputs at each length.
#[test]
fn matches_pytorch_lstm_forward_fixture() {
    #[derive(serde::Deserialize)]
    struct Fixture {
        e: usize,
        h: usize,
        t: usize,
        b: usize,
        w_ih: Vec<Vec<f64>>,
        w_hh: Vec<Vec<f64>>,
        b_ih: Vec<f64>,
        b_hh: Vec<f64>,
        /// `x[t][b][e]`.
        x: Vec<Vec<Vec<f64>>>,
        lengths: Vec<usize>,
        /// `out[t][b][h]`, zero past each length (pack_padded_sequence semantics).
        out: Vec<Vec<Vec<f64>>>,
        /// Final hidden state at each length, `h_n[b][h]`.
        h_n: Vec<Vec<f64>>,
    }
    let f: Fixture = serde_json::from_str(include_str!("../fixtures/lstm_forward.json")).unwrap();
    let to_sparse = |w: &Vec<Vec<f64>>| {
        let a = Array2::from_shape_fn((w.len(), w[0].len()), |(i, j)| w[i][j] as f32);
        set_sparse::SparseMatrix::from_dense(a.view()).unwrap()
    };
    let w_ih = to_sparse(&f.w_ih);
    let w_hh = to_sparse(&f.w_hh);
    assert!(
        w_ih.density() < 0.6 && w_hh.density() < 0.6,
        "fixture weights are sparse"
    );
    let [a, b, c, d] = crate::lstm::lstm_params(
        crate::ParamValue::Sparse(w_ih),
        crate::ParamValue::Sparse(w_hh),
        f.b_ih.iter().map(|&v| v as f32).collect(),
        f.b_hh.iter().map(|&v| v as f32).collect(),
    );
    for mode in [ActivationMode::Fast, ActivationMode::Exact] {
        let lstm = crate::lstm::Lstm::from_params(a.clone(), b.clone(), c.clone(), d.clone(), mode);
        let x = Array3::from_shape_fn((f.t, f.e, f.b), |(t, i, b)| f.x[t][b][i] as f32);
        let cache = lstm.forward(x, &f.lengths, f.t);
        let outs = cache.outputs();
        for t in 0..f.t {
            for bi in 0..f.b {
                if t >= f.lengths[bi] {
                    continue;
                }
                for k in 0..f.h {
                    let (ours, theirs) = (outs[[t, k, bi]] as f64, f.out[t][bi][k]);
                    assert!(
                        (ours - theirs).abs() < 1e-5,
                        "{mode:?} out[{t}][{bi}][{k}]: {ours} vs {theirs}"
                    );
                }
            }
        }
        for bi in 0..f.b {
            for k in 0..f.h {
                assert!((cache.final_hidden()[[k, bi]] as f64 - f.h_n[bi][k]).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn one_parameter_table_for_construction_loading_and_lookup() {
    let cfg = config(
        Storage::Sparse { density: 0.5 },
        Storage::Sparse { density: 0.5 },
        Pooling::Last,
        0.0,
    );
    let specs = cfg.param_specs().unwrap();
    let model = Classifier::<f32>::new(cfg.clone(), &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    // The model's order, names, shapes and storage are the table's.
    assert_eq!(model.params().len(), specs.len());
    for ((name, p), spec) in model.named_params().into_iter().zip(&specs) {
        assert_eq!(name, spec.name);
        assert_eq!(p.value.shape(), spec.shape, "{name}");
        assert_eq!(
            p.value.as_sparse().is_some(),
            spec.storage.is_some(),
            "{name}"
        );
        assert_eq!(p.value.dense_len(), spec.dense_len(), "{name}");
        assert!(std::ptr::eq(model.param(name).unwrap(), p));
    }
    let groups: Vec<usize> = specs.iter().map(|s| s.row_groups).collect();
    assert_eq!(groups, [1, 4, 4, 1, 1, 1, 1]);

    // Loading checks every name and shape against the table.
    let params: Vec<_> = model.params().into_iter().cloned().collect();
    let back = Classifier::<f32>::from_params(cfg.clone(), params.clone()).unwrap();
    assert_eq!(
        back.param("fc.weight").unwrap().values(),
        model.param("fc.weight").unwrap().values()
    );
    let mut renamed = params.clone();
    renamed[5].name = "fc.weights".into();
    assert!(matches!(
        Classifier::<f32>::from_params(cfg.clone(), renamed),
        Err(crate::NnError::Shape { ref name, .. }) if name.contains("expected fc.weight")
    ));

    // Sizes that overflow are typed errors, not panics or wrap-arounds.
    let wide = ClassifierConfig {
        vocab_size: usize::MAX / 2,
        embed_dim: 3,
        ..cfg.clone()
    };
    assert!(matches!(
        wide.param_specs(),
        Err(crate::NnError::TooLarge { ref name, .. }) if name == "embedding.weight"
    ));
    let tall = ClassifierConfig {
        hidden: usize::MAX / 3,
        ..cfg
    };
    assert!(matches!(
        tall.param_specs(),
        Err(crate::NnError::Config {
            field: "hidden",
            ..
        })
    ));
    assert!(Classifier::<f32>::new(tall, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
}
