//! The whole pipeline of `rewind verify`: resolve the configuration (data, model, α), run
//! Algorithm 1, invert every step, walk back from the final model with hints, and report.
//!
//! This is Theorem 2.2 checked on a real run: the report says whether W₁,₁ came back bit for
//! bit, how many steps needed hints (the grid's many-to-one steps) and what they cost, beside
//! the predicted share 1 − det(I − αH_B).

use crate::model::{AnyModel, Model};
use crate::pipeline::config::Setup;
use crate::pipeline::report::{
    model_sha256, CertificationReport, CodeReport, ConfigReport, DiscrepancyReport,
    EpochCodeReport, HintReport, InversionReport, ReconstructionReport, RunReport, SideInformation,
    SmoothnessReport, VerifyReport, FORMAT,
};
use crate::progress::{NoProgress, Phase, Progress};
use crate::sgd::{run, BackendChoice, NoObserver, Observer, StepFunction, Trajectory};
use crate::steps::certify::{certify, Certificate, Enumerated, UnknownReason};
use crate::steps::codec::entropy::{decode, encode, CodeOptions, EpochCost, RunShape};
use crate::steps::discrepancy::{beta_leading, discrepancy, EpochDiscrepancy};
use crate::steps::invert::{Outcome, Termination};
use crate::steps::many_to_one::{predicted_many_to_one, prediction_skipped};
use crate::steps::reconstruct::{analyse, hints_of, rewind};
use crate::Error;

/// A run in which no step changed the model measured nothing.
pub(crate) fn run_warnings(setup: &Setup, traj: &Trajectory) -> Vec<String> {
    let moved = (0..traj.steps.len())
        .filter(|&k| traj.steps[k].w != traj.model_after(k))
        .count();
    if traj.steps.is_empty() || moved > 0 {
        return Vec::new();
    }
    vec![format!(
        "none of the {} steps moved the model: every α·gradient rounds to 0 at --frac-bits {}; raise --frac-bits or the step size",
        traj.steps.len(),
        setup.config.frac_bits
    )]
}

/// One epoch's code beside ⌈log₂ n!⌉ and b·ρ of that epoch (`d`), for SGD and SGD′ alike. The
/// discrepancy saving counts only the batches' digits: the hints and, for SGD′, the T_{i,j} and z
/// terms are left out of the code length it compares.
pub(crate) fn epoch_code_report(
    e: &EpochCost,
    d: Option<&EpochDiscrepancy>,
    b: f64,
) -> EpochCodeReport {
    let scaled = |v: fn(&EpochDiscrepancy) -> f64| d.map_or(0.0, |d| b * v(d));
    EpochCodeReport {
        epoch: e.epoch,
        baseline_bits: e.baseline_bits,
        bits: e.bits,
        hint_bits: e.hint_bits,
        header_bits: e.header_bits,
        saving_bits: e.baseline_bits as i64 - e.bits as i64,
        discrepancy_saving_bits: e.baseline_bits as i64
            - (e.bits as i64
                - e.hint_bits as i64
                - e.gd_steps_bits as i64
                - e.perturbation_bits as i64),
        tilt: format!("{}/{}", e.tilt.0, e.tilt.1),
        b_rho_code: scaled(|d| d.rho_code),
        b_rho_paper: scaled(|d| d.rho_paper),
        b_excess_code: scaled(|d| d.rho_code - d.null_rho_code),
    }
}

/// Runs the whole verification and returns the report and the trajectory.
pub fn verify(
    setup: &Setup,
    observer: &mut dyn Observer,
) -> Result<(VerifyReport, Trajectory), Error> {
    let run = verify_run(setup, observer, &NoProgress)?;
    Ok((run.report, run.trajectory))
}

/// Everything a verification produced.
#[derive(Debug, Clone)]
pub struct VerifiedRun {
    /// The report, as `rewind verify --json` prints it.
    pub report: VerifyReport,
    /// Every model, batch and permutation of the run.
    pub trajectory: Trajectory,
    /// What inverting each logged step gave, in run order (absent when `invert` is off).
    pub records: Option<Vec<crate::steps::codec::hint::StepRecord>>,
    /// Each step's certificate, in run order (present with `certify`).
    pub certificates: Option<Vec<Certificate>>,
}

/// [`verify`], reporting each phase to `progress` and keeping the inversion records.
pub fn verify_run(
    setup: &Setup,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<VerifiedRun, Error> {
    let f = setup.step_function().with_progress(progress);
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), observer)?;
    let inverted = if setup.config.invert {
        Some(invert_all(setup, &f, &traj)?)
    } else {
        None
    };
    let records = inverted.as_ref().map(|i| i.records.as_slice());
    let (certification, certificates) = match (setup.config.certify, records) {
        (Some(budget), Some(r)) => {
            let (report, certs) = certify_steps(&f, &traj, r, budget)?;
            (Some(report), Some(certs))
        }
        _ => (None, None),
    };
    let correct = correctness(&f, &traj)?;
    let discrepancy = discrepancy_report(setup, &traj, &correct);
    let code = match (setup.config.code, records) {
        (true, Some(r)) => Some(code_report(setup, &f, &traj, r, &discrepancy.epochs)?),
        _ => None,
    };
    let side_information = inverted
        .as_ref()
        .map(|i| SideInformation::new(i.hints.bits, f.dim()));
    let acc = |k: usize| correct[k].iter().filter(|&&c| c).count() as f64 / setup.data.n() as f64;
    let report = VerifyReport {
        format: FORMAT,
        config: config_report(setup),
        run: RunReport {
            epochs_run: traj.permutations.len(),
            stopped_at_full_accuracy: traj.stopped_at.is_some(),
            initial_accuracy: acc(0),
            final_accuracy: acc(traj.steps.len()),
            final_model_sha256: model_sha256(&traj.final_model),
        },
        steps: traj.steps.len(),
        inversion: inverted.as_ref().map(|i| i.inversion.clone()),
        hints: inverted.as_ref().map(|i| i.hints.clone()),
        reconstruction: inverted.as_ref().map(|i| i.reconstruction.clone()),
        side_information: side_information.clone(),
        certification,
        discrepancy,
        code,
        algorithm: None,
        perturbation: None,
        gd_steps: None,
        momentum: None,
        warnings: setup
            .warnings
            .iter()
            .cloned()
            .chain(run_warnings(setup, &traj))
            .chain(side_information.and_then(|s| s.warning()))
            .collect(),
    };
    Ok(VerifiedRun {
        report,
        trajectory: traj,
        records: inverted.map(|i| i.records),
        certificates,
    })
}

/// The header of [`steps_csv`].
pub const STEPS_CSV_HEADER: &str = "epoch,step,outcome,iterations,hint_coordinates,hint_bits,certificate,certified_preimages,predicted_one_minus_det,fit_score\n";

/// One row per logged step of a verified run, for a table reader: where the inversion ended,
/// what its hint costs (⌈·⌉ bits of that hint alone, docs/design.md §4.2), the certificate and
/// the step's 1 − det(I − αH_B). A cell is empty (null to pandas) where the value was not
/// computed: no inversion, no `certify`, no prediction for the model, and the fit score, which
/// this version does not compute per step.
pub fn steps_csv(setup: &Setup, run: &VerifiedRun) -> String {
    let f = setup.step_function();
    let shares = crate::steps::many_to_one::step_shares(&f, &run.trajectory);
    let mut out = String::from(STEPS_CSV_HEADER);
    for (k, s) in run.trajectory.steps.iter().enumerate() {
        let rec = run.records.as_ref().and_then(|r| r.get(k));
        let cert = run.certificates.as_ref().and_then(|c| c.get(k));
        let (cert_name, preimages) = match cert {
            None => (String::new(), String::new()),
            Some(Certificate::Unique) => ("unique".into(), "1".into()),
            Some(Certificate::Ambiguous { preimages, .. }) => {
                ("ambiguous".into(), preimages.to_string())
            }
            Some(Certificate::Unknown(_)) => ("unknown".into(), String::new()),
        };
        let hint = rec.map(|r| r.hint.as_ref());
        out += &format!(
            "{},{},{},{},{},{},{},{},{},\n",
            s.epoch,
            s.step,
            rec.map_or(String::new(), |r| r.outcome.name().to_string()),
            rec.map_or(String::new(), |r| r.iterations.to_string()),
            hint.map_or(String::new(), |h| h.map_or(0, |h| h.len()).to_string()),
            hint.map_or(String::new(), |h| h
                .map_or(0, |h| h.bits(f.dim()))
                .to_string()),
            cert_name,
            preimages,
            shares
                .as_ref()
                .and_then(|v| v[k])
                .map_or(String::new(), |v| format!("{v:.6e}")),
        );
    }
    out
}

/// Every step inverted, the hints derived and the walk back checked.
struct Inverted {
    records: Vec<crate::steps::codec::hint::StepRecord>,
    inversion: InversionReport,
    hints: HintReport,
    reconstruction: ReconstructionReport,
}

fn invert_all(setup: &Setup, f: &StepFunction, traj: &Trajectory) -> Result<Inverted, Error> {
    let (own_before, predictor_before) = (f.own_evaluations(), f.predictor_evaluations());
    let max_it = setup.config.max_iterations;
    let records = analyse(f, traj, max_it)?;
    let hints = hints_of(&records);
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let models = rewind(f, &traj.final_model, &batches, &hints, max_it)?;
    let own = f.own_evaluations() - own_before;
    let predictor = f.predictor_evaluations() - predictor_before;
    let steps = traj.steps.len();
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count();
    let hinted = hints.hints.len();
    let inversion = InversionReport {
        recovered: count(Outcome::Recovered),
        other_preimage: count(Outcome::OtherPreimage),
        no_preimage: count(Outcome::NoPreimage),
        cycles: records
            .iter()
            .filter(|r| matches!(r.termination, Termination::Cycle { .. }))
            .count(),
        caps: records
            .iter()
            .filter(|r| r.termination == Termination::Cap)
            .count(),
        mean_iterations: mean(records.iter().map(|r| r.iterations as f64)),
        gradient_evaluations: own + predictor,
        own_backend_evaluations: own,
        predictor_evaluations: predictor,
        predicted_many_to_one: predicted_many_to_one(f, traj),
        predicted_many_to_one_skipped: prediction_skipped(f),
        observed_many_to_one: if steps == 0 {
            0.0
        } else {
            hinted as f64 / steps as f64
        },
    };
    let hint_report = HintReport {
        steps: hinted,
        bits: hints.bits(steps, f.dim()),
        coding: "count and subset rank of hinted steps; per hint nnz−1, positions as a subset rank, values as sign + Elias-γ".into(),
    };
    let reconstruction = ReconstructionReport {
        initial_model_bit_exact: models
            .first()
            .map_or(traj.steps.is_empty(), |m| m == traj.initial_model()),
        all_models_bit_exact: models.iter().zip(&traj.steps).all(|(m, s)| *m == s.w),
        final_model_sha256: model_sha256(&traj.final_model),
        initial_model_sha256: model_sha256(traj.initial_model()),
    };
    Ok(Inverted {
        records,
        inversion,
        hints: hint_report,
        reconstruction,
    })
}

/// Runs the verification without observing the run.
pub fn verify_quiet(setup: &Setup) -> Result<(VerifyReport, Trajectory), Error> {
    verify(setup, &mut NoObserver)
}

pub(crate) fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

pub(crate) fn config_report(s: &Setup) -> ConfigReport {
    let c = &s.config;
    let is_mlp = matches!(s.model, AnyModel::Mlp(_));
    ConfigReport {
        data: s.data.source.clone(),
        model: s.model.name().into(),
        hidden: is_mlp.then_some(c.hidden),
        activation: is_mlp.then(|| c.activation.name().to_string()),
        backend: c.backend.name().into(),
        mpfr_precision: match c.backend {
            BackendChoice::Mpfr { precision } => Some(precision),
            _ => None,
        },
        frac_bits: c.frac_bits,
        alpha: s.alpha.to_string(),
        alpha_num: s.alpha.num(),
        alpha_den: 1u64 << s.alpha.shift(),
        q: s.q(),
        q_inf: s.q_inf(),
        smoothness: SmoothnessReport {
            certified: s.smoothness.is_certified(),
            value: s.smoothness.to_f64(),
            how: s.smoothness.how().to_string(),
        },
        batch: c.batch,
        epochs: c.epochs,
        seed: c.seed,
        n: s.data.n(),
        n_loaded: s.n_loaded,
        features: s.data.d(),
        d: s.model.dim(),
        classes: s.data.class_names.clone(),
        random_labels: c.random_labels,
        stop_at_full_accuracy: c.stop_at_full_accuracy,
        max_iterations: c.max_iterations,
    }
}

/// Certifies every logged step (in parallel; the result does not depend on the thread count)
/// and checks the certificates against what the inverter found.
pub(crate) fn certify_all(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[crate::steps::codec::hint::StepRecord],
    budget: u64,
) -> Result<CertificationReport, Error> {
    certify_steps(f, traj, records, budget).map(|(report, _)| report)
}

/// [`certify_all`], keeping each step's certificate in run order.
fn certify_steps(
    f: &StepFunction,
    traj: &Trajectory,
    records: &[crate::steps::codec::hint::StepRecord],
    budget: u64,
) -> Result<(CertificationReport, Vec<Certificate>), Error> {
    use rayon::prelude::*;
    f.progress().begin(Phase::Certify, traj.steps.len() as u64);
    let results: Vec<(Certificate, Enumerated)> = (0..traj.steps.len())
        .into_par_iter()
        .map(|k| {
            let s = &traj.steps[k];
            let certified = certify(f, traj.model_after(k), &s.batch, &s.w, budget);
            f.progress().advance(1);
            certified
        })
        .collect::<Result<_, _>>()?;
    for (k, ((cert, _), rec)) in results.iter().zip(records).enumerate() {
        let contradiction = match cert {
            Certificate::Unique => rec.outcome == Outcome::OtherPreimage,
            Certificate::Ambiguous {
                index_of_logged, ..
            } => *index_of_logged == usize::MAX,
            Certificate::Unknown(_) => false,
        };
        if contradiction {
            return Err(Error::Internal(format!(
                "the certificate of step {} contradicts the inverter's preimage: a bound is wrong",
                k + 1
            )));
        }
    }
    let count =
        |pred: &dyn Fn(&Certificate) -> bool| results.iter().filter(|(c, _)| pred(c)).count();
    let reason =
        |r: fn(&UnknownReason) -> bool| count(&|c| matches!(c, Certificate::Unknown(u) if r(u)));
    let free: Vec<usize> = results
        .iter()
        .filter_map(|(_, e)| e.result.as_ref().ok().map(|en| en.free))
        .collect();
    let report = CertificationReport {
        unique: count(&|c| *c == Certificate::Unique),
        ambiguous: count(&|c| matches!(c, Certificate::Ambiguous { .. })),
        unknown: count(&|c| matches!(c, Certificate::Unknown(_))),
        unknown_non_contractive: reason(|u| {
            matches!(u, UnknownReason::NonContractiveInfNorm { .. })
        }),
        unknown_budget: reason(|u| matches!(u, UnknownReason::Budget { .. })),
        unknown_no_certified_bound: reason(|u| matches!(u, UnknownReason::NoCertifiedBound)),
        unknown_radius_too_large: reason(|u| matches!(u, UnknownReason::RadiusTooLarge { .. })),
        optimal_hint_bits: results.iter().map(|(c, _)| c.optimal_hint_bits()).sum(),
        gradient_evaluations: results.iter().map(|(_, e)| e.evaluations).sum(),
        budget,
        mean_free_coordinates: mean(free.iter().map(|&v| v as f64)),
        max_free_coordinates: free.iter().copied().max().unwrap_or(0),
        max_preimages: results
            .iter()
            .filter_map(|(_, e)| e.result.as_ref().ok().map(|en| en.preimages.len()))
            .max()
            .unwrap_or(0),
        evaluation_error: evaluation_error_note(f.backend()),
    };
    Ok((report, results.into_iter().map(|(c, _)| c).collect()))
}

fn evaluation_error_note(b: BackendChoice) -> String {
    match b {
        BackendChoice::Exact => "exact: no evaluation error".into(),
        BackendChoice::Mpfr { precision } => format!(
            "mpfr: forward-error bound with unit roundoff 2^-{precision}, propagated through the gradient"
        ),
        BackendChoice::F64 => {
            "f64: forward-error bound with unit roundoff 2^-53 (libm exp within 2u), propagated through the gradient".into()
        }
    }
}

/// `correct[k][x]` = acc(model k, x) for every model of the run (k = 0 is W₁,₁, the last the
/// final model), computed in parallel.
pub fn correctness(f: &StepFunction, traj: &Trajectory) -> Result<Vec<Vec<bool>>, Error> {
    use rayon::prelude::*;
    let all: Vec<usize> = (0..f.data().n()).collect();
    let steps = traj.steps.len();
    // The stop check already evaluated every model before its step; only the rest is computed.
    let known = if traj.correct.len() == steps {
        traj.correct.len()
    } else {
        0
    };
    let rest: Vec<Vec<bool>> = (known..=steps)
        .into_par_iter()
        .map(|k| {
            let w = if k == steps {
                &traj.final_model
            } else {
                &traj.steps[k].w
            };
            f.correct_many(w, &all)
        })
        .collect::<Result<_, _>>()?;
    Ok(traj.correct[..known].iter().cloned().chain(rest).collect())
}

/// The per-epoch discrepancy and its null model.
pub(crate) fn discrepancy_report(
    setup: &Setup,
    traj: &Trajectory,
    correct: &[Vec<bool>],
) -> DiscrepancyReport {
    let b = setup.config.batch;
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let epoch_of: Vec<usize> = traj.steps.iter().map(|s| s.epoch).collect();
    let j_of: Vec<usize> = traj.steps.iter().map(|s| s.step).collect();
    let n = setup.data.n();
    let (_, epochs) = discrepancy(correct, &batches, &epoch_of, &j_of, n / b);
    let tails = (!batches.is_empty()).then(|| {
        crate::steps::tails::permutation_tails(
            correct,
            &batches,
            &epoch_of,
            crate::steps::tails::DRAWS,
            setup.config.seed,
        )
    });
    DiscrepancyReport {
        beta_leading: beta_leading(n, b),
        epochs,
        tails,
    }
}

/// log₂ n + 2: an epoch's discrepancy saving is at most its tilt's log-likelihood ratio against
/// the hypergeometric null, minus the 3 header bits, plus 2 bits of rounding (two ceilings);
/// the ratio reaches c + 3 bits with probability at most 2^-(c+3) for each of the 8 tilts, so
/// the saving reaches c + 2 bits with probability at most 2^-c. With c = log₂ n: at most 1/n.
pub fn saving_threshold_bits(n: usize) -> f64 {
    (n.max(1) as f64).log2() + 2.0
}

/// Encodes the run, decodes it from the final model alone and compares.
fn code_report(
    setup: &Setup,
    f: &StepFunction,
    traj: &Trajectory,
    records: &[crate::steps::codec::hint::StepRecord],
    rho: &[EpochDiscrepancy],
) -> Result<CodeReport, Error> {
    let b = setup.config.batch as f64;
    let shape = RunShape::of(traj, setup.data.n(), setup.config.batch);
    let opts = CodeOptions {
        certify: setup.config.certify.map(crate::steps::certify::certifier),
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode(f, traj, records, shape, opts)?;
    let dec = decode(f, &traj.final_model, shape, &enc.code, opts)?;
    let roundtrip = dec.permutations == traj.permutations
        && dec
            .batches
            .iter()
            .zip(&traj.steps)
            .all(|(b, s)| *b == s.batch)
        && dec.models.iter().zip(&traj.steps).all(|(m, s)| *m == s.w)
        && dec.models.len() == traj.steps.len();
    let epochs = enc
        .epochs
        .iter()
        .map(|e| epoch_code_report(e, rho.get(e.epoch - 1), b))
        .collect::<Vec<_>>();
    Ok(CodeReport {
        roundtrip_bit_exact: roundtrip,
        total_bits: enc.code.bits,
        run_header_bits: enc.run_header_bits,
        baseline_total_bits: epochs.iter().map(|e| e.baseline_bits).sum(),
        certified_hints: opts.certify.is_some(),
        saving_threshold_bits: saving_threshold_bits(setup.data.n()),
        epochs,
    })
}
