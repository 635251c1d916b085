//! `rewind encode` / `rewind decode` as a library: a run's randomness written to a code file
//! from the final model, and read back from the code file, the data set and the final model
//! alone (Theorem 3.2's K(r, W₁,₁ | X) made concrete).
//!
//! The decoder trusts nothing: the file's checksum, the data set's and the final model's
//! fingerprints, and finally a forward replay of every decoded step, which must land on the
//! final model bit for bit.

use crate::certify::certifier;
use crate::codec::entropy::{
    decode, encode, CodeOptions, Decoded, Encoded, RunShape, EPOCH_HEADER_BITS,
};
use crate::codec::file::{data_sha256, from_bytes, run_sha256, to_bytes, CodeHeader, FileError};
use crate::config::{ModelKind, Setup, StepSize, VerifyConfig};
use crate::grid::Dyadic;
use crate::model::{Activation, Model};
use crate::progress::{NoProgress, Phase, Progress};
use crate::reconstruct::analyse;
use crate::report::model_sha256;
use crate::sgd::{run, BackendChoice, BackendKind, NoObserver, StepFunction, Trajectory};
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
    /// The logged run that was encoded.
    pub trajectory: Trajectory,
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
    })
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
        run_sha256: run_sha256(traj.initial_model(), &traj.permutations),
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
    // A data set other than the encoder's can fail the setup's own checks (α against its
    // smoothness, b against its size) before the fingerprint is compared: say what it means.
    let setup = Setup::expecting_dim(&config, header.d).map_err(|e| match e {
        Error::CodeFile(e) => Error::CodeFile(e),
        e => FileError::OtherData(Some(e.to_string())).into(),
    })?;
    if data_sha256(&setup.data) != header.data_sha256 || setup.data.n() != header.n {
        return Err(FileError::OtherData(None).into());
    }
    let f = setup.step_function().with_progress(progress);
    let shape = RunShape {
        n: header.n,
        batch: header.batch,
        epochs: header.epochs,
        steps: header.steps,
    };
    let decoded = decode(&f, final_model, shape, &code, options(&config))?;
    replay(&f, &decoded, final_model)?;
    let initial = decoded.models.first().map_or(final_model, |m| m.as_slice());
    if run_sha256(initial, &decoded.permutations) != header.run_sha256 {
        return Err(FileError::Fingerprint.into());
    }
    Ok(DecodedRun {
        header,
        decoded,
        setup,
    })
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
    if max_steps.map_or(true, |m| h.steps > m) {
        return Err(corrupt(format!(
            "{} steps in {} epochs of {} batches",
            h.steps,
            h.epochs,
            h.n / h.batch
        )));
    }
    if h.alpha_shift >= 64 {
        return Err(corrupt(format!("α = {}/2^{}", h.alpha_num, h.alpha_shift)));
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
