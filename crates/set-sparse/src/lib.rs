#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod error;
mod init;
mod kernels;
mod matrix;
mod scalar;
mod topology;

pub mod denormal;
pub mod reduce;
pub mod simd;
pub mod workers;

pub use error::SparseError;
pub use init::{er_density, nnz_for_density, sample_sorted_distinct};
pub use matrix::{MAX_INDEX, SparseMatrix};
pub use scalar::Scalar;
pub use topology::{NEW_ENTRY, Remap};

#[cfg(test)]
mod tests;
