//! Line and marker plots as PNG, with their text in the embedded DejaVu Sans font.
//!
//! A [`LinePlot`] is a title, two axis labels and [`Series`] of `(x, y)` points (optionally with
//! `+-` error bars); [`Panels`] puts several side by side in one image. Drawing goes through
//! plotters into an RGB buffer and the PNG is encoded by `image` and written atomically; the
//! font is registered from the `dejavu` crate's bytes, so no system font is looked up and the
//! same plot gives the same pixels on every machine.
//!
//! Data rules: points with a non-finite coordinate are skipped (and, on a log x axis, points with
//! x <= 0); series left with no point are not drawn (and get no legend entry, but keep their
//! colour, which follows the series' position); an error bar that is not finite counts as none.
//! Ranges cover every point and bar with some padding; all-equal values get a range around them.

use std::path::{Path, PathBuf};
use std::sync::Once;

use image::{ImageEncoder, RgbImage};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axis::{fmt_linear, fmt_si, linear_ticks, log_ticks, padded, Axis};
use crate::error::{atomic_write, ReportError};

/// One named line (or set of markers) of a plot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` in drawing order.
    pub points: Vec<(f64, f64)>,
    /// Half-length of a vertical error bar per point (`y - e` to `y + e`); one per point.
    pub err: Option<Vec<f64>>,
    /// Markers only, no connecting line (a scatter plot).
    pub markers_only: bool,
}

impl Series {
    /// A line through `points`.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
            err: None,
            markers_only: false,
        }
    }

    /// Markers at `points`, not connected.
    pub fn markers(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            markers_only: true,
            ..Self::line(name, points)
        }
    }

    /// The same series with `+- err[i]` bars at point `i`.
    pub fn with_err(mut self, err: Vec<f64>) -> Self {
        self.err = Some(err);
        self
    }
}

/// A plot of one or more series on shared axes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinePlot {
    /// Caption above the plot.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// The series, coloured by their position in this list.
    pub series: Vec<Series>,
    /// A logarithmic (base 10) x axis.
    pub log_x: bool,
}

impl LinePlot {
    /// Draws the plot into an RGB image of `(width, height)` pixels.
    pub fn render(&self, size: (u32, u32)) -> Result<RgbImage, ReportError> {
        render(None, std::slice::from_ref(self), size).map_err(|message| ReportError::Plot {
            path: PathBuf::new(),
            message,
        })
    }

    /// Draws the plot and writes it to `path` as a PNG of `(width, height)` pixels, atomically
    /// (temp file + rename), creating the parent folder.
    pub fn write_png(&self, path: &Path, size: (u32, u32)) -> Result<(), ReportError> {
        let image = render(None, std::slice::from_ref(self), size).map_err(|message| {
            ReportError::Plot {
                path: path.to_path_buf(),
                message,
            }
        })?;
        write_image(path, &image)
    }
}

/// Several plots side by side in one image, under a common title.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panels {
    /// Caption above all panels (none when empty).
    pub title: String,
    /// The panels, left to right, each given an equal share of the width.
    pub plots: Vec<LinePlot>,
}

impl Panels {
    /// Draws the panels into an RGB image of `(width, height)` pixels.
    pub fn render(&self, size: (u32, u32)) -> Result<RgbImage, ReportError> {
        render(Some(&self.title), &self.plots, size).map_err(|message| ReportError::Plot {
            path: PathBuf::new(),
            message,
        })
    }

    /// Draws the panels and writes them to `path` as a PNG of `(width, height)` pixels,
    /// atomically (temp file + rename), creating the parent folder.
    pub fn write_png(&self, path: &Path, size: (u32, u32)) -> Result<(), ReportError> {
        let image =
            render(Some(&self.title), &self.plots, size).map_err(|message| ReportError::Plot {
                path: path.to_path_buf(),
                message,
            })?;
        write_image(path, &image)
    }
}

/// The largest width or height accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// Series colours (Tableau 10), by position in the series list.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The font family every text of a plot uses; registered from embedded bytes.
const FONT: &str = "sans-serif";

/// Registers DejaVu Sans (regular and bold) as [`FONT`], once per process.
fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font shipped in the dejavu crate; were they not,
        // drawing text would fail with plotters' FontUnavailable, reported as a Plot error.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Encodes `image` as PNG and writes it to `path` atomically.
fn write_image(path: &Path, image: &RgbImage) -> Result<(), ReportError> {
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|source| ReportError::Png {
            path: path.to_path_buf(),
            source,
        })?;
    atomic_write(path, &bytes)
}

/// Draws `plots` side by side (under `title` when given and not empty) into a white image.
fn render(title: Option<&str>, plots: &[LinePlot], size: (u32, u32)) -> Result<RgbImage, String> {
    let (w, h) = size;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!(
            "size {w}x{h}: width and height must be 1 to {MAX_SIDE} pixels"
        ));
    }
    let prepared = plots
        .iter()
        .enumerate()
        .map(|(i, p)| prepare(p).map_err(|e| format!("panel {}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    register_fonts();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let area = match title.filter(|t| !t.is_empty()) {
            Some(t) => root
                .titled(t, (FONT, 22).into_font().style(FontStyle::Bold))
                .map_err(|e| e.to_string())?,
            None => root.clone(),
        };
        if !plots.is_empty() {
            let cells = area.split_evenly((1, plots.len()));
            for ((cell, plot), data) in cells.iter().zip(plots).zip(&prepared) {
                draw_plot(cell, plot, data).map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| "buffer of the wrong size".to_string())
}

/// A series reduced to what is drawn: finite points (x already log10 on a log axis) with their
/// error bar (0 = none), and its colour.
struct Drawn<'a> {
    name: &'a str,
    color: RGBColor,
    points: Vec<(f64, f64, f64)>,
    markers_only: bool,
}

/// The drawable series of `plot`, in order, and the error of a bar list of the wrong length.
fn prepare(plot: &LinePlot) -> Result<Vec<Drawn<'_>>, String> {
    let mut out = Vec::new();
    for (i, s) in plot.series.iter().enumerate() {
        if let Some(err) = &s.err {
            if err.len() != s.points.len() {
                return Err(format!(
                    "series {:?} has {} points but {} error bars",
                    s.name,
                    s.points.len(),
                    err.len()
                ));
            }
        }
        let points: Vec<(f64, f64, f64)> = s
            .points
            .iter()
            .enumerate()
            .filter(|(_, (x, y))| x.is_finite() && y.is_finite() && (!plot.log_x || *x > 0.0))
            .map(|(j, &(x, y))| {
                let e = s
                    .err
                    .as_ref()
                    .map(|e| e[j].abs())
                    .filter(|e| e.is_finite())
                    .unwrap_or(0.0);
                let x = if plot.log_x { x.log10() } else { x };
                (x, y, e)
            })
            .collect();
        if !points.is_empty() {
            out.push(Drawn {
                name: &s.name,
                color: PALETTE[i % PALETTE.len()],
                points,
                markers_only: s.markers_only,
            });
        }
    }
    Ok(out)
}

/// Which corner of the plotting area the legend covers least data in, given the legend's size
/// as a fraction of the area.
fn legend_corner(
    series: &[Drawn],
    x: (f64, f64),
    y: (f64, f64),
    box_frac: (f64, f64),
) -> SeriesLabelPosition {
    let mut samples = Vec::new();
    for s in series {
        for (i, &(px, py, e)) in s.points.iter().enumerate() {
            samples.push((px, py));
            if e > 0.0 {
                samples.push((px, py - e));
                samples.push((px, py + e));
            }
            if !s.markers_only && i + 1 < s.points.len() {
                let (qx, qy, _) = s.points[i + 1];
                for k in 1..16 {
                    let t = k as f64 / 16.0;
                    samples.push((px + (qx - px) * t, py + (qy - py) * t));
                }
            }
        }
    }
    let norm: Vec<(f64, f64)> = samples
        .iter()
        .map(|&(px, py)| ((px - x.0) / (x.1 - x.0), (py - y.0) / (y.1 - y.0)))
        .collect();
    let (bw, bh) = box_frac;
    let corners = [
        (
            SeriesLabelPosition::UpperRight,
            (1.0 - bw, 1.0),
            (1.0 - bh, 1.0),
        ),
        (SeriesLabelPosition::LowerRight, (1.0 - bw, 1.0), (0.0, bh)),
        (SeriesLabelPosition::UpperLeft, (0.0, bw), (1.0 - bh, 1.0)),
        (SeriesLabelPosition::LowerLeft, (0.0, bw), (0.0, bh)),
    ];
    let mut best = (usize::MAX, SeriesLabelPosition::UpperRight);
    for (pos, (x0, x1), (y0, y1)) in corners {
        let n = norm
            .iter()
            .filter(|(u, v)| *u >= x0 && *u <= x1 && *v >= y0 && *v <= y1)
            .count();
        if n < best.0 {
            best = (n, pos);
        }
    }
    best.1
}

/// Draws one plot into `area`.
fn draw_plot<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    plot: &LinePlot,
    series: &[Drawn],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fold = |f: fn(&(f64, f64, f64)) -> (f64, f64)| {
        series
            .iter()
            .flat_map(|s| s.points.iter().map(f))
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (lo, hi)| {
                (a.min(lo), b.max(hi))
            })
    };
    let (xmin, xmax) = fold(|p| (p.0, p.0));
    let (ymin, ymax) = fold(|p| (p.1 - p.2, p.1 + p.2));
    let (x0, x1) = padded(xmin, xmax, plot.log_x);
    let (y0, y1) = padded(ymin, ymax, false);

    // integer data (epochs, counts) gets no ticks between integers
    let integer = |f: fn(&(f64, f64, f64)) -> f64| {
        let mut v = series
            .iter()
            .flat_map(|s| s.points.iter().map(f))
            .peekable();
        v.peek().is_some() && v.all(|x| x.fract() == 0.0)
    };
    let x_min_step = if !plot.log_x && integer(|p| p.0) {
        1.0
    } else {
        0.0
    };
    let y_min_step = if integer(|p| p.1) && integer(|p| p.2) {
        1.0
    } else {
        0.0
    };

    let (aw, ah) = area.dim_in_pixel();
    let x_target = ((aw as usize).saturating_sub(90) / 90).clamp(2, 10);
    let x_max_log = ((aw as usize).saturating_sub(100) / 60).clamp(2, 12);
    let y_target = ((ah as usize).saturating_sub(90) / 50).clamp(2, 10);
    let x_ticks;
    let x_fmt: Box<dyn Fn(&f64) -> String>;
    if plot.log_x {
        x_ticks = log_ticks(x0, x1, x_max_log);
        x_fmt = Box::new(|v: &f64| fmt_si(10f64.powf(*v)));
    } else {
        let (t, step) = linear_ticks(x0, x1, x_target, x_min_step);
        let big = t.iter().any(|v| v.abs() >= 1e5);
        x_ticks = t;
        x_fmt = Box::new(move |v: &f64| fmt_linear(*v, step, big));
    }
    let (y_ticks, y_step) = linear_ticks(y0, y1, y_target, y_min_step);
    let y_big = y_ticks.iter().any(|v| v.abs() >= 1e5);
    let y_fmt = move |v: &f64| fmt_linear(*v, y_step, y_big);

    let mut builder = ChartBuilder::on(area);
    builder
        .margin(12)
        .margin_right(20)
        .x_label_area_size(48)
        .y_label_area_size(68);
    if !plot.title.is_empty() {
        builder.caption(&plot.title, (FONT, 18));
    }
    let mut chart = builder.build_cartesian_2d(
        Axis {
            lo: x0,
            hi: x1,
            ticks: x_ticks,
        },
        Axis {
            lo: y0,
            hi: y1,
            ticks: y_ticks,
        },
    )?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label.as_str())
        .y_desc(plot.y_label.as_str())
        .x_label_formatter(&*x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .bold_line_style(RGBColor(225, 225, 225))
        .axis_style(RGBColor(90, 90, 90))
        .draw()?;

    let cap = (x1 - x0) * 0.006;
    let many = series.iter().map(|s| s.points.len()).max().unwrap_or(0) > 40;
    for s in series {
        let color = s.color;
        let pts: Vec<(f64, f64)> = s.points.iter().map(|p| (p.0, p.1)).collect();
        let bars = s
            .points
            .iter()
            .filter(|p| p.2 > 0.0)
            .flat_map(|&(x, y, e)| {
                [
                    PathElement::new(vec![(x, y - e), (x, y + e)], color.stroke_width(1)),
                    PathElement::new(
                        vec![(x - cap, y - e), (x + cap, y - e)],
                        color.stroke_width(1),
                    ),
                    PathElement::new(
                        vec![(x - cap, y + e), (x + cap, y + e)],
                        color.stroke_width(1),
                    ),
                ]
            });
        chart.draw_series(bars)?;
        let radius = if s.markers_only { 4 } else { 3 };
        let path = if s.markers_only {
            Vec::new()
        } else {
            vec![(0, 0), (20, 0)]
        };
        let legend = move |(lx, ly): (i32, i32)| {
            EmptyElement::at((lx, ly))
                + Circle::new((10, 0), radius, color.filled())
                + PathElement::new(path.clone(), color.stroke_width(2))
        };
        let markers = pts.iter().map(|&p| Circle::new(p, radius, color.filled()));
        if s.markers_only {
            chart.draw_series(markers)?.label(s.name).legend(legend);
        } else {
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(s.name)
                .legend(legend);
            if !many {
                chart.draw_series(markers)?;
            }
        }
    }
    if !series.is_empty() {
        // estimated legend size against the plotting area (label areas and margins removed)
        let longest = series
            .iter()
            .map(|s| s.name.chars().count())
            .max()
            .unwrap_or(0);
        let pw = (aw as f64 - 100.0).max(1.0);
        let ph = (ah as f64 - 100.0).max(1.0);
        let frac = (
            ((longest as f64 * 8.0 + 50.0) / pw).min(1.0),
            ((series.len() as f64 * 19.0 + 14.0) / ph).min(1.0),
        );
        let corner = legend_corner(series, (x0, x1), (y0, y1), frac);
        chart
            .configure_series_labels()
            .position(corner)
            .margin(8)
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_avoids_the_data() {
        // a rising line: upper left and lower right are empty; upper right is crowded
        let s = [Drawn {
            name: "a",
            color: PALETTE[0],
            points: (0..=10).map(|i| (i as f64, i as f64, 0.0)).collect(),
            markers_only: false,
        }];
        let pos = legend_corner(&s, (0.0, 10.0), (0.0, 10.0), (0.3, 0.2));
        assert!(
            matches!(
                pos,
                SeriesLabelPosition::LowerRight | SeriesLabelPosition::UpperLeft
            ),
            "{pos:?}"
        );
    }
}
