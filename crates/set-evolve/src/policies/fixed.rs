//! `StaticPolicy`: the topology never changes (the fixed-sparsity baseline).

use crate::context::{EvolveContext, NewWeightInit};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, PolicyNeeds, StepPlan};
use crate::policy::EvolutionPolicy;
use crate::view::MatrixView;

/// No pruning, no regrowth: a static sparse network. Still validates the views and records the
/// analytics, so reports line up with the other policies.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, StaticPolicy, TopologyTracker};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut w = SparseMatrix::<f32>::random(16, 16, 32, &mut rng, |_| 1.0).unwrap();
/// let before = w.topology_hash();
/// let ctx = EvolveContext::new(0, 5, 0.5).unwrap();
/// let mut tracker = TopologyTracker::new();
/// let view = MatrixView::new("w", &mut w);
/// let r = StaticPolicy::new().evolve(&mut [view], &ctx, &mut tracker, &mut rng).unwrap();
/// assert_eq!((w.topology_hash(), r.total_removed), (before, 0));
/// assert_eq!(r.itop_rate, 32.0 / 256.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StaticPolicy;

impl StaticPolicy {
    /// A static policy.
    pub fn new() -> Self {
        StaticPolicy
    }
}

impl EvolutionPolicy for StaticPolicy {
    fn name(&self) -> &'static str {
        "static"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }

    fn needs(&self) -> PolicyNeeds {
        // Reads no value, so NaN weights are not its concern (as before the skeleton existed).
        PolicyNeeds {
            momentum: false,
            gradient_row: false,
            finite_values: false,
        }
    }

    fn plan(
        &self,
        matrices: &[MatrixView<'_>],
        _ctx: &EvolveContext,
        _rng: &mut dyn rand::Rng,
    ) -> Result<StepPlan, EvolveError> {
        Ok(StepPlan {
            matrices: vec![MatrixPlan::default(); matrices.len()],
            conservation: Conservation::PerMatrix,
        })
    }
}
