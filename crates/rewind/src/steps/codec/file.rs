//! The code file of `rewind encode` / `rewind decode`: a versioned binary container for a run's
//! entropy-compression code.
//!
//! Layout (little-endian integers):
//! ```text
//! magic      8 bytes   "RWNDCODE"
//! version    u32       FORMAT (3; formats 1 and 2 are still read)
//! header     u32 len + JSON: the run's public parameters and fingerprints (CodeHeader)
//! code bits  u64
//! code       ⌈bits/8⌉ bytes, big-endian
//! checksum   32 bytes  SHA-256 of everything before it
//! ```
//! Format 2 adds the optional `sgd_prime` header section (the parameters of Section 4's SGD′,
//! whose code is Lemma 4.1's); a format 1 header is a format 2 header without it, and a format 1
//! file carrying it is refused. Format 3 binds the inverter's iteration cap to the run: its run
//! fingerprint covers `max_iterations` ([`bind_max_iterations`]), on which decoding depends, so
//! a header whose cap was changed decodes to no run. Unknown versions are rejected; a truncated or altered file fails
//! its checksum; a file written for another data set or final model fails the fingerprints.

use super::coder::{code_from_bytes, code_to_bytes, Code};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The code file format this crate writes.
pub const FORMAT: u32 = 3;
/// The code file formats this crate reads: format 1 has no `sgd_prime` section, and neither 1
/// nor 2 binds `max_iterations` in its run fingerprint.
pub const READABLE_FORMATS: [u32; 3] = [1, 2, 3];
const MAGIC: &[u8; 8] = b"RWNDCODE";
/// Headers larger than this are refused before any allocation.
const MAX_HEADER: usize = 1 << 20;

/// Everything the decoder must know besides the data set and the final model, plus their
/// fingerprints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeHeader {
    /// The model's `--model` name.
    pub model: String,
    /// MLP hidden width (kept for every model; only the MLP reads it).
    pub hidden: usize,
    /// MLP activation name, `gelu` or `tanh`.
    pub activation: String,
    /// The gradient backend's name (docs/design.md §2.4).
    pub backend: String,
    /// MPFR precision in bits; 0 for the other backends.
    pub mpfr_precision: u32,
    /// p: one ulp of the grid is 2^-p.
    pub frac_bits: u32,
    /// α's numerator: α = alpha_num / 2^alpha_shift.
    pub alpha_num: u64,
    /// α's denominator exponent.
    pub alpha_shift: u32,
    /// Whether the data set carries a constant-one bias feature.
    pub bias: bool,
    /// b: examples per batch.
    pub batch: usize,
    /// Epochs the run started (one permutation each).
    pub epochs: usize,
    /// Steps the run took.
    pub steps: usize,
    /// Examples used (a multiple of b).
    pub n: usize,
    /// The model's parameter count.
    pub d: usize,
    /// Gradient-evaluation budget per step when hints were certified (`--certify`).
    pub certify_budget: Option<u64>,
    /// The inverter's iteration cap per step; the decoder must use the same. At most
    /// [`crate::steps::invert::MAX_ITERATIONS`], and covered by the run fingerprint from format 3.
    pub max_iterations: u32,
    /// SHA-256 of the quantised data set (see [`data_sha256`]).
    pub data_sha256: String,
    /// SHA-256 of the final model's raw integers.
    pub final_model_sha256: String,
    /// SHA-256 of the run itself (W₁,₁ and every permutation, see [`run_sha256`]): a code is
    /// compact, so almost any bit string decodes to *some* valid run; this commitment is what
    /// tells the decoded run from the encoded one. For SGD′ it also covers every call's
    /// perturbation and GD step count ([`gd_run_sha256`]).
    pub run_sha256: String,
    /// Present when the run is SGD′ (Algorithm 3, coded by Lemma 4.1); absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgd_prime: Option<SgdPrimeHeader>,
}

/// The parameters of an SGD′ run the decoder needs (format 2): Ψ_ℓ, ε, T and Σ T_{i,j}.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgdPrimeHeader {
    /// ℓ: values in each perturbation z.
    pub perturbation_length: usize,
    /// m: random bits per value of z.
    pub perturbation_bits: u32,
    /// s: a value `z[k]` moves a weight by `z[k]`·2^s ulps.
    pub perturbation_scale: u32,
    /// ε as an exact fraction ("1/10").
    pub epsilon: String,
    /// T: the most GD steps of one call.
    pub max_gd_steps: usize,
    /// Σ T_{i,j}: the inner GD steps of the whole run.
    pub inner_steps: usize,
}

/// Errors of reading a code file; each names the problem and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The file does not start with the format's magic bytes.
    #[error("not a rewind code file (bad magic); pass a file written by `rewind encode`")]
    Magic,
    /// The file's format version, which this build cannot read.
    #[error("code file format {0} is not supported (this rewind reads formats 1 to {FORMAT}); re-encode with this version")]
    Version(u32),
    /// The file ends before its declared lengths.
    #[error("the code file is truncated; copy or write it again")]
    Truncated,
    /// The stored checksum does not match the contents.
    #[error("the code file's checksum does not match: it is corrupted; copy or write it again")]
    Checksum,
    /// The JSON header does not parse as a [`CodeHeader`]; the parser's message.
    #[error("the code file's header is invalid ({0}); the file is corrupted")]
    Header(String),
    /// The header's fields contradict each other or the code's length.
    #[error("the code file's header is inconsistent ({0}); the file is corrupted")]
    Inconsistent(String),
    /// The header names a model, backend or activation this build does not know.
    #[error("the code file names an unknown {0}; the file is corrupted")]
    UnknownName(&'static str),
    /// The final model given is not the one the file was written for.
    #[error("the final model does not match the code file; pass the final model written by the same `rewind encode`")]
    FinalModel,
    /// The data set given is not the encoder's; the run's own check that failed, if one did.
    #[error("the code was written for another data set{}; pass the same --data, --classes, --random-labels and --seed as when encoding", .0.as_ref().map_or(String::new(), |e| format!(" (with this one, the run's own checks fail: {e})")))]
    OtherData(Option<String>),
    /// A decoded step does not run forward to the next decoded model.
    #[error("decoded step {0} does not replay to the next model: the code is corrupted or belongs to another run")]
    Replay(usize),
    /// The decoded run's fingerprint differs from the header's.
    #[error("the decoded run does not match the code file's run fingerprint: the code is corrupted; copy or write it again")]
    Fingerprint,
    /// A decoded GD call of SGD′ is not what Algorithm 2 does from the model before it.
    #[error("decoded GD call {0} does not replay to the next model: the code is corrupted or belongs to another run")]
    GdCallReplay(usize),
    /// The header's SGD′ section names parameters `rewind verify` would refuse.
    #[error("the code file's sgd_prime header is invalid ({0}); the file is corrupted")]
    SgdPrime(String),
    /// A format 1 file whose header has a section that format 1 does not have.
    #[error("the code file says format 1 but its header has an sgd_prime section (format 2); the file is corrupted")]
    SectionInFormat1,
}

/// Writes the container.
pub fn to_bytes(header: &CodeHeader, code: &Code) -> Vec<u8> {
    let json = serde_json::to_vec(header).unwrap_or_default();
    let mut out = Vec::with_capacity(64 + json.len() + code.bits as usize / 8);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&code.bits.to_le_bytes());
    out.extend_from_slice(&code_to_bytes(code));
    let sum = Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

/// Reads the container, checking magic, version, lengths and checksum.
pub fn from_bytes(bytes: &[u8]) -> Result<(CodeHeader, Code), FileError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(FileError::Magic);
    }
    let mut r = Cursor {
        bytes,
        at: MAGIC.len(),
    };
    let version = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| FileError::Truncated)?);
    if !READABLE_FORMATS.contains(&version) {
        return Err(FileError::Version(version));
    }
    if bytes.len() < 32 {
        return Err(FileError::Truncated);
    }
    let (body, sum) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != sum {
        return Err(FileError::Checksum);
    }
    let mut r = Cursor {
        bytes: body,
        at: r.at,
    };
    let len = u32::from_le_bytes(r.take(4)?.try_into().map_err(|_| FileError::Truncated)?) as usize;
    if len > MAX_HEADER {
        return Err(FileError::Header("header too large".into()));
    }
    let header: CodeHeader =
        serde_json::from_slice(r.take(len)?).map_err(|e| FileError::Header(e.to_string()))?;
    if version == 1 && header.sgd_prime.is_some() {
        return Err(FileError::SectionInFormat1);
    }
    let bits = u64::from_le_bytes(r.take(8)?.try_into().map_err(|_| FileError::Truncated)?);
    let rest = &body[r.at..];
    if bits.div_ceil(8) != rest.len() as u64 {
        return Err(FileError::Truncated);
    }
    let code = code_from_bytes(rest, bits).ok_or(FileError::Truncated)?;
    Ok((header, code))
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FileError> {
        let end = self.at.checked_add(n).ok_or(FileError::Truncated)?;
        let s = self.bytes.get(self.at..end).ok_or(FileError::Truncated)?;
        self.at = end;
        Ok(s)
    }
}

/// The file's format version, where the file is long enough to hold one.
pub fn format_of(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?))
}

/// A run fingerprint bound to the inverter's iteration cap (format 3): SHA-256 of the run's own
/// fingerprint and `max_iterations`. Decoding a step depends on the cap (a cap reached is a
/// hint, a fixed point is not), so a header with another cap must not match the run.
pub fn bind_max_iterations(run_sha256: &str, max_iterations: u32) -> String {
    let mut h = Sha256::new();
    h.update(run_sha256.as_bytes());
    h.update(b"max_iterations");
    h.update(max_iterations.to_le_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a run: W₁,₁'s raw integers, then each epoch's permutation.
pub fn run_sha256(initial_model: &[i64], permutations: &[Vec<usize>]) -> String {
    let mut h = Sha256::new();
    for v in initial_model {
        h.update(v.to_le_bytes());
    }
    for p in permutations {
        h.update((p.len() as u64).to_le_bytes());
        for &x in p {
            h.update((x as u64).to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of an SGD′ run: [`run_sha256`]'s input, then per GD call T_{i,j} and its z, so
/// that a decoded run with another perturbation or step count is told from the encoded one.
pub fn gd_run_sha256(
    initial_model: &[i64],
    permutations: &[Vec<usize>],
    calls: &[(usize, &[i64])],
) -> String {
    let mut h = Sha256::new();
    h.update(run_sha256(initial_model, permutations).as_bytes());
    for (t, z) in calls {
        h.update((*t as u64).to_le_bytes());
        h.update((z.len() as u64).to_le_bytes());
        for v in *z {
            h.update(v.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a quantised data set: frac bits, n, d, every raw feature and every label.
pub fn data_sha256(data: &crate::data::Dataset) -> String {
    let mut h = Sha256::new();
    h.update(data.grid.frac_bits().to_le_bytes());
    h.update((data.n() as u64).to_le_bytes());
    h.update((data.d() as u64).to_le_bytes());
    for row in &data.features {
        for v in row {
            h.update(v.to_le_bytes());
        }
    }
    for l in &data.labels {
        h.update(l.to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigUint;

    fn header() -> CodeHeader {
        CodeHeader {
            model: "logistic".into(),
            hidden: 0,
            activation: "gelu".into(),
            backend: "f64".into(),
            mpfr_precision: 128,
            frac_bits: 16,
            alpha_num: 3,
            alpha_shift: 4,
            bias: true,
            batch: 2,
            epochs: 1,
            steps: 4,
            n: 8,
            d: 3,
            certify_budget: None,
            max_iterations: 100,
            data_sha256: "00".into(),
            final_model_sha256: "11".into(),
            run_sha256: "22".into(),
            sgd_prime: None,
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let code = Code {
            value: BigUint::from(0x2_abcdu32),
            bits: 18,
        };
        let bytes = to_bytes(&header(), &code);
        assert_eq!(from_bytes(&bytes).unwrap(), (header(), code));
        assert_eq!(from_bytes(b"nonsense"), Err(FileError::Magic));
        assert_eq!(
            from_bytes(&bytes[..bytes.len() - 1]),
            Err(FileError::Checksum)
        );
        assert_eq!(from_bytes(&bytes[..10]), Err(FileError::Truncated));
        let mut v4 = bytes.clone();
        v4[8] = 4;
        assert_eq!(from_bytes(&v4), Err(FileError::Version(4)));
        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert_eq!(from_bytes(&flipped), Err(FileError::Checksum));
    }

    /// Rewrites the version field and reseals the checksum.
    fn with_version(bytes: &[u8], version: u32) -> Vec<u8> {
        let mut body = bytes[..bytes.len() - 32].to_vec();
        body[8..12].copy_from_slice(&version.to_le_bytes());
        let sum = Sha256::digest(&body);
        body.extend_from_slice(&sum);
        body
    }

    #[test]
    fn format_1_is_read_and_the_sgd_prime_section_needs_format_2() {
        let code = Code {
            value: BigUint::from(5u32),
            bits: 3,
        };
        let plain = to_bytes(&header(), &code);
        assert_eq!(format_of(&plain), Some(FORMAT));
        // A format 1 file (the same bytes but the version) still reads.
        assert_eq!(
            from_bytes(&with_version(&plain, 1)).unwrap(),
            (header(), code.clone())
        );
        let prime = CodeHeader {
            sgd_prime: Some(SgdPrimeHeader {
                perturbation_length: 2,
                perturbation_bits: 3,
                perturbation_scale: 1,
                epsilon: "1/10".into(),
                max_gd_steps: 12,
                inner_steps: 7,
            }),
            ..header()
        };
        let bytes = to_bytes(&prime, &code);
        assert_eq!(from_bytes(&bytes).unwrap(), (prime, code));
        assert_eq!(
            from_bytes(&with_version(&bytes, 1)),
            Err(FileError::SectionInFormat1)
        );
    }
}
