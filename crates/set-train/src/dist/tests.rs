//! The data-parallel step against the one-process step, with ranks simulated by threads.

use super::*;
use crate::analytics::model_hash64;
use rand::{RngExt, SeedableRng};
use set_nn::{ActivationMode, ClassifierConfig, Pooling, Storage};
use std::sync::{Barrier, Mutex};

/// Ranks as threads of one process: each collective is a barrier-separated exchange through
/// shared buffers.
struct Sim {
    rank: usize,
    size: usize,
    shared: Arc<SimShared>,
}

struct SimShared {
    barrier: Barrier,
    sums: Mutex<Vec<f64>>,
    bytes: Mutex<Vec<u8>>,
    gathered: Mutex<Vec<u64>>,
}

impl Sim {
    fn world(size: usize) -> Vec<Sim> {
        let shared = Arc::new(SimShared {
            barrier: Barrier::new(size),
            sums: Mutex::new(Vec::new()),
            bytes: Mutex::new(Vec::new()),
            gathered: Mutex::new(vec![0; size]),
        });
        (0..size)
            .map(|rank| Sim {
                rank,
                size,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    fn sum(&self, values: &[f64]) -> Vec<f64> {
        self.shared.barrier.wait();
        if self.rank == 0 {
            let mut s = self.shared.sums.lock().unwrap();
            s.clear();
            s.resize(values.len(), 0.0);
        }
        self.shared.barrier.wait();
        {
            let mut s = self.shared.sums.lock().unwrap();
            for (a, b) in s.iter_mut().zip(values) {
                *a += b;
            }
        }
        self.shared.barrier.wait();
        self.shared.sums.lock().unwrap().clone()
    }
}

impl Collective for Sim {
    fn rank(&self) -> usize {
        self.rank
    }
    fn size(&self) -> usize {
        self.size
    }
    fn broadcast_bytes(&self, bytes: &mut Vec<u8>) {
        self.shared.barrier.wait();
        if self.rank == 0 {
            *self.shared.bytes.lock().unwrap() = bytes.clone();
        }
        self.shared.barrier.wait();
        *bytes = self.shared.bytes.lock().unwrap().clone();
    }
    fn sum_f32(&self, send: &[f32], recv: &mut [f32]) {
        let wide: Vec<f64> = send.iter().map(|&x| f64::from(x)).collect();
        for (r, s) in recv.iter_mut().zip(self.sum(&wide)) {
            *r = s as f32;
        }
    }
    fn sum_f64(&self, values: &mut [f64]) {
        let s = self.sum(values);
        values.copy_from_slice(&s);
    }
    fn all_gather_u64(&self, value: u64) -> Vec<u64> {
        self.shared.barrier.wait();
        self.shared.gathered.lock().unwrap()[self.rank] = value;
        self.shared.barrier.wait();
        self.shared.gathered.lock().unwrap().clone()
    }
    fn abort(&self, code: i32) -> ! {
        panic!("abort({code})")
    }
}

fn model(seed: u64) -> Classifier<f32> {
    let sparse = Storage::Sparse { density: 0.3 };
    let cfg = ClassifierConfig {
        vocab_size: 40,
        embed_dim: 6,
        hidden: 7,
        classes: 3,
        embedding: sparse,
        lstm_ih: sparse,
        lstm_hh: sparse,
        output: Storage::Dense,
        pooling: Pooling::Last,
        dropout_embed: 0.0,
        dropout_output: 0.0,
        activation: ActivationMode::Exact,
        rnn: Default::default(),
    };
    Classifier::new(cfg, &mut rand_chacha::ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

/// A time-major batch of `b` sequences of varied lengths.
fn batch(b: usize, seed: u64) -> (Vec<u32>, Vec<usize>, Vec<usize>, usize) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let lengths: Vec<usize> = (0..b).map(|_| rng.random_range(1..=9)).collect();
    let t = *lengths.iter().max().unwrap();
    let mut tokens = vec![0u32; t * b];
    for (j, &l) in lengths.iter().enumerate() {
        for step in 0..l {
            tokens[step * b + j] = rng.random_range(2..40);
        }
    }
    let labels = (0..b).map(|_| rng.random_range(0..3)).collect();
    (tokens, lengths, labels, t)
}

fn grads(m: &Classifier<f32>) -> Vec<f32> {
    m.params().iter().flat_map(|p| p.grad.clone()).collect()
}

/// Runs one data-parallel step on `ranks` simulated ranks; returns each rank's gradients and
/// statistics.
fn parallel_step(ranks: usize, b: usize) -> Vec<(Vec<f32>, StepStats)> {
    let (tokens, lengths, labels, t) = batch(b, 5);
    std::thread::scope(|s| {
        let handles: Vec<_> = Sim::world(ranks)
            .into_iter()
            .map(|comm| {
                let (tokens, lengths, labels) = (&tokens, &lengths, &labels);
                s.spawn(move || {
                    let mut m = model(1);
                    let mut dp = DataParallel::default();
                    let br = BatchRef {
                        tokens,
                        lengths,
                        seq_len: t,
                    };
                    let mut rng = dropout_rng(1, 0, &comm);
                    let stats = dp
                        .train_step(&comm, &mut m, &br, labels, &mut rng, 1)
                        .unwrap();
                    (grads(&m), stats)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn two_and_three_ranks_give_the_whole_batch_gradient() {
    let (tokens, lengths, labels, t) = batch(11, 5);
    let mut single = model(1);
    let br = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    let want = single
        .train_step(&br, &labels, &mut dropout_rng(1, 0, &Local), 1)
        .unwrap();
    let want_grads = grads(&single);
    let scale = want_grads.iter().fold(0f32, |a, g| a.max(g.abs()));
    assert!(scale > 0.0);
    for ranks in [2, 3] {
        let results = parallel_step(ranks, 11);
        for (rank, (g, stats)) in results.iter().enumerate() {
            assert_eq!(
                g, &results[0].0,
                "rank {rank} of {ranks} differs from rank 0"
            );
            assert_eq!(stats.batch, 11);
            assert_eq!(stats.correct, want.correct);
            assert!(
                (stats.loss - want.loss).abs() < 1e-6,
                "{} vs {}",
                stats.loss,
                want.loss
            );
            let worst = g
                .iter()
                .zip(&want_grads)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-6 * scale.max(1.0),
                "{ranks} ranks: max diff {worst}"
            );
        }
    }
}

#[test]
fn a_rank_with_no_examples_contributes_nothing() {
    // 1 sequence over 2 ranks: rank 1's shard is empty.
    let results = parallel_step(2, 1);
    assert_eq!(results[0].0, results[1].0);
    assert_eq!(results[0].1.batch, 1);
    assert!(results[0].0.iter().any(|&g| g != 0.0));
}

#[test]
fn shards_cover_the_batch_in_order() {
    for size in 1..6 {
        for b in 0..20 {
            let mut next = 0;
            for rank in 0..size {
                let r = shard_range(b, rank, size);
                assert_eq!(r.start, next);
                assert!(r.len() == b / size || r.len() == b / size + 1);
                next = r.end;
            }
            assert_eq!(next, b);
        }
    }
}

#[test]
fn a_shard_is_the_batch_columns_cut_to_their_longest_sequence() {
    let (tokens, lengths, labels, t) = batch(7, 9);
    let br = BatchRef {
        tokens: &tokens,
        lengths: &lengths,
        seq_len: t,
    };
    let mut s = Shard::default();
    s.fill(&br, &labels, 2..5);
    assert_eq!(s.lengths, lengths[2..5]);
    assert_eq!(s.labels, labels[2..5]);
    assert_eq!(s.seq_len, *lengths[2..5].iter().max().unwrap());
    for step in 0..s.seq_len {
        for j in 0..3 {
            assert_eq!(s.tokens[step * 3 + j], tokens[step * 7 + 2 + j]);
        }
    }
}

#[test]
fn hash_check_passes_for_equal_models_and_names_ranks_that_differ() {
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = Sim::world(2)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let same = check_in_sync(&comm, &model(3), "at start").map(|_| ());
                    let seed = if comm.rank() == 1 { 4 } else { 3 };
                    let differ = check_in_sync(&comm, &model(seed), "after evolution");
                    (same, differ)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (same, differ) in outcomes {
        assert!(same.is_ok());
        let e = format!("{:#}", differ.unwrap_err());
        assert!(e.contains("rank 1") && e.contains("after evolution"), "{e}");
    }
    assert_ne!(model_hash64(&model(3)), model_hash64(&model(4)));
    assert_eq!(model_hash64(&model(3)), model_hash64(&model(3)));
}

#[test]
fn handoff_delivers_rank_zero_bytes_and_dropout_streams_differ_by_rank() {
    let got: Vec<Handoff> = std::thread::scope(|s| {
        let hs: Vec<_> = Sim::world(3)
            .into_iter()
            .map(|comm| {
                s.spawn(move || {
                    let mine = (comm.rank() == 0).then(|| Handoff {
                        config_toml: "seed = 1\n".into(),
                        vocab: vec![1, 2, 3],
                        checkpoint: vec![9; 1000],
                    });
                    handoff(&comm, mine)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for h in got {
        assert_eq!(h.config_toml, "seed = 1\n");
        assert_eq!(h.vocab, [1, 2, 3]);
        assert_eq!(h.checkpoint.len(), 1000);
    }
    let sims = Sim::world(2);
    let draw = |c: &dyn Collective| dropout_rng(5, 7, c).random::<u64>();
    assert_ne!(draw(&sims[0]), draw(&sims[1]));
    assert_eq!(
        draw(&Local),
        crate::rng::stream_rng(5, crate::rng::Stream::Dropout, 7).random::<u64>()
    );
}
