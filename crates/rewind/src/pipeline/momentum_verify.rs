//! `rewind verify --optimizer momentum`: heavy-ball SGD run on the grid, its buffer coded with
//! the exact arithmetic coder, decoded, and the run walked back from the final (W, u) to
//! (W₁,₁, u₁) bit for bit (docs/design.md §2.9). The report puts the buffer's bits beside
//! d·log₂(1/β), the loss of nearest rounding, plain SGD's hint bits on the same run (Lemma 2.1's
//! route, docs/design.md §4.2) and the Lemma 3.1 code with the buffer counted against ⌈log₂ n!⌉.
//!
//! At β = 0 the optimizer is plain SGD: the run, and every report section, are those of
//! [`crate::pipeline::verify::verify_streamed`], with a `momentum` section beside them.

use crate::momentum::{
    buffer_bound_after, nearest_preimages, rewind, round_beta, Buffer, MomentumConfig, MomentumRun,
    NearestIndices, Rounding,
};
use crate::pipeline::config::Setup;
use crate::pipeline::report::{
    model_sha256, MomentumEpochReport, MomentumReport, ReconstructionReport, RunReport,
    VerifyReport, FORMAT,
};
use crate::pipeline::verify::{
    config_report, correctness, discrepancy_report, run_warnings, verify_streamed,
};
use crate::progress::{NoProgress, Progress};
use crate::sgd::{NoObserver, Observer, StepFunction, Trajectory};
use crate::steps::codec::coder::{ceil_log2_ratio, log2_big, Code, Decoder, Encoder, Product};
use crate::steps::codec::entropy::{encode, CodeOptions, RunShape};
use crate::steps::codec::hint::StepRecord;
use crate::steps::invert::{Outcome, Termination};
use crate::Error;
use num_bigint::BigUint;
use num_traits::{One, ToPrimitive};

/// Runs, codes, decodes and walks back a momentum run and reports it.
pub fn verify(
    setup: &Setup,
    m: &MomentumConfig,
    observer: &mut dyn Observer,
    progress: &dyn Progress,
) -> Result<VerifyReport, Error> {
    if m.beta.is_zero() {
        let mut report = verify_streamed(setup, observer, progress, None)?;
        report.momentum = Some(plain_section(&report, m));
        return Ok(report);
    }
    let f = setup.step_function().with_progress(progress);
    let run = crate::momentum::run(&f, &setup.sgd_config(), m, setup.init.clone(), observer)?;
    let traj = &run.trajectory;
    let coded = if setup.config.invert {
        Some(code_and_rewind(&f, m, &run)?)
    } else {
        None
    };
    let correct = correctness(&f, traj)?;
    let discrepancy = discrepancy_report(setup, traj, &correct);
    let batch_bits = if setup.config.code {
        Some(batch_code(setup, &f, traj)?)
    } else {
        None
    };
    let plain = if setup.config.invert {
        plain_hints(setup)?
    } else {
        None
    };
    let acc = |k: usize| correct[k].iter().filter(|&&c| c).count() as f64 / setup.data.n() as f64;
    let section = momentum_section(setup, m, &run, coded.as_ref(), batch_bits, plain);
    Ok(VerifyReport {
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
        inversion: None,
        hints: None,
        reconstruction: coded.as_ref().map(|c| ReconstructionReport {
            initial_model_bit_exact: c.initial_bit_exact,
            all_models_bit_exact: c.all_bit_exact,
            final_model_sha256: model_sha256(&traj.final_model),
            initial_model_sha256: model_sha256(traj.initial_model()),
        }),
        side_information: None,
        certification: None,
        discrepancy,
        code: None,
        algorithm: None,
        perturbation: None,
        gd_steps: None,
        momentum: Some(section),
        warnings: setup
            .warnings
            .iter()
            .cloned()
            .chain(run_warnings(setup, traj))
            .collect(),
    })
}

/// The buffer's code and what decoding it and walking back gave.
#[derive(Debug, Clone)]
pub struct CodedBuffer {
    /// The code of what β⊙ destroyed.
    pub code: Code,
    /// Per epoch, the buffer's share in bits.
    pub epoch_bits: Vec<u64>,
    /// Σ log₂ |preimage set| (nearest) or log₂(buffer + 1) (bits-back).
    pub content_bits: f64,
    /// The walk back returned (W₁,₁, u₁ = 0) bit for bit (and an empty buffer, for bits-back).
    pub initial_bit_exact: bool,
    /// Every (W, u) of the walk back equals the logged one.
    pub all_bit_exact: bool,
    /// u₁ = 0 came back (and the buffer emptied, for bits-back).
    pub velocity_bit_exact: bool,
    /// Nearest: steps with one preimage without the buffer, and the largest log₂ count.
    pub preimages: Option<(usize, f64)>,
}

/// Codes the buffer, decodes it from the code alone and walks back from the final state.
pub fn code_and_rewind(
    f: &StepFunction,
    m: &MomentumConfig,
    run: &MomentumRun,
) -> Result<CodedBuffer, Error> {
    let traj = &run.trajectory;
    let batches: Vec<Vec<usize>> = traj.steps.iter().map(|s| s.batch.clone()).collect();
    let (code, epoch_bits, content_bits, preimages, states, emptied) = match m.rounding {
        Rounding::Nearest => {
            let n = nearest_code(m, run);
            let mut dec = Decoder::new(&n.code);
            let mut read = NearestIndices(|size: u64| {
                let i = dec.pop_uniform(&BigUint::from(size)).map_err(code_error)?;
                i.to_u64()
                    .ok_or_else(|| code_error("an index beyond 64 bits"))
            });
            let states = rewind(
                f,
                m,
                &traj.final_model,
                &run.final_velocity,
                &batches,
                &mut read,
            )?;
            (
                n.code,
                n.epoch_bits,
                n.content_bits,
                Some(n.preimages),
                states,
                true,
            )
        }
        Rounding::BitsBack => {
            let (code, bound, epoch_bits) = bits_back_code(m, run, f.dim())?;
            let mut dec = Decoder::new(&code);
            let value = dec.pop_uniform(&bound).map_err(code_error)?;
            let mut buffer = Buffer::from_value(value);
            let states = rewind(
                f,
                m,
                &traj.final_model,
                &run.final_velocity,
                &batches,
                &mut buffer,
            )?;
            let content = log2_big(&(run.buffer.value() + 1u32));
            (code, epoch_bits, content, None, states, buffer.is_empty())
        }
    };
    let velocity_ok = emptied
        && states
            .first()
            .is_none_or(|(_, u)| Some(u) == run.velocities.first());
    let w_ok = states
        .first()
        .map_or(traj.steps.is_empty(), |(w, _)| w == traj.initial_model());
    let all = states.len() == traj.steps.len()
        && states
            .iter()
            .zip(traj.steps.iter().zip(&run.velocities))
            .all(|((w, u), (s, v))| *w == s.w && u == v);
    Ok(CodedBuffer {
        code,
        epoch_bits,
        content_bits,
        initial_bit_exact: w_ok && velocity_ok,
        all_bit_exact: all && emptied,
        velocity_bit_exact: velocity_ok,
        preimages,
    })
}

fn code_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("the momentum buffer did not decode: {e}"))
}

/// The nearest-rounding indices, coded in the order the walk back reads them.
struct NearestCode {
    code: Code,
    epoch_bits: Vec<u64>,
    content_bits: f64,
    preimages: (usize, f64),
}

fn nearest_code(m: &MomentumConfig, run: &MomentumRun) -> NearestCode {
    let traj = &run.trajectory;
    let mut enc = Encoder::new();
    let mut epochs: Vec<Product> = vec![Product::new(); traj.permutations.len()];
    let (mut content, mut unique, mut most) = (0.0, 0usize, 0.0f64);
    for k in (0..traj.steps.len()).rev() {
        let mut step_bits = 0.0;
        for &u in &run.velocities[k] {
            let (lo, size) = nearest_preimages(m.beta, round_beta(m.beta, u));
            if size > 1 {
                let index = (u as i128 - lo) as u64;
                enc.push_uniform(&BigUint::from(index), &BigUint::from(size));
                epochs[traj.steps[k].epoch - 1].mul(BigUint::from(size));
                step_bits += (size as f64).log2();
            }
        }
        content += step_bits;
        unique += (step_bits == 0.0) as usize;
        most = most.max(step_bits);
    }
    NearestCode {
        code: enc.finish(),
        epoch_bits: epochs
            .iter()
            .map(|p| ceil_log2_ratio(&p.value(), &BigUint::one()))
            .collect(),
        content_bits: content,
        preimages: (unique, most),
    }
}

/// The final buffer as one uniform digit below the bound every decoder can compute, and each
/// epoch's share (the growth of ⌈log₂ bound⌉ over its steps).
fn bits_back_code(
    m: &MomentumConfig,
    run: &MomentumRun,
    d: usize,
) -> Result<(Code, BigUint, Vec<u64>), Error> {
    let traj = &run.trajectory;
    let mut bound = BigUint::one();
    let mut epoch_bits = vec![0u64; traj.permutations.len()];
    let mut before = 0u64;
    for (e, bits) in epoch_bits.iter_mut().enumerate() {
        let steps = traj.steps.iter().filter(|s| s.epoch == e + 1).count();
        bound = buffer_bound_after(bound, m.beta, (steps * d) as u64);
        let now = ceil_log2_ratio(&bound, &BigUint::one());
        *bits = now - before;
        before = now;
    }
    if run.buffer.value() >= &bound {
        return Err(Error::Internal(
            "the bits-back buffer exceeds its bound".into(),
        ));
    }
    let mut enc = Encoder::new();
    enc.push_uniform(run.buffer.value(), &bound);
    Ok((enc.finish(), bound, epoch_bits))
}

/// Per epoch, the Lemma 3.1 code of the batches (docs/design.md §5.1) with no hints: a momentum
/// step comes back from (W, u) and the buffer, so the walk needs none.
fn batch_code(setup: &Setup, f: &StepFunction, traj: &Trajectory) -> Result<Vec<u64>, Error> {
    let records: Vec<StepRecord> = traj
        .steps
        .iter()
        .map(|s| StepRecord {
            point: s.w.clone(),
            outcome: Outcome::Recovered,
            termination: Termination::FixedPoint,
            iterations: 0,
            hint: None,
        })
        .collect();
    let shape = RunShape::of(traj, setup.data.n(), setup.config.batch);
    let opts = CodeOptions {
        certify: None,
        max_iterations: setup.config.max_iterations,
    };
    let enc = encode(f, traj, &records, shape, opts)?;
    Ok(enc.epochs.iter().map(|e| e.bits).collect())
}

/// Plain SGD's hints on the same data, model, α and seed.
fn plain_hints(setup: &Setup) -> Result<Option<(u64, usize)>, Error> {
    let mut plain = setup.clone();
    plain.config.code = false;
    plain.config.certify = None;
    let report = verify_streamed(&plain, &mut NoObserver, &NoProgress, None)?;
    Ok(report.hints.map(|h| (h.bits, h.steps)))
}

fn momentum_section(
    setup: &Setup,
    m: &MomentumConfig,
    run: &MomentumRun,
    coded: Option<&CodedBuffer>,
    batch_bits: Option<Vec<u64>>,
    plain: Option<(u64, usize)>,
) -> MomentumReport {
    let d = setup.model.dim() as f64;
    let steps = run.trajectory.steps.len();
    let buffer_bits = coded.map_or(0, |c| c.code.bits);
    let baseline = crate::steps::codec::entropy::log2_factorial_bits(setup.data.n());
    let epochs: Vec<MomentumEpochReport> = (0..run.trajectory.permutations.len())
        .map(|e| {
            let buffer = coded.map_or(0, |c| c.epoch_bits[e]);
            let bits = batch_bits.as_ref().map(|b| b[e] + buffer);
            MomentumEpochReport {
                epoch: e + 1,
                baseline_bits: baseline,
                batch_bits: batch_bits.as_ref().map(|b| b[e]),
                buffer_bits: buffer,
                bits,
                saving_bits: bits.map(|b| baseline as i64 - b as i64),
            }
        })
        .collect();
    MomentumReport {
        beta: m.beta.to_string(),
        rounding: m.rounding.name().into(),
        buffer_bits,
        buffer_bits_per_step: per_step(buffer_bits as f64, steps),
        d_log2_inv_beta_per_step: Some(d * m.beta.log2_inv()),
        nearest_loss_per_step: Some(d * m.beta.nearest_loss()),
        buffer_content_bits: coded.map_or(0.0, |c| c.content_bits),
        plain_sgd_hint_bits: plain.map(|p| p.0),
        plain_sgd_hinted_steps: plain.map(|p| p.1),
        initial_velocity_bit_exact: coded.is_some_and(|c| c.velocity_bit_exact),
        unique_steps: coded.and_then(|c| c.preimages.map(|p| p.0)),
        max_log2_preimages: coded.and_then(|c| c.preimages.map(|p| p.1)),
        code_beats_baseline: batch_bits
            .is_some()
            .then(|| epochs.iter().any(|e| e.saving_bits.is_some_and(|s| s > 0))),
        epochs,
    }
}

fn per_step(bits: f64, steps: usize) -> f64 {
    if steps == 0 {
        0.0
    } else {
        bits / steps as f64
    }
}

/// The section of a β = 0 run: plain SGD, nothing in the buffer, its hints the side
/// information.
fn plain_section(r: &VerifyReport, m: &MomentumConfig) -> MomentumReport {
    let epochs = r.code.as_ref().map_or(Vec::new(), |c| {
        c.epochs
            .iter()
            .map(|e| MomentumEpochReport {
                epoch: e.epoch,
                baseline_bits: e.baseline_bits,
                batch_bits: Some(e.bits),
                buffer_bits: 0,
                bits: Some(e.bits),
                saving_bits: Some(e.saving_bits),
            })
            .collect()
    });
    MomentumReport {
        beta: m.beta.to_string(),
        rounding: m.rounding.name().into(),
        buffer_bits: 0,
        buffer_bits_per_step: 0.0,
        d_log2_inv_beta_per_step: None,
        nearest_loss_per_step: None,
        buffer_content_bits: 0.0,
        plain_sgd_hint_bits: r.hints.as_ref().map(|h| h.bits),
        plain_sgd_hinted_steps: r.hints.as_ref().map(|h| h.steps),
        initial_velocity_bit_exact: r
            .reconstruction
            .as_ref()
            .is_some_and(|c| c.initial_model_bit_exact),
        unique_steps: None,
        max_log2_preimages: None,
        code_beats_baseline: r
            .code
            .as_ref()
            .map(|_| epochs.iter().any(|e| e.saving_bits.is_some_and(|s| s > 0))),
        epochs,
    }
}
