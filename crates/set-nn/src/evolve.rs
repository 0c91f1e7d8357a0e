//! Glue between the model and `set-evolve`: lends every sparse matrix, its optimizer state and
//! a row-by-row gradient (from the last training batch) to an evolution policy.

use crate::classifier::{Classifier, PAD_ID};
use crate::error::NnError;
use crate::optim::Optimizer;
use crate::param::ParamValue;
use ndarray::Axis;
use rand::Rng;
use set_evolve::{EvolutionPolicy, EvolutionReport, EvolveContext, MatrixView};
use std::collections::HashMap;

/// A parameter that may be sparse: the parameter, its index in model order, its row groups
/// (4 gates for the LSTM matrices), and its row-gradient function.
type Candidate<'a> = (
    &'a mut crate::param::Param<f32>,
    usize,
    usize,
    &'a (dyn Fn(usize, &mut [f32]) + Sync),
);

/// Runs one evolution step on every sparse matrix of the model.
///
/// Survivors keep their optimizer state, new connections start from zero state (the remap from
/// `set-sparse` is applied to every state buffer), gradients are resized and zeroed. Gradient-
/// based policies (RigL, SNFS) read the dense gradient of one row at a time, computed from the
/// last training batch's cached activations; no dense gradient matrix is ever built.
///
/// # Errors
/// [`NnError::Evolve`] if the policy rejects the step (nothing is changed then).
pub fn evolve_model(
    model: &mut Classifier<f32>,
    opt: &mut Optimizer<f32>,
    policy: &mut dyn EvolutionPolicy,
    ctx: &EvolveContext,
    rng: &mut dyn Rng,
) -> Result<EvolutionReport, NnError> {
    let Classifier {
        embedding,
        lstm,
        out_weight,
        scratch,
        ..
    } = model;
    let cache = &*scratch;
    let has_cache = cache.lstm.steps > 0 && cache.lstm.d_gates.len_of(Axis(0)) == cache.lstm.steps;

    // Row gradients: dW_ih[r, :] = sum_t dG[t, r, :] X[t]^T, dW_hh with h_{t-1},
    // dEmb[v, :] = sum over the positions of token v of dX, dW_out[c, :] = dlogits[c] pooled^T.
    let grad_ih = move |r: usize, out: &mut [f32]| {
        out.fill(0.0);
        let (dg, x) = (&cache.lstm.d_gates, &cache.lstm.x);
        for t in 0..cache.lstm.steps {
            let d = dg.slice(ndarray::s![t, r, ..]);
            for (j, o) in out.iter_mut().enumerate() {
                *o += d.dot(&x.slice(ndarray::s![t, j, ..]));
            }
        }
    };
    let grad_hh = move |r: usize, out: &mut [f32]| {
        out.fill(0.0);
        let (dg, h) = (&cache.lstm.d_gates, &cache.lstm.h);
        for t in 0..cache.lstm.steps {
            let d = dg.slice(ndarray::s![t, r, ..]);
            for (j, o) in out.iter_mut().enumerate() {
                *o += d.dot(&h.slice(ndarray::s![t, j, ..]));
            }
        }
    };
    let batch = cache.lstm.batch;
    let mut positions: HashMap<u32, Vec<(usize, usize)>> = HashMap::new();
    for (k, &id) in cache.tokens.iter().enumerate() {
        if id != PAD_ID {
            positions
                .entry(id)
                .or_default()
                .push((k / batch.max(1), k % batch.max(1)));
        }
    }
    let grad_emb = move |v: usize, out: &mut [f32]| {
        out.fill(0.0);
        if let Some(list) = positions.get(&(v as u32)) {
            for &(t, b) in list {
                for (j, o) in out.iter_mut().enumerate() {
                    *o += cache.d_embedded[[t, j, b]];
                }
            }
        }
    };
    let grad_out = move |c: usize, out: &mut [f32]| {
        let d = cache.d_logits.row(c);
        for (j, o) in out.iter_mut().enumerate() {
            *o = d.dot(&cache.pooled.row(j));
        }
    };

    // Optimizer state buffers per parameter, in model order: embedding, w_ih, w_hh, b_ih, b_hh,
    // fc.weight, fc.bias.
    let mut states: Vec<Option<&mut Vec<Vec<f32>>>> = opt.state.iter_mut().map(Some).collect();
    let mut take_state = |i: usize| states.get_mut(i).and_then(Option::take);
    let mut views: Vec<MatrixView<'_>> = Vec::new();
    let candidates: [Candidate<'_>; 4] = [
        (embedding, 0, 1, &grad_emb),
        (&mut lstm.w_ih, 1, 4, &grad_ih),
        (&mut lstm.w_hh, 2, 4, &grad_hh),
        (out_weight, 5, 1, &grad_out),
    ];
    for (param, index, groups, grad_fn) in candidates {
        let state = take_state(index);
        if let ParamValue::Sparse(m) = &mut param.value {
            let mut view = MatrixView::new(param.name.as_str(), m).with_row_groups(groups);
            if let Some(bufs) = state {
                let mut it = bufs.iter_mut();
                if let Some(first) = it.next() {
                    view = view.with_momentum(first);
                }
                for b in it {
                    view = view.with_state(b);
                }
            }
            if has_cache {
                view = view.with_gradient_row(grad_fn);
            }
            views.push(view);
        }
    }
    let report = policy
        .evolve(&mut views, ctx, rng)
        .map_err(NnError::Evolve)?;
    drop(views);
    for p in [embedding, &mut lstm.w_ih, &mut lstm.w_hh, out_weight] {
        p.zero_grad();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::{BatchRef, ClassifierConfig, Pooling, Storage};
    use crate::{ActivationMode, OptimizerConfig};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use set_evolve::{EvolveError, PolicyConfig, TopologyTracker};

    type Setup = (
        Classifier<f32>,
        Optimizer<f32>,
        Vec<u32>,
        Vec<usize>,
        Vec<usize>,
    );

    fn setup(seed: u64) -> Setup {
        let cfg = ClassifierConfig {
            vocab_size: 40,
            embed_dim: 6,
            hidden: 5,
            classes: 2,
            embedding: Storage::Sparse { density: 0.3 },
            lstm_ih: Storage::Sparse { density: 0.3 },
            lstm_hh: Storage::Sparse { density: 0.3 },
            output: Storage::Sparse { density: 0.6 },
            pooling: Pooling::Last,
            dropout_embed: 0.0,
            dropout_output: 0.0,
            activation: ActivationMode::Fast,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let model = Classifier::<f32>::new(cfg, &mut rng).unwrap();
        let opt = Optimizer::new(OptimizerConfig::adam_default(0.01), model.params());
        let (t, b) = (7, 4);
        let lengths: Vec<usize> = (0..b).map(|_| rng.random_range(1..=t)).collect();
        let mut tokens = vec![0u32; t * b];
        for (bi, &len) in lengths.iter().enumerate() {
            for ti in 0..len {
                tokens[ti * b + bi] = rng.random_range(1..40);
            }
        }
        (model, opt, tokens, lengths, vec![0, 1, 1, 0])
    }

    /// A policy that checks each lent row gradient against the SDDMM gradients at stored entries.
    struct Probe {
        grads: Vec<Vec<f32>>,
        checked: usize,
        tracker: TopologyTracker,
    }

    impl EvolutionPolicy for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn default_new_weight_init(&self) -> set_evolve::NewWeightInit {
            set_evolve::NewWeightInit::Zero
        }
        fn evolve(
            &mut self,
            matrices: &mut [MatrixView<'_>],
            ctx: &EvolveContext,
            _: &mut dyn Rng,
        ) -> Result<EvolutionReport, EvolveError> {
            for (view, grad) in matrices.iter().zip(&self.grads) {
                let f = view
                    .gradient_row
                    .expect("gradient rows are lent after a training step");
                let mut row = vec![0.0f32; view.matrix.cols()];
                for r in 0..view.matrix.rows() {
                    f(r, &mut row);
                    for k in view.matrix.row_range(r) {
                        let c = view.matrix.indices()[k] as usize;
                        assert!(
                            (row[c] - grad[k]).abs() <= 1e-5 * (1.0 + grad[k].abs()),
                            "{} ({r}, {c}): {} vs {}",
                            view.name,
                            row[c],
                            grad[k]
                        );
                        self.checked += 1;
                    }
                }
            }
            set_evolve::StaticPolicy::new().evolve(matrices, ctx, &mut ChaCha8Rng::seed_from_u64(0))
        }
        fn tracker(&self) -> &TopologyTracker {
            &self.tracker
        }
        fn tracker_mut(&mut self) -> &mut TopologyTracker {
            &mut self.tracker
        }
    }

    #[test]
    fn lent_row_gradients_match_the_sparse_gradients() {
        let (mut model, mut opt, tokens, lengths, labels) = setup(1);
        let batch = BatchRef {
            tokens: &tokens,
            lengths: &lengths,
            seq_len: 7,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        model.train_step(&batch, &labels, &mut rng, 0).unwrap();
        let grads = [0usize, 1, 2, 5]
            .iter()
            .map(|&i| model.params()[i].grad.clone())
            .collect();
        let mut probe = Probe {
            grads,
            checked: 0,
            tracker: TopologyTracker::default(),
        };
        let ctx = EvolveContext::new(0, 3, 0.3).unwrap();
        evolve_model(&mut model, &mut opt, &mut probe, &ctx, &mut rng).unwrap();
        assert!(probe.checked > 50, "checked {}", probe.checked);
    }

    #[test]
    fn set_and_rigl_keep_nnz_churn_and_remap_optimizer_state() {
        for policy_cfg in [
            PolicyConfig::default(),
            PolicyConfig::Rigl(Default::default()),
        ] {
            let (mut model, mut opt, tokens, lengths, labels) = setup(3);
            let batch = BatchRef {
                tokens: &tokens,
                lengths: &lengths,
                seq_len: 7,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            let nnz_before: Vec<usize> = model.params().iter().map(|p| p.values().len()).collect();
            let hashes_before: Vec<u64> = model
                .params()
                .iter()
                .filter_map(|p| p.value.as_sparse().map(|m| m.topology_hash()))
                .collect();
            let mut policy = policy_cfg.build();
            for epoch in 0..2 {
                for step in 0..3 {
                    model.train_step(&batch, &labels, &mut rng, step).unwrap();
                    opt.step(model.params_mut());
                }
                let ctx = EvolveContext::new(epoch, 3, 0.3).unwrap();
                let report =
                    evolve_model(&mut model, &mut opt, policy.as_mut(), &ctx, &mut rng).unwrap();
                let churn: usize = report.matrices.iter().map(|m| m.removed).sum();
                assert!(churn > 0, "{}: no churn", policy.name());
            }
            let nnz_after: Vec<usize> = model.params().iter().map(|p| p.values().len()).collect();
            assert_eq!(nnz_before, nnz_after, "{}", policy.name());
            let hashes_after: Vec<u64> = model
                .params()
                .iter()
                .filter_map(|p| p.value.as_sparse().map(|m| m.topology_hash()))
                .collect();
            assert_ne!(hashes_before, hashes_after);
            for (p, st) in model.params().iter().zip(&opt.state) {
                assert_eq!(p.grad.len(), p.values().len());
                assert!(st.iter().all(|b| b.len() == p.values().len()), "{}", p.name);
            }
            // Training continues after evolution.
            model.train_step(&batch, &labels, &mut rng, 9).unwrap();
            opt.step(model.params_mut());
        }
    }
}
