//! Inverted dropout with masks drawn from the caller's seeded RNG, in a fixed order.

use ndarray::{Array, Dimension, ShapeBuilder};
use rand::{Rng, RngExt};
use set_sparse::Scalar;

/// Draws a dropout mask of `shape` with keep probability `1 - p`; kept entries are scaled by
/// `1 / (1 - p)`. Returns `None` when `p == 0` (nothing to do). The draw order is row-major, so
/// the same RNG state gives the same mask on any thread count.
pub fn dropout_mask<T: Scalar, Sh: ShapeBuilder>(
    shape: Sh,
    p: f64,
    rng: &mut impl Rng,
) -> Option<Array<T, Sh::Dim>> {
    if p <= 0.0 {
        return None;
    }
    let keep = 1.0 - p;
    let scale = T::of_f64(1.0 / keep);
    Some(Array::from_shape_simple_fn(shape, || {
        if rng.random::<f64>() < keep {
            scale
        } else {
            T::zero()
        }
    }))
}

/// Multiplies `x` by the mask in place (no-op for `None`).
pub fn apply_mask<T: Scalar, D: Dimension>(x: &mut Array<T, D>, mask: &Option<Array<T, D>>) {
    if let Some(m) = mask {
        *x *= m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn mask_keeps_expected_fraction_and_scale() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let m = dropout_mask::<f64, _>((100, 100), 0.25, &mut rng).unwrap();
        let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / 1e4;
        assert!((kept - 0.75).abs() < 0.03, "kept {kept}");
        assert!(
            m.iter()
                .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-12)
        );
        assert!(dropout_mask::<f32, _>((3, 3), 0.0, &mut rng).is_none());
    }
}
