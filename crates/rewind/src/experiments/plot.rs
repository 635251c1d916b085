//! SVG figures, written as plain text so that they are byte-identical across runs and need no
//! font or rendering library: the collision map of `rewind collisions`.

use crate::steps::collisions::Window;
use std::fmt::Write;

/// Fill colour of a point whose image has `k` preimages in the window.
pub(crate) fn colour(k: u32) -> &'static str {
    match k {
        0 | 1 => "#e8eef7",
        2 => "#f4a261",
        3 => "#e76f51",
        _ => "#9b2226",
    }
}

/// Draws the collision map's squares into `s` at `origin` with `cell` pixels per point, in a
/// group with id `id`. Points whose image is theirs alone are the background; the others are
/// drawn as horizontal runs of equal colour, which keeps the file small.
pub(crate) fn collision_background(
    s: &mut String,
    map: &Window,
    origin: (f64, f64),
    cell: f64,
    id: &str,
) {
    let side = map.side();
    let (left, top) = origin;
    let plot = cell * side as f64;
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{plot:.2}" height="{plot:.2}" fill="{}"/>"#,
        colour(1)
    );
    let _ = writeln!(s, r#"<g id="{id}">"#);
    for y in 0..side {
        let row = &map.multiplicity[y * side..(y + 1) * side];
        let mut x = 0;
        while x < side {
            let k = row[x].min(4);
            let run = row[x..].iter().take_while(|&&v| v.min(4) == k).count();
            if k > 1 {
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.2}" y="{:.2}" width="{:.2}" height="{cell:.2}" fill="{}"/>"#,
                    left + x as f64 * cell,
                    top + (side - 1 - y) as f64 * cell,
                    run as f64 * cell,
                    colour(k)
                );
            }
            x += run;
        }
    }
    let _ = writeln!(s, "</g>");
}

/// The collision map as an SVG: one square per grid point coloured by how many points share
/// its image, the trajectory (raw grid points) drawn on top, and a legend with the measured and
/// the predicted many-to-one share.
pub fn collision_svg(
    map: &Window,
    merged_share: f64,
    predicted: Option<f64>,
    trajectory: &[[i64; 2]],
    title: &str,
) -> String {
    let side = map.side();
    let cell = (640.0 / side as f64).clamp(1.0, 12.0);
    let plot = cell * side as f64;
    let (left, top) = (60.0, 70.0);
    let width = left + plot + 230.0;
    let height = top + plot + 60.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="28" font-size="16">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="50" font-size="12">many-to-one share {:.4} measured, {} predicted (1 − det(I − αH))</text>"#,
        merged_share,
        predicted.map_or("not".to_string(), |p| format!("{p:.4}"))
    );
    collision_background(&mut s, map, (left, top), cell, "points");
    trajectory_path(&mut s, map, (left, top), cell, trajectory);
    let _ = writeln!(
        s,
        r#"<rect x="{left}" y="{top}" width="{plot:.1}" height="{plot:.1}" fill="none" stroke="black"/>"#
    );
    let axis_y = top + plot + 20.0;
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{axis_y:.0}" font-size="12">w₁ from {} to {} ulps; w₂ from {} to {} ulps (upwards)</text>"#,
        map.center[0] - map.half,
        map.center[0] + map.half,
        map.center[1] - map.half,
        map.center[1] + map.half
    );
    collision_legend(&mut s, (left + plot + 20.0, top));
    s.push_str("</svg>\n");
    s
}

/// The logged trajectory's points inside the window, joined by a line.
fn trajectory_path(
    s: &mut String,
    map: &Window,
    (left, top): (f64, f64),
    cell: f64,
    trajectory: &[[i64; 2]],
) {
    let side = map.side();
    let to_px = |p: [i64; 2]| {
        let x = (p[0] - map.center[0] + map.half) as f64;
        let y = (p[1] - map.center[1] + map.half) as f64;
        (
            left + (x + 0.5) * cell,
            top + (side as f64 - 0.5 - y) * cell,
        )
    };
    let inside: Vec<(f64, f64)> = trajectory
        .iter()
        .filter(|p| {
            (p[0] - map.center[0]).abs() <= map.half && (p[1] - map.center[1]).abs() <= map.half
        })
        .map(|&p| to_px(p))
        .collect();
    if inside.len() > 1 {
        let pts: Vec<String> = inside
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            s,
            r##"<polyline id="trajectory" points="{}" fill="none" stroke="#1d3557" stroke-width="1.5"/>"##,
            pts.join(" ")
        );
    }
    for (x, y) in &inside {
        let _ = writeln!(
            s,
            r##"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="#1d3557"/>"##
        );
    }
}

/// The colour key of the preimage counts and the trajectory's mark, from (`lx`, `top`).
fn collision_legend(s: &mut String, (lx, top): (f64, f64)) {
    let legend = [
        (1, "image has 1 preimage"),
        (2, "2 preimages"),
        (3, "3 preimages"),
        (4, "4 or more"),
    ];
    for (row, (k, text)) in legend.iter().enumerate() {
        let y = top + 10.0 + row as f64 * 22.0;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.0}" y="{y:.0}" width="14" height="14" fill="{}" stroke="black" stroke-width="0.5"/><text x="{:.0}" y="{:.0}" font-size="12">{text}</text>"#,
            colour(*k),
            lx + 20.0,
            y + 12.0
        );
    }
    let y = top + 10.0 + 4.0 * 22.0;
    let _ = writeln!(
        s,
        r##"<circle cx="{:.0}" cy="{:.0}" r="4" fill="#1d3557"/><text x="{:.0}" y="{:.0}" font-size="12">logged trajectory</text>"##,
        lx + 7.0,
        y + 7.0,
        lx + 20.0,
        y + 12.0
    );
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
