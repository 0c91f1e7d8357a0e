//! SVG plots of a run: learning curves, density and churn over epochs, and the final topology
//! (non-zeros per LSTM gate, embedding row-degree histogram). Rendered from `metrics.csv`,
//! `events.jsonl` and the final model, so a resumed run plots its whole history.

use crate::rundir::{RunDir, names, write_atomic};
use anyhow::{Context, Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use set_evolve::EvolutionReport;
use set_nn::Classifier;

/// One `metrics.csv` row (the columns the plots use).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct MetricsRow {
    /// 1-based epoch.
    pub epoch: usize,
    /// `train`, `dev` or `test`.
    pub split: String,
    /// Mean loss.
    pub loss: f64,
    /// Accuracy.
    pub accuracy: f64,
    /// Stored / dense parameters.
    pub density: f64,
}

/// Reads `metrics.csv`.
///
/// # Errors
/// I/O or parse errors naming the file.
pub fn read_metrics(run: &RunDir) -> Result<Vec<MetricsRow>> {
    let path = run.file(names::METRICS);
    let mut r =
        csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
    r.deserialize()
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {}", path.display()))
}

/// Reads `events.jsonl`.
///
/// # Errors
/// I/O or parse errors naming the file and line.
pub fn read_events(run: &RunDir) -> Result<Vec<EvolutionReport>> {
    let path = run.file(names::EVENTS);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}

/// A named, coloured line of `(x, y)` points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing: {e:?}")
}

const SPLITS: [(&str, RGBColor); 3] = [
    ("train", BLUE),
    ("dev", RGBColor(230, 120, 0)),
    ("test", RGBColor(0, 150, 60)),
];

/// A padded axis range over `values`; from 0 when `from_zero`; never degenerate.
fn range(values: impl Iterator<Item = f64>, pad: f64, from_zero: bool) -> (f64, f64) {
    let (mut lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    let span = (hi - lo).max(hi.abs().max(lo.abs()) * 0.05).max(1e-9);
    let lo = if from_zero && lo == 0.0 {
        0.0
    } else {
        lo - pad * span
    };
    (lo, hi + pad * span)
}

/// A vertical marker on a line panel: `(x, label)`.
type Marker<'a> = Option<(f64, &'a str)>;

/// Lines of `(x, y)` series on one panel over integer epochs, with the legend in a strip below
/// the plot (never over the data) and an optional labelled vertical marker.
fn line_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    from_zero: bool,
    series: &[Series<'_>],
    marker: Marker<'_>,
) -> Result<()> {
    let (plot, legend) = area.split_vertically(area.dim_in_pixel().1.saturating_sub(34));
    let all = || series.iter().flat_map(|s| s.2.iter());
    // Whole epochs, half an epoch of room on each side (a single epoch is a point in the middle).
    let last = all().map(|p| p.0).fold(1.0f64, f64::max).round();
    let first = all().map(|p| p.0).fold(last, f64::min).round();
    let (x0, x1) = (first - 0.5, last + 0.5);
    let (y0, y1) = range(
        all().map(|p| p.1),
        if from_zero { 0.3 } else { 0.08 },
        from_zero,
    );
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let epochs = (last - first) as usize + 1;
    chart
        .configure_mesh()
        .x_labels(epochs.min(12) + 1)
        .x_label_formatter(&|x| {
            let r = x.round();
            if (x - r).abs() < 1e-6 && r >= first && r <= last {
                format!("{r:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| {
            format!("{y:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        })
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    if let Some((x, label)) = marker {
        let grey = RGBColor(110, 110, 110);
        chart
            .draw_series(DashedLineSeries::new(
                [(x, y0), (x, y1)],
                5,
                4,
                grey.stroke_width(1),
            ))
            .map_err(err)?;
        chart
            .draw_series([Text::new(
                label.to_string(),
                (x, y1),
                ("sans-serif", 13).into_font().color(&grey),
            )])
            .map_err(err)?;
    }
    let mut x_px = 70;
    for (name, color, pts) in series {
        if pts.is_empty() {
            continue;
        }
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?;
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
        legend
            .draw(&PathElement::new(
                vec![(x_px, 14), (x_px + 18, 14)],
                c.stroke_width(3),
            ))
            .map_err(err)?;
        legend
            .draw(&Text::new(
                name.to_string(),
                (x_px + 24, 7),
                ("sans-serif", 14),
            ))
            .map_err(err)?;
        x_px += 40 + 8 * name.len() as i32;
    }
    Ok(())
}

/// Bars `(label, value, color)` on one panel.
fn bar_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    bars: &[(String, f64, RGBColor)],
) -> Result<()> {
    let top = bars.iter().map(|b| b.1).fold(0.0f64, f64::max).max(1.0) * 1.1;
    let n = bars.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => bars.get(*i).map(|b| b.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, v, c))| {
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0.0),
                    (SegmentValue::Exact(i + 1), *v),
                ],
                c.filled(),
            );
            r.set_margin(0, 0, 4, 4);
            r
        }))
        .map_err(err)?;
    Ok(())
}

/// Histogram of row degrees, in at most 32 bins.
fn degree_bars(degrees: &[usize]) -> Vec<(String, f64, RGBColor)> {
    let max = degrees.iter().copied().max().unwrap_or(0);
    let width = (max + 1).div_ceil(32).max(1);
    let mut hist = vec![0usize; max / width + 1];
    degrees.iter().for_each(|&k| hist[k / width] += 1);
    hist.iter()
        .enumerate()
        .map(|(b, &c)| {
            let label = if width == 1 {
                b.to_string()
            } else {
                format!("{}-{}", b * width, b * width + width - 1)
            };
            (label, c as f64, BLUE)
        })
        .collect()
}

fn render(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// The best dev accuracy's epoch (the first of equal ones, as training counts it).
fn best_dev_epoch(metrics: &[MetricsRow]) -> Option<f64> {
    let mut best: Option<&MetricsRow> = None;
    for r in metrics.iter().filter(|r| r.split == "dev") {
        if best.is_none_or(|b| r.accuracy > b.accuracy) {
            best = Some(r);
        }
    }
    best.map(|r| r.epoch as f64)
}

/// Draws `title` over `root` and returns the area below it.
fn titled<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    title: &str,
) -> Result<DrawingArea<SVGBackend<'a>, Shift>> {
    let (head, body) = root.split_vertically(30);
    head.draw(&Text::new(
        title.to_string(),
        (12, 8),
        ("sans-serif", 16).into_font(),
    ))
    .map_err(err)?;
    Ok(body)
}

const GATES: [(&str, RGBColor); 4] = [
    ("i", RGBColor(70, 110, 200)),
    ("f", RGBColor(220, 90, 60)),
    ("g", RGBColor(60, 160, 90)),
    ("o", RGBColor(200, 160, 40)),
];

/// Writes `plots/learning_curves.svg` (loss and accuracy, the best dev epoch marked),
/// `plots/evolution.svg` (non-zeros per LSTM gate after each evolution step, and the share of
/// positions ever active) and `plots/topology.svg` (final non-zeros per gate, embedding
/// connections per token), each under `title` (dataset, policy, density, seed).
///
/// # Errors
/// Unreadable logs or drawing failures.
pub fn write_all(run: &RunDir, model: &Classifier<f32>, title: &str) -> Result<()> {
    let metrics = read_metrics(run)?;
    let events = read_events(run)?;
    let dir = run.plots();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let by_split = |f: fn(&MetricsRow) -> f64| -> Vec<Series<'_>> {
        SPLITS
            .iter()
            .map(|&(s, c)| {
                (
                    s,
                    c,
                    metrics
                        .iter()
                        .filter(|r| r.split == s)
                        .map(|r| (r.epoch as f64, f(r)))
                        .collect(),
                )
            })
            .collect()
    };
    let best = best_dev_epoch(&metrics).map(|e| (e, "best dev"));

    let svg = render((1100, 460), |root| {
        let body = titled(root, title)?;
        let (l, r) = body.split_horizontally(550);
        line_panel(
            &l,
            "Loss",
            ("epoch", "cross-entropy"),
            false,
            &by_split(|r| r.loss),
            best,
        )?;
        line_panel(
            &r,
            "Accuracy",
            ("epoch", "accuracy"),
            false,
            &by_split(|r| r.accuracy),
            best,
        )
    })?;
    write_atomic(&dir.join("learning_curves.svg"), svg.as_bytes())?;

    // Evolution: how the topology moved, where it moves (the constant density and a churn
    // that only repeats zeta are not plotted).
    let after = |e: &EvolutionReport| e.epoch as f64 + 1.0;
    let gate_series = |name: &str| -> Vec<Series<'static>> {
        GATES
            .iter()
            .enumerate()
            .map(|(k, &(g, c))| {
                let pts = events
                    .iter()
                    .filter_map(|e| {
                        let m = e.matrices.iter().find(|m| m.name == name)?;
                        Some((after(e), m.groups.get(k)?.nnz as f64))
                    })
                    .collect();
                (g, c, pts)
            })
            .collect()
    };
    let itop: Vec<(f64, f64)> = events
        .iter()
        .map(|e| (after(e), 100.0 * e.itop_rate))
        .collect();
    let pruned: Vec<(f64, f64)> = events
        .iter()
        .map(|e| {
            (
                after(e),
                100.0 * e.total_removed as f64 / e.total_nnz_before.max(1) as f64,
            )
        })
        .collect();
    // Half a percentage point: per-sign rounding moves a constant zeta by a little.
    let pruned_varies = pruned.windows(2).any(|w| (w[0].1 - w[1].1).abs() > 0.5);
    let height = if events.is_empty() { 110 } else { 460 };
    let svg = render((1100, height), |root| {
        let body = titled(root, title)?;
        if events.is_empty() {
            body.draw(&Text::new(
                "no evolution steps: the topology is fixed (dense or static, or one epoch)",
                (40, 40),
                ("sans-serif", 16),
            ))
            .map_err(err)?;
            return Ok(());
        }
        let (l, r) = body.split_horizontally(550);
        line_panel(
            &l,
            "Recurrent weights: non-zeros per gate",
            ("after epoch", "non-zeros"),
            false,
            &gate_series("lstm.weight_hh_l0"),
            None,
        )?;
        let mut right: Vec<Series<'_>> = vec![("ever active (ITOP)", RGBColor(120, 60, 170), itop)];
        if pruned_varies {
            right.push(("pruned and regrown this step", RED, pruned));
        }
        line_panel(
            &r,
            "Positions ever active",
            ("after epoch", "% of all positions"),
            true,
            &right,
            None,
        )
    })?;
    write_atomic(&dir.join("evolution.svg"), svg.as_bytes())?;

    let mut bars = Vec::new();
    let cell = model.config.rnn.cell;
    let names: &[&str] = match cell {
        set_nn::CellKind::Lstm => &["i", "f", "g", "o"],
        set_nn::CellKind::Gru => &["r", "z", "n"],
    };
    for (short, kind) in [("ih", "weight_ih"), ("hh", "weight_hh")] {
        let name = set_nn::rnn_param_name(cell, kind, 0, 0);
        if let Some(g) = set_train::analytics::gate_nnz(model, &name) {
            for (k, (gate, (_, color))) in names.iter().zip(GATES.iter()).enumerate() {
                bars.push((format!("{short}:{gate}"), g[k] as f64, *color));
            }
        }
    }
    let degrees = set_train::analytics::row_degrees(model, "embedding.weight");
    let svg = render((1100, 460), |root| {
        let body = titled(root, title)?;
        let (l, r) = body.split_horizontally(550);
        bar_panel(
            &l,
            match cell {
                set_nn::CellKind::Lstm => "LSTM non-zeros per gate",
                set_nn::CellKind::Gru => "GRU non-zeros per gate",
            },
            ("matrix:gate", "non-zeros"),
            &bars,
        )?;
        match &degrees {
            Some(d) => bar_panel(
                &r,
                "Embedding: connections per token",
                ("non-zeros in the token's row", "tokens"),
                &degree_bars(d),
            ),
            None => bar_panel(&r, "Embedding is dense", ("", "tokens"), &[]),
        }
    })?;
    write_atomic(&dir.join("topology.svg"), svg.as_bytes())?;
    Ok(())
}
