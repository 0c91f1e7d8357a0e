//! Glue between the model and `set-evolve`: lends every sparse matrix, its optimizer state
//! and a row-by-row gradient (from the last training batch) to an evolution policy.
//!
//! Everything is found by name through the model's one parameter table
//! ([`crate::ClassifierConfig::param_specs`]): which parameters are matrices, their row groups,
//! their row gradients and their optimizer state.

use crate::classifier::{Classifier, ForwardCache, PAD_ID};
use crate::config::{ClassifierConfig, ParamKind, ParamSpec, RNN_PARAMS, rnn_param_name};
use crate::error::NnError;
use crate::optim::Optimizer;
use crate::param::{Param, ParamValue};
use ndarray::{Array3, ArrayView3, Axis};
use rand::Rng;
use set_evolve::{
    EvolutionPolicy, EvolutionReport, EvolveContext, GradientRowFn, MatrixView, TopologyTracker,
};
use std::collections::HashMap;

/// A row-gradient function: fills `out` (length `cols`) with row `r` of `dL/dW`.
type RowFn<'a> = Box<dyn Fn(usize, &mut [f32]) + Sync + 'a>;

/// The dense gradient of one row at a time, for every matrix of the model, computed on demand
/// from the last training step's cached activations (no dense gradient matrix is ever built).
///
/// Empty (every lookup `None`) before the first training step.
pub struct RowGradients<'a> {
    embedding: Option<RowFn<'a>>,
    /// Per recurrent matrix, by parameter name.
    recurrent: Vec<(String, RowFn<'a>)>,
    output: Option<RowFn<'a>>,
}

impl std::fmt::Debug for RowGradients<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowGradients")
            .field("available", &self.embedding.is_some())
            .finish()
    }
}

/// `out[j] = sum_t dg[t, r, :] . x[t, j, :]` for the first `steps` steps.
fn step_sum_row(dg: &Array3<f32>, x: ArrayView3<'_, f32>, steps: usize, r: usize, out: &mut [f32]) {
    out.fill(0.0);
    for t in 0..steps {
        let d = dg.slice(ndarray::s![t, r, ..]);
        for (j, o) in out.iter_mut().enumerate() {
            *o += d.dot(&x.slice(ndarray::s![t, j, ..]));
        }
    }
}

impl<'a> RowGradients<'a> {
    /// Row gradients from a training step's cache (none if it holds no backward pass).
    pub(crate) fn new(cache: &'a ForwardCache<f32>, config: &ClassifierConfig) -> Self {
        let has_cache = cache.rnn.len() == config.rnn.layers * config.rnn.directions()
            && cache
                .rnn
                .iter()
                .all(|c| c.steps > 0 && c.d_gates.len_of(Axis(0)) == c.steps);
        if !has_cache {
            return RowGradients {
                embedding: None,
                recurrent: Vec::new(),
                output: None,
            };
        }
        // dW_ih[r, :] = sum_t dG[t, r, :] X[t]^T, dW_hh with h_{t-1} (and, for a GRU, the
        // recurrent gate gradients), dEmb[v, :] = sum over the positions of token v of dX,
        // dW_out[c, :] = dlogits[c] pooled^T.
        let arch = config.rnn;
        let mut recurrent: Vec<(String, RowFn<'a>)> = Vec::new();
        for (i, c) in cache.rnn.iter().enumerate() {
            let (layer, dir) = (i / arch.directions(), i % arch.directions());
            let name = |k: usize| rnn_param_name(arch.cell, RNN_PARAMS[k], layer, dir);
            let grad_ih = move |r: usize, out: &mut [f32]| {
                step_sum_row(&c.d_gates, c.x.view(), c.steps, r, out)
            };
            let grad_hh = move |r: usize, out: &mut [f32]| {
                step_sum_row(c.d_recurrent_gates(), c.h.view(), c.steps, r, out)
            };
            recurrent.push((name(0), Box::new(grad_ih)));
            recurrent.push((name(1), Box::new(grad_hh)));
        }
        let batch = cache.rnn[0].batch;
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
        RowGradients {
            embedding: Some(Box::new(grad_emb)),
            recurrent,
            output: Some(Box::new(grad_out)),
        }
    }

    /// The row-gradient function of the matrix `spec` of the table, if a training step has run
    /// (`None` for bias vectors).
    pub fn get(&self, spec: &ParamSpec) -> Option<GradientRowFn<'_>> {
        let f = match spec.kind {
            ParamKind::Embedding => self.embedding.as_ref(),
            ParamKind::LstmInputGates | ParamKind::LstmRecurrentGates => self
                .recurrent
                .iter()
                .find(|(n, _)| *n == spec.name)
                .map(|(_, f)| f),
            ParamKind::Output => self.output.as_ref(),
            ParamKind::Bias => return None,
        };
        f.map(|f| f.as_ref() as GradientRowFn<'_>)
    }
}

/// What an evolution step needs from a model, lent explicitly by
/// [`Classifier::evolution_inputs`].
#[derive(Debug)]
pub struct EvolutionInputs<'a> {
    /// The model's parameter table.
    pub specs: Vec<ParamSpec>,
    /// Every parameter, mutable, one per entry of `specs` in the same order.
    pub params: Vec<&'a mut Param<f32>>,
    /// Row gradients of the last training batch.
    pub row_gradients: RowGradients<'a>,
}

/// Runs one evolution step on every sparse matrix of the model, recording the topology in
/// `tracker` (the one tracker of the training state).
///
/// Survivors keep their optimizer state, new connections start from zero state (the remap from
/// `set-sparse` is applied to every state buffer), gradients are resized and zeroed. Gradient-
/// based policies (RigL, SNFS) read the dense gradient of one row at a time, computed from the
/// last training batch's cached activations; no dense gradient matrix is ever built.
///
/// Every matrix, its row groups, its row gradient and its optimizer state are found by name in
/// the model's parameter table: the optimizer keeps one slot of state per table entry (it is
/// built from [`Classifier::params`], which follows the table), and a parameter's slot is the
/// index of its name in the table.
///
/// # Errors
/// [`NnError::Evolve`] if the policy rejects the step (nothing is changed then, `tracker`
/// included), or a model whose parameters do not match its table.
pub fn evolve_model(
    model: &mut Classifier<f32>,
    opt: &mut Optimizer<f32>,
    policy: &mut dyn EvolutionPolicy,
    ctx: &EvolveContext,
    tracker: &mut TopologyTracker,
    rng: &mut dyn Rng,
) -> Result<EvolutionReport, NnError> {
    let hidden = model.config.hidden;
    let EvolutionInputs {
        specs,
        params,
        row_gradients,
    } = model.evolution_inputs()?;
    let mut params: Vec<Option<&mut Param<f32>>> = params.into_iter().map(Some).collect();
    let mut states: Vec<Option<&mut Vec<Vec<f32>>>> = opt.state.iter_mut().map(Some).collect();
    // Every matrix of the table (sparse or not, for the gradient reset), with its state.
    let mut matrices: Vec<LentMatrix<'_>> = Vec::new();
    for spec in specs.iter().filter(|s| s.is_matrix()) {
        let param = take_by_name(&mut params, &spec.name).ok_or_else(|| NnError::Shape {
            name: format!("{} (missing from the model)", spec.name),
            expected: spec.shape.clone(),
            got: Vec::new(),
        })?;
        let slot = specs.iter().position(|s| s.name == spec.name);
        let state = slot.and_then(|i| states.get_mut(i)).and_then(Option::take);
        matrices.push((spec, param, state));
    }
    let mut views: Vec<MatrixView<'_>> = Vec::new();
    for (spec, param, state) in matrices.iter_mut() {
        if let ParamValue::Sparse(m) = &mut param.value {
            let mut view = MatrixView::new(param.name.as_str(), m)
                .with_row_groups(spec.row_groups)
                .with_init_std(init_std(spec, hidden));
            if let Some(bufs) = state {
                let mut it = bufs.iter_mut();
                if let Some(first) = it.next() {
                    view = view.with_momentum(first);
                }
                for b in it {
                    view = view.with_state(b);
                }
            }
            if let Some(grad_fn) = row_gradients.get(spec) {
                view = view.with_gradient_row(grad_fn);
            }
            if spec.kind == ParamKind::Embedding {
                // Padding stays outside the topology: its row never regrows (PAD_ID = 0).
                view = view.with_frozen_rows(PAD_ID as usize + 1);
            }
            views.push(view);
        }
    }
    let report = policy
        .evolve(&mut views, ctx, tracker, rng)
        .map_err(NnError::Evolve)?;
    drop(views);
    for (_, param, _) in matrices {
        param.zero_grad();
    }
    Ok(report)
}

/// Standard deviation of the distribution [`Classifier::new`] draws a matrix's initial values
/// from: the embedding `N(0, 1)` (std 1); every other matrix `U(-a, a)` (std `a / sqrt(3)`) with
/// `a = 1 / sqrt(H)` when dense, and `max(1 / sqrt(max(1, density * fan_in)), 1 / sqrt(H))` when
/// sparse (`H` the hidden width). The test `init_std_matches_the_initial_values` checks it
/// against a freshly built model's values.
pub fn init_std(spec: &ParamSpec, hidden: usize) -> f64 {
    if spec.kind == ParamKind::Embedding {
        return 1.0;
    }
    let k = 1.0 / (hidden as f64).sqrt();
    let fan_in = spec.shape.get(1).copied().unwrap_or(1) as f64;
    let a = match spec.storage {
        Some(crate::Storage::Sparse { density }) => {
            (1.0 / (density * fan_in).max(1.0).sqrt()).max(k)
        }
        _ => k,
    };
    a / 3f64.sqrt()
}

/// A matrix of the table lent to one step: its spec, the parameter and its optimizer state.
type LentMatrix<'a> = (
    &'a ParamSpec,
    &'a mut Param<f32>,
    Option<&'a mut Vec<Vec<f32>>>,
);

/// Takes the parameter named `name` out of `params`.
fn take_by_name<'a>(
    params: &mut [Option<&'a mut Param<f32>>],
    name: &str,
) -> Option<&'a mut Param<f32>> {
    params
        .iter_mut()
        .find(|p| p.as_ref().is_some_and(|p| p.name == name))
        .and_then(Option::take)
}

impl Classifier<f32> {
    /// Lends what an evolution step needs, explicitly: the parameter table, every parameter
    /// (mutable, in table order) and the row-gradient functions computed from the last training
    /// step's cache. [`crate::evolve::evolve_model`] hands these to the policy.
    ///
    /// # Errors
    /// The table cannot be built ([`crate::ClassifierConfig::param_specs`]), or a parameter of the
    /// table is missing from the model (renamed from outside).
    pub fn evolution_inputs(&mut self) -> Result<EvolutionInputs<'_>, NnError> {
        let specs = self.config.param_specs()?;
        let Classifier {
            config,
            embedding,
            rnn,
            out_weight,
            out_bias,
            scratch,
        } = self;
        let mut all: Vec<Option<&mut Param<f32>>> = std::iter::once(embedding)
            .chain(rnn.iter_mut().flat_map(crate::lstm::Lstm::params_mut))
            .chain([out_weight, out_bias])
            .map(Some)
            .collect();
        let mut params = Vec::with_capacity(specs.len());
        for spec in &specs {
            let p = all
                .iter_mut()
                .find(|p| p.as_ref().is_some_and(|p| p.name == spec.name))
                .and_then(Option::take)
                .ok_or_else(|| NnError::Shape {
                    name: format!("{} (missing from the model)", spec.name),
                    expected: spec.shape.clone(),
                    got: Vec::new(),
                })?;
            params.push(p);
        }
        Ok(EvolutionInputs {
            specs,
            params,
            row_gradients: RowGradients::new(scratch, config),
        })
    }
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
        setup_arch(seed, Default::default())
    }

    fn setup_arch(seed: u64, rnn: crate::RnnArch) -> Setup {
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
            rnn,
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
        checked: std::sync::atomic::AtomicUsize,
    }

    impl EvolutionPolicy for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn default_new_weight_init(&self) -> set_evolve::NewWeightInit {
            set_evolve::NewWeightInit::Zero
        }
        fn needs(&self) -> set_evolve::PolicyNeeds {
            set_evolve::PolicyNeeds::default()
        }
        fn plan(
            &self,
            matrices: &[MatrixView<'_>],
            _: &EvolveContext,
            _: &mut dyn Rng,
        ) -> Result<set_evolve::StepPlan, EvolveError> {
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
                        self.checked
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            Ok(set_evolve::StepPlan {
                matrices: vec![Default::default(); matrices.len()],
                conservation: set_evolve::Conservation::PerMatrix,
            })
        }
    }

    /// The embedding's padding row is outside the topology: no stored entry at initialisation
    /// (with the exact nnz of the density kept, placed in the other rows) and none after many
    /// regrowth steps of every policy, so the dense export's `<pad>` row is zero.
    #[test]
    fn the_padding_row_never_holds_entries() {
        let pad_row = |model: &Classifier<f32>| {
            let m = model.embedding.value.as_sparse().unwrap();
            (m.row_range(PAD_ID as usize).len(), m.nnz())
        };
        for seed in 0..5 {
            let (model, ..) = setup(seed);
            let want = set_sparse::nnz_for_density(0.3, 40, 6).unwrap();
            assert_eq!(pad_row(&model), (0, want), "seed {seed}");
        }
        for policy_cfg in [
            PolicyConfig::default(),
            PolicyConfig::Set(set_evolve::SetConfig {
                regrow_into_removed: true,
                ..Default::default()
            }),
            PolicyConfig::Rigl(Default::default()),
            PolicyConfig::Snfs(Default::default()),
        ] {
            let (mut model, mut opt, tokens, lengths, labels) = setup(11);
            let batch = BatchRef {
                tokens: &tokens,
                lengths: &lengths,
                seq_len: 7,
            };
            let mut rng = ChaCha8Rng::seed_from_u64(12);
            let mut policy = policy_cfg.build();
            let mut tracker = TopologyTracker::new();
            let nnz = pad_row(&model).1;
            for epoch in 0..40usize {
                model
                    .train_step(&batch, &labels, &mut rng, epoch as u64)
                    .unwrap();
                opt.step(model.params_mut());
                let ctx = EvolveContext::new(epoch, 41, 0.5).unwrap();
                evolve_model(
                    &mut model,
                    &mut opt,
                    &mut *policy,
                    &ctx,
                    &mut tracker,
                    &mut rng,
                )
                .unwrap();
                let (row0, now) = pad_row(&model);
                assert_eq!(row0, 0, "{policy_cfg:?}: epoch {epoch} regrew into <pad>");
                if !matches!(policy_cfg, PolicyConfig::Snfs(_)) {
                    assert_eq!(now, nnz, "{policy_cfg:?}");
                }
            }
            let dense = model.embedding.value.as_sparse().unwrap().to_dense();
            assert!(dense.row(PAD_ID as usize).iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn lent_row_gradients_match_the_sparse_gradients() {
        check_row_gradients(Default::default(), 50);
    }

    /// Every matrix of every layer and direction of a stacked bidirectional GRU gets its own
    /// row gradient (the recurrent one from the GRU's recurrent gate gradients).
    #[test]
    fn lent_row_gradients_match_for_a_stacked_bidirectional_gru() {
        let arch = crate::RnnArch {
            cell: crate::CellKind::Gru,
            layers: 2,
            bidirectional: true,
            dropout_between: 0.2,
            upper_ih: None,
        };
        check_row_gradients(arch, 300);
    }

    fn check_row_gradients(arch: crate::RnnArch, min_checked: usize) {
        let (mut model, mut opt, tokens, lengths, labels) = setup_arch(1, arch);
        let batch = BatchRef {
            tokens: &tokens,
            lengths: &lengths,
            seq_len: 7,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        model.train_step(&batch, &labels, &mut rng, 0).unwrap();
        let grads = model
            .params()
            .iter()
            .filter(|p| p.is_matrix())
            .map(|p| p.grad.clone())
            .collect();
        let mut probe = Probe {
            grads,
            checked: Default::default(),
        };
        let ctx = EvolveContext::new(0, 3, 0.3).unwrap();
        let mut tracker = TopologyTracker::default();
        evolve_model(
            &mut model,
            &mut opt,
            &mut probe,
            &ctx,
            &mut tracker,
            &mut rng,
        )
        .unwrap();
        let checked = probe.checked.into_inner();
        assert!(checked > min_checked, "checked {}", checked);
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
            let mut tracker = TopologyTracker::new();
            for epoch in 0..2 {
                for step in 0..3 {
                    model.train_step(&batch, &labels, &mut rng, step).unwrap();
                    opt.step(model.params_mut());
                }
                let ctx = EvolveContext::new(epoch, 3, 0.3).unwrap();
                let report = evolve_model(
                    &mut model,
                    &mut opt,
                    policy.as_mut(),
                    &ctx,
                    &mut tracker,
                    &mut rng,
                )
                .unwrap();
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

    #[test]
    fn optimizer_state_is_found_by_name_and_moves_with_its_weight() {
        // Only the output layer and the recurrent matrix are sparse: the table, not a position,
        // says where their state lives.
        let cfg = ClassifierConfig {
            vocab_size: 30,
            embed_dim: 4,
            hidden: 8,
            classes: 3,
            embedding: Storage::Dense,
            lstm_ih: Storage::Dense,
            lstm_hh: Storage::Sparse { density: 0.4 },
            output: Storage::Sparse { density: 0.6 },
            pooling: Pooling::Mean,
            dropout_embed: 0.0,
            dropout_output: 0.0,
            activation: ActivationMode::Fast,
            rnn: Default::default(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut model = Classifier::<f32>::new(cfg, &mut rng).unwrap();
        let mut opt = Optimizer::new(OptimizerConfig::adam_default(0.01), model.params());
        // A distinct state value per (parameter, buffer, entry).
        for (i, st) in opt.state.iter_mut().enumerate() {
            for (j, buf) in st.iter_mut().enumerate() {
                for (k, x) in buf.iter_mut().enumerate() {
                    *x = (i * 100_000 + j * 10_000 + k + 1) as f32;
                }
            }
        }
        let specs = model.config.param_specs().unwrap();
        let slot = |name: &str| specs.iter().position(|s| s.name == name).unwrap();
        type Entries = HashMap<(usize, usize), [f32; 2]>;
        let entries = |model: &Classifier<f32>, opt: &Optimizer<f32>, name: &str| -> Entries {
            let m = model
                .param(name)
                .unwrap()
                .value
                .as_sparse()
                .unwrap()
                .clone();
            let st = &opt.state[slot(name)];
            m.entries()
                .map(|(r, c, k)| ((r, c), [st[0][k], st[1][k]]))
                .collect()
        };
        let sparse = ["lstm.weight_hh_l0", "fc.weight"];
        let before: Vec<Entries> = sparse.iter().map(|n| entries(&model, &opt, n)).collect();
        let dense_before = [
            opt.state[slot("fc.bias")].clone(),
            opt.state[slot("embedding.weight")].clone(),
        ];

        let mut tracker = TopologyTracker::new();
        let ctx = EvolveContext::new(0, 3, 0.5).unwrap();
        let mut policy = PolicyConfig::default().build();
        let report = evolve_model(
            &mut model,
            &mut opt,
            policy.as_mut(),
            &ctx,
            &mut tracker,
            &mut rng,
        )
        .unwrap();

        let names: Vec<&str> = report.matrices.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, sparse);
        for ((name, old), m) in sparse.iter().zip(&before).zip(&report.matrices) {
            assert!(m.removed > 0, "{name}: no churn");
            let new = entries(&model, &opt, name);
            assert_eq!(new.len(), old.len(), "{name}");
            let mut survivors = 0;
            for (pos, state) in &new {
                match old.get(pos) {
                    // A survivor keeps exactly its own state; a new connection starts from 0.
                    Some(s) if *state != [0.0; 2] => {
                        assert_eq!(state, s, "{name} {pos:?}");
                        survivors += 1;
                    }
                    _ => assert_eq!(*state, [0.0; 2], "{name} {pos:?}"),
                }
            }
            assert_eq!(survivors, old.len() - m.removed, "{name}");
            // The tracker handed in holds the union of both topologies.
            let union = old
                .keys()
                .chain(new.keys())
                .collect::<std::collections::HashSet<_>>();
            assert_eq!(
                tracker.ever_active(name),
                Some(union.len() as u64),
                "{name}"
            );
        }
        assert_eq!(
            tracker.names().collect::<Vec<_>>(),
            ["fc.weight", "lstm.weight_hh_l0"]
        );
        // Dense parameters and biases keep their state untouched.
        assert_eq!(opt.state[slot("fc.bias")], dense_before[0]);
        assert_eq!(opt.state[slot("embedding.weight")], dense_before[1]);
    }

    #[test]
    fn init_std_matches_the_initial_values() {
        // Wide enough matrices that the sample std is within a few percent of the truth.
        for (embedding, lstm) in [
            (Storage::Dense, Storage::Dense),
            (
                Storage::Sparse { density: 0.5 },
                Storage::Sparse { density: 0.3 },
            ),
            (
                Storage::Sparse { density: 0.05 },
                Storage::Sparse { density: 0.02 },
            ),
        ] {
            let cfg = ClassifierConfig {
                vocab_size: 400,
                embed_dim: 40,
                hidden: 60,
                classes: 2,
                embedding,
                lstm_ih: lstm,
                lstm_hh: lstm,
                output: Storage::Dense,
                pooling: Pooling::Last,
                dropout_embed: 0.0,
                dropout_output: 0.0,
                activation: ActivationMode::Fast,
                rnn: Default::default(),
            };
            let model =
                Classifier::<f32>::new(cfg.clone(), &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
            let specs = cfg.param_specs().unwrap();
            for p in model.params() {
                let Some(spec) = specs.iter().find(|s| s.name == p.name && s.is_matrix()) else {
                    continue;
                };
                let v = p.values();
                let n = v.len() as f64;
                let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
                let sd = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
                let want = init_std(spec, 60);
                // The sample std's relative spread is about 0.5 / sqrt(n) for these
                // distributions: allow 5 of those.
                assert!(
                    (sd / want - 1.0).abs() < 2.5 / n.sqrt(),
                    "{}: sample std {sd} vs {want} ({} values)",
                    p.name,
                    v.len()
                );
            }
        }
    }
}
