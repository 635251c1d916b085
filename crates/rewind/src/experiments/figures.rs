//! `rewind figures` as a library: the paper's Figures 2–5 (Appendix B) drawn from sweep
//! results, plus two figures of this project's own measurements, as SVG files made with
//! plotters.
//!
//! - `fig2-true-labels.svg`, `fig3-random-labels.svg` (Figures 2–3): for each batch size a row
//!   of two plots, the accuracy λ at the end of each epoch and the running average
//!   (1/t)Σ_{i≤t} ρ_i of the accuracy discrepancy (Section 3), one line per hidden width.
//! - `fig4-true-labels.svg`, `fig5-random-labels.svg` (Figures 4–5): for each batch size the
//!   running averages of all widths on one plot, on a log axis when every value is positive,
//!   with the leading term β(n, b) = n·log₂ n / b² of Theorem 3.2 as a dashed line there.
//! - `code-length.svg`: the length of each epoch's code (Lemma 3.1) against ⌈log₂ n!⌉, the
//!   length of a plain permutation (dashed).
//! - `many-to-one.svg`: the observed share of steps that needed a hint against the predicted
//!   1 − det(I − αH_B), one point per run, with the diagonal y = x.
//! - `gd-steps.svg` (Section 4, drawn only when the results hold SGD′ runs): GD steps per batch
//!   (Σ T_{i,j} / calls of a run) against the perturbation's random bits ℓ·m, one panel per
//!   batch size and one curve per model size d: the mean over the seeds, in a band of its 95%
//!   t interval.
//! - `momentum-bits.svg` (drawn only when the results hold momentum runs with β > 0): the
//!   velocity buffer's bits per step against β, one panel per model and setting, one point per
//!   run and rounding, with d·log₂(1/β) (hypergrad's figure), the nearest-rounding loss and
//!   plain SGD's hint bits per step on the same runs.
//!
//! The first six figures are about plain SGD (Algorithm 1, momentum at β = 0 included) and read
//! its runs only.
//!
//! Every ρ panel also draws the null model's running average ([`crate::steps::null`]: what a batch drawn
//! independently of correctness gives by itself, averaged over the panel's runs) as a dashed
//! black line, with a grey band of ±2 null standard deviations of one run's running average: a
//! line inside the band is what sampling noise alone gives.
//!
//! The paper plots every quantity as a running average over epochs; here only ρ is averaged
//! (the accuracy is the end-of-epoch value), as the accuracy already changes slowly. ρ is the
//! code's direction D(φ‖λ') unless [`Rho::Paper`] is chosen. Runs are grouped by
//! [`crate::experiments::selection`], as the claims group them: a panel holds runs that differ only in width and seed, and series are
//! named by what differs among them ("width 2", or "width 2, seed 1"). A figure without data is
//! skipped with a reason, not drawn empty.
//!
//! Each figure comes with a CSV table of the numbers it plots (`fig2-true-labels.svg` beside
//! `fig2-true-labels.csv`), so that its data can be read without parsing the SVG. The table is
//! made from the same panels the renderer draws, so that it cannot drift from the picture: one
//! row per point, columns `panel,series,style,x,y,y_low,y_high`, where `panel` is the plot's
//! caption, `series` names the line (also those the legend leaves out), `style` is how it is
//! drawn (`line`, `dashed`, `markers` or `band`), and a band has one row per x with its edges
//! in `y_low` and `y_high` and `y` empty (the other rows leave those two empty).

use crate::experiments::selection::{key, labels_name, names, runs, Field, Rho, Run};
use crate::experiments::sweep::{ResultLine, RunSpec};
use crate::steps::discrepancy::EpochDiscrepancy;
use crate::Error;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Figure 2 analogue: true labels.
pub const FIG2: &str = "fig2-true-labels.svg";
/// Figure 3 analogue: random labels.
pub const FIG3: &str = "fig3-random-labels.svg";
/// Figure 4 analogue: true labels, all widths per batch size.
pub const FIG4: &str = "fig4-true-labels.svg";
/// Figure 5 analogue: random labels, all widths per batch size.
pub const FIG5: &str = "fig5-random-labels.svg";
/// Code length per epoch against ⌈log₂ n!⌉.
pub const CODE_LENGTH: &str = "code-length.svg";
/// Observed against predicted many-to-one share.
pub const MANY_TO_ONE: &str = "many-to-one.svg";
/// Section 4: GD steps per batch against ℓ·m.
pub const GD_STEPS: &str = "gd-steps.svg";
/// Momentum: the buffer's bits per step against β.
pub const MOMENTUM_BITS: &str = "momentum-bits.svg";

/// Series labelled in a legend at most; more would hide the plot.
const MAX_LEGEND: usize = 12;

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
struct Pen {
    colour: RGBColor,
    round: usize,
}

/// Rounds of the palette that look different; more repeat the first.
const ROUNDS: usize = 3;

/// The `i`-th pen of the palette.
fn palette(i: usize) -> Pen {
    Pen {
        colour: COLOURS[i % COLOURS.len()],
        round: i / COLOURS.len() % ROUNDS,
    }
}

const GREY: Pen = Pen {
    colour: RGBColor(90, 90, 90),
    round: 0,
};
/// The null model's line and band: black, so that it differs from β's grey dashes.
const NULL: Pen = Pen {
    colour: RGBColor(0, 0, 0),
    round: 0,
};

/// One SVG and the table of its data, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File name to write the figure under (e.g. [`FIG2`]).
    pub file: &'static str,
    /// The SVG document.
    pub svg: String,
    /// The numbers the SVG plots, as CSV (columns in the module's documentation).
    pub csv: String,
}

impl Figure {
    /// The table's file name: the figure's, ending in `.csv`, so that the two sit side by side.
    pub fn csv_file(&self) -> String {
        let base = self.file.strip_suffix(".svg").unwrap_or(self.file);
        format!("{base}.csv")
    }
}

/// A figure the results have no data for.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    /// File name the figure would have had.
    pub file: &'static str,
    /// Why there is no data for it, in one line.
    pub reason: String,
}

/// Every figure drawn or skipped, and the lines that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// The figures drawn, in a fixed order.
    pub drawn: Vec<Figure>,
    /// The figures the results have no data for.
    pub skipped: Vec<Skipped>,
    /// Lines whose run could not be set up or failed (skipped).
    pub error_lines: usize,
    /// Lines with neither a report nor an error (skipped).
    pub without_report: usize,
    /// Lines left out because a number in their report is not plausible, one message each.
    pub warnings: Vec<String>,
}

/// Larger magnitudes than this in a report are no measurement (a code of 10^15 bits, a
/// discrepancy of 10^15 bits per epoch): the line is left out of the figures with a warning,
/// instead of stretching an axis over hundreds of decades.
pub const ABSURD: f64 = 1e15;

/// The first implausible number in a value, with its place, e.g. `discrepancy.epochs[2].rho`.
fn absurd_number(v: &serde_json::Value, at: &str) -> Option<(String, f64)> {
    match v {
        // A variance below zero is no measurement either.
        serde_json::Value::Number(n) => n
            .as_f64()
            .filter(|x| {
                !x.is_finite()
                    || x.abs() > ABSURD
                    || (*x < 0.0 && at.rsplit('.').next().is_some_and(|k| k.contains("var")))
            })
            .map(|x| (at.to_string(), x)),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, x)| absurd_number(x, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, x)| {
            let place = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            absurd_number(x, &place)
        }),
        _ => None,
    }
}

/// The lines whose reports hold only plausible numbers (finite, |x| ≤ [`ABSURD`], variances not
/// negative), and a warning for each other one; `figures` and `claims` read only those.
pub fn plausible(lines: &[ResultLine]) -> (Vec<ResultLine>, Vec<String>) {
    let mut kept = Vec::with_capacity(lines.len());
    let mut warnings = Vec::new();
    for l in lines {
        let bad = l
            .report
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok())
            .and_then(|v| absurd_number(&v, "report"));
        match bad {
            Some((place, x)) => warnings.push(format!(
                "run {} has {place} = {x:e}, beyond any plausible measurement (|x| > {ABSURD:e}, or a negative variance); it is left out of the figures and the claims",
                l.id
            )),
            None => kept.push(l.clone()),
        }
    }
    (kept, warnings)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Line,
    Dashed,
    Markers,
    /// A filled polygon: the upper edge left to right, then the lower edge right to left.
    Band,
}

impl Style {
    /// The name in a figure's table.
    fn name(self) -> &'static str {
        match self {
            Style::Line => "line",
            Style::Dashed => "dashed",
            Style::Markers => "markers",
            Style::Band => "band",
        }
    }
}

#[derive(Debug, Clone)]
struct Series {
    /// The series' name in the table: every series has one, also when the legend has no room.
    name: String,
    /// The legend's entry, if any.
    label: Option<String>,
    pen: Pen,
    style: Style,
    points: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scale {
    Linear,
    Log,
}

/// One plot: everything the renderer needs, computed from the results beforehand.
struct Panel {
    caption: String,
    x_desc: String,
    y_desc: String,
    x: (f64, f64),
    y: (f64, f64),
    scale: Scale,
    /// Epochs: label the x axis with whole numbers only.
    integer_x: bool,
    series: Vec<Series>,
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
fn render_grid(
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
fn render_one(
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

/// The header of every figure's table.
const CSV_HEADER: &str = "panel,series,style,x,y,y_low,y_high\n";

/// One line of a figure's table split into its fields, quotes undone: the reading side of the
/// quoting the tables use (a field with a comma, quote or line break is quoted, quotes doubled).
pub fn table_fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The table of the points `panels` plot, one row per point (a band: one row per x).
fn table<'a>(file: &str, panels: impl IntoIterator<Item = &'a Panel>) -> Result<String, Error> {
    let mut out = String::from(CSV_HEADER);
    for p in panels {
        for s in &p.series {
            series_rows(&mut out, file, &p.caption, s)?;
        }
    }
    Ok(out)
}

/// Appends the rows of one series of the panel captioned `panel`.
fn series_rows(out: &mut String, file: &str, panel: &str, s: &Series) -> Result<(), Error> {
    let head = format!("{},{},{}", field(panel), field(&s.name), s.style.name());
    if s.style != Style::Band {
        for &(x, y) in &s.points {
            *out += &format!("{head},{},{},,\n", number(x), number(y));
        }
        return Ok(());
    }
    let edges = band_edges(s).ok_or_else(|| {
        Error::Internal(format!(
            "{file}: the band {:?} is no upper and lower edge over the same x",
            s.name
        ))
    })?;
    for (x, low, high) in edges {
        *out += &format!("{head},{},,{},{}\n", number(x), number(low), number(high));
    }
    Ok(())
}

/// A band's polygon as (x, lower, upper) per x: the upper edge is its first half, the lower
/// edge its second half reversed; `None` when the halves do not pair up.
fn band_edges(s: &Series) -> Option<Vec<(f64, f64, f64)>> {
    let n = s.points.len();
    if !n.is_multiple_of(2) {
        return None;
    }
    let (upper, lower) = s.points.split_at(n / 2);
    upper
        .iter()
        .zip(lower.iter().rev())
        .map(|(&(x, high), &(xl, low))| (x.to_bits() == xl.to_bits()).then_some((x, low, high)))
        .collect()
}

/// A number that reads back as the same f64: plain decimals where they are short, else
/// scientific notation (`{}` would write 10⁻³⁰⁰ with 300 zeros); an empty cell for a value that
/// is not finite, which the plot does not show either.
fn number(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        String::new()
    } else if a == 0.0 || (1e-5..1e16).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// A CSV field: quoted, with quotes doubled, when it holds a comma, a quote or a line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
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
fn y_range(values: impl Iterator<Item = f64>, want_log: bool) -> ((f64, f64), Scale) {
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

/// Epochs 1..=T as an x range, never empty.
fn epoch_range(runs: &[&Run]) -> (f64, f64) {
    let t = runs.iter().map(|r| r.epochs().len()).max().unwrap_or(1);
    (1.0, t.max(2) as f64)
}

/// One row or panel of runs that differ only in width and seed.
struct Group<'a> {
    batch: usize,
    setting: String,
    runs: Vec<&'a Run<'a>>,
}

/// Runs of one labels setting grouped by (setting, batch), runs sorted by width then seed.
fn groups<'a>(runs: &'a [Run<'a>], random: bool) -> Vec<Group<'a>> {
    let mut by: BTreeMap<(String, usize), Vec<&Run>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.spec.random_labels == random && !r.epochs().is_empty())
    {
        let setting = key(
            r.spec,
            &[Field::Width, Field::Batch, Field::Seed, Field::Labels],
        );
        by.entry((setting, r.spec.batch)).or_default().push(r);
    }
    by.into_iter()
        .map(|((setting, batch), mut runs)| {
            runs.sort_by_key(|r| (r.spec.hidden, r.spec.seed, r.id));
            Group {
                batch,
                setting,
                runs,
            }
        })
        .collect()
}

/// Panel titles: the batch size, plus the setting when several settings are drawn.
fn group_titles(groups: &[Group]) -> Vec<String> {
    let specs: Vec<&RunSpec> = groups.iter().map(|g| g.runs[0].spec).collect();
    let settings: std::collections::BTreeSet<&str> =
        groups.iter().map(|g| g.setting.as_str()).collect();
    let extra = names(
        &specs,
        &[Field::Width, Field::Batch, Field::Seed, Field::Labels],
    );
    groups
        .iter()
        .zip(extra)
        .map(|(g, e)| {
            if settings.len() > 1 {
                format!("b = {} ({e})", g.batch)
            } else {
                format!("b = {}", g.batch)
            }
        })
        .collect()
}

/// Series names and colours, consistent across a figure's panels: the same width has the
/// same colour everywhere.
fn series_names(groups: &[Group]) -> (Vec<Vec<String>>, BTreeMap<String, Pen>) {
    let mut per_group = Vec::new();
    let mut order: Vec<(usize, u64, String)> = Vec::new();
    for g in groups {
        let specs: Vec<&RunSpec> = g.runs.iter().map(|r| r.spec).collect();
        let n = names(&specs, &[Field::Batch, Field::Labels]);
        for (r, name) in g.runs.iter().zip(&n) {
            order.push((r.spec.hidden, r.spec.seed, name.clone()));
        }
        per_group.push(n);
    }
    order.sort();
    let mut colours = BTreeMap::new();
    for (_, _, name) in order {
        let next = colours.len();
        colours.entry(name).or_insert(palette(next));
    }
    (per_group, colours)
}

fn rho_series(
    g: &Group,
    names: &[String],
    colours: &BTreeMap<String, Pen>,
    rho: Rho,
) -> Vec<Series> {
    run_series(g, names, colours, |e| rho.running(e))
}

/// One line per run of a panel, y(epoch) over its epochs (non-finite values left out), in the
/// run's colour, the first [`MAX_LEGEND`] named in the legend.
fn run_series(
    g: &Group,
    names: &[String],
    colours: &BTreeMap<String, Pen>,
    y: impl Fn(&EpochDiscrepancy) -> f64,
) -> Vec<Series> {
    g.runs
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, (r, name))| Series {
            name: name.clone(),
            label: (i < MAX_LEGEND).then(|| name.clone()),
            pen: colours.get(name).copied().unwrap_or(GREY),
            style: Style::Line,
            points: r
                .epochs()
                .iter()
                .map(|e| (e.epoch as f64, y(e)))
                .filter(|p| p.1.is_finite())
                .collect(),
        })
        .collect()
}

/// The null's running average over a panel's runs (the mean at each epoch of the runs that
/// reached it) as a dashed line, and a band of ±2 null standard deviations of one run's running
/// average (the mean sd over the runs), its lower edge kept at or above `floor`. Drawn first, so
/// the measured lines lie on top.
fn null_series(g: &Group, rho: Rho, floor: f64) -> Vec<Series> {
    let mut by_epoch: BTreeMap<usize, (f64, f64, usize)> = BTreeMap::new();
    for r in &g.runs {
        let sd = rho.running_null_sd(r.epochs());
        for (e, sd) in r.epochs().iter().zip(sd) {
            let slot = by_epoch.entry(e.epoch).or_insert((0.0, 0.0, 0));
            slot.0 += rho.running_null(e);
            slot.1 += sd;
            slot.2 += 1;
        }
    }
    let mean: Vec<(f64, f64, f64)> = by_epoch
        .iter()
        .map(|(&t, &(null, sd, k))| (t as f64, null / k as f64, sd / k as f64))
        .filter(|p| p.1.is_finite() && p.2.is_finite())
        .collect();
    if mean.is_empty() {
        return Vec::new();
    }
    let upper = mean.iter().map(|&(t, m, sd)| (t, m + 2.0 * sd));
    let lower = mean
        .iter()
        .rev()
        .map(|&(t, m, sd)| (t, (m - 2.0 * sd).max(floor)));
    vec![
        Series {
            name: "null ± 2 sd (one run)".into(),
            label: Some("null ± 2 sd (one run)".into()),
            pen: NULL,
            style: Style::Band,
            points: upper.chain(lower).collect(),
        },
        Series {
            name: "null: batch independent of correctness".into(),
            label: Some("null: batch independent of correctness".into()),
            pen: NULL,
            style: Style::Dashed,
            points: mean.iter().map(|&(t, m, _)| (t, m)).collect(),
        },
    ]
}

/// The y values a ρ panel must show: the measured lines and the band's upper edge (the lower
/// edge is clipped to the axis instead).
fn rho_values(series: &[Series]) -> Vec<f64> {
    series
        .iter()
        .flat_map(|s| {
            let n = if s.style == Style::Band {
                s.points.len() / 2
            } else {
                s.points.len()
            };
            s.points[..n].iter().map(|p| p.1)
        })
        .collect()
}

fn unlabelled(n: usize) -> String {
    if n > MAX_LEGEND {
        format!(" ({} series unlabelled)", n - MAX_LEGEND)
    } else {
        String::new()
    }
}

/// Figures 2–3: per batch size, accuracy and running-average ρ per epoch.
fn accuracy_and_rho(runs: &[Run], random: bool, rho: Rho) -> Result<Option<Figure>, Error> {
    let groups = groups(runs, random);
    if groups.is_empty() {
        return Ok(None);
    }
    let file = if random { FIG3 } else { FIG2 };
    let titles = group_titles(&groups);
    let (names, colours) = series_names(&groups);
    let mut rows = Vec::new();
    for ((g, title), n) in groups.iter().zip(&titles).zip(&names) {
        let x = epoch_range(&g.runs);
        // Accuracies are shares in [0, 1]: the finiteness filter leaves them all.
        let accuracy = run_series(g, n, &colours, |e| e.accuracy);
        let measured = rho_series(g, n, &colours, rho);
        let mut discrepancy = null_series(g, rho, f64::NEG_INFINITY);
        let (y, _) = y_range(
            rho_values(&measured)
                .into_iter()
                .chain(rho_values(&discrepancy)),
            false,
        );
        discrepancy
            .iter_mut()
            .filter(|s| s.style == Style::Band)
            .for_each(|s| s.points.iter_mut().for_each(|p| p.1 = p.1.max(y.0)));
        discrepancy.extend(measured);
        let more = unlabelled(g.runs.len());
        rows.push([
            Panel {
                caption: format!("{title}: accuracy{more}"),
                x_desc: "epoch".into(),
                y_desc: "accuracy λ (end of epoch)".into(),
                x,
                y: (0.0, 1.0),
                scale: Scale::Linear,
                integer_x: true,
                series: accuracy,
            },
            Panel {
                caption: format!("{title}: running mean of {}{more}", rho.name()),
                x_desc: "epoch t".into(),
                y_desc: format!("(1/t)·Σ {} (bits)", rho.name()),
                x,
                y,
                scale: Scale::Linear,
                integer_x: true,
                series: discrepancy,
            },
        ]);
    }
    let title = format!(
        "Figure {} analogue: {} — accuracy and running-average discrepancy {} per epoch",
        if random { 3 } else { 2 },
        labels_name(random),
        rho.name()
    );
    let size = (1200, 60 + 360 * rows.len() as u32);
    let shape = (rows.len(), 2);
    let panels: Vec<Panel> = rows.into_iter().flatten().collect();
    render_grid(file, size, &title, shape, &panels)
}

/// The leading term of Theorem 3.2, as the legend names it.
const BETA: &str = "β(n,b) = n·log₂n / b²";

/// The table's name of the `i`-th of `count` β lines of a panel (one per data set size n), which
/// the legend names once.
fn beta_name(i: usize, count: usize) -> String {
    if count > 1 {
        format!("{BETA} ({} of {count})", i + 1)
    } else {
        BETA.to_string()
    }
}

/// Figures 4–5: per batch size, the running-average ρ of every width on one plot.
fn rho_by_batch(runs: &[Run], random: bool, rho: Rho) -> Result<Option<Figure>, Error> {
    let groups = groups(runs, random);
    if groups.is_empty() {
        return Ok(None);
    }
    let file = if random { FIG5 } else { FIG4 };
    let titles = group_titles(&groups);
    let (names, colours) = series_names(&groups);
    let mut panels = Vec::new();
    for ((g, title), n) in groups.iter().zip(&titles).zip(&names) {
        let measured = rho_series(g, n, &colours, rho);
        let null = null_series(g, rho, f64::NEG_INFINITY);
        let (y, scale) = y_range(
            rho_values(&measured).into_iter().chain(rho_values(&null)),
            true,
        );
        // The band's lower edge stops at the axis (on a log axis it may reach 0 or below).
        let floor = if scale == Scale::Log {
            y.0
        } else {
            y.0.min(0.0)
        };
        let mut series = null_series(g, rho, floor);
        series.extend(measured);
        let x = epoch_range(&g.runs);
        let mut y = y;
        let mut caption = format!("{title}: running mean of {}", rho.name());
        if scale == Scale::Log {
            // The threshold of Theorem 3.2; on a log axis it fits however far above it is.
            let mut betas: Vec<f64> = g
                .runs
                .iter()
                .map(|r| r.report.discrepancy.beta_leading)
                .filter(|b| b.is_finite() && *b > 0.0)
                .collect();
            betas.sort_by(f64::total_cmp);
            betas.dedup();
            for (i, beta) in betas.iter().enumerate() {
                y = (y.0.min(beta / 1.2), y.1.max(*beta));
                series.push(Series {
                    name: beta_name(i, betas.len()),
                    label: (i == 0).then(|| BETA.to_string()),
                    pen: GREY,
                    style: Style::Dashed,
                    points: vec![(x.0, *beta), (x.1, *beta)],
                });
            }
        } else {
            caption += " (linear axis: some values are 0)";
        }
        caption += &unlabelled(g.runs.len());
        panels.push(Panel {
            caption,
            x_desc: "epoch t".into(),
            y_desc: format!("(1/t)·Σ {} (bits)", rho.name()),
            x,
            y,
            scale,
            integer_x: true,
            series,
        });
    }
    let cols = panels.len().min(3);
    let rows = panels.len().div_ceil(cols);
    let title = format!(
        "Figure {} analogue: {} — running-average discrepancy {} of every width, per batch size",
        if random { 5 } else { 4 },
        labels_name(random),
        rho.name()
    );
    let size = ((520 * cols as u32).max(900), 60 + 420 * rows as u32);
    render_grid(file, size, &title, (rows, cols), &panels)
}

/// Code length per epoch against ⌈log₂ n!⌉.
fn code_length(runs: &[Run]) -> Result<Option<Figure>, Error> {
    let mut with_code: Vec<&Run> = runs
        .iter()
        .filter(|r| r.report.code.as_ref().is_some_and(|c| !c.epochs.is_empty()))
        .collect();
    if with_code.is_empty() {
        return Ok(None);
    }
    with_code.sort_by_key(|r| (r.spec.model.name(), r.spec.batch, r.spec.seed, r.id));
    let specs: Vec<&RunSpec> = with_code.iter().map(|r| r.spec).collect();
    let labels = names(&specs, &[]);
    let mut series = Vec::new();
    let mut baselines: BTreeMap<u64, usize> = BTreeMap::new();
    let mut t_max = 1;
    for (i, (r, label)) in with_code.iter().zip(labels).enumerate() {
        let Some(code) = &r.report.code else {
            continue;
        };
        t_max = t_max.max(code.epochs.iter().map(|e| e.epoch).max().unwrap_or(1));
        for e in &code.epochs {
            baselines.insert(e.baseline_bits, r.report.config.n);
        }
        series.push(Series {
            name: label.clone(),
            label: (i < MAX_LEGEND).then_some(label),
            pen: palette(i),
            style: Style::Line,
            points: code
                .epochs
                .iter()
                .map(|e| (e.epoch as f64, e.bits as f64))
                .collect(),
        });
    }
    let x = (1.0, t_max.max(2) as f64);
    for (&bits, &n) in &baselines {
        let name = format!("⌈log₂ n!⌉ = {bits} bits (n = {n})");
        series.push(Series {
            label: Some(name.clone()),
            name,
            pen: GREY,
            style: Style::Dashed,
            points: vec![(x.0, bits as f64), (x.1, bits as f64)],
        });
    }
    // Not from zero: the interesting part is the gap between the code and the baseline.
    let all: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let (min, max) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let pad = (max - min) * 0.15 + 2.0;
    let panel = Panel {
        caption: format!(
            "Bits per epoch of the Lemma 3.1 code, {} runs{}",
            with_code.len(),
            unlabelled(with_code.len())
        ),
        x_desc: "epoch".into(),
        y_desc: "code length of the epoch (bits)".into(),
        x,
        y: ((min - pad).max(0.0), max + 2.0 * pad),
        scale: Scale::Linear,
        integer_x: true,
        series,
    };
    render_one(
        CODE_LENGTH,
        (1000, 640),
        "Code length per epoch against ⌈log₂ n!⌉ (a permutation written plainly)",
        &panel,
    )
}

/// Observed share of hinted steps against the predicted 1 − det(I − αH_B).
fn many_to_one(runs: &[Run]) -> Result<Option<Figure>, Error> {
    let mut by_model: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        if let Some(inv) = &r.report.inversion {
            if let Some(pred) = inv.predicted_many_to_one {
                if pred.is_finite() && inv.observed_many_to_one.is_finite() {
                    by_model
                        .entry(r.spec.model.name())
                        .or_default()
                        .push((pred, inv.observed_many_to_one));
                }
            }
        }
    }
    if by_model.is_empty() {
        return Ok(None);
    }
    let max = by_model
        .values()
        .flatten()
        .fold(0.0f64, |m, &(x, y)| m.max(x).max(y));
    let hi = (max * 1.15).max(0.01);
    let mut series: Vec<Series> = by_model
        .iter()
        .enumerate()
        .map(|(i, (model, pts))| Series {
            name: format!("{model} ({} runs)", pts.len()),
            label: Some(format!("{model} ({} runs)", pts.len())),
            pen: palette(i),
            style: Style::Markers,
            points: pts.clone(),
        })
        .collect();
    series.insert(
        0,
        Series {
            name: "y = x (prediction exact)".into(),
            label: Some("y = x (prediction exact)".into()),
            pen: GREY,
            style: Style::Dashed,
            points: vec![(0.0, 0.0), (hi, hi)],
        },
    );
    let panel = Panel {
        caption: "Many-to-one steps: observed against predicted, one point per run".into(),
        x_desc: "predicted 1 − det(I − αH_B), mean over steps".into(),
        y_desc: "observed share of steps that needed a hint".into(),
        x: (0.0, hi),
        y: (0.0, hi),
        scale: Scale::Linear,
        integer_x: false,
        series,
    };
    render_one(
        MANY_TO_ONE,
        (760, 720),
        "Share of steps the grid makes many-to-one",
        &panel,
    )
}

/// The mean of `v` and the half-width of its 95% t interval (0 for a single value).
fn mean_and_half_width(v: &[f64]) -> (f64, f64) {
    let (m, half) = crate::experiments::claims::mean_and_t_half_width(v);
    (m, half.unwrap_or(0.0))
}

/// The band around each model size's mean, as the legend names it (once).
const INTERVAL: &str = "95% t interval of the mean over seeds";

/// Section 4: GD steps per batch against ℓ·m, per batch size, one curve per model size.
fn gd_steps(runs: &[Run]) -> Result<Option<Figure>, Error> {
    let prime = crate::experiments::claims::section4::prime_runs(runs);
    if prime.is_empty() {
        return Ok(None);
    }
    // batch → d → ℓ·m → the runs' mean steps per call.
    let mut by: BTreeMap<usize, BTreeMap<usize, BTreeMap<u64, Vec<f64>>>> = BTreeMap::new();
    for r in &prime {
        by.entry(r.batch)
            .or_default()
            .entry(r.d)
            .or_default()
            .entry(r.random_bits)
            .or_default()
            .push(r.mean_steps);
    }
    let sizes: std::collections::BTreeSet<usize> = prime.iter().map(|r| r.d).collect();
    let colour = |d: usize| palette(sizes.iter().position(|&x| x == d).unwrap_or(0));
    let x_max = prime
        .iter()
        .map(|r| r.random_bits)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut panels = Vec::new();
    for (batch, by_d) in &by {
        let mut series = Vec::new();
        let mut lines = Vec::new();
        for (i, (&d, levels)) in by_d.iter().enumerate() {
            let stats: Vec<(f64, f64, f64)> = levels
                .iter()
                .map(|(&bits, v)| {
                    let (m, h) = mean_and_half_width(v);
                    (bits as f64, m, h)
                })
                .collect();
            let mut band: Vec<(f64, f64)> = stats.iter().map(|&(x, m, h)| (x, m + h)).collect();
            band.extend(stats.iter().rev().map(|&(x, m, h)| (x, (m - h).max(0.0))));
            series.push(Series {
                name: format!("d = {d}: {INTERVAL}"),
                label: (i == 0).then(|| INTERVAL.to_string()),
                pen: colour(d),
                style: Style::Band,
                points: band,
            });
            lines.push(Series {
                name: format!("d = {d}"),
                label: Some(format!("d = {d}")),
                pen: colour(d),
                style: Style::Line,
                points: stats.iter().map(|&(x, m, _)| (x, m)).collect(),
            });
        }
        series.extend(lines);
        let top = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0f64, f64::max);
        panels.push(Panel {
            caption: format!("b = {batch}"),
            x_desc: "random bits per GD call, ℓ·m".into(),
            y_desc: "GD steps per batch, Σ T_ij / calls".into(),
            x: (0.0, x_max),
            y: (0.0, (top * 1.35).max(1.0)),
            scale: Scale::Linear,
            integer_x: false,
            series,
        });
    }
    let cols = panels.len().min(3);
    let rows = panels.len().div_ceil(cols);
    let size = ((520 * cols as u32).max(900), 60 + 420 * rows as u32);
    let title = format!(
        "Section 4: GD steps per batch against the perturbation's random bits ({} SGD′ runs)",
        prime.len()
    );
    render_grid(GD_STEPS, size, &title, (rows, cols), &panels)
}

/// One momentum run with β > 0: (β, bits per step, d·log₂(1/β), nearest loss, hints per step).
type MomentumPoint = (f64, f64, f64, f64, Option<f64>);

fn momentum_point(r: &Run) -> Option<(String, bool, MomentumPoint)> {
    let spec = r.spec.momentum.as_ref()?;
    let m = r.report.momentum.as_ref()?;
    let beta = spec.config().ok()?.beta;
    let d_log2 = m.d_log2_inv_beta_per_step.filter(|x| *x > 0.0)?;
    let hints = m
        .plain_sgd_hint_bits
        .filter(|&b| b > 0 && r.report.steps > 0)
        .map(|b| b as f64 / r.report.steps as f64);
    let point = (
        beta.num() as f64 / beta.den() as f64,
        m.buffer_bits_per_step,
        d_log2,
        m.nearest_loss_per_step.unwrap_or(f64::NAN),
        hints,
    );
    let setting = crate::experiments::claims::momentum::setting(r);
    Some((setting, spec.rounding == "bits-back", point))
}

/// The panel of one setting: both roundings' runs, d·log₂(1/β) as a curve through the βs
/// measured, the nearest-rounding loss and plain SGD's mean hint bits per step.
fn momentum_panel(setting: &str, points: &[(bool, MomentumPoint)]) -> Panel {
    let mut series = momentum_references(points);
    for (bits_back, name, pen) in [
        (true, "bits-back", palette(0)),
        (false, "nearest", palette(1)),
    ] {
        let pts = measured_buffer_bits(points, bits_back);
        if !pts.is_empty() {
            series.push(Series {
                name: format!("{name}, measured ({} runs)", pts.len()),
                label: Some(format!("{name}, measured ({} runs)", pts.len())),
                pen,
                style: Style::Markers,
                points: pts,
            });
        }
    }
    let (y, scale) = y_range(
        series.iter().flat_map(|s| s.points.iter().map(|p| p.1)),
        true,
    );
    Panel {
        caption: setting.to_string(),
        x_desc: "β".into(),
        y_desc: "bits per step".into(),
        x: (0.45, 0.97),
        y,
        scale,
        integer_x: false,
        series,
    }
}

/// The measured (β, buffer bits per step) of one rounding's runs, sorted by β.
fn measured_buffer_bits(points: &[(bool, MomentumPoint)], bits_back: bool) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.0 == bits_back && p.1 .1 > 0.0)
        .map(|p| (p.1 .0, p.1 .1))
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v
}

/// The momentum panel's dashed reference lines: d·log₂(1/β), the nearest-rounding loss and,
/// when measured, plain SGD's mean hint bits per step.
fn momentum_references(points: &[(bool, MomentumPoint)]) -> Vec<Series> {
    let mut at_beta: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for (_, p) in points {
        at_beta.insert(p.0.to_bits(), (p.0, p.2, p.3));
    }
    let d_per_bit = at_beta
        .values()
        .map(|&(b, d, _)| d / -b.log2())
        .next()
        .unwrap_or(1.0);
    let curve: Vec<(f64, f64)> = (0..=60)
        .map(|k| 0.45 + 0.52 * k as f64 / 60.0)
        .map(|b| (b, -d_per_bit * b.log2()))
        .collect();
    let loss: Vec<(f64, f64)> = at_beta
        .values()
        .filter(|v| v.2 > 0.0)
        .map(|v| (v.0, v.2))
        .collect();
    let hints: Vec<f64> = points.iter().filter_map(|p| p.1 .4).collect();
    let mut series = vec![
        Series {
            name: format!("d·log₂(1/β), d = {}", d_per_bit.round()),
            label: Some(format!("d·log₂(1/β), d = {}", d_per_bit.round())),
            pen: GREY,
            style: Style::Dashed,
            points: curve,
        },
        Series {
            name: "nearest-rounding loss".into(),
            label: Some("nearest-rounding loss".into()),
            pen: palette(1),
            style: Style::Dashed,
            points: loss,
        },
    ];
    if !hints.is_empty() {
        let mean = hints.iter().sum::<f64>() / hints.len() as f64;
        series.push(Series {
            name: "plain SGD's hints on the same runs (mean)".into(),
            label: Some("plain SGD's hints on the same runs (mean)".into()),
            pen: palette(3),
            style: Style::Dashed,
            points: vec![(0.45, mean), (0.97, mean)],
        });
    }
    series
}

/// Momentum: the velocity buffer's bits per step against β, one panel per setting.
fn momentum_bits(runs: &[Run]) -> Result<Option<Figure>, Error> {
    let mut by: BTreeMap<String, Vec<(bool, MomentumPoint)>> = BTreeMap::new();
    for (setting, bits_back, p) in runs.iter().filter_map(momentum_point) {
        by.entry(setting).or_default().push((bits_back, p));
    }
    if by.is_empty() {
        return Ok(None);
    }
    let panels: Vec<Panel> = by.iter().map(|(s, p)| momentum_panel(s, p)).collect();
    let cols = panels.len().min(2);
    let rows = panels.len().div_ceil(cols);
    let size = (if cols == 1 { 820 } else { 1400 }, 60 + 520 * rows as u32);
    let count: usize = by.values().map(Vec::len).sum();
    let title =
        format!("Momentum: what the velocity buffer costs per step ({count} runs with β > 0)");
    render_grid(MOMENTUM_BITS, size, &title, (rows, cols), &panels)
}

/// Draws every figure the results have data for; `source` names the results in errors.
pub fn draw(lines: &[ResultLine], rho: Rho, source: &str) -> Result<Figures, Error> {
    if lines.is_empty() {
        return Err(Error::Config(format!(
            "{source} holds no result lines; pass a results file written by `rewind sweep`"
        )));
    }
    let (lines, warnings) = plausible(lines);
    let r = runs(&lines);
    let mut out = Figures {
        drawn: Vec::new(),
        skipped: Vec::new(),
        error_lines: r.error_lines,
        without_report: r.without_report,
        warnings,
    };
    let has_prime = r.runs.iter().any(|x| x.spec.sgd_prime.is_some());
    let mut add = |file: &'static str, figure: Option<Figure>, reason: &str| match figure {
        Some(f) => out.drawn.push(f),
        None => out.skipped.push(Skipped {
            file,
            reason: if has_prime && file != GD_STEPS {
                format!("{reason}, among the SGD runs (SGD′ runs are drawn in {GD_STEPS} only)")
            } else {
                reason.to_string()
            },
        }),
    };
    let runs: &Vec<Run> = &r
        .runs
        .iter()
        .filter(|x| x.spec.sgd_prime.is_none() && crate::experiments::claims::is_plain(x))
        .copied()
        .collect();
    let no_runs = |random| format!("no {} run with a report and an epoch", labels_name(random));
    add(FIG2, accuracy_and_rho(runs, false, rho)?, &no_runs(false));
    add(FIG3, accuracy_and_rho(runs, true, rho)?, &no_runs(true));
    add(FIG4, rho_by_batch(runs, false, rho)?, &no_runs(false));
    add(FIG5, rho_by_batch(runs, true, rho)?, &no_runs(true));
    add(
        CODE_LENGTH,
        code_length(runs)?,
        "no run has a code section (plans with [phases] code = true and inversion = true)",
    );
    add(
        MANY_TO_ONE,
        many_to_one(runs)?,
        "no run has an inversion section with a predicted share (the MLP has none; plans need [phases] inversion = true)",
    );
    if has_prime {
        add(GD_STEPS, gd_steps(&r.runs)?, "no SGD′ run made a GD call");
    }
    if r.runs.iter().any(|x| x.spec.momentum.is_some()) {
        add(
            MOMENTUM_BITS,
            momentum_bits(&r.runs)?,
            "no momentum run with β > 0 has a momentum section",
        );
    }
    Ok(out)
}

/// Writes the drawn figures into `dir` (created if missing), each SVG with its CSV table beside
/// it, every file atomically, and returns their paths (SVG then CSV, figure by figure); every
/// path is checked before anything is written, so that `results` (the input) is never
/// overwritten, not even by a table.
pub fn write(figures: &Figures, dir: &Path, results: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    let files: Vec<(&str, PathBuf, &str)> = figures
        .drawn
        .iter()
        .flat_map(|f| {
            [
                ("the figure", dir.join(f.file), f.svg.as_str()),
                ("the figure's table", dir.join(f.csv_file()), f.csv.as_str()),
            ]
        })
        .collect();
    let outputs: Vec<(&str, &Path)> = files.iter().map(|(r, p, _)| (*r, p.as_path())).collect();
    crate::output::check_paths(&[("the results file", results)], &outputs)?;
    for (_, path, text) in &files {
        crate::output::write_file(path, text.as_bytes())?;
    }
    Ok(files.into_iter().map(|(_, p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, style: Style, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            label: None,
            pen: GREY,
            style,
            points,
        }
    }

    fn panel(caption: &str, series: Vec<Series>) -> Panel {
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

    /// Values a short decimal cannot hold: each must read back bit for bit.
    const AWKWARD: [f64; 4] = [0.1 + 0.2, 1e-300, 1.0 / 3.0, 123456789.125];

    #[test]
    fn a_table_has_a_header_one_row_per_point_and_reads_back_exactly() {
        let line: Vec<(f64, f64)> = AWKWARD
            .iter()
            .enumerate()
            .map(|(i, &y)| (i as f64, y))
            .collect();
        // Upper edge left to right, lower edge right to left, as the figures build bands.
        let band = vec![(1.0, 3.0), (2.0, 4.0), (2.0, 0.5), (1.0, 1e-7)];
        let p = panel(
            "b = 4, \"q\" = 0.5",
            vec![
                series("width 2, seed 1", Style::Line, line.clone()),
                series("null ± 2 sd", Style::Band, band),
                series("y = x", Style::Markers, vec![(f64::NAN, 2.0)]),
            ],
        );
        let csv = table("test.svg", [&p]).unwrap();
        let rows: Vec<Vec<String>> = csv.lines().map(table_fields).collect();
        assert_eq!(
            rows[0],
            ["panel", "series", "style", "x", "y", "y_low", "y_high"]
        );
        assert!(rows.iter().all(|r| r.len() == 7), "{csv}");
        // 4 line points, 2 band x values, 1 marker.
        assert_eq!(rows.len(), 1 + 4 + 2 + 1, "{csv}");
        assert!(rows[1..].iter().all(|r| r[0] == p.caption), "{csv}");
        let read: Vec<(f64, f64)> = rows[1..5]
            .iter()
            .map(|r| (r[3].parse().unwrap(), r[4].parse().unwrap()))
            .collect();
        let bits = |v: &[(f64, f64)]| -> Vec<(u64, u64)> {
            v.iter().map(|p| (p.0.to_bits(), p.1.to_bits())).collect()
        };
        assert_eq!(bits(&read), bits(&line));
        assert_eq!(rows[1][1], "width 2, seed 1");
        assert_eq!(rows[5][1..], ["null ± 2 sd", "band", "1", "", "1e-7", "3"]);
        assert_eq!(rows[6][3..], ["2", "", "0.5", "4"]);
        // A value the plot cannot show is an empty cell, not "NaN".
        assert_eq!(rows[7][2..5], ["markers", "", "2"]);
    }

    #[test]
    fn a_band_whose_edges_do_not_pair_is_an_error() {
        for points in [
            vec![(1.0, 2.0), (2.0, 3.0), (1.0, 1.0)],
            vec![(1.0, 2.0), (2.0, 1.0)],
        ] {
            let p = panel("p", vec![series("band", Style::Band, points)]);
            let e = table("x.svg", [&p]).unwrap_err().to_string();
            assert!(e.contains("x.svg") && e.contains("band"), "{e}");
        }
    }

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

    #[test]
    fn the_table_sits_beside_the_figure() {
        let f = Figure {
            file: FIG2,
            svg: String::new(),
            csv: String::new(),
        };
        assert_eq!(f.csv_file(), "fig2-true-labels.csv");
    }
}
