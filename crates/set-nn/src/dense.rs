//! Dense matrix products of the dense baseline through the `gemm` crate (the GEMM candle uses):
//! packed micro-kernels for AVX-512, AVX2 and the baseline target, chosen at run time.

use ndarray::{ArrayView2, ArrayViewMut2};
use set_sparse::Scalar;

/// `c = a b` (`accumulate`: `c += a b`) for views of any strides.
///
/// The reduction over the shared dimension runs in one fixed order per output element whatever
/// the number of threads (`gemm` splits the work by output blocks only), so results are
/// bit-identical for any thread count (tested).
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[1.0f32], [1.0]];
/// let mut c = ndarray::Array2::zeros((2, 1));
/// set_nn::dense::gemm(a.view(), b.view(), &mut c.view_mut(), false);
/// assert_eq!(c, array![[3.0], [7.0]]);
/// ```
///
/// # Panics
/// If the shapes do not match (a caller bug).
#[track_caller]
pub fn gemm<T: Scalar>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    c: &mut ArrayViewMut2<'_, T>,
    accumulate: bool,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && c.dim() == (m, n),
        "dense product: [{m}, {k}] x [{k2}, {n}] into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(T::zero());
        }
        return;
    }
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let threads = set_sparse::workers::workers();
    let parallelism = if threads > 1 && m * n * k >= 1 << 15 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the pointers and strides describe the three views exactly (shapes checked above,
    // strides taken from the views); `c` is borrowed mutably and does not alias `a` or `b`
    // (distinct borrows); `gemm` reads `m x k`, `k x n` and writes `m x n` elements through them.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};
    use rand::{RngExt, SeedableRng};

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
        Array2::from_shape_fn((m, n), |(i, j)| (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum())
    }

    #[test]
    fn matches_a_naive_product_for_any_strides_and_accumulates() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for &(m, k, n) in &[(1, 1, 1), (7, 5, 3), (64, 33, 17), (130, 64, 70), (3, 0, 4)] {
            let a = Array2::from_shape_fn((m, k), |_| rng.random_range(-1.0..1.0));
            let b = Array2::from_shape_fn((k, n), |_| rng.random_range(-1.0..1.0));
            let want = naive(&a, &b);
            // Row-major operands, and column-major ones (transposed views of row-major copies),
            // as `W^T dy` and `dy x^T` use them.
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            let mut cf = Array2::from_elem((m, n).f(), 0.5);
            gemm(at.t(), bt.t(), &mut cf.view_mut(), false);
            assert!(
                (&cf - &want).iter().all(|d| d.abs() < 1e-12),
                "{m}x{k}x{n} F"
            );
            for lhs in [a.view(), at.t()] {
                let mut c = Array2::from_elem((m, n), 0.5);
                gemm(lhs, b.view(), &mut c.view_mut(), false);
                assert!((&c - &want).iter().all(|d| d.abs() < 1e-12), "{m}x{k}x{n}");
                gemm(lhs, b.view(), &mut c.view_mut(), true);
                assert!((&c - &(&want * 2.0)).iter().all(|d| d.abs() < 1e-12));
            }
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let a = Array2::from_shape_fn((512, 256), |_| rng.random_range(-1.0f32..1.0));
        let b = Array2::from_shape_fn((256, 64), |_| rng.random_range(-1.0f32..1.0));
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut c = Array2::zeros((512, 64));
                gemm(a.view(), b.view(), &mut c.view_mut(), false);
                gemm(a.view(), b.view(), &mut c.view_mut(), true);
                c.iter().map(|v: &f32| v.to_bits()).collect::<Vec<_>>()
            })
        };
        let one = run(1);
        assert_eq!(run(2), one);
        assert_eq!(run(4), one);
    }
}
