//! Deterministic SVG line charts for the generated sections of `docs/RESULTS.md`: lines of
//! points with ± error bars and labelled horizontal reference lines, drawn with plotters' SVG
//! backend into a string. A fixed size, no timestamps and no system fonts (text is emitted as
//! SVG `<text>`), so the same data always give the same bytes.

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Width and height of every chart, in pixels (the legend panel included).
pub const SIZE: (u32, u32) = (900, 420);

/// Width of the legend panel at the right, in pixels.
const LEGEND_WIDTH: u32 = 230;

/// One point: `y ± sd` at `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Position on the x axis.
    pub x: f64,
    /// Value (mean).
    pub y: f64,
    /// Half-length of the error bar (0: none).
    pub sd: f64,
}

/// A named line of points (drawn in x order).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// The points.
    pub points: Vec<Point>,
}

/// A chart: lines, horizontal reference lines (legend text, y) and axis descriptions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Chart {
    /// Caption above the plot.
    pub title: String,
    /// x-axis description.
    pub x_desc: String,
    /// y-axis description.
    pub y_desc: String,
    /// Logarithmic x axis (every x must then be positive).
    pub x_log: bool,
    /// The lines.
    pub series: Vec<Series>,
    /// Horizontal lines across the whole x range.
    pub hlines: Vec<(String, f64)>,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

/// The x and y ranges of the chart's data, padded.
fn ranges(c: &Chart) -> Result<((f64, f64), (f64, f64))> {
    let pts = c.series.iter().flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in pts {
        if !(p.x.is_finite() && p.y.is_finite() && p.sd.is_finite()) {
            return Err(anyhow!("plot `{}`: a value is not finite", c.title));
        }
        if c.x_log && p.x <= 0.0 {
            return Err(anyhow!("plot `{}`: x = {} on a log axis", c.title, p.x));
        }
        (x0, x1) = (x0.min(p.x), x1.max(p.x));
        (y0, y1) = (y0.min(p.y - p.sd), y1.max(p.y + p.sd));
    }
    for (_, y) in &c.hlines {
        (y0, y1) = (y0.min(*y), y1.max(*y));
    }
    if x0 > x1 || y0 > y1 {
        return Err(anyhow!("plot `{}`: no data", c.title));
    }
    let (x0, x1) = if c.x_log {
        (x0 / 1.5, x1 * 1.5)
    } else {
        let pad = ((x1 - x0) * 0.05).max(1e-9);
        (x0 - pad, x1 + pad)
    };
    let pad = if y1 > y0 {
        (y1 - y0) * 0.08
    } else {
        y0.abs().max(1.0) * 0.05
    };
    Ok(((x0, x1), (y0 - pad, y1 + pad)))
}

/// Renders the chart as SVG text.
///
/// # Errors
/// No data, a value that is not finite, or a non-positive x on a log axis.
pub fn render(c: &Chart) -> Result<String> {
    let ((x0, x1), (y0, y1)) = ranges(c)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        // The caption spans plot and legend; a long one in a smaller font.
        let size = if c.title.chars().count() > 70 { 13 } else { 17 };
        let root = root.titled(&c.title, ("sans-serif", size)).map_err(err)?;
        let (plot, legend) = root.split_horizontally(SIZE.0 - LEGEND_WIDTH);
        if c.x_log {
            let cap = (x1 / x0).powf(0.012);
            draw(c, &plot, (x0..x1).log_scale(), y0..y1, cap)?;
        } else {
            draw(c, &plot, x0..x1, y0..y1, (x1 - x0) * 0.008)?;
        }
        draw_legend(c, &legend)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Draws onto `root` with the x coordinate `xs`; `cap` is an error bar's half-width (a factor
/// on a log axis, a length otherwise).
fn draw<X>(
    c: &Chart,
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    xs: X,
    ys: std::ops::Range<f64>,
    cap: f64,
) -> Result<()>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    // Enough decimals that ticks about a tenth of the range apart differ.
    let step = (ys.end - ys.start) / 10.0;
    let digits = (-step.log10().floor()).clamp(1.0, 4.0) as usize;
    let mut chart = ChartBuilder::on(root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(xs, ys)
        .map_err(err)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_desc(&c.x_desc)
        .y_desc(&c.y_desc)
        .x_label_formatter(&|x| fmt_tick(*x))
        .y_label_formatter(&|y| format!("{y:.digits$}"))
        .draw()
        .map_err(err)?;
    let (xa, xb) = (chart.x_range().start, chart.x_range().end);
    let bar = |x: f64, d: f64| {
        if c.x_log {
            (x / cap.powf(d), x * cap.powf(d))
        } else {
            (x - cap * d, x + cap * d)
        }
    };
    let mut k = 0;
    for s in &c.series {
        let color = Palette99::pick(k).to_rgba();
        k += 1;
        let mut pts = s.points.clone();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|p| (p.x, p.y)),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart
            .draw_series(
                pts.iter()
                    .map(|p| Circle::new((p.x, p.y), 3, color.filled())),
            )
            .map_err(err)?;
        for p in pts.iter().filter(|p| p.sd > 0.0) {
            let (l, r) = bar(p.x, 1.0);
            let (lo, hi) = (p.y - p.sd, p.y + p.sd);
            chart
                .draw_series([
                    PathElement::new(vec![(p.x, lo), (p.x, hi)], color),
                    PathElement::new(vec![(l, lo), (r, lo)], color),
                    PathElement::new(vec![(l, hi), (r, hi)], color),
                ])
                .map_err(err)?;
        }
    }
    for (_, y) in &c.hlines {
        let color = Palette99::pick(k).to_rgba();
        k += 1;
        chart
            .draw_series(LineSeries::new([(xa, *y), (xb, *y)], color.stroke_width(1)))
            .map_err(err)?;
    }
    Ok(())
}

/// The legend, one line per series then per horizontal line, in drawing order and colours.
fn draw_legend(c: &Chart, area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<()> {
    let names = c
        .series
        .iter()
        .map(|s| s.name.as_str())
        .chain(c.hlines.iter().map(|(n, _)| n.as_str()));
    let style = ("sans-serif", 12).into_font().color(&BLACK);
    for (k, name) in names.enumerate() {
        let color = Palette99::pick(k).to_rgba();
        let y = 20 + 18 * k as i32;
        area.draw(&PathElement::new(
            vec![(4, y), (22, y)],
            color.stroke_width(2),
        ))
        .map_err(err)?;
        area.draw(&Text::new(name.to_string(), (28, y - 6), style.clone()))
            .map_err(err)?;
    }
    Ok(())
}

/// A tick label: up to three significant digits, without trailing zeros.
fn fmt_tick(x: f64) -> String {
    let digits = if x == 0.0 {
        0
    } else {
        (2 - x.abs().log10().floor() as i32).max(0) as usize
    };
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(x_log: bool) -> Chart {
        Chart {
            title: "t".into(),
            x_desc: "x".into(),
            y_desc: "y".into(),
            x_log,
            series: vec![Series {
                name: "a".into(),
                points: vec![
                    Point {
                        x: 0.01,
                        y: 80.0,
                        sd: 1.0,
                    },
                    Point {
                        x: 0.001,
                        y: 70.0,
                        sd: 0.0,
                    },
                ],
            }],
            hlines: vec![("dense".into(), 75.0)],
        }
    }

    #[test]
    fn same_data_same_bytes_and_bad_data_refused() {
        for log in [false, true] {
            let a = render(&chart(log)).unwrap();
            assert_eq!(a, render(&chart(log)).unwrap());
            assert!(a.starts_with("<svg"), "{}", &a[..40]);
            assert!(a.contains("\ndense\n</text>"), "{a}");
        }
        let mut c = chart(true);
        c.series[0].points[0].x = 0.0;
        assert!(render(&c).unwrap_err().to_string().contains("log axis"));
        c.series[0].points[0].y = f64::NAN;
        assert!(render(&c).unwrap_err().to_string().contains("not finite"));
        let empty = Chart::default();
        assert!(render(&empty).unwrap_err().to_string().contains("no data"));
        assert_eq!(fmt_tick(0.001), "0.001");
        assert_eq!(fmt_tick(12.5), "12.5");
        assert_eq!(fmt_tick(0.0), "0");
    }
}
