//! Hand-vectorised `f32` kernels for AVX-512: accumulators pinned in `zmm` registers.
//!
//! The generic kernels vectorise, but LLVM keeps their 64-lane accumulator array on the stack,
//! which makes every multiply-add a load-FMA-store chain. These versions hold the accumulators
//! in registers, use two accumulator sets to hide FMA latency, and keep the `dY` chunk of a row
//! in registers across the row's entries in SDDMM. Summation order differs from the generic path
//! (so the last bits can too), but it is fixed: results never depend on the thread count.

#![cfg(target_arch = "x86_64")]

use super::rows::{Rows, row_mut};
use crate::Scalar;
use crate::matrix::SparseMatrix;
use ndarray::ArrayViewMut2;
use std::any::TypeId;
use std::arch::x86_64::*;

/// Whether the `f32` AVX-512 kernels apply to element type `T` on this CPU.
#[inline(always)]
pub(crate) fn applies<T: Scalar>() -> bool {
    TypeId::of::<T>() == TypeId::of::<f32>() && crate::simd::isa() == crate::simd::Isa::Avx512
}

/// `y (+)= sum_k v_k x[c_k, :]` for one row.
///
/// # Safety
/// The CPU must support AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn axpy_row<E: Entries>(entries: E, x: &Rows<'_, f32>, y: &mut [f32], accumulate: bool) {
    let b = y.len();
    let yp = y.as_mut_ptr();
    let mut s = 0;
    // SAFETY (whole body): every pointer offset stays below `b`, the length of `y` and of every
    // row of `x` (rows of `x` have `x.ncols() == b` elements, checked by the callers).
    unsafe {
        while s + 64 <= b {
            let (mut a0, mut a1, mut a2, mut a3) = if accumulate {
                (
                    _mm512_loadu_ps(yp.add(s)),
                    _mm512_loadu_ps(yp.add(s + 16)),
                    _mm512_loadu_ps(yp.add(s + 32)),
                    _mm512_loadu_ps(yp.add(s + 48)),
                )
            } else {
                (
                    _mm512_setzero_ps(),
                    _mm512_setzero_ps(),
                    _mm512_setzero_ps(),
                    _mm512_setzero_ps(),
                )
            };
            // Two accumulator sets (even and odd entries) hide the FMA latency.
            let z = _mm512_setzero_ps();
            let (mut b0, mut b1, mut b2, mut b3) = (z, z, z, z);
            let n = entries.len();
            let mut k = 0;
            while k + 1 < n {
                let (c, v) = entries.get(k);
                let (c2, v2) = entries.get(k + 1);
                let p = x.row(c as usize).as_ptr().add(s);
                let q = x.row(c2 as usize).as_ptr().add(s);
                let vv = _mm512_set1_ps(v);
                let ww = _mm512_set1_ps(v2);
                a0 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p), a0);
                a1 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(16)), a1);
                a2 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(32)), a2);
                a3 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(48)), a3);
                b0 = _mm512_fmadd_ps(ww, _mm512_loadu_ps(q), b0);
                b1 = _mm512_fmadd_ps(ww, _mm512_loadu_ps(q.add(16)), b1);
                b2 = _mm512_fmadd_ps(ww, _mm512_loadu_ps(q.add(32)), b2);
                b3 = _mm512_fmadd_ps(ww, _mm512_loadu_ps(q.add(48)), b3);
                k += 2;
            }
            if k < n {
                let (c, v) = entries.get(k);
                let p = x.row(c as usize).as_ptr().add(s);
                let vv = _mm512_set1_ps(v);
                a0 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p), a0);
                a1 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(16)), a1);
                a2 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(32)), a2);
                a3 = _mm512_fmadd_ps(vv, _mm512_loadu_ps(p.add(48)), a3);
            }
            a0 = _mm512_add_ps(a0, b0);
            a1 = _mm512_add_ps(a1, b1);
            a2 = _mm512_add_ps(a2, b2);
            a3 = _mm512_add_ps(a3, b3);
            _mm512_storeu_ps(yp.add(s), a0);
            _mm512_storeu_ps(yp.add(s + 16), a1);
            _mm512_storeu_ps(yp.add(s + 32), a2);
            _mm512_storeu_ps(yp.add(s + 48), a3);
            s += 64;
        }
        while s < b {
            let n = (b - s).min(16);
            let mask: __mmask16 = if n == 16 { 0xffff } else { (1u16 << n) - 1 };
            let mut a = if accumulate {
                _mm512_maskz_loadu_ps(mask, yp.add(s))
            } else {
                _mm512_setzero_ps()
            };
            for k in 0..entries.len() {
                let (c, v) = entries.get(k);
                let p = x.row(c as usize).as_ptr().add(s);
                a = _mm512_fmadd_ps(_mm512_set1_ps(v), _mm512_maskz_loadu_ps(mask, p), a);
            }
            _mm512_mask_storeu_ps(yp.add(s), mask, a);
            s += n;
        }
    }
}

/// The entries of one output row: `(input row, weight)` pairs.
trait Entries {
    fn len(&self) -> usize;
    fn get(&self, k: usize) -> (u32, f32);
}

/// A CSR row: indices and values side by side.
struct Direct<'a> {
    idx: &'a [u32],
    val: &'a [f32],
}

impl Entries for Direct<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.idx.len()
    }
    #[inline(always)]
    fn get(&self, k: usize) -> (u32, f32) {
        (self.idx[k], self.val[k])
    }
}

/// A column of the transposed index: rows and positions into the CSR values.
struct Indirect<'a> {
    idx: &'a [u32],
    pos: &'a [u32],
    val: &'a [f32],
}

impl Entries for Indirect<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.idx.len()
    }
    #[inline(always)]
    fn get(&self, k: usize) -> (u32, f32) {
        (self.idx[k], self.val[self.pos[k] as usize])
    }
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

/// Mutable [`same`].
///
/// # Safety
/// As [`same`].
#[inline(always)]
unsafe fn same_mut<A, B>(a: &mut A) -> &mut B {
    // SAFETY: the caller guarantees A and B are the same type.
    unsafe { &mut *(a as *mut A as *mut B) }
}

#[target_feature(enable = "avx512f")]
unsafe fn spmm_block_f32(
    w: &SparseMatrix<f32>,
    x: &Rows<'_, f32>,
    y: &mut ArrayViewMut2<'_, f32>,
    first: usize,
    accumulate: bool,
) {
    let (indptr, indices, values) = (w.indptr(), w.indices(), w.values());
    for local in 0..y.nrows() {
        let i = first + local;
        let r = indptr[i]..indptr[i + 1];
        let entries = Direct {
            idx: &indices[r.clone()],
            val: &values[r],
        };
        // SAFETY: this function only runs with AVX-512F (caller contract).
        unsafe { axpy_row(entries, x, row_mut(y, local), accumulate) };
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn spmm_t_block_f32(
    w: &SparseMatrix<f32>,
    dy: &Rows<'_, f32>,
    dx: &mut ArrayViewMut2<'_, f32>,
    first: usize,
    accumulate: bool,
) {
    let t = &w.t_index;
    let values = w.values();
    for local in 0..dx.nrows() {
        let j = first + local;
        let r = t.col_ptr[j]..t.col_ptr[j + 1];
        let entries = Indirect {
            idx: &t.rows[r.clone()],
            pos: &t.pos[r],
            val: values,
        };
        // SAFETY: this function only runs with AVX-512F (caller contract).
        unsafe { axpy_row(entries, dy, row_mut(dx, local), accumulate) };
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn sddmm_rows_f32(
    w: &SparseMatrix<f32>,
    rows: std::ops::Range<usize>,
    dy: &Rows<'_, f32>,
    x: &Rows<'_, f32>,
    grad: &mut [f32],
) {
    let (indptr, indices) = (w.indptr(), w.indices());
    let base = indptr[rows.start];
    let n = dy.ncols();
    assert_eq!(n, x.ncols());
    for i in rows {
        let dp = dy.row(i).as_ptr();
        let mut s = 0;
        // SAFETY (whole loop): offsets stay below `n`, the length of every row of `dy` and `x`.
        unsafe {
            // Full 64-column chunks: the `dy` chunk stays in registers across the row's entries.
            while s + 64 <= n {
                let d0 = _mm512_loadu_ps(dp.add(s));
                let d1 = _mm512_loadu_ps(dp.add(s + 16));
                let d2 = _mm512_loadu_ps(dp.add(s + 32));
                let d3 = _mm512_loadu_ps(dp.add(s + 48));
                for k in indptr[i]..indptr[i + 1] {
                    let p = x.row(indices[k] as usize).as_ptr().add(s);
                    let m01 = _mm512_fmadd_ps(
                        d1,
                        _mm512_loadu_ps(p.add(16)),
                        _mm512_mul_ps(d0, _mm512_loadu_ps(p)),
                    );
                    let m23 = _mm512_fmadd_ps(
                        d3,
                        _mm512_loadu_ps(p.add(48)),
                        _mm512_mul_ps(d2, _mm512_loadu_ps(p.add(32))),
                    );
                    grad[k - base] += _mm512_reduce_add_ps(_mm512_add_ps(m01, m23));
                }
                s += 64;
            }
            while s < n {
                let c = (n - s).min(16);
                let mask: __mmask16 = if c == 16 { 0xffff } else { (1u16 << c) - 1 };
                let d = _mm512_maskz_loadu_ps(mask, dp.add(s));
                for k in indptr[i]..indptr[i + 1] {
                    let p = x.row(indices[k] as usize).as_ptr().add(s);
                    grad[k - base] +=
                        _mm512_reduce_add_ps(_mm512_mul_ps(d, _mm512_maskz_loadu_ps(mask, p)));
                }
                s += c;
            }
        }
    }
}

/// [`spmm_block_f32`] for a generic `T` that is `f32`.
///
/// # Safety
/// [`applies::<T>()`] must be true.
pub(crate) unsafe fn spmm_block<T: Scalar>(
    w: &SparseMatrix<T>,
    x: Rows<'_, T>,
    y: &mut ArrayViewMut2<'_, T>,
    first: usize,
    accumulate: bool,
) {
    // SAFETY: T is f32 and the CPU has AVX-512F (caller contract).
    unsafe { spmm_block_f32(same(w), same(&x), same_mut(y), first, accumulate) }
}

/// [`spmm_t_block_f32`] for a generic `T` that is `f32`.
///
/// # Safety
/// [`applies::<T>()`] must be true.
pub(crate) unsafe fn spmm_t_block<T: Scalar>(
    w: &SparseMatrix<T>,
    dy: Rows<'_, T>,
    dx: &mut ArrayViewMut2<'_, T>,
    first: usize,
    accumulate: bool,
) {
    // SAFETY: T is f32 and the CPU has AVX-512F (caller contract).
    unsafe { spmm_t_block_f32(same(w), same(&dy), same_mut(dx), first, accumulate) }
}

/// [`sddmm_rows_f32`] for a generic `T` that is `f32`.
///
/// # Safety
/// [`applies::<T>()`] must be true.
pub(crate) unsafe fn sddmm_rows<T: Scalar>(
    w: &SparseMatrix<T>,
    rows: std::ops::Range<usize>,
    dy: &Rows<'_, T>,
    x: &Rows<'_, T>,
    grad: &mut [T],
) {
    // SAFETY: T is f32 (caller contract), so the slice reinterpretation is exact.
    let grad = unsafe { std::slice::from_raw_parts_mut(grad.as_mut_ptr() as *mut f32, grad.len()) };
    // SAFETY: as above.
    unsafe { sddmm_rows_f32(same(w), rows, same(dy), same(x), grad) }
}
