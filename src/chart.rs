//! PNG charts drawn with plotters and an embedded font (DejaVu Sans), so no system font is needed.
//!
//! One small model, [`Chart`], covers every chart the report and the planner draw: lines and points on
//! a numeric x axis, with an optional second y axis, and bars for distributions.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Width of every chart, in pixels.
pub const WIDTH: u32 = 1000;
/// Height of every chart, in pixels.
pub const HEIGHT: u32 = 480;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The embedded font was rejected.
    #[error("the embedded font could not be loaded")]
    Font,
    /// plotters failed while drawing or encoding.
    #[error("drawing {path}: {message}")]
    Draw {
        /// The PNG being written.
        path: String,
        /// plotters' message.
        message: String,
    },
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line through the points in x order.
    Line,
    /// A dashed-looking thin line (for predictions, bounds and references).
    Thin,
    /// Dots.
    Points,
    /// Hollow circles (e.g. censored or saturated observations).
    Hollow,
    /// Vertical bars from zero (for distributions); x is the bar centre.
    Bars,
}

/// One named series of (x, y) points.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend label.
    pub name: String,
    /// The points, x then y.
    pub points: Vec<(f64, f64)>,
    /// How it is drawn.
    pub style: Style,
    /// Drawn against the secondary (right) y axis.
    pub secondary: bool,
}

impl Series {
    /// A series drawn as a line on the primary axis.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            style: Style::Line,
            secondary: false,
        }
    }

    /// The same series, drawn another way.
    pub fn styled(mut self, style: Style) -> Series {
        self.style = style;
        self
    }

    /// The same series, against the secondary (right) y axis.
    pub fn on_secondary(mut self) -> Series {
        self.secondary = true;
        self
    }
}

/// A chart: title, axis labels and series.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    /// The caption above the plot.
    pub title: String,
    /// The x axis label, with its unit.
    pub x_label: String,
    /// The left y axis label, with its unit.
    pub y_label: String,
    /// The right y axis label; a secondary axis is drawn only when a series uses it.
    pub y2_label: String,
    /// The series, drawn in order.
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn font() -> Result<(), ChartError> {
    static LOADED: OnceLock<bool> = OnceLock::new();
    let ok = *LOADED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// The range of the values with a margin; a flat or empty range gets a unit span.
fn span(values: impl Iterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero && lo > 0.0 {
        lo = 0.0;
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let pad = (hi - lo) * 0.05;
    (if from_zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
}

/// Draw `chart` into a PNG of [`WIDTH`] × [`HEIGHT`] at `path`.
pub fn draw(chart: &Chart, path: &Path) -> Result<(), ChartError> {
    font()?;
    let err = |e: &dyn std::fmt::Display| ChartError::Draw {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let primary = || chart.series.iter().filter(|s| !s.secondary);
    let secondary = || chart.series.iter().filter(|s| s.secondary);
    let bars = chart.series.iter().any(|s| s.style == Style::Bars);
    let (mut x0, mut x1) = span(
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0)),
        false,
    );
    if bars {
        // Leave half a bar either side.
        let w = bar_width(chart);
        x0 = x0.min(min_x(chart) - w);
        x1 = x1.max(max_x(chart) + w);
    }
    let (y0, y1) = span(primary().flat_map(|s| s.points.iter().map(|p| p.1)), true);
    let has_secondary = secondary().next().is_some();
    let (z0, z1) = span(secondary().flat_map(|s| s.points.iter().map(|p| p.1)), true);

    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(&chart.title, (FAMILY, 22))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(70);
    if has_secondary {
        builder.right_y_label_area_size(70);
    }
    let mut ctx = builder
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| err(&e))?
        .set_secondary_coord(x0..x1, z0..z1);
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;
    if has_secondary {
        ctx.configure_secondary_axes()
            .y_desc(chart.y2_label.as_str())
            .label_style((FAMILY, 14))
            .axis_desc_style((FAMILY, 15))
            .draw()
            .map_err(|e| err(&e))?;
    }
    let width = bar_width(chart);
    for (i, s) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut points = s.points.clone();
        points.retain(|p| p.0.is_finite() && p.1.is_finite());
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        macro_rules! plot {
            ($draw:ident) => {{
                let anno = match s.style {
                    Style::Line => {
                        ctx.$draw(LineSeries::new(points.clone(), color.stroke_width(2)))
                    }
                    Style::Thin => {
                        ctx.$draw(LineSeries::new(points.clone(), color.stroke_width(1)))
                    }
                    Style::Points => {
                        ctx.$draw(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    }
                    Style::Hollow => ctx.$draw(
                        points
                            .iter()
                            .map(|&p| Circle::new(p, 5, color.stroke_width(2))),
                    ),
                    Style::Bars => ctx.$draw(points.iter().map(|&(x, y)| {
                        Rectangle::new(
                            [(x - width * 0.45, 0.0), (x + width * 0.45, y)],
                            color.mix(0.7).filled(),
                        )
                    })),
                }
                .map_err(|e| err(&e))?;
                anno.label(s.name.as_str()).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 4), (x + 14, y + 4)], color.filled())
                });
            }};
        }
        if s.secondary {
            plot!(draw_secondary_series);
        } else {
            plot!(draw_series);
        }
    }
    if chart.series.iter().any(|s| !s.name.is_empty()) {
        ctx.configure_series_labels()
            .label_font((FAMILY, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

fn min_x(chart: &Chart) -> f64 {
    chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::INFINITY, f64::min)
}

fn max_x(chart: &Chart) -> f64 {
    chart
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The narrowest gap between neighbouring bar centres (1 when there is a single bar).
fn bar_width(chart: &Chart) -> f64 {
    let mut xs: Vec<f64> = chart
        .series
        .iter()
        .filter(|s| s.style == Style::Bars)
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .filter(|x| x.is_finite())
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let gap = xs
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::INFINITY, f64::min);
    if gap.is_finite() && gap > 0.0 {
        gap
    } else {
        1.0
    }
}

/// Bin `values` into `bins` equal-width bins; returns (bin centre, count) pairs.
pub fn histogram(values: &[f64], bins: usize) -> Vec<(f64, f64)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() || bins == 0 {
        return Vec::new();
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0.0; bins];
    for v in finite {
        let i = (((v - lo) / width) as usize).min(bins - 1);
        counts[i] += 1.0;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, c)| (lo + width * (i as f64 + 0.5), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_counts_every_value_once() {
        let h = histogram(&[1.0, 2.0, 2.5, 3.0, f64::NAN], 2);
        assert_eq!(h.len(), 2);
        assert_eq!(h.iter().map(|b| b.1).sum::<f64>(), 4.0);
        // Bins [1, 2) and [2, 3]; the maximum falls in the last bin.
        assert_eq!(h[0], (1.5, 1.0));
        assert_eq!(h[1], (2.5, 3.0));
    }

    #[test]
    fn draws_a_png_of_the_stated_size_with_two_axes_and_bars() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let chart = Chart {
            title: "CPU".into(),
            x_label: "time (s)".into(),
            y_label: "cores".into(),
            y2_label: "participants".into(),
            series: vec![
                Series::line("jvb-0", vec![(0.0, 0.5), (10.0, 1.5)]),
                Series::line("participants", vec![(0.0, 2.0), (10.0, 8.0)]).on_secondary(),
                Series::line("hist", histogram(&[1.0, 2.0, 3.0], 3)).styled(Style::Bars),
            ],
        };
        draw(&chart, &path).unwrap();
        if let Ok(keep) = std::env::var("LOADTEST_KEEP_CHART") {
            std::fs::copy(&path, keep).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // IHDR: width and height, big-endian, at offsets 16 and 20.
        assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), WIDTH);
        assert_eq!(
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
            HEIGHT
        );
    }

    #[test]
    fn an_empty_chart_still_draws() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.png");
        draw(&Chart::default(), &path).unwrap();
        assert!(path.metadata().unwrap().len() > 100);
    }
}
