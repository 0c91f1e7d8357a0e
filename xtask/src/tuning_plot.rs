//! The tuning section's plot, one per dataset: mean best-dev accuracy (± sample std over the
//! grid's common seeds) against the learning rate, one line per model at its chosen dropout.

use crate::chart::{Chart, Point, Series, render};
use crate::record::RunRecord;
use crate::stats::sample_std;
use anyhow::Result;

/// The SVG of every dataset of the tuning record, by dataset.
///
/// # Errors
/// What [`crate::tuning::grids`] refuses, or a chart without data.
pub fn plots(records: &[RunRecord]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (data, gs) in crate::tuning::grids(records)? {
        let mut series = Vec::new();
        for g in gs.iter().filter(|g| !g.is_probe()) {
            let Some(d) = g.chosen_dropout() else {
                continue;
            };
            let mut points = Vec::new();
            for (l, &lr) in g.lrs.iter().enumerate() {
                let (Some(m), Some(runs)) = (g.means.get(&(l, d)), g.cells.get(&(l, d))) else {
                    continue;
                };
                let devs: Vec<f64> = g
                    .common
                    .iter()
                    .filter_map(|s| runs.get(s).and_then(|r| r.best_dev_accuracy))
                    .collect();
                points.push(Point {
                    x: lr,
                    y: 100.0 * m,
                    sd: 100.0 * sample_std(&devs),
                });
            }
            let (e, o) = g.dropouts[d];
            let dropout = if e == o {
                format!("{e}")
            } else {
                format!("{e}/{o}")
            };
            series.push(Series {
                name: format!("{} (dropout {dropout})", g.label),
                points,
            });
        }
        if series.is_empty() {
            continue;
        }
        let chart = Chart {
            title: format!("{data}: best-dev accuracy against lr, at each model's chosen dropout"),
            x_desc: "Adam learning rate".into(),
            y_desc: "dev accuracy (%), mean ± sd over seeds".into(),
            x_log: true,
            series,
            hlines: Vec::new(),
        };
        out.push((data, render(&chart)?));
    }
    Ok(out)
}
