//! The sentiment classifier: sparse embedding -> dropout -> sparse recurrent layers (LSTM or GRU,
//! stacked, optionally bidirectional; `stack.rs`) -> pooling -> dropout -> output layer ->
//! softmax cross-entropy. Forward returns an explicit cache; backward consumes it.

pub use crate::config::{
    CellKind, ClassifierConfig, GRU_GATES, LSTM_GATES, ParamKind, ParamSpec, Pooling, RnnArch,
    Storage,
};
use crate::config::{EMBEDDING, FC_BIAS, FC_WEIGHT, RNN_PARAMS, rnn_param_name};
use crate::dropout::{apply_mask, dropout_mask};
use crate::error::NnError;
use crate::loss::softmax_cross_entropy;
use crate::lstm::{Lstm, LstmCache};
use crate::param::{Param, ParamValue};
use crate::stack;
use ndarray::{Array1, Array2, Array3, ArrayView2, Axis, s};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal};
use set_sparse::{Scalar, SparseMatrix};

/// A padded batch of token ids, time-major: `tokens[t * batch + b]`, padding id 0.
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// Token ids, `seq_len * batch` of them.
    pub tokens: &'a [u32],
    /// Each sequence's length, in `1..=seq_len`.
    pub lengths: &'a [usize],
    /// Padded length.
    pub seq_len: usize,
}

/// The padding token id: its embedding is zero and it receives no gradient.
pub const PAD_ID: u32 = 0;

/// The model. Parameters are public for optimizers, evolution and checkpoints; their names,
/// shapes and order come from one table ([`ClassifierConfig::param_specs`]).
#[derive(Debug, Clone)]
pub struct Classifier<T: Scalar> {
    /// Settings it was built with.
    pub config: ClassifierConfig,
    /// `embedding.weight` `[V, E]`.
    pub embedding: Param<T>,
    /// The recurrent cells, layer by layer and, within a layer, forward then reverse direction
    /// (PyTorch's order); one entry for the default one-layer unidirectional model.
    pub rnn: Vec<Lstm<T>>,
    /// `fc.weight` `[C, D H]` (`D` = 2 when bidirectional).
    pub out_weight: Param<T>,
    /// `fc.bias` `[C]`.
    pub out_bias: Param<T>,
    /// The last training step's activations and workspace (reused by the next step; lent to
    /// evolution through [`Classifier::evolution_inputs`]).
    pub(crate) scratch: ForwardCache<T>,
}

/// Everything forward computed that backward needs. Reusing one cache across steps
/// ([`Classifier::forward_into`]) reuses its large buffers.
#[derive(Debug, Clone, Default)]
pub struct ForwardCache<T: Scalar> {
    /// Token ids of the steps actually run, time-major `[T * B]`.
    pub tokens: Vec<u32>,
    emb_mask: Option<Array3<T>>,
    /// Each recurrent cell's activations and backward workspace, in [`Classifier::rnn`]'s order.
    pub rnn: Vec<LstmCache<T>>,
    /// Dropout masks on the inputs of layers 1.. (training with `dropout_between > 0`).
    between_masks: Vec<Option<Array3<T>>>,
    /// Pooled (dropped-out) recurrent outputs `[D H, B]` fed to the output layer.
    pub pooled: Array2<T>,
    out_mask: Option<Array2<T>>,
    /// Logits `[C, B]`.
    pub logits: Array2<T>,
    /// Gradient of the loss with respect to the (dropped-out) embeddings `[T, E, B]`, from the
    /// last backward pass (gradient-based evolution reads it).
    pub d_embedded: Array3<T>,
    /// Gradient with respect to the logits `[C, B]` from the last backward pass.
    pub d_logits: Array2<T>,
}

impl<T: Scalar> ForwardCache<T> {
    /// Bytes held by the cached activations, dropout masks and backward workspaces: the
    /// activation memory of one training step at the largest batch seen so far.
    ///
    /// ```
    /// let cache = set_nn::ForwardCache::<f32>::default();
    /// assert_eq!(cache.memory_bytes(), 0);
    /// ```
    pub fn memory_bytes(&self) -> usize {
        let b = T::BYTES;
        self.tokens.capacity() * 4
            + self.emb_mask.as_ref().map_or(0, |m| m.len() * b)
            + self.rnn.iter().map(LstmCache::memory_bytes).sum::<usize>()
            + self
                .between_masks
                .iter()
                .map(|m| m.as_ref().map_or(0, |m| m.len() * b))
                .sum::<usize>()
            + (self.pooled.len() + self.logits.len() + self.d_logits.len()) * b
            + self.out_mask.as_ref().map_or(0, |m| m.len() * b)
            + self.d_embedded.len() * b
    }
}

/// Result of one training forward/backward.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Correct predictions in the batch.
    pub correct: usize,
    /// Batch size.
    pub batch: usize,
}

fn uniform_init<R: Rng>(k: f64) -> impl FnMut(&mut R) -> f64 {
    move |r: &mut R| r.random_range(-k..=k)
}

fn build_matrix<T: Scalar, R: Rng>(
    rows: usize,
    cols: usize,
    storage: Storage,
    rng: &mut R,
    mut init: impl FnMut(&mut R) -> f64,
) -> Result<ParamValue<T>, NnError> {
    Ok(match storage {
        Storage::Dense => ParamValue::Dense(Array2::from_shape_simple_fn((rows, cols), || {
            T::of_f64(init(rng))
        })),
        Storage::Sparse { density } => ParamValue::Sparse(
            SparseMatrix::random_density(rows, cols, density, rng, |r| T::of_f64(init(r)))
                .map_err(|e| NnError::Sparse {
                    name: format!("{rows}x{cols} matrix"),
                    source: e,
                })?,
        ),
    })
}

/// The embedding `[rows, cols]`: as [`build_matrix`], but the padding row ([`PAD_ID`]) is zero
/// and, when sparse, holds no stored entry at all. The sparse matrix keeps the exact nnz of its
/// density, drawn over the other rows (at most their `(rows - 1) * cols` positions), so that
/// padding is outside the topology from the start; evolution never regrows into it either
/// (`evolve_model` freezes the row).
fn build_embedding<T: Scalar, R: Rng>(
    rows: usize,
    cols: usize,
    storage: Storage,
    rng: &mut R,
    mut init: impl FnMut(&mut R) -> f64,
) -> Result<ParamValue<T>, NnError> {
    const _: () = assert!(PAD_ID == 0, "the padding row is the first row");
    let err = |e| NnError::Sparse {
        name: format!("{rows}x{cols} embedding"),
        source: e,
    };
    match storage {
        Storage::Sparse { density } if rows > 0 => {
            let nnz = set_sparse::nnz_for_density(density, rows, cols).map_err(err)?;
            let nnz = nnz.min((rows - 1) * cols);
            let rest = SparseMatrix::random(rows - 1, cols, nnz, rng, |r| T::of_f64(init(r)))
                .map_err(err)?;
            let mut indptr = Vec::with_capacity(rows + 1);
            indptr.push(0);
            indptr.extend_from_slice(rest.indptr());
            let m = SparseMatrix::try_new(
                rows,
                cols,
                indptr,
                rest.indices().to_vec(),
                rest.values().to_vec(),
            )
            .map_err(err)?;
            Ok(ParamValue::Sparse(m))
        }
        _ => {
            let mut m = build_matrix::<T, R>(rows, cols, storage, rng, init)?;
            zero_row(&mut m, PAD_ID as usize);
            Ok(m)
        }
    }
}

/// Init bound for a matrix: PyTorch's `k` when dense; when sparse, `1 / sqrt(density * fan_in)`
/// (never below `k`), so a unit with fewer inputs starts with a similar pre-activation scale.
fn sparse_scale(storage: Storage, fan_in: usize, k: f64) -> f64 {
    match storage {
        Storage::Dense => k,
        Storage::Sparse { density } => (1.0 / (density * fan_in as f64).max(1.0).sqrt()).max(k),
    }
}

impl<T: Scalar> Classifier<T> {
    /// Builds a randomly initialised model.
    ///
    /// Initialisation follows PyTorch for dense storage: embedding `N(0, 1)`, LSTM and output
    /// `U(-k, k)` with `k = 1 / sqrt(H)`. A sparse matrix keeps each unit's pre-activation scale
    /// by using `k = 1 / sqrt(max(1, density * H))`: with fewer inputs per unit, each weight is
    /// larger. All draws come from `rng`, in a fixed order.
    ///
    /// # Errors
    /// If the configuration is invalid.
    pub fn new<R: Rng>(config: ClassifierConfig, rng: &mut R) -> Result<Self, NnError> {
        let specs = config.param_specs()?;
        let normal = Normal::new(0.0, 1.0).expect("unit normal");
        let k = 1.0 / (config.hidden as f64).sqrt();
        // One parameter after the other in table order: the order of the random draws.
        let mut params = Vec::with_capacity(specs.len());
        for spec in &specs {
            let value = match spec.storage {
                None => ParamValue::Vector(Array1::from_shape_simple_fn(spec.shape[0], || {
                    T::of_f64(rng.random_range(-k..=k))
                })),
                Some(storage) => {
                    let (rows, cols) = (spec.shape[0], spec.shape[1]);
                    if spec.kind == ParamKind::Embedding {
                        build_embedding::<T, R>(rows, cols, storage, rng, |r| normal.sample(r))?
                    } else {
                        let scale = sparse_scale(storage, cols, k);
                        build_matrix::<T, R>(rows, cols, storage, rng, uniform_init(scale))?
                    }
                }
            };
            params.push(Param::new(spec.name.clone(), value));
        }
        Self::assemble(config, &specs, params)
    }

    /// Assembles a model from loaded parameters, checking every shape against `config`.
    ///
    /// # Errors
    /// [`NnError::Shape`] naming the first mismatched tensor, or an invalid config.
    pub fn from_params(config: ClassifierConfig, params: Vec<Param<T>>) -> Result<Self, NnError> {
        let specs = config.param_specs()?;
        if params.len() != specs.len() {
            return Err(NnError::Shape {
                name: "parameter list".into(),
                expected: vec![specs.len()],
                got: vec![params.len()],
            });
        }
        for (p, spec) in params.iter().zip(&specs) {
            if p.name != spec.name || p.value.shape() != spec.shape {
                return Err(NnError::Shape {
                    name: format!("{} (expected {})", p.name, spec.name),
                    expected: spec.shape.clone(),
                    got: p.value.shape(),
                });
            }
        }
        Self::assemble(config, &specs, params)
    }

    /// Places parameters (one per table entry, any order) into the model by name.
    fn assemble(
        config: ClassifierConfig,
        specs: &[ParamSpec],
        params: Vec<Param<T>>,
    ) -> Result<Self, NnError> {
        let mut slots: Vec<Option<Param<T>>> = params.into_iter().map(Some).collect();
        let embedding = take_named(&mut slots, specs, EMBEDDING.into())?;
        let arch = config.rnn;
        let mut rnn = Vec::with_capacity(arch.layers * arch.directions());
        for layer in 0..arch.layers {
            for dir in 0..arch.directions() {
                let mut four = Vec::with_capacity(4);
                for kind in RNN_PARAMS {
                    four.push(take_named(
                        &mut slots,
                        specs,
                        rnn_param_name(arch.cell, kind, layer, dir),
                    )?);
                }
                let four: [Param<T>; 4] = four.try_into().expect("four parameters");
                rnn.push(Lstm::with_cell(arch.cell, four, config.activation));
            }
        }
        let out_weight = take_named(&mut slots, specs, FC_WEIGHT.into())?;
        let out_bias = take_named(&mut slots, specs, FC_BIAS.into())?;
        Ok(Classifier {
            config,
            embedding,
            rnn,
            out_weight,
            out_bias,
            scratch: ForwardCache::default(),
        })
    }

    /// The parameter named `name` (a name of [`ClassifierConfig::param_specs`]).
    ///
    /// ```
    /// # use rand::SeedableRng;
    /// # use set_nn::{ActivationMode, Classifier, ClassifierConfig, Pooling, Storage};
    /// # let config = ClassifierConfig {
    /// #     vocab_size: 20, embed_dim: 4, hidden: 3, classes: 2,
    /// #     embedding: Storage::Dense, lstm_ih: Storage::Dense, lstm_hh: Storage::Dense,
    /// #     output: Storage::Sparse { density: 0.5 },
    /// #     pooling: Pooling::Last, dropout_embed: 0.0, dropout_output: 0.0,
    /// #     activation: ActivationMode::Fast, rnn: Default::default(),
    /// # };
    /// # let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let model = Classifier::<f32>::new(config, &mut rng).unwrap();
    /// assert_eq!(model.param("fc.weight").unwrap().value.shape(), vec![2, 3]);
    /// assert!(model.param("fc.weight").unwrap().value.as_sparse().is_some());
    /// assert!(model.param("nope").is_none());
    /// let names: Vec<&str> = model.named_params().into_iter().map(|(n, _)| n).collect();
    /// assert_eq!(names[3], "lstm.bias_ih_l0");
    /// ```
    pub fn param(&self, name: &str) -> Option<&Param<T>> {
        self.params().into_iter().find(|p| p.name == name)
    }

    /// The parameter named `name`, mutable.
    pub fn param_mut(&mut self, name: &str) -> Option<&mut Param<T>> {
        self.params_mut().into_iter().find(|p| p.name == name)
    }

    /// Every parameter with its name, in table order.
    pub fn named_params(&self) -> Vec<(&str, &Param<T>)> {
        self.params()
            .into_iter()
            .map(|p| (p.name.as_str(), p))
            .collect()
    }

    /// Bytes held by the last training step's activations and workspaces (see
    /// [`ForwardCache::memory_bytes`]).
    pub fn activation_memory_bytes(&self) -> usize {
        self.scratch.memory_bytes()
    }

    /// All parameters in table order ([`ClassifierConfig::param_specs`]; PyTorch names).
    pub fn params(&self) -> Vec<&Param<T>> {
        let mut all = vec![&self.embedding];
        all.extend(self.rnn.iter().flat_map(Lstm::params));
        all.extend([&self.out_weight, &self.out_bias]);
        all
    }

    /// Mutable parameters in the same order as [`Classifier::params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut all = vec![&mut self.embedding];
        all.extend(self.rnn.iter_mut().flat_map(Lstm::params_mut));
        all.extend([&mut self.out_weight, &mut self.out_bias]);
        all
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        self.params_mut().into_iter().for_each(Param::zero_grad);
    }

    /// Converts to another float type (gradient checks run in `f64`).
    pub fn cast<U: Scalar>(&self) -> Classifier<U> {
        let params = self
            .params()
            .into_iter()
            .map(|p| Param::new(p.name.clone(), p.value.cast()))
            .collect();
        Classifier::from_params(self.config.clone(), params).expect("same shapes")
    }

    /// Checks a batch from outside: lengths, token ids.
    ///
    /// # Errors
    /// [`NnError::Batch`] describing the first problem.
    pub fn validate_batch(&self, batch: &BatchRef<'_>) -> Result<(), NnError> {
        let b = batch.lengths.len();
        if b == 0 {
            return Err(NnError::Batch("empty batch".into()));
        }
        if batch.tokens.len() != batch.seq_len * b {
            return Err(NnError::Batch(format!(
                "{} tokens for seq_len {} x batch {b}",
                batch.tokens.len(),
                batch.seq_len
            )));
        }
        if let Some((i, &l)) = batch
            .lengths
            .iter()
            .enumerate()
            .find(|&(_, &l)| l == 0 || l > batch.seq_len)
        {
            return Err(NnError::Batch(format!(
                "sequence {i} has length {l}, expected 1..={}",
                batch.seq_len
            )));
        }
        if let Some(&id) = batch
            .tokens
            .iter()
            .find(|&&id| id as usize >= self.config.vocab_size)
        {
            return Err(NnError::Batch(format!(
                "token id {id} out of range for vocabulary of {}",
                self.config.vocab_size
            )));
        }
        Ok(())
    }

    /// Runs the model. With `train = Some(rng)`, dropout masks are drawn from `rng`; with
    /// `None` the model is deterministic (evaluation). Steps past the longest sequence are not
    /// run at all, so extra padding changes nothing.
    ///
    /// # Errors
    /// If the batch is malformed.
    pub fn forward<R: Rng>(
        &self,
        batch: &BatchRef<'_>,
        train: Option<&mut R>,
    ) -> Result<ForwardCache<T>, NnError> {
        let mut cache = ForwardCache::default();
        self.forward_into(batch, train, &mut cache)?;
        Ok(cache)
    }

    /// [`Classifier::forward`] into an existing cache, reusing its buffers.
    ///
    /// # Errors
    /// If the batch is malformed (the cache is then left empty).
    pub fn forward_into<R: Rng>(
        &self,
        batch: &BatchRef<'_>,
        train: Option<&mut R>,
        cache: &mut ForwardCache<T>,
    ) -> Result<(), NnError> {
        self.validate_batch(batch)?;
        let b = batch.lengths.len();
        let steps = *batch.lengths.iter().max().expect("non-empty");
        let mut tokens = std::mem::take(&mut cache.tokens);
        tokens.clear();
        tokens.extend_from_slice(&batch.tokens[..steps * b]);
        let e = self.config.embed_dim;
        let mut rnn = std::mem::take(&mut cache.rnn);
        let mut between_masks = std::mem::take(&mut cache.between_masks);
        let slot = rnn.first_mut().map(|c| &mut c.x);
        let mut x = match slot {
            Some(slot) => crate::lstm::recycle(slot, (steps, e, b), false),
            None => Array3::zeros((steps, e, b)),
        };
        for (t, x_t) in x.axis_iter_mut(Axis(0)).enumerate() {
            self.embedding
                .value
                .gather_rows(&tokens[t * b..(t + 1) * b], Some(PAD_ID), x_t);
        }
        let mut rng = train;
        let emb_mask = match rng.as_mut() {
            Some(r) => dropout_mask::<T, _>((steps, e, b), self.config.dropout_embed, &mut **r),
            None => None,
        };
        apply_mask(&mut x, &emb_mask);
        let arch = self.config.rnn;
        let dirs = arch.directions();
        stack::forward(
            &self.rnn,
            dirs,
            arch.dropout_between,
            x,
            batch.lengths,
            steps,
            rng.as_deref_mut(),
            &mut rnn,
            &mut between_masks,
        );
        let top = &rnn[rnn.len() - dirs..];
        let mut pooled = stack::pool(
            top,
            self.config.hidden,
            self.config.pooling == Pooling::Last,
        );
        let out_mask_rng = rng;
        let out_mask = match out_mask_rng {
            Some(rng) => dropout_mask::<T, _>(pooled.dim(), self.config.dropout_output, rng),
            None => None,
        };
        apply_mask(&mut pooled, &out_mask);
        let mut logits = Array2::<T>::zeros((self.config.classes, b));
        self.out_weight
            .value
            .matmul(pooled.view(), logits.view_mut(), false);
        let bias = self.out_bias.value.as_vector().expect("bias");
        for (mut row, &bv) in logits.axis_iter_mut(Axis(0)).zip(bias.iter()) {
            row.mapv_inplace(|v| v + bv);
        }
        *cache = ForwardCache {
            tokens,
            emb_mask,
            rnn,
            between_masks,
            pooled,
            out_mask,
            logits,
            d_embedded: std::mem::take(&mut cache.d_embedded),
            d_logits: std::mem::take(&mut cache.d_logits),
        };
        Ok(())
    }

    /// Back-propagates `d_logits` (`[C, B]`) through the cache, accumulating every parameter's
    /// gradient.
    ///
    /// # Panics
    /// If `d_logits` does not match the cache (caller bug).
    #[track_caller]
    pub fn backward(&mut self, cache: &mut ForwardCache<T>, d_logits: ArrayView2<'_, T>) {
        assert_eq!(
            d_logits.dim(),
            cache.logits.dim(),
            "backward: d_logits shape"
        );
        let b = cache.logits.ncols();
        self.out_weight.value.accumulate_grad(
            d_logits,
            cache.pooled.view(),
            &mut self.out_weight.grad,
        );
        for (k, row) in d_logits.axis_iter(Axis(0)).enumerate() {
            self.out_bias.grad[k] += row.iter().fold(T::zero(), |a, &v| a + v);
        }
        let mut d_pooled = Array2::<T>::zeros(cache.pooled.dim());
        self.out_weight
            .value
            .matmul_t(d_logits, d_pooled.view_mut(), false);
        apply_mask(&mut d_pooled, &cache.out_mask);
        let top = match self.config.pooling {
            Pooling::Last => stack::TopGrad::Last(d_pooled.view()),
            Pooling::Mean => stack::TopGrad::Mean(d_pooled.view()),
        };
        let dirs = self.config.rnn.directions();
        let mut dx = stack::backward(
            &mut self.rnn,
            dirs,
            &mut cache.rnn,
            &cache.between_masks,
            top,
        );
        apply_mask(&mut dx, &cache.emb_mask);
        for (t, dx_t) in dx.axis_iter(Axis(0)).enumerate() {
            self.embedding.value.scatter_add_rows(
                &cache.tokens[t * b..(t + 1) * b],
                Some(PAD_ID),
                dx_t,
                &mut self.embedding.grad,
            );
        }
        cache.d_embedded = dx;
        cache.d_logits = d_logits.to_owned();
    }

    /// Zeroes gradients, runs forward and backward with dropout from `rng`, and returns the
    /// mean loss and accuracy of the batch. Gradients are left in the parameters.
    ///
    /// # Errors
    /// A malformed batch or labels, or a non-finite loss (`step` names the step).
    pub fn train_step<R: Rng>(
        &mut self,
        batch: &BatchRef<'_>,
        labels: &[usize],
        rng: &mut R,
        step: u64,
    ) -> Result<StepStats, NnError> {
        self.check_labels(batch, labels)?;
        self.zero_grad();
        let mut cache = std::mem::take(&mut self.scratch);
        self.forward_into(batch, Some(rng), &mut cache)?;
        let (loss, d_logits, _) = softmax_cross_entropy(cache.logits.view(), labels);
        if !loss.is_finite() {
            return Err(NnError::NonFinite {
                what: "loss",
                tensor: "loss".into(),
                step,
            });
        }
        self.backward(&mut cache, d_logits.view());
        let correct = count_correct(cache.logits.view(), labels);
        self.scratch = cache;
        Ok(StepStats {
            loss,
            correct,
            batch: labels.len(),
        })
    }

    pub(crate) fn check_labels(
        &self,
        batch: &BatchRef<'_>,
        labels: &[usize],
    ) -> Result<(), NnError> {
        if labels.len() != batch.lengths.len() {
            return Err(NnError::Batch(format!(
                "{} labels for {} sequences",
                labels.len(),
                batch.lengths.len()
            )));
        }
        if let Some(&l) = labels.iter().find(|&&l| l >= self.config.classes) {
            return Err(NnError::Batch(format!(
                "label {l} out of range for {} classes",
                self.config.classes
            )));
        }
        Ok(())
    }

    /// The first parameter whose gradient holds a NaN or infinity.
    ///
    /// # Errors
    /// [`NnError::NonFinite`] naming the tensor and step.
    pub fn check_finite_grads(&self, step: u64) -> Result<(), NnError> {
        for p in self.params() {
            if p.grad.iter().any(|g| !g.is_finite()) {
                return Err(NnError::NonFinite {
                    what: "gradient",
                    tensor: p.name.clone(),
                    step,
                });
            }
        }
        Ok(())
    }

    /// The first parameter whose values hold a NaN or infinity.
    ///
    /// # Errors
    /// [`NnError::NonFinite`] naming the tensor and step.
    pub fn check_finite_weights(&self, step: u64) -> Result<(), NnError> {
        for p in self.params() {
            if p.values().iter().any(|g| !g.is_finite()) {
                return Err(NnError::NonFinite {
                    what: "weight",
                    tensor: p.name.clone(),
                    step,
                });
            }
        }
        Ok(())
    }
}

/// Number of columns whose arg-max equals the label (ties go to the lower class).
pub fn count_correct<T: Scalar>(logits: ArrayView2<'_, T>, labels: &[usize]) -> usize {
    labels
        .iter()
        .enumerate()
        .filter(|&(b, &l)| argmax(logits.slice(s![.., b]).iter().copied()) == l)
        .count()
}

/// Index of the largest value (first on ties).
pub fn argmax<T: Scalar>(values: impl Iterator<Item = T>) -> usize {
    let mut best = (0, T::neg_infinity());
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best.0
}

/// Takes the parameter named `name` out of `slots`, checking its shape against the table.
fn take_named<T: Scalar>(
    slots: &mut [Option<Param<T>>],
    specs: &[ParamSpec],
    name: String,
) -> Result<Param<T>, NnError> {
    let found = slots
        .iter_mut()
        .find(|p| p.as_ref().is_some_and(|p| p.name == name))
        .and_then(Option::take);
    let spec = specs.iter().find(|s| s.name == name);
    match (found, spec) {
        (Some(p), Some(spec)) if p.value.shape() == spec.shape => Ok(p),
        (found, spec) => Err(NnError::Shape {
            name,
            expected: spec.map(|s| s.shape.clone()).unwrap_or_default(),
            got: found.map(|p| p.value.shape()).unwrap_or_default(),
        }),
    }
}

fn zero_row<T: Scalar>(m: &mut ParamValue<T>, row: usize) {
    match m {
        ParamValue::Sparse(s) => {
            let r = s.row_range(row);
            s.values_mut()[r].iter_mut().for_each(|v| *v = T::zero());
        }
        ParamValue::Dense(a) => a.row_mut(row).fill(T::zero()),
        ParamValue::Vector(_) => {}
    }
}
