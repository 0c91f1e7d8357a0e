//! Borrowed row access to dense 2-D operands whose rows are contiguous.

use crate::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use std::marker::PhantomData;
use std::ops::Range;

/// Read-only rows of a dense matrix (row `i` is a contiguous slice), shareable across threads.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a, T> {
    ptr: *const T,
    stride: isize,
    nrows: usize,
    ncols: usize,
    _life: PhantomData<&'a T>,
}

// SAFETY: `Rows` is a shared borrow of `T: Sync` data.
unsafe impl<T: Sync> Send for Rows<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Rows<'_, T> {}

impl<'a, T: Scalar> Rows<'a, T> {
    #[track_caller]
    pub(crate) fn new(view: &ArrayView2<'a, T>, what: &str) -> Self {
        let (nrows, ncols) = view.dim();
        // Checked on entry by every public kernel (`check.rs`); kept as the safety invariant of
        // `row`.
        assert!(
            super::check::rows_contiguous(view.shape(), view.strides()),
            "{what}: rows must be contiguous (inner stride 1), got strides {:?}",
            view.strides()
        );
        Rows {
            ptr: view.as_ptr(),
            stride: if nrows > 1 { view.strides()[0] } else { 0 },
            nrows,
            ncols,
            _life: PhantomData,
        }
    }

    /// Row `i`.
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> &'a [T] {
        assert!(
            i < self.nrows,
            "row {i} out of range for {} rows",
            self.nrows
        );
        // SAFETY: `i < nrows`, the view's rows are contiguous with `ncols` elements, and the
        // borrow lives for `'a`.
        unsafe { std::slice::from_raw_parts(self.ptr.offset(i as isize * self.stride), self.ncols) }
    }

    pub(crate) fn ncols(&self) -> usize {
        self.ncols
    }

    pub(crate) fn nrows(&self) -> usize {
        self.nrows
    }

    /// Pointer to the first element of row 0.
    #[inline(always)]
    pub(crate) fn as_ptr(&self) -> *const T {
        self.ptr
    }

    /// Elements between the starts of consecutive rows.
    #[inline(always)]
    pub(crate) fn stride(&self) -> isize {
        self.stride
    }

    /// Whether every row starts on a 64-byte (cache line) boundary.
    pub(crate) fn rows_aligned_64(&self) -> bool {
        let bytes = std::mem::size_of::<T>() as isize;
        (self.ptr as usize).is_multiple_of(64) && (self.stride * bytes) % 64 == 0
    }

    /// Rows over raw storage.
    ///
    /// # Safety
    /// For every `i < nrows`, `ptr + i * stride` must point to `ncols` initialised elements that
    /// stay valid and unmodified for `'a`.
    pub(crate) unsafe fn from_raw(
        ptr: *const T,
        stride: isize,
        nrows: usize,
        ncols: usize,
    ) -> Self {
        Rows {
            ptr,
            stride,
            nrows,
            ncols,
            _life: PhantomData,
        }
    }
}

/// Checks that a mutable output has contiguous rows.
#[track_caller]
pub(crate) fn check_rows_mut<T>(view: &ArrayViewMut2<'_, T>, what: &str) {
    assert!(
        super::check::rows_contiguous(view.shape(), view.strides()),
        "{what}: rows must be contiguous (inner stride 1), got strides {:?}",
        view.strides()
    );
}

/// Mutable row `i` of a view with contiguous rows.
#[inline(always)]
pub(crate) fn row_mut<'b, T>(view: &'b mut ArrayViewMut2<'_, T>, i: usize) -> &'b mut [T] {
    view.index_axis_mut(Axis(0), i)
        .into_slice()
        .expect("rows are contiguous (checked on entry)")
}

/// Wide operands are processed in column tiles of this many batch columns, so the rows of the
/// dense operand that a tile touches stay in cache.
pub(crate) const COL_TILE: usize = 256;

/// Work below this many multiply-adds runs on the calling thread.
pub(crate) const PARALLEL_MIN_WORK: usize = 1 << 15;

/// Parallel tasks per rayon thread: a few, so a core taken by another process can be balanced.
pub(crate) const TASKS_PER_THREAD: usize = 4;

/// Splits rows `0..ptr.len() - 1` into at most `parts` contiguous ranges of about equal cost,
/// where a row costs its entry count (`ptr[r + 1] - ptr[r]`) plus one. Returns the boundaries:
/// `0 = b[0] < b[1] < ... < b[last] = rows` (just `[0]` when there are no rows).
///
/// Only the work split depends on this; no kernel's arithmetic does.
pub(crate) fn balanced_bounds(ptr: &[usize], parts: usize) -> Vec<usize> {
    let rows = ptr.len() - 1;
    let cost = |r: usize| ptr[r] - ptr[0] + r;
    let total = cost(rows);
    let parts = parts.clamp(1, rows.max(1));
    let mut bounds = vec![0];
    for p in 1..parts {
        let target = total * p / parts;
        // The first row boundary whose cost reaches the target (cost is strictly increasing).
        let (mut lo, mut hi) = (0, rows);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cost(mid) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo > *bounds.last().expect("non-empty") && lo < rows {
            bounds.push(lo);
        }
    }
    if rows > 0 {
        bounds.push(rows);
    }
    bounds
}

/// [`balanced_bounds`] for the current rayon pool: [`TASKS_PER_THREAD`] ranges per thread.
pub(crate) fn parallel_bounds(ptr: &[usize]) -> Vec<usize> {
    balanced_bounds(ptr, crate::workers::workers().max(1) * TASKS_PER_THREAD)
}

/// Runs `block_fn(rows, part)` over contiguous row ranges of `out` (`part` is rows `rows`),
/// in parallel over [`parallel_bounds`] ranges when `parallel`, else once over all rows.
/// `ptr` (`out.nrows() + 1` entries) gives each row's entry count for balancing.
pub(crate) fn for_row_blocks<T: Send>(
    out: &mut ArrayViewMut2<'_, T>,
    ptr: &[usize],
    parallel: bool,
    block_fn: impl Fn(Range<usize>, &mut ArrayViewMut2<'_, T>) + Sync,
) {
    assert_eq!(ptr.len(), out.nrows() + 1);
    if !parallel || crate::workers::workers() <= 1 {
        block_fn(0..out.nrows(), out);
        return;
    }
    let bounds = parallel_bounds(ptr);
    let mut parts = Vec::with_capacity(bounds.len());
    let mut rest = out.view_mut();
    for w in bounds.windows(2) {
        let (head, tail) = rest.split_at(Axis(0), w[1] - w[0]);
        parts.push((w[0]..w[1], head));
        rest = tail;
    }
    parts
        .into_par_iter()
        .for_each(|(rows, mut part)| block_fn(rows, &mut part));
}
