//! The Appendix B figures of plain SGD (Figures 2–5, code length, many-to-one): runs grouped
//! into panels, series named and coloured alike across panels, ρ beside its null model.

use super::render::{
    palette, render_grid, render_one, y_range, Panel, Pen, Scale, Series, Style, GREY, NULL,
};
use super::{Figure, CODE_LENGTH, FIG2, FIG3, FIG4, FIG5, MANY_TO_ONE};
use crate::experiments::selection::{key, labels_name, names, Field, Rho, Run};
use crate::experiments::sweep::RunSpec;
use crate::steps::discrepancy::EpochDiscrepancy;
use crate::Error;
use std::collections::BTreeMap;

/// Series labelled in a legend at most; more would hide the plot.
const MAX_LEGEND: usize = 12;

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
pub(super) fn accuracy_and_rho(
    runs: &[Run],
    random: bool,
    rho: Rho,
) -> Result<Option<Figure>, Error> {
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
pub(super) fn rho_by_batch(runs: &[Run], random: bool, rho: Rho) -> Result<Option<Figure>, Error> {
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
pub(super) fn code_length(runs: &[Run]) -> Result<Option<Figure>, Error> {
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
pub(super) fn many_to_one(runs: &[Run]) -> Result<Option<Figure>, Error> {
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
