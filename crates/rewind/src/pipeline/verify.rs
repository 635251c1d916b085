//! The whole pipeline of `rewind verify`: resolve the configuration (data, model, α), run
//! Algorithm 1, invert every step, walk back from the final model with hints, and report.
//!
//! This is Theorem 2.2 checked on a real run: the report says whether W₁,₁ came back bit for
//! bit, how many steps needed hints (the grid's many-to-one steps) and what they cost, beside
//! the predicted share 1 − det(I − αH_B).

use crate::model::AnyModel;
use crate::pipeline::config::Setup;
use crate::pipeline::report::{
    model_sha256, CertificationReport, CodeReport, ConfigReport, DiscrepancyReport,
    EpochCodeReport, HintReport, InversionReport, ReconstructionReport, RunReport, SideInformation,
    SmoothnessReport, VerifyReport, FORMAT,
};
use crate::pipeline::stepwise::{
    trajectory as stepwise_trajectory, walk_back, CertSummary, Gathered, Stepwise,
};
use crate::progress::{NoProgress, Phase, Progress};
use crate::sgd::{
    run_streamed, BackendChoice, NoObserver, Observer, Plain, RunEnd, StepFunction, Trajectory,
};
use crate::steps::certify::{certify, Certificate, UnknownReason};
use crate::steps::codec::entropy::{decode, encode, CodeOptions, EpochCost, RunShape};
use crate::steps::codec::hint::HintSet;
use crate::steps::discrepancy::{beta_leading, discrepancy, Discrepancies, EpochDiscrepancy};
use crate::steps::invert::{Outcome, Termination};
use crate::steps::many_to_one::{mean_share, prediction_skipped};
use crate::steps::tails::TailsInput;
use crate::Error;

/// A run in which no step changed the model measured nothing.
pub(crate) fn run_warnings(setup: &Setup, traj: &Trajectory) -> Vec<String> {
    let moved = (0..traj.steps.len())
        .filter(|&k| traj.steps[k].w != traj.model_after(k))
        .count();
    no_move_warning(setup, traj.steps.len(), moved)
        .into_iter()
        .collect()
}

/// The warning of a run of `steps` steps of which `moved` changed the model.
fn no_move_warning(setup: &Setup, steps: usize, moved: usize) -> Option<String> {
    (steps > 0 && moved == 0).then(|| format!(
        "none of the {steps} steps moved the model: every α·gradient rounds to 0 at --frac-bits {}; raise --frac-bits or the step size",
        setup.config.frac_bits
    ))
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
    let done = execute(setup, observer, progress, true, None)?;
    let trajectory = done
        .trajectory
        .ok_or_else(|| Error::Internal("a kept run lost its steps".into()))?;
    Ok(VerifiedRun {
        report: done.report,
        trajectory,
        records: done.records,
        certificates: done.certificates,
    })
}

/// [`verify`] without keeping the run: each step is inverted and scored as it is taken and
/// only hashes, hints and the tails' bits stay (docs/design.md §7.5), so memory stays near
/// O(d + n) whatever the run's length. The report is the one [`verify_run`] gives, byte for
/// byte. With the code asked for, the steps are kept anyway: the encoder reads them all.
/// `checkpoint_every` keeps every K-th model, and the walk back runs its segments in parallel.
pub fn verify_streamed(
    setup: &Setup,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
    checkpoint_every: Option<usize>,
) -> Result<VerifyReport, Error> {
    Ok(execute(
        setup,
        observer,
        progress,
        setup.config.code,
        checkpoint_every,
    )?
    .report)
}

/// A finished verification, with the run itself when it was kept.
struct Done {
    report: VerifyReport,
    trajectory: Option<Trajectory>,
    records: Option<Vec<crate::steps::codec::hint::StepRecord>>,
    certificates: Option<Vec<Certificate>>,
}

/// The one verification pipeline: run with every step processed as it comes
/// ([`Stepwise`]), walk back, and report.
fn execute(
    setup: &Setup,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
    keep_steps: bool,
    checkpoint_every: Option<usize>,
) -> Result<Done, Error> {
    let f = setup.step_function().with_progress(progress);
    let mut stepwise = Stepwise::new(setup, &f, keep_steps, checkpoint_every);
    let end = run_streamed(
        &f,
        &setup.sgd_config(),
        setup.init.clone(),
        observer,
        &mut Plain(&f),
        &mut |step, before| stepwise.push(step, before),
    )?;
    stepwise.finish(&end)?;
    let mut g = stepwise.out;
    let (tails_input, epochs) = discrepancy_inputs(&mut g);
    // The tails read only what the run gathered, so they are drawn beside the walk back and the
    // code, which leave a core idle where they are serial; the values are the same either way.
    let seed = setup.config.seed;
    let stop = || progress.cancelled();
    let (tails, after) = rayon::join(
        move || tails_input.map(|t| t.tails_unless(crate::steps::tails::DRAWS, seed, &stop)),
        || after_run(setup, &f, &mut g, &end, keep_steps, &epochs),
    );
    let After {
        inverted,
        certification,
        trajectory,
        code,
    } = after?;
    let tails = match tails {
        Some(None) => return Err(Error::Interrupted),
        Some(Some(t)) => Some(t),
        None => None,
    };
    let discrepancy = DiscrepancyReport {
        beta_leading: beta_leading(setup.data.n(), setup.config.batch),
        epochs,
        tails,
    };
    let report = assemble(setup, &g, &end, inverted, certification, discrepancy, code);
    let certificates = (setup.config.certify.is_some() && setup.config.invert).then(|| {
        g.certificates
            .iter()
            .map(|c| c.certificate.clone())
            .collect()
    });
    Ok(Done {
        report,
        trajectory,
        records: setup.config.invert.then_some(g.records),
        certificates,
    })
}

/// What the verification computes from a finished run, the tails apart.
struct After {
    inverted: Option<Inverted>,
    certification: Option<CertificationReport>,
    trajectory: Option<Trajectory>,
    code: Option<CodeReport>,
}

/// The walk back, the certification summary and the code of a finished run.
fn after_run(
    setup: &Setup,
    f: &StepFunction,
    g: &mut Gathered,
    end: &RunEnd,
    keep_steps: bool,
    epochs: &[EpochDiscrepancy],
) -> Result<After, Error> {
    let inverted = match setup.config.invert {
        true => Some(inversion_parts(setup, f, g, end)?),
        false => None,
    };
    let certification = match (setup.config.certify, &inverted) {
        (Some(budget), Some(_)) => Some(certification_report(
            &g.certificates,
            &g.records,
            budget,
            f.backend(),
        )?),
        _ => None,
    };
    let trajectory = keep_steps.then(|| stepwise_trajectory(g, end));
    let code = match (setup.config.code, &inverted, &trajectory) {
        (true, Some(_), Some(traj)) => Some(code_report(setup, f, traj, &g.records, epochs)?),
        _ => None,
    };
    Ok(After {
        inverted,
        certification,
        trajectory,
        code,
    })
}

/// The per-epoch discrepancies of the run, and what its tails read (none for a run without
/// steps).
fn discrepancy_inputs(g: &mut Gathered) -> (Option<TailsInput>, Vec<EpochDiscrepancy>) {
    let (_, epochs) = std::mem::replace(&mut g.discrepancies, Discrepancies::new(0)).finish();
    let tails = (!g.hashes.is_empty()).then(|| std::mem::take(&mut g.tails));
    (tails, epochs)
}

/// The report of a plain SGD run from its sections.
fn assemble(
    setup: &Setup,
    g: &Gathered,
    end: &RunEnd,
    inverted: Option<Inverted>,
    certification: Option<CertificationReport>,
    discrepancy: DiscrepancyReport,
    code: Option<CodeReport>,
) -> VerifyReport {
    let steps = g.hashes.len();
    let side_information = inverted
        .as_ref()
        .map(|i| SideInformation::new(i.hints.bits, setup.model.dim()));
    let n = setup.data.n() as f64;
    let acc = |c: &Option<Vec<bool>>| {
        c.as_ref()
            .map_or(0.0, |c| c.iter().filter(|&&x| x).count() as f64 / n)
    };
    let warnings = setup
        .warnings
        .iter()
        .cloned()
        .chain(no_move_warning(setup, steps, g.moved))
        .chain(side_information.as_ref().and_then(|s| s.warning()))
        .collect();
    let (inversion, hints, reconstruction) = match inverted {
        Some(i) => (Some(i.inversion), Some(i.hints), Some(i.reconstruction)),
        None => (None, None, None),
    };
    VerifyReport {
        format: FORMAT,
        config: config_report(setup),
        run: RunReport {
            epochs_run: end.permutations.len(),
            stopped_at_full_accuracy: end.stopped_at.is_some(),
            initial_accuracy: acc(&g.initial_correct),
            final_accuracy: acc(&g.final_correct),
            final_model_sha256: model_sha256(&end.final_model),
        },
        steps,
        inversion,
        hints,
        reconstruction,
        side_information,
        certification,
        discrepancy,
        code,
        algorithm: None,
        perturbation: None,
        gd_steps: None,
        momentum: None,
        warnings,
    }
}

/// The header of [`steps_csv`].
pub const STEPS_CSV_HEADER: &str = "epoch,step,outcome,iterations,hint_coordinates,hint_bits,certificate,certified_preimages,predicted_one_minus_det,fit_score\n";

/// One row per logged step of a verified run, for a table reader: where the inversion ended,
/// what its hint costs (⌈·⌉ bits of that hint alone, docs/design.md §4.2), the certificate and
/// the step's 1 − det(I − αH_B). A cell is empty (null to pandas) where the value was not
/// computed: no inversion, no `certify`, no prediction for the model, and the fit score, which
/// this version does not compute per step.
pub fn steps_csv(
    setup: &Setup,
    trajectory: &Trajectory,
    records: Option<&[crate::steps::codec::hint::StepRecord]>,
    certificates: Option<&[Certificate]>,
) -> String {
    let f = setup.step_function();
    let shares = crate::steps::many_to_one::step_shares(&f, trajectory);
    let mut out = String::from(STEPS_CSV_HEADER);
    for (k, s) in trajectory.steps.iter().enumerate() {
        let rec = records.and_then(|r| r.get(k));
        let cert = certificates.and_then(|c| c.get(k));
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

/// The inversion's three report sections.
struct Inverted {
    inversion: InversionReport,
    hints: HintReport,
    reconstruction: ReconstructionReport,
}

/// The hints derived from the gathered records, the walk back checked, and the counts.
fn inversion_parts(
    setup: &Setup,
    f: &StepFunction,
    g: &Gathered,
    end: &RunEnd,
) -> Result<Inverted, Error> {
    let records = &g.records;
    let (own_before, predictor_before) = (f.own_evaluations(), f.predictor_evaluations());
    let walked = walk_back(setup, f, g, end)?;
    let own = f.own_evaluations() - own_before + g.evaluations.0;
    let predictor = f.predictor_evaluations() - predictor_before + g.evaluations.1;
    let steps = records.len();
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o).count();
    let hinted = g.hints.len();
    let predicted = match prediction_skipped(f) {
        Some(_) => None,
        None => mean_share(g.shares.clone()),
    };
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
        predicted_many_to_one: predicted,
        predicted_many_to_one_skipped: prediction_skipped(f),
        observed_many_to_one: if steps == 0 {
            0.0
        } else {
            hinted as f64 / steps as f64
        },
    };
    let hint_report = HintReport {
        steps: hinted,
        bits: HintSet::header_bits(steps, hinted) + g.hint_bits,
        coding: "count and subset rank of hinted steps; per hint nnz−1, positions as a subset rank, values as sign + Elias-γ".into(),
    };
    let reconstruction = ReconstructionReport {
        initial_model_bit_exact: walked.initial_model_bit_exact,
        all_models_bit_exact: walked.all_models_bit_exact,
        final_model_sha256: model_sha256(&end.final_model),
        initial_model_sha256: model_sha256(g.initial.as_deref().unwrap_or(&end.final_model)),
    };
    Ok(Inverted {
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
    use rayon::prelude::*;
    f.progress().begin(Phase::Certify, traj.steps.len() as u64);
    let results: Vec<CertSummary> = (0..traj.steps.len())
        .into_par_iter()
        .map(|k| {
            let s = &traj.steps[k];
            let certified = certify(f, traj.model_after(k), &s.batch, &s.w, budget);
            f.progress().advance(1);
            certified.map(CertSummary::of)
        })
        .collect::<Result<_, _>>()?;
    certification_report(&results, records, budget, f.backend())
}

/// The certification section from each step's certificate, checked against what the inverter
/// found at the same step.
pub(crate) fn certification_report(
    results: &[CertSummary],
    records: &[crate::steps::codec::hint::StepRecord],
    budget: u64,
    backend: BackendChoice,
) -> Result<CertificationReport, Error> {
    for (k, (c, rec)) in results.iter().zip(records).enumerate() {
        let contradiction = match &c.certificate {
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
    let count = |pred: &dyn Fn(&Certificate) -> bool| {
        results.iter().filter(|c| pred(&c.certificate)).count()
    };
    let reason =
        |r: fn(&UnknownReason) -> bool| count(&|c| matches!(c, Certificate::Unknown(u) if r(u)));
    let free: Vec<usize> = results
        .iter()
        .filter_map(|c| c.enumerated.map(|(free, _)| free))
        .collect();
    Ok(CertificationReport {
        unique: count(&|c| *c == Certificate::Unique),
        ambiguous: count(&|c| matches!(c, Certificate::Ambiguous { .. })),
        unknown: count(&|c| matches!(c, Certificate::Unknown(_))),
        unknown_non_contractive: reason(|u| {
            matches!(u, UnknownReason::NonContractiveInfNorm { .. })
        }),
        unknown_budget: reason(|u| matches!(u, UnknownReason::Budget { .. })),
        unknown_no_certified_bound: reason(|u| matches!(u, UnknownReason::NoCertifiedBound)),
        unknown_radius_too_large: reason(|u| matches!(u, UnknownReason::RadiusTooLarge { .. })),
        optimal_hint_bits: results
            .iter()
            .map(|c| c.certificate.optimal_hint_bits())
            .sum(),
        gradient_evaluations: results.iter().map(|c| c.evaluations).sum(),
        budget,
        mean_free_coordinates: mean(free.iter().map(|&v| v as f64)),
        max_free_coordinates: free.iter().copied().max().unwrap_or(0),
        max_preimages: results
            .iter()
            .filter_map(|c| c.enumerated.map(|(_, p)| p))
            .max()
            .unwrap_or(0),
        evaluation_error: evaluation_error_note(backend),
    })
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
