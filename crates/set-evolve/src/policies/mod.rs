//! The policies: SET, RigL, sparse momentum (SNFS) and static, and a serialisable
//! [`PolicyConfig`] that builds any of them.

use crate::policy::EvolutionPolicy;
use serde::{Deserialize, Serialize};

mod fixed;
mod gmp;
mod rigl;
mod set;
mod snfs;

pub use fixed::StaticPolicy;
pub use gmp::GmpPolicy;
pub use rigl::{RiglConfig, RiglPolicy};
pub use set::{SetConfig, SetPolicy};
#[cfg(test)]
pub(crate) use snfs::apportion;
pub use snfs::{SnfsConfig, SnfsPolicy};

/// Any policy with its configuration, for config files and the command line.
///
/// ```
/// use set_evolve::PolicyConfig;
/// assert_eq!(PolicyConfig::default().build().name(), "set");
/// assert_eq!(PolicyConfig::Static.build().name(), "static");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PolicyConfig {
    /// Sparse Evolutionary Training (the default).
    Set(SetConfig),
    /// RigL: magnitude prune, gradient regrowth.
    Rigl(RiglConfig),
    /// Sparse momentum, truly sparse.
    Snfs(SnfsConfig),
    /// No topology change.
    Static,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig::Set(SetConfig::default())
    }
}

impl PolicyConfig {
    /// A fresh policy.
    pub fn build(&self) -> Box<dyn EvolutionPolicy> {
        match *self {
            PolicyConfig::Set(c) => Box::new(SetPolicy::new(c)),
            PolicyConfig::Rigl(c) => Box::new(RiglPolicy::new(c)),
            PolicyConfig::Snfs(c) => Box::new(SnfsPolicy::new(c)),
            PolicyConfig::Static => Box::new(StaticPolicy::new()),
        }
    }
}
