//! The momentum figure: the velocity buffer's bits per step against β, beside d·log₂(1/β), the
//! nearest-rounding loss and plain SGD's hint bits per step.

use super::render::{palette, render_grid, y_range, Panel, Series, Style, GREY};
use super::{Figure, MOMENTUM_BITS};
use crate::experiments::selection::Run;
use crate::Error;
use std::collections::BTreeMap;

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
pub(super) fn momentum_bits(runs: &[Run]) -> Result<Option<Figure>, Error> {
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
