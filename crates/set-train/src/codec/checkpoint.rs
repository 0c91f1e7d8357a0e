//! Training checkpoints: the complete [`TrainingState`] (weights, optimizer state, counters,
//! running statistics, topology tracker, data digests), written so that a resumed run continues
//! bit for bit.

use super::model_file::read_common;
use super::params::{param_tensors, read_params};
use super::tensors::{OutTensor, TensorFile, encode_safetensors, first_non_finite};
use super::{CHECKPOINT_FORMAT, CResult, CheckpointError, VERSION, bad, bad_meta, json};
use crate::config::TrainerConfig;
use crate::state::{Counters, Progress, TrainingState};
use serde::{Deserialize, Serialize};
use set_data::FileDigest;
use set_evolve::TopologyTracker;
use set_nn::{Classifier, Optimizer, OptimizerConfig};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OptimMeta {
    config: OptimizerConfig,
    steps: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvolutionMeta {
    policy: String,
    tracked: BTreeMap<String, [usize; 2]>,
    /// Per tracked matrix with regrowth bookkeeping: `[judged, survived]` regrown connections
    /// (their positions of the latest step in `evolve.regrown.<name>`). Absent in checkpoints
    /// written before the survival rate was recorded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    regrowth: BTreeMap<String, [u64; 2]>,
}

/// Serialises a checkpoint.
///
/// # Errors
/// [`CheckpointError::NonFinite`] if a weight or optimizer value is NaN or infinite: a
/// checkpoint with non-finite values is never written.
pub fn encode_checkpoint(s: &TrainingState) -> CResult<Vec<u8>> {
    let mut tensors = Vec::new();
    let mut shapes = BTreeMap::new();
    let names = s.optimizer.config.state_names();
    let params = s.model.params();
    if s.optimizer.state.len() != params.len() {
        return Err(CheckpointError::BadMetadata {
            key: "optimizer".into(),
            message: "state does not match the parameters".into(),
        });
    }
    for (p, st) in params.iter().zip(&s.optimizer.state) {
        first_non_finite(&p.name, p.values())?;
        param_tensors(p, &mut tensors, &mut shapes);
        for (buf, bname) in st.iter().zip(names) {
            let tname = format!("optim.{}.{bname}", p.name);
            first_non_finite(&tname, buf)?;
            tensors.push(OutTensor::f32(tname, vec![buf.len()], buf));
        }
    }
    let mut tracked = BTreeMap::new();
    let mut regrowth = BTreeMap::new();
    for name in s.tracker.names() {
        let t = s.tracker.get(name).expect("listed");
        tracked.insert(name.to_string(), [t.shape.0, t.shape.1]);
        tensors.push(OutTensor::i64(
            format!("evolve.tracker.{name}"),
            vec![t.ever_active.len()],
            t.ever_active.iter().map(|&x| x as i64),
        ));
        if let Some(initial) = &t.initial {
            tensors.push(OutTensor::i64(
                format!("evolve.initial.{name}"),
                vec![initial.len()],
                initial.iter().map(|&x| x as i64),
            ));
        }
        if t.regrown_judged > 0 || !t.last_added.is_empty() {
            regrowth.insert(name.to_string(), [t.regrown_judged, t.regrown_survived]);
            tensors.push(OutTensor::i64(
                format!("evolve.regrown.{name}"),
                vec![t.last_added.len()],
                t.last_added.iter().map(|&x| x as i64),
            ));
        }
    }
    let mut meta = BTreeMap::from([
        ("format".to_string(), CHECKPOINT_FORMAT.to_string()),
        ("version".to_string(), VERSION.to_string()),
        ("spec".to_string(), json(&s.spec)),
        ("trainer".to_string(), json(&s.config)),
        ("model".to_string(), json(&s.model.config)),
        ("class_names".to_string(), json(&s.class_names)),
        ("counters".to_string(), json(&s.counters)),
        ("progress".to_string(), json(&s.progress)),
        (
            "optimizer".to_string(),
            json(&OptimMeta {
                config: s.optimizer.config,
                steps: s.optimizer.steps,
            }),
        ),
        (
            "evolution".to_string(),
            json(&EvolutionMeta {
                policy: s.config.policy.as_str().to_string(),
                tracked,
                regrowth,
            }),
        ),
        ("vocab_sha256".to_string(), s.vocab_sha256.clone()),
        ("datasets".to_string(), json(&s.datasets)),
        ("sparse_shapes".to_string(), json(&shapes)),
    ]);
    if let Some(f) = &s.front_end {
        meta.insert("front_end".to_string(), json(f));
    }
    Ok(encode_safetensors(tensors, &meta))
}

/// Parses and validates a checkpoint.
///
/// # Errors
/// Any problem, typed.
pub fn decode_checkpoint(bytes: &[u8]) -> CResult<TrainingState> {
    let state = decode_tensors_and_metadata(bytes)?;
    super::consistency::check_state(&state)?;
    Ok(state)
}

/// A checkpoint-encoded state that rank 0 sends in the middle of an epoch's end (after the
/// evolution step, before the epoch is counted): every tensor and field is checked as in
/// [`decode_checkpoint`], but not the counters against each other, which are then between two
/// consistent states. Only the model and optimizer state of it are used.
pub(crate) fn decode_state_in_transit(bytes: &[u8]) -> CResult<TrainingState> {
    decode_tensors_and_metadata(bytes)
}

fn decode_tensors_and_metadata(bytes: &[u8]) -> CResult<TrainingState> {
    let f = TensorFile::parse(bytes, CHECKPOINT_FORMAT)?;
    let (spec, front_end, mcfg, class_names) = read_common(&f)?;
    let config = if f.version() == 1 {
        let v1 = front_end.as_ref().expect("format 1 records `config`");
        TrainerConfig::from_v1_config(v1).map_err(|m| bad_meta("config", m))?
    } else {
        let c: TrainerConfig = f.meta_json("trainer")?;
        c.validate()
            .map_err(|e| bad_meta("trainer", e.to_string()))?;
        c
    };
    let counters: Counters = f.meta_json("counters")?;
    let progress: Progress = f.meta_json("progress")?;
    for (what, bits) in [
        ("loss_sum_bits", Some(progress.loss_sum_bits)),
        ("best_dev_accuracy_bits", progress.best_dev_accuracy_bits),
    ] {
        if let Some(b) = bits
            && !f64::from_bits(b).is_finite()
        {
            return Err(CheckpointError::BadMetadata {
                key: "progress".into(),
                message: format!("`{what}` is the non-finite {}", f64::from_bits(b)),
            });
        }
    }
    let om: OptimMeta = f.meta_json("optimizer")?;
    if om.config != config.optimizer_config() {
        return Err(CheckpointError::BadMetadata {
            key: "optimizer".into(),
            message: "differs from the optimizer of the configuration".into(),
        });
    }
    let em: EvolutionMeta = f.meta_json("evolution")?;
    if em.policy != config.policy.as_str() {
        return Err(bad_meta(
            "evolution",
            format!(
                "policy `{}` differs from the training settings' `{}`",
                em.policy, config.policy
            ),
        ));
    }
    let vocab_sha256 = f.meta("vocab_sha256")?.to_string();
    let datasets: Vec<FileDigest> = f.meta_json("datasets")?;
    let params = read_params(&f, &mcfg)?;
    let mut state = Vec::with_capacity(params.len());
    for p in &params {
        let mut bufs = Vec::new();
        for bname in om.config.state_names() {
            bufs.push(f.f32(&format!("optim.{}.{bname}", p.name), &[p.values().len()])?);
        }
        state.push(bufs);
    }
    let mut tracker = TopologyTracker::new();
    for (name, [r, c]) in &em.tracked {
        let Some(p) = params
            .iter()
            .find(|p| p.name == *name && p.value.as_sparse().is_some())
        else {
            return Err(CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: format!("`{name}` is not a sparse parameter"),
            });
        };
        if p.value.shape() != [*r, *c] {
            return Err(CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: format!("`{name}`: shape [{r}, {c}] differs from the parameter's"),
            });
        }
        let cap = (*r as u64)
            .checked_mul(*c as u64)
            .ok_or_else(|| CheckpointError::Overflow {
                name: format!("evolve.tracker.{name}"),
            })?;
        let flat = read_positions(&f, &format!("evolve.tracker.{name}"), cap)?;
        tracker
            .record(name, (*r, *c), &flat)
            .map_err(|e| CheckpointError::BadMetadata {
                key: "evolution".into(),
                message: e.to_string(),
            })?;
        // Checkpoints written before the initial topology was kept have no such tensor.
        let initial_name = format!("evolve.initial.{name}");
        let initial = if f.has(&initial_name) {
            Some(read_positions(&f, &initial_name, cap)?)
        } else {
            None
        };
        tracker.restore_initial(name, initial);
        if let Some(&[judged, survived]) = em.regrowth.get(name) {
            let last = read_positions(&f, &format!("evolve.regrown.{name}"), cap)?;
            if survived > judged {
                return Err(bad_meta(
                    "evolution",
                    format!("`{name}`: {survived} regrown connections survived of {judged}"),
                ));
            }
            tracker.restore_regrowth(name, last, judged, survived);
        }
    }
    if let Some(name) = em.regrowth.keys().find(|n| !em.tracked.contains_key(*n)) {
        return Err(bad_meta(
            "evolution",
            format!("regrowth of `{name}`, which is not tracked"),
        ));
    }
    f.finish()?;
    let model =
        Classifier::from_params(mcfg, params).map_err(|e| CheckpointError::Model(Box::new(e)))?;
    let optimizer = Optimizer {
        config: om.config,
        state,
        steps: om.steps,
    };
    let state = TrainingState {
        spec,
        config,
        front_end,
        class_names,
        model,
        optimizer,
        counters,
        progress,
        tracker,
        vocab_sha256,
        datasets,
    };
    Ok(state)
}

/// Reads a tensor of flat positions `[n]` (I64, strictly increasing, each below `cap`).
fn read_positions(f: &TensorFile<'_>, tname: &str, cap: u64) -> CResult<Vec<u64>> {
    let n = match f.shape_of(tname)?.as_slice() {
        &[n] => n,
        other => {
            return Err(CheckpointError::Shape {
                name: tname.to_string(),
                found: other.to_vec(),
                expected: "[count]".into(),
            });
        }
    };
    if n as u64 > cap {
        return Err(bad(
            tname,
            format!("{n} positions exceed the {cap} of the matrix"),
        ));
    }
    let raw = f.i64(tname, &[n])?;
    let mut flat = Vec::with_capacity(n);
    for (i, &v) in raw.iter().enumerate() {
        let u = u64::try_from(v)
            .ok()
            .filter(|&u| u < cap)
            .ok_or_else(|| bad(tname, format!("entry {i} = {v} is outside 0..{cap}")))?;
        if flat.last().is_some_and(|&l| l >= u) {
            return Err(bad(
                tname,
                format!("entry {i} = {v} is not strictly increasing"),
            ));
        }
        flat.push(u);
    }
    Ok(flat)
}
