//! The report's figures, drawn with plotters into both SVG (inlined in the HTML) and PNG.
//! Text uses the committed DejaVu Sans font (`assets/fonts/`), loaded from bytes, so output
//! does not depend on system fonts. Three chart shapes ([`Chart`]): heatmap (with a colour bar
//! and ± std per cell), line chart (error bars, shaded bands, faint raw traces), scatter (a few
//! highlighted classes with a legend, the rest grey); which figures a report shows is decided
//! in [`super::figures`].

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::ReportError;

/// The font every figure uses (DejaVu Sans, Bitstream Vera license: `assets/fonts/`).
static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

fn ensure_font() -> Result<(), ReportError> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    if ok {
        Ok(())
    } else {
        Err(ReportError::Plot {
            name: "font".into(),
            msg: "the bundled font failed to load".into(),
        })
    }
}

/// A rendered figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem (`roc` -> `roc.svg`, `roc.png`).
    pub name: String,
    pub caption: String,
    pub svg: String,
    pub png: Vec<u8>,
}

/// One line of a line chart: points sorted by x, optional +- error per point, optional shaded
/// band `(low, high)` per point.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub err: Vec<f64>,
    pub band: Vec<(f64, f64)>,
    /// Palette index (default: the series' position).
    pub colour: Option<usize>,
    /// Drawn thin and pale, without a legend entry (raw traces behind a summary).
    pub faint: bool,
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Chart {
    /// Cells `(mean, std)` in row-major order over `ys` (rows) x `xs` (columns).
    Heatmap {
        xs: Vec<String>,
        ys: Vec<String>,
        cells: Vec<Option<(f64, f64)>>,
        x_desc: String,
        y_desc: String,
    },
    /// `log_x`: x values are log10 and labelled as powers of ten.
    Lines {
        series: Vec<Series>,
        x_desc: String,
        y_desc: String,
        log_x: bool,
        markers: bool,
    },
    /// (x, y, class): classes index `legend`; `None` is drawn small and grey.
    Scatter {
        points: Vec<(f64, f64, Option<usize>)>,
        legend: Vec<String>,
    },
}

const W: u32 = 720;
const H: u32 = 480;

/// Draw `chart` as SVG and PNG.
pub fn render(name: &str, caption: &str, chart: &Chart) -> Result<Figure, ReportError> {
    ensure_font()?;
    let perr = |e: String| ReportError::Plot {
        name: name.into(),
        msg: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        draw(&root, caption, chart).map_err(perr)?;
        root.present().map_err(|e| perr(e.to_string()))?;
    }
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        draw(&root, caption, chart).map_err(perr)?;
        root.present().map_err(|e| perr(e.to_string()))?;
    }
    let png = super::sheet::encode_png(&buf, W, H)?;
    Ok(Figure {
        name: name.into(),
        caption: caption.into(),
        svg,
        png,
    })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    chart: &Chart,
) -> Result<(), String> {
    let e = |x: DrawingAreaErrorKind<DB::ErrorType>| x.to_string();
    root.fill(&WHITE).map_err(e)?;
    match chart {
        Chart::Heatmap {
            xs,
            ys,
            cells,
            x_desc,
            y_desc,
        } => draw_heatmap(root, title, xs, ys, cells, x_desc, y_desc),
        Chart::Lines {
            series,
            x_desc,
            y_desc,
            log_x,
            markers,
        } => draw_lines(root, title, series, x_desc, y_desc, *log_x, *markers),
        Chart::Scatter { points, legend } => draw_scatter(root, title, points, legend),
    }
}

/// A tick label: integers bare, otherwise at most 4 decimals without trailing zeros.
fn tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        return format!("{}", v.round() + 0.0);
    }
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Viridis-like colour ramp for t in [0, 1].
fn ramp(t: f64) -> RGBColor {
    let stops = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    xs: &[String],
    ys: &[String],
    cells: &[Option<(f64, f64)>],
    x_desc: &str,
    y_desc: &str,
) -> Result<(), String> {
    // Cell (i, j) spans [i - 0.5, i + 0.5] x [j - 0.5, j + 0.5]; labels sit at the integers.
    let (nx, ny) = (xs.len().max(1), ys.len().max(1));
    let (w, _) = root.dim_in_pixel();
    let (main, bar) = root.split_horizontally(w.saturating_sub(90));
    let vals: Vec<f64> = cells.iter().flatten().map(|c| c.0).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = if hi > lo { hi - lo } else { 1.0 };
    draw_colour_bar(&bar, lo, lo + span)?;
    let mut chart = ChartBuilder::on(&main)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(-0.5..nx as f64 - 0.5, -0.5..ny as f64 - 0.5)
        .map_err(|e| e.to_string())?;
    let name = |names: &[String], v: f64| {
        let r = v.round();
        if (v - r).abs() < 1e-6 && r >= 0.0 {
            names.get(r as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let fx = |v: &f64| name(xs, *v);
    let fy = |v: &f64| name(ys, *v);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(nx + 1)
        .y_labels(ny + 1)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style((FAMILY, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    let cell = |k: usize| ((k % nx) as f64, (k / nx) as f64);
    chart
        .draw_series(cells.iter().enumerate().filter_map(|(k, c)| {
            let (i, j) = cell(k);
            c.map(|(v, _)| {
                Rectangle::new(
                    [(i - 0.5, j - 0.5), (i + 0.5, j + 0.5)],
                    ramp((v - lo) / span).filled(),
                )
            })
        }))
        .map_err(|e| e.to_string())?;
    for (pos, size, text) in [
        (
            VPos::Bottom,
            14,
            (|m, _| format!("{:.2}", 100.0 * m)) as fn(f64, f64) -> String,
        ),
        (VPos::Top, 11, |_, s| format!("± {:.2}", 100.0 * s)),
    ] {
        chart
            .draw_series(cells.iter().enumerate().filter_map(|(k, c)| {
                let (i, j) = cell(k);
                c.map(|(m, sd)| {
                    let colour: &'static RGBColor = if (m - lo) / span > 0.6 {
                        &BLACK
                    } else {
                        &WHITE
                    };
                    let style = TextStyle::from((FAMILY, size).into_font())
                        .color(colour)
                        .pos(Pos::new(HPos::Center, pos));
                    Text::new(text(m, sd), (i, j), style)
                })
            }))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A vertical colour bar for values `lo..hi` (fractions, labelled in %).
fn draw_colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f64,
    hi: f64,
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(57)
        .margin_right(8)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..1.0, 100.0 * lo..100.0 * hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_formatter(&|v| format!("{v:.1}"))
        .y_desc("accuracy %")
        .label_style((FAMILY, 11))
        .draw()
        .map_err(|e| e.to_string())?;
    let steps = 64;
    let (a, b) = (100.0 * lo, 100.0 * hi);
    chart
        .draw_series((0..steps).map(|k| {
            let (t0, t1) = (k as f64 / steps as f64, (k + 1) as f64 / steps as f64);
            Rectangle::new(
                [(0.0, a + (b - a) * t0), (1.0, a + (b - a) * t1)],
                ramp((t0 + t1) / 2.0).filled(),
            )
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let mut b = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for s in series {
        for (k, &(x, y)) in s.points.iter().enumerate() {
            let e = s.err.get(k).copied().unwrap_or(0.0);
            let (lo, hi) = s.band.get(k).copied().unwrap_or((y, y));
            b = (
                b.0.min(x),
                b.1.max(x),
                b.2.min((y - e).min(lo)),
                b.3.max((y + e).max(hi)),
            );
        }
    }
    if !b.0.is_finite() {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = |lo: f64, hi: f64| {
        let d = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.05
        };
        (lo - d, hi + d)
    };
    let (x0, x1) = pad(b.0, b.1);
    let (y0, y1) = pad(b.2, b.3);
    (x0, x1, y0, y1)
}

/// The chart corner holding the fewest data points (ties: lower right, upper right, upper
/// left, lower left), where the legend hides the least.
fn legend_corner(series: &[Series], (x0, x1, y0, y1): (f64, f64, f64, f64)) -> SeriesLabelPosition {
    let (xm, ym) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    // Count points in the outer half of each quadrant (where the legend box sits).
    let mut counts = [0usize; 4];
    for &(x, y) in series.iter().flat_map(|s| s.points.iter()) {
        let right = x > xm;
        let upper = y > ym;
        let k = match (right, upper) {
            (true, false) => 0,
            (true, true) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        counts[k] += 1;
    }
    let best = (0..4).min_by_key(|&k| counts[k]).unwrap_or(0);
    [
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

fn draw_lines<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
    x_desc: &str,
    y_desc: &str,
    log_x: bool,
    markers: bool,
) -> Result<(), String> {
    let (x0, x1, y0, y1) = bounds(series);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    let fx = |v: &f64| {
        if !log_x {
            tick(*v)
        } else if (v - v.round()).abs() < 1e-9 {
            format!("1e{}", v.round())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&fx)
        .label_style((FAMILY, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let colour = Palette99::pick(s.colour.unwrap_or(i)).to_rgba();
        if !s.band.is_empty() {
            let upper = s.points.iter().zip(&s.band).map(|(p, b)| (p.0, b.1));
            let lower = s.points.iter().zip(&s.band).rev().map(|(p, b)| (p.0, b.0));
            let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    outline,
                    colour.mix(0.18).filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        if s.faint {
            chart
                .draw_series(LineSeries::new(
                    s.points.iter().copied(),
                    colour.mix(0.22).stroke_width(1),
                ))
                .map_err(|e| e.to_string())?;
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                s.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
        if markers {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                .map_err(|e| e.to_string())?;
        }
        if !s.err.is_empty() {
            chart
                .draw_series(s.points.iter().zip(&s.err).filter(|(_, e)| **e > 0.0).map(
                    |(&(x, y), &e)| {
                        PathElement::new(vec![(x, y - e), (x, y + e)], colour.stroke_width(1))
                    },
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    if series.iter().any(|s| !s.faint && !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 12))
            .position(legend_corner(series, (x0, x1, y0, y1)))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw_scatter<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[(f64, f64, Option<usize>)],
    legend: &[String],
) -> Result<(), String> {
    let s = Series {
        points: points.iter().map(|p| (p.0, p.1)).collect(),
        ..Series::default()
    };
    let (x0, x1, y0, y1) = bounds(&[s]);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("MDS 1")
        .y_desc("MDS 2")
        .label_style((FAMILY, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    let grey = RGBColor(200, 200, 200);
    chart
        .draw_series(
            points
                .iter()
                .filter(|p| p.2.is_none())
                .map(|&(x, y, _)| Circle::new((x, y), 2, grey.filled())),
        )
        .map_err(|e| e.to_string())?;
    for (c, name) in legend.iter().enumerate() {
        let colour = Palette99::pick(c).to_rgba();
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == Some(c))
                    .map(move |&(x, y, _)| Circle::new((x, y), 4, colour.filled())),
            )
            .map_err(|e| e.to_string())?
            .label(name.clone())
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, colour.filled()));
    }
    if !legend.is_empty() {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .label_font((FAMILY, 11))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_svg_and_png_with_text() {
        let chart = Chart::Heatmap {
            xs: vec!["10".into(), "20".into()],
            ys: vec!["5".into()],
            cells: vec![Some((0.8123, 0.0125)), None],
            x_desc: "ids".into(),
            y_desc: "per_id".into(),
        };
        let f = render("h", "Accuracy", &chart).unwrap();
        assert!(f.svg.starts_with("<svg") && f.svg.contains("81.23") && f.svg.contains("Accuracy"));
        assert!(f.svg.contains("± 1.25"), "the std is shown in the cell");
        assert!(f.svg.contains("accuracy %"), "the colour bar is labelled");
        let img = image::load_from_memory(&f.png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (W, H));
        // Text and cells are drawn: the PNG is not a blank page.
        assert!(img.pixels().filter(|p| p.0 != [255, 255, 255]).count() > 1000);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick(0.20000000000000004), "0.2");
        assert_eq!(tick(3.0), "3");
        assert_eq!(tick(-0.125), "-0.125");
    }

    #[test]
    fn ramp_endpoints() {
        assert_eq!(ramp(0.0), RGBColor(68, 1, 84));
        assert_eq!(ramp(1.0), RGBColor(253, 231, 37));
    }
}
