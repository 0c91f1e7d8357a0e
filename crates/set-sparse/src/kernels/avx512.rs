//! Hand-vectorised `f32` kernels for AVX-512: accumulators pinned in `zmm` registers.
//!
//! All three products stream the sparse structure once and read one random row of a dense
//! operand per stored entry (`x[c, :]` in SpMM and SDDMM, `dy[i, :]` in transposed SpMM). At
//! `B = 64` that row is 256 bytes, and with the dense operand held in L2 the kernels are limited
//! by how fast L2 refills L1. Hence:
//!
//! - **Row alignment.** A 256-byte row that starts mid cache line spans five lines instead of
//!   four and every 64-byte load is split. Rows of a randomly read operand that are not
//!   64-byte aligned are first copied into a per-thread, 64-byte aligned scratch buffer
//!   ([`with_aligned_rows`]; worth +25-40 %).
//! - **Software prefetch** of the row [`PREFETCH_AHEAD`] entries ahead (the column indices are
//!   random, so the hardware cannot guess them).
//! - **Raw pointer access** in the inner loops: column indices were validated `< cols` when the
//!   matrix was built and the callers assert the operand shapes.
//! - **Write prefetch** of output rows (and of `dy` rows in SDDMM) a few rows ahead, which matters
//!   when the operands stream from memory (the batched products).
//! - **SDDMM** computes one 16-lane product vector per entry, keeps 16 consecutive entries' vectors
//!   in registers (groups run across row boundaries) and reduces them together with a
//!   transpose-and-add tree ([`sum16`]) instead of one horizontal reduction per entry; the 16 sums
//!   are added to the gradient with one vector add.
//! - **One batch column** (a matrix-vector product, batch-1 inference): [`spmv_rows`] gives
//!   each of 16 rows a lane and gathers its entries, summing in the batched kernel's order.
//! - **Batched transposed SpMM** reads the values in transposed order, gathered once per call
//!   ([`transposed_values`]) instead of once per step; nothing is cached across calls, so
//!   optimizer updates need no re-sync.
//!
//! Summation order differs from the generic path (so the last bits can too), but it is fixed by
//! the data: which entries share an SDDMM tree or a register block never changes a sum (every
//! lane of the tree adds its 16 partial sums in the same order), so results never depend on the
//! thread count or on how rows are split.

#![cfg(target_arch = "x86_64")]

use super::rows::Rows;
use crate::Scalar;
use crate::matrix::SparseMatrix;
use std::any::TypeId;
use std::arch::x86_64::*;
use std::cell::Cell;
use std::ops::Range;

/// Whether the `f32` AVX-512 kernels apply to element type `T` on this CPU.
#[inline(always)]
pub(crate) fn applies<T: Scalar>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>() && crate::simd::isa() == crate::simd::Isa::Avx512
}

/// How many entries ahead the kernels prefetch the dense row of an entry (one cache line).
const PREFETCH_AHEAD: usize = 16;

/// How many entries ahead transposed SpMM prefetches an entry's value.
const VALUE_PREFETCH_AHEAD: usize = 32;

/// How many rows ahead SpMM prefetches its output rows for writing (and SDDMM its `dy` rows).
const OUTPUT_PREFETCH_ROWS: usize = 4;

/// Operands are copied to aligned scratch only if each row is read at least this many times on
/// average (the copy reads and writes every row once).
const PACK_MIN_USES_PER_ROW: usize = 4;

/// Floats per parallel packing task.
const PACK_PARALLEL_CHUNK: usize = 1 << 14;

/// The first `n` lanes (`n` in `1..=16`).
#[inline(always)]
fn lane_mask(n: usize) -> __mmask16 {
    if n >= 16 { 0xffff } else { (1u16 << n) - 1 }
}

thread_local! {
    /// Per-thread scratch for [`with_aligned_rows`], kept between calls (it grows to the
    /// largest operand the thread has packed).
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Calls `f` with `rows`, or with a copy whose rows start on 64-byte boundaries (row stride
/// rounded up to 16 floats) if `rows` is not aligned and is read often enough (`uses` row reads
/// in total) to repay the copy.
///
/// The copy lives in a per-thread buffer that is taken out of its slot for the duration of `f`,
/// so a nested call on the same thread (rayon work stealing) gets a buffer of its own.
pub(crate) fn with_aligned_rows<R>(
    rows: Rows<'_, f32>,
    uses: usize,
    parallel: bool,
    f: impl FnOnce(Rows<'_, f32>) -> R,
) -> R {
    let (n, b) = (rows.nrows(), rows.ncols());
    if rows.rows_aligned_64() || b < 16 || n == 0 || uses < PACK_MIN_USES_PER_ROW * n {
        return f(rows);
    }
    let stride = b.next_multiple_of(16);
    let need = n * stride + 16;
    let mut buf = SCRATCH.take();
    if buf.len() < need {
        buf = vec![0.0; need];
    }
    // Elements to skip so that the first row starts on a 64-byte boundary (f32 is 4-aligned).
    let off = ((64 - buf.as_ptr() as usize % 64) % 64) / 4;
    let dst = &mut buf[off..off + n * stride];
    let copy = |first: usize, dst: &mut [f32]| {
        for (i, d) in dst.chunks_exact_mut(stride).enumerate() {
            d[..b].copy_from_slice(rows.row(first + i));
        }
    };
    let chunk_rows = (PACK_PARALLEL_CHUNK / stride).max(1);
    if parallel && n > chunk_rows && crate::workers::workers() > 1 {
        use rayon::prelude::*;
        dst.par_chunks_mut(chunk_rows * stride)
            .enumerate()
            .for_each(|(c, d)| copy(c * chunk_rows, d));
    } else {
        copy(0, dst);
    }
    // SAFETY: row `i` of the copy is `buf[off + i * stride..][..b]`, inside `buf` (`off < 16`,
    // `need = n * stride + 16`), initialised above; `buf` is neither moved nor modified until
    // `f` returns.
    let packed = unsafe { Rows::from_raw(buf.as_ptr().add(off), stride as isize, n, b) };
    let result = f(packed);
    SCRATCH.set(buf);
    result
}

/// Reinterprets `&A<T>` as `&A<f32>`.
///
/// # Safety
/// `T` must be `f32` (checked by [`applies`]).
#[inline(always)]
unsafe fn same<A, B>(a: &A) -> &B {
    // SAFETY: the caller guarantees A and B are the same type.
    unsafe { &*(a as *const A as *const B) }
}

/// `[f32]` view of a `[T]` with `T = f32`.
///
/// # Safety
/// `T` must be `f32` (checked by [`applies`]).
#[inline(always)]
unsafe fn f32_slice_mut<T>(s: &mut [T]) -> &mut [f32] {
    // SAFETY: T is f32 (caller contract), so the reinterpretation is exact.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut f32, s.len()) }
}

// ------------------------------------------------------------------------------------------------
// SpMM and transposed SpMM: `y[r, :] (+)= sum_k v_k x[c_k, :]`.

/// The entries of a block of output rows, in the order they are summed.
struct Entries<'a> {
    /// Entries of local row `r` are at positions `start[r]..end[r]` of `idx`.
    start: &'a [usize],
    end: &'a [usize],
    /// Input row of each entry (`< x.nrows()`).
    idx: &'a [u32],
    /// Transposed walk only: position of each entry's value in `val` (`< val.len()`).
    pos: &'a [u32],
    /// Values: indexed by entry position (CSR) or through `pos` (transposed).
    val: &'a [f32],
}

/// Rows `0..e.start.len()` of `y (+)= W x` for batch columns `s..s + w`, where `w` is `16 * NC`
/// (or `16 * (NC - 1) + popcount(tail)` when `MASKED`). Output row `r` starts at
/// `y + r * ystride`.
///
/// Per lane, a row's sum is `(y or 0) + even-numbered entries` plus `odd-numbered entries`,
/// each added in order.
///
/// # Safety
/// AVX-512F; `e.start[r] <= e.end[r] <= e.idx.len()` (and `<= e.pos.len()` when `IND`); every
/// `idx` value in those ranges is `< x.nrows()`, every `pos` value `< val.len()` (when `IND`);
/// `s + w <= x.ncols()`; `y + r * ystride + s .. + w` is valid for writes (and reads when
/// `accumulate`) for every row.
#[target_feature(enable = "avx512f")]
unsafe fn axpy_rows<const IND: bool, const NC: usize, const MASKED: bool>(
    e: &Entries<'_>,
    x: &Rows<'_, f32>,
    s: usize,
    tail: __mmask16,
    y: *mut f32,
    ystride: isize,
    accumulate: bool,
) {
    let nrows = e.start.len();
    debug_assert_eq!(e.end.len(), nrows);
    let (xp, xs) = (x.as_ptr(), x.stride());
    let idx = e.idx.as_ptr();
    // Prefetch positions are clamped to the index array (they may run into other rows' entries).
    let klast = e.idx.len().saturating_sub(1);
    // SAFETY (whole body): by the caller contract every entry read is at `k < end[r] <=
    // idx.len()`, input row indices are `< x.nrows()` so `xp + c * xs` is a row of `x`, and every
    // load and store below covers columns `s..s + w` of such a row or of a row of `y` (the last
    // chunk masked when `MASKED`). Prefetches never fault.
    unsafe {
        let entry = |k: usize| -> (*const f32, __m512) {
            let c = *idx.add(k) as isize;
            let v = if IND {
                *e.val.get_unchecked(*e.pos.get_unchecked(k) as usize)
            } else {
                *e.val.get_unchecked(k)
            };
            (xp.offset(c * xs).add(s), _mm512_set1_ps(v))
        };
        let load = |p: *const f32, c: usize| -> __m512 {
            if MASKED && c == NC - 1 {
                _mm512_maskz_loadu_ps(tail, p.add(16 * c))
            } else {
                _mm512_loadu_ps(p.add(16 * c))
            }
        };
        let prefetch = |k: usize| {
            // The input row of a later entry: column indices are random, so the hardware
            // prefetchers cannot know it. One line suffices (the rest follows sequentially).
            let kp = (k + PREFETCH_AHEAD).min(klast);
            let p = xp.offset(*idx.add(kp) as isize * xs).add(s);
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
            if IND {
                // The value of a transposed entry is a random read too.
                let kv = (k + VALUE_PREFETCH_AHEAD).min(klast);
                let v = e.val.as_ptr().add(*e.pos.get_unchecked(kv) as usize);
                _mm_prefetch::<_MM_HINT_T0>(v as *const i8);
            }
        };
        for r in 0..nrows {
            let yr = y.offset(r as isize * ystride).add(s);
            if r + OUTPUT_PREFETCH_ROWS < nrows {
                // Output rows are written once: fetch them for writing ahead of time.
                let q = y
                    .offset((r + OUTPUT_PREFETCH_ROWS) as isize * ystride)
                    .add(s) as *const i8;
                for l in 0..NC {
                    _mm_prefetch::<_MM_HINT_ET0>(q.add(64 * l));
                }
                _mm_prefetch::<_MM_HINT_ET0>(q.add(64 * NC - 4));
            }
            let z = _mm512_setzero_ps();
            // Two accumulator sets (even and odd entries) hide the FMA latency.
            let mut a = [z; NC];
            let mut b = [z; NC];
            if accumulate {
                for (c, a) in a.iter_mut().enumerate() {
                    *a = load(yr, c);
                }
            }
            let (mut k, k1) = (e.start[r], e.end[r]);
            while k + 2 <= k1 {
                prefetch(k);
                prefetch(k + 1);
                let (p, vp) = entry(k);
                let (q, vq) = entry(k + 1);
                for (c, a) in a.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(vp, load(p, c), *a);
                }
                for (c, b) in b.iter_mut().enumerate() {
                    *b = _mm512_fmadd_ps(vq, load(q, c), *b);
                }
                k += 2;
            }
            if k < k1 {
                let (p, vp) = entry(k);
                for (c, a) in a.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(vp, load(p, c), *a);
                }
            }
            for c in 0..NC {
                let v = _mm512_add_ps(a[c], b[c]);
                if MASKED && c == NC - 1 {
                    _mm512_mask_storeu_ps(yr.add(16 * c), tail, v);
                } else {
                    _mm512_storeu_ps(yr.add(16 * c), v);
                }
            }
        }
    }
}

/// All batch columns of [`axpy_rows`], in super-chunks of up to 64 columns.
///
/// # Safety
/// As [`axpy_rows`] with `y` rows valid for `x.ncols()` columns.
#[target_feature(enable = "avx512f")]
unsafe fn axpy_block<const IND: bool>(
    e: &Entries<'_>,
    x: &Rows<'_, f32>,
    y: *mut f32,
    ystride: isize,
    accumulate: bool,
) {
    let b = x.ncols();
    let mut s = 0;
    while s < b {
        let w = (b - s).min(64);
        let nc = w.div_ceil(16);
        let tail = lane_mask(w - 16 * (nc - 1));
        let (y, ys, acc) = (y, ystride, accumulate);
        // SAFETY: columns `s..s + w` are within the rows (caller contract), `w` matches
        // `(nc, masked, tail)`.
        unsafe {
            match (nc, !w.is_multiple_of(16)) {
                (1, false) => axpy_rows::<IND, 1, false>(e, x, s, tail, y, ys, acc),
                (1, true) => axpy_rows::<IND, 1, true>(e, x, s, tail, y, ys, acc),
                (2, false) => axpy_rows::<IND, 2, false>(e, x, s, tail, y, ys, acc),
                (2, true) => axpy_rows::<IND, 2, true>(e, x, s, tail, y, ys, acc),
                (3, false) => axpy_rows::<IND, 3, false>(e, x, s, tail, y, ys, acc),
                (3, true) => axpy_rows::<IND, 3, true>(e, x, s, tail, y, ys, acc),
                (4, false) => axpy_rows::<IND, 4, false>(e, x, s, tail, y, ys, acc),
                _ => axpy_rows::<IND, 4, true>(e, x, s, tail, y, ys, acc),
            }
        }
        s += w;
    }
}

/// Rows `rows` of `y (+)= W x`, where `y` points at output row `rows.start`.
///
/// # Safety
/// AVX-512F; `x.nrows() == w.cols()`; `y + r * ystride` (for `r < rows.len()`) is valid for
/// `x.ncols()` elements, not aliased by `x`.
#[target_feature(enable = "avx512f")]
unsafe fn spmm_rows_f32(
    w: &SparseMatrix<f32>,
    x: &Rows<'_, f32>,
    rows: Range<usize>,
    y: *mut f32,
    ystride: isize,
    accumulate: bool,
) {
    let ptr = &w.indptr()[rows.start..=rows.end];
    let e = Entries {
        start: &ptr[..rows.len()],
        end: &ptr[1..],
        idx: w.indices(),
        pos: &[],
        val: w.values(),
    };
    assert_eq!(x.nrows(), w.cols());
    if x.ncols() == 1 && spmv_fits(w, x, rows.len(), ystride) {
        // SAFETY: as below; `spmv_fits` checked that every offset fits in `i32`.
        return unsafe { spmv_rows(&e, x, y, ystride, accumulate) };
    }
    // SAFETY: CSR column indices are `< cols == x.nrows()` (validated at construction), row
    // pointers are within `indices`; the output contract is the caller's.
    unsafe { axpy_block::<false>(&e, x, y, ystride, accumulate) }
}

/// Whether the element offsets [`spmv_rows`] gathers with (entry positions, input and output
/// row offsets) all fit in `i32`.
fn spmv_fits(w: &SparseMatrix<f32>, x: &Rows<'_, f32>, nrows: usize, ystride: isize) -> bool {
    let max = i32::MAX as usize;
    let (xs, ys) = (x.stride(), ystride);
    w.nnz() <= max
        && xs >= 0
        && ys >= 0
        && x.nrows().saturating_mul(xs as usize) <= max
        && nrows.saturating_mul(ys as usize) <= max
}

/// [`axpy_rows`] for one batch column (a sparse matrix-vector product): 16 output rows at a
/// time, one per lane, their entries gathered. Each lane sums exactly as [`axpy_rows`] does,
/// `(y or 0) + even-numbered entries` plus `odd-numbered entries`, each added in order with
/// one FMA, so the result is bit-identical to the 1-column case of the batched kernel (tested)
/// at ~4x its speed: that kernel spends one masked 16-lane FMA, with its latency, per entry.
///
/// # Safety
/// AVX-512F; as [`axpy_rows`] with `x.ncols() == 1`, and [`spmv_fits`] holds.
#[target_feature(enable = "avx512f")]
unsafe fn spmv_rows(
    e: &Entries<'_>,
    x: &Rows<'_, f32>,
    y: *mut f32,
    ystride: isize,
    accumulate: bool,
) {
    let n = e.start.len();
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let (xs, ys) = (
        _mm512_set1_epi32(x.stride() as i32),
        _mm512_set1_epi32(ystride as i32),
    );
    let (one, two) = (_mm512_set1_epi32(1), _mm512_set1_epi32(2));
    let (z, zi) = (_mm512_setzero_ps(), _mm512_setzero_si512());
    let (idx, val, xp) = (e.idx.as_ptr() as *const i32, e.val.as_ptr(), x.as_ptr());
    let mut r0 = 0;
    while r0 < n {
        let m = (n - r0).min(16);
        let live = lane_mask(m);
        let (mut st, mut en) = ([0i32; 16], [0i32; 16]);
        let mut longest = 0;
        for l in 0..m {
            // Positions fit in i32 (`spmv_fits`).
            st[l] = e.start[r0 + l] as i32;
            en[l] = e.end[r0 + l] as i32;
            longest = longest.max(en[l] - st[l]);
        }
        // SAFETY (whole block): lanes outside `live` or past a row's end are masked off, so
        // every gathered position is inside its row's entries (`< idx.len()`, `< val.len()`),
        // every gathered input row is `< x.nrows()` (CSR invariant), and the output offsets are
        // rows `r0..r0 + m` of `y` (caller contract); all offsets fit in i32 (`spmv_fits`).
        unsafe {
            let mut pos = _mm512_loadu_si512(st.as_ptr() as *const __m512i);
            let end = _mm512_loadu_si512(en.as_ptr() as *const __m512i);
            let rows = _mm512_add_epi32(lanes, _mm512_set1_epi32(r0 as i32));
            let yoff = _mm512_mullo_epi32(rows, ys);
            let mut a = if accumulate {
                _mm512_mask_i32gather_ps::<4>(z, live, yoff, y)
            } else {
                z
            };
            let mut b = z;
            let mut j = 0;
            while j < longest {
                let ma = _mm512_mask_cmplt_epi32_mask(live, pos, end);
                let c = _mm512_mask_i32gather_epi32::<4>(zi, ma, pos, idx);
                let v = _mm512_mask_i32gather_ps::<4>(z, ma, pos, val);
                let xv = _mm512_mask_i32gather_ps::<4>(z, ma, _mm512_mullo_epi32(c, xs), xp);
                a = _mm512_mask3_fmadd_ps(v, xv, a, ma);
                let pos1 = _mm512_add_epi32(pos, one);
                let mb = _mm512_mask_cmplt_epi32_mask(live, pos1, end);
                let c = _mm512_mask_i32gather_epi32::<4>(zi, mb, pos1, idx);
                let v = _mm512_mask_i32gather_ps::<4>(z, mb, pos1, val);
                let xv = _mm512_mask_i32gather_ps::<4>(z, mb, _mm512_mullo_epi32(c, xs), xp);
                b = _mm512_mask3_fmadd_ps(v, xv, b, mb);
                pos = _mm512_add_epi32(pos, two);
                j += 2;
            }
            let sum = _mm512_add_ps(a, b);
            if ystride == 1 {
                _mm512_mask_storeu_ps(y.add(r0), live, sum);
            } else {
                _mm512_mask_i32scatter_ps::<4>(y, live, yoff, sum);
            }
        }
        r0 += m;
    }
}

/// Rows `cols` of `dx (+)= W^T dy` (walking the transposed index), `dx` at row `cols.start`.
/// With `values_t` (the values in transposed order, see [`transposed_values`]) the values are
/// read in sequence instead of gathered through the index.
///
/// # Safety
/// AVX-512F; `dy.nrows() == w.rows()`; `dx` as `y` in [`spmm_rows_f32`].
#[target_feature(enable = "avx512f")]
unsafe fn spmm_t_rows_f32(
    w: &SparseMatrix<f32>,
    values_t: Option<&[f32]>,
    dy: &Rows<'_, f32>,
    cols: Range<usize>,
    dx: *mut f32,
    dxstride: isize,
    accumulate: bool,
) {
    let t = &w.t_index;
    let ptr = &t.col_ptr[cols.start..=cols.end];
    assert_eq!(dy.nrows(), w.rows());
    let mut e = Entries {
        start: &ptr[..cols.len()],
        end: &ptr[1..],
        idx: &t.rows,
        pos: &t.pos,
        val: w.values(),
    };
    // SAFETY: the transposed index holds rows `< w.rows() == dy.nrows()` and value positions
    // `< nnz` (built from a valid CSR structure), and `values_t` has one value per entry of the
    // index; the output contract is the caller's.
    unsafe {
        if let Some(vt) = values_t {
            assert_eq!(vt.len(), t.rows.len());
            e.val = vt;
            axpy_block::<false>(&e, dy, dx, dxstride, accumulate)
        } else {
            axpy_block::<true>(&e, dy, dx, dxstride, accumulate)
        }
    }
}

/// The values in the order of the transposed index (`out[k] = values[pos[k]]`), for a batch of
/// transposed products with the same weights.
pub(crate) fn transposed_values<T: Scalar>(w: &SparseMatrix<T>) -> Vec<T> {
    let values = w.values();
    w.t_index.pos.iter().map(|&p| values[p as usize]).collect()
}

/// `y (+)= W x` for output rows `rows`; `y` points at row `rows.start`, rows `ystride` apart.
///
/// # Safety
/// [`applies::<T>()`]; `y + r * ystride` for `r < rows.len()` is valid for `x.ncols()` elements
/// and not aliased by `x` or by another thread.
pub(crate) unsafe fn spmm_rows<T: Scalar>(
    w: &SparseMatrix<T>,
    x: &Rows<'_, T>,
    rows: Range<usize>,
    y: *mut T,
    ystride: isize,
    accumulate: bool,
) {
    // SAFETY: T is f32 and the CPU has AVX-512F; the rest is the caller's contract.
    unsafe { spmm_rows_f32(same(w), same(x), rows, y as *mut f32, ystride, accumulate) }
}

/// `dx (+)= W^T dy` for rows `cols` of `dx`; `dx` points at row `cols.start`. `values_t`, if
/// given, is [`transposed_values`] of `w`.
///
/// # Safety
/// [`applies::<T>()`]; `dx` as `y` in [`spmm_rows`].
pub(crate) unsafe fn spmm_t_rows<T: Scalar>(
    w: &SparseMatrix<T>,
    values_t: Option<&[T]>,
    dy: &Rows<'_, T>,
    cols: Range<usize>,
    dx: *mut T,
    dxstride: isize,
    accumulate: bool,
) {
    // SAFETY: T is f32 and the CPU has AVX-512F; the rest is the caller's contract.
    unsafe {
        let vt = values_t.map(|v| std::slice::from_raw_parts(v.as_ptr() as *const f32, v.len()));
        spmm_t_rows_f32(
            same(w),
            vt,
            same(dy),
            cols,
            dx as *mut f32,
            dxstride,
            accumulate,
        )
    }
}

/// [`with_aligned_rows`] for a generic `T` that is `f32`.
///
/// # Safety
/// [`applies::<T>()`].
pub(crate) unsafe fn with_aligned<T: Scalar, R>(
    rows: Rows<'_, T>,
    uses: usize,
    parallel: bool,
    f: impl FnOnce(&Rows<'_, T>) -> R,
) -> R {
    // SAFETY: T is f32 (caller contract), so `Rows<T>` and `Rows<f32>` are the same type.
    let rows32 = unsafe { *same::<_, Rows<'_, f32>>(&rows) };
    with_aligned_rows(rows32, uses, parallel, |r| {
        // SAFETY: as above, back to `T`.
        f(unsafe { same::<_, Rows<'_, T>>(&r) })
    })
}

// ------------------------------------------------------------------------------------------------
// SDDMM: `grad[k] += dot(dy[i, :], x[c_k, :])`.

/// Lane `e` of the result is the sum of the 16 lanes of `v[slot(e)]`.
///
/// Every lane adds its inputs in the same order,
/// `((x0 + x8) + (x4 + x12)) + ((x2 + x10) + (x6 + x14))` plus the same for the odd lanes, then
/// the two halves, so a sum does not depend on which other vectors share the tree.
#[target_feature(enable = "avx512f")]
#[inline]
fn sum16(v: &[__m512; 16]) -> __m512 {
    // Stage 1: 256-bit halves, pairs of vectors -> each 128-bit lane pair holds 8 partials.
    let mut u = [_mm512_setzero_ps(); 8];
    for (i, u) in u.iter_mut().enumerate() {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        *u = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        );
    }
    // Stage 2: 128-bit lanes -> each 128-bit lane holds 4 partials of one vector.
    let mut w = [_mm512_setzero_ps(); 4];
    for (j, w) in w.iter_mut().enumerate() {
        let (a, b) = (u[2 * j], u[2 * j + 1]);
        *w = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        );
    }
    // Stages 3 and 4: within 128-bit lanes.
    let z0 = _mm512_add_ps(
        _mm512_shuffle_ps::<0x44>(w[0], w[1]),
        _mm512_shuffle_ps::<0xEE>(w[0], w[1]),
    );
    let z1 = _mm512_add_ps(
        _mm512_shuffle_ps::<0x44>(w[2], w[3]),
        _mm512_shuffle_ps::<0xEE>(w[2], w[3]),
    );
    _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(z0, z1),
        _mm512_shuffle_ps::<0xDD>(z0, z1),
    )
}

/// `grad[0..n] += sum16(buf)[0..n]`: adds a group's sums to consecutive gradient entries.
///
/// # Safety
/// AVX-512F; `grad` is valid for reads and writes of `n <= 16` elements. Slots of `buf` beyond
/// the group hold stale vectors; their lanes are not stored.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn add_sums(buf: &[__m512; 16], n: usize, grad: *mut f32) {
    let sums = sum16(buf);
    let m = lane_mask(n);
    // SAFETY: caller contract.
    unsafe { _mm512_mask_storeu_ps(grad, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, grad), sums)) };
}

/// Where the product vector of the `n`-th entry of a group goes in the [`sum16`] input, so that
/// the sums come out in entry order: `0, 4, 8, 12, 1, 5, ...`.
#[inline(always)]
fn slot(n: usize) -> usize {
    ((n & 3) << 2) | (n >> 2)
}

/// SDDMM for rows `rows` and batch width `16 * (NC - 1) < B <= 16 * NC <= 64`: the row of `dy`
/// stays in registers across the row's entries. `grad` starts at the row range's first entry.
///
/// # Safety
/// AVX-512F; `dy.nrows() == w.rows()`, `x.nrows() == w.cols()`, `dy.ncols() == x.ncols()`
/// `== B`; `rows.end <= w.rows()`; `grad` holds the range's entries.
#[target_feature(enable = "avx512f")]
unsafe fn sddmm_narrow<const NC: usize, const MASKED: bool>(
    w: &SparseMatrix<f32>,
    rows: Range<usize>,
    dy: &Rows<'_, f32>,
    x: &Rows<'_, f32>,
    grad: &mut [f32],
) {
    let (indptr, indices) = (w.indptr(), w.indices());
    let base = indptr[rows.start];
    let kend = indptr[rows.end];
    assert_eq!(grad.len(), kend - base);
    let tail = lane_mask(dy.ncols() - 16 * (NC - 1));
    let (xp, xs) = (x.as_ptr(), x.stride());
    let idx = indices.as_ptr();
    let g = grad.as_mut_ptr();
    if rows.is_empty() || kend == base {
        return;
    }
    let dpf = OUTPUT_PREFETCH_ROWS;
    // SAFETY (whole body): `k < kend <= indices.len()`; column indices are `< cols == x.nrows()`
    // (validated at construction) and rows `i < rows.end <= w.rows() == dy.nrows()`, so every
    // pointer is a row of `x` or `dy`, read for columns `0..B` (the last chunk masked when
    // `MASKED`); groups cover `k - base .. + 16 <= grad.len()` (the last one masked).
    // Prefetches never fault.
    unsafe {
        let load = |p: *const f32, c: usize| -> __m512 {
            if MASKED && c == NC - 1 {
                _mm512_maskz_loadu_ps(tail, p.add(16 * c))
            } else {
                _mm512_loadu_ps(p.add(16 * c))
            }
        };
        let dy_row = |i: usize| dy.as_ptr().offset(i as isize * dy.stride());
        let load_d = |i: usize| -> [__m512; NC] {
            if dpf > 0 && i + dpf < rows.end {
                // Rows of `dy` are read once each, in order.
                let q = dy_row(i + dpf) as *const i8;
                for l in 0..NC {
                    _mm_prefetch::<_MM_HINT_T0>(q.add(64 * l));
                }
                _mm_prefetch::<_MM_HINT_T0>(q.add(64 * NC - 4));
            }
            std::array::from_fn(|c| load(dy_row(i), c))
        };
        // The row of entry `k` is `i` (entries `k < row_end`); `d` holds its `dy` row.
        let mut i = rows.start;
        let mut row_end = indptr[i + 1];
        let mut d = load_d(i);
        // The product vector of entry `k` (entries come in order).
        let mut product = |k: usize| -> __m512 {
            while k == row_end {
                i += 1;
                row_end = indptr[i + 1];
                d = load_d(i);
            }
            let kp = (k + PREFETCH_AHEAD).min(kend - 1);
            _mm_prefetch::<_MM_HINT_T0>(xp.offset(*idx.add(kp) as isize * xs) as *const i8);
            let p = xp.offset(*idx.add(k) as isize * xs);
            // A fixed pairing: (d0 x0 + d1 x1) + (d2 x2 + d3 x3).
            let lo = if NC >= 2 {
                _mm512_fmadd_ps(d[1], load(p, 1), _mm512_mul_ps(d[0], load(p, 0)))
            } else {
                _mm512_mul_ps(d[0], load(p, 0))
            };
            if NC == 4 {
                let hi = _mm512_fmadd_ps(d[3], load(p, 3), _mm512_mul_ps(d[2], load(p, 2)));
                _mm512_add_ps(lo, hi)
            } else if NC == 3 {
                _mm512_add_ps(lo, _mm512_mul_ps(d[2], load(p, 2)))
            } else {
                lo
            }
        };
        let mut k = base;
        // Groups of 16 consecutive entries, in registers, in `sum16`'s slot order.
        while k + 16 <= kend {
            let v = [
                product(k),
                product(k + 1),
                product(k + 2),
                product(k + 3),
                product(k + 4),
                product(k + 5),
                product(k + 6),
                product(k + 7),
                product(k + 8),
                product(k + 9),
                product(k + 10),
                product(k + 11),
                product(k + 12),
                product(k + 13),
                product(k + 14),
                product(k + 15),
            ];
            add_sums(&std::array::from_fn(|s| v[slot(s)]), 16, g.add(k - base));
            k += 16;
        }
        if k < kend {
            let n = kend - k;
            let mut buf = [_mm512_setzero_ps(); 16];
            for e in 0..n {
                buf[slot(e)] = product(k + e);
            }
            add_sums(&buf, n, g.add(k - base));
        }
    }
}

/// SDDMM for any batch width (used above 64): per entry, the 64-column super-chunks' product
/// vectors are added in order.
///
/// # Safety
/// As [`sddmm_narrow`] without the width bound.
#[target_feature(enable = "avx512f")]
unsafe fn sddmm_wide(
    w: &SparseMatrix<f32>,
    rows: Range<usize>,
    dy: &Rows<'_, f32>,
    x: &Rows<'_, f32>,
    grad: &mut [f32],
) {
    let (indptr, indices) = (w.indptr(), w.indices());
    let base = indptr[rows.start];
    let kend = indptr[rows.end];
    assert_eq!(grad.len(), kend - base);
    let b = dy.ncols();
    let nsc = b.div_ceil(64);
    let mask = |c: usize| -> __mmask16 {
        if 16 * c >= b {
            0
        } else {
            lane_mask(b - 16 * c)
        }
    };
    let (xp, xs) = (x.as_ptr(), x.stride());
    let idx = indices.as_ptr();
    let g = grad.as_mut_ptr();
    let mut buf = [_mm512_setzero_ps(); 16];
    let (mut k0, mut n) = (0usize, 0usize);
    // SAFETY: as in `sddmm_narrow`; every load is masked to columns `< B`.
    unsafe {
        for i in rows {
            let dp = dy.as_ptr().offset(i as isize * dy.stride());
            for k in indptr[i]..indptr[i + 1] {
                let kp = (k + PREFETCH_AHEAD).min(kend - 1);
                _mm_prefetch::<_MM_HINT_T0>(xp.offset(*idx.add(kp) as isize * xs) as *const i8);
                let p = xp.offset(*idx.add(k) as isize * xs);
                let mut v = _mm512_setzero_ps();
                for sc in 0..nsc {
                    let ld = |q: *const f32, c: usize| {
                        _mm512_maskz_loadu_ps(mask(4 * sc + c), q.add(64 * sc + 16 * c))
                    };
                    let lo =
                        _mm512_fmadd_ps(ld(dp, 1), ld(p, 1), _mm512_mul_ps(ld(dp, 0), ld(p, 0)));
                    let hi =
                        _mm512_fmadd_ps(ld(dp, 3), ld(p, 3), _mm512_mul_ps(ld(dp, 2), ld(p, 2)));
                    let q = _mm512_add_ps(lo, hi);
                    v = if sc == 0 { q } else { _mm512_add_ps(v, q) };
                }
                *buf.get_unchecked_mut(slot(n)) = v;
                n += 1;
                if n == 16 {
                    add_sums(&buf, 16, g.add(k0));
                    k0 += 16;
                    n = 0;
                }
            }
        }
        if n > 0 {
            add_sums(&buf, n, g.add(k0));
        }
    }
}

/// `grad[k - indptr[rows.start]] += dot(dy[i, :], x[c_k, :])` for the entries of rows `rows`.
///
/// # Safety
/// [`applies::<T>()`]; `dy.nrows() == w.rows()`, `x.nrows() == w.cols()`,
/// `dy.ncols() == x.ncols()`; `rows.end <= w.rows()`.
pub(crate) unsafe fn sddmm_rows<T: Scalar>(
    w: &SparseMatrix<T>,
    rows: Range<usize>,
    dy: &Rows<'_, T>,
    x: &Rows<'_, T>,
    grad: &mut [T],
) {
    // SAFETY: T is f32 and the CPU has AVX-512F (caller contract).
    let (w, dy, x, grad) = unsafe {
        (
            same::<_, SparseMatrix<f32>>(w),
            same::<_, Rows<'_, f32>>(dy),
            same::<_, Rows<'_, f32>>(x),
            f32_slice_mut(grad),
        )
    };
    assert!(rows.end <= w.rows() && dy.nrows() == w.rows() && x.nrows() == w.cols());
    assert_eq!(dy.ncols(), x.ncols());
    let b = dy.ncols();
    if b == 0 {
        return;
    }
    let nc = b.div_ceil(16);
    // SAFETY: shapes checked above; AVX-512F (caller contract).
    unsafe {
        match (nc, !b.is_multiple_of(16)) {
            (1, false) => sddmm_narrow::<1, false>(w, rows, dy, x, grad),
            (1, true) => sddmm_narrow::<1, true>(w, rows, dy, x, grad),
            (2, false) => sddmm_narrow::<2, false>(w, rows, dy, x, grad),
            (2, true) => sddmm_narrow::<2, true>(w, rows, dy, x, grad),
            (3, false) => sddmm_narrow::<3, false>(w, rows, dy, x, grad),
            (3, true) => sddmm_narrow::<3, true>(w, rows, dy, x, grad),
            (4, false) => sddmm_narrow::<4, false>(w, rows, dy, x, grad),
            (4, true) => sddmm_narrow::<4, true>(w, rows, dy, x, grad),
            _ => sddmm_wide(w, rows, dy, x, grad),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum16_returns_entry_sums_in_order() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let data: Vec<[f32; 16]> = (0..16)
            .map(|e| std::array::from_fn(|l| (e * 100 + l) as f32 + 0.25))
            .collect();
        let mut buf = [[0.0f32; 16]; 16];
        for (e, d) in data.iter().enumerate() {
            buf[slot(e)] = *d;
        }
        // SAFETY: AVX-512F is available (checked above); the arrays are 16 floats each.
        let out: [f32; 16] = unsafe {
            let v: [__m512; 16] = std::array::from_fn(|s| _mm512_loadu_ps(buf[s].as_ptr()));
            let mut out = [0.0f32; 16];
            _mm512_storeu_ps(out.as_mut_ptr(), sum16(&v));
            out
        };
        for (e, d) in data.iter().enumerate() {
            let x = d;
            let even = ((x[0] + x[8]) + (x[4] + x[12])) + ((x[2] + x[10]) + (x[6] + x[14]));
            let odd = ((x[1] + x[9]) + (x[5] + x[13])) + ((x[3] + x[11]) + (x[7] + x[15]));
            assert_eq!(out[e].to_bits(), (even + odd).to_bits(), "entry {e}");
        }
    }
}
