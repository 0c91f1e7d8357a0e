//! Sparse recurrent layer (one direction of one layer): an LSTM cell with stacked gates
//! (i, f, g, o, as PyTorch) or a GRU cell (r, z, n; see [`crate::gru`]), CSR or dense weights,
//! full BPTT.
//!
//! Layout: activations are time-major, `[T, features, B]`: step `t` is one contiguous
//! `[features, B]` block whose rows are contiguous over the batch. The input projection of all
//! steps is one batched product `W_ih X`; the recurrence adds `W_hh h_{t-1}` into step `t`'s
//! block. Steps at or past a sequence's length keep its state unchanged (and pass gradients
//! through unchanged), so the state after the last step is each sequence's state at its length.

use crate::activation::{ActivationMode, sigmoid_exact, sigmoid_fast, tanh_fast};
use crate::config::{CellKind, RNN_PARAMS, rnn_param_name};
use crate::param::{Param, ParamValue};
use crate::rows::{RawRows, carry_finished, for_each_unit};
use ndarray::{Array, Array1, Array3, ArrayView2, ArrayView3, Axis, Dimension, s};
use set_sparse::Scalar;

/// Hyper-parameters of [`Lstm`] needed at run time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmShape {
    /// Input width `E`.
    pub d_input: usize,
    /// Hidden width `H`.
    pub d_hidden: usize,
}

/// One direction of one recurrent layer: `w_ih` `[G H, E]`, `w_hh` `[G H, H]`, biases `b_ih`,
/// `b_hh` `[G H]`, with `G` = 4 gates for an LSTM cell and 3 for a GRU cell.
#[derive(Debug, Clone)]
pub struct Lstm<T: Scalar> {
    /// The cell (LSTM or GRU).
    pub cell: CellKind,
    /// Input-to-hidden weights, gates stacked i, f, g, o.
    pub w_ih: Param<T>,
    /// Hidden-to-hidden weights, gates stacked i, f, g, o.
    pub w_hh: Param<T>,
    /// Input bias.
    pub b_ih: Param<T>,
    /// Hidden bias.
    pub b_hh: Param<T>,
    /// Activation implementation.
    pub mode: ActivationMode,
}

/// What the forward pass keeps for backward, plus backward's gate-gradient workspace. Passing
/// the same cache to every step reuses its buffers, so steady-state training allocates nothing
/// large.
#[derive(Debug, Clone, Default)]
pub struct LstmCache<T: Scalar> {
    /// Inputs `[T, E, B]`.
    pub x: Array3<T>,
    /// Gate activations `[T, 4H, B]` (after sigmoid / tanh).
    pub gates: Array3<T>,
    /// Cell states `[T + 1, H, B]`; step 0 is the zero initial state.
    pub c: Array3<T>,
    /// Hidden states `[T + 1, H, B]`; step 0 is the zero initial state.
    pub h: Array3<T>,
    /// `tanh(c_t)` `[T, H, B]`.
    pub tanh_c: Array3<T>,
    /// Gradients of the gate pre-activations `[T, 4H, B]` from the last backward pass.
    pub d_gates: Array3<T>,
    /// Sequence lengths (each in `1..=T`).
    pub lengths: Vec<usize>,
    /// Steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// GRU only: `W_hn h_{t-1} + b_hn` per step `[T, H, B]` (the reset gate multiplies it).
    pub hn: Array3<T>,
    /// GRU only: per-step recurrent product workspace `[G H, B]`.
    pub gh: ndarray::Array2<T>,
    /// GRU only: gradients of the recurrent pre-activations `[T, G H, B]` (they differ from
    /// `d_gates` in the `n` block, which the reset gate scales).
    pub d_gates_hh: Array3<T>,
}

impl<T: Scalar> LstmCache<T> {
    /// Bytes held by the activation and workspace arrays (what a training step keeps alive).
    pub fn memory_bytes(&self) -> usize {
        let arrays = [
            &self.x,
            &self.gates,
            &self.c,
            &self.h,
            &self.tanh_c,
            &self.d_gates,
            &self.hn,
            &self.d_gates_hh,
        ];
        arrays.iter().map(|a| a.len() * T::BYTES).sum::<usize>()
            + self.gh.len() * T::BYTES
            + self.lengths.capacity() * std::mem::size_of::<usize>()
    }

    /// Hidden states `[T, H, B]` (`h_1 .. h_T`).
    pub fn outputs(&self) -> ArrayView3<'_, T> {
        self.h.slice(s![1.., .., ..])
    }

    /// Gradients of the recurrent pre-activations `[T, G H, B]` from the last backward pass
    /// (`W_hh`'s gradient is `sum_t d[t] h_{t-1}^T`): `d_gates` for an LSTM, `d_gates_hh` for a
    /// GRU.
    pub fn d_recurrent_gates(&self) -> &Array3<T> {
        if self.d_gates_hh.is_empty() {
            &self.d_gates
        } else {
            &self.d_gates_hh
        }
    }

    /// The final hidden state `[H, B]`: each sequence's state at its own length.
    pub fn final_hidden(&self) -> ArrayView2<'_, T> {
        self.h.index_axis(Axis(0), self.steps)
    }
}

/// Gradient flowing into the LSTM's outputs.
pub enum OutputGrad<'a, T> {
    /// Only the final state receives gradient, `[H, B]`.
    Final(ArrayView2<'a, T>),
    /// Every output `h_t` receives gradient, `[T, H, B]`.
    All(ArrayView3<'a, T>),
}

impl<T: Scalar> Lstm<T> {
    /// Wraps the four parameters of an LSTM cell, checking their shapes against each other.
    ///
    /// # Panics
    /// If the shapes are inconsistent (a caller bug; loaders check shapes first).
    #[track_caller]
    pub fn from_params(
        w_ih: Param<T>,
        w_hh: Param<T>,
        b_ih: Param<T>,
        b_hh: Param<T>,
        mode: ActivationMode,
    ) -> Self {
        Self::with_cell(CellKind::Lstm, [w_ih, w_hh, b_ih, b_hh], mode)
    }

    /// Wraps the four parameters (PyTorch order) of a `cell`, checking their shapes.
    ///
    /// # Panics
    /// If the shapes are inconsistent (a caller bug; loaders check shapes first).
    #[track_caller]
    pub fn with_cell(cell: CellKind, params: [Param<T>; 4], mode: ActivationMode) -> Self {
        let [w_ih, w_hh, b_ih, b_hh] = params;
        let g = cell.gates();
        let (si, sh) = (w_ih.value.shape(), w_hh.value.shape());
        assert_eq!(si[0] % g, 0, "w_ih rows must be G H");
        let h = si[0] / g;
        assert_eq!(sh, vec![g * h, h], "w_hh must be [G H, H]");
        assert_eq!(b_ih.value.shape(), vec![g * h], "b_ih must be [G H]");
        assert_eq!(b_hh.value.shape(), vec![g * h], "b_hh must be [G H]");
        Lstm {
            cell,
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            mode,
        }
    }

    /// `E` and `H`.
    pub fn shape(&self) -> LstmShape {
        let s = self.w_ih.value.shape();
        LstmShape {
            d_input: s[1],
            d_hidden: s[0] / self.cell.gates(),
        }
    }

    /// The four parameters in PyTorch order.
    pub fn params(&self) -> [&Param<T>; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// Mutable parameters in PyTorch order.
    pub fn params_mut(&mut self) -> [&mut Param<T>; 4] {
        [
            &mut self.w_ih,
            &mut self.w_hh,
            &mut self.b_ih,
            &mut self.b_hh,
        ]
    }

    /// `b_ih + b_hh` `[4H]`: the one bias the gate math adds.
    pub(crate) fn fused_bias(&self) -> Array1<T> {
        self.b_ih.value.as_vector().expect("bias") + self.b_hh.value.as_vector().expect("bias")
    }

    /// Runs the layer over a padded batch. `x` is `[steps, E, batch]`; `lengths[b]` in
    /// `1..=steps`. Returns the cache; outputs are [`LstmCache::outputs`].
    ///
    /// # Panics
    /// If shapes or lengths are inconsistent (caller bugs: the classifier validates batches).
    #[track_caller]
    pub fn forward(&self, x: Array3<T>, lengths: &[usize], steps: usize) -> LstmCache<T> {
        let mut cache = LstmCache::default();
        self.forward_into(x, lengths, steps, &mut cache);
        cache
    }

    /// [`Lstm::forward`] into an existing cache, reusing its buffers.
    ///
    /// # Panics
    /// As [`Lstm::forward`].
    #[track_caller]
    pub fn forward_into(
        &self,
        x: Array3<T>,
        lengths: &[usize],
        steps: usize,
        cache: &mut LstmCache<T>,
    ) {
        if self.cell == CellKind::Gru {
            return self.gru_forward_into(x, lengths, steps, cache);
        }
        let LstmShape {
            d_input,
            d_hidden: h,
        } = self.shape();
        let batch = lengths.len();
        assert_eq!(
            x.dim(),
            (steps, d_input, batch),
            "lstm forward: input shape"
        );
        assert!(
            lengths.iter().all(|&l| l >= 1 && l <= steps),
            "lstm forward: lengths must be in 1..=steps"
        );
        let mut gates = recycle(&mut cache.gates, (steps, 4 * h, batch), false);
        self.w_ih
            .value
            .matmul_batched(x.view(), gates.view_mut(), false);
        // The biases are added by the gate math of each step (no separate pass over the gates).
        let bias = self.fused_bias();
        let bias = bias.as_slice().expect("contiguous bias");
        // Step 0 of c and h is the zero initial state; every other entry is overwritten.
        let mut c = recycle(&mut cache.c, (steps + 1, h, batch), false);
        let mut hs = recycle(&mut cache.h, (steps + 1, h, batch), false);
        c.index_axis_mut(Axis(0), 0).fill(T::zero());
        hs.index_axis_mut(Axis(0), 0).fill(T::zero());
        let mut tanh_c = recycle(&mut cache.tanh_c, (steps, h, batch), false);
        let fast = self.mode == ActivationMode::Fast;
        for t in 0..steps {
            let (h_prev, mut h_next) = hs.multi_slice_mut((s![t, .., ..], s![t + 1, .., ..]));
            let mut g_t = gates.index_axis_mut(Axis(0), t);
            self.w_hh.value.matmul(h_prev.view(), g_t.view_mut(), true);
            let (mut c_prev, mut c_next) = c.multi_slice_mut((s![t, .., ..], s![t + 1, .., ..]));
            let mut tc_t = tanh_c.index_axis_mut(Axis(0), t);
            let (g_rows, cp_rows, cn_rows, hn_rows, tc_rows) = (
                RawRows::new(&mut g_t),
                RawRows::new(&mut c_prev),
                RawRows::new(&mut c_next),
                RawRows::new(&mut h_next),
                RawRows::new(&mut tc_t),
            );
            for_each_unit(h, 8 * h * batch, |r| {
                // SAFETY: unit `r` is handled by exactly one worker and touches only rows r,
                // H + r, 2H + r, 3H + r of the gates and row r of the state arrays.
                unsafe {
                    cell_forward(
                        fast,
                        [bias[r], bias[h + r], bias[2 * h + r], bias[3 * h + r]],
                        g_rows.row(r),
                        g_rows.row(h + r),
                        g_rows.row(2 * h + r),
                        g_rows.row(3 * h + r),
                        cp_rows.row(r),
                        cn_rows.row(r),
                        hn_rows.row(r),
                        tc_rows.row(r),
                    );
                }
            });
            // Finished sequences keep their state.
            carry_finished(lengths, t, c_prev.view(), c_next.view_mut());
            carry_finished(lengths, t, h_prev.view(), h_next.view_mut());
        }
        cache.x = x;
        cache.gates = gates;
        cache.c = c;
        cache.h = hs;
        cache.tanh_c = tanh_c;
        cache.lengths.clear();
        cache.lengths.extend_from_slice(lengths);
        cache.steps = steps;
        cache.batch = batch;
    }

    /// Back-propagates through time, accumulating into the four parameters' gradients, and
    /// returns the gradient with respect to the inputs, `[steps, E, batch]`. The cache's
    /// `d_gates` workspace is filled (gradient-based evolution reads it).
    ///
    /// # Panics
    /// If `d_out` has the wrong shape (caller bug).
    #[track_caller]
    pub fn backward(&mut self, cache: &mut LstmCache<T>, d_out: OutputGrad<'_, T>) -> Array3<T> {
        if self.cell == CellKind::Gru {
            return self.gru_backward(cache, d_out);
        }
        let LstmShape {
            d_input,
            d_hidden: h,
        } = self.shape();
        let (steps, batch) = (cache.steps, cache.batch);
        match &d_out {
            OutputGrad::Final(d) => {
                assert_eq!(d.dim(), (h, batch), "lstm backward: final gradient shape")
            }
            OutputGrad::All(d) => assert_eq!(
                d.dim(),
                (steps, h, batch),
                "lstm backward: output gradient shape"
            ),
        }
        // Every entry is written below (finished sequences get explicit zeros).
        let mut d_gates = recycle(&mut cache.d_gates, (steps, 4 * h, batch), false);
        let mut dh = ndarray::Array2::<T>::zeros((h, batch));
        let mut dh_prev = ndarray::Array2::<T>::zeros((h, batch));
        let mut dc = ndarray::Array2::<T>::zeros((h, batch));
        let mut dc_prev = ndarray::Array2::<T>::zeros((h, batch));
        if let OutputGrad::Final(d) = &d_out {
            dh.assign(d);
        }
        for t in (0..steps).rev() {
            if let OutputGrad::All(d) = &d_out {
                dh += &d.index_axis(Axis(0), t);
            }
            let mut dg_t = d_gates.index_axis_mut(Axis(0), t);
            {
                let g_t = cache.gates.index_axis(Axis(0), t);
                let c_prev = cache.c.index_axis(Axis(0), t);
                let tc_t = cache.tanh_c.index_axis(Axis(0), t);
                let dg_rows = RawRows::new(&mut dg_t);
                let dcp_rows = RawRows::new(&mut dc_prev.view_mut());
                let (dh_v, dc_v) = (dh.view(), dc.view());
                for_each_unit(h, 12 * h * batch, |r| {
                    // SAFETY: unit `r` is handled by one worker, which alone touches rows
                    // r, H + r, 2H + r, 3H + r of the gate gradients and row r of dc_prev.
                    unsafe {
                        cell_backward(
                            row(g_t, r),
                            row(g_t, h + r),
                            row(g_t, 2 * h + r),
                            row(g_t, 3 * h + r),
                            row(c_prev, r),
                            row(tc_t, r),
                            row(dh_v, r),
                            row(dc_v, r),
                            dg_rows.row(r),
                            dg_rows.row(h + r),
                            dg_rows.row(2 * h + r),
                            dg_rows.row(3 * h + r),
                            dcp_rows.row(r),
                        );
                    }
                });
            }
            // Finished sequences: no gate gradient, state gradients pass through unchanged.
            for (b, &len) in cache.lengths.iter().enumerate() {
                if t >= len {
                    dg_t.column_mut(b).fill(T::zero());
                }
            }
            carry_finished(&cache.lengths, t, dc.view(), dc_prev.view_mut());
            self.w_hh
                .value
                .matmul_t(dg_t.view(), dh_prev.view_mut(), false);
            carry_finished(&cache.lengths, t, dh.view(), dh_prev.view_mut());
            std::mem::swap(&mut dh, &mut dh_prev);
            std::mem::swap(&mut dc, &mut dc_prev);
        }
        // Weight gradients over all steps at once.
        self.w_ih.value.accumulate_grad_batched(
            d_gates.view(),
            cache.x.view(),
            &mut self.w_ih.grad,
        );
        let h_prev = cache.h.slice(s![0..steps, .., ..]);
        self.w_hh
            .value
            .accumulate_grad_batched(d_gates.view(), h_prev, &mut self.w_hh.grad);
        for d_t in d_gates.axis_iter(Axis(0)) {
            for (r, row) in d_t.axis_iter(Axis(0)).enumerate() {
                let sum = row.iter().fold(T::zero(), |a, &v| a + v);
                self.b_ih.grad[r] += sum;
                self.b_hh.grad[r] += sum;
            }
        }
        let mut dx = Array3::<T>::zeros((steps, d_input, batch));
        self.w_ih
            .value
            .matmul_t_batched(d_gates.view(), dx.view_mut(), false);
        cache.d_gates = d_gates;
        dx
    }
}

/// Takes the buffer out of `slot` and reshapes it to `shape`, reusing its allocation. With
/// `zero`, every entry is zero; otherwise only entries beyond the old length are (callers
/// overwrite the rest).
pub(crate) fn recycle<T: Scalar, D: Dimension>(
    slot: &mut Array<T, D>,
    shape: D::Pattern,
    zero: bool,
) -> Array<T, D>
where
    D::Pattern: ndarray::IntoDimension<Dim = D>,
{
    let dim = ndarray::IntoDimension::into_dimension(shape);
    let (mut v, _) = std::mem::take(slot).into_raw_vec_and_offset();
    if zero {
        v.clear();
    }
    v.resize(dim.size(), T::zero());
    Array::from_shape_vec(dim, v).expect("length matches shape")
}

/// Row `i` of a view with contiguous rows.
#[inline(always)]
pub(crate) fn row<'a, T>(a: ArrayView2<'a, T>, i: usize) -> &'a [T] {
    a.index_axis_move(Axis(0), i)
        .to_slice()
        .expect("contiguous rows")
}

/// Gate nonlinearities, new cell and hidden state for one hidden unit over the batch, for one
/// activation implementation. `g*` hold pre-activations without the unit's biases `bias`
/// (input, forget, cell, output gate) on entry, and activations on exit.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_forward_loop<T: Scalar, const FAST: bool>(
    bias: [T; 4],
    gi: &mut [T],
    gf: &mut [T],
    gg: &mut [T],
    go: &mut [T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
    tanh_c: &mut [T],
) {
    let n = c_prev.len();
    let (gi, gf, gg, go) = (&mut gi[..n], &mut gf[..n], &mut gg[..n], &mut go[..n]);
    let (c_next, h_next, tanh_c) = (&mut c_next[..n], &mut h_next[..n], &mut tanh_c[..n]);
    for b in 0..n {
        let ([i, f, g, o], c, tc) =
            unit_step::<T, FAST>(bias, [gi[b], gf[b], gg[b], go[b]], c_prev[b]);
        gi[b] = i;
        gf[b] = f;
        gg[b] = g;
        go[b] = o;
        c_next[b] = c;
        tanh_c[b] = tc;
        h_next[b] = o * tc;
    }
}

/// One hidden unit of one sequence: from the gate pre-activations without bias `pre` (input,
/// forget, cell, output) and the previous cell state, the gate activations, the new cell state
/// and its `tanh`. The new hidden state is `o * tanh(c)`. Training and inference both call this,
/// so their arithmetic is the same, operation for operation.
#[inline(always)]
pub(crate) fn unit_step<T: Scalar, const FAST: bool>(
    bias: [T; 4],
    pre: [T; 4],
    c_prev: T,
) -> ([T; 4], T, T) {
    let [bi, bf, bg, bo] = bias;
    let (pi, pf, pg, po) = (pre[0] + bi, pre[1] + bf, pre[2] + bg, pre[3] + bo);
    let (i, f, g, o) = if FAST {
        (
            sigmoid_fast(pi),
            sigmoid_fast(pf),
            tanh_fast(pg),
            sigmoid_fast(po),
        )
    } else {
        (
            sigmoid_exact(pi),
            sigmoid_exact(pf),
            pg.tanh(),
            sigmoid_exact(po),
        )
    };
    let c = f * c_prev + i * g;
    let tc = if FAST { tanh_fast(c) } else { c.tanh() };
    ([i, f, g, o], c, tc)
}

/// [`cell_forward_loop`] behind run-time CPU dispatch (the `FMA` parameter is unused).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_forward_body<T: Scalar, const FMA: bool>(
    fast: bool,
    bias: [T; 4],
    gi: &mut [T],
    gf: &mut [T],
    gg: &mut [T],
    go: &mut [T],
    c_prev: &[T],
    c_next: &mut [T],
    h_next: &mut [T],
    tanh_c: &mut [T],
) {
    if fast {
        cell_forward_loop::<T, true>(bias, gi, gf, gg, go, c_prev, c_next, h_next, tanh_c);
    } else {
        cell_forward_loop::<T, false>(bias, gi, gf, gg, go, c_prev, c_next, h_next, tanh_c);
    }
}

set_sparse::multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn cell_forward<T>(fast: bool, bias: [T; 4], gi: &mut [T], gf: &mut [T], gg: &mut [T], go: &mut [T], c_prev: &[T], c_next: &mut [T], h_next: &mut [T], tanh_c: &mut [T]) => cell_forward_body
);

/// Gradients of one hidden unit's gates (pre-activation) and of the previous cell state.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn cell_backward_body<T: Scalar, const FMA: bool>(
    ai: &[T],
    af: &[T],
    ag: &[T],
    ao: &[T],
    c_prev: &[T],
    tanh_c: &[T],
    dh: &[T],
    dc_next: &[T],
    di: &mut [T],
    df: &mut [T],
    dg: &mut [T],
    d_o: &mut [T],
    dc_prev: &mut [T],
) {
    let one = T::one();
    let n = c_prev.len();
    let (ai, af, ag, ao, tanh_c, dh, dc_next) = (
        &ai[..n],
        &af[..n],
        &ag[..n],
        &ao[..n],
        &tanh_c[..n],
        &dh[..n],
        &dc_next[..n],
    );
    let (di, df, dg, d_o, dc_prev) = (
        &mut di[..n],
        &mut df[..n],
        &mut dg[..n],
        &mut d_o[..n],
        &mut dc_prev[..n],
    );
    for b in 0..n {
        let (i, f, g, o, tc) = (ai[b], af[b], ag[b], ao[b], tanh_c[b]);
        let dhb = dh[b];
        let dcb = dc_next[b] + dhb * o * (one - tc * tc);
        d_o[b] = dhb * tc * o * (one - o);
        di[b] = dcb * g * i * (one - i);
        dg[b] = dcb * i * (one - g * g);
        df[b] = dcb * c_prev[b] * f * (one - f);
        dc_prev[b] = dcb * f;
    }
}

set_sparse::multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn cell_backward<T>(ai: &[T], af: &[T], ag: &[T], ao: &[T], c_prev: &[T], tanh_c: &[T], dh: &[T], dc_next: &[T], di: &mut [T], df: &mut [T], dg: &mut [T], d_o: &mut [T], dc_prev: &mut [T]) => cell_backward_body
);

/// Builds the parameters of a one-layer unidirectional LSTM from storage values, named as
/// PyTorch names them (`lstm.weight_ih_l0`, ...).
pub fn lstm_params<T: Scalar>(
    w_ih: ParamValue<T>,
    w_hh: ParamValue<T>,
    b_ih: Array1<T>,
    b_hh: Array1<T>,
) -> [Param<T>; 4] {
    let name = |k: usize| rnn_param_name(CellKind::Lstm, RNN_PARAMS[k], 0, 0);
    [
        Param::new(name(0), w_ih),
        Param::new(name(1), w_hh),
        Param::new(name(2), ParamValue::Vector(b_ih)),
        Param::new(name(3), ParamValue::Vector(b_hh)),
    ]
}
