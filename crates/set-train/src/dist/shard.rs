//! Cutting a time-major batch into per-rank shards.

use set_nn::BatchRef;
use std::ops::Range;

/// The examples of a batch of `batch` sequences that rank `rank` of `size` trains on:
/// contiguous, sizes differing by at most one, lower ranks taking the extra ones. Empty when
/// the batch has fewer sequences than there are ranks.
///
/// ```
/// use set_train::dist::shard_range;
/// assert_eq!(shard_range(64, 0, 2), 0..32);
/// assert_eq!(shard_range(64, 1, 2), 32..64);
/// assert_eq!(shard_range(5, 2, 3), 4..5);
/// assert!(shard_range(1, 1, 2).is_empty());
/// ```
pub fn shard_range(batch: usize, rank: usize, size: usize) -> Range<usize> {
    let base = batch / size;
    let extra = batch % size;
    let lo = rank * base + rank.min(extra);
    let hi = lo + base + usize::from(rank < extra);
    lo..hi
}

/// One rank's part of a batch, time-major like the batch, cut to its own longest sequence.
/// The buffers are reused from step to step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `tokens[t * batch + b]`.
    pub tokens: Vec<u32>,
    /// Length of each sequence.
    pub lengths: Vec<usize>,
    /// Class of each sequence.
    pub labels: Vec<usize>,
    /// Time steps (the longest length in the shard).
    pub seq_len: usize,
}

impl Shard {
    /// Copies the sequences `range` of `batch` (and their labels) into this shard.
    pub fn fill(&mut self, batch: &BatchRef<'_>, labels: &[usize], range: Range<usize>) {
        let width = batch.lengths.len();
        self.lengths.clear();
        self.lengths
            .extend_from_slice(&batch.lengths[range.clone()]);
        self.labels.clear();
        self.labels.extend_from_slice(&labels[range.clone()]);
        self.seq_len = self.lengths.iter().copied().max().unwrap_or(0);
        self.tokens.clear();
        for t in 0..self.seq_len {
            let row = &batch.tokens[t * width..(t + 1) * width];
            self.tokens.extend_from_slice(&row[range.clone()]);
        }
    }

    /// The shard as a batch.
    pub fn batch_ref(&self) -> BatchRef<'_> {
        BatchRef {
            tokens: &self.tokens,
            lengths: &self.lengths,
            seq_len: self.seq_len,
        }
    }
}
