//! The policies: SET, RigL, sparse momentum (SNFS) and static.

mod fixed;
mod rigl;
mod set;
mod snfs;

pub use fixed::StaticPolicy;
pub use rigl::{RiglConfig, RiglPolicy};
pub use set::{SetConfig, SetPolicy};
#[cfg(test)]
pub(crate) use snfs::apportion;
pub use snfs::{SnfsConfig, SnfsPolicy};
