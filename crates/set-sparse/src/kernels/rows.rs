//! Borrowed row access to dense 2-D operands whose rows are contiguous.

use crate::Scalar;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use std::marker::PhantomData;

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
        assert!(
            ncols <= 1 || view.strides()[1] == 1,
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
}

/// Checks that a mutable output has contiguous rows.
#[track_caller]
pub(crate) fn check_rows_mut<T>(view: &ArrayViewMut2<'_, T>, what: &str) {
    assert!(
        view.ncols() <= 1 || view.strides()[1] == 1,
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

/// Splits `rows` into about `4 * threads` contiguous blocks for parallel loops.
pub(crate) fn block_rows(rows: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    rows.div_ceil(threads * 4).max(1)
}
