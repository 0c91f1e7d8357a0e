//! The floating-point element types the kernels accept (`f32` for training, `f64` for gradient checks).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// A float type the sparse kernels and layers are generic over.
///
/// Training runs in `f32`; the finite-difference gradient checks run the very same code in `f64`.
///
/// ```
/// use set_sparse::Scalar;
/// assert_eq!(<f32 as Scalar>::of_f64(0.5), 0.5f32);
/// assert_eq!(2.0f64.as_f64(), 2.0);
/// ```
pub trait Scalar:
    num_traits::Float
    + ndarray::LinalgScalar
    + ndarray::ScalarOperand
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// Converts from `f64`, rounding to the nearest representable value.
    fn of_f64(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn as_f64(self) -> f64;
    /// Size of one element in bytes.
    const BYTES: usize;
    /// Name used in file formats (`"F32"` or `"F64"`).
    const DTYPE: &'static str;
}

impl Scalar for f32 {
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
    const BYTES: usize = 4;
    const DTYPE: &'static str = "F32";
}

impl Scalar for f64 {
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
    const BYTES: usize = 8;
    const DTYPE: &'static str = "F64";
}
