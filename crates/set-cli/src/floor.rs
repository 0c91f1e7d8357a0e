//! The machine's floor for `bench`: the time a step could not go below on this machine, from
//! two live measurements taken in the same process on the same threads:
//!
//! - the dense GEMM rate (`gemm` crate, the dense mode's GEMM) on the dense LSTM's input
//!   projection shape `[4H, E] x [E, B * min(T, 16)]`, the most GEMM-friendly product of the
//!   model, so the rate is an upper bound on what a product of the same FLOPs could reach;
//! - the streaming bandwidth of a 64 MiB copy (bytes read + written per second).
//!
//! A step's floor is its sparse-product FLOPs at the GEMM rate plus the bytes it must move
//! through memory at the copy bandwidth. The gate math (nonlinearities) is not counted, so the
//! floor is optimistic: 100 % of it is out of reach.

use ndarray::Array2;
use std::time::Instant;

/// The two rates, measured.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    /// Dense GEMM, floating-point operations per second.
    pub gemm_flops: f64,
    /// Streaming copy, bytes per second (read + write).
    pub bandwidth: f64,
}

/// The work of one step: sparse-product FLOPs and unavoidable memory traffic.
#[derive(Debug, Clone, Copy)]
pub struct Work {
    /// Floating-point operations of the sparse (or dense) products.
    pub flops: f64,
    /// Bytes that must go to memory and back (activations that do not fit in cache).
    pub bytes: f64,
}

impl Machine {
    /// Measures both rates (median of `reps` runs each, after one warm-up), on the current
    /// rayon pool.
    pub fn measure(e: usize, h: usize, b: usize, t: usize, reps: usize) -> Self {
        let (m, k, n) = (4 * h, e, b * t.clamp(1, 16));
        let a = Array2::<f32>::from_shape_fn((m, k), |(i, j)| ((i * 7 + j) % 13) as f32 * 0.01);
        let x = Array2::<f32>::from_shape_fn((k, n), |(i, j)| ((i + j * 3) % 11) as f32 * 0.01);
        let mut y = Array2::<f32>::zeros((m, n));
        let gemm_secs = median_secs(reps, || {
            set_nn::dense::gemm(a.view(), x.view(), &mut y.view_mut(), false);
            std::hint::black_box(&y);
        });
        let len = 16 << 20;
        let src = vec![1.0f32; len];
        let mut dst = vec![0.0f32; len];
        let copy_secs = median_secs(reps, || {
            dst.copy_from_slice(&src);
            std::hint::black_box(&dst);
        });
        Machine {
            gemm_flops: 2.0 * (m * k * n) as f64 / gemm_secs,
            bandwidth: 2.0 * (len * 4) as f64 / copy_secs,
        }
    }

    /// The floor of `work`, in milliseconds.
    pub fn floor_ms(&self, work: Work) -> f64 {
        (work.flops / self.gemm_flops + work.bytes / self.bandwidth) * 1e3
    }
}

/// Median wall time of `reps` runs of `f` after one warm-up run.
fn median_secs(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Work of the LSTM classifier over `b` sequences of `t` steps, with `nnz_ih` and `nnz_hh`
/// stored weights (`4HE` and `4H^2` when dense).
#[derive(Debug, Clone, Copy)]
pub struct StepShape {
    /// Embedding width.
    pub e: usize,
    /// Hidden width.
    pub h: usize,
    /// Sequences.
    pub b: usize,
    /// Steps.
    pub t: usize,
    /// Stored entries of `W_ih`.
    pub nnz_ih: usize,
    /// Stored entries of `W_hh`.
    pub nnz_hh: usize,
}

impl StepShape {
    /// Inference: the forward products (`2 nnz` FLOPs per column and step); the embedded inputs
    /// written and read once (`[T, E, B]`); nothing else need leave the cache.
    pub fn inference(&self) -> Work {
        let cols = (self.b * self.t) as f64;
        Work {
            flops: 2.0 * (self.nnz_ih + self.nnz_hh) as f64 * cols,
            bytes: 2.0 * 4.0 * (self.e as f64) * cols,
        }
    }

    /// Training: forward, input and recurrent gradients and both weight gradients (three times
    /// the forward FLOPs), and the activations backward reads (inputs `[T, E, B]`, gates
    /// `[T, 4H, B]`, `c`, `h`, `tanh c` `[T, H, B]`) plus the gate gradients `[T, 4H, B]` of the
    /// batched weight gradients, each written once and read once.
    pub fn training(&self) -> Work {
        let cols = (self.b * self.t) as f64;
        let stored = (self.e + 4 * self.h + 3 * self.h + 4 * self.h) as f64;
        Work {
            flops: 3.0 * 2.0 * (self.nnz_ih + self.nnz_hh) as f64 * cols,
            bytes: 2.0 * 4.0 * stored * cols,
        }
    }
}

/// `floor / measured` in percent.
pub fn percent_of_floor(floor_ms: f64, measured_ms: f64) -> f64 {
    if measured_ms > 0.0 {
        100.0 * floor_ms / measured_ms
    } else {
        0.0
    }
}
