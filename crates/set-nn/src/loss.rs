//! Softmax cross-entropy from logits, with log-sum-exp, and its gradient.

use ndarray::{Array2, ArrayView2};
use set_sparse::Scalar;

/// Mean cross-entropy over the batch and its gradient with respect to the logits.
///
/// `logits` is `[classes, batch]`; `labels[b] < classes`. Uses
/// `log_softmax(z) = z - max(z) - ln(sum(exp(z - max(z))))`, so logits of +/-1e4 stay finite.
/// Returns `(mean loss in f64, d_logits [classes, batch], probabilities [classes, batch])`.
///
/// ```
/// use ndarray::array;
/// let (loss, grad, probs) = set_nn::loss::softmax_cross_entropy(array![[0.0f64], [0.0]].view(), &[1]);
/// assert!((loss - 2f64.ln()).abs() < 1e-12);
/// assert!((grad[[1, 0]] + 0.5).abs() < 1e-12 && (probs[[0, 0]] - 0.5).abs() < 1e-12);
/// ```
///
/// # Panics
/// If a label is out of range or the batch sizes differ (callers validate labels).
#[track_caller]
pub fn softmax_cross_entropy<T: Scalar>(
    logits: ArrayView2<'_, T>,
    labels: &[usize],
) -> (f64, Array2<T>, Array2<T>) {
    let (classes, batch) = logits.dim();
    assert_eq!(labels.len(), batch, "one label per batch column");
    let mut probs = Array2::<T>::zeros((classes, batch));
    let mut total = 0.0f64;
    for b in 0..batch {
        let col = logits.column(b);
        let max = col.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
        let sum: T = col.iter().fold(T::zero(), |s, &v| s + (v - max).exp());
        let log_z = max + sum.ln();
        let label = labels[b];
        assert!(
            label < classes,
            "label {label} out of range for {classes} classes"
        );
        total += (log_z - col[label]).as_f64();
        for k in 0..classes {
            probs[[k, b]] = (col[k] - log_z).exp();
        }
    }
    let inv = T::of_f64(1.0 / batch.max(1) as f64);
    let mut grad = probs.clone();
    for (b, &label) in labels.iter().enumerate() {
        grad[[label, b]] -= T::one();
    }
    grad.mapv_inplace(|g| g * inv);
    (total / batch.max(1) as f64, grad, probs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn extreme_logits_stay_finite() {
        let (loss, grad, probs) =
            softmax_cross_entropy(array![[1e4f32, -1e4], [-1e4, 1e4]].view(), &[1, 1]);
        assert!(
            loss.is_finite()
                && grad.iter().all(|g| g.is_finite())
                && probs.iter().all(|p| p.is_finite())
        );
        assert!((loss - 1e4).abs() < 1.0, "loss {loss}");
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let z = array![[0.3f64, -1.2, 2.0], [0.1, 0.4, -0.5], [-0.7, 0.9, 0.0]];
        let labels = [2, 0, 1];
        let (_, g, _) = softmax_cross_entropy(z.view(), &labels);
        let eps = 1e-6;
        for i in 0..3 {
            for j in 0..3 {
                let (mut zp, mut zm) = (z.clone(), z.clone());
                zp[[i, j]] += eps;
                zm[[i, j]] -= eps;
                let num = (softmax_cross_entropy(zp.view(), &labels).0
                    - softmax_cross_entropy(zm.view(), &labels).0)
                    / (2.0 * eps);
                assert!((g[[i, j]] - num).abs() <= 1e-5 + 1e-3 * num.abs());
            }
        }
    }
}
