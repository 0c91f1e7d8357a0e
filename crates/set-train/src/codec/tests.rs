//! Round trips and corruptions of checkpoints and model files.

use super::*;
use crate::{Counters, Density, ModelSpec, Progress, Sparsity, TrainerConfig, TrainingState};
use rand::SeedableRng;
use safetensors::SafeTensors;
use set_evolve::TopologyTracker;
use set_nn::{Classifier, Optimizer, ParamValue};
use std::collections::BTreeMap;

fn spec() -> ModelSpec {
    ModelSpec::new(12, 4, 3, 2).with_sparsity(Sparsity::Uniform {
        density: Density::new(0.4).unwrap(),
    })
}

pub(crate) fn state() -> TrainingState {
    state_of(spec())
}

fn state_of(spec: ModelSpec) -> TrainingState {
    let config = TrainerConfig::default();
    let mcfg = spec.classifier_config().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let model = Classifier::<f32>::new(mcfg, &mut rng).unwrap();
    let mut optimizer = Optimizer::new(config.optimizer_config(), model.params());
    optimizer.steps = 9;
    for (i, b) in optimizer.state.iter_mut().flatten().enumerate() {
        b.iter_mut()
            .enumerate()
            .for_each(|(k, v)| *v = (i * 7 + k) as f32 * 0.01);
    }
    let mut tracker = TopologyTracker::new();
    if let ParamValue::Sparse(m) = &model.embedding.value {
        tracker.observe("embedding.weight", m).unwrap();
        // Regrowth bookkeeping: 4 judged, 3 survived, two positions added by the last step.
        tracker.set_last_added("embedding.weight", vec![1, 3, 6, 9]);
        assert_eq!(tracker.judge_regrown("embedding.weight", &[3]), (4, 3));
        tracker.set_last_added("embedding.weight", vec![2, 5]);
    }
    TrainingState {
        spec,
        config,
        front_end: Some(serde_json::json!({"anything": "the front end keeps"})),
        class_names: vec!["negative".into(), "positive".into()],
        model,
        optimizer,
        counters: Counters {
            epoch: 1,
            step_in_epoch: 2,
            global_step: 9,
            evolution_steps: 1,
        },
        progress: Progress {
            loss_sum_bits: 1.5f64.to_bits(),
            correct: 3,
            examples: 6,
            ..Progress::default()
        },
        tracker,
        vocab_sha256: "ab".repeat(32),
        datasets: vec![],
    }
}

#[test]
fn checkpoint_round_trips_exactly() {
    let s = state();
    let bytes = encode_checkpoint(&s).unwrap();
    let back = decode_checkpoint(&bytes).unwrap();
    assert_eq!(encode_checkpoint(&back).unwrap(), bytes);
    assert_eq!(back.counters, s.counters);
    assert_eq!(back.progress, s.progress);
    assert_eq!(back.tracker, s.tracker);
    let t = back.tracker.get("embedding.weight").unwrap();
    assert_eq!((t.regrown_judged, t.regrown_survived), (4, 3));
    assert_eq!(t.last_added, vec![2, 5]);
    assert_eq!(back.optimizer.state, s.optimizer.state);
    assert!(t.initial.is_some());
    // A checkpoint written before the initial topology was kept still loads, without it; one
    // whose initial topology lies outside the matrix is refused.
    let old = without_tensors(&bytes, |n| n.starts_with("evolve.initial."));
    let back_old = decode_checkpoint(&old).unwrap();
    let t_old = back_old.tracker.get("embedding.weight").unwrap();
    assert_eq!(
        (t_old.initial.as_ref(), t_old.last_added.clone()),
        (None, vec![2, 5])
    );
    let outside = with_tensor(&bytes, "evolve.initial.embedding.weight", |t| {
        t.data[0..8].copy_from_slice(&i64::MAX.to_le_bytes())
    });
    assert!(matches!(
        decode_checkpoint(&outside),
        Err(CheckpointError::BadValue { .. })
    ));
    // Also readable by the safetensors crate with the documented names.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        st.tensor("lstm.weight_ih_l0.indptr").unwrap().dtype(),
        Dtype::I64
    );
    assert_eq!(st.tensor("fc.weight").unwrap().shape(), &[2, 3]);
    assert!(st.tensor("optim.fc.bias.exp_avg_sq").is_ok());
}

/// A two-layer bidirectional GRU round-trips bit for bit, with its architecture in the metadata
/// (`spec` and `model`) and PyTorch's parameter names; the default architecture writes no such
/// field, so files written before it existed read as one-layer unidirectional LSTMs.
#[test]
fn stacked_bidirectional_gru_checkpoint_round_trips_exactly() {
    let rate = crate::DropoutRate::new(0.25).unwrap();
    let s = state_of(spec().with_rnn(set_nn::CellKind::Gru, 2, true, rate));
    let bytes = encode_checkpoint(&s).unwrap();
    let back = decode_checkpoint(&bytes).unwrap();
    assert_eq!(encode_checkpoint(&back).unwrap(), bytes);
    assert_eq!(back.spec, s.spec);
    assert_eq!(back.model.config.rnn.layers, 2);
    assert_eq!(back.optimizer.state, s.optimizer.state);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.tensor("gru.weight_ih_l1_reverse.indptr").is_ok());
    assert_eq!(st.tensor("gru.bias_hh_l0").unwrap().shape(), &[9]);
    assert_eq!(st.tensor("fc.weight").unwrap().shape(), &[2, 6]);
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert!(
        meta["spec"].contains("\"cell\":\"gru\""),
        "{}",
        meta["spec"]
    );
    assert!(
        meta["model"].contains("\"bidirectional\":true"),
        "{}",
        meta["model"]
    );
    let plain = encode_checkpoint(&state()).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&plain).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert!(!meta["spec"].contains("cell") && !meta["model"].contains("rnn"));
}

#[test]
fn every_prefix_is_rejected() {
    let bytes = encode_checkpoint(&state()).unwrap();
    for n in 0..bytes.len() {
        assert!(
            decode_checkpoint(&bytes[..n]).is_err(),
            "prefix of {n} bytes accepted"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        decode_checkpoint(&longer),
        Err(CheckpointError::Format(_))
    ));
}

/// A valid file re-encoded after `edit` changed its tensors and metadata.
fn rewrite(
    bytes: &[u8],
    edit: impl FnOnce(&mut Vec<OutTensor>, &mut BTreeMap<String, String>),
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta: BTreeMap<String, String> = meta.metadata().clone().unwrap().into_iter().collect();
    let mut tensors: Vec<OutTensor> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| OutTensor {
            name: n,
            dtype: v.dtype(),
            shape: v.shape().to_vec(),
            data: v.data().to_vec(),
        })
        .collect();
    edit(&mut tensors, &mut meta);
    encode_safetensors(tensors, &meta)
}

/// Rewrites one tensor of a valid checkpoint.
fn with_tensor(bytes: &[u8], name: &str, f: impl Fn(&mut OutTensor)) -> Vec<u8> {
    rewrite(bytes, |ts, _| {
        ts.iter_mut().filter(|t| t.name == name).for_each(f)
    })
}

/// The file re-encoded without the tensors whose name `drop` accepts.
fn without_tensors(bytes: &[u8], drop: impl Fn(&str) -> bool) -> Vec<u8> {
    rewrite(bytes, |ts, _| ts.retain(|t| !drop(&t.name)))
}

fn with_meta(bytes: &[u8], key: &str, value: Option<&str>) -> Vec<u8> {
    rewrite(bytes, |_, meta| {
        match value {
            Some(v) => meta.insert(key.into(), v.into()),
            None => meta.remove(key),
        };
    })
}

#[test]
fn corruptions_are_typed_errors() {
    let good = encode_checkpoint(&state()).unwrap();
    let nan = with_tensor(&good, "fc.weight", |t| {
        t.data[0..4].copy_from_slice(&f32::NAN.to_le_bytes())
    });
    assert!(
        matches!(decode_checkpoint(&nan), Err(CheckpointError::NonFinite { name, index: 0, .. }) if name == "fc.weight")
    );
    let inf = with_tensor(&good, "optim.lstm.bias_ih_l0.exp_avg", |t| {
        t.data[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes())
    });
    assert!(matches!(
        decode_checkpoint(&inf),
        Err(CheckpointError::NonFinite { index: 1, .. })
    ));
    let dtype = with_tensor(&good, "fc.bias", |t| t.dtype = Dtype::I32);
    assert!(matches!(
        decode_checkpoint(&dtype),
        Err(CheckpointError::Dtype { .. })
    ));
    let shape = with_tensor(&good, "fc.weight", |t| t.shape = vec![3, 2]);
    assert!(matches!(
        decode_checkpoint(&shape),
        Err(CheckpointError::Shape { .. })
    ));
    // Swap two column indices within one row: the row is then unsorted.
    let s = state();
    let hh = s.model.rnn[0].w_hh.value.as_sparse().unwrap();
    let row = (0..hh.rows())
        .find(|&r| hh.row_range(r).len() >= 2)
        .expect("a row with two entries");
    let k = hh.row_range(row).start * 4;
    let unsorted = with_tensor(&good, "lstm.weight_hh_l0.indices", |t| {
        let (a, b) = (t.data[k..k + 4].to_vec(), t.data[k + 4..k + 8].to_vec());
        t.data[k..k + 4].copy_from_slice(&b);
        t.data[k + 4..k + 8].copy_from_slice(&a);
    });
    assert!(matches!(
        decode_checkpoint(&unsorted),
        Err(CheckpointError::Sparse { .. })
    ));
    let negative = with_tensor(&good, "embedding.weight.indices", |t| {
        t.data[0..4].copy_from_slice(&(-1i32).to_le_bytes())
    });
    assert!(matches!(
        decode_checkpoint(&negative),
        Err(CheckpointError::BadValue { .. })
    ));
    let indptr = with_tensor(&good, "embedding.weight.indptr", |t| {
        t.data[8..16].copy_from_slice(&(1i64 << 40).to_le_bytes())
    });
    assert!(matches!(
        decode_checkpoint(&indptr),
        Err(CheckpointError::BadValue { .. })
    ));
    let huge = with_tensor(&good, "evolve.tracker.embedding.weight", |t| {
        t.data[0..8].copy_from_slice(&i64::MAX.to_le_bytes())
    });
    assert!(matches!(
        decode_checkpoint(&huge),
        Err(CheckpointError::BadValue { .. })
    ));
    let extra = rewrite(&good, |ts, _| {
        ts.push(OutTensor::f32("bogus", vec![1], &[1.0]))
    });
    assert!(
        matches!(decode_checkpoint(&extra), Err(CheckpointError::UnexpectedTensor(n)) if n == "bogus")
    );
    let missing = without_tensors(&good, |n| n == "fc.bias");
    assert!(
        matches!(decode_checkpoint(&missing), Err(CheckpointError::MissingTensor(n)) if n == "fc.bias")
    );
    assert!(matches!(
        decode_checkpoint(&with_meta(&good, "version", Some("3"))),
        Err(CheckpointError::Version { .. })
    ));
    assert!(matches!(
        decode_checkpoint(&with_meta(&good, "format", Some("x"))),
        Err(CheckpointError::WrongFormat { .. })
    ));
    assert!(
        matches!(decode_checkpoint(&with_meta(&good, "counters", None)), Err(CheckpointError::MissingKey(k)) if k == "counters")
    );
    assert!(matches!(
        decode_checkpoint(&with_meta(&good, "counters", Some("{\"epoch\": -1}"))),
        Err(CheckpointError::BadMetadata { .. })
    ));
    assert!(matches!(
        decode_checkpoint(&with_meta(&good, "model", Some("{}"))),
        Err(CheckpointError::BadMetadata { .. })
    ));
    // A model file is not a checkpoint and vice versa.
    assert!(matches!(
        decode_model(&good),
        Err(CheckpointError::WrongFormat { .. })
    ));
    // Garbage header.
    let mut garbage = good.clone();
    garbage[10] = b'!';
    assert!(decode_checkpoint(&garbage).is_err());
}

#[test]
fn metadata_must_be_known_consistent_and_within_limits() {
    let good = encode_checkpoint(&state()).unwrap();
    let bad_key = |bytes: &[u8], key: &str| matches!(decode_checkpoint(bytes), Err(CheckpointError::BadMetadata { key: k, .. }) if k == key);
    let meta: BTreeMap<String, String> = {
        let (_, m) = SafeTensors::read_metadata(&good).unwrap();
        m.metadata().clone().unwrap().into_iter().collect()
    };
    let edit = |key: &str, f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_str(&meta[key]).unwrap();
        f(&mut v);
        with_meta(&good, key, Some(&v.to_string()))
    };
    // The optimizer must be the one the configuration describes.
    assert!(bad_key(
        &edit("optimizer", &|v| v["config"]["lr"] = 0.5.into()),
        "optimizer"
    ));
    // The training settings pass their range checks.
    assert!(bad_key(
        &edit("trainer", &|v| v["epochs"] = 0.into()),
        "trainer"
    ));
    // Dimensions within the limits of training, checked before any tensor is read.
    for (field, value) in [
        ("embed_dim", 1u64 << 20),
        ("hidden", 1 << 20),
        ("vocab_size", 1 << 30),
        ("classes", 5000),
    ] {
        assert!(
            bad_key(&edit("model", &|v| v[field] = value.into()), "model"),
            "{field}"
        );
    }
    // Running sums are finite.
    let nan = f64::NAN.to_bits();
    assert!(bad_key(
        &edit("progress", &|v| v["loss_sum_bits"] = nan.into()),
        "progress"
    ));
    // Every metadata key is known.
    assert!(matches!(
        decode_checkpoint(&with_meta(&good, "hook", Some("x"))),
        Err(CheckpointError::UnexpectedMetadata(k)) if k == "hook"
    ));
}

#[test]
fn non_finite_state_is_never_encoded() {
    let mut s = state();
    s.optimizer.state[1][0][0] = f32::NAN;
    assert!(
        matches!(encode_checkpoint(&s), Err(CheckpointError::NonFinite { name, .. }) if name == "optim.lstm.weight_ih_l0.exp_avg")
    );
}
