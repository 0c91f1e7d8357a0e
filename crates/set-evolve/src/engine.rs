//! Shared machinery of the policies: view validation, applying planned edits with state remap,
//! conservation checks, tracking and analytics.

use crate::context::{EvolveContext, NewWeightInit};
use crate::error::EvolveError;
use crate::plan::{Conservation, MatrixPlan, StepPlan};
use crate::report::{DegreeSummary, EvolutionReport, GroupStats, MatrixReport};
use crate::tracker::TopologyTracker;
use crate::view::MatrixView;
use rand::Rng;
use std::collections::HashSet;

/// Checks names, state alignment, momentum index, row groups, and the callbacks a policy needs.
pub(crate) fn validate_views(
    views: &[MatrixView<'_>],
    policy: &'static str,
    needs_momentum: bool,
    needs_gradient: bool,
) -> Result<(), EvolveError> {
    let mut names = HashSet::new();
    for v in views {
        let name = v.name.to_string();
        if !names.insert(v.name) {
            return Err(EvolveError::DuplicateMatrix { name });
        }
        let nnz = v.matrix.nnz();
        for (i, s) in v.state.iter().enumerate() {
            if s.len() != nnz {
                return Err(EvolveError::StateLength {
                    matrix: name,
                    buffer: i,
                    len: s.len(),
                    nnz,
                });
            }
        }
        if let Some(m) = v.momentum
            && m >= v.state.len()
        {
            return Err(EvolveError::MomentumIndex {
                matrix: name,
                index: m,
                buffers: v.state.len(),
            });
        }
        if v.row_groups == 0 || v.matrix.rows() % v.row_groups != 0 {
            return Err(EvolveError::RowGroups {
                matrix: name,
                rows: v.matrix.rows(),
                groups: v.row_groups,
            });
        }
        if needs_momentum && v.momentum.is_none() {
            return Err(EvolveError::MissingMomentum {
                matrix: name,
                policy,
            });
        }
        if needs_gradient && v.gradient_row.is_none() {
            return Err(EvolveError::MissingGradient {
                matrix: name,
                policy,
            });
        }
    }
    Ok(())
}

/// Errors on the first NaN or infinite value of a buffer aligned with the matrix values.
pub(crate) fn check_finite(
    view: &MatrixView<'_>,
    values: &[f32],
    what: &'static str,
) -> Result<(), EvolveError> {
    if let Some(k) = values.iter().position(|v| !v.is_finite()) {
        let row = view.matrix.indptr().partition_point(|&p| p <= k) - 1;
        return Err(EvolveError::NonFinite {
            matrix: view.name.to_string(),
            what,
            row,
            col: view.matrix.indices()[k] as usize,
            value: values[k] as f64,
        });
    }
    Ok(())
}

/// Errors if a matrix's shape differs from the one the tracker knows under its name.
fn check_tracked_shapes(
    tracker: &TopologyTracker,
    views: &[MatrixView<'_>],
) -> Result<(), EvolveError> {
    for v in views {
        if let Some(t) = tracker.get(v.name)
            && t.shape != v.matrix.shape()
        {
            return Err(EvolveError::ShapeChanged {
                matrix: v.name.to_string(),
                expected: t.shape,
                got: v.matrix.shape(),
            });
        }
    }
    Ok(())
}

/// Checks a policy's plan against the matrices, before anything changes: one plan per view;
/// removals sorted, distinct and in range; inserts sorted by `(row, col)`, distinct, in shape,
/// each at an empty position or one being removed.
fn validate_plan(views: &[MatrixView<'_>], plans: &[MatrixPlan]) -> Result<(), EvolveError> {
    if plans.len() != views.len() {
        return Err(EvolveError::InvalidPlan {
            matrix: "<step>".to_string(),
            reason: format!("{} plans for {} matrices", plans.len(), views.len()),
        });
    }
    for (v, p) in views.iter().zip(plans) {
        let invalid = |reason: String| EvolveError::InvalidPlan {
            matrix: v.name.to_string(),
            reason,
        };
        let m = &*v.matrix;
        if let Some(w) = p.remove.windows(2).find(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "removals not sorted and distinct at positions {} and {}",
                w[0], w[1]
            )));
        }
        if let Some(&k) = p.remove.last().filter(|&&k| k >= m.nnz()) {
            return Err(invalid(format!(
                "removal of value {k}, but the matrix stores {}",
                m.nnz()
            )));
        }
        if let Some(w) = p.insert.windows(2).find(|w| w[0] >= w[1]) {
            return Err(invalid(format!(
                "inserts not sorted and distinct at {:?} and {:?}",
                w[0], w[1]
            )));
        }
        for &(r, c) in &p.insert {
            if r >= m.rows() || c >= m.cols() {
                return Err(invalid(format!(
                    "insert at ({r}, {c}) outside the shape {:?}",
                    m.shape()
                )));
            }
            if r < v.frozen_rows {
                return Err(invalid(format!(
                    "insert at ({r}, {c}), in a frozen row (rows below {} receive no entries)",
                    v.frozen_rows
                )));
            }
            if let Some(k) = m.position(r, c)
                && p.remove.binary_search(&k).is_err()
            {
                return Err(invalid(format!(
                    "insert at ({r}, {c}), which is stored and not removed"
                )));
            }
        }
    }
    Ok(())
}

/// Applies a checked plan: draws new values, edits each matrix, remaps every state buffer (new
/// entries 0), checks conservation, updates the tracker and builds the report.
pub(crate) fn apply(
    views: &mut [MatrixView<'_>],
    plan: StepPlan,
    init: NewWeightInit,
    rng: &mut dyn Rng,
    tracker: &mut TopologyTracker,
    ctx: &EvolveContext,
    policy: &'static str,
) -> Result<EvolutionReport, EvolveError> {
    let StepPlan {
        matrices: plans,
        conservation,
    } = plan;
    validate_plan(views, &plans)?;
    check_tracked_shapes(tracker, views)?;
    // Conservation is checked on the plan, before anything changes.
    let before: Vec<usize> = views.iter().map(|v| v.matrix.nnz()).collect();
    let planned: Vec<usize> = before
        .iter()
        .zip(&plans)
        .map(|(&n, p)| n - p.remove.len() + p.insert.len())
        .collect();
    match conservation {
        Conservation::PerMatrix => {
            for (i, v) in views.iter().enumerate() {
                if planned[i] != before[i] {
                    return Err(EvolveError::NnzNotConserved {
                        scope: v.name.to_string(),
                        before: before[i],
                        after: planned[i],
                    });
                }
            }
        }
        Conservation::Shrink => {
            if let Some((v, p)) = views.iter().zip(&plans).find(|(_, p)| !p.insert.is_empty()) {
                return Err(EvolveError::NnzNotConserved {
                    scope: v.name.to_string(),
                    before: v.matrix.nnz(),
                    after: v.matrix.nnz() - p.remove.len() + p.insert.len(),
                });
            }
        }
        Conservation::Total => {
            let (b, a): (usize, usize) = (before.iter().sum(), planned.iter().sum());
            if a != b {
                return Err(EvolveError::NnzNotConserved {
                    scope: "<total>".to_string(),
                    before: b,
                    after: a,
                });
            }
        }
    }
    // All random values are drawn before the first edit, matrix by matrix in order.
    let mut new_values = Vec::with_capacity(plans.len());
    for (v, p) in views.iter().zip(&plans) {
        let draw = init.for_matrix(v.name, v.init_std)?;
        new_values.push(draw.sample_n(p.insert.len(), rng)?);
    }
    // Every check has passed: the tracker records the structure before the edit (shapes were
    // checked above, so this cannot fail half-way).
    for v in views.iter() {
        tracker.observe(v.name, &*v.matrix)?;
    }

    let mut reports = Vec::with_capacity(views.len());
    for ((view, plan), values) in views.iter_mut().zip(plans).zip(new_values) {
        let m = &*view.matrix;
        let (rows, cols) = m.shape();
        let group_rows = rows / view.row_groups;
        let group_of = |r: usize| r.checked_div(group_rows).unwrap_or(0);
        let mut groups = vec![GroupStats::default(); view.row_groups];
        let (mut pos_removed, mut neg_removed) = (0, 0);
        let mut removed_max_abs: Option<f64> = None;
        let mut removed_flat = Vec::with_capacity(plan.remove.len());
        for &k in &plan.remove {
            let w = m.values()[k];
            if w >= 0.0 {
                pos_removed += 1;
            } else {
                neg_removed += 1;
            }
            let a = (w as f64).abs();
            removed_max_abs = Some(removed_max_abs.map_or(a, |x: f64| x.max(a)));
            let r = m.indptr().partition_point(|&p| p <= k) - 1;
            groups[group_of(r)].removed += 1;
            // Value order is row-major order: the flat positions come out sorted.
            removed_flat.push(r as u64 * cols as u64 + m.indices()[k] as u64);
        }
        let (prev_added, prev_added_survived) = tracker.judge_regrown(view.name, &removed_flat);
        let mut regrown_into_removed = 0;
        for &(r, c) in &plan.insert {
            // Inserts go to empty or freed positions only, so anything stored there was freed.
            regrown_into_removed += usize::from(m.position(r, c).is_some());
            groups[group_of(r)].added += 1;
        }
        let nnz_before = m.nnz();

        if !(plan.remove.is_empty() && plan.insert.is_empty()) {
            let triples: Vec<(usize, usize, f32)> = plan
                .insert
                .iter()
                .zip(&values)
                .map(|(&(r, c), &v)| (r, c, v))
                .collect();
            let remap =
                view.matrix
                    .edit(&plan.remove, &triples)
                    .map_err(|source| EvolveError::Sparse {
                        matrix: view.name.to_string(),
                        source,
                    })?;
            for buf in view.state.iter_mut() {
                remap.apply_in_place(&mut **buf, 0.0);
            }
            let flat: Vec<u64> = plan
                .insert
                .iter()
                .map(|&(r, c)| r as u64 * cols as u64 + c as u64)
                .collect();
            tracker.record(view.name, (rows, cols), &flat)?;
            tracker.set_last_added(view.name, flat);
        } else {
            tracker.set_last_added(view.name, Vec::new());
        }

        let m = &*view.matrix;
        let nnz_after = m.nnz();
        let expected_after = nnz_before - plan.remove.len() + plan.insert.len();
        if nnz_after != expected_after {
            return Err(EvolveError::NnzNotConserved {
                scope: view.name.to_string(),
                before: nnz_before,
                after: nnz_after,
            });
        }
        for (g, stats) in groups.iter_mut().enumerate() {
            stats.nnz = m.nnz_in_rows(g * group_rows..(g + 1) * group_rows);
        }
        let tracked = tracker.get(view.name);
        let initial_kept = tracked.and_then(|t| t.initial_kept(&crate::tracker::flat_positions(m)));
        reports.push(MatrixReport {
            name: view.name.to_string(),
            rows,
            cols,
            nnz_before,
            nnz_after,
            removed: plan.remove.len(),
            added: plan.insert.len(),
            positive_removed: pos_removed,
            negative_removed: neg_removed,
            removed_max_abs,
            regrown_into_removed,
            density: m.density(),
            ever_active: tracked.map_or(0, |t| t.ever_active.len() as u64),
            itop_rate: tracked.map_or(0.0, |t| t.rate()),
            groups,
            degree: DegreeSummary::of_rows(m),
            mean_abs_momentum: plan.mean_abs_momentum,
            prev_added: prev_added as usize,
            prev_added_survived: prev_added_survived as usize,
            regrowth_survival: (prev_added > 0)
                .then(|| prev_added_survived as f64 / prev_added as f64),
            initial_kept,
        });
    }
    Ok(build_report(policy, ctx, reports))
}

fn build_report(policy: &str, ctx: &EvolveContext, matrices: Vec<MatrixReport>) -> EvolutionReport {
    let sum = |f: fn(&MatrixReport) -> usize| matrices.iter().map(f).sum::<usize>();
    let ever: f64 = matrices.iter().map(|m| m.ever_active as f64).sum();
    let cap: f64 = matrices.iter().map(|m| m.rows as f64 * m.cols as f64).sum();
    EvolutionReport {
        policy: policy.to_string(),
        epoch: ctx.epoch,
        total_epochs: ctx.total_epochs,
        zeta: ctx.zeta,
        total_nnz_before: sum(|m| m.nnz_before),
        total_nnz_after: sum(|m| m.nnz_after),
        total_removed: sum(|m| m.removed),
        total_added: sum(|m| m.added),
        itop_rate: if cap == 0.0 { 0.0 } else { ever / cap },
        regrowth_survival: {
            let added = sum(|m| m.prev_added);
            (added > 0).then(|| sum(|m| m.prev_added_survived) as f64 / added as f64)
        },
        matrices,
    }
}
