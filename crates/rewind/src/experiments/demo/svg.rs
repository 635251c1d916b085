//! The demo's figure: the step, the iterates and the certified preimages over the collision
//! map, drawn as a self-contained SVG (docs/design.md §3.2).

use super::{raw, why, Demo};
use crate::steps::certify::Certificate;
use crate::steps::collisions::CollisionMap;
use std::fmt::Write;

const STEP_COLOUR: &str = "#2a9d8f";
const ITERATE_COLOUR: &str = "#1d3557";
const OTHER_COLOUR: &str = "#7b2cbf";
const FAILURE_COLOUR: &str = "#9b2226";

/// Left edge of the text lines above and below the plot.
const MARGIN: f64 = 40.0;
/// Font size of the tick labels, in pixels.
const TICK_FONT: f64 = 11.0;
/// A generous width of one character of a tick label (digits, '.', '-') in a sans-serif font,
/// so that labels estimated not to touch really do not.
const TICK_CHAR: f64 = 0.62 * TICK_FONT;
/// Free space between neighbouring tick labels, in pixels.
const TICK_GAP: f64 = 10.0;
/// More ticks than this on an axis are clutter, whatever room they have.
const MAX_TICKS: usize = 9;
/// A generous width of one character of the bold 13-pixel notes above the plot, in pixels.
const BOLD_CHAR: f64 = 8.0;
/// The longest legend line, in characters, before it is wrapped.
const LEGEND_CHARS: usize = 48;
/// A white outline behind a label drawn over the coloured map, so that it stays legible on
/// the darkest colour.
const HALO: &str = r#"stroke="white" stroke-width="3" paint-order="stroke""#;
/// Iterate labels drawn at most: a slowly diverging iteration would bury the picture in them.
const MAX_ITERATE_LABELS: usize = 10;

/// Where the plot sits and how big one grid point is.
struct Frame<'a> {
    map: &'a CollisionMap,
    left: f64,
    top: f64,
    cell: f64,
}

impl Frame<'_> {
    fn side(&self) -> usize {
        self.map.side()
    }

    fn plot(&self) -> f64 {
        self.cell * self.side() as f64
    }

    fn inside(&self, p: &[i64]) -> bool {
        let m = self.map;
        (p[0] - m.center[0]).abs() <= m.half && (p[1] - m.center[1]).abs() <= m.half
    }

    /// The pixel centre of grid point `p`.
    fn px(&self, p: &[i64]) -> (f64, f64) {
        let m = self.map;
        let x = (p[0] - m.center[0] + m.half) as f64;
        let y = (p[1] - m.center[1] + m.half) as f64;
        (
            self.left + (x + 0.5) * self.cell,
            self.top + (self.side() as f64 - 0.5 - y) * self.cell,
        )
    }

    /// The raw range [lo, hi] of coordinate `k` in the window.
    fn range(&self, k: usize) -> (i64, i64) {
        (
            self.map.center[k] - self.map.half,
            self.map.center[k] + self.map.half,
        )
    }
}

/// The demo as an SVG: the grid window coloured by collisions, with tick labels in real units
/// on both axes, the step W → W' as an arrow, the iterates as numbered points joined by a path,
/// every other preimage highlighted, a legend, and the certificate (below q = 1) or what the
/// iteration did (from q = 1 on) in the title.
pub fn demo_svg(d: &Demo) -> String {
    let map = &d.collisions;
    let cell = (560.0 / map.side() as f64).clamp(2.0, 40.0);
    let p = d.config.frac_bits;
    let probe = Frame {
        map,
        left: 0.0,
        top: 0.0,
        cell,
    };
    let ticks = Ticks::new(&probe, p);
    let left = MARGIN + ticks.label_width() + 14.0;
    let plot = probe.plot();
    let legend_w = 340.0;
    let width = (left + plot + legend_w).max(760.0);
    let line_chars = ((width - MARGIN - 16.0) / BOLD_CHAR) as usize;
    let notes = d.contraction().map_or(Vec::new(), |c| wrap(&c, line_chars));
    let frame = Frame {
        map,
        left,
        // Room for the notes, and for the name of the w₂ axis below them.
        top: if notes.is_empty() {
            96.0
        } else {
            102.0 + 18.0 * notes.len() as f64
        },
        cell,
    };
    let height = (frame.top + plot + 72.0).max(frame.top + 330.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{STEP_COLOUR}"/></marker><clipPath id="plot-area"><rect x="{}" y="{}" width="{plot:.1}" height="{plot:.1}"/></clipPath></defs>"#,
        frame.left, frame.top
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    header(&mut s, d, &notes);

    // Background: every point coloured by how many window points share its image.
    crate::experiments::plot::collision_background(
        &mut s,
        &map.window(),
        (frame.left, frame.top),
        cell,
        "collisions",
    );
    grid_dots(&mut s, &frame);
    let r = (cell * 0.3).clamp(3.0, 7.0);
    other_preimages(&mut s, d, &frame, r);
    step_arrow(&mut s, d, &frame, r);
    iterates(&mut s, d, &frame, r);
    logged_model(&mut s, d, &frame, r);
    let _ = writeln!(
        s,
        r#"<rect x="{}" y="{}" width="{plot:.1}" height="{plot:.1}" fill="none" stroke="black"/>"#,
        frame.left, frame.top
    );
    ticks.draw(&mut s, &frame);
    let (x0, x1) = frame.range(0);
    let (y0, y1) = frame.range(1);
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="{:.0}" font-size="12">axes: w₁ rightwards, w₂ upwards, ticks in real units every {} (1 ulp = 2^-{p}, one square per grid point); raw integers w₁ {x0} to {x1}, w₂ {y0} to {y1}</text>"#,
        frame.top + plot + 56.0,
        ulps(ticks.step),
    );
    legend(&mut s, d, (frame.left + plot + 24.0, frame.top));
    s.push_str("</svg>\n");
    s
}

/// The title, the run's parameters, the step, and from q = 1 on what became of the iteration.
fn header(s: &mut String, d: &Demo, notes: &[String]) {
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="28" font-size="18" font-weight="bold">{}</text>"#,
        escape(&d.title())
    );
    let p = d.config.frac_bits;
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="52" font-size="13">least squares, 2 features, exact; p = {p} (1 ulp = 2^-{p}), α = {}, q = α·L_B = {:.3}; step {} of epoch {}, seed {}</text>"#,
        d.alpha, d.q, d.step, d.epoch, d.config.seed
    );
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="72" font-size="13">{}</text>"#,
        escape(&format!(
            "W = {}, s_B(W) = {}, W′ = {}; V ← W′ + s_B(V) from V₀ = W′ found {}",
            raw(&d.w),
            raw(&d.increment),
            raw(&d.w_next),
            d.found()
        ))
    );
    for (i, line) in notes.iter().enumerate() {
        let _ = writeln!(
            s,
            r#"<text class="contraction" x="{MARGIN}" y="{:.0}" font-size="13" font-weight="bold" fill="{FAILURE_COLOUR}">{}</text>"#,
            92.0 + 18.0 * i as f64,
            escape(line)
        );
    }
}

/// The grid itself: one dot per point while the points are far enough apart to see.
fn grid_dots(s: &mut String, f: &Frame) {
    if f.cell < 8.0 {
        return;
    }
    let side = f.side();
    let _ = writeln!(s, r##"<g id="grid" fill="#8d99ae">"##);
    for i in 0..side * side {
        let (x, y) = (i % side, i / side);
        let _ = writeln!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.2"/>"#,
            f.left + (x as f64 + 0.5) * f.cell,
            f.top + (side as f64 - 0.5 - y as f64) * f.cell
        );
    }
    let _ = writeln!(s, "</g>");
}

/// Other preimages: a thick ring; a single one is labelled on the side away from W (more
/// would crowd each other, and the legend lists them).
fn other_preimages(s: &mut String, d: &Demo, f: &Frame, r: f64) {
    let others = d.other_preimages();
    for p in others.iter().filter(|p| f.inside(p)) {
        let (x, y) = f.px(p);
        let (tx, anchor) = if p[0] > d.w[0] {
            (x + r + 8.0, "start")
        } else {
            (x - r - 8.0, "end")
        };
        let _ = writeln!(
            s,
            r#"<circle class="other-preimage" cx="{x:.1}" cy="{y:.1}" r="{:.1}" fill="none" stroke="{OTHER_COLOUR}" stroke-width="3"/>"#,
            r + 4.0
        );
        if others.len() == 1 {
            let _ = writeln!(
                s,
                r#"<text x="{tx:.1}" y="{:.1}" font-size="12" fill="{OTHER_COLOUR}" font-weight="bold" text-anchor="{anchor}" {HALO}>other preimage</text>"#,
                y + 8.0
            );
        }
    }
}

/// The step W → W'.
fn step_arrow(s: &mut String, d: &Demo, f: &Frame, r: f64) {
    if !(f.inside(&d.w) && f.inside(&d.w_next)) || d.w == d.w_next {
        return;
    }
    let (x0, y0) = f.px(&d.w);
    let (x1, y1) = f.px(&d.w_next);
    let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
    let cut = (r + 2.0).min(len / 2.0);
    let (ux, uy) = ((x1 - x0) / len, (y1 - y0) / len);
    let _ = writeln!(
        s,
        r#"<line id="step" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{STEP_COLOUR}" stroke-width="3" marker-end="url(#arrow)"/>"#,
        x0 + ux * cut,
        y0 + uy * cut,
        x1 - ux * cut,
        y1 - uy * cut
    );
}

/// The iterates: a path V₀ → V₁ → … and numbered points. The path runs up to the first
/// iterate outside the window and is clipped there, so that a diverging iteration is seen
/// leaving the picture.
fn iterates(s: &mut String, d: &Demo, f: &Frame, r: f64) {
    let leaves = d
        .iterates
        .iter()
        .position(|v| !f.inside(&v.point))
        .map_or(d.iterates.len(), |i| i + 1);
    let pts: Vec<String> = d.iterates[..leaves]
        .iter()
        .map(|v| f.px(&v.point))
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    if pts.len() > 1 {
        // A white band under the dashed path keeps it visible over the darkest colour.
        let _ = writeln!(
            s,
            r#"<polyline points="{0}" fill="none" stroke="white" stroke-opacity="0.7" stroke-width="4" clip-path="url(#plot-area)"/><polyline id="iterates" points="{0}" fill="none" stroke="{ITERATE_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3" clip-path="url(#plot-area)"/>"#,
            pts.join(" ")
        );
    }
    // A point visited twice (a cycle) is labelled once, with both numbers.
    let mut labels: Vec<(Vec<i64>, Vec<usize>)> = Vec::new();
    for (t, v) in d.iterates.iter().enumerate() {
        match labels.iter_mut().find(|(p, _)| *p == v.point) {
            Some((_, ts)) => ts.push(t),
            None => labels.push((v.point.clone(), vec![t])),
        }
    }
    // Labels that would overprint an earlier one are left out: the text lists every iterate.
    let mut placed: Vec<(f64, f64)> = Vec::new();
    for (point, ts) in labels.iter().filter(|(p, _)| f.inside(p)) {
        let (x, y) = f.px(point);
        let mut names: Vec<String> = ts.iter().map(|t| format!("V{t}")).collect();
        if *point == d.w_next {
            names.insert(0, "W′".into());
        }
        let _ = write!(
            s,
            r#"<circle class="iterate" cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{ITERATE_COLOUR}"/>"#
        );
        let free = placed
            .iter()
            .all(|&(px, py)| (px - x).abs() >= 30.0 || (py - y).abs() >= 14.0);
        if free && placed.len() < MAX_ITERATE_LABELS {
            placed.push((x, y));
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" font-size="12" fill="{ITERATE_COLOUR}" font-weight="bold" {HALO}>{}</text>"#,
                x + r + 5.0,
                y - r - 4.0,
                names.join(" = ")
            );
        }
        s.push('\n');
    }
}

/// W: a square, labelled below unless another preimage sits right below it.
fn logged_model(s: &mut String, d: &Demo, f: &Frame, r: f64) {
    if !f.inside(&d.w) {
        return;
    }
    let (x, y) = f.px(&d.w);
    let below_taken = d
        .other_preimages()
        .iter()
        .any(|p| p[0] == d.w[0] && p[1] == d.w[1] - 1);
    let (tx, ty, anchor) = if below_taken {
        (x - r - 6.0, y - r - 4.0, "end")
    } else {
        (x, y + r + 18.0, "middle")
    };
    let _ = writeln!(
        s,
        r#"<rect id="w" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black" stroke-width="2.5"/><text x="{tx:.1}" y="{ty:.1}" font-size="13" font-weight="bold" text-anchor="{anchor}" {HALO}>W</text>"#,
        x - r - 3.0,
        y - r - 3.0,
        2.0 * r + 6.0,
        2.0 * r + 6.0,
    );
}

/// The tick marks of both axes: every `step` ulps, on grid points, labelled in real units.
struct Ticks {
    step: i64,
    p: u32,
    x: Vec<i64>,
    y: Vec<i64>,
}

impl Ticks {
    /// The smallest power of two of ulps whose ticks leave every label its width plus a gap,
    /// and number at most [`MAX_TICKS`] per axis; a power of two keeps the labels short
    /// decimals (multiples of 2^-p).
    fn new(f: &Frame, p: u32) -> Ticks {
        let (x, y) = (f.range(0), f.range(1));
        let mut step = 1;
        loop {
            let ticks = Ticks {
                step,
                p,
                x: multiples(x, step),
                y: multiples(y, step),
            };
            let roomy = step as f64 * f.cell >= ticks.label_width() + TICK_GAP;
            let few = ticks.x.len().max(ticks.y.len()) <= MAX_TICKS;
            // A coarser step would leave an axis with fewer than two ticks.
            let last = 2 * step > (x.1 - x.0).min(y.1 - y.0);
            if (roomy && few) || last {
                return ticks;
            }
            step *= 2;
        }
    }

    /// The estimated width of the widest label, in pixels.
    fn label_width(&self) -> f64 {
        self.x
            .iter()
            .chain(&self.y)
            .map(|&t| tick_label(t, self.p).chars().count() as f64 * TICK_CHAR)
            .fold(0.0, f64::max)
    }

    fn draw(&self, s: &mut String, f: &Frame) {
        let bottom = f.top + f.plot();
        let _ = writeln!(s, r#"<g id="ticks" font-size="{TICK_FONT}">"#);
        for &t in &self.x {
            let (x, _) = f.px(&[t, f.map.center[1]]);
            let _ = writeln!(
                s,
                r#"<line x1="{x:.1}" y1="{bottom:.1}" x2="{x:.1}" y2="{:.1}" stroke="black"/><text class="tick-x" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 5.0,
                bottom + 18.0,
                tick_label(t, self.p)
            );
        }
        for &t in &self.y {
            let (_, y) = f.px(&[f.map.center[0], t]);
            let _ = writeln!(
                s,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="black"/><text class="tick-y" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                f.left - 5.0,
                f.left,
                f.left - 8.0,
                y + TICK_FONT * 0.35,
                tick_label(t, self.p)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="13" font-weight="bold" text-anchor="middle">w₁</text><text x="{:.1}" y="{:.1}" font-size="13" font-weight="bold" text-anchor="end">w₂</text>"#,
            f.left + f.plot() / 2.0,
            bottom + 36.0,
            f.left - 8.0,
            f.top - 8.0
        );
        let _ = writeln!(s, "</g>");
    }
}

/// The multiples of `step` in [lo, hi].
fn multiples((lo, hi): (i64, i64), step: i64) -> Vec<i64> {
    let first = lo.div_euclid(step) * step + if lo.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|&t| t <= hi)
        .collect()
}

/// The real number of raw integer `t` on the grid 2^-p·ℤ as a decimal. Every such number is a
/// short exact decimal, which f64's shortest round-trip form prints in full.
fn tick_label(t: i64, p: u32) -> String {
    format!("{}", libm::ldexp(t as f64, -(p as i32)))
}

/// "1 ulp" or "4 ulps".
fn ulps(k: i64) -> String {
    if k == 1 {
        "1 ulp".into()
    } else {
        format!("{k} ulps")
    }
}

/// `text` broken at spaces into lines of at most `max` characters (a longer word keeps a
/// line of its own).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// The legend: colours, marks, the certificate and the collision share, from (`lx`, `top`).
fn legend(s: &mut String, d: &Demo, (lx, top): (f64, f64)) {
    let _ = writeln!(s, r#"<g id="legend">"#);
    let _ = writeln!(
        s,
        r#"<text x="{lx:.0}" y="{:.0}" font-size="13" font-weight="bold">legend</text>"#,
        top + 4.0
    );
    let mut y = top + 18.0;
    let swatch = [
        (1, "image has no other preimage here"),
        (2, "image shared by 2 points"),
        (3, "image shared by 3 points"),
        (4, "image shared by 4 or more"),
    ];
    for (k, text) in swatch {
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.0}" y="{y:.0}" width="14" height="14" fill="{}" stroke="black" stroke-width="0.5"/><text x="{:.0}" y="{:.0}" font-size="12">{text}</text>"#,
            crate::experiments::plot::colour(k),
            lx + 22.0,
            y + 12.0
        );
        y += 22.0;
    }
    y += 6.0;
    let _ = writeln!(
        s,
        r#"<rect x="{:.0}" y="{y:.0}" width="14" height="14" fill="none" stroke="black" stroke-width="2.5"/><text x="{:.0}" y="{:.0}" font-size="12">W, the logged model before the step</text>"#,
        lx,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{STEP_COLOUR}" stroke-width="3" marker-end="url(#arrow)"/><text x="{:.0}" y="{:.0}" font-size="12">the step W → W′ = W − s_B(W)</text>"#,
        y + 7.0,
        lx + 16.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<line x1="{lx:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="{ITERATE_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3"/><circle cx="{:.0}" cy="{:.0}" r="4" fill="{ITERATE_COLOUR}"/><text x="{:.0}" y="{:.0}" font-size="12">iterates V₀ = W′, V₁, … of V ← W′ + s_B(V)</text>"#,
        y + 7.0,
        lx + 16.0,
        y + 7.0,
        lx + 8.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 22.0;
    let _ = writeln!(
        s,
        r#"<circle cx="{:.0}" cy="{:.0}" r="7" fill="none" stroke="{OTHER_COLOUR}" stroke-width="3"/><text x="{:.0}" y="{:.0}" font-size="12">another preimage of W′ (collision)</text>"#,
        lx + 7.0,
        y + 7.0,
        lx + 22.0,
        y + 12.0
    );
    y += 34.0;
    for line in legend_notes(d).iter().flat_map(|l| wrap(l, LEGEND_CHARS)) {
        let _ = writeln!(
            s,
            r#"<text x="{lx:.0}" y="{y:.0}" font-size="12">{}</text>"#,
            escape(&line)
        );
        y += 18.0;
    }
    let _ = writeln!(s, "</g>");
}

/// The certificate, the preimages and the collision share, one legend line each.
fn legend_notes(d: &Demo) -> [String; 4] {
    let certificate = match &d.certificate {
        Certificate::Unique => "certificate: unique preimage".to_string(),
        Certificate::Ambiguous {
            preimages,
            index_of_logged,
        } => format!(
            "certificate: {preimages} preimages, W is no. {} of {preimages}",
            index_of_logged + 1
        ),
        Certificate::Unknown(reason) => format!("certificate: unknown ({})", why(reason)),
    };
    [
        certificate,
        format!("preimages: {}", preimage_list(d)),
        format!(
            "collision share here: {:.3} measured,",
            d.collisions.merged_share
        ),
        format!(
            "{} predicted (1 − det(I − αH_B))",
            d.collisions
                .predicted
                .map_or("not".to_string(), |p| format!("{p:.3}"))
        ),
    ]
}

fn preimage_list(d: &Demo) -> String {
    match &d.preimages {
        Some(list) => list.iter().map(|p| raw(p)).collect::<Vec<_>>().join(", "),
        None => "not certified".into(),
    }
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiples_cover_the_range_on_both_sides_of_zero() {
        assert_eq!(multiples((-37, -23), 4), vec![-36, -32, -28, -24]);
        assert_eq!(multiples((-5, 5), 2), vec![-4, -2, 0, 2, 4]);
        assert_eq!(multiples((8, 8), 8), vec![8]);
        assert_eq!(multiples((9, 15), 8), Vec::<i64>::new());
    }

    #[test]
    fn tick_labels_are_exact_decimals_of_the_grid() {
        assert_eq!(tick_label(-30, 5), "-0.9375");
        assert_eq!(tick_label(48, 5), "1.5");
        assert_eq!(tick_label(0, 5), "0");
        assert_eq!(tick_label(1, 8), "0.00390625");
        assert_eq!(tick_label(-3, 2), "-0.75");
    }

    #[test]
    fn wrapping_keeps_every_word_and_the_limit() {
        let text = "the iteration does not contract at q = 1.5: it diverges; and more words here";
        let lines = wrap(text, 20);
        assert_eq!(lines.join(" "), text);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
    }
}
