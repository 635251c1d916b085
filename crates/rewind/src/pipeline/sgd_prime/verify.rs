//! `rewind verify --algorithm sgd-prime`: the run, its reversal, certificates and the Lemma 4.1
//! code, reported.

use super::*;

/// Everything a verification of SGD′ produced.
#[derive(Debug, Clone)]
pub struct VerifiedSgdPrime {
    /// The report, as `rewind verify --algorithm sgd-prime --json` prints it.
    pub report: crate::pipeline::report::VerifyReport,
    /// Every call, permutation and inner model of the run.
    pub run: SgdPrimeRun,
    /// Per call, what inverting each inner step gave (empty when `invert` is off).
    pub records: Vec<Vec<StepRecord>>,
}

/// `rewind verify --algorithm sgd-prime`: runs SGD′, inverts every inner step, walks back to
/// W₁,₁ with the hints and the z's alone, and reports (with the Lemma 4.1 code when `code` is
/// on).
pub fn verify(setup: &Setup, p: &SgdPrimeConfig) -> Result<VerifiedSgdPrime, Error> {
    let frac_bits = setup.data.grid.frac_bits();
    verify_unblamed(setup, p)
        .map_err(|e| super::algorithm::blame_perturbation(e, &p.perturbation, frac_bits))
}

fn verify_unblamed(setup: &Setup, p: &SgdPrimeConfig) -> Result<VerifiedSgdPrime, Error> {
    p.check_setup(setup)?;
    let f = setup.step_function();
    let c = &setup.config;
    let run = run(&f, &setup.sgd_config(), p, setup.init.clone())?;
    let outer = run.outer();
    let inverted = if c.invert {
        Some(invert_run(&f, &run, p, c.max_iterations)?)
    } else {
        None
    };
    let records = inverted
        .as_ref()
        .map(|i| i.records.clone())
        .unwrap_or_default();
    let certification = match (c.certify, &inverted) {
        (Some(budget), Some(_)) => Some(certify_run(&f, &run, &records, budget)?),
        _ => None,
    };
    let correct = crate::pipeline::verify::correctness(&f, &outer)?;
    let discrepancy = crate::pipeline::verify::discrepancy_report(setup, &outer, &correct);
    let mut algorithm = algorithm_report(&run, p);
    let code = match (c.code, &inverted) {
        (true, Some(_)) => {
            let (code, epochs) = code_report(setup, &f, &run, &records, p, &discrepancy.epochs)?;
            algorithm.code_epochs = epochs;
            Some(code)
        }
        _ => None,
    };
    let n = setup.data.n() as f64;
    let acc = |k: usize| correct[k].iter().filter(|&&c| c).count() as f64 / n;
    let mut warnings = setup.warnings.clone();
    if run.inner_steps() > 0 && !run.calls.iter().any(|c| c.inner.iter().any(|w| *w != c.w)) {
        warnings.extend(crate::pipeline::verify::run_warnings(setup, &run.inner(0)));
    }
    let report = crate::pipeline::report::VerifyReport {
        format: crate::pipeline::report::FORMAT,
        config: crate::pipeline::verify::config_report(setup),
        run: crate::pipeline::report::RunReport {
            epochs_run: run.permutations.len(),
            stopped_at_full_accuracy: run.stopped_at.is_some(),
            initial_accuracy: acc(0),
            final_accuracy: acc(run.calls.len()),
            final_model_sha256: model_sha256(&run.final_model),
        },
        steps: run.inner_steps(),
        inversion: inverted.as_ref().map(|i| i.inversion.clone()),
        hints: inverted.as_ref().map(|i| i.hints.clone()),
        reconstruction: inverted.as_ref().map(|i| i.reconstruction.clone()),
        side_information: None,
        certification,
        discrepancy,
        code,
        algorithm: Some(algorithm),
        perturbation: Some(perturbation_report(&run, &p.perturbation)),
        gd_steps: Some(gd_steps_report(
            &run,
            &records,
            p.max_gd_steps,
            setup.model.dim(),
        )),
        momentum: None,
        warnings,
    };
    Ok(VerifiedSgdPrime {
        report,
        run,
        records,
    })
}

/// Every inner step inverted, the hints derived and the walk back checked.
struct InvertedRun {
    records: Vec<Vec<StepRecord>>,
    inversion: InversionReport,
    hints: HintReport,
    reconstruction: ReconstructionReport,
}

fn invert_run(
    f: &StepFunction,
    run: &SgdPrimeRun,
    p: &SgdPrimeConfig,
    max_iterations: u32,
) -> Result<InvertedRun, Error> {
    let (own_before, predictor_before) = (f.own_evaluations(), f.predictor_evaluations());
    let records = analyse_run(f, run, max_iterations)?;
    let hints = hints_of_run(&records);
    let walked = rewind_run(
        f,
        &run.final_model,
        &call_shapes(run),
        &p.perturbation,
        &hints,
        max_iterations,
    )?;
    let own = f.own_evaluations() - own_before;
    let predictor = f.predictor_evaluations() - predictor_before;
    let flat: Vec<&StepRecord> = records.iter().flatten().collect();
    let steps = flat.len();
    let count = |o: Outcome| flat.iter().filter(|r| r.outcome == o).count();
    let (cycles, caps) = termination_counts(&records);
    let initial = run.calls.first().map_or(&run.final_model, |c| &c.w);
    let inner_flat = Trajectory {
        steps: (0..run.calls.len())
            .flat_map(|k| run.inner(k).steps)
            .collect(),
        final_model: run.final_model.clone(),
        permutations: Vec::new(),
        stopped_at: None,
        correct: Vec::new(),
    };
    let inversion = InversionReport {
        recovered: count(Outcome::Recovered),
        other_preimage: count(Outcome::OtherPreimage),
        no_preimage: count(Outcome::NoPreimage),
        cycles,
        caps,
        mean_iterations: crate::pipeline::verify::mean(flat.iter().map(|r| r.iterations as f64)),
        gradient_evaluations: own + predictor,
        own_backend_evaluations: own,
        predictor_evaluations: predictor,
        predicted_many_to_one: crate::steps::many_to_one::predicted_many_to_one(f, &inner_flat),
        predicted_many_to_one_skipped: crate::steps::many_to_one::prediction_skipped(f),
        observed_many_to_one: if steps == 0 {
            0.0
        } else {
            hints.hints.len() as f64 / steps as f64
        },
    };
    let hint_report = HintReport {
        steps: hints.hints.len(),
        bits: hints.bits(steps, f.dim()),
        coding: "over all inner GD steps: count and subset rank of hinted steps; per hint nnz−1, positions as a subset rank, values as sign + Elias-γ".into(),
    };
    let reconstruction = ReconstructionReport {
        initial_model_bit_exact: walked
            .first()
            .map_or(run.calls.is_empty(), |(w, _)| w == initial),
        all_models_bit_exact: walked
            .iter()
            .zip(&run.calls)
            .all(|((w, inner), c)| *w == c.w && *inner == c.inner),
        final_model_sha256: model_sha256(&run.final_model),
        initial_model_sha256: model_sha256(initial),
    };
    Ok(InvertedRun {
        records,
        inversion,
        hints: hint_report,
        reconstruction,
    })
}

/// Certifies every inner step (per call, with the crate's certifier) and adds up the counts.
fn certify_run(
    f: &StepFunction,
    run: &SgdPrimeRun,
    records: &[Vec<StepRecord>],
    budget: u64,
) -> Result<CertificationReport, Error> {
    let mut total: Option<CertificationReport> = None;
    let mut certified_steps = 0usize;
    for (k, recs) in records.iter().enumerate() {
        if recs.is_empty() {
            continue;
        }
        let r = crate::pipeline::verify::certify_all(f, &run.inner(k), recs, budget)?;
        let steps = recs.len();
        total = Some(match total {
            None => r,
            Some(t) => CertificationReport {
                unique: t.unique + r.unique,
                ambiguous: t.ambiguous + r.ambiguous,
                unknown: t.unknown + r.unknown,
                unknown_non_contractive: t.unknown_non_contractive + r.unknown_non_contractive,
                unknown_budget: t.unknown_budget + r.unknown_budget,
                unknown_no_certified_bound: t.unknown_no_certified_bound
                    + r.unknown_no_certified_bound,
                unknown_radius_too_large: t.unknown_radius_too_large + r.unknown_radius_too_large,
                optimal_hint_bits: t.optimal_hint_bits + r.optimal_hint_bits,
                gradient_evaluations: t.gradient_evaluations + r.gradient_evaluations,
                budget,
                // Weighted by steps: an approximation where some enumerations failed.
                mean_free_coordinates: (t.mean_free_coordinates * certified_steps as f64
                    + r.mean_free_coordinates * steps as f64)
                    / (certified_steps + steps) as f64,
                max_free_coordinates: t.max_free_coordinates.max(r.max_free_coordinates),
                max_preimages: t.max_preimages.max(r.max_preimages),
                evaluation_error: r.evaluation_error,
            },
        });
        certified_steps += steps;
    }
    match total {
        Some(t) => Ok(t),
        None => crate::pipeline::verify::certify_all(f, &run.outer(), &[], budget),
    }
}

/// The Section 4 part of the code for this run (the encoder's view when `known` is given).
pub fn gd_code<'a>(
    run: &SgdPrimeRun,
    p: &SgdPrimeConfig,
    known: Option<(&'a SgdPrimeRun, &'a [Vec<StepRecord>])>,
) -> GdCode<'a> {
    GdCode {
        perturbation: p.perturbation,
        max_gd_steps: p.max_gd_steps,
        inner_steps: run.inner_steps(),
        known: known.map(|(run, records)| {
            run.calls
                .iter()
                .zip(records)
                .map(|(c, r)| KnownCall {
                    z: &c.z,
                    inner: &c.inner,
                    records: r,
                })
                .collect()
        }),
    }
}

/// Encodes the run with the code of Lemma 4.1, decodes it from the final model alone and
/// compares; per epoch the code beside ⌈log₂ n!⌉ and the lemma's bound.
fn code_report(
    setup: &Setup,
    f: &StepFunction,
    run: &SgdPrimeRun,
    records: &[Vec<StepRecord>],
    p: &SgdPrimeConfig,
    rho: &[EpochDiscrepancy],
) -> Result<(CodeReport, Vec<Lemma41Epoch>), Error> {
    let outer = run.outer();
    let (n, b) = (setup.data.n(), setup.config.batch);
    let shape = RunShape::of(&outer, n, b);
    let opts = CodeOptions {
        certify: setup.config.certify.map(crate::steps::certify::certifier),
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode_gd(
        f,
        &outer,
        shape,
        opts,
        gd_code(run, p, Some((run, records))),
    )?;
    let dec = decode_gd(
        f,
        &run.final_model,
        shape,
        &enc.code,
        opts,
        gd_code(run, p, None),
    )?;
    let roundtrip = dec.permutations == run.permutations
        && dec.models.len() == run.calls.len()
        && run.calls.iter().enumerate().all(|(k, c)| {
            dec.batches[k] == c.batch
                && dec.models[k] == c.w
                && dec.gd_calls[k].z == c.z
                && dec.gd_calls[k].inner == c.inner
        });
    let nf = n as f64;
    let lemma_base = nf * (nf / std::f64::consts::E).log2() + beta_leading(n, b);
    let mut epochs = Vec::new();
    let mut lemma = Vec::new();
    for e in &enc.epochs {
        let d = rho.iter().find(|d| d.epoch == e.epoch);
        let report = crate::pipeline::verify::epoch_code_report(e, d, b as f64);
        let rp = report.b_rho_paper;
        epochs.push(report);
        lemma.push(Lemma41Epoch {
            epoch: e.epoch,
            bits: e.bits,
            baseline_bits: e.baseline_bits,
            lemma_bits: lemma_base - rp,
            gd_steps_bits: e.gd_steps_bits,
            perturbation_bits: e.perturbation_bits,
            hint_bits: e.hint_bits,
        });
    }
    let code = CodeReport {
        roundtrip_bit_exact: roundtrip,
        total_bits: enc.code.bits,
        run_header_bits: enc.run_header_bits,
        baseline_total_bits: epochs.iter().map(|e| e.baseline_bits).sum(),
        certified_hints: opts.certify.is_some(),
        saving_threshold_bits: crate::pipeline::verify::saving_threshold_bits(n),
        epochs,
    };
    Ok((code, lemma))
}
