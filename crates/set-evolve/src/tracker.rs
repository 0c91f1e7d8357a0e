//! `TopologyTracker`: the set of positions ever active per matrix, for the in-time
//! over-parameterisation rate.

use crate::error::EvolveError;
use serde::{Deserialize, Serialize};
use set_sparse::{Scalar, SparseMatrix};
use std::collections::BTreeMap;

/// Positions ever active in one matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedMatrix {
    /// Shape when first seen.
    pub shape: (usize, usize),
    /// Flat positions `row * cols + col` that have ever held a weight, sorted ascending.
    pub ever_active: Vec<u64>,
    /// Flat positions the latest evolution step added, sorted ascending: judged by the next
    /// step ([`TopologyTracker::judge_regrown`]).
    #[serde(default)]
    pub last_added: Vec<u64>,
    /// Connections added by a step and judged at the step after it, over the run.
    #[serde(default)]
    pub regrown_judged: u64,
    /// Of those, the ones the step after did not prune.
    #[serde(default)]
    pub regrown_survived: u64,
    /// Flat positions of the topology when first seen (before the first evolution step),
    /// sorted ascending; `None` for a tracker restored from a checkpoint that did not record it.
    #[serde(default)]
    pub initial: Option<Vec<u64>>,
}

impl TrackedMatrix {
    /// Survival rate of regrown connections over the run: `regrown_survived / regrown_judged`
    /// (`None` before any was judged).
    pub fn regrowth_survival(&self) -> Option<f64> {
        (self.regrown_judged > 0).then(|| self.regrown_survived as f64 / self.regrown_judged as f64)
    }

    /// How many of `sorted_flat` (flat positions, sorted ascending) belong to the initial
    /// topology (`None` when it is not known).
    ///
    /// ```
    /// use set_evolve::TopologyTracker;
    /// let mut t = TopologyTracker::new();
    /// t.record("w", (2, 4), &[0, 5, 7]).unwrap();
    /// t.record("w", (2, 4), &[1, 5]).unwrap(); // later records do not change it
    /// assert_eq!(t.get("w").unwrap().initial_kept(&[1, 5, 7]), Some(2));
    /// ```
    pub fn initial_kept(&self, sorted_flat: &[u64]) -> Option<usize> {
        let initial = self.initial.as_ref()?;
        Some(
            sorted_flat
                .iter()
                .filter(|p| initial.binary_search(p).is_ok())
                .count(),
        )
    }

    /// `ever_active / (rows * cols)` (0 for an empty shape).
    pub fn rate(&self) -> f64 {
        let cap = self.shape.0 as f64 * self.shape.1 as f64;
        if cap == 0.0 {
            0.0
        } else {
            self.ever_active.len() as f64 / cap
        }
    }
}

/// In-time over-parameterisation (Liu et al. 2021): the fraction of all positions that have
/// held a weight at some point of training, per matrix and overall.
///
/// Memory is 8 bytes per ever-active position: it starts at `nnz` and grows only by churn
/// (regrown positions never active before), never to a dense mask.
///
/// ```
/// use set_evolve::TopologyTracker;
/// use set_sparse::SparseMatrix;
/// let mut t = TopologyTracker::new();
/// let mut w = SparseMatrix::<f32>::try_new(2, 2, vec![0, 1, 1], vec![0], vec![1.0]).unwrap();
/// t.observe("w", &w).unwrap();
/// assert_eq!(t.itop_rate("w"), Some(0.25));
/// // Move the single weight to (1, 1): two of four positions have now been active.
/// w.edit(&[0], &[(1, 1, 0.5)]).unwrap();
/// t.observe("w", &w).unwrap();
/// assert_eq!(t.itop_rate("w"), Some(0.5));
/// assert_eq!(t.total_itop_rate(), 0.5);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyTracker {
    matrices: BTreeMap<String, TrackedMatrix>,
}

impl TopologyTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every currently stored position of `matrix` to its ever-active set (registering the
    /// matrix on first sight). `O(nnz + ever_active)`.
    ///
    /// # Errors
    /// [`EvolveError::ShapeChanged`] if the shape differs from the one first seen.
    pub fn observe<T: Scalar>(
        &mut self,
        name: &str,
        matrix: &SparseMatrix<T>,
    ) -> Result<(), EvolveError> {
        self.record(name, matrix.shape(), &flat_positions(matrix))
    }

    /// Adds flat positions (`row * cols + col`, sorted ascending) to a matrix's ever-active set.
    ///
    /// # Errors
    /// [`EvolveError::ShapeChanged`] if the shape differs from the one first seen.
    pub fn record(
        &mut self,
        name: &str,
        shape: (usize, usize),
        sorted_flat: &[u64],
    ) -> Result<(), EvolveError> {
        let entry = self
            .matrices
            .entry(name.to_string())
            .or_insert_with(|| TrackedMatrix {
                shape,
                ever_active: Vec::new(),
                last_added: Vec::new(),
                regrown_judged: 0,
                regrown_survived: 0,
                initial: Some(sorted_flat.to_vec()),
            });
        if entry.shape != shape {
            return Err(EvolveError::ShapeChanged {
                matrix: name.to_string(),
                expected: entry.shape,
                got: shape,
            });
        }
        entry.ever_active = merge_sorted(&entry.ever_active, sorted_flat);
        Ok(())
    }

    /// Judges the connections the previous step added to `name` against this step's removals
    /// (`removed`: flat positions, sorted ascending): returns `(added, survived)`, the number the
    /// previous step added and how many of them this step keeps, and adds both to the run's
    /// totals. `(0, 0)` for a matrix not tracked yet or whose previous step added nothing.
    ///
    /// ```
    /// use set_evolve::TopologyTracker;
    /// let mut t = TopologyTracker::new();
    /// t.record("w", (2, 4), &[0, 5]).unwrap();
    /// t.set_last_added("w", vec![1, 5, 6]);
    /// assert_eq!(t.judge_regrown("w", &[0, 5]), (3, 2));
    /// assert_eq!(t.get("w").unwrap().regrowth_survival(), Some(2.0 / 3.0));
    /// ```
    pub fn judge_regrown(&mut self, name: &str, removed: &[u64]) -> (u64, u64) {
        let Some(m) = self.matrices.get_mut(name) else {
            return (0, 0);
        };
        let added = m.last_added.len() as u64;
        let pruned = m
            .last_added
            .iter()
            .filter(|p| removed.binary_search(p).is_ok())
            .count() as u64;
        m.regrown_judged += added;
        m.regrown_survived += added - pruned;
        (added, added - pruned)
    }

    /// Records the flat positions (sorted ascending) a step added to `name`, for the next
    /// step's [`TopologyTracker::judge_regrown`]; nothing for a matrix not tracked.
    pub fn set_last_added(&mut self, name: &str, sorted_flat: Vec<u64>) {
        if let Some(m) = self.matrices.get_mut(name) {
            m.last_added = sorted_flat;
        }
    }

    /// Restores (or forgets, with `None`) the initial topology of a tracked matrix (from a
    /// checkpoint).
    pub fn restore_initial(&mut self, name: &str, initial: Option<Vec<u64>>) {
        if let Some(m) = self.matrices.get_mut(name) {
            m.initial = initial;
        }
    }

    /// Restores the regrowth bookkeeping of a tracked matrix (from a checkpoint).
    pub fn restore_regrowth(
        &mut self,
        name: &str,
        last_added: Vec<u64>,
        judged: u64,
        survived: u64,
    ) {
        if let Some(m) = self.matrices.get_mut(name) {
            m.last_added = last_added;
            m.regrown_judged = judged;
            m.regrown_survived = survived;
        }
    }

    /// Survival rate of regrown connections over every tracked matrix and the whole run
    /// (`None` before any was judged).
    pub fn total_regrowth_survival(&self) -> Option<f64> {
        let (j, s) = self.matrices.values().fold((0u64, 0u64), |(j, s), m| {
            (j + m.regrown_judged, s + m.regrown_survived)
        });
        (j > 0).then(|| s as f64 / j as f64)
    }

    /// The tracked data of one matrix.
    pub fn get(&self, name: &str) -> Option<&TrackedMatrix> {
        self.matrices.get(name)
    }

    /// Number of positions of `name` ever active.
    pub fn ever_active(&self, name: &str) -> Option<u64> {
        self.get(name).map(|m| m.ever_active.len() as u64)
    }

    /// The in-time over-parameterisation rate of one matrix.
    pub fn itop_rate(&self, name: &str) -> Option<f64> {
        self.get(name).map(TrackedMatrix::rate)
    }

    /// Ever-active positions over all positions, summed over every tracked matrix.
    pub fn total_itop_rate(&self) -> f64 {
        let (ever, cap) = self.matrices.values().fold((0.0, 0.0), |(e, c), m| {
            (
                e + m.ever_active.len() as f64,
                c + m.shape.0 as f64 * m.shape.1 as f64,
            )
        });
        if cap == 0.0 { 0.0 } else { ever / cap }
    }

    /// Names of the tracked matrices, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.matrices.keys().map(String::as_str)
    }
}

/// The stored positions of `matrix` as flat positions `row * cols + col`, sorted ascending
/// (value order is row-major order).
pub(crate) fn flat_positions<T: Scalar>(matrix: &SparseMatrix<T>) -> Vec<u64> {
    let cols = matrix.cols() as u64;
    matrix
        .entries()
        .map(|(r, c, _)| r as u64 * cols + c as u64)
        .collect()
}

/// Union of two sorted lists, sorted and deduplicated.
fn merge_sorted(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => {
                i += 1;
                if x == y {
                    j += 1;
                }
                x
            }
            (Some(_), Some(&y)) | (None, Some(&y)) => {
                j += 1;
                y
            }
            (Some(&x), None) => {
                i += 1;
                x
            }
            (None, None) => unreachable!(),
        };
        if out.last() != Some(&next) {
            out.push(next);
        }
    }
    out
}
