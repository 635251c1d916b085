//! Section 4's figure: GD steps per batch of the SGD′ runs against the perturbation's random
//! bits ℓ·m, the mean over seeds in a band of its 95% t interval.

use super::render::{palette, render_grid, Panel, Scale, Series, Style};
use super::{Figure, GD_STEPS};
use crate::experiments::selection::Run;
use crate::Error;
use std::collections::BTreeMap;

/// The mean of `v` and the half-width of its 95% t interval (0 for a single value).
fn mean_and_half_width(v: &[f64]) -> (f64, f64) {
    let (m, half) = crate::experiments::claims::mean_and_t_half_width(v);
    (m, half.unwrap_or(0.0))
}

/// The band around each model size's mean, as the legend names it (once).
const INTERVAL: &str = "95% t interval of the mean over seeds";

/// Section 4: GD steps per batch against ℓ·m, per batch size, one curve per model size.
pub(super) fn gd_steps(runs: &[Run]) -> Result<Option<Figure>, Error> {
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
