//! Evaluation: loss and accuracy of a split (every epoch), logits of any examples, and a full
//! report with per-class precision, recall, F1 and the confusion matrix.

use crate::batch::batch_ref;
use crate::dist::Collective;
use crate::error::TrainError;
use serde::Serialize;
use set_data::{BatchConfig, EncodedExample, eval_batches};
use set_nn::{Classifier, InferScratch};

/// Loss and accuracy of one split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SplitEval {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction correct.
    pub accuracy: f64,
    /// Examples.
    pub examples: usize,
}

/// Evaluates `model` on `examples` (no dropout); `None` for an empty split.
///
/// # Errors
/// Malformed batches (token ids out of range), or a non-finite loss: a model whose outputs are
/// not numbers is an error, never a score.
pub fn evaluate(
    model: &Classifier<f32>,
    examples: &[EncodedExample],
    cfg: &BatchConfig,
) -> Result<Option<SplitEval>, TrainError> {
    evaluate_with(model, examples, cfg, &crate::dist::Local)
}

/// [`evaluate`] over the ranks of `comm` (a collective call): each rank evaluates every
/// `size`-th batch and the sums are added up, so every rank returns the whole split's numbers.
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_with(
    model: &Classifier<f32>,
    examples: &[EncodedExample],
    cfg: &BatchConfig,
    comm: &dyn Collective,
) -> Result<Option<SplitEval>, TrainError> {
    evaluate_with_progress(model, examples, cfg, comm, &mut |_, _| {})
}

/// [`evaluate_with`], calling `progress(done, total)` with the batches evaluated so far (by
/// all ranks, counted as this rank's share times their number) after each batch: front ends
/// drive a progress bar with it.
///
/// # Errors
/// As [`evaluate`].
///
pub fn evaluate_with_progress(
    model: &Classifier<f32>,
    examples: &[EncodedExample],
    cfg: &BatchConfig,
    comm: &dyn Collective,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<SplitEval>, TrainError> {
    if examples.is_empty() {
        return Ok(None);
    }
    let mut sums = [0.0f64; 2];
    let batches = eval_batches(examples, cfg)?;
    let total = batches.len();
    // One set of inference buffers for the whole split (no activation cache is kept).
    let mut scratch = InferScratch::default();
    for (k, b) in batches
        .iter()
        .skip(comm.rank())
        .step_by(comm.size())
        .enumerate()
    {
        let s = model.evaluate_in(&batch_ref(b), &b.labels, &mut scratch)?;
        sums[0] += s.loss * s.batch as f64;
        sums[1] += s.correct as f64;
        progress(((k + 1) * comm.size()).min(total), total);
    }
    comm.sum_f64(&mut sums);
    let n = examples.len();
    if !sums[0].is_finite() {
        return Err(TrainError::NonFinite {
            what: "loss".into(),
            tensor: "evaluation loss".into(),
            step: 0,
        });
    }
    Ok(Some(SplitEval {
        loss: sums[0] / n as f64,
        accuracy: sums[1] / n as f64,
        examples: n,
    }))
}

/// Logits `[C]` of every example, in input order.
///
/// # Errors
/// Malformed batches, or a non-finite logit ([`TrainError::NonFinite`] naming the example's
/// index): a model whose outputs are not numbers gives an error, never a prediction or score.
pub fn logits_all(
    model: &Classifier<f32>,
    examples: &[EncodedExample],
    cfg: &BatchConfig,
) -> Result<Vec<Vec<f32>>, TrainError> {
    logits_all_with_progress(model, examples, cfg, &mut |_, _| {})
}

/// [`logits_all`], calling `progress(done, total)` with the batches done after each batch.
///
/// # Errors
/// As [`logits_all`].
pub fn logits_all_with_progress(
    model: &Classifier<f32>,
    examples: &[EncodedExample],
    cfg: &BatchConfig,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut out = vec![Vec::new(); examples.len()];
    let batches = eval_batches(examples, cfg)?;
    let total = batches.len();
    let mut scratch = InferScratch::default();
    for (k, b) in batches.into_iter().enumerate() {
        let l = model.infer(&batch_ref(&b), &mut scratch)?;
        for (col, &i) in b.indices.iter().enumerate() {
            let row = l.column(col).to_vec();
            if let Some(bad) = row.iter().find(|x| !x.is_finite()) {
                return Err(TrainError::NonFinite {
                    what: "logit".into(),
                    tensor: format!("output for input {i} ({bad}): the weights overflow"),
                    step: 0,
                });
            }
            out[i] = row;
        }
        progress(k + 1, total);
    }
    Ok(out)
}

/// Softmax in `f64`.
pub fn softmax(logits: &[f32]) -> Vec<f64> {
    let m = logits
        .iter()
        .fold(f64::NEG_INFINITY, |a, &x| a.max(f64::from(x)));
    let e: Vec<f64> = logits.iter().map(|&x| (f64::from(x) - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// Index of the largest logit (first on ties, as training counts).
pub fn argmax(v: &[f32]) -> usize {
    set_nn::classifier::argmax(v.iter().copied())
}

/// Per-class scores.
#[derive(Debug, Clone, Serialize)]
pub struct ClassReport {
    /// Class name.
    pub name: String,
    /// Precision (0 when nothing was predicted as this class).
    pub precision: f64,
    /// Recall (0 without examples of this class).
    pub recall: f64,
    /// F1.
    pub f1: f64,
    /// Examples of this class.
    pub support: usize,
}

/// The `eval` report (`eval/report.json`).
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Model evaluated.
    pub model: String,
    /// Data evaluated (`test split of <dataset>` or a file).
    pub data: String,
    /// Examples.
    pub examples: usize,
    /// Accuracy.
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Unweighted mean F1 over classes.
    pub macro_f1: f64,
    /// Per class.
    pub classes: Vec<ClassReport>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Builds the report from labels and logits.
pub fn report(
    model: String,
    data: String,
    class_names: &[String],
    labels: &[usize],
    logits: &[Vec<f32>],
) -> EvalReport {
    let c = class_names.len();
    let mut confusion = vec![vec![0usize; c]; c];
    let mut loss = 0.0;
    for (&y, l) in labels.iter().zip(logits) {
        confusion[y][argmax(l)] += 1;
        loss -= softmax(l)[y].max(f64::MIN_POSITIVE).ln();
    }
    let n = labels.len().max(1) as f64;
    let classes: Vec<ClassReport> = (0..c)
        .map(|k| {
            let tp = confusion[k][k] as f64;
            let support: usize = confusion[k].iter().sum();
            let predicted: usize = confusion.iter().map(|r| r[k]).sum();
            let precision = if predicted == 0 {
                0.0
            } else {
                tp / predicted as f64
            };
            let recall = if support == 0 {
                0.0
            } else {
                tp / support as f64
            };
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassReport {
                name: class_names[k].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let correct: usize = (0..c).map(|k| confusion[k][k]).sum();
    EvalReport {
        model,
        data,
        examples: labels.len(),
        accuracy: correct as f64 / n,
        loss: loss / n,
        macro_f1: classes.iter().map(|r| r.f1).sum::<f64>() / c as f64,
        classes,
        confusion,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_counts() {
        let names = vec!["neg".to_string(), "pos".to_string()];
        let logits = vec![
            vec![1.0, 0.0],
            vec![0.0, 1.0],
            vec![1.0, 0.0],
            vec![1.0, 0.0],
        ];
        let r = report("m".into(), "d".into(), &names, &[0, 1, 1, 0], &logits);
        assert_eq!(r.confusion, vec![vec![2, 0], vec![1, 1]]);
        assert_eq!(r.accuracy, 0.75);
        assert!((r.classes[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.classes[1].recall, 0.5);
        assert_eq!(r.classes[1].precision, 1.0);
        let p = softmax(&[0.0, 0.0]);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    /// Progress counts every batch once, up to the total, and does not change the numbers.
    #[test]
    fn progress_reports_each_batch() {
        use rand::SeedableRng;
        let spec = crate::ModelSpec::new(10, 4, 3, 2).dense();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let model = Classifier::<f32>::new(spec.classifier_config().unwrap(), &mut rng).unwrap();
        let ex: Vec<EncodedExample> = (0..5u32)
            .map(|i| EncodedExample {
                ids: vec![2 + i],
                label: (i % 2) as usize,
            })
            .collect();
        let cfg = BatchConfig {
            batch_size: 2,
            ..BatchConfig::default()
        };
        let mut seen = Vec::new();
        let with = evaluate_with_progress(&model, &ex, &cfg, &crate::dist::Local, &mut |d, t| {
            seen.push((d, t))
        })
        .unwrap();
        assert_eq!(seen, [(1, 3), (2, 3), (3, 3)]);
        assert_eq!(with, evaluate(&model, &ex, &cfg).unwrap());
        seen.clear();
        let logits =
            logits_all_with_progress(&model, &ex, &cfg, &mut |d, t| seen.push((d, t))).unwrap();
        assert_eq!(seen, [(1, 3), (2, 3), (3, 3)]);
        assert_eq!(logits, logits_all(&model, &ex, &cfg).unwrap());
    }

    /// Class 1 of RELIABILITY.md: weights that are finite but huge (3e38) give infinite or NaN
    /// logits; `logits_all` (eval's report path, predict) and `evaluate` refuse them.
    #[test]
    fn overflowing_weights_are_errors_not_scores() {
        use rand::SeedableRng;
        let spec = crate::ModelSpec::new(10, 4, 3, 2).dense();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut model =
            Classifier::<f32>::new(spec.classifier_config().unwrap(), &mut rng).unwrap();
        for p in model.params_mut() {
            p.values_mut().iter_mut().for_each(|v| *v = 3e38);
        }
        let ex = vec![EncodedExample {
            ids: vec![2, 3, 4],
            label: 1,
        }];
        let cfg = BatchConfig::default();
        let e = logits_all(&model, &ex, &cfg).unwrap_err();
        assert!(matches!(e, TrainError::NonFinite { .. }), "{e}");
        assert!(e.to_string().contains("logit"), "{e}");
        assert!(evaluate(&model, &ex, &cfg).is_err());
    }
}
