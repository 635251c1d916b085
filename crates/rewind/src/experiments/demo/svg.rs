//! The demo's figure: the step, the iterates and the certified preimages over the collision
//! map, drawn as a self-contained SVG (docs/design.md §3.2).

use super::{raw, why, Demo};
use crate::steps::certify::Certificate;
use std::fmt::Write;

const STEP_COLOUR: &str = "#2a9d8f";
const ITERATE_COLOUR: &str = "#1d3557";
const OTHER_COLOUR: &str = "#7b2cbf";

/// The demo as an SVG: the grid window coloured by collisions, the step W → W' as an arrow,
/// the iterates as numbered points joined by a path, every other preimage highlighted, a
/// legend, and the certificate in the title.
pub fn demo_svg(d: &Demo) -> String {
    let map = &d.collisions;
    let side = map.side();
    let cell = (560.0 / side as f64).clamp(2.0, 40.0);
    let plot = cell * side as f64;
    let (left, top) = (40.0, 96.0);
    let legend_w = 340.0;
    let width = (left + plot + legend_w).max(760.0);
    let height = (top + plot + 60.0).max(top + 330.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        s,
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{STEP_COLOUR}"/></marker></defs>"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="28" font-size="18" font-weight="bold">One SGD step inverted on the grid: {}</text>"#,
        escape(&d.headline())
    );
    let p = d.config.frac_bits;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="52" font-size="13">least squares, 2 features, exact; p = {p} (1 ulp = 2^-{p}), α = {}, q = α·L_B = {:.3}; step {} of epoch {}, seed {}</text>"#,
        d.alpha, d.q, d.step, d.epoch, d.config.seed
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="72" font-size="13">{}</text>"#,
        escape(&format!(
            "W = {}, s_B(W) = {}, W′ = {}; V ← W′ + s_B(V) from V₀ = W′ found {}",
            raw(&d.w),
            raw(&d.increment),
            raw(&d.w_next),
            d.found()
        ))
    );

    // Background: every point coloured by how many window points share its image.
    crate::experiments::plot::collision_background(
        &mut s,
        &map.window(),
        (left, top),
        cell,
        "collisions",
    );
    // The grid itself: one dot per point while the points are far enough apart to see.
    if cell >= 8.0 {
        let _ = writeln!(s, r##"<g id="grid" fill="#8d99ae">"##);
        for i in 0..side * side {
            let (x, y) = (i % side, i / side);
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="1.2"/>"#,
                left + (x as f64 + 0.5) * cell,
                top + (side as f64 - 0.5 - y as f64) * cell
            );
        }
        let _ = writeln!(s, "</g>");
    }

    let inside = |p: &[i64]| {
        (p[0] - map.center[0]).abs() <= map.half && (p[1] - map.center[1]).abs() <= map.half
    };
    let to_px = |p: &[i64]| {
        let x = (p[0] - map.center[0] + map.half) as f64;
        let y = (p[1] - map.center[1] + map.half) as f64;
        (
            left + (x + 0.5) * cell,
            top + (side as f64 - 0.5 - y) * cell,
        )
    };
    let r = (cell * 0.3).clamp(3.0, 7.0);

    // Other preimages: a thick ring; a single one is labelled on the side away from W (more
    // would crowd each other, and the legend lists them).
    let others = d.other_preimages();
    for p in others.iter().filter(|p| inside(p)) {
        let (x, y) = to_px(p);
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
                r#"<text x="{tx:.1}" y="{:.1}" font-size="12" fill="{OTHER_COLOUR}" font-weight="bold" text-anchor="{anchor}">other preimage</text>"#,
                y + 8.0
            );
        }
    }

    // The step W → W'.
    if inside(&d.w) && inside(&d.w_next) && d.w != d.w_next {
        let (x0, y0) = to_px(&d.w);
        let (x1, y1) = to_px(&d.w_next);
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

    // The iterates: a path V₀ → V₁ → … and numbered points.
    let pts: Vec<(f64, f64)> = d
        .iterates
        .iter()
        .filter(|v| inside(&v.point))
        .map(|v| to_px(&v.point))
        .collect();
    if pts.len() > 1 {
        let list: Vec<String> = pts.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
        let _ = writeln!(
            s,
            r#"<polyline id="iterates" points="{}" fill="none" stroke="{ITERATE_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3"/>"#,
            list.join(" ")
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
    for (point, ts) in labels.iter().filter(|(p, _)| inside(p)) {
        let (x, y) = to_px(point);
        let mut names: Vec<String> = ts.iter().map(|t| format!("V{t}")).collect();
        if *point == d.w_next {
            names.insert(0, "W′".into());
        }
        let _ = writeln!(
            s,
            r#"<circle class="iterate" cx="{x:.1}" cy="{y:.1}" r="{r:.1}" fill="{ITERATE_COLOUR}"/><text x="{:.1}" y="{:.1}" font-size="12" fill="{ITERATE_COLOUR}" font-weight="bold">{}</text>"#,
            x + r + 5.0,
            y - r - 4.0,
            names.join(" = ")
        );
    }
    // W: a square, labelled below unless another preimage sits right below it.
    if inside(&d.w) {
        let (x, y) = to_px(&d.w);
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
            r#"<rect id="w" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="black" stroke-width="2.5"/><text x="{tx:.1}" y="{ty:.1}" font-size="13" font-weight="bold" text-anchor="{anchor}">W</text>"#,
            x - r - 3.0,
            y - r - 3.0,
            2.0 * r + 6.0,
            2.0 * r + 6.0,
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{plot:.1}" height="{plot:.1}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.0}" font-size="12">axes in ulps (raw grid integers; 1 ulp = 2^-{p}): w₁ from {} to {} (rightwards), w₂ from {} to {} (upwards)</text>"#,
        top + plot + 20.0,
        map.center[0] - map.half,
        map.center[0] + map.half,
        map.center[1] - map.half,
        map.center[1] + map.half
    );

    // Legend.
    let lx = left + plot + 24.0;
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
    let notes = [
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
    ];
    for line in notes {
        let _ = writeln!(
            s,
            r#"<text x="{lx:.0}" y="{y:.0}" font-size="12">{}</text>"#,
            escape(&line)
        );
        y += 18.0;
    }
    let _ = writeln!(s, "</g>");
    s.push_str("</svg>\n");
    s
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
