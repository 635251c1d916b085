//! `rewind encode` / `rewind decode` as a library: a run's randomness written to a code file
//! from the final model, and read back from the code file, the data set and the final model
//! alone (Theorem 3.2's K(r, W₁,₁ | X) made concrete).
//!
//! The decoder trusts nothing: the file's checksum, the data set's and the final model's
//! fingerprints, and finally a forward replay of every decoded step, which must land on the
//! final model bit for bit.
//!
//! SGD′ runs (Section 4, [`encode_sgd_prime_run`]) are coded with Lemma 4.1's code: per batch
//! T_{i,j}, z and the inner GD steps besides the batch. Their header carries Ψ_ℓ, ε, T and
//! Σ T_{i,j}, each bounded before it sizes anything: T by [`MAX_GD_STEPS`], ℓ by the model's
//! dimension, ℓ·m by the code's length (every call writes ℓ·m bits of z), and Σ T_{i,j} by the
//! code's length too (each T_{i,j} costs its Elias-γ code, see [`max_inner_steps`]).

use crate::grid::Dyadic;
use crate::model::Activation;
use crate::perturb::Perturbation;
use crate::pipeline::config::{ModelKind, Setup, StepSize, VerifyConfig};
use crate::pipeline::report::model_sha256;
use crate::pipeline::sgd_prime::{
    analyse_run, gd_code, replays, SgdPrimeConfig, SgdPrimeRun, MAX_GD_STEPS,
};
use crate::progress::{NoProgress, Phase, Progress};
use crate::sgd::{run, BackendChoice, BackendKind, NoObserver, StepFunction, Trajectory};
use crate::steps::certify::certifier;
use crate::steps::codec::entropy::{
    decode, decode_gd, encode, encode_gd, CodeOptions, Decoded, Encoded, RunShape,
    EPOCH_HEADER_BITS,
};
use crate::steps::codec::file::{
    bind_max_iterations, data_sha256, format_of, from_bytes, gd_run_sha256, run_sha256, to_bytes,
    CodeHeader, FileError, SgdPrimeHeader,
};
use crate::steps::reconstruct::analyse;
use crate::Error;

/// A run encoded: the file's bytes, the code's lengths and the trajectory it came from.
#[derive(Debug, Clone)]
pub struct EncodedRun {
    /// The code file's bytes (docs/design.md §5.5).
    pub bytes: Vec<u8>,
    /// The file's header: the run's public parameters and fingerprints.
    pub header: CodeHeader,
    /// The code, the run header's length and each epoch's cost.
    pub encoded: Encoded,
    /// The logged run that was encoded (for SGD′, its outer view: one step per GD call).
    pub trajectory: Trajectory,
    /// The SGD′ run, with every call's z and inner models (absent for SGD).
    pub sgd_prime: Option<SgdPrimeRun>,
}

/// Runs the configuration and encodes it.
pub fn encode_run(setup: &Setup) -> Result<EncodedRun, Error> {
    encode_run_with_progress(setup, &NoProgress)
}

/// [`encode_run`], reporting each phase to `progress`.
pub fn encode_run_with_progress(
    setup: &Setup,
    progress: &dyn Progress,
) -> Result<EncodedRun, Error> {
    let f = setup.step_function().with_progress(progress);
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver)?;
    let records = analyse(&f, &traj, setup.config.max_iterations)?;
    let shape = RunShape::of(&traj, setup.data.n(), setup.config.batch);
    let opts = options(&setup.config);
    let encoded = encode(&f, &traj, &records, shape, opts)?;
    let header = header(setup, &traj);
    Ok(EncodedRun {
        bytes: to_bytes(&header, &encoded.code),
        header,
        encoded,
        trajectory: traj,
        sgd_prime: None,
    })
}

/// Runs SGD′ (Algorithm 3) with `p` and encodes it with the code of Lemma 4.1, reporting each
/// phase to `progress`.
pub fn encode_sgd_prime_run(
    setup: &Setup,
    p: &SgdPrimeConfig,
    progress: &dyn Progress,
) -> Result<EncodedRun, Error> {
    p.check_setup(setup)?;
    let f = setup.step_function().with_progress(progress);
    let run = crate::pipeline::sgd_prime::run(&f, &setup.sgd_config(), p, setup.init.clone())?;
    let records = analyse_run(&f, &run, setup.config.max_iterations)?;
    let outer = run.outer();
    let shape = RunShape::of(&outer, setup.data.n(), setup.config.batch);
    let encoded = encode_gd(
        &f,
        &outer,
        shape,
        options(&setup.config),
        gd_code(&run, p, Some((&run, &records))),
    )?;
    let mut header = header(setup, &outer);
    header.run_sha256 = bind_max_iterations(
        &gd_fingerprint(outer.initial_model(), &outer.permutations, &run),
        setup.config.max_iterations,
    );
    header.sgd_prime = Some(SgdPrimeHeader {
        perturbation_length: p.perturbation.length,
        perturbation_bits: p.perturbation.bits,
        perturbation_scale: p.perturbation.shift,
        epsilon: p.epsilon.to_string(),
        max_gd_steps: p.max_gd_steps,
        inner_steps: run.inner_steps(),
    });
    Ok(EncodedRun {
        bytes: to_bytes(&header, &encoded.code),
        header,
        encoded,
        trajectory: outer,
        sgd_prime: Some(run),
    })
}

/// The run fingerprint of an SGD′ run from its calls' T_{i,j} and z.
fn gd_fingerprint(initial: &[i64], permutations: &[Vec<usize>], run: &SgdPrimeRun) -> String {
    let calls: Vec<(usize, &[i64])> = run
        .calls
        .iter()
        .map(|c| (c.gd_steps(), c.z.as_slice()))
        .collect();
    gd_run_sha256(initial, permutations, &calls)
}

fn options(c: &VerifyConfig) -> CodeOptions {
    CodeOptions {
        certify: c.certify.map(certifier),
        max_iterations: c.max_iterations,
    }
}

fn header(s: &Setup, traj: &Trajectory) -> CodeHeader {
    let c = &s.config;
    CodeHeader {
        model: c.model.name().into(),
        hidden: c.hidden,
        activation: c.activation.name().into(),
        backend: c.backend.name().into(),
        mpfr_precision: match c.backend {
            BackendChoice::Mpfr { precision } => precision,
            _ => 0,
        },
        frac_bits: c.frac_bits,
        alpha_num: s.alpha.num(),
        alpha_shift: s.alpha.shift(),
        bias: c.bias,
        batch: c.batch,
        epochs: traj.permutations.len(),
        steps: traj.steps.len(),
        n: s.data.n(),
        d: s.model.dim(),
        certify_budget: c.certify,
        max_iterations: c.max_iterations,
        data_sha256: data_sha256(&s.data),
        final_model_sha256: model_sha256(&traj.final_model),
        run_sha256: bind_max_iterations(
            &run_sha256(traj.initial_model(), &traj.permutations),
            c.max_iterations,
        ),
        sgd_prime: None,
    }
}

/// A decoded run: the header and everything reconstructed.
#[derive(Debug, Clone)]
pub struct DecodedRun {
    /// The file's header, checked against the data set.
    pub header: CodeHeader,
    /// Every permutation, batch and model, W₁,₁ included, as decoded.
    pub decoded: Decoded,
    /// The configuration rebuilt from the header and the data set.
    pub setup: Setup,
}

/// Decodes a code file. `data` supplies only the data set (source, classes, random labels and
/// their seed); everything else comes from the file's header.
pub fn decode_run(
    bytes: &[u8],
    final_model: &[i64],
    data: &VerifyConfig,
) -> Result<DecodedRun, Error> {
    decode_run_with_progress(bytes, final_model, data, &NoProgress)
}

/// [`decode_run`], reporting each phase to `progress`.
pub fn decode_run_with_progress(
    bytes: &[u8],
    final_model: &[i64],
    data: &VerifyConfig,
    progress: &dyn Progress,
) -> Result<DecodedRun, Error> {
    let (header, code) = from_bytes(bytes)?;
    check_header(&header, code.bits, final_model)?;
    let config = config_from(&header, data)?;
    let sgd_prime = header
        .sgd_prime
        .as_ref()
        .map(sgd_prime_config)
        .transpose()?;
    // Checks that need no data are the header's own: they name its fields, not the data or a
    // flag the user never typed.
    crate::pipeline::config::check_without_data(&config).map_err(|e| match e {
        Error::Config(m) => FileError::Inconsistent(in_header_terms(&m)).into(),
        e => e,
    })?;
    // A data set other than the encoder's can fail the setup's own checks (α against its
    // smoothness, b against its size) before the fingerprint is compared: say what it means.
    let setup = Setup::expecting_dim(&config, header.d).map_err(|e| match e {
        Error::CodeFile(e) => Error::CodeFile(e),
        e => FileError::OtherData(Some(e.to_string())).into(),
    })?;
    if data_sha256(&setup.data) != header.data_sha256 || setup.data.n() != header.n {
        return Err(FileError::OtherData(None).into());
    }
    if let Some(p) = &sgd_prime {
        p.check_setup(&setup)?;
    }
    let f = setup.step_function().with_progress(progress);
    let shape = RunShape {
        n: header.n,
        batch: header.batch,
        epochs: header.epochs,
        steps: header.steps,
    };
    let decoded = match (&sgd_prime, &header.sgd_prime) {
        (Some(p), Some(h)) => {
            let gd = crate::steps::codec::entropy::GdCode {
                perturbation: p.perturbation,
                max_gd_steps: p.max_gd_steps,
                inner_steps: h.inner_steps,
                known: None,
            };
            let decoded = decode_gd(&f, final_model, shape, &code, options(&config), gd)?;
            replay_gd(&f, p, &decoded, final_model)?;
            decoded
        }
        _ => {
            let decoded = decode(&f, final_model, shape, &code, options(&config))?;
            replay(&f, &decoded, final_model)?;
            decoded
        }
    };
    check_fingerprint(bytes, &header, &decoded, final_model)?;
    Ok(DecodedRun {
        header,
        decoded,
        setup,
    })
}

/// Refuses a decoded run whose fingerprint (initial model, permutations and, for SGD′, each
/// call's steps and z; bound to the iteration cap from format 3 on) is not the header's.
fn check_fingerprint(
    bytes: &[u8],
    header: &CodeHeader,
    decoded: &Decoded,
    final_model: &[i64],
) -> Result<(), Error> {
    let initial = decoded.models.first().map_or(final_model, |m| m.as_slice());
    let fingerprint = if header.sgd_prime.is_some() {
        let calls: Vec<(usize, &[i64])> = decoded
            .gd_calls
            .iter()
            .map(|c| (c.inner.len(), c.z.as_slice()))
            .collect();
        gd_run_sha256(initial, &decoded.permutations, &calls)
    } else {
        run_sha256(initial, &decoded.permutations)
    };
    // Formats 1 and 2 did not bind the cap; their cap is still bounded by check_header.
    let fingerprint = match format_of(bytes) {
        Some(v) if v >= 3 => bind_max_iterations(&fingerprint, header.max_iterations),
        _ => fingerprint,
    };
    if fingerprint != header.run_sha256 {
        return Err(FileError::Fingerprint.into());
    }
    Ok(())
}

/// A configuration message in the code file's terms: each flag becomes the header field that
/// set it, and the advice to change a flag is dropped (the file, not a flag, is at fault).
fn in_header_terms(msg: &str) -> String {
    const FIELDS: [(&str, &str); 10] = [
        ("--certify-budget", "certify_budget"),
        ("--mpfr-precision", "mpfr_precision"),
        ("--max-iterations", "max_iterations"),
        ("--frac-bits", "frac_bits"),
        ("--backend", "backend"),
        ("--hidden", "hidden"),
        ("--model", "model"),
        ("--batch", "batch"),
        ("--epochs", "epochs"),
        ("--alpha", "alpha_num/alpha_shift"),
    ];
    let what = msg.split(';').next().unwrap_or(msg);
    let mut out = format!("header field {what}");
    for (flag, field) in FIELDS {
        out = out.replace(flag, field);
    }
    out
}

/// Runs every decoded step forward: each must give the next decoded model, the last the final
/// model.
fn replay(f: &StepFunction, d: &Decoded, final_model: &[i64]) -> Result<(), Error> {
    f.progress().begin(Phase::Replay, d.models.len() as u64);
    for (k, (w, batch)) in d.models.iter().zip(&d.batches).enumerate() {
        let next = d.models.get(k + 1).map_or(final_model, |m| m.as_slice());
        if f.step(w, batch)? != next {
            return Err(FileError::Replay(k + 1).into());
        }
        f.progress().advance(1);
    }
    Ok(())
}

/// Every decoded GD call of SGD′ must be what Algorithm 2 does from the decoded model before
/// it: ψ_z, then the decoded inner steps, stopping where GD stops, landing on the next model.
fn replay_gd(
    f: &StepFunction,
    p: &SgdPrimeConfig,
    d: &Decoded,
    final_model: &[i64],
) -> Result<(), Error> {
    f.progress().begin(Phase::Replay, d.models.len() as u64);
    for (k, (w, batch)) in d.models.iter().zip(&d.batches).enumerate() {
        let next = d.models.get(k + 1).map_or(final_model, |m| m.as_slice());
        let call = d.gd_calls.get(k).ok_or_else(|| {
            Error::Internal("the SGD′ decoder returned fewer GD calls than batches".into())
        })?;
        if !replays(f, p, w, batch, &call.z, &call.inner, next)? {
            return Err(FileError::GdCallReplay(k + 1).into());
        }
        f.progress().advance(1);
    }
    Ok(())
}

/// The SGD′ parameters a header names, each checked as `rewind verify` checks its flags.
fn sgd_prime_config(h: &SgdPrimeHeader) -> Result<SgdPrimeConfig, Error> {
    let corrupt = |e: String| Error::from(FileError::SgdPrime(e));
    let p = Perturbation::new(
        h.perturbation_length,
        h.perturbation_bits,
        h.perturbation_scale,
    )
    .map_err(|e| corrupt(e.to_string()))?;
    SgdPrimeConfig::new(p, &h.epsilon, h.max_gd_steps).map_err(|e| corrupt(e.to_string()))
}

/// The most inner GD steps a code of `code_bits` bits can name with T ≤ `max_gd_steps`: each
/// call writes T_{i,j} + 1 in Elias-γ, 2⌊log₂(T_{i,j} + 1)⌋ + 1 bits, so Σ T_{i,j} is at most
/// the code's length times the best ratio t / γ(t + 1) over t ≤ T (t = 2^(k+1) − 2 in each
/// band of equal code length, or T itself).
pub fn max_inner_steps(code_bits: u64, max_gd_steps: usize) -> u128 {
    let t_max = max_gd_steps as u128;
    let mut best = (0u128, 1u128);
    let mut k = 0u32;
    while k < 64 && (1u128 << k) - 1 <= t_max {
        let t = ((1u128 << (k + 1)) - 2).min(t_max);
        let bits = 2 * k as u128 + 1;
        if t * best.1 > best.0 * bits {
            best = (t, bits);
        }
        k += 1;
    }
    code_bits as u128 * best.0 / best.1
}

/// Checks an SGD′ header section against the code's length and the run's shape.
fn check_sgd_prime(h: &CodeHeader, s: &SgdPrimeHeader, code_bits: u64) -> Result<(), Error> {
    let corrupt = |what: String| Error::from(FileError::Inconsistent(what));
    if s.max_gd_steps > MAX_GD_STEPS {
        return Err(corrupt(format!(
            "T = {} GD steps per call, above the largest accepted, {MAX_GD_STEPS}",
            s.max_gd_steps
        )));
    }
    if s.perturbation_length > h.d {
        return Err(corrupt(format!(
            "perturbation length ℓ = {} for a model of {} parameters",
            s.perturbation_length, h.d
        )));
    }
    let z_bits = if s.perturbation_bits == 0 {
        0
    } else {
        s.perturbation_length as u128 * s.perturbation_bits as u128
    };
    if z_bits * h.steps as u128 > code_bits as u128 {
        return Err(corrupt(format!(
            "{} GD calls with ℓ·m = {z_bits} bits of perturbation each, but the code has {code_bits} bits",
            h.steps
        )));
    }
    let by_calls = h.steps as u128 * s.max_gd_steps as u128;
    let by_code = max_inner_steps(code_bits, s.max_gd_steps);
    if s.inner_steps as u128 > by_calls.min(by_code) {
        return Err(corrupt(format!(
            "{} inner GD steps, but {} calls of at most T = {} steps in a {code_bits}-bit code hold at most {}",
            s.inner_steps,
            h.steps,
            s.max_gd_steps,
            by_calls.min(by_code)
        )));
    }
    Ok(())
}

/// Checks what the header claims against the final model and the code's length, before any
/// of it sizes an allocation or a loop: every epoch costs at least its 3-bit header, so a code
/// of L bits holds at most L/3 epochs, and the steps must fit the epochs.
fn check_header(h: &CodeHeader, code_bits: u64, final_model: &[i64]) -> Result<(), Error> {
    if final_model.len() != h.d || model_sha256(final_model) != h.final_model_sha256 {
        return Err(FileError::FinalModel.into());
    }
    let corrupt = |what: String| Error::from(FileError::Inconsistent(what));
    let max_epochs = code_bits / EPOCH_HEADER_BITS;
    if h.epochs == 0 || h.epochs as u64 > max_epochs {
        return Err(corrupt(format!(
            "{} epochs, but a {code_bits}-bit code holds at most {max_epochs}",
            h.epochs
        )));
    }
    if h.batch == 0 || h.n < h.batch {
        return Err(corrupt(format!("batch {} for n = {}", h.batch, h.n)));
    }
    let max_steps = (h.n / h.batch).checked_mul(h.epochs);
    if max_steps.is_none_or(|m| h.steps > m) {
        return Err(corrupt(format!(
            "{} steps in {} epochs of {} batches",
            h.steps,
            h.epochs,
            h.n / h.batch
        )));
    }
    if h.max_iterations > crate::steps::invert::MAX_ITERATIONS {
        return Err(corrupt(format!(
            "max_iterations = {}, above the largest accepted, {}",
            h.max_iterations,
            crate::steps::invert::MAX_ITERATIONS
        )));
    }
    if h.alpha_shift >= 64 {
        return Err(corrupt(format!("α = {}/2^{}", h.alpha_num, h.alpha_shift)));
    }
    if let Some(s) = &h.sgd_prime {
        check_sgd_prime(h, s, code_bits)?;
    }
    Ok(())
}

fn config_from(h: &CodeHeader, data: &VerifyConfig) -> Result<VerifyConfig, Error> {
    let bad = |what: &'static str| Error::from(FileError::UnknownName(what));
    let model: ModelKind = h.model.parse().map_err(|_| bad("model"))?;
    let backend = h
        .backend
        .parse::<BackendKind>()
        .map_err(|_| bad("backend"))?
        .choice(h.mpfr_precision);
    let activation: Activation = h.activation.parse().map_err(|_| bad("activation"))?;
    Ok(VerifyConfig {
        model,
        hidden: h.hidden,
        activation,
        backend,
        frac_bits: h.frac_bits,
        step_size: StepSize::Alpha(Dyadic::new(h.alpha_num, h.alpha_shift)?),
        batch: h.batch,
        epochs: h.epochs,
        bias: h.bias,
        certify: h.certify_budget,
        max_iterations: h.max_iterations,
        ..data.clone()
    })
}

impl DecodedRun {
    /// W₁,₁ as decoded.
    pub fn initial_model(&self) -> &[i64] {
        self.decoded.models.first().map_or(&[], |m| m.as_slice())
    }

    /// The model dimension of the decoded run.
    pub fn dim(&self) -> usize {
        self.setup.model.dim()
    }
}
