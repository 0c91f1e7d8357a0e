//! Stacked, bidirectional and GRU models: f64 finite-difference gradient checks on every stored
//! value of every parameter (with padding, variable lengths and every dropout), padding
//! invariance and thread-count bit identity.

use crate::classifier::{BatchRef, Classifier, Pooling, Storage};
use crate::tests::{check_classifier, config, f32_model_arch};
use crate::{CellKind, RnnArch};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn arch(cell: CellKind, layers: usize, bidirectional: bool, dropout_between: f64) -> RnnArch {
    RnnArch {
        cell,
        layers,
        bidirectional,
        dropout_between,
        upper_ih: Some(Storage::Sparse { density: 0.7 }),
    }
}

fn gradcheck(cell: CellKind, layers: usize, bidirectional: bool, pooling: Pooling, seed: u64) {
    let mut cfg = config(
        Storage::Sparse { density: 0.6 },
        Storage::Sparse { density: 0.7 },
        pooling,
        0.3,
    );
    cfg.rnn = arch(cell, layers, bidirectional, 0.3);
    check_classifier(cfg, seed);
}

#[test]
fn gradcheck_gru_one_layer() {
    gradcheck(CellKind::Gru, 1, false, Pooling::Last, 11);
    gradcheck(CellKind::Gru, 1, false, Pooling::Mean, 12);
}

#[test]
fn gradcheck_lstm_two_layers_bidirectional() {
    gradcheck(CellKind::Lstm, 2, true, Pooling::Last, 13);
    gradcheck(CellKind::Lstm, 2, true, Pooling::Mean, 14);
}

#[test]
fn gradcheck_gru_two_layers_bidirectional() {
    gradcheck(CellKind::Gru, 2, true, Pooling::Last, 15);
    gradcheck(CellKind::Gru, 2, true, Pooling::Mean, 16);
}

#[test]
fn gradcheck_dense_three_layers_unidirectional_and_one_bidirectional() {
    let mut cfg = config(Storage::Dense, Storage::Dense, Pooling::Mean, 0.2);
    cfg.rnn = RnnArch {
        layers: 3,
        dropout_between: 0.2,
        ..RnnArch::default()
    };
    check_classifier(cfg.clone(), 17);
    cfg.rnn = RnnArch {
        cell: CellKind::Gru,
        bidirectional: true,
        ..RnnArch::default()
    };
    check_classifier(cfg, 18);
}

fn grads_bits(model: &Classifier<f32>) -> Vec<u32> {
    model
        .params()
        .iter()
        .flat_map(|p| p.grad.iter().map(|g| g.to_bits()))
        .collect()
}

#[test]
fn two_layer_bidirectional_is_bit_identical_on_1_2_and_4_threads() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        let run = |threads: usize| {
            let pool = set_sparse::denormal::build_thread_pool(threads, true).unwrap();
            pool.install(|| {
                let (mut model, tokens, lengths, t, labels) =
                    f32_model_arch(96, 9, arch(cell, 2, true, 0.25));
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
                    grads_bits(&model),
                )
            })
        };
        let one = run(1);
        assert!(one.2.iter().any(|&g| g != 0), "{cell}: gradients flow");
        assert_eq!(run(2), one, "{cell}: 2 threads");
        assert_eq!(run(4), one, "{cell}: 4 threads");
    }
}

#[test]
fn appending_padding_leaves_a_bidirectional_stack_bitwise_unchanged() {
    for cell in [CellKind::Lstm, CellKind::Gru] {
        let (mut model, tokens, lengths, t, labels) =
            f32_model_arch(16, 8, arch(cell, 2, true, 0.2));
        let b = lengths.len();
        let mut run = |tokens: &[u32], seq_len: usize| {
            let batch = BatchRef {
                tokens,
                lengths: &lengths,
                seq_len,
            };
            let s = model
                .train_step(&batch, &labels, &mut ChaCha8Rng::seed_from_u64(1), 0)
                .unwrap();
            (s.loss.to_bits(), grads_bits(&model))
        };
        let base = run(&tokens, t);
        let mut padded = tokens.clone();
        padded.extend(std::iter::repeat_n(0, 7 * b));
        assert_eq!(run(&padded, t + 7), base, "{cell}");
    }
}

/// The reverse direction reads each sequence's real tokens backwards: a one-layer bidirectional
/// model's reverse cell, alone, gives on a sequence the state its forward twin gives on the
/// reversed sequence.
#[test]
fn the_reverse_direction_reads_real_tokens_backwards() {
    let mut cfg = config(Storage::Dense, Storage::Dense, Pooling::Last, 0.0);
    cfg.rnn = RnnArch {
        cell: CellKind::Gru,
        bidirectional: true,
        ..RnnArch::default()
    };
    let mut model = Classifier::<f64>::new(cfg, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    // Make the forward cell a copy of the reverse one.
    let reverse = model.rnn[1].clone();
    for (f, r) in model.rnn[0].params_mut().into_iter().zip(reverse.params()) {
        f.values_mut().copy_from_slice(r.values());
    }
    // Sequences [3, 5, 1] and [5, 3, 3, 8] padded to 5 steps, and their reversals.
    let fwd = [3, 5, 5, 3, 1, 3, 0, 8, 0, 0];
    let bwd = [1, 8, 5, 3, 3, 3, 0, 5, 0, 0];
    let lengths = [3, 4];
    let pooled = |tokens: &[u32]| {
        let batch = BatchRef {
            tokens,
            lengths: &lengths,
            seq_len: 5,
        };
        model.forward::<ChaCha8Rng>(&batch, None).unwrap().pooled
    };
    let (a, b) = (pooled(&fwd), pooled(&bwd));
    let h = 3;
    for r in 0..h {
        for c in 0..2 {
            assert!((a[[h + r, c]] - b[[r, c]]).abs() < 1e-12, "row {r} col {c}");
            assert!((a[[r, c]] - b[[h + r, c]]).abs() < 1e-12, "row {r} col {c}");
        }
    }
}

/// PyTorch 2.15's `nn.LSTM` and `nn.GRU` with `num_layers=2, bidirectional=True` on packed
/// sequences of different lengths (fixtures/make_stacked_fixture.py): every top-layer output at
/// each real position and every layer's and direction's final state match to 1e-5, for sparse
/// weights loaded from PyTorch's state dict by name.
#[test]
fn matches_pytorch_stacked_bidirectional_fixture() {
    #[derive(serde::Deserialize)]
    struct Module {
        params: std::collections::HashMap<String, serde_json::Value>,
        /// `x[t][b][e]`.
        x: Vec<Vec<Vec<f64>>>,
        /// `out[t][b][2h]`.
        out: Vec<Vec<Vec<f64>>>,
        /// `h_n[layer * 2 + direction][b][h]`.
        h_n: Vec<Vec<Vec<f64>>>,
    }
    #[derive(serde::Deserialize)]
    struct Fixture {
        e: usize,
        h: usize,
        t: usize,
        b: usize,
        layers: usize,
        lengths: Vec<usize>,
        lstm: Module,
        gru: Module,
    }
    let f: Fixture =
        serde_json::from_str(include_str!("../fixtures/stacked_forward.json")).unwrap();
    for (cell, m) in [(CellKind::Lstm, &f.lstm), (CellKind::Gru, &f.gru)] {
        let mut cfg = config(Storage::Dense, Storage::Dense, Pooling::Last, 0.0);
        (cfg.embed_dim, cfg.hidden) = (f.e, f.h);
        cfg.rnn = RnnArch {
            cell,
            layers: f.layers,
            bidirectional: true,
            ..RnnArch::default()
        };
        let mut model = Classifier::<f32>::new(cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        let mut sparse = 0;
        for p in model.rnn.iter_mut().flat_map(|c| c.params_mut()) {
            let v = &m.params[p.name.split_once('.').unwrap().1];
            p.value = if let Some(rows) = v[0].as_array() {
                let a = ndarray::Array2::from_shape_fn(
                    (v.as_array().unwrap().len(), rows.len()),
                    |(i, j)| v[i][j].as_f64().unwrap() as f32,
                );
                let s = set_sparse::SparseMatrix::from_dense(a.view()).unwrap();
                sparse += usize::from(s.density() < 0.6);
                crate::ParamValue::Sparse(s)
            } else {
                crate::ParamValue::Vector(
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect(),
                )
            };
            p.zero_grad();
        }
        assert_eq!(
            sparse,
            4 * f.layers,
            "{cell}: every weight matrix is sparse"
        );
        let x = ndarray::Array3::from_shape_fn((f.t, f.e, f.b), |(t, i, b)| m.x[t][b][i] as f32);
        let mut caches = Vec::new();
        crate::stack::forward::<f32, ChaCha8Rng>(
            &model.rnn,
            2,
            0.0,
            x,
            &f.lengths,
            f.t,
            None,
            &mut caches,
            &mut Vec::new(),
        );
        let (fwd, rev) = (caches[2].outputs(), caches[3].outputs());
        for (bi, &len) in f.lengths.iter().enumerate() {
            for t in 0..len {
                for k in 0..f.h {
                    let ours = [fwd[[t, k, bi]], rev[[len - 1 - t, k, bi]]];
                    for (d, o) in ours.iter().enumerate() {
                        let theirs = m.out[t][bi][d * f.h + k];
                        assert!(
                            (*o as f64 - theirs).abs() < 1e-5,
                            "{cell} out[{t}][{bi}][{}]: {o} vs {theirs}",
                            d * f.h + k
                        );
                    }
                }
            }
        }
        for (i, cache) in caches.iter().enumerate() {
            for bi in 0..f.b {
                for k in 0..f.h {
                    let (ours, theirs) = (cache.final_hidden()[[k, bi]] as f64, m.h_n[i][bi][k]);
                    assert!((ours - theirs).abs() < 1e-5, "{cell} h_n[{i}][{bi}][{k}]");
                }
            }
        }
    }
}
