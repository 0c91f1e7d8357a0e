//! The sparse kernels: SpMM, transposed SpMM, SDDMM, and embedding gather / scatter.

#[cfg(target_arch = "x86_64")]
mod avx512;
mod batched;
pub(crate) mod check;
mod embed;
pub(crate) mod rows;
mod sddmm;
mod spmm;
