//! Corpus statistics for a tokenised split: token counts, distinct tokens, class counts, length percentiles.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::batch::EncodedExample;
use crate::example::TokenizedExample;
use crate::vocab::Vocab;

/// Nearest-rank percentiles of sequence lengths (in tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LengthPercentiles {
    /// Mean length.
    pub mean: f64,
    /// Median.
    pub p50: usize,
    /// 90th percentile.
    pub p90: usize,
    /// 95th percentile.
    pub p95: usize,
    /// 99th percentile.
    pub p99: usize,
    /// Longest.
    pub max: usize,
}

impl LengthPercentiles {
    /// Percentiles of `lengths` by the nearest-rank rule (`p`-th = the `ceil(p/100 · n)`-th
    /// smallest); all zero for no input.
    ///
    /// ```
    /// use set_data::LengthPercentiles;
    /// let p = LengthPercentiles::of((1..=100).collect());
    /// assert_eq!((p.p50, p.p90, p.p99, p.max), (50, 90, 99, 100));
    /// ```
    pub fn of(mut lengths: Vec<usize>) -> Self {
        if lengths.is_empty() {
            return Self::default();
        }
        lengths.sort_unstable();
        let n = lengths.len();
        let rank = |p: usize| lengths[(p * n).div_ceil(100).clamp(1, n) - 1];
        Self {
            mean: lengths.iter().sum::<usize>() as f64 / n as f64,
            p50: rank(50),
            p90: rank(90),
            p95: rank(95),
            p99: rank(99),
            max: lengths[n - 1],
        }
    }
}

impl fmt::Display for LengthPercentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mean {:.1}, p50 {}, p90 {}, p95 {}, p99 {}, max {}",
            self.mean, self.p50, self.p90, self.p95, self.p99, self.max
        )
    }
}

/// Statistics of one tokenised split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitStats {
    /// Number of examples.
    pub examples: usize,
    /// Total tokens.
    pub tokens: usize,
    /// Distinct token strings.
    pub distinct_tokens: usize,
    /// Examples with no tokens at all.
    pub empty_examples: usize,
    /// Examples per class (length = the largest label + 1, or `num_classes` if larger).
    pub per_class: Vec<usize>,
    /// Length distribution.
    pub lengths: LengthPercentiles,
}

impl SplitStats {
    /// Computes the statistics of `examples`.
    ///
    /// ```
    /// use set_data::{SplitStats, TokenizedExample};
    /// let ex = [
    ///     TokenizedExample { tokens: vec!["a".into(), "b".into(), "a".into()], label: 1 },
    ///     TokenizedExample { tokens: vec![], label: 0 },
    /// ];
    /// let s = SplitStats::of(&ex, 2);
    /// assert_eq!((s.examples, s.tokens, s.distinct_tokens, s.empty_examples), (2, 3, 2, 1));
    /// assert_eq!(s.per_class, [1, 1]);
    /// ```
    pub fn of(examples: &[TokenizedExample], num_classes: usize) -> Self {
        let mut distinct: HashSet<&str> = HashSet::new();
        let mut per_class = vec![0; num_classes];
        let mut tokens = 0;
        let mut empty_examples = 0;
        for e in examples {
            if e.label >= per_class.len() {
                per_class.resize(e.label + 1, 0);
            }
            per_class[e.label] += 1;
            tokens += e.tokens.len();
            empty_examples += usize::from(e.tokens.is_empty());
            distinct.extend(e.tokens.iter().map(String::as_str));
        }
        Self {
            examples: examples.len(),
            tokens,
            distinct_tokens: distinct.len(),
            empty_examples,
            per_class,
            lengths: LengthPercentiles::of(examples.iter().map(|e| e.tokens.len()).collect()),
        }
    }
}

impl fmt::Display for SplitStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} examples {:?}, {} tokens, {} distinct, {} empty; lengths: {}",
            self.examples,
            self.per_class,
            self.tokens,
            self.distinct_tokens,
            self.empty_examples,
            self.lengths
        )
    }
}

/// Fraction of tokens encoded as [`Vocab::UNK`] (0 for no tokens).
///
/// ```
/// use set_data::{unk_rate, EncodedExample, Vocab};
/// let e = [EncodedExample { ids: vec![2, Vocab::UNK, 3, Vocab::UNK], label: 0 }];
/// assert_eq!(unk_rate(&e), 0.5);
/// ```
pub fn unk_rate(examples: &[EncodedExample]) -> f64 {
    let total: usize = examples.iter().map(|e| e.ids.len()).sum();
    if total == 0 {
        return 0.0;
    }
    let unk = examples
        .iter()
        .flat_map(|e| &e.ids)
        .filter(|&&id| id == Vocab::UNK)
        .count();
    unk as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_small_inputs() {
        assert_eq!(LengthPercentiles::of(vec![]), LengthPercentiles::default());
        let p = LengthPercentiles::of(vec![7]);
        assert_eq!((p.p50, p.p99, p.max), (7, 7, 7));
        let p = LengthPercentiles::of(vec![4, 1, 3, 2]);
        assert_eq!((p.p50, p.p90, p.max), (2, 4, 4));
        assert_eq!(p.mean, 2.5);
    }

    #[test]
    fn per_class_grows_for_unexpected_labels() {
        let ex = [TokenizedExample {
            tokens: vec!["x".into()],
            label: 3,
        }];
        assert_eq!(SplitStats::of(&ex, 2).per_class, [0, 0, 0, 1]);
        assert_eq!(unk_rate(&[]), 0.0);
    }
}
