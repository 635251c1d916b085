//! The drawing machinery: the palette and its pens, a figure's panels and series, and their
//! rendering with plotters into an SVG beside the table of the same panels.

use super::table::table;
use super::Figure;
use crate::Error;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// Length in pixels of a legend entry's line: long enough to show a few dashes.
const ENTRY: i32 = 32;

/// Tableau 10: distinguishable, and readable for the common colour-vision deficiencies.
const COLOURS: [RGBColor; 10] = [
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
/// The colour of a series, and which round of the palette it comes from: past [`COLOURS`] the
/// colours repeat, so the second and third rounds draw lines dotted or long-dashed ([`dashes`])
/// and markers as rings or small dots ([`marker`]), for every series of a panel to look
/// different.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pen {
    colour: RGBColor,
    round: usize,
}

/// Rounds of the palette that look different; more repeat the first.
const ROUNDS: usize = 3;

/// The `i`-th pen of the palette.
pub(super) fn palette(i: usize) -> Pen {
    Pen {
        colour: COLOURS[i % COLOURS.len()],
        round: i / COLOURS.len() % ROUNDS,
    }
}

pub(super) const GREY: Pen = Pen {
    colour: RGBColor(90, 90, 90),
    round: 0,
};
/// The null model's line and band: black, so that it differs from β's grey dashes.
pub(super) const NULL: Pen = Pen {
    colour: RGBColor(0, 0, 0),
    round: 0,
};

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Style {
    Line,
    Dashed,
    Markers,
    /// A filled polygon: the upper edge left to right, then the lower edge right to left.
    Band,
}

impl Style {
    /// The name in a figure's table.
    pub(super) fn name(self) -> &'static str {
        match self {
            Style::Line => "line",
            Style::Dashed => "dashed",
            Style::Markers => "markers",
            Style::Band => "band",
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct Series {
    /// The series' name in the table: every series has one, also when the legend has no room.
    pub(super) name: String,
    /// The legend's entry, if any.
    pub(super) label: Option<String>,
    pub(super) pen: Pen,
    pub(super) style: Style,
    pub(super) points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Scale {
    Linear,
    Log,
}

/// One plot: everything the renderer needs, computed from the results beforehand.
pub(super) struct Panel {
    pub(super) caption: String,
    pub(super) x_desc: String,
    pub(super) y_desc: String,
    pub(super) x: (f64, f64),
    pub(super) y: (f64, f64),
    pub(super) scale: Scale,
    /// Epochs: label the x axis with whole numbers only.
    pub(super) integer_x: bool,
    pub(super) series: Vec<Series>,
}

type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A short tick label: three significant digits, no trailing zeros.
fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (2 - a.log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The y axis as drawn. plotters ticks a log axis from the first power of ten above its
/// start, so a log axis starts at a power of ten for its lowest decade to be labelled too; a
/// log panel's `y.1` is its highest value, and the room for the legend is added here.
fn y_bounds(p: &Panel) -> (f64, f64) {
    match p.scale {
        Scale::Linear => p.y,
        Scale::Log => {
            // Keep the top 30% of the axis above the highest value free for the legend:
            // (ln hi − ln top) = 0.3·(ln hi − ln lo).
            // Just under the power of ten: plotters finds its first tick by rounding a
            // logarithm up, which rounding error could push past 10^k itself.
            let lo = 10f64.powf(p.y.0.log10().floor()) * (1.0 - 1e-6);
            let f = 0.3;
            let hi = ((p.y.1.ln() - f * lo.ln()) / (1.0 - f)).exp();
            (lo, hi)
        }
    }
}

/// The corner the data leave emptiest, for the legend: counts the points (and lines, sampled
/// between their points) inside each corner's box of 45% × 40% of the plot.
fn free_corner(p: &Panel) -> SeriesLabelPosition {
    let (lo, hi) = y_bounds(p);
    let ny = |y: f64| match p.scale {
        Scale::Linear => (y - lo) / (hi - lo),
        Scale::Log => (y.ln() - lo.ln()) / (hi.ln() - lo.ln()),
    };
    let nx = |x: f64| (x - p.x.0) / (p.x.1 - p.x.0);
    let mut samples: Vec<(f64, f64)> = Vec::new();
    for s in &p.series {
        if matches!(s.style, Style::Markers | Style::Band) || s.points.len() < 2 {
            samples.extend(s.points.iter().map(|&(x, y)| (nx(x), ny(y))));
            continue;
        }
        for w in s.points.windows(2) {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            for k in 0..=16 {
                let f = k as f64 / 16.0;
                samples.push((nx(x0 + f * (x1 - x0)), ny(y0 + f * (y1 - y0))));
            }
        }
    }
    let corners = [
        (SeriesLabelPosition::UpperRight, true, true),
        (SeriesLabelPosition::LowerRight, true, false),
        (SeriesLabelPosition::UpperLeft, false, true),
        (SeriesLabelPosition::LowerLeft, false, false),
    ];
    let inside = |right: bool, top: bool, (x, y): (f64, f64)| {
        (if right { x > 0.55 } else { x < 0.45 }) && (if top { y > 0.6 } else { y < 0.4 })
    };
    corners
        .into_iter()
        .min_by_key(|&(_, right, top)| samples.iter().filter(|&&s| inside(right, top, s)).count())
        .map_or(SeriesLabelPosition::UpperRight, |c| c.0)
}

fn draw_panel(area: &DrawingArea<SVGBackend, Shift>, p: &Panel) -> Drawn {
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&p.caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70);
    let x: RangedCoordf64 = (p.x.0..p.x.1).into();
    match p.scale {
        Scale::Linear => {
            let y: RangedCoordf64 = (p.y.0..p.y.1).into();
            fill_chart(builder.build_cartesian_2d(x, y)?, p)
        }
        Scale::Log => {
            let (lo, hi) = y_bounds(p);
            fill_chart(builder.build_cartesian_2d(x, (lo..hi).log_scale())?, p)
        }
    }
}

/// Axes, series and legend; generic over the y axis so that linear and log plots share it.
fn fill_chart<'a, 'b: 'a, Y>(
    mut chart: ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    p: &Panel,
) -> Drawn
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    draw_mesh(&mut chart, p)?;
    let few_points = p.series.iter().all(|s| s.points.len() <= 20);
    for s in &p.series {
        plot_series(&mut chart, s, few_points)?;
    }
    if p.series.iter().any(|s| s.label.is_some()) {
        chart
            .configure_series_labels()
            .legend_area_size(ENTRY + 10)
            .position(free_corner(p))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// The panel's axes: descriptions, tick labels and the light grid.
fn draw_mesh<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    p: &Panel,
) -> Drawn
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let x_fmt = |x: &f64| {
        if !p.integer_x {
            tick(*x)
        } else if (x - x.round()).abs() < 1e-9 {
            format!("{}", x.round())
        } else {
            // An epoch axis ticked between epochs: no label rather than a repeated one.
            String::new()
        }
    };
    let y_fmt = |y: &f64| tick(*y);
    // Whole epochs: at most one label per epoch.
    let x_labels = if p.integer_x {
        ((p.x.1 - p.x.0).round() as usize + 1).clamp(2, 10)
    } else {
        8
    };
    chart
        .configure_mesh()
        .x_desc(p.x_desc.as_str())
        .y_desc(p.y_desc.as_str())
        .x_labels(x_labels)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .light_line_style(WHITE)
        .draw()
}

/// One series drawn in its style, with its legend entry if it has a label; `few_points`
/// says whether the panel's lines show their points too.
fn plot_series<'a, 'b: 'a, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>,
    s: &Series,
    few_points: bool,
) -> Drawn
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let pen = s.pen;
    let line = pen.colour.stroke_width(2);
    let points = s.points.iter().copied();
    let dash = dashes(s.style, pen.round);
    // Short lines show their points too; `point` is their marker, also in the legend.
    let point = match s.style {
        Style::Markers => Some(marker(pen)),
        Style::Line if few_points => Some((3, line)),
        _ => None,
    };
    let anno = match (s.style, dash) {
        (Style::Band, _) => chart.draw_series(std::iter::once(Polygon::new(
            s.points.clone(),
            pen.colour.mix(0.18).filled(),
        )))?,
        (Style::Markers, _) => {
            let (r, style) = marker(pen);
            chart.draw_series(points.map(|pt| Circle::new(pt, r, style)))?
        }
        (_, Some((d, gap))) => chart.draw_series(DashedLineSeries::new(points, d, gap, line))?,
        (_, None) => chart.draw_series(LineSeries::new(points, line))?,
    };
    if let Some(label) = &s.label {
        // The entry is drawn as the series is. Every shape plotters composes has a fixed
        // type, so a solid line is one dash as long as the entry, and markers alone are a
        // path of no points with the marker.
        let (d, gap) = dash.unwrap_or((ENTRY, 0));
        let ends = if s.style == Style::Markers {
            vec![]
        } else {
            vec![(0, 0), (ENTRY, 0)]
        };
        let path =
            move |at| EmptyElement::at(at) + DashedPathElement::new(ends.clone(), d, gap, line);
        let anno = anno.label(label.as_str());
        match (s.style, point) {
            (Style::Band, _) => anno.legend(move |(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + ENTRY, y + 5)],
                    pen.colour.mix(0.18).filled(),
                )
            }),
            (_, Some((r, style))) => {
                anno.legend(move |at| path(at) + Circle::new((ENTRY / 2, 0), r, style))
            }
            (_, None) => anno.legend(path),
        };
    }
    if s.style == Style::Line {
        if let Some((r, style)) = point {
            chart.draw_series(s.points.iter().map(|&pt| Circle::new(pt, r, style)))?;
        }
    }
    Ok(())
}

/// A line's dash and gap in pixels, `None` for a solid line (bands and markers have none):
/// reference lines are dashed, and a palette colour's later rounds dotted or long-dashed.
fn dashes(style: Style, round: usize) -> Option<(i32, i32)> {
    match (style, round) {
        (Style::Dashed, _) => Some((8, 5)),
        (Style::Line, 1) => Some((2, 3)),
        (Style::Line, 2) => Some((14, 4)),
        _ => None,
    }
}

/// A point's radius and style in a `Markers` series: filled, a ring, or a small dot for the
/// palette's rounds.
fn marker(pen: Pen) -> (i32, ShapeStyle) {
    let fill = pen.colour.mix(0.8);
    match pen.round {
        0 => (5, fill.filled()),
        1 => (5, fill.stroke_width(2)),
        _ => (3, fill.filled()),
    }
}

/// One titled figure of `panels` in a grid of `shape` (rows, columns), filled row by row, with
/// the table of the same panels.
pub(super) fn render_grid(
    file: &'static str,
    size: (u32, u32),
    title: &str,
    shape: (usize, usize),
    panels: &[Panel],
) -> Result<Option<Figure>, Error> {
    let svg = render(file, size, |root| {
        let body = root.titled(title, ("sans-serif", 22))?;
        for (cell, panel) in body.split_evenly(shape).iter().zip(panels) {
            draw_panel(cell, panel)?;
        }
        Ok(())
    })?;
    // Only the panels the grid has cells for are drawn, and so tabled.
    let csv = table(file, panels.iter().take(shape.0 * shape.1))?;
    Ok(Some(Figure { file, svg, csv }))
}

/// One titled figure of a single panel, with its table.
pub(super) fn render_one(
    file: &'static str,
    size: (u32, u32),
    title: &str,
    panel: &Panel,
) -> Result<Option<Figure>, Error> {
    let svg = render(file, size, |root| {
        let body = root.titled(title, ("sans-serif", 22))?;
        draw_panel(&body, panel)
    })?;
    let csv = table(file, [panel])?;
    Ok(Some(Figure { file, svg, csv }))
}

/// Draws into an SVG string of the given size; plotters errors become one-line errors.
fn render(
    file: &str,
    size: (u32, u32),
    body: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> Result<String, Error> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|_| body(&root))
            .and_then(|_| root.present())
            .map_err(|e| Error::Internal(format!("cannot draw {file}: {e}")))?;
    }
    Ok(svg)
}

/// The narrowest linear y range drawn: values closer to each other than this are one value.
const MIN_SPAN: f64 = 1e-9;

/// A y range holding `values`, padded; a log range when asked for and every value is positive.
pub(super) fn y_range(values: impl Iterator<Item = f64>, want_log: bool) -> ((f64, f64), Scale) {
    let v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    if v.is_empty() {
        return ((0.0, 1.0), Scale::Linear);
    }
    // A log axis over more than 30 decades, or a linear one narrower than MIN_SPAN, would have
    // the plotting library step through ticks for minutes (a results line holding 1e-300).
    if want_log && min > 0.0 && max / min < 1e30 {
        // A little below so that the lowest line clears the axis; room above in `y_bounds`.
        return ((min / 1.2, max), Scale::Log);
    }
    let lo = min.min(0.0);
    let hi = if max > lo { max * 1.1 } else { lo + 1.0 };
    ((lo, hi.max(lo + MIN_SPAN)), Scale::Linear)
}

/// A series for the tests: no legend entry, in grey.
#[cfg(test)]
pub(super) fn series(name: &str, style: Style, points: Vec<(f64, f64)>) -> Series {
    Series {
        name: name.into(),
        label: None,
        pen: GREY,
        style,
        points,
    }
}

/// A panel for the tests: the unit square, linear.
#[cfg(test)]
pub(super) fn panel(caption: &str, series: Vec<Series>) -> Panel {
    Panel {
        caption: caption.into(),
        x_desc: String::new(),
        y_desc: String::new(),
        x: (0.0, 1.0),
        y: (0.0, 1.0),
        scale: Scale::Linear,
        integer_x: false,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of `part` of an SVG drawn as a 2-pixel path in `colour`: plotters writes each
    /// dash as a path of its own (no `stroke-dasharray`), so a dashed line is several.
    fn paths(part: &str, colour: &str) -> usize {
        let stroke = format!(r#"stroke="{colour}" stroke-width="2""#);
        part.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .count()
    }

    #[test]
    fn a_legend_entry_is_drawn_as_its_series_is() {
        let labelled = |name: &str, style, pen, points| Series {
            label: Some(name.into()),
            pen,
            ..series(name, style, points)
        };
        let long: Vec<(f64, f64)> = (0..30).map(|i| (i as f64 / 30.0, 0.2)).collect();
        let p = panel(
            "p",
            vec![
                labelled(
                    "null",
                    Style::Dashed,
                    palette(3),
                    vec![(0.0, 0.5), (1.0, 0.5)],
                ),
                labelled("run", Style::Line, palette(0), long.clone()),
                labelled("run 16", Style::Line, palette(15), long),
                labelled(
                    "band",
                    Style::Band,
                    palette(2),
                    vec![(0.0, 0.9), (0.0, 0.8)],
                ),
                labelled("points", Style::Markers, palette(4), vec![(0.5, 0.6)]),
            ],
        );
        let svg = render_one("t.svg", (600, 400), "t", &p)
            .unwrap()
            .unwrap()
            .svg;
        // The legend is drawn last, on its translucent background.
        let (plot, legend) = svg.split_at(svg.rfind(r#"opacity="0.85""#).unwrap());
        // Dashed in the plot and in the legend, at the same width.
        assert!(paths(plot, "#D62728") > 10, "{plot}");
        assert!(paths(legend, "#D62728") >= 2, "{legend}");
        // A solid line is one path, in the plot and in the legend; the palette's second round
        // is dotted in both.
        assert_eq!((paths(plot, "#1F77B4"), paths(legend, "#1F77B4")), (1, 1));
        assert!(paths(plot, "#8C564B") > 10 && paths(legend, "#8C564B") >= 3);
        // A band is a filled box, markers a marker.
        let drawn = |tag: &str, colour: &str| {
            let fill = format!(r#"fill="{colour}""#);
            legend
                .lines()
                .any(|l| l.starts_with(tag) && l.contains(&fill))
        };
        assert!(
            drawn("<rect", "#2CA02C") && drawn("<circle", "#9467BD"),
            "{legend}"
        );
    }

    #[test]
    fn past_the_palette_every_series_still_looks_different() {
        let line: std::collections::BTreeSet<_> = (0..30)
            .map(palette)
            .map(|p| (p.colour.rgb(), dashes(Style::Line, p.round)))
            .collect();
        assert_eq!(line.len(), 30);
        let markers: std::collections::BTreeSet<_> = (0..30)
            .map(palette)
            .map(|p| {
                let (r, style) = marker(p);
                (p.colour.rgb(), r, style.filled)
            })
            .collect();
        assert_eq!(markers.len(), 30);
    }
}
