//! Raw row access for the per-time-step gate math, split across rayon workers by hidden unit.

use ndarray::{ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Copies column `b` of `from` into `to` for every sequence `b` that has finished by step `t`
/// (`t >= lengths[b]`): finished sequences keep their state, and state gradients pass through
/// their padding steps unchanged.
pub(crate) fn carry_finished<T: Copy>(
    lengths: &[usize],
    t: usize,
    from: ArrayView2<'_, T>,
    mut to: ArrayViewMut2<'_, T>,
) {
    for (b, &len) in lengths.iter().enumerate() {
        if t >= len {
            to.column_mut(b).assign(&from.column(b));
        }
    }
}

/// Mutable rows of a 2-D view with contiguous rows, shareable across threads.
///
/// The gate math writes rows `r`, `H + r`, `2H + r`, `3H + r` of several arrays for hidden unit
/// `r`; workers own disjoint sets of `r`, so no two threads ever touch the same row.
#[derive(Clone, Copy)]
pub(crate) struct RawRows<T> {
    ptr: *mut T,
    stride: isize,
    rows: usize,
    cols: usize,
}

// SAFETY: access goes through `row`, whose contract forbids aliasing across threads.
unsafe impl<T: Send> Send for RawRows<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for RawRows<T> {}

impl<T> RawRows<T> {
    /// Wraps a view whose rows are contiguous.
    #[track_caller]
    pub(crate) fn new(view: &mut ArrayViewMut2<'_, T>) -> Self {
        let (rows, cols) = view.dim();
        assert!(
            cols <= 1 || view.strides()[1] == 1,
            "rows must be contiguous"
        );
        RawRows {
            ptr: view.as_mut_ptr(),
            stride: if rows > 1 { view.strides()[0] } else { 0 },
            rows,
            cols,
        }
    }

    /// Row `r`.
    ///
    /// # Safety
    /// The view this was made from must outlive the returned slice, and no other live reference
    /// (on any thread) may cover row `r` while the slice is used.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn row<'a>(&self, r: usize) -> &'a mut [T] {
        assert!(r < self.rows, "row {r} out of range ({} rows)", self.rows);
        // SAFETY: in bounds (checked), rows contiguous (checked at construction); aliasing is
        // the caller's contract.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.offset(r as isize * self.stride), self.cols)
        }
    }
}

/// Runs `f(r)` for every hidden unit `r < units`, in parallel blocks when `work` (elements
/// touched) is large enough to pay for it. Each `r` runs exactly once, on one thread.
pub(crate) fn for_each_unit(units: usize, work: usize, f: impl Fn(usize) + Sync + Send) {
    const MIN_WORK: usize = 1 << 14;
    if work < MIN_WORK || set_sparse::workers::workers() == 1 {
        (0..units).for_each(f);
    } else {
        let block = units.div_ceil(set_sparse::workers::workers() * 4).max(1);
        (0..units.div_ceil(block)).into_par_iter().for_each(|k| {
            (k * block..((k + 1) * block).min(units)).for_each(&f);
        });
    }
}
