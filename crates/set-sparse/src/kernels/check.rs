//! Operand validation shared by the checked (`try_*`) and panicking kernel entry points.
//!
//! Each kernel has exactly one validation routine (next to the kernel); the checked entry point
//! returns its error and the panicking one panics with the error's message ([`or_panic`]). The
//! routines are O(1) per call (O(`ids.len()`) for the embedding kernels, which must look at every
//! id) and run before any work, never inside a hot loop.

use crate::error::SparseError;
use crate::matrix::SparseMatrix;
use crate::scalar::Scalar;

/// Panics with the error's message, at the caller's location.
#[track_caller]
#[inline]
pub(crate) fn or_panic<R>(r: Result<R, SparseError>) -> R {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    }
}

/// Whether an operand with `shape` and `strides` has contiguous rows: its last axis has stride 1
/// or at most one element, or it has no elements at all (ndarray may give an empty array any
/// strides). The one definition of "contiguous" used by every kernel.
#[inline]
pub(crate) fn rows_contiguous(shape: &[usize], strides: &[isize]) -> bool {
    match (shape.last(), strides.last()) {
        (Some(&len), Some(&stride)) => len <= 1 || stride == 1 || shape.contains(&0),
        _ => true,
    }
}

/// [`SparseError::NotContiguous`] unless an operand with `shape` and `strides` has contiguous
/// rows ([`rows_contiguous`]).
#[inline]
pub(crate) fn contiguous(
    op: &'static str,
    operand: &'static str,
    shape: &[usize],
    strides: &[isize],
) -> Result<(), SparseError> {
    if rows_contiguous(shape, strides) {
        Ok(())
    } else {
        Err(SparseError::NotContiguous {
            op,
            operand,
            strides: strides.to_vec(),
        })
    }
}

/// [`SparseError::ShapeMismatch`] unless `got == expected`.
#[inline]
pub(crate) fn shape<T: Scalar>(
    w: &SparseMatrix<T>,
    op: &'static str,
    operand: &'static str,
    expected: &[usize],
    got: &[usize],
) -> Result<(), SparseError> {
    if expected == got {
        Ok(())
    } else {
        Err(SparseError::ShapeMismatch {
            op,
            operand,
            expected: expected.to_vec(),
            got: got.to_vec(),
            w_rows: w.rows(),
            w_cols: w.cols(),
        })
    }
}

/// [`SparseError::LengthMismatch`] unless a buffer aligned with the stored values has `nnz`
/// elements.
#[inline]
pub(crate) fn nnz_len<T: Scalar>(
    w: &SparseMatrix<T>,
    op: &'static str,
    operand: &'static str,
    got: usize,
) -> Result<(), SparseError> {
    if got == w.nnz() {
        Ok(())
    } else {
        Err(SparseError::LengthMismatch {
            op,
            operand,
            expected: w.nnz(),
            got,
        })
    }
}

/// [`SparseError::IdOutOfRange`] for the first id (other than `skip`) that is not a row of `w`.
#[inline]
pub(crate) fn ids_in_range<T: Scalar>(
    w: &SparseMatrix<T>,
    op: &'static str,
    ids: &[u32],
    skip: Option<u32>,
) -> Result<(), SparseError> {
    let rows = w.rows();
    match ids
        .iter()
        .position(|&id| id as usize >= rows && Some(id) != skip)
    {
        None => Ok(()),
        Some(index) => Err(SparseError::IdOutOfRange {
            op,
            index,
            id: ids[index],
            rows,
        }),
    }
}
