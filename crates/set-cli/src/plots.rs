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

/// Lines of `(x, y)` series on one panel.
fn line_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    from_zero: bool,
    series: &[Series<'_>],
) -> Result<()> {
    let all = || series.iter().flat_map(|s| s.2.iter());
    let (x0, x1) = range(all().map(|p| p.0), 0.02, false);
    let (y0, y1) = range(
        all().map(|p| p.1),
        if from_zero { 0.3 } else { 0.08 },
        from_zero,
    );
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(err)?;
    for (name, color, pts) in series {
        if pts.is_empty() {
            continue;
        }
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(err)?;
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

/// Writes `plots/learning_curves.svg`, `plots/density_churn.svg` and `plots/topology.svg`.
///
/// # Errors
/// Unreadable logs or drawing failures.
pub fn write_all(run: &RunDir, model: &Classifier<f32>) -> Result<()> {
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

    let svg = render((1100, 420), |root| {
        let (l, r) = root.split_horizontally(550);
        line_panel(
            &l,
            "Loss",
            ("epoch", "cross-entropy"),
            false,
            &by_split(|r| r.loss),
        )?;
        line_panel(
            &r,
            "Accuracy",
            ("epoch", "accuracy"),
            false,
            &by_split(|r| r.accuracy),
        )
    })?;
    write_atomic(&dir.join("learning_curves.svg"), svg.as_bytes())?;

    let density: Vec<(f64, f64)> = metrics
        .iter()
        .filter(|r| r.split == "train")
        .map(|r| (r.epoch as f64, r.density * 100.0))
        .collect();
    let churn: Vec<(f64, f64)> = events
        .iter()
        .map(|e| {
            (
                e.epoch as f64 + 1.0,
                100.0 * e.total_removed as f64 / e.total_nnz_before.max(1) as f64,
            )
        })
        .collect();
    let itop: Vec<(f64, f64)> = events
        .iter()
        .map(|e| (e.epoch as f64 + 1.0, 100.0 * e.itop_rate))
        .collect();
    let svg = render((1100, 420), |root| {
        let (l, r) = root.split_horizontally(550);
        line_panel(
            &l,
            "Parameter density",
            ("epoch", "% of dense parameters"),
            true,
            &[("stored / dense parameters", BLUE, density)],
        )?;
        line_panel(
            &r,
            "Topology churn (after each epoch)",
            ("epoch", "% of sparse connections"),
            true,
            &[
                ("pruned and regrown", RED, churn),
                ("ever active (ITOP)", RGBColor(120, 60, 170), itop),
            ],
        )
    })?;
    write_atomic(&dir.join("density_churn.svg"), svg.as_bytes())?;

    let gate_colors = [
        RGBColor(70, 110, 200),
        RGBColor(220, 90, 60),
        RGBColor(60, 160, 90),
        RGBColor(200, 160, 40),
    ];
    let mut bars = Vec::new();
    for (short, name) in [("ih", "lstm.weight_ih_l0"), ("hh", "lstm.weight_hh_l0")] {
        if let Some(g) = set_train::analytics::gate_nnz(model, name) {
            for (k, gate) in ["i", "f", "g", "o"].iter().enumerate() {
                bars.push((format!("{short}:{gate}"), g[k] as f64, gate_colors[k]));
            }
        }
    }
    let degrees = set_train::analytics::row_degrees(model, "embedding.weight");
    let svg = render((1100, 420), |root| {
        let (l, r) = root.split_horizontally(550);
        bar_panel(
            &l,
            "LSTM non-zeros per gate",
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
