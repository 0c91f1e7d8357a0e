//! The GRU cell of a recurrent layer ([`crate::lstm::Lstm`] with [`crate::CellKind::Gru`]),
//! exactly as PyTorch's `nn.GRU`: gates r, z, n stacked as row blocks, and
//!
//! ```text
//! r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//! z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
//! h' = (1 - z) * n + z * h
//! ```
//!
//! Same layout, padding rule and buffer reuse as the LSTM cell: the input projection of all steps
//! is one batched product, each step adds its recurrent product into a reused `[3H, B]`
//! workspace, finished sequences keep their state and pass gradients through unchanged.

use crate::activation::{ActivationMode, sigmoid_exact, sigmoid_fast, tanh_fast};
use crate::lstm::{Lstm, LstmCache, LstmShape, OutputGrad, recycle, row};
use crate::rows::{RawRows, carry_finished, for_each_unit};
use ndarray::{Array1, Array2, Array3, Axis, s};
use set_sparse::Scalar;

impl<T: Scalar> Lstm<T> {
    /// [`Lstm::forward_into`] for a GRU cell.
    #[track_caller]
    pub(crate) fn gru_forward_into(
        &self,
        x: Array3<T>,
        lengths: &[usize],
        steps: usize,
        cache: &mut LstmCache<T>,
    ) {
        let LstmShape {
            d_input,
            d_hidden: h,
        } = self.shape();
        let batch = lengths.len();
        assert_eq!(x.dim(), (steps, d_input, batch), "gru forward: input shape");
        assert!(
            lengths.iter().all(|&l| l >= 1 && l <= steps),
            "gru forward: lengths must be in 1..=steps"
        );
        let mut gates = recycle(&mut cache.gates, (steps, 3 * h, batch), false);
        self.w_ih
            .value
            .matmul_batched(x.view(), gates.view_mut(), false);
        let b_ih: &Array1<T> = self.b_ih.value.as_vector().expect("bias");
        let b_hh: &Array1<T> = self.b_hh.value.as_vector().expect("bias");
        let (b_ih, b_hh) = (
            b_ih.as_slice().expect("contiguous"),
            b_hh.as_slice().expect("contiguous"),
        );
        let mut hs = recycle(&mut cache.h, (steps + 1, h, batch), false);
        hs.index_axis_mut(Axis(0), 0).fill(T::zero());
        let mut hn = recycle(&mut cache.hn, (steps, h, batch), false);
        let mut gh: Array2<T> = recycle(&mut cache.gh, (3 * h, batch), false);
        let fast = self.mode == ActivationMode::Fast;
        for t in 0..steps {
            let (h_prev, mut h_next) = hs.multi_slice_mut((s![t, .., ..], s![t + 1, .., ..]));
            self.w_hh.value.matmul(h_prev.view(), gh.view_mut(), false);
            let mut g_t = gates.index_axis_mut(Axis(0), t);
            let mut hn_t = hn.index_axis_mut(Axis(0), t);
            let (g_rows, hn_rows, h_rows) = (
                RawRows::new(&mut g_t),
                RawRows::new(&mut hn_t),
                RawRows::new(&mut h_next),
            );
            let (gh_v, hp_v) = (gh.view(), h_prev.view());
            for_each_unit(h, 8 * h * batch, |r| {
                let bi = [b_ih[r], b_ih[h + r], b_ih[2 * h + r]];
                let bh = [b_hh[r], b_hh[h + r], b_hh[2 * h + r]];
                // SAFETY: unit `r` is handled by exactly one worker and touches only rows r,
                // H + r, 2H + r of the gates and row r of the state arrays.
                unsafe {
                    gru_forward(
                        fast,
                        bi,
                        bh,
                        [row(gh_v, r), row(gh_v, h + r), row(gh_v, 2 * h + r)],
                        row(hp_v, r),
                        g_rows.row(r),
                        g_rows.row(h + r),
                        g_rows.row(2 * h + r),
                        hn_rows.row(r),
                        h_rows.row(r),
                    );
                }
            });
            carry_finished(lengths, t, h_prev.view(), h_next.view_mut());
        }
        cache.x = x;
        cache.gates = gates;
        cache.h = hs;
        cache.hn = hn;
        cache.gh = gh;
        cache.lengths.clear();
        cache.lengths.extend_from_slice(lengths);
        cache.steps = steps;
        cache.batch = batch;
    }

    /// [`Lstm::backward`] for a GRU cell.
    #[track_caller]
    pub(crate) fn gru_backward(
        &mut self,
        cache: &mut LstmCache<T>,
        d_out: OutputGrad<'_, T>,
    ) -> Array3<T> {
        let LstmShape {
            d_input,
            d_hidden: h,
        } = self.shape();
        let (steps, batch) = (cache.steps, cache.batch);
        match &d_out {
            OutputGrad::Final(d) => {
                assert_eq!(d.dim(), (h, batch), "gru backward: final gradient shape")
            }
            OutputGrad::All(d) => assert_eq!(
                d.dim(),
                (steps, h, batch),
                "gru backward: output gradient shape"
            ),
        }
        let mut d_gi = recycle(&mut cache.d_gates, (steps, 3 * h, batch), false);
        let mut d_gh = recycle(&mut cache.d_gates_hh, (steps, 3 * h, batch), false);
        let mut dh = Array2::<T>::zeros((h, batch));
        let mut dh_prev = Array2::<T>::zeros((h, batch));
        if let OutputGrad::Final(d) = &d_out {
            dh.assign(d);
        }
        for t in (0..steps).rev() {
            if let OutputGrad::All(d) = &d_out {
                dh += &d.index_axis(Axis(0), t);
            }
            let mut dgi_t = d_gi.index_axis_mut(Axis(0), t);
            let mut dgh_t = d_gh.index_axis_mut(Axis(0), t);
            {
                let g_t = cache.gates.index_axis(Axis(0), t);
                let hn_t = cache.hn.index_axis(Axis(0), t);
                let hp = cache.h.index_axis(Axis(0), t);
                let (gi_rows, gh_rows, dhp_rows) = (
                    RawRows::new(&mut dgi_t),
                    RawRows::new(&mut dgh_t),
                    RawRows::new(&mut dh_prev.view_mut()),
                );
                let dh_v = dh.view();
                for_each_unit(h, 12 * h * batch, |r| {
                    // SAFETY: unit `r` is handled by one worker, which alone touches rows r,
                    // H + r, 2H + r of the gate gradients and row r of dh_prev.
                    unsafe {
                        gru_backward_cell(
                            [row(g_t, r), row(g_t, h + r), row(g_t, 2 * h + r)],
                            row(hn_t, r),
                            row(hp, r),
                            row(dh_v, r),
                            [gi_rows.row(r), gi_rows.row(h + r), gi_rows.row(2 * h + r)],
                            [gh_rows.row(r), gh_rows.row(h + r), gh_rows.row(2 * h + r)],
                            dhp_rows.row(r),
                        );
                    }
                });
            }
            for (b, &len) in cache.lengths.iter().enumerate() {
                if t >= len {
                    dgi_t.column_mut(b).fill(T::zero());
                    dgh_t.column_mut(b).fill(T::zero());
                }
            }
            self.w_hh
                .value
                .matmul_t(dgh_t.view(), dh_prev.view_mut(), true);
            carry_finished(&cache.lengths, t, dh.view(), dh_prev.view_mut());
            std::mem::swap(&mut dh, &mut dh_prev);
        }
        self.w_ih
            .value
            .accumulate_grad_batched(d_gi.view(), cache.x.view(), &mut self.w_ih.grad);
        let h_prev = cache.h.slice(s![0..steps, .., ..]);
        self.w_hh
            .value
            .accumulate_grad_batched(d_gh.view(), h_prev, &mut self.w_hh.grad);
        for (d_t, e_t) in d_gi.axis_iter(Axis(0)).zip(d_gh.axis_iter(Axis(0))) {
            for (r, (ri, rh)) in d_t
                .axis_iter(Axis(0))
                .zip(e_t.axis_iter(Axis(0)))
                .enumerate()
            {
                self.b_ih.grad[r] += ri.iter().fold(T::zero(), |a, &v| a + v);
                self.b_hh.grad[r] += rh.iter().fold(T::zero(), |a, &v| a + v);
            }
        }
        let mut dx = Array3::<T>::zeros((steps, d_input, batch));
        self.w_ih
            .value
            .matmul_t_batched(d_gi.view(), dx.view_mut(), false);
        cache.d_gates = d_gi;
        cache.d_gates_hh = d_gh;
        dx
    }
}

/// One hidden unit over the batch: gates `gr`, `gz`, `gn` hold the input pre-activations
/// (without bias) on entry and the activations r, z, n on exit; `hn` gets `W_hn h + b_hn`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_forward_body<T: Scalar, const FMA: bool>(
    fast: bool,
    b_ih: [T; 3],
    b_hh: [T; 3],
    gh: [&[T]; 3],
    h_prev: &[T],
    gr: &mut [T],
    gz: &mut [T],
    gn: &mut [T],
    hn: &mut [T],
    h_next: &mut [T],
) {
    let n = h_prev.len();
    let (gr, gz, gn, hn, h_next) = (
        &mut gr[..n],
        &mut gz[..n],
        &mut gn[..n],
        &mut hn[..n],
        &mut h_next[..n],
    );
    let (hr, hz, hh) = (&gh[0][..n], &gh[1][..n], &gh[2][..n]);
    let one = T::one();
    let sig = |v: T| {
        if fast {
            sigmoid_fast(v)
        } else {
            sigmoid_exact(v)
        }
    };
    let tanh = |v: T| if fast { tanh_fast(v) } else { v.tanh() };
    for b in 0..n {
        let r = sig(gr[b] + b_ih[0] + hr[b] + b_hh[0]);
        let z = sig(gz[b] + b_ih[1] + hz[b] + b_hh[1]);
        let hnb = hh[b] + b_hh[2];
        let nn = tanh(gn[b] + b_ih[2] + r * hnb);
        gr[b] = r;
        gz[b] = z;
        gn[b] = nn;
        hn[b] = hnb;
        h_next[b] = (one - z) * nn + z * h_prev[b];
    }
}

set_sparse::multiversion!(
    #[allow(clippy::too_many_arguments)]
    fn gru_forward<T>(fast: bool, b_ih: [T; 3], b_hh: [T; 3], gh: [&[T]; 3], h_prev: &[T], gr: &mut [T], gz: &mut [T], gn: &mut [T], hn: &mut [T], h_next: &mut [T]) => gru_forward_body
);

/// Gradients of one hidden unit's input pre-activations `d_gi`, recurrent pre-activations `d_gh`
/// (the `n` block scaled by r) and the direct part `dh * z` of `dh_prev`.
#[inline(always)]
fn gru_backward_body<T: Scalar, const FMA: bool>(
    act: [&[T]; 3],
    hn: &[T],
    h_prev: &[T],
    dh: &[T],
    d_gi: [&mut [T]; 3],
    d_gh: [&mut [T]; 3],
    dh_prev: &mut [T],
) {
    let one = T::one();
    let n = h_prev.len();
    let [ar, az, an] = act;
    let (ar, az, an, hn, dh) = (&ar[..n], &az[..n], &an[..n], &hn[..n], &dh[..n]);
    let [ir, iz, inn] = d_gi;
    let [hr, hz, hnn] = d_gh;
    let (ir, iz, inn, hr, hz, hnn, dh_prev) = (
        &mut ir[..n],
        &mut iz[..n],
        &mut inn[..n],
        &mut hr[..n],
        &mut hz[..n],
        &mut hnn[..n],
        &mut dh_prev[..n],
    );
    for b in 0..n {
        let (r, z, nn, d) = (ar[b], az[b], an[b], dh[b]);
        let dpn = d * (one - z) * (one - nn * nn);
        let dpz = d * (h_prev[b] - nn) * z * (one - z);
        let dpr = dpn * hn[b] * r * (one - r);
        ir[b] = dpr;
        iz[b] = dpz;
        inn[b] = dpn;
        hr[b] = dpr;
        hz[b] = dpz;
        hnn[b] = dpn * r;
        dh_prev[b] = d * z;
    }
}

set_sparse::multiversion!(
    fn gru_backward_cell<T>(act: [&[T]; 3], hn: &[T], h_prev: &[T], dh: &[T], d_gi: [&mut [T]; 3], d_gh: [&mut [T]; 3], dh_prev: &mut [T]) => gru_backward_body
);
