//! The CSV table beside each figure: one row per point the figure plots (a band: one row per
//! x), numbers that read back exactly, and [`table_fields`] to read a row.

use super::render::{Panel, Series, Style};
use crate::Error;

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
pub(super) fn table<'a>(
    file: &str,
    panels: impl IntoIterator<Item = &'a Panel>,
) -> Result<String, Error> {
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

#[cfg(test)]
mod tests {
    use super::super::render::{panel, series};
    use super::*;

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
}
