//! Stacked and bidirectional recurrent layers: forward and backward through `layers x directions`
//! [`Lstm`] cells (LSTM or GRU), ordered layer by layer, direction by direction (PyTorch's order).
//!
//! The reverse direction of a layer runs the ordinary cell over a time-reversed copy of its input
//! in which each sequence's real tokens are reversed in place (`x_rev[t] = x[len - 1 - t]` for
//! `t < len`, zero past `len`), so padding and variable lengths are handled exactly as for the
//! forward direction. A layer's output is the concatenation `[forward; reverse]` of both
//! directions' outputs at each original position; layers after the first read it through an
//! optional dropout mask.

use crate::dropout::{apply_mask, dropout_mask};
use crate::lstm::{Lstm, LstmCache, OutputGrad, recycle};
use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3, s};
use rand::Rng;
use set_sparse::Scalar;

/// Writes `dst[t, :, b] = src[len_b - 1 - t, :, b]` for `t < len_b` and zero for `t >= len_b`.
fn reverse_time<T: Scalar>(
    src: ArrayView3<'_, T>,
    lengths: &[usize],
    mut dst: ArrayViewMut3<'_, T>,
) {
    let (steps, feats, _) = src.dim();
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..steps {
            for f in 0..feats {
                dst[[t, f, b]] = if t < len {
                    src[[len - 1 - t, f, b]]
                } else {
                    T::zero()
                };
            }
        }
    }
}

/// `acc[t, :, b] += src[len_b - 1 - t, :, b]` for `t < len_b`.
fn add_reversed<T: Scalar>(acc: &mut Array3<T>, src: ArrayView3<'_, T>, lengths: &[usize]) {
    let feats = src.dim().1;
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            for f in 0..feats {
                acc[[t, f, b]] += src[[len - 1 - t, f, b]];
            }
        }
    }
}

/// Runs every layer and direction over `input` (`[steps, E, B]`, original order). Masks between
/// layers are drawn from `rng` (training) in layer order; `caches` and `masks` are reused.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<T: Scalar, R: Rng>(
    cells: &[Lstm<T>],
    dirs: usize,
    p_between: f64,
    input: Array3<T>,
    lengths: &[usize],
    steps: usize,
    mut rng: Option<&mut R>,
    caches: &mut Vec<LstmCache<T>>,
    masks: &mut Vec<Option<Array3<T>>>,
) {
    let layers = cells.len() / dirs;
    let b = lengths.len();
    caches.resize_with(cells.len(), LstmCache::default);
    masks.clear();
    let mut next_input = Some(input);
    for l in 0..layers {
        let mut input = next_input.take().expect("each layer has an input");
        if l > 0 {
            let m = match rng.as_mut() {
                Some(r) => dropout_mask::<T, _>(input.dim(), p_between, &mut **r),
                None => None,
            };
            apply_mask(&mut input, &m);
            masks.push(m);
        }
        let i = l * dirs;
        if dirs == 2 {
            let mut rev = recycle(&mut caches[i + 1].x, input.dim(), false);
            reverse_time(input.view(), lengths, rev.view_mut());
            let [fwd, bwd] = caches.get_disjoint_mut([i, i + 1]).expect("two directions");
            both(
                || cells[i].forward_into(input, lengths, steps, fwd),
                || cells[i + 1].forward_into(rev, lengths, steps, bwd),
            );
        } else {
            cells[i].forward_into(input, lengths, steps, &mut caches[i]);
        }
        if l + 1 < layers {
            let h = cells[i].shape().d_hidden;
            let mut next = recycle(&mut caches[i + dirs].x, (steps, dirs * h, b), false);
            next.slice_mut(s![.., 0..h, ..])
                .assign(&caches[i].outputs());
            if dirs == 2 {
                reverse_time(
                    caches[i + 1].outputs(),
                    lengths,
                    next.slice_mut(s![.., h.., ..]),
                );
            }
            next_input = Some(next);
        }
    }
}

/// The gradient of one direction's outputs, borrowed or computed.
enum DirGrad<'a, T> {
    /// Of its final state only.
    Final(ArrayView2<'a, T>),
    /// Of every step's output, a view of the layer above's input gradient.
    All(ArrayView3<'a, T>),
    /// Of every step's output, computed for this direction.
    Owned(Array3<T>),
}

impl<T: Scalar> DirGrad<'_, T> {
    fn view(&self) -> OutputGrad<'_, T> {
        match self {
            DirGrad::Final(v) => OutputGrad::Final(v.view()),
            DirGrad::All(v) => OutputGrad::All(v.view()),
            DirGrad::Owned(a) => OutputGrad::All(a.view()),
        }
    }
}

/// Runs the two directions of a layer: concurrently, one rayon worker each (kernels
/// single-threaded inside, so no fork-join per step), when there are two workers; with more,
/// each direction's kernels share the rest; with one, one after the other. The results do not
/// depend on which, since every kernel gives the same bits for any number of workers.
fn both<A: Send, B: Send>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B + Send) -> (A, B) {
    let workers = set_sparse::workers::workers();
    if workers <= 1 {
        (a(), b())
    } else if workers == 2 {
        rayon::join(
            || set_sparse::workers::serial(a),
            || set_sparse::workers::serial(b),
        )
    } else {
        rayon::join(a, b)
    }
}

/// How the top layer's outputs were pooled, with the gradient of the pooled vector
/// `[dirs * H, B]`.
pub(crate) enum TopGrad<'a, T> {
    /// Each direction's final state was pooled.
    Last(ArrayView2<'a, T>),
    /// Each direction's outputs were averaged over the sequence's length.
    Mean(ArrayView2<'a, T>),
}

/// The gradient `[steps, H, B]` of one direction's outputs when its pooled vector (the mean of
/// its first `len` outputs) has gradient `d_pooled` `[H, B]`.
fn mean_grad<T: Scalar>(d_pooled: ArrayView2<'_, T>, lengths: &[usize], steps: usize) -> Array3<T> {
    let mut d_all = Array3::<T>::zeros((steps, d_pooled.nrows(), lengths.len()));
    for (bi, &len) in lengths.iter().enumerate() {
        let inv = T::of_f64(1.0 / len as f64);
        for t in 0..len {
            d_all
                .slice_mut(s![t, .., bi])
                .scaled_add(inv, &d_pooled.column(bi));
        }
    }
    d_all
}

/// Back-propagates through every layer and direction, accumulating the parameters' gradients;
/// returns the gradient of the first layer's input `[steps, E, B]` (original order).
pub(crate) fn backward<T: Scalar>(
    cells: &mut [Lstm<T>],
    dirs: usize,
    caches: &mut [LstmCache<T>],
    masks: &[Option<Array3<T>>],
    top: TopGrad<'_, T>,
) -> Array3<T> {
    let layers = cells.len() / dirs;
    let (steps, batch) = (caches[0].steps, caches[0].batch);
    let lengths = caches[0].lengths.clone();
    let h = cells[0].shape().d_hidden;
    let mut grad_in: Option<Array3<T>> = None;
    for l in (0..layers).rev() {
        // Each direction's gradient of its outputs, in its own time order.
        let grads: Vec<DirGrad<'_, T>> = (0..dirs)
            .map(|d| {
                let rows = s![d * h..(d + 1) * h, ..];
                match (&grad_in, &top) {
                    (None, TopGrad::Last(dp)) => DirGrad::Final(dp.slice(rows)),
                    (None, TopGrad::Mean(dp)) => {
                        DirGrad::Owned(mean_grad(dp.slice(rows), &lengths, steps))
                    }
                    (Some(g), _) => {
                        let gd = g.slice(s![.., d * h..(d + 1) * h, ..]);
                        if d == 0 {
                            DirGrad::All(gd)
                        } else {
                            let mut rg = Array3::<T>::zeros((steps, h, batch));
                            reverse_time(gd, &lengths, rg.view_mut());
                            DirGrad::Owned(rg)
                        }
                    }
                }
            })
            .collect();
        let i = l * dirs;
        let dx_layer = if dirs == 2 {
            let (first, second) = cells[i..i + 2].split_at_mut(1);
            let (c0, c1) = caches[i..i + 2].split_at_mut(1);
            let (g0, g1) = (&grads[0], &grads[1]);
            let (mut dx, dx_rev) = both(
                || first[0].backward(&mut c0[0], g0.view()),
                || second[0].backward(&mut c1[0], g1.view()),
            );
            add_reversed(&mut dx, dx_rev.view(), &lengths);
            dx
        } else {
            cells[i].backward(&mut caches[i], grads[0].view())
        };
        drop(grads);
        let mut dx = dx_layer;
        if l > 0 {
            apply_mask(&mut dx, &masks[l - 1]);
        }
        grad_in = Some(dx);
    }
    grad_in.expect("at least one layer")
}

/// Pools the top layer's directions into `[dirs * H, B]`: each direction's final state
/// (`last`) or the mean of its outputs over each sequence's length.
pub(crate) fn pool<T: Scalar>(top: &[LstmCache<T>], h: usize, last: bool) -> Array2<T> {
    let b = top[0].batch;
    let mut p = Array2::<T>::zeros((top.len() * h, b));
    for (d, cache) in top.iter().enumerate() {
        let mut rows = p.slice_mut(s![d * h..(d + 1) * h, ..]);
        if last {
            rows.assign(&cache.final_hidden());
        } else {
            let outs = cache.outputs();
            for (bi, &len) in cache.lengths.iter().enumerate() {
                let inv = T::of_f64(1.0 / len as f64);
                for t in 0..len {
                    let mut col = rows.column_mut(bi);
                    col.scaled_add(inv, &outs.slice(s![t, .., bi]));
                }
            }
        }
    }
    p
}
