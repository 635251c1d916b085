//! The statistics behind the verdicts: Student's t quantile and the least-squares slope with
//! one intercept per group (the b⁻² fit of claim 1), and the relative spread across widths.

use serde::Serialize;

/// The 0.975 quantile of Student's t distribution with `df` degrees of freedom: a table for
/// df 1–30 (4 decimals), and beyond it the Cornish–Fisher expansion around the normal
/// quantile 1.959964, which is within 1e-4 of the exact value there.
pub fn t_quantile_975(df: usize) -> Option<f64> {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => None,
        1..=30 => Some(TABLE[df - 1]),
        _ => {
            let z = 1.959_963_985_f64;
            let v = df as f64;
            let g1 = (z.powi(3) + z) / 4.0;
            let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
            let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
            Some(z + g1 / v + g2 / (v * v) + g3 / (v * v * v))
        }
    }
}

/// The mean of `v` and the half-width of its 95% t interval (`None` for fewer than two values):
/// the interval over seeds that the figures draw and the momentum claim judges.
pub fn mean_and_t_half_width(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let half = t_quantile_975(v.len().saturating_sub(1)).map(|t| {
        let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
        t * (var / n).sqrt()
    });
    (m, half)
}

/// A least-squares slope with one intercept per group.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SlopeFit {
    /// The common slope s.
    pub slope: f64,
    /// Standard error of the slope; `None` without a residual degree of freedom.
    pub std_error: Option<f64>,
    /// Points − groups − 1.
    pub df: usize,
}

/// Fits y = a_g + s·x over groups of (x, y) points. Groups whose x are all equal carry no
/// information about s and are left out by the caller; `None` when no x varies.
pub fn fit_slope(groups: &[Vec<(f64, f64)>]) -> Option<SlopeFit> {
    let mean = |g: &[(f64, f64)]| {
        let n = g.len() as f64;
        (
            g.iter().map(|p| p.0).sum::<f64>() / n,
            g.iter().map(|p| p.1).sum::<f64>() / n,
        )
    };
    let groups: Vec<&Vec<(f64, f64)>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let (mut sxx, mut sxy, mut points) = (0.0, 0.0, 0usize);
    for g in &groups {
        let (mx, my) = mean(g);
        for &(x, y) in g.iter() {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - my);
        }
        points += g.len();
    }
    if sxx <= 0.0 || !sxx.is_finite() {
        return None;
    }
    let slope = sxy / sxx;
    let mut ssr = 0.0;
    for g in &groups {
        let (mx, my) = mean(g);
        for &(x, y) in g.iter() {
            let r = (y - my) - slope * (x - mx);
            ssr += r * r;
        }
    }
    let df = points.saturating_sub(groups.len() + 1);
    let std_error = (df > 0).then(|| (ssr / df as f64 / sxx).sqrt());
    Some(SlopeFit {
        slope,
        std_error,
        df,
    })
}

/// The relative spread (max − min)/mean of `values`: 0 when all are equal, ∞ when they differ
/// and their mean is not positive.
pub fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if max == min {
        0.0
    } else if mean > 0.0 {
        (max - min) / mean
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert_eq!(t_quantile_975(0), None);
        assert_eq!(t_quantile_975(1), Some(12.7062));
        // Beyond the table: published values 2.0395 (31), 2.0211 (40), 2.0003 (60), 1.9799 (120).
        for (df, t) in [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)] {
            let got = t_quantile_975(df).unwrap();
            assert!((got - t).abs() < 2e-4, "df {df}: {got}");
        }
    }

    #[test]
    fn fixed_effects_slope_ignores_group_levels() {
        // Two groups on parallel lines of slope -2 at very different levels.
        let g = |a: f64| (1..=3).map(|x| (x as f64, a - 2.0 * x as f64)).collect();
        let fit = fit_slope(&[g(0.0), g(10.0)]).unwrap();
        assert!((fit.slope + 2.0).abs() < 1e-12);
        assert_eq!(fit.df, 3);
        assert!(fit.std_error.unwrap() < 1e-9);
        assert!(fit_slope(&[vec![(1.0, 2.0), (1.0, 3.0)]]).is_none());
        assert_eq!(spread(&[1.0, 1.0]), 0.0);
        assert!((spread(&[1.0, 3.0]) - 1.0).abs() < 1e-15);
    }
}
