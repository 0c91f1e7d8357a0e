#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod context;
mod density;
mod engine;
mod error;
mod plan;
mod policies;
mod policy;
mod report;
mod sampling;
mod schedule;
mod select;
mod tracker;
mod view;

pub use context::{EvolveContext, NewWeightInit, prune_count, should_evolve};
pub use density::{DensityReport, DensityScheme, allocate};
pub use error::EvolveError;
pub use plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
pub use policies::{
    GmpPolicy, PolicyConfig, RiglConfig, RiglPolicy, SetConfig, SetPolicy, SnfsConfig, SnfsPolicy,
    StaticPolicy,
};
pub use policy::EvolutionPolicy;
pub use report::{DegreeSummary, EvolutionReport, GroupStats, MatrixReport};
pub use sampling::{SamplingMethod, sample_empty_positions, sample_empty_positions_from};
pub use schedule::PruneSchedule;
pub use select::{
    SignedSelection, magnitude_prune_selection, set_prune_selection, top_k_absent_by_gradient,
    top_k_absent_by_gradient_from,
};
pub use tracker::{TopologyTracker, TrackedMatrix};
pub use view::{GradientRowFn, MatrixView};

#[cfg(test)]
mod tests;
