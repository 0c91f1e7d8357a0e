//! Inference: the forward pass without anything backward needs.
//!
//! Training's forward ([`crate::lstm::Lstm::forward_into`]) keeps every step's gate
//! activations, cell and hidden states and `tanh(c)`: `~(4 + 3) H B T` values written once and
//! read again by backward. Inference needs none of them: it keeps the current cell and hidden
//! state (`[H, B]`, double-buffered) and the input projection of a chunk of steps at a time
//! (sized to stay in the L2 cache), all in an [`InferScratch`] that is reused from batch to
//! batch, so the time loop allocates nothing.
//!
//! Sequences of a batch are independent, so with several rayon workers a batch of at least
//! `2 * 16` sequences is cut into one contiguous shard per worker, and each worker runs the whole
//! time loop of its shard on its own thread, with the kernels single-threaded
//! ([`set_sparse::workers::serial`]). Splitting each step's products and gate math across the
//! workers instead costs two fork-joins per step and moves the state between cores every step;
//! at E = H = 256, B = 64, T = 100 on 2 threads the shards took one batch from 11.5 to 4.6 ms.
//!
//! The arithmetic is the training forward's, operation for operation (the same products per
//! step, the same [`crate::lstm::unit_step`]), so the logits are bit-identical to
//! [`Classifier::forward`] without dropout (tested on random shapes with padding and on real
//! models).
//!
//! The fused path covers the default architecture, one unidirectional LSTM layer. Stacked,
//! bidirectional and GRU models run the training forward without dropout (per shard, as
//! above) into a cache kept in the scratch (reused from batch to batch): the same logits,
//! without the memory saving.

use crate::activation::ActivationMode;
use crate::classifier::{
    BatchRef, CellKind, Classifier, ForwardCache, PAD_ID, Pooling, StepStats, count_correct,
};
use crate::error::NnError;
use crate::loss::softmax_cross_entropy;
use crate::lstm::{LstmShape, recycle, unit_step};
use crate::param::ParamValue;
use crate::rows::{RawRows, carry_finished, for_each_unit};
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis, s};
use rayon::prelude::*;
use set_sparse::Scalar;

/// Bytes of input projections computed ahead of the recurrence (one chunk of steps): small
/// enough to stay in L2 while the steps read them back.
const CHUNK_BYTES: usize = 1 << 20;

/// Sequences per shard below which a batch is not split across workers: one AVX-512 vector of
/// `f32`, the kernels' unit of work across the batch.
const MIN_SHARD: usize = 16;

/// Reusable buffers of [`Classifier::infer`]. Keep one per serving thread or evaluation loop;
/// its buffers grow to the largest batch seen and are then reused.
///
/// ```
/// let scratch = set_nn::InferScratch::<f32>::default();
/// assert_eq!(scratch.memory_bytes(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct InferScratch<T: Scalar> {
    /// The recurrence's buffers when the batch runs as one piece.
    whole: RecurrentScratch<T>,
    /// One shard's tokens and buffers per worker when the batch is split.
    shards: Vec<Shard<T>>,
    /// The shards' pooled vectors side by side `[H, B]`.
    joined: Array2<T>,
    /// Logits `[C, B]`.
    logits: Array2<T>,
    /// The training forward's cache, for architectures the fused path does not cover.
    cache: ForwardCache<T>,
}

/// One worker's part of a split batch: its sequences' tokens (time-major) and buffers.
#[derive(Debug, Clone, Default)]
struct Shard<T: Scalar> {
    tokens: Vec<u32>,
    rec: RecurrentScratch<T>,
    /// The training forward's cache, for architectures the fused path does not cover.
    cache: ForwardCache<T>,
}

/// The buffers of the fused recurrence over one batch (or shard).
#[derive(Debug, Clone, Default)]
struct RecurrentScratch<T: Scalar> {
    /// Embedded inputs of one chunk of `K` steps `[E, K * B]` (column `dt * B + b`).
    x: Array2<T>,
    /// Gate pre-activations of one chunk of steps `[4H, K * B]`.
    pre: Array2<T>,
    /// The current step's gates `[4H, B]` when they are not updated in place in `pre`.
    gates: Array2<T>,
    /// The current step's inputs `[E, B]` (dense `W_ih` only).
    x_step: Array2<T>,
    /// Cell state before and after the current step `[H, B]`.
    c: [Array2<T>; 2],
    /// Hidden state before and after the current step `[H, B]`.
    h: [Array2<T>; 2],
    /// Mean-pooled outputs `[H, B]` (mean pooling only).
    pooled: Array2<T>,
}

impl<T: Scalar> RecurrentScratch<T> {
    fn len(&self) -> usize {
        let [c0, c1] = &self.c;
        let [h0, h1] = &self.h;
        self.x.len()
            + self.pre.len()
            + self.gates.len()
            + self.x_step.len()
            + c0.len()
            + c1.len()
            + h0.len()
            + h1.len()
            + self.pooled.len()
    }

    /// The pooled vectors `[H, B]` after [`Classifier::infer_lstm`]: the mean of the outputs, or
    /// the final state (`h[0]`: the buffers swap after each step).
    fn pooled(&self, mean: bool) -> ArrayView2<'_, T> {
        if mean {
            self.pooled.view()
        } else {
            self.h[0].view()
        }
    }
}

impl<T: Scalar> InferScratch<T> {
    /// Bytes held by the buffers.
    pub fn memory_bytes(&self) -> usize {
        let shards: usize = self
            .shards
            .iter()
            .map(|s| s.rec.len() * T::BYTES + s.tokens.len() * 4)
            .sum();
        (self.whole.len() + self.joined.len() + self.logits.len()) * T::BYTES + shards
    }
}

impl<T: Scalar> Classifier<T> {
    /// Logits `[C, B]` of a batch without dropout, through the inference path (no activation
    /// cache). Bit-identical to `forward(batch, None)`'s logits.
    ///
    /// ```
    /// # use rand::SeedableRng;
    /// # use set_nn::{ActivationMode, BatchRef, Classifier, ClassifierConfig, InferScratch, Pooling, Storage};
    /// # let config = ClassifierConfig {
    /// #     vocab_size: 20, embed_dim: 4, hidden: 3, classes: 2,
    /// #     embedding: Storage::Dense, lstm_ih: Storage::Sparse { density: 0.5 },
    /// #     lstm_hh: Storage::Sparse { density: 0.5 }, output: Storage::Dense,
    /// #     pooling: Pooling::Last, dropout_embed: 0.0, dropout_output: 0.0,
    /// #     activation: ActivationMode::Fast, rnn: Default::default(),
    /// # };
    /// # let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    /// let model = Classifier::<f32>::new(config, &mut rng).unwrap();
    /// // Two sequences, time-major, the second padded after one token.
    /// let batch = BatchRef { tokens: &[5, 7, 6, 0], lengths: &[2, 1], seq_len: 2 };
    /// let mut scratch = InferScratch::default();
    /// let logits = model.infer(&batch, &mut scratch).unwrap().to_owned();
    /// let reference = model.forward::<rand_chacha::ChaCha8Rng>(&batch, None).unwrap().logits;
    /// assert_eq!(logits, reference);
    /// ```
    ///
    /// # Errors
    /// If the batch is malformed.
    pub fn infer<'s>(
        &self,
        batch: &BatchRef<'_>,
        scratch: &'s mut InferScratch<T>,
    ) -> Result<ArrayView2<'s, T>, NnError> {
        self.infer_chunked(batch, scratch, CHUNK_BYTES)
    }

    /// [`Classifier::infer`] with input projections computed `chunk_bytes` at a time.
    fn infer_chunked<'s>(
        &self,
        batch: &BatchRef<'_>,
        scratch: &'s mut InferScratch<T>,
        chunk_bytes: usize,
    ) -> Result<ArrayView2<'s, T>, NnError> {
        self.validate_batch(batch)?;
        let b = batch.lengths.len();
        let mean = self.config.pooling == Pooling::Mean;
        let fused = self.fused_inference();
        let shards = (b / MIN_SHARD).min(set_sparse::workers::workers()).max(1);
        let InferScratch {
            whole,
            shards: parts,
            joined,
            logits,
            cache,
        } = scratch;
        let pooled = if shards > 1 {
            self.infer_sharded(batch, mean, fused, shards, parts, joined, chunk_bytes)?;
            joined.view()
        } else if fused {
            self.infer_lstm(batch, mean, whole, chunk_bytes);
            whole.pooled(mean)
        } else {
            self.forward_into::<rand_chacha::ChaCha8Rng>(batch, None, cache)?;
            cache.pooled.view()
        };
        let mut out = recycle(logits, (self.config.classes, b), false);
        self.out_weight.value.matmul(pooled, out.view_mut(), false);
        let bias = self.out_bias.value.as_vector().expect("bias");
        for (mut row, &bv) in out.axis_iter_mut(Axis(0)).zip(bias.iter()) {
            row.mapv_inplace(|v| v + bv);
        }
        *logits = out;
        Ok(logits.view())
    }

    /// The recurrence over `batch` split into `count` contiguous shards of sequences, one per
    /// worker, each running every time step on its own thread ([`set_sparse::workers::serial`]):
    /// no fork-join per step and no state crossing cores. Each sequence's arithmetic does not
    /// depend on the other sequences in its batch, so the pooled vectors (written side by side
    /// into `joined`) are the bits of the unsplit recurrence. Without `fused`, each shard runs
    /// the training forward without dropout.
    #[allow(clippy::too_many_arguments)]
    fn infer_sharded(
        &self,
        batch: &BatchRef<'_>,
        mean: bool,
        fused: bool,
        count: usize,
        parts: &mut Vec<Shard<T>>,
        joined: &mut Array2<T>,
        chunk_bytes: usize,
    ) -> Result<(), NnError> {
        let b = batch.lengths.len();
        let width = self.config.rnn.directions() * self.config.hidden;
        parts.resize_with(count, Shard::default);
        let range = |k: usize| k * b / count..(k + 1) * b / count;
        parts.par_iter_mut().enumerate().try_for_each(|(k, part)| {
            let cols = range(k);
            let lengths = &batch.lengths[cols.clone()];
            let steps = *lengths.iter().max().expect("a shard has sequences");
            part.tokens.clear();
            for t in 0..steps {
                part.tokens
                    .extend_from_slice(&batch.tokens[t * b + cols.start..t * b + cols.end]);
            }
            let shard = BatchRef {
                tokens: &part.tokens,
                lengths,
                seq_len: steps,
            };
            set_sparse::workers::serial(|| {
                if fused {
                    self.infer_lstm(&shard, mean, &mut part.rec, chunk_bytes);
                    Ok(())
                } else {
                    self.forward_into::<rand_chacha::ChaCha8Rng>(&shard, None, &mut part.cache)
                }
            })
        })?;
        let mut out = recycle(joined, (width, b), false);
        for (k, part) in parts.iter().enumerate() {
            let pooled = if fused {
                part.rec.pooled(mean)
            } else {
                part.cache.pooled.view()
            };
            out.slice_mut(s![.., range(k)]).assign(&pooled);
        }
        *joined = out;
        Ok(())
    }

    /// Loss and accuracy without dropout or gradients ([`Classifier::evaluate_in`] with fresh
    /// buffers; loops should keep one [`crate::InferScratch`] and call that).
    ///
    /// # Errors
    /// A malformed batch or labels.
    pub fn evaluate(&self, batch: &BatchRef<'_>, labels: &[usize]) -> Result<StepStats, NnError> {
        self.evaluate_in(batch, labels, &mut InferScratch::default())
    }

    /// Logits `[C, B]` for a batch, without dropout ([`Classifier::infer`] with fresh buffers).
    ///
    /// # Errors
    /// A malformed batch.
    pub fn logits(&self, batch: &BatchRef<'_>) -> Result<Array2<T>, NnError> {
        Ok(self.infer(batch, &mut InferScratch::default())?.to_owned())
    }

    /// Loss and accuracy of a batch without dropout or gradients, through [`Classifier::infer`].
    ///
    /// # Errors
    /// A malformed batch or labels.
    pub fn evaluate_in(
        &self,
        batch: &BatchRef<'_>,
        labels: &[usize],
        scratch: &mut InferScratch<T>,
    ) -> Result<StepStats, NnError> {
        self.check_labels(batch, labels)?;
        let logits = self.infer(batch, scratch)?;
        let (loss, _, _) = softmax_cross_entropy(logits, labels);
        Ok(StepStats {
            loss,
            correct: count_correct(logits, labels),
            batch: labels.len(),
        })
    }
}

impl<T: Scalar> Classifier<T> {
    /// Whether [`Classifier::infer`] takes the fused path: one unidirectional LSTM layer.
    fn fused_inference(&self) -> bool {
        matches!(self.rnn.as_slice(), [layer] if layer.cell == CellKind::Lstm)
    }

    /// Runs the embedding and the LSTM over `batch` (already validated), leaving the final
    /// state in `scratch.h[0]` and, with `mean`, the mean of each sequence's outputs in
    /// `scratch.pooled` (see [`RecurrentScratch::pooled`]).
    fn infer_lstm(
        &self,
        batch: &BatchRef<'_>,
        mean: bool,
        scratch: &mut RecurrentScratch<T>,
        chunk_bytes: usize,
    ) {
        let lstm = &self.rnn[0];
        let LstmShape {
            d_input: e,
            d_hidden: h,
        } = lstm.shape();
        let lengths = batch.lengths;
        let b = lengths.len();
        let steps = *lengths.iter().max().expect("validated: non-empty");
        let per_step = 4 * h * b * T::BYTES;
        let min_chunk = 2 * set_sparse::workers::workers();
        let chunk = (chunk_bytes / per_step.max(1)).max(min_chunk).min(steps);
        // Column `dt * b + j` of a chunk is sequence `j` at step `t0 + dt`: the input projection
        // of a chunk is one product with `chunk * b` columns, efficient even for one sequence.
        let mut x = recycle(&mut scratch.x, (e, chunk * b), false);
        let mut pre = recycle(&mut scratch.pre, (4 * h, chunk * b), false);
        // A step's gates go to a contiguous `[4H, B]` buffer (instead of being updated in place
        // in `pre`) for one sequence, so that the gate math runs across hidden units (16 per
        // vector) rather than across the batch, and whenever a matrix is dense, so that the
        // dense products see the training forward's shapes and strides (their sums are then
        // formed in the same order).
        let dense_ih = !matches!(lstm.w_ih.value, ParamValue::Sparse(_));
        let contiguous = b == 1 || dense_ih || !matches!(lstm.w_hh.value, ParamValue::Sparse(_));
        let mut gates = recycle(
            &mut scratch.gates,
            if contiguous { (4 * h, b) } else { (0, 0) },
            false,
        );
        let mut x_step = recycle(
            &mut scratch.x_step,
            if dense_ih { (e, b) } else { (0, 0) },
            false,
        );
        let [c0, c1] = &mut scratch.c;
        let [h0, h1] = &mut scratch.h;
        let (mut c_cur, mut c_nxt) = (recycle(c0, (h, b), true), recycle(c1, (h, b), false));
        let (mut h_cur, mut h_nxt) = (recycle(h0, (h, b), true), recycle(h1, (h, b), false));
        let mut pooled = recycle(
            &mut scratch.pooled,
            if mean { (h, b) } else { (0, 0) },
            true,
        );
        let bias = lstm.fused_bias();
        let bias = bias.as_slice().expect("contiguous bias");
        let fast = lstm.mode == ActivationMode::Fast;
        for t0 in (0..steps).step_by(chunk) {
            let k = chunk.min(steps - t0);
            let cols = s![.., ..k * b];
            self.embedding.value.gather_rows(
                &batch.tokens[t0 * b..(t0 + k) * b],
                Some(PAD_ID),
                x.slice_mut(cols),
            );
            if !dense_ih {
                lstm.w_ih
                    .value
                    .matmul(x.slice(cols), pre.slice_mut(cols), false);
            }
            for dt in 0..k {
                let t = t0 + dt;
                let step = s![.., dt * b..(dt + 1) * b];
                let mut g_t = pre.slice_mut(step);
                if contiguous {
                    if dense_ih {
                        x_step.assign(&x.slice(step));
                        lstm.w_ih
                            .value
                            .matmul(x_step.view(), gates.view_mut(), false);
                    } else {
                        gates.assign(&g_t);
                    }
                    lstm.w_hh.value.matmul(h_cur.view(), gates.view_mut(), true);
                    if b == 1 {
                        let (g, c_prev, c_next, h_next) = (
                            gates.as_slice().expect("contiguous"),
                            c_cur.as_slice().expect("contiguous"),
                            c_nxt.as_slice_mut().expect("contiguous"),
                            h_nxt.as_slice_mut().expect("contiguous"),
                        );
                        cell_infer_units(fast, bias, g, c_prev, c_next, h_next);
                    } else {
                        cell_infer_rows(
                            fast,
                            bias,
                            &mut gates.view_mut(),
                            &mut c_cur,
                            &mut c_nxt,
                            &mut h_nxt,
                        );
                    }
                } else {
                    lstm.w_hh.value.matmul(h_cur.view(), g_t.view_mut(), true);
                    cell_infer_rows(fast, bias, &mut g_t, &mut c_cur, &mut c_nxt, &mut h_nxt);
                }
                // Finished sequences keep their state.
                carry_finished(lengths, t, c_cur.view(), c_nxt.view_mut());
                carry_finished(lengths, t, h_cur.view(), h_nxt.view_mut());
                if mean {
                    for (bi, &len) in lengths.iter().enumerate() {
                        if t < len {
                            let inv = T::of_f64(1.0 / len as f64);
                            pooled.column_mut(bi).scaled_add(inv, &h_nxt.column(bi));
                        }
                    }
                }
                std::mem::swap(&mut c_cur, &mut c_nxt);
                std::mem::swap(&mut h_cur, &mut h_nxt);
            }
        }
        scratch.x = x;
        scratch.pre = pre;
        scratch.gates = gates;
        scratch.x_step = x_step;
        scratch.c = [c_cur, c_nxt];
        scratch.h = [h_cur, h_nxt];
        scratch.pooled = pooled;
    }
}

/// The gate math of one step over the batch, hidden units split across workers: `gates`
/// `[4H, B]` (rows contiguous, any row stride), states `[H, B]`.
fn cell_infer_rows<T: Scalar>(
    fast: bool,
    bias: &[T],
    gates: &mut ArrayViewMut2<'_, T>,
    c_cur: &mut Array2<T>,
    c_nxt: &mut Array2<T>,
    h_nxt: &mut Array2<T>,
) {
    let (h, b) = c_cur.dim();
    let (g_rows, cp_rows, cn_rows, hn_rows) = (
        RawRows::new(gates),
        RawRows::new(&mut c_cur.view_mut()),
        RawRows::new(&mut c_nxt.view_mut()),
        RawRows::new(&mut h_nxt.view_mut()),
    );
    for_each_unit(h, 6 * h * b, |r| {
        // SAFETY: unit `r` is handled by exactly one worker and touches only rows r, H + r,
        // 2H + r, 3H + r of the gates and row r of the states.
        unsafe {
            cell_infer(
                fast,
                [bias[r], bias[h + r], bias[2 * h + r], bias[3 * h + r]],
                g_rows.row(r),
                g_rows.row(h + r),
                g_rows.row(2 * h + r),
                g_rows.row(3 * h + r),
                cp_rows.row(r),
                cn_rows.row(r),
                hn_rows.row(r),
            );
        }
    });
}

/// New cell and hidden state of one hidden unit over the batch. `g*` hold the gate
/// pre-activations without the unit's biases `bias` (input, forget, cell, output gate).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_infer_body<T: Scalar, const FMA: bool>(
    fast: bool,
    bias: [T; 4],
    gi: &[T],
    gf: &[T],
    gg: &[T],
    go: &[T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
) {
    if fast {
        cell_infer_loop::<T, true>(bias, gi, gf, gg, go, c_prev, c_next, h_next);
    } else {
        cell_infer_loop::<T, false>(bias, gi, gf, gg, go, c_prev, c_next, h_next);
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_infer_loop<T: Scalar, const FAST: bool>(
    bias: [T; 4],
    gi: &[T],
    gf: &[T],
    gg: &[T],
    go: &[T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
) {
    let n = c_prev.len();
    let (gi, gf, gg, go) = (&gi[..n], &gf[..n], &gg[..n], &go[..n]);
    let (c_next, h_next) = (&mut c_next[..n], &mut h_next[..n]);
    for b in 0..n {
        let ([_, _, _, o], c, tc) =
            unit_step::<T, FAST>(bias, [gi[b], gf[b], gg[b], go[b]], c_prev[b]);
        c_next[b] = c;
        h_next[b] = o * tc;
    }
}

/// One sequence's new cell and hidden state, all hidden units at once: `gates` `[4H]` and
/// `bias` `[4H]` stacked i, f, g, o; vectorises across units.
#[inline(always)]
fn cell_infer_units_body<T: Scalar, const FMA: bool>(
    fast: bool,
    bias: &[T],
    gates: &[T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
) {
    if fast {
        cell_infer_units_loop::<T, true>(bias, gates, c_prev, c_next, h_next);
    } else {
        cell_infer_units_loop::<T, false>(bias, gates, c_prev, c_next, h_next);
    }
}

#[inline(always)]
fn cell_infer_units_loop<T: Scalar, const FAST: bool>(
    bias: &[T],
    gates: &[T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
) {
    let h = c_prev.len();
    let (c_next, h_next) = (&mut c_next[..h], &mut h_next[..h]);
    let (bi, bf, bg, bo) = (
        &bias[..h],
        &bias[h..2 * h],
        &bias[2 * h..3 * h],
        &bias[3 * h..4 * h],
    );
    let (gi, gf, gg, go) = (
        &gates[..h],
        &gates[h..2 * h],
        &gates[2 * h..3 * h],
        &gates[3 * h..4 * h],
    );
    for r in 0..h {
        let ([_, _, _, o], c, tc) = unit_step::<T, FAST>(
            [bi[r], bf[r], bg[r], bo[r]],
            [gi[r], gf[r], gg[r], go[r]],
            c_prev[r],
        );
        c_next[r] = c;
        h_next[r] = o * tc;
    }
}

set_sparse::multiversion!(
    fn cell_infer_units<T>(fast: bool, bias: &[T], gates: &[T], c_prev: &[T], c_next: &mut [T], h_next: &mut [T]) => cell_infer_units_body
);

set_sparse::multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn cell_infer<T>(fast: bool, bias: [T; 4], gi: &[T], gf: &[T], gg: &[T], go: &[T], c_prev: &[T], c_next: &mut [T], h_next: &mut [T]) => cell_infer_body
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClassifierConfig, RnnArch, Storage};
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random model and a padded batch (lengths in `1..=t`, padding id 0 after each length,
    /// plus `extra` all-padding steps).
    #[allow(clippy::too_many_arguments)]
    fn model_and_batch<T: Scalar>(
        seed: u64,
        (v, e, h, c): (usize, usize, usize, usize),
        (b, t, extra): (usize, usize, usize),
        storages: [Storage; 3],
        pooling: Pooling,
        activation: ActivationMode,
        rnn: RnnArch,
    ) -> (Classifier<T>, Vec<u32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let config = ClassifierConfig {
            vocab_size: v,
            embed_dim: e,
            hidden: h,
            classes: c,
            embedding: storages[0],
            lstm_ih: storages[1],
            lstm_hh: storages[2],
            output: Storage::Dense,
            pooling,
            dropout_embed: 0.5,
            dropout_output: 0.5,
            activation,
            rnn,
        };
        let model = Classifier::<T>::new(config, &mut rng).unwrap();
        let lengths: Vec<usize> = (0..b).map(|_| rng.random_range(1..=t)).collect();
        let seq = t + extra;
        let mut tokens = vec![PAD_ID; seq * b];
        for (bi, &len) in lengths.iter().enumerate() {
            for step in 0..len {
                tokens[step * b + bi] = rng.random_range(1..v as u32);
            }
        }
        (model, tokens, lengths)
    }

    fn bits<T: Scalar>(a: ArrayView2<'_, T>) -> Vec<u64> {
        a.iter().map(|v| v.as_f64().to_bits()).collect()
    }

    /// The default architecture (fused path) and three the fallback runs.
    fn arch(k: usize) -> RnnArch {
        let (cell, layers, bidirectional) = match k {
            0 => (CellKind::Lstm, 1, false),
            1 => (CellKind::Lstm, 2, false),
            2 => (CellKind::Lstm, 1, true),
            _ => (CellKind::Gru, 2, true),
        };
        RnnArch {
            cell,
            layers,
            bidirectional,
            dropout_between: 0.5,
            ..RnnArch::default()
        }
    }

    fn storage(sparse: bool, density: f64) -> Storage {
        if sparse {
            Storage::Sparse { density }
        } else {
            Storage::Dense
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The inference path gives the training forward's logits (without dropout) bit for
        /// bit, for any shape, padding, storage, pooling, activation, chunking and thread
        /// count, with one scratch reused across batches of different shapes.
        #[test]
        fn inference_logits_are_the_training_forward_bit_for_bit(
            seed in 0u64..1000,
            e in 1usize..20, h in 1usize..40, c in 2usize..5,
            b in prop_oneof![Just(1usize), 1usize..70], t in 1usize..12, extra in 0usize..3,
            sparse in prop::array::uniform3(any::<bool>()),
            density in 0.05f64..1.0,
            mean in any::<bool>(), exact in any::<bool>(),
            threads in 1usize..5, chunk_bytes in prop::sample::select(vec![1usize, 4096, CHUNK_BYTES]),
            kind in prop_oneof![3 => Just(0usize), 1 => 1usize..4],
        ) {
            let pooling = if mean { Pooling::Mean } else { Pooling::Last };
            let activation = if exact { ActivationMode::Exact } else { ActivationMode::Fast };
            let storages = sparse.map(|s| storage(s, density));
            let pool = set_sparse::denormal::build_thread_pool(threads, true).unwrap();
            pool.install(|| {
                let (model, tokens, lengths) = model_and_batch::<f32>(
                    seed, (30, e, h, c), (b, t, extra), storages, pooling, activation, arch(kind),
                );
                let batch = BatchRef { tokens: &tokens, lengths: &lengths, seq_len: t + extra };
                let reference = model.forward::<ChaCha8Rng>(&batch, None).unwrap().logits;
                // A scratch that has seen a larger, differently shaped batch first.
                let mut scratch = InferScratch::default();
                let (other, other_tokens, other_lengths) = model_and_batch::<f32>(
                    seed + 1, (30, e, h, c), (b + 3, t + 2, 0), storages, pooling, activation,
                    arch(kind),
                );
                let _ = other.infer_chunked(
                    &BatchRef { tokens: &other_tokens, lengths: &other_lengths, seq_len: t + 2 },
                    &mut scratch,
                    chunk_bytes,
                );
                let got = model.infer_chunked(&batch, &mut scratch, chunk_bytes).unwrap();
                prop_assert_eq!(bits(got), bits(reference.view()));
                // f64 too (gradient checks and exports use it).
                let m64 = model.cast::<f64>();
                let r64 = m64.forward::<ChaCha8Rng>(&batch, None).unwrap().logits;
                let mut s64 = InferScratch::default();
                let g64 = m64.infer_chunked(&batch, &mut s64, chunk_bytes).unwrap();
                prop_assert_eq!(bits(g64), bits(r64.view()));
                Ok(())
            })?;
        }
    }

    #[test]
    fn evaluate_in_matches_evaluate_on_the_training_forward() {
        let storages = [Storage::Sparse { density: 0.3 }; 3];
        let (model, tokens, lengths) = model_and_batch::<f32>(
            3,
            (50, 8, 16, 2),
            (9, 7, 2),
            storages,
            Pooling::Last,
            ActivationMode::Fast,
            RnnArch::default(),
        );
        let batch = BatchRef {
            tokens: &tokens,
            lengths: &lengths,
            seq_len: 9,
        };
        let labels: Vec<usize> = (0..9).map(|i| i % 2).collect();
        let cache = model.forward::<ChaCha8Rng>(&batch, None).unwrap();
        let (loss, _, _) = softmax_cross_entropy(cache.logits.view(), &labels);
        let s = model
            .evaluate_in(&batch, &labels, &mut InferScratch::default())
            .unwrap();
        assert_eq!(s.loss.to_bits(), loss.to_bits());
        assert_eq!(s.correct, count_correct(cache.logits.view(), &labels));
        assert_eq!(s.batch, 9);
        // Bad input is an error, not a panic.
        let bad = BatchRef {
            tokens: &tokens[..5],
            lengths: &lengths,
            seq_len: 9,
        };
        assert!(model.infer(&bad, &mut InferScratch::default()).is_err());
        assert!(
            model
                .evaluate_in(&batch, &labels[..3], &mut InferScratch::default())
                .is_err()
        );
    }
}
