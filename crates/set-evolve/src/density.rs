//! Density allocation across a model's sparse matrices: Erdős–Rényi, uniform and ERK.

use crate::error::EvolveError;
use serde::{Deserialize, Serialize};
use set_sparse::{er_density, nnz_for_density};

/// How the non-zero budget is spread over a model's matrices.
///
/// Shapes are `(rows, cols)` = `(n_out, n_in)`; every rule below is symmetric in the two.
///
/// ```
/// use set_evolve::{DensityScheme, allocate};
/// let shapes = [(1024, 256), (1024, 256), (2, 256)];
/// let d = allocate(&shapes, &DensityScheme::Uniform { density: 0.1 }).unwrap();
/// assert_eq!(d, vec![0.1, 0.1, 0.1]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DensityScheme {
    /// SET's rule, per matrix: `epsilon * (n_in + n_out) / (n_in * n_out)`, capped at 1.
    /// The total density follows from `epsilon`; it is not a target.
    ErdosRenyi {
        /// SET's sparsity level `epsilon` (> 0).
        epsilon: f64,
    },
    /// The same density for every matrix.
    Uniform {
        /// Density in `[0, 1]`.
        density: f64,
    },
    /// RigL's Erdős–Rényi-Kernel rule (for 2-D matrices it is the ER rule with a global scale):
    /// `density_l = s * (n_in + n_out) / (n_in * n_out)`, with `s` chosen so that the total
    /// non-zeros equal `density * total parameters`; any matrix whose density would exceed 1 is
    /// fixed at 1 and `s` is re-solved for the others, until none exceeds 1.
    Erk {
        /// Target overall density in `[0, 1]`.
        density: f64,
    },
}

fn check_unit(what: &'static str, value: f64) -> Result<(), EvolveError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(EvolveError::InvalidParameter {
            what,
            value,
            expected: "a number in [0, 1]",
        })
    }
}

/// Per-matrix densities for `shapes` under `scheme`.
///
/// A matrix with zero rows or columns gets density 0.
///
/// ```
/// use set_evolve::{DensityScheme, allocate};
/// // A tiny matrix would need density > 1 under ERK: it is fixed at 1, the others share the rest.
/// let shapes = [(1000, 1000), (4, 4)];
/// let d = allocate(&shapes, &DensityScheme::Erk { density: 0.5 }).unwrap();
/// assert_eq!(d[1], 1.0);
/// let total: f64 = shapes.iter().zip(&d).map(|(&(r, c), d)| d * (r * c) as f64).sum();
/// assert!((total - 0.5 * 1_000_016.0).abs() < 1e-6);
/// ```
///
/// # Errors
/// [`EvolveError::InvalidParameter`] if `epsilon` is not finite and positive, or a density is
/// outside `[0, 1]`.
pub fn allocate(
    shapes: &[(usize, usize)],
    scheme: &DensityScheme,
) -> Result<Vec<f64>, EvolveError> {
    match *scheme {
        DensityScheme::ErdosRenyi { epsilon } => {
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return Err(EvolveError::InvalidParameter {
                    what: "epsilon",
                    value: epsilon,
                    expected: "a finite number > 0",
                });
            }
            shapes
                .iter()
                .map(|&(r, c)| {
                    er_density(epsilon, r, c).map_err(|_| EvolveError::InvalidParameter {
                        what: "epsilon",
                        value: epsilon,
                        expected: "a finite number > 0",
                    })
                })
                .collect()
        }
        DensityScheme::Uniform { density } => {
            check_unit("density", density)?;
            Ok(shapes
                .iter()
                .map(|&(r, c)| if r * c == 0 { 0.0 } else { density })
                .collect())
        }
        DensityScheme::Erk { density } => {
            check_unit("density", density)?;
            Ok(erk(shapes, density))
        }
    }
}

fn erk(shapes: &[(usize, usize)], density: f64) -> Vec<f64> {
    let size = |&(r, c): &(usize, usize)| r as f64 * c as f64;
    let total: f64 = shapes.iter().map(size).sum();
    let target = density * total;
    let mut dense = vec![false; shapes.len()];
    loop {
        // Non-zeros left for the matrices not fixed at 1, and the sum of their raw weights
        // (n_in + n_out): density_l * size_l = s * (n_in + n_out).
        let mut remaining = target;
        let mut divisor = 0.0;
        for (i, shape) in shapes.iter().enumerate() {
            if size(shape) == 0.0 {
                continue;
            }
            if dense[i] {
                remaining -= size(shape);
            } else {
                divisor += (shape.0 + shape.1) as f64;
            }
        }
        let scale = if divisor > 0.0 {
            (remaining / divisor).max(0.0)
        } else {
            0.0
        };
        let mut changed = false;
        let densities: Vec<f64> = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let n = size(shape);
                if n == 0.0 {
                    0.0
                } else if dense[i] {
                    1.0
                } else {
                    let d = scale * (shape.0 + shape.1) as f64 / n;
                    // Fixing a matrix at 1 only raises the scale for the rest, so every matrix
                    // above 1 now stays above 1: fix them all in this round.
                    if d > 1.0 {
                        dense[i] = true;
                        changed = true;
                    }
                    d
                }
            })
            .collect();
        if !changed {
            return densities;
        }
    }
}

/// Densities turned into exact non-zero counts, with totals.
///
/// ```
/// use set_evolve::{DensityReport, DensityScheme};
/// let r = DensityReport::from_scheme(&[(10, 10), (10, 20)], &DensityScheme::Uniform { density: 0.5 })
///     .unwrap();
/// assert_eq!(r.per_matrix, vec![(0.5, 50), (0.5, 100)]);
/// assert_eq!((r.total_nnz, r.dense_total), (150, 300));
/// assert_eq!(r.fraction, 0.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DensityReport {
    /// `(density, nnz)` per matrix, with `nnz = round(density * rows * cols)`
    /// ([`set_sparse::nnz_for_density`], the count `SparseMatrix::random_density` uses).
    pub per_matrix: Vec<(f64, usize)>,
    /// Sum of the per-matrix non-zeros.
    pub total_nnz: usize,
    /// Sum of `rows * cols`.
    pub dense_total: usize,
    /// `total_nnz / dense_total` (0 when there are no parameters).
    pub fraction: f64,
}

impl DensityReport {
    /// Builds the report for given densities (one per shape).
    ///
    /// # Errors
    /// [`EvolveError::InvalidParameter`] if a density is outside `[0, 1]` or the lengths differ.
    pub fn new(shapes: &[(usize, usize)], densities: &[f64]) -> Result<Self, EvolveError> {
        if shapes.len() != densities.len() {
            return Err(EvolveError::InvalidParameter {
                what: "densities length",
                value: densities.len() as f64,
                expected: "one density per shape",
            });
        }
        let mut per_matrix = Vec::with_capacity(shapes.len());
        for (&(r, c), &d) in shapes.iter().zip(densities) {
            let nnz = nnz_for_density(d, r, c).map_err(|_| EvolveError::InvalidParameter {
                what: "density",
                value: d,
                expected: "a number in [0, 1]",
            })?;
            per_matrix.push((d, nnz));
        }
        let total_nnz = per_matrix.iter().map(|p| p.1).sum();
        let dense_total: usize = shapes.iter().map(|&(r, c)| r * c).sum();
        let fraction = if dense_total == 0 {
            0.0
        } else {
            total_nnz as f64 / dense_total as f64
        };
        Ok(DensityReport {
            per_matrix,
            total_nnz,
            dense_total,
            fraction,
        })
    }

    /// [`allocate`] followed by [`DensityReport::new`].
    ///
    /// # Errors
    /// As [`allocate`].
    pub fn from_scheme(
        shapes: &[(usize, usize)],
        scheme: &DensityScheme,
    ) -> Result<Self, EvolveError> {
        Self::new(shapes, &allocate(shapes, scheme)?)
    }
}
