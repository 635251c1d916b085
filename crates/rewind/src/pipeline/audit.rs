//! The audit of a training log that anyone may have written (`rewind audit`,
//! docs/log-format.md): forward, every segment between two logged models is replayed bit for
//! bit with the one step function of [`crate::sgd`]; backward, every replayed step is inverted
//! (Lemma 2.1, [`crate::steps::invert`]) and the steps that need side information are listed; with
//! certification, every step is proven unique, ambiguous with its k preimages listed, or
//! unknown ([`crate::steps::certify`], docs/design.md §4.3), which says whether the logged predecessor
//! could have been replaced by another.
//!
//! Segments are independent, so they run in parallel and can be split into shards; each
//! segment's verdict depends on the log alone, never on the thread count or the sharding.

use crate::grid::Dyadic;
use crate::model::Activation;
use crate::pipeline::config::{ModelKind, Setup, StepSize, VerifyConfig};
use crate::pipeline::log::{data_sha256, Log, LogError, TrajectoryHeader};
use crate::pipeline::report::model_sha256;
use crate::sgd::{BackendKind, StepFunction};
use crate::steps::certify::{certify, Certificate, UnknownReason};
use crate::steps::invert::{invert, Outcome};
use crate::Error;
use rayon::prelude::*;
use serde::Serialize;

/// The audit report format.
pub const AUDIT_FORMAT: u32 = 1;

/// What to audit and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditOptions {
    /// Certify every replayed step with this budget of gradient evaluations.
    pub certify: Option<u64>,
    /// δ: a logged model within this many ulps (∞-norm) of the replay is accepted, and the
    /// replay goes on from the logged model (Proof-of-Learning's rule); 0 is bit for bit.
    pub tolerance: u64,
    /// `Some((k, n))`: audit only the segments whose 0-based index is k − 1 mod n.
    pub shard: Option<(usize, usize)>,
    /// Cap on the fixed-point iterations of one inversion.
    pub max_iterations: u32,
    /// Walk back every exactly replayed step (inversion); off, the audit is the replay alone.
    pub backward: bool,
}

/// How a step's replay compares with the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Forward {
    /// The replay equals the logged model after the step (or its hash) bit for bit.
    Verified,
    /// The replay is within the tolerance of the logged model, but not equal to it.
    WithinTolerance,
    /// The log gives nothing after this step; the segment's end checks it.
    Unchecked,
    /// The replay disagrees with the log.
    Diverged,
    /// An earlier step of the segment diverged: this one was not replayed.
    NotReplayed,
}

/// What is proven about a step's predecessor.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StepCertificate {
    /// No other model maps to the logged successor on this batch.
    Unique,
    /// k models do; each is listed as its (coordinate, value − logged value) differences.
    Ambiguous {
        /// k ≥ 2.
        preimages: usize,
        /// Every preimage, as its differences from the logged model (the logged one is `[]`).
        listed: Vec<Vec<(usize, i64)>>,
    },
    /// Nothing is proven.
    Unknown(UnknownReason),
}

/// One step's verdicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepAudit {
    /// 0-based position in the log.
    pub index: usize,
    /// The log's own epoch number.
    pub epoch: usize,
    /// The log's own step number.
    pub step: usize,
    /// The forward verdict.
    pub forward: Forward,
    /// ∞-norm distance in ulps between the replay and the logged model after the step, where
    /// the log gives that model in full.
    pub distance_ulps: Option<u64>,
    /// What the inverter did from the model after the step (for exactly replayed steps).
    pub inversion: Option<Outcome>,
    /// With `--certify`, for exactly replayed steps.
    pub certificate: Option<StepCertificate>,
}

/// Where the log's own record disagrees with the replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Divergence {
    /// 0-based position in the log of the step whose replay disagrees.
    pub index: usize,
    /// That step's epoch, as the log numbers it.
    pub epoch: usize,
    /// That step's step number, as the log numbers it.
    pub step: usize,
    /// The logged model it disagrees with: `"step"` (the model before the next step line,
    /// numbered `against_epoch`/`against_step`) or `"final"`.
    pub against: &'static str,
    /// The next step's epoch in the log (null against the final model).
    pub against_epoch: Option<usize>,
    /// The next step's number in the log (null against the final model).
    pub against_step: Option<usize>,
    /// Coordinates that differ (null when the log gives only a hash).
    pub coordinates: Option<usize>,
    /// The largest difference in ulps (null when the log gives only a hash).
    pub max_distance_ulps: Option<u64>,
}

/// Counts over the audited steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Steps verified bit for bit.
    pub verified: usize,
    /// Steps accepted within the tolerance only.
    pub within_tolerance: usize,
    /// Steps with nothing logged after them, checked at the segment's end.
    pub unchecked: usize,
    /// Steps whose replay disagrees.
    pub diverged: usize,
    /// Steps not replayed because their segment diverged earlier.
    pub not_replayed: usize,
    /// Inverted steps that gave back the logged model.
    pub recovered: usize,
    /// Inverted steps that need side information (another preimage, or none found).
    pub needing_side_information: usize,
    /// Certified unique.
    pub unique: usize,
    /// Certified ambiguous.
    pub ambiguous: usize,
    /// Certified unknown.
    pub unknown: usize,
}

/// The audit of one log (or of one shard of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    /// [`AUDIT_FORMAT`].
    pub format: u32,
    /// Steps in the log.
    pub steps_in_log: usize,
    /// Segments between logged models.
    pub segments: usize,
    /// Segments this audit replayed (all of them, or a shard's).
    pub segments_audited: usize,
    /// `"K/N"` when sharded.
    pub shard: Option<String>,
    /// δ in ulps.
    pub tolerance_ulps: u64,
    /// No audited step diverged.
    pub verified: bool,
    /// The earliest divergence in log order, or null.
    pub first_divergence: Option<Divergence>,
    /// The largest distance between a replay and a logged model, in ulps.
    pub max_distance_ulps: u64,
    /// Counts over the audited steps.
    pub counts: Counts,
    /// 0-based log positions of the steps the walk back needs side information for.
    pub side_information_steps: Vec<usize>,
    /// Every audited step, in log order.
    pub steps: Vec<StepAudit>,
}

/// The run a log describes, on the data `data` names (its data flags): model, grid, α,
/// backend and batch come from the header.
pub fn config_for(h: &TrajectoryHeader, data: VerifyConfig) -> Result<VerifyConfig, Error> {
    let bad = |what: &str, v: &str| {
        LogError::Structure(format!(
            "header names {what} '{v}', which this build does not know"
        ))
    };
    let model: ModelKind = h.model.parse().map_err(|_| bad("model", &h.model))?;
    let kind: BackendKind = h.backend.parse().map_err(|_| bad("backend", &h.backend))?;
    let activation = match &h.activation {
        Some(a) => a.parse::<Activation>().map_err(|_| bad("activation", a))?,
        None => data.activation,
    };
    let alpha = Dyadic::new(h.alpha_num, h.alpha_den.trailing_zeros())?;
    Ok(VerifyConfig {
        model,
        hidden: h.hidden.unwrap_or(data.hidden),
        activation,
        backend: kind.choice(
            h.mpfr_precision
                .unwrap_or(crate::pipeline::config::DEFAULT_MPFR_PRECISION),
        ),
        frac_bits: h.p,
        step_size: StepSize::Alpha(alpha),
        batch: h.batch,
        epochs: 1,
        stop_at_full_accuracy: false,
        certify: None,
        bias: h.bias,
        code: false,
        invert: false,
        ..data
    })
}

/// Refuses a log made on other data or for another model shape than `s`.
pub fn check_setup(h: &TrajectoryHeader, s: &Setup) -> Result<(), LogError> {
    let mismatch = |what: &str, log: String, here: String| {
        LogError::Mismatch(format!(
            "the log says {what} {log}, the data given has {here}; pass the data set and flags (--data, --classes, --seed, …) the log was made with"
        ))
    };
    if h.n != s.data.n() {
        return Err(mismatch("n =", h.n.to_string(), s.data.n().to_string()));
    }
    if h.features != s.data.d() {
        return Err(mismatch(
            "features =",
            h.features.to_string(),
            s.data.d().to_string(),
        ));
    }
    if h.d != s.model.dim() {
        return Err(mismatch("d =", h.d.to_string(), s.model.dim().to_string()));
    }
    let sha = data_sha256(&s.data);
    if h.data_sha256 != sha {
        return Err(mismatch("data_sha256", h.data_sha256.clone(), sha));
    }
    Ok(())
}

/// Audits `log` with the step function `f` of the run it describes.
pub fn audit(f: &StepFunction, log: &Log, opts: &AuditOptions) -> Result<AuditReport, Error> {
    let cuts = log.checkpoints();
    let segments: Vec<(usize, usize)> = cuts.windows(2).map(|c| (c[0], c[1])).collect();
    let chosen: Vec<(usize, usize)> = segments
        .iter()
        .enumerate()
        .filter(|(i, _)| match opts.shard {
            Some((k, n)) => i % n == k - 1,
            None => true,
        })
        .map(|(_, s)| *s)
        .collect();
    let parts = chosen
        .par_iter()
        .map(|&(a, b)| audit_segment(f, log, a, b, opts))
        .collect::<Result<Vec<_>, Error>>()?;
    let mut report = AuditReport {
        format: AUDIT_FORMAT,
        steps_in_log: log.steps.len(),
        segments: segments.len(),
        segments_audited: chosen.len(),
        shard: opts.shard.map(|(k, n)| format!("{k}/{n}")),
        tolerance_ulps: opts.tolerance,
        verified: true,
        first_divergence: None,
        max_distance_ulps: 0,
        counts: Counts::default(),
        side_information_steps: Vec::new(),
        steps: Vec::new(),
    };
    for (steps, divergence) in parts {
        if report.first_divergence.is_none() {
            report.first_divergence = divergence;
        }
        report.steps.extend(steps);
    }
    report.verified = report.first_divergence.is_none();
    tally(&mut report);
    Ok(report)
}

fn tally(r: &mut AuditReport) {
    let c = &mut r.counts;
    for s in &r.steps {
        match s.forward {
            Forward::Verified => c.verified += 1,
            Forward::WithinTolerance => c.within_tolerance += 1,
            Forward::Unchecked => c.unchecked += 1,
            Forward::Diverged => c.diverged += 1,
            Forward::NotReplayed => c.not_replayed += 1,
        }
        match s.inversion {
            Some(Outcome::Recovered) => c.recovered += 1,
            Some(_) => {
                c.needing_side_information += 1;
                r.side_information_steps.push(s.index);
            }
            None => {}
        }
        match s.certificate {
            Some(StepCertificate::Unique) => c.unique += 1,
            Some(StepCertificate::Ambiguous { .. }) => c.ambiguous += 1,
            Some(StepCertificate::Unknown(_)) => c.unknown += 1,
            None => {}
        }
        r.max_distance_ulps = r.max_distance_ulps.max(s.distance_ulps.unwrap_or(0));
    }
}

/// What the log says follows step `k`: the next step's model or hash, or the final model.
enum Logged<'a> {
    Model(&'a [i64]),
    Hash(&'a str),
    Nothing,
}

fn logged_after(log: &Log, k: usize) -> Logged<'_> {
    match log.steps.get(k + 1) {
        None => Logged::Model(&log.final_model),
        Some(s) => match (&s.w, &s.w_sha256) {
            (Some(w), _) => Logged::Model(w),
            (None, Some(h)) => Logged::Hash(h),
            (None, None) => Logged::Nothing,
        },
    }
}

/// Replays steps a..b from the model logged at a, then inverts and certifies what replayed
/// exactly. Returns the segment's step verdicts and its first divergence.
fn audit_segment(
    f: &StepFunction,
    log: &Log,
    a: usize,
    b: usize,
    opts: &AuditOptions,
) -> Result<(Vec<StepAudit>, Option<Divergence>), Error> {
    let mut w = log.steps[a].w.clone().unwrap_or_default();
    // models[i] is the model before step a + i, as the audit holds it.
    let mut models = vec![w.clone()];
    let mut out = Vec::with_capacity(b - a);
    let mut divergence = None;
    for k in a..b {
        let s = &log.steps[k];
        let next = f.step(&w, &s.batch).map_err(|e| {
            Error::Config(format!(
                "replaying step {} of epoch {} (line {} of the log) fails: {e}",
                s.step,
                s.epoch,
                k + 2
            ))
        })?;
        let (forward, distance, coordinates, logged) = compare(&next, logged_after(log, k), opts);
        out.push(step_audit(k, s, forward, distance));
        if forward == Forward::Diverged {
            divergence = Some(divergence_at(log, k, distance, coordinates));
            break;
        }
        w = match (forward, logged) {
            (Forward::WithinTolerance, Some(l)) => l.to_vec(),
            _ => next,
        };
        models.push(w.clone());
    }
    for k in a + out.len()..b {
        out.push(step_audit(k, &log.steps[k], Forward::NotReplayed, None));
    }
    if opts.backward || opts.certify.is_some() {
        backward(f, log, a, &models, &mut out, opts)?;
    }
    Ok((out, divergence))
}

fn step_audit(
    k: usize,
    s: &crate::pipeline::log::LogStep,
    forward: Forward,
    d: Option<u64>,
) -> StepAudit {
    StepAudit {
        index: k,
        epoch: s.epoch,
        step: s.step,
        forward,
        distance_ulps: d,
        inversion: None,
        certificate: None,
    }
}

/// The verdict on a replayed model against what the log gives: (verdict, distance, coordinates
/// that differ, the logged model when it is given in full).
fn compare<'a>(
    next: &[i64],
    logged: Logged<'a>,
    opts: &AuditOptions,
) -> (Forward, Option<u64>, Option<usize>, Option<&'a [i64]>) {
    match logged {
        Logged::Nothing => (Forward::Unchecked, None, None, None),
        Logged::Hash(h) if model_sha256(next) == h => (Forward::Verified, None, None, None),
        Logged::Hash(_) => (Forward::Diverged, None, None, None),
        Logged::Model(l) => {
            let diffs: Vec<u64> = next
                .iter()
                .zip(l)
                .map(|(&x, &y)| (i128::from(x) - i128::from(y)).unsigned_abs() as u64)
                .filter(|&d| d > 0)
                .collect();
            let max = diffs.iter().copied().max().unwrap_or(0);
            let verdict = match (diffs.len(), max <= opts.tolerance) {
                (0, _) => Forward::Verified,
                (_, true) => Forward::WithinTolerance,
                (_, false) => Forward::Diverged,
            };
            (verdict, Some(max), Some(diffs.len()), Some(l))
        }
    }
}

fn divergence_at(
    log: &Log,
    k: usize,
    distance: Option<u64>,
    coordinates: Option<usize>,
) -> Divergence {
    let s = &log.steps[k];
    let next = log.steps.get(k + 1);
    Divergence {
        index: k,
        epoch: s.epoch,
        step: s.step,
        against: if next.is_some() { "step" } else { "final" },
        against_epoch: next.map(|n| n.epoch),
        against_step: next.map(|n| n.step),
        coordinates,
        max_distance_ulps: distance,
    }
}

/// The walk back over the exactly replayed steps of a segment: each is inverted from the
/// model after it, and, with certification, its preimages are enumerated. The steps are
/// independent given the replayed models, so they run in parallel.
fn backward(
    f: &StepFunction,
    log: &Log,
    a: usize,
    models: &[Vec<i64>],
    out: &mut [StepAudit],
    opts: &AuditOptions,
) -> Result<(), Error> {
    let exact = |s: &StepAudit| matches!(s.forward, Forward::Verified | Forward::Unchecked);
    let results = out
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            if !exact(s) {
                return Ok((None, None));
            }
            let (before, after, batch) = (&models[i], &models[i + 1], &log.steps[a + i].batch);
            let outcome = if opts.backward {
                Some(invert(f, after, batch, opts.max_iterations)?.outcome(before))
            } else {
                None
            };
            let cert = match opts.certify {
                Some(budget) => Some(certificate(f, after, batch, before, budget)?),
                None => None,
            };
            Ok((outcome, cert))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    for (s, (inv, cert)) in out.iter_mut().zip(results) {
        s.inversion = inv;
        s.certificate = cert;
    }
    Ok(())
}

fn certificate(
    f: &StepFunction,
    after: &[i64],
    batch: &[usize],
    before: &[i64],
    budget: u64,
) -> Result<StepCertificate, Error> {
    let (cert, e) = certify(f, after, batch, before, budget)?;
    Ok(match cert {
        Certificate::Unique => StepCertificate::Unique,
        Certificate::Unknown(r) => StepCertificate::Unknown(r),
        Certificate::Ambiguous { preimages, .. } => StepCertificate::Ambiguous {
            preimages,
            listed: e
                .result
                .map(|en| {
                    en.preimages
                        .iter()
                        .map(|p| {
                            p.iter()
                                .zip(before)
                                .enumerate()
                                .filter(|(_, (x, y))| x != y)
                                .map(|(k, (x, y))| (k, x - y))
                                .collect()
                        })
                        .collect()
                })
                .unwrap_or_default(),
        },
    })
}

/// The colour of a step in one band of the strip figure.
type Colour<'a> = &'a dyn Fn(&StepAudit) -> &'static str;

/// One strip per audited step, in log order, as an SVG: the upper band is the forward verdict
/// (verified, within tolerance, unchecked, diverged, not replayed), the lower band the
/// certificate (unique, ambiguous, unknown, not certified). Consecutive steps of one colour
/// are drawn as one rectangle.
pub fn strips_svg(r: &AuditReport) -> String {
    const W: f64 = 760.0;
    const X0: f64 = 110.0;
    let t = r.steps.len().max(1) as f64;
    let forward = |s: &StepAudit| match s.forward {
        Forward::Verified => "#2e7d32",
        Forward::WithinTolerance => "#9ccc65",
        Forward::Unchecked => "#a5d6a7",
        Forward::Diverged => "#c62828",
        Forward::NotReplayed => "#eeeeee",
    };
    let cert = |s: &StepAudit| match s.certificate {
        Some(StepCertificate::Unique) => "#1565c0",
        Some(StepCertificate::Ambiguous { .. }) => "#ef6c00",
        Some(StepCertificate::Unknown(_)) => "#9e9e9e",
        None => "#ffffff",
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"200\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{X0}\" y=\"18\" font-size=\"14\">Audit of a training log: one strip per step ({} steps{})</text>\n\
         <text x=\"10\" y=\"52\">forward</text><text x=\"10\" y=\"92\">certificate</text>\n",
        X0 + W + 20.0,
        r.steps.len(),
        r.first_divergence.as_ref().map_or(", verified".into(), |d| format!(", first divergence at epoch {} step {}", d.epoch, d.step)),
    );
    // Up to 400 steps each strip is drawn apart, with a white gap; beyond, runs of one colour
    // are merged, since a strip would be narrower than a pixel.
    let apart = r.steps.len() <= 400;
    let bands: [(f64, Colour); 2] = [(32.0, &forward), (72.0, &cert)];
    for (y, colour) in bands {
        let mut start = 0;
        for i in 1..=r.steps.len() {
            if apart || i == r.steps.len() || colour(&r.steps[i]) != colour(&r.steps[start]) {
                let gap = if apart { 0.2 * W / t } else { 0.0 };
                svg += &format!(
                    "<rect x=\"{:.2}\" y=\"{y}\" width=\"{:.2}\" height=\"30\" fill=\"{}\"/>\n",
                    X0 + W * start as f64 / t,
                    W * (i - start) as f64 / t - gap,
                    colour(&r.steps[start])
                );
                start = i;
            }
        }
    }
    let last = r.steps.last().map_or(0, |s| s.index + 1);
    let first = r.steps.first().map_or(0, |s| s.index + 1);
    svg += &format!(
        "<text x=\"{X0}\" y=\"118\">{first}</text><text x=\"{}\" y=\"118\" text-anchor=\"end\">{last}</text>\n\
         <text x=\"{}\" y=\"118\" text-anchor=\"middle\">step (position in the log)</text>\n",
        X0 + W,
        X0 + W / 2.0
    );
    svg + &legend(X0) + "</svg>\n"
}

/// The figure's legend: every colour of both bands.
fn legend(x0: f64) -> String {
    let mut svg = String::new();
    let legend = [
        ("#2e7d32", "verified"),
        ("#9ccc65", "within tolerance"),
        ("#a5d6a7", "unchecked"),
        ("#c62828", "diverged"),
        ("#eeeeee", "not replayed"),
        ("#1565c0", "unique"),
        ("#ef6c00", "ambiguous"),
        ("#9e9e9e", "unknown"),
        ("#ffffff", "not certified"),
    ];
    for (i, (c, name)) in legend.iter().enumerate() {
        let (x, y) = (x0 + 130.0 * (i % 5) as f64, 140.0 + 22.0 * (i / 5) as f64);
        svg += &format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{c}\" stroke=\"#555\" stroke-width=\"0.5\"/><text x=\"{}\" y=\"{}\">{name}</text>\n",
            y - 11.0,
            x + 20.0,
            y
        );
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(tolerance: u64) -> AuditOptions {
        AuditOptions {
            certify: None,
            tolerance,
            shard: None,
            max_iterations: 100,
            backward: true,
        }
    }

    #[test]
    fn a_replay_is_compared_bit_for_bit_or_within_the_tolerance() {
        let next = [10, -4, 7];
        let same = compare(&next, Logged::Model(&[10, -4, 7]), &opts(0));
        assert_eq!(
            (same.0, same.1, same.2),
            (Forward::Verified, Some(0), Some(0))
        );
        let off = compare(&next, Logged::Model(&[10, -2, 8]), &opts(0));
        assert_eq!((off.0, off.1, off.2), (Forward::Diverged, Some(2), Some(2)));
        let near = compare(&next, Logged::Model(&[10, -2, 8]), &opts(2));
        assert_eq!(near.0, Forward::WithinTolerance);
        assert_eq!(near.3, Some(&[10, -2, 8][..]));
        let h = model_sha256(&next);
        assert_eq!(
            compare(&next, Logged::Hash(&h), &opts(5)).0,
            Forward::Verified
        );
        let other = model_sha256(&[10, -4, 8]);
        // A hash has no distance: any difference diverges, whatever the tolerance.
        assert_eq!(
            compare(&next, Logged::Hash(&other), &opts(5)).0,
            Forward::Diverged
        );
        assert_eq!(
            compare(&next, Logged::Nothing, &opts(0)).0,
            Forward::Unchecked
        );
    }

    #[test]
    fn distances_of_extreme_models_do_not_overflow() {
        let d = compare(&[i64::MAX], Logged::Model(&[i64::MIN]), &opts(0));
        assert_eq!(d.1, Some(u64::MAX));
    }
}
