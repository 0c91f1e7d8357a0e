//! Tests: properties of every policy against brute-force references on small shapes, density
//! allocation, schedules, sampling uniformity, analytics and typed errors.

mod density_schedule;
mod errors;
mod rigl_snfs;
mod sampling;
mod set_policy;
mod skeleton;

use crate::{EvolveContext, MatrixView, TopologyTracker};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use set_sparse::SparseMatrix;
use std::collections::BTreeMap;

/// A random matrix with exactly `nnz` entries whose values are multiples of 0.25 in [-1, 1]:
/// exact zeros and ties in magnitude are common.
pub(crate) fn quantized_matrix(
    rows: usize,
    cols: usize,
    nnz: usize,
    seed: u64,
) -> SparseMatrix<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SparseMatrix::random(rows, cols, nnz, &mut rng, |r| {
        r.random_range(-4i32..=4) as f32 * 0.25
    })
    .unwrap()
}

/// A continuous random matrix (no ties).
pub(crate) fn smooth_matrix(rows: usize, cols: usize, nnz: usize, seed: u64) -> SparseMatrix<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    SparseMatrix::random(rows, cols, nnz, &mut rng, |r| r.random_range(-1.0f32..1.0)).unwrap()
}

/// A state buffer holding a distinct non-zero id per weight: 1, 2, 3, ...
pub(crate) fn ids(nnz: usize) -> Vec<f32> {
    (1..=nnz).map(|i| i as f32).collect()
}

/// Every CSR invariant, checked by rebuilding through the validating constructor.
pub(crate) fn assert_valid(m: &SparseMatrix<f32>) {
    SparseMatrix::<f32>::try_new(
        m.rows(),
        m.cols(),
        m.indptr().to_vec(),
        m.indices().to_vec(),
        m.values().to_vec(),
    )
    .expect("CSR invariants hold");
}

/// `(row, col) -> (value, state[0], state[1])` for every stored entry.
pub(crate) fn entry_map(
    m: &SparseMatrix<f32>,
    s0: &[f32],
    s1: &[f32],
) -> BTreeMap<(usize, usize), (f32, f32, f32)> {
    m.entries()
        .map(|(r, c, k)| ((r, c), (m.values()[k], s0[k], s1[k])))
        .collect()
}

pub(crate) fn ctx(zeta: f64) -> EvolveContext {
    EvolveContext::new(0, 10, zeta).unwrap()
}

pub(crate) fn view<'a>(
    name: &'a str,
    m: &'a mut SparseMatrix<f32>,
    s0: &'a mut Vec<f32>,
    s1: &'a mut Vec<f32>,
) -> MatrixView<'a> {
    MatrixView::new(name, m).with_state(s0).with_momentum(s1)
}
