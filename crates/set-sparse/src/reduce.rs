//! Deterministic reductions: fixed-size chunks summed in order, whatever the thread count.

use crate::Scalar;
use rayon::prelude::*;

/// Elements per chunk; each chunk is summed sequentially in `f64`, chunks are combined in order.
pub const CHUNK: usize = 4096;

/// Sum of squares in `f64`, bit-identical for any number of rayon threads.
///
/// ```
/// assert_eq!(set_sparse::reduce::sum_squares(&[3.0f32, 4.0]), 25.0);
/// ```
pub fn sum_squares<T: Scalar>(xs: &[T]) -> f64 {
    let partials: Vec<f64> = xs
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|v| v.as_f64() * v.as_f64()).sum::<f64>())
        .collect();
    partials.iter().sum()
}

/// Sum in `f64`, bit-identical for any number of rayon threads.
///
/// ```
/// assert_eq!(set_sparse::reduce::sum(&[1.0f32, 2.0, 3.0]), 6.0);
/// ```
pub fn sum<T: Scalar>(xs: &[T]) -> f64 {
    let partials: Vec<f64> = xs
        .par_chunks(CHUNK)
        .map(|c| c.iter().map(|v| v.as_f64()).sum::<f64>())
        .collect();
    partials.iter().sum()
}
