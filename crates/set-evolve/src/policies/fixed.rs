//! `StaticPolicy`: the topology never changes (the fixed-sparsity baseline).

use crate::context::{EvolveContext, NewWeightInit};
use crate::engine::{self, Conservation, Plan};
use crate::error::EvolveError;
use crate::policy::EvolutionPolicy;
use crate::report::EvolutionReport;
use crate::tracker::TopologyTracker;
use crate::view::MatrixView;

/// No pruning, no regrowth: a static sparse network. Still validates the views and records the
/// analytics, so reports line up with the other policies.
///
/// ```
/// use rand::SeedableRng;
/// use set_evolve::{EvolutionPolicy, EvolveContext, MatrixView, StaticPolicy};
/// use set_sparse::SparseMatrix;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
/// let mut w = SparseMatrix::<f32>::random(16, 16, 32, &mut rng, |_| 1.0).unwrap();
/// let before = w.topology_hash();
/// let ctx = EvolveContext::new(0, 5, 0.5).unwrap();
/// let r = StaticPolicy::new().evolve(&mut [MatrixView::new("w", &mut w)], &ctx, &mut rng).unwrap();
/// assert_eq!((w.topology_hash(), r.total_removed), (before, 0));
/// assert_eq!(r.itop_rate, 32.0 / 256.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticPolicy {
    tracker: TopologyTracker,
}

impl StaticPolicy {
    /// A static policy with an empty tracker.
    pub fn new() -> Self {
        Self::default()
    }
}

impl EvolutionPolicy for StaticPolicy {
    fn name(&self) -> &'static str {
        "static"
    }

    fn default_new_weight_init(&self) -> NewWeightInit {
        NewWeightInit::Zero
    }

    fn evolve(
        &mut self,
        matrices: &mut [MatrixView<'_>],
        ctx: &EvolveContext,
        rng: &mut dyn rand::Rng,
    ) -> Result<EvolutionReport, EvolveError> {
        ctx.validate()?;
        engine::validate_views(matrices, self.name(), false, false)?;
        let plans = vec![Plan::default(); matrices.len()];
        let name = self.name();
        engine::apply(
            matrices,
            plans,
            NewWeightInit::Zero,
            rng,
            &mut self.tracker,
            ctx,
            name,
            Conservation::PerMatrix,
        )
    }

    fn tracker(&self) -> &TopologyTracker {
        &self.tracker
    }

    fn tracker_mut(&mut self) -> &mut TopologyTracker {
        &mut self.tracker
    }
}
