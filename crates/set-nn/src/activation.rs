//! Gate nonlinearities: exact (`std`) and a fast rational approximation of `tanh`.
//!
//! The standard library's `tanh`/`exp` cost ~50 ns per element, more than the sparse matrix
//! products of a 4 % LSTM. The fast path uses the rational approximation of Eigen's
//! `generic_fast_tanh_float` (degree-13 odd numerator over degree-6 even denominator, inputs
//! clamped to [-9, 9]); `sigmoid(x) = 0.5 * tanh(x / 2) + 0.5`. Its maximum absolute error
//! against `f64::tanh`, evaluated in `f32`, is below 5e-7 for tanh (measured 3.9e-7) and 3e-7 for sigmoid (measured 2.3e-7)
//! (checked by `fast_activations_are_accurate` on a dense grid). Branch-free, so it
//! vectorises. Gradient checks use the exact path.

use set_sparse::Scalar;

/// Which implementation of `tanh` and `sigmoid` the LSTM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActivationMode {
    /// Rational approximation (max abs error < 5e-7), vectorisable. The default for training.
    #[default]
    Fast,
    /// The standard library's functions; used by the finite-difference gradient checks.
    Exact,
}

const ALPHA: [f64; 7] = [
    4.893_524_558_917_86e-3,
    6.372_619_288_754_36e-4,
    1.485_722_357_179_79e-5,
    5.122_297_090_371_14e-8,
    -8.604_671_522_137_35e-11,
    2.000_187_904_824_77e-13,
    -2.760_768_477_423_55e-16,
];
const BETA: [f64; 4] = [
    4.893_525_185_543_85e-3,
    2.268_434_632_439_00e-3,
    1.185_347_056_866_54e-4,
    1.198_258_394_667_02e-6,
];

/// Fast `tanh` (see the module doc for its error bound).
///
/// ```
/// let y = set_nn::activation::tanh_fast(0.5f32);
/// assert!((y - 0.5f32.tanh()).abs() < 5e-7);
/// ```
#[inline(always)]
pub fn tanh_fast<T: Scalar>(x: T) -> T {
    let c = T::of_f64;
    // Clamp with comparisons (not min/max) so a NaN input stays NaN and divergence is detected.
    let x = if x > c(9.0) {
        c(9.0)
    } else if x < c(-9.0) {
        c(-9.0)
    } else {
        x
    };
    let x2 = x * x;
    let mut p = c(ALPHA[6]);
    p = p * x2 + c(ALPHA[5]);
    p = p * x2 + c(ALPHA[4]);
    p = p * x2 + c(ALPHA[3]);
    p = p * x2 + c(ALPHA[2]);
    p = p * x2 + c(ALPHA[1]);
    p = p * x2 + c(ALPHA[0]);
    p *= x;
    let mut q = c(BETA[3]);
    q = q * x2 + c(BETA[2]);
    q = q * x2 + c(BETA[1]);
    q = q * x2 + c(BETA[0]);
    p / q
}

/// Fast logistic sigmoid, `0.5 * tanh_fast(x / 2) + 0.5`.
#[inline(always)]
pub fn sigmoid_fast<T: Scalar>(x: T) -> T {
    let half = T::of_f64(0.5);
    half * tanh_fast(x * half) + half
}

/// Exact logistic sigmoid, stable for large `|x|`.
#[inline(always)]
pub fn sigmoid_exact<T: Scalar>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

/// Applies `sigmoid` in place.
pub fn sigmoid_slice<T: Scalar>(xs: &mut [T], mode: ActivationMode) {
    match mode {
        ActivationMode::Fast => xs.iter_mut().for_each(|x| *x = sigmoid_fast(*x)),
        ActivationMode::Exact => xs.iter_mut().for_each(|x| *x = sigmoid_exact(*x)),
    }
}

/// Applies `tanh` in place.
pub fn tanh_slice<T: Scalar>(xs: &mut [T], mode: ActivationMode) {
    match mode {
        ActivationMode::Fast => xs.iter_mut().for_each(|x| *x = tanh_fast(*x)),
        ActivationMode::Exact => xs.iter_mut().for_each(|x| *x = x.tanh()),
    }
}

/// `tanh` of one value in the given mode.
#[inline(always)]
pub fn tanh<T: Scalar>(x: T, mode: ActivationMode) -> T {
    match mode {
        ActivationMode::Fast => tanh_fast(x),
        ActivationMode::Exact => x.tanh(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_activations_are_accurate() {
        let mut worst_tanh = 0.0f64;
        let mut worst_sig = 0.0f64;
        for i in -400_000..=400_000 {
            let x = i as f64 * 5e-5; // [-20, 20]
            let xf = x as f32;
            worst_tanh = worst_tanh.max((tanh_fast(xf) as f64 - (xf as f64).tanh()).abs());
            worst_sig =
                worst_sig.max((sigmoid_fast(xf) as f64 - 1.0 / (1.0 + (-(xf as f64)).exp())).abs());
        }
        assert!(worst_tanh < 5e-7, "tanh max error {worst_tanh}");
        assert!(worst_sig < 3e-7, "sigmoid max error {worst_sig}");
        // Saturation is exact enough and never NaN.
        assert_eq!(tanh_fast(1e30f32), tanh_fast(9.0f32));
        assert!(sigmoid_fast(-1e30f32) >= 0.0 && sigmoid_fast(1e30f32) <= 1.0);
        assert!(tanh_fast(f32::NAN).is_nan());
    }

    #[test]
    fn exact_sigmoid_is_stable() {
        assert_eq!(sigmoid_exact(-1000.0f64), 0.0);
        assert_eq!(sigmoid_exact(1000.0f64), 1.0);
        assert!((sigmoid_exact(0.3f64) - 1.0 / (1.0 + (-0.3f64).exp())).abs() < 1e-16);
    }
}
