//! Claim 5, Section 4, Theorem 4.3: for ℓ = o(m) random values in GD's initial perturbation,
//! m = |Y| the batch size, there EXIST inputs on which GD needs Ω(2^m) iterations.
//!
//! An existence statement: an average over random inputs cannot contradict it, and a run can
//! only bear on it inside its hypothesis (0 < ℓ·m < b random bits; rewind's m is bits per value,
//! not the paper's m) and with room for the conclusion (T ≥ 2^b). Without such runs the verdict
//! is **not testable by these runs**, with the counts that say why. Beside it, the finite-run
//! direction: each SGD′ run ([`crate::pipeline::sgd_prime`]) gives its mean GD steps per call,
//! Σ T_{i,j} / calls (a call stopped at T counts T); runs that differ only in ℓ·m and the seed
//! form a group; per group, Spearman's rank correlation between ℓ·m and that number, pooled as
//! the size-weighted mean, against the same statistic with the numbers permuted within each
//! group ([`PERMUTATIONS`] permutations from a fixed ChaCha20 stream). It is printed with and
//! without the ℓ·m = 0 runs, since the step from no perturbation to the smallest one measures
//! the effect of the perturbation's size, not of its randomness. With testable runs the
//! direction **holds** when p(ρ_s ≤ observed) < 0.025 and is **inconclusive** otherwise.

use super::Verdict;
use crate::experiments::selection::Run;
use crate::experiments::sweep::RunSpec;
use crate::rng::permutation;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use std::collections::BTreeMap;

/// Permutations of the null.
pub const PERMUTATIONS: usize = 10_000;
/// Seed of the permutations' ChaCha20 stream.
const PERMUTATION_SEED: u64 = 0x5EC4;
/// One-sided level of each direction's test (two-sided 5%).
const LEVEL: f64 = 0.025;

/// What one SGD′ run contributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrimeRun {
    /// The run's id.
    pub id: String,
    /// Its group: every setting but ℓ·m and the seed.
    pub group: String,
    /// The model's parameter count d.
    pub d: usize,
    /// The batch size b.
    pub batch: usize,
    /// ℓ·m, random bits per GD call.
    pub random_bits: u64,
    /// T, the cap on GD steps per call.
    pub max_gd_steps: usize,
    /// GD calls made.
    pub calls: usize,
    /// Σ T_{i,j} / calls.
    pub mean_steps: f64,
    /// Median T_{i,j} over the run's calls.
    pub median_steps: f64,
    /// 90th percentile of T_{i,j} over the run's calls.
    pub p90_steps: f64,
    /// Calls that stopped at T without meeting δ.
    pub at_cap: usize,
    /// The epoch in which SGD′ returned, if it did.
    pub terminated_in_epoch: Option<usize>,
    /// The code's length over ⌈log₂ n!⌉ per epoch, all epochs (when the code ran).
    pub code_ratio: Option<f64>,
    /// The accuracy discrepancy's running excess z at the last epoch (code direction).
    pub excess_z: Option<f64>,
}

/// The runs of one (d, b, ℓ·m) level, summarised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    /// The group's name ("d = 17, b = 8").
    pub name: String,
    /// ℓ·m.
    pub random_bits: u64,
    /// Runs (seeds).
    pub runs: usize,
    /// Mean over the runs of their mean GD steps per call.
    pub mean_steps: f64,
    /// Median over the runs of their median T_{i,j}.
    pub median_steps: f64,
    /// Median over the runs of their 90th percentile of T_{i,j}.
    pub p90_steps: f64,
    /// Share of all the level's calls that stopped at T.
    pub share_at_cap: f64,
    /// Runs in which SGD′ returned within its epochs.
    pub terminated: usize,
    /// Mean epoch of return over the runs that returned.
    pub mean_terminated_epoch: Option<f64>,
    /// Mean code length over ⌈log₂ n!⌉ per epoch (runs with a code).
    pub code_ratio: Option<f64>,
    /// Mean running excess z of the accuracy discrepancy.
    pub excess_z: Option<f64>,
}

/// One group's rank correlation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupCorrelation {
    /// The group's name.
    pub name: String,
    /// Runs in the group.
    pub runs: usize,
    /// Distinct ℓ·m values.
    pub levels: usize,
    /// Spearman's ρ_s between ℓ·m and mean GD steps per call; `None` when either is constant.
    pub spearman: Option<f64>,
}

/// Claim 5.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section4 {
    /// The claim as the paper's Theorem 4.3 suggests it for finite runs.
    pub claim: &'static str,
    /// How the verdict is decided, in words.
    pub rule: String,
    /// SGD′ runs with a report.
    pub runs: usize,
    /// Those with at least one GD call, which the statistics use.
    pub used: usize,
    /// Per group and ℓ·m, what the runs measured.
    pub levels: Vec<Level>,
    /// Per group, the rank correlation.
    pub groups: Vec<GroupCorrelation>,
    /// The size-weighted mean of the groups' ρ_s.
    pub pooled: Option<f64>,
    /// The 2.5% and 97.5% quantiles of the pooled ρ_s under the permutation null.
    pub null_interval: Option<[f64; 2]>,
    /// p(pooled ρ_s ≤ observed) under the null: evidence for the theorem's direction.
    pub p_less: Option<f64>,
    /// p(pooled ρ_s ≥ observed) under the null: evidence for the opposite direction.
    pub p_greater: Option<f64>,
    /// Permutations drawn.
    pub permutations: usize,
    /// Runs with ℓ·m > 0 whose ℓ·m is at least b: outside the theorem's ℓ = o(m), m = |Y| the
    /// batch size (rewind's m is bits per value, not the paper's m).
    pub outside_hypothesis: usize,
    /// Runs with ℓ·m > 0.
    pub perturbed: usize,
    /// Runs whose T is below 2^b, where Ω(2^b) steps cannot show.
    pub t_below_2_to_b: usize,
    /// The pooled ρ_s without the ℓ·m = 0 runs, and its permutation p-values (≤, ≥).
    pub pooled_perturbed: Option<[f64; 3]>,
    /// Mean GD steps per call at ℓ·m = 0 and at the smallest ℓ·m > 0, over every group: the
    /// effect of perturbing at all, of the perturbation's size rather than its randomness.
    pub jump: Option<[f64; 4]>,
    /// Not testable (outside the hypothesis or T too small), else the direction on these runs.
    pub verdict: Verdict,
    /// The reason, in one line.
    pub why: String,
}

/// Every setting of a run but ℓ·m and the seed, as a key.
fn group_key(s: &RunSpec) -> String {
    let mut g = s.clone();
    g.seed = 0;
    if let Some(p) = &mut g.sgd_prime {
        p.perturbation_length = 0;
        p.perturbation_bits = 0;
    }
    g.id()
}

/// The SGD′ runs with at least one GD call, as claim 5 and the figure read them.
pub fn prime_runs(runs: &[Run]) -> Vec<PrimeRun> {
    runs.iter().filter_map(prime_run).collect()
}

fn prime_run(r: &Run) -> Option<PrimeRun> {
    let p = r.spec.sgd_prime.as_ref()?;
    let g = r.report.gd_steps.as_ref()?;
    let a = r.report.algorithm.as_ref()?;
    if a.calls == 0 {
        return None;
    }
    let code_ratio = r
        .report
        .code
        .as_ref()
        .filter(|c| c.baseline_total_bits > 0)
        .map(|c| c.total_bits as f64 / c.baseline_total_bits as f64);
    Some(PrimeRun {
        id: r.id.to_string(),
        group: group_key(r.spec),
        d: r.report.config.d,
        batch: r.spec.batch,
        random_bits: p.random_bits(),
        max_gd_steps: p.max_gd_steps,
        calls: a.calls,
        mean_steps: g.total as f64 / a.calls as f64,
        median_steps: g.median,
        p90_steps: g.p90,
        at_cap: g.epochs.iter().map(|e| e.at_cap).sum(),
        terminated_in_epoch: a.terminated_in_epoch,
        code_ratio,
        excess_z: r
            .report
            .discrepancy
            .epochs
            .last()
            .map(|e| e.running_excess_z_code),
    })
}

/// Average ranks from 1 (ties share the mean of their positions).
pub fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            out[k] = rank;
        }
        i = j + 1;
    }
    out
}

/// Spearman's rank correlation (Pearson's on average ranks); `None` when either side is
/// constant.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The size-weighted mean of the groups' ρ_s, each group given as (ℓ·m, steps) pairs.
fn pooled(groups: &[(Vec<f64>, Vec<f64>)]) -> Option<f64> {
    let (mut sum, mut weight) = (0.0, 0.0);
    for (x, y) in groups {
        if let Some(r) = spearman(x, y) {
            sum += r * x.len() as f64;
            weight += x.len() as f64;
        }
    }
    (weight > 0.0).then(|| sum / weight)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn level(name: &str, bits: u64, runs: &[&PrimeRun]) -> Level {
    let calls: usize = runs.iter().map(|r| r.calls).sum();
    let returned: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.terminated_in_epoch.map(|e| e as f64))
        .collect();
    Level {
        name: name.to_string(),
        random_bits: bits,
        runs: runs.len(),
        mean_steps: mean(runs.iter().map(|r| r.mean_steps)).unwrap_or(f64::NAN),
        median_steps: median(runs.iter().map(|r| r.median_steps).collect()),
        p90_steps: median(runs.iter().map(|r| r.p90_steps).collect()),
        share_at_cap: runs.iter().map(|r| r.at_cap).sum::<usize>() as f64 / calls.max(1) as f64,
        terminated: returned.len(),
        mean_terminated_epoch: mean(returned.into_iter()),
        code_ratio: mean(runs.iter().filter_map(|r| r.code_ratio)),
        excess_z: mean(runs.iter().filter_map(|r| r.excess_z)),
    }
}

/// The permutation null of the pooled statistic: its sorted values.
fn null_distribution(groups: &[(Vec<f64>, Vec<f64>)]) -> Vec<f64> {
    let mut rng = ChaCha20Rng::seed_from_u64(PERMUTATION_SEED);
    let mut out: Vec<f64> = (0..PERMUTATIONS)
        .filter_map(|_| {
            let shuffled: Vec<(Vec<f64>, Vec<f64>)> = groups
                .iter()
                .map(|(x, y)| {
                    let p = permutation(&mut rng, y.len());
                    (x.clone(), p.iter().map(|&i| y[i]).collect())
                })
                .collect();
            pooled(&shuffled)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Names each group by its model size and batch, adding the key where those repeat.
fn group_names(runs: &[PrimeRun]) -> BTreeMap<String, String> {
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for r in runs {
        by_key
            .entry(r.group.clone())
            .or_insert_with(|| format!("d = {}, b = {}", r.d, r.batch));
    }
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for n in by_key.values() {
        *count.entry(n.clone()).or_default() += 1;
    }
    by_key
        .into_iter()
        .map(|(k, n)| {
            let name = if count[&n] > 1 {
                format!("{n} ({k})")
            } else {
                n
            };
            (k, name)
        })
        .collect()
}

/// The ℓ·m trend on runs that can test it: the theorem's direction when p(≤) < [`LEVEL`], the
/// opposite on these runs when p(≥) < [`LEVEL`] (an average that cannot refute an existence
/// statement, so inconclusive), else inconclusive.
fn direction(
    observed: Option<f64>,
    p_less: Option<f64>,
    p_greater: Option<f64>,
    null_interval: Option<[f64; 2]>,
) -> (Verdict, String) {
    let (Some(o), Some(pl), Some(pg), Some([lo, hi])) =
        (observed, p_less, p_greater, null_interval)
    else {
        return (
            Verdict::Inconclusive,
            "no group has runs with more than one ℓ·m and varying GD steps".to_string(),
        );
    };
    let within = format!("pooled ρ_s {o:+.3}, noise alone gives [{lo:+.3}, {hi:+.3}] (95%)");
    if pl < LEVEL {
        (
            Verdict::Holds,
            format!("less randomness, more GD steps per batch on these runs: {within}, p = {pl:.4}; a finite-run direction, not the asymptotic theorem"),
        )
    } else if pg < LEVEL {
        (
            Verdict::Inconclusive,
            format!("on average over these inputs more randomness gives more GD steps: {within}, p = {pg:.4}; an average cannot contradict an existence statement"),
        )
    } else {
        (
            Verdict::Inconclusive,
            format!("no dependence on ℓ·m beyond noise: {within}, p = {pl:.3} (fewer steps with more bits) and {pg:.3} (more)"),
        )
    }
}

/// Mean GD steps per call at ℓ·m = 0 and at the smallest ℓ·m > 0 of each group, over the groups
/// that have both, with the run counts: `[steps at 0, steps at the smallest, runs, runs]`.
fn jump(all: &[PrimeRun]) -> Option<[f64; 4]> {
    let mut smallest: BTreeMap<&str, u64> = BTreeMap::new();
    for r in all.iter().filter(|r| r.random_bits > 0) {
        let e = smallest.entry(&r.group).or_insert(r.random_bits);
        *e = (*e).min(r.random_bits);
    }
    let zero: Vec<f64> = all
        .iter()
        .filter(|r| r.random_bits == 0 && smallest.contains_key(r.group.as_str()))
        .map(|r| r.mean_steps)
        .collect();
    let small: Vec<f64> = all
        .iter()
        .filter(|r| smallest.get(r.group.as_str()) == Some(&r.random_bits))
        .map(|r| r.mean_steps)
        .collect();
    Some([
        mean(zero.iter().copied())?,
        mean(small.iter().copied())?,
        zero.len() as f64,
        small.len() as f64,
    ])
}

/// Checks claim 5 on the SGD′ runs among `runs`; `None` when there are none.
pub fn check(runs: &[Run]) -> Option<Section4> {
    let prime = runs.iter().filter(|r| r.spec.sgd_prime.is_some()).count();
    if prime == 0 {
        return None;
    }
    let all = prime_runs(runs);
    let (levels, groups, data) = per_group(&all);
    let pooled_perturbed = pooled_without_zero(&data);
    let perturbed: Vec<&PrimeRun> = all.iter().filter(|r| r.random_bits > 0).collect();
    let outside_hypothesis = perturbed
        .iter()
        .filter(|r| r.random_bits >= r.batch as u64)
        .count();
    let t_below_2_to_b = all
        .iter()
        .filter(|r| (r.max_gd_steps as u128) < 1u128 << r.batch.min(127))
        .count();
    let jump = jump(&all);
    let observed = pooled(&data);
    let (null_interval, p_less, p_greater) = null_test(observed, &data);
    let testable = all.iter().any(|r| {
        r.random_bits > 0
            && r.random_bits < r.batch as u64
            && (r.max_gd_steps as u128) >= 1u128 << r.batch.min(127)
    });
    let (verdict, why) = if !testable {
        (
            Verdict::NotTestable,
            format!(
                "Theorem 4.3 states existence: for ℓ = o(m), m = |Y| the batch size, some inputs need Ω(2^m) GD iterations, \
                 which an average over random inputs cannot contradict; {outside_hypothesis} of {} perturbed runs have ℓ·m ≥ b \
                 (outside the hypothesis) and {t_below_2_to_b} of {} runs have T < 2^b (Ω(2^b) steps cannot show)",
                perturbed.len(),
                all.len()
            ),
        )
    } else {
        direction(observed, p_less, p_greater, null_interval)
    };
    Some(Section4 {
        claim: "Theorem 4.3: for ℓ = o(m) random values in GD's initial perturbation (m = |Y| the batch size) there exist inputs on which GD needs Ω(2^m) iterations; on finite runs, its direction: fewer random bits, more GD steps per batch",
        rule: rule(),
        runs: prime,
        used: all.len(),
        levels,
        groups,
        pooled: observed,
        null_interval,
        p_less,
        p_greater,
        permutations: PERMUTATIONS,
        outside_hypothesis,
        perturbed: perturbed.len(),
        t_below_2_to_b,
        pooled_perturbed,
        jump,
        verdict,
        why,
    })
}

/// Claim 5's rule, in words.
fn rule() -> String {
    format!(
        "per SGD′ run, mean GD steps per call Σ T_ij / calls (a call stopped at T counts T); per group (all settings but ℓ·m and seed) \
         Spearman's ρ_s between ℓ·m and it, pooled as the size-weighted mean; null: the runs' values permuted within groups \
         ({PERMUTATIONS} permutations); not testable by these runs unless some run has 0 < ℓ·m < b (the theorem's \
         ℓ = o(m), m = |Y| the batch size) and T ≥ 2^b (room for Ω(2^b) steps); then holds if p(ρ_s ≤ observed) < {LEVEL}, \
         else inconclusive; the pooled ρ_s without ℓ·m = 0 and the step change from ℓ·m = 0 to the smallest ℓ·m > 0 \
         (the effect of the perturbation's size) are printed beside it"
    )
}

/// One group's (ℓ·m, mean GD steps per call) pairs, as `x` and `y`.
type GroupData = (Vec<f64>, Vec<f64>);

/// Per group (all settings but ℓ·m and seed): its levels, its rank correlation, and its
/// (ℓ·m, mean GD steps) pairs for the pooled statistic.
fn per_group(all: &[PrimeRun]) -> (Vec<Level>, Vec<GroupCorrelation>, Vec<GroupData>) {
    let names = group_names(all);
    let mut by_group: BTreeMap<(usize, usize, &str), Vec<&PrimeRun>> = BTreeMap::new();
    for r in all {
        by_group
            .entry((r.d, r.batch, r.group.as_str()))
            .or_default()
            .push(r);
    }
    let mut levels = Vec::new();
    let mut groups = Vec::new();
    let mut data = Vec::new();
    for ((_, _, key), members) in &by_group {
        let name = &names[*key];
        let mut by_bits: BTreeMap<u64, Vec<&PrimeRun>> = BTreeMap::new();
        for r in members {
            by_bits.entry(r.random_bits).or_default().push(r);
        }
        for (bits, rs) in &by_bits {
            levels.push(level(name, *bits, rs));
        }
        let x: Vec<f64> = members.iter().map(|r| r.random_bits as f64).collect();
        let y: Vec<f64> = members.iter().map(|r| r.mean_steps).collect();
        groups.push(GroupCorrelation {
            name: name.clone(),
            runs: members.len(),
            levels: by_bits.len(),
            spearman: spearman(&x, &y),
        });
        data.push((x, y));
    }
    (levels, groups, data)
}

/// The pooled ρ_s without the ℓ·m = 0 runs and its permutation p-values (≤, ≥).
fn pooled_without_zero(data: &[GroupData]) -> Option<[f64; 3]> {
    let perturbed_data: Vec<GroupData> = data
        .iter()
        .map(|(x, y)| {
            x.iter()
                .zip(y)
                .filter(|(b, _)| **b > 0.0)
                .map(|(b, v)| (*b, *v))
                .unzip()
        })
        .collect();
    pooled(&perturbed_data).map(|o| {
        let v = null_distribution(&perturbed_data);
        let tail = |f: &dyn Fn(f64) -> bool| {
            (1 + v.iter().filter(|&&x| f(x)).count()) as f64 / (v.len() + 1) as f64
        };
        [o, tail(&|x| x <= o + 1e-12), tail(&|x| x >= o - 1e-12)]
    })
}

/// The permutation test of the `observed` pooled ρ_s: the null's 95% interval and the
/// p-values of ≤ and ≥ observed; all `None` without an observed value or a null.
fn null_test(
    observed: Option<f64>,
    data: &[GroupData],
) -> (Option<[f64; 2]>, Option<f64>, Option<f64>) {
    let null = observed.map(|_| null_distribution(data));
    let quantile =
        |v: &[f64], q: f64| v[((q * (v.len() - 1) as f64).round() as usize).min(v.len() - 1)];
    let tail = |v: &[f64], f: &dyn Fn(f64) -> bool| {
        (1 + v.iter().filter(|&&x| f(x)).count()) as f64 / (v.len() + 1) as f64
    };
    match (observed, &null) {
        (Some(o), Some(v)) if !v.is_empty() => (
            Some([quantile(v, 0.025), quantile(v, 0.975)]),
            Some(tail(v, &|x| x <= o + 1e-12)),
            Some(tail(v, &|x| x >= o - 1e-12)),
        ),
        _ => (None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_uses_average_ranks() {
        assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
        let x = [0.0, 8.0, 16.0, 32.0];
        assert_eq!(spearman(&x, &[9.0, 7.0, 5.0, 1.0]), Some(-1.0));
        assert_eq!(spearman(&x, &[1.0, 2.0, 30.0, 400.0]), Some(1.0));
        assert_eq!(spearman(&x, &[2.0; 4]), None);
        // Ties on x: ranks 1.5, 1.5, 3.5, 3.5 against 1, 2, 3, 4.
        let r = spearman(&[0.0, 0.0, 8.0, 8.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert!((r - 4.0 / 20f64.sqrt()).abs() < 1e-12, "{r}");
    }

    #[test]
    fn the_null_is_centred_and_a_perfect_trend_is_far_outside_it() {
        let x: Vec<f64> = (0..6).flat_map(|l| [l as f64; 4]).collect();
        let falling: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(i, v)| 100.0 - 10.0 * v + (i % 4) as f64)
            .collect();
        let groups = vec![(x.clone(), falling.clone())];
        let null = null_distribution(&groups);
        let m = null.iter().sum::<f64>() / null.len() as f64;
        assert!(m.abs() < 0.02, "{m}");
        let o = pooled(&groups).unwrap();
        assert!(o < -0.9 && o < null[0], "{o} vs {}", null[0]);
    }
}
