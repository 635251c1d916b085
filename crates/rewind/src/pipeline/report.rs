//! The versioned report of a run (`"format": 1`), as written by `rewind verify --json`.
//!
//! Like ndarray's serialised arrays, a report names its format version; readers reject
//! versions they do not know ([`check_format`]). Reports hold no timings, so the same command
//! gives byte-identical reports.

use serde::{Deserialize, Serialize};

/// The report format this crate writes.
pub const FORMAT: u32 = 1;

/// A report this version does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// A format version other than [`FORMAT`].
    #[error("report format {0} is not supported (this rewind reads format {FORMAT}); regenerate it with this version")]
    Unsupported(u64),
    /// No `format` field: not a report.
    #[error(
        "not a rewind report: no \"format\" field; pass a file written by `rewind verify --json`"
    )]
    Missing,
}

/// Rejects a report whose `format` this version does not read.
pub fn check_format(value: &serde_json::Value) -> Result<(), FormatError> {
    match value.get("format").and_then(|f| f.as_u64()) {
        Some(f) if f == FORMAT as u64 => Ok(()),
        Some(f) => Err(FormatError::Unsupported(f)),
        None => Err(FormatError::Missing),
    }
}

/// The report of `rewind verify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The report format, [`FORMAT`]; readers refuse others ([`check_format`], docs/design.md §6).
    pub format: u32,
    /// The run's parameters as resolved (α exact, n after the tail).
    pub config: ConfigReport,
    /// What Algorithm 1 did: epochs run, early stop, accuracies, final model hash.
    pub run: RunReport,
    /// Number of SGD steps the run took, over all epochs (n/b per full epoch).
    pub steps: usize,
    /// Absent when the inversion phase is switched off (sweeps that only measure ρ).
    pub inversion: Option<InversionReport>,
    /// What the hints cost (docs/design.md §4.2); absent with the inversion phase off.
    pub hints: Option<HintReport>,
    /// The bit-for-bit check of the walk back to W₁,₁; absent with the inversion phase off.
    pub reconstruction: Option<ReconstructionReport>,
    /// The hints beside the cost of storing W₁,₁ outright; absent with the inversion phase off
    /// and for SGD′, whose side information has more parts than the hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub side_information: Option<SideInformation>,
    /// Present with `--certify`: what is proven about every step.
    pub certification: Option<CertificationReport>,
    /// The accuracy discrepancy of Section 3, per epoch.
    pub discrepancy: DiscrepancyReport,
    /// The entropy-compression code of the run (absent with `--no-code`).
    pub code: Option<CodeReport>,
    /// Section 4 (`rewind verify --algorithm sgd-prime`): the algorithm and its thresholds,
    /// with the code of Lemma 4.1 per epoch; absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<AlgorithmReport>,
    /// Section 4: the perturbation family Ψ_ℓ and the random bits it spent; absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perturbation: Option<PerturbationReport>,
    /// Section 4: T_{i,j} (GD steps per batch) and the inner steps' inversions, per epoch;
    /// absent for SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gd_steps: Option<GdStepsReport>,
    /// `--optimizer momentum`: what rewinding the velocity costs (docs/design.md §2.9); absent
    /// for plain SGD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<MomentumReport>,
    /// What the run may have lost before it started (features that quantise to zero) or could
    /// not do (no step moved the model); absent when there is nothing to say.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// ρ per epoch beside its null model, and the threshold of Theorem 3.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiscrepancyReport {
    /// The paper's leading term n·log₂ n / b² (constant 1).
    pub beta_leading: f64,
    /// One entry per epoch run, in order: λ, ρ_i, running averages and the null
    /// (docs/design.md §2.8).
    pub epochs: Vec<crate::steps::discrepancy::EpochDiscrepancy>,
    /// The permutation p-values of the run's `running_fit_z` and ρ's running excess z
    /// ([`crate::steps::tails`]); absent in results written before they were computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tails: Option<crate::steps::tails::Tails>,
}

/// The Lemma 3.1 code of the run, and the check that it decodes bit for bit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeReport {
    /// Decoding from the final model, the data and the code alone returned every permutation,
    /// every batch, every model and W₁,₁ bit for bit.
    pub roundtrip_bit_exact: bool,
    /// Length of the whole code (all epochs and the run header, one terminated message).
    pub total_bits: u64,
    /// Bits of the run header (the count and subset rank of hinted steps, docs/design.md §5.1);
    /// 0 with certification, which codes no hinted set.
    pub run_header_bits: u64,
    /// Epochs × ⌈log₂ n!⌉.
    pub baseline_total_bits: u64,
    /// Hints are indices among certified preimages where certification succeeds.
    pub certified_hints: bool,
    /// log₂ n + 2: under the null model ([`crate::steps::null`]) an epoch's `discrepancy_saving_bits`
    /// reaches this with probability at most 1/n (the saving is a likelihood ratio against the
    /// hypergeometric null; derivation in the README). The threshold this code is held to.
    pub saving_threshold_bits: f64,
    /// One entry per epoch, in run order.
    pub epochs: Vec<EpochCodeReport>,
}

/// One epoch's code length against ⌈log₂ n!⌉.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochCodeReport {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// ⌈log₂ n!⌉.
    pub baseline_bits: u64,
    /// The epoch's code, header and hints included.
    pub bits: u64,
    /// Bits of the epoch's hint digits alone (docs/design.md §5.3).
    pub hint_bits: u64,
    /// Bits of the epoch's header, the tilt index: 3 (docs/design.md §5.1).
    pub header_bits: u64,
    /// baseline − bits.
    pub saving_bits: i64,
    /// baseline − (bits − hint_bits): what the discrepancy saves before finite precision's cost.
    pub discrepancy_saving_bits: i64,
    /// The chosen tilt r = u/v.
    pub tilt: String,
    /// b·ρ_i in the code's direction, D(φ‖λ'), summed over the epoch.
    pub b_rho_code: f64,
    /// b·ρ_i as the paper writes it, D(λ'‖φ).
    pub b_rho_paper: f64,
    /// b·(ρ_i − its null expectation), code direction: the part of b·ρ_code that sampling
    /// noise does not give, to set beside `discrepancy_saving_bits`.
    pub b_excess_code: f64,
}

/// The certified classification of every step (`rewind verify --certify`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificationReport {
    /// Steps proven to have exactly one preimage, the logged model.
    pub unique: usize,
    /// Steps proven to have several preimages.
    pub ambiguous: usize,
    /// Steps that could not be certified, by reason.
    pub unknown: usize,
    /// Unknown because q_∞ ≥ 1 over the free coordinates: no radius exists
    /// (docs/design.md §4.3).
    pub unknown_non_contractive: usize,
    /// Unknown because the search needed more gradient evaluations than the budget.
    pub unknown_budget: usize,
    /// Unknown because the model has no certified row or error bound (the MLP).
    pub unknown_no_certified_bound: usize,
    /// Unknown because the radius R exceeds 64 ulps with a non-zero evaluation error.
    pub unknown_radius_too_large: usize,
    /// Σ ⌈log₂ k⌉ over ambiguous steps: the hint cost when the preimages are enumerated.
    pub optimal_hint_bits: u64,
    /// Gradient evaluations spent on certification.
    pub gradient_evaluations: u64,
    /// The budget of gradient evaluations per step (`--certify-budget`, at most
    /// [`crate::steps::certify::MAX_BUDGET`]).
    pub budget: u64,
    /// Mean number of coordinates left free (not pinned) after pinning, over certified steps.
    pub mean_free_coordinates: f64,
    /// Largest number of free coordinates of any step.
    pub max_free_coordinates: usize,
    /// Largest number of preimages found for one step (1 when every step is unique).
    pub max_preimages: usize,
    /// How the backend's evaluation error was bounded.
    pub evaluation_error: String,
}

/// The run's parameters, resolved (α exact, n after the tail is dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigReport {
    /// Where the examples came from: "digits (bundled)", the file's path, or
    /// "synthetic(n=…, d=…, classes=…, seed=…)".
    pub data: String,
    /// The model's name as on the command line ("logistic", "mlp", …) or a custom model's own.
    pub model: String,
    /// Hidden width of the MLP; null for the other models.
    pub hidden: Option<usize>,
    /// The MLP's activation ("gelu" or "tanh"); null for the other models.
    pub activation: Option<String>,
    /// The backend that evaluated the gradients: "exact", "mpfr" or "f64" (docs/design.md §2.4).
    pub backend: String,
    /// MPFR working precision in bits; null for the other backends.
    pub mpfr_precision: Option<u32>,
    /// p, the grid's fractional bits: one ulp is 2^-p (docs/design.md §2.1).
    pub frac_bits: u32,
    /// α = alpha_num / alpha_den exactly (alpha_den a power of two).
    pub alpha: String,
    /// Numerator m of α = m / alpha_den.
    pub alpha_num: u64,
    /// Denominator of α, a power of two 2^k.
    pub alpha_den: u64,
    /// α·L_B with the bound or estimate below.
    pub q: f64,
    /// α·L_∞ with the certified ∞-norm (Gershgorin) bound; null where there is none.
    pub q_inf: Option<f64>,
    /// The bound L_B behind `q`, and whether it is certified (docs/design.md §2.5).
    pub smoothness: SmoothnessReport,
    /// Batch size b.
    pub batch: usize,
    /// Epochs requested (t); `run.epochs_run` says how many ran.
    pub epochs: usize,
    /// Seed of the run's named random streams (docs/design.md §6).
    pub seed: u64,
    /// Examples the run uses (⌊n_loaded/b⌋·b).
    pub n: usize,
    /// Examples loaded after class selection, before the tail n_loaded − n is dropped.
    pub n_loaded: usize,
    /// Feature columns, bias included.
    pub features: usize,
    /// Model parameters.
    pub d: usize,
    /// The original labels of classes 0, 1, …: the `--classes` list in its order, or every label
    /// in ascending order.
    pub classes: Vec<u32>,
    /// Whether every label was replaced by a uniform draw (`--random-labels`).
    pub random_labels: bool,
    /// Whether the run stops once every example is classified correctly (line 6 of Algorithm 1).
    pub stop_at_full_accuracy: bool,
    /// Iteration cap of the inverter per step (`--max-iterations`, docs/design.md §4.1).
    pub max_iterations: u32,
}

/// L_B and whether it is a certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmoothnessReport {
    /// True when `value` is a certificate; false for an estimate (the MLP's power iteration).
    pub certified: bool,
    /// L_B, the smoothness bound of the batch loss (real units, not ulps).
    pub value: f64,
    /// How `value` was obtained: which bound (trace or Gershgorin) and factor, or the estimate's
    /// method.
    pub how: String,
}

/// What Algorithm 1 did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Epochs that ran, the last possibly cut short by the stop.
    pub epochs_run: usize,
    /// Whether the run stopped because every example was classified correctly.
    pub stopped_at_full_accuracy: bool,
    /// Accuracy of W₁,₁ on the n examples, a share in [0, 1].
    pub initial_accuracy: f64,
    /// Accuracy of the final model on the n examples, a share in [0, 1].
    pub final_accuracy: f64,
    /// [`model_sha256`] of the final model.
    pub final_model_sha256: String,
}

/// Counts of inversion outcomes over all steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InversionReport {
    /// Steps whose inversion reached the logged model (docs/design.md §4.1).
    pub recovered: usize,
    /// Steps whose inversion reached a fixed point other than the logged model.
    pub other_preimage: usize,
    /// Steps whose inversion ended in a cycle or at the cap.
    pub no_preimage: usize,
    /// Steps whose iteration ended in a cycle.
    pub cycles: usize,
    /// Steps whose iteration reached `--max-iterations`.
    pub caps: usize,
    /// Mean iterations per step of the inverter.
    pub mean_iterations: f64,
    /// Every gradient evaluation of the inversion phase (inverting every step and walking
    /// back): `own_backend_evaluations` + `predictor_evaluations`.
    pub gradient_evaluations: u64,
    /// Evaluations by the run's own backend; each fixed point found costs at least one, its
    /// confirmation as a forward step. Results written before this key existed read it as 0.
    #[serde(default)]
    pub own_backend_evaluations: u64,
    /// Evaluations by the f64 predictor that runs the iteration before the own backend
    /// confirms it (0 when the own backend is f64).
    #[serde(default)]
    pub predictor_evaluations: u64,
    /// Mean over steps of 1 − det(I − αH_B); null where not computed (no closed-form Hessian,
    /// or more than 1,024 parameters).
    pub predicted_many_to_one: Option<f64>,
    /// Why `predicted_many_to_one` was not computed for this model, when that is known before
    /// the run (the MLP, or a dense Hessian above the dimension cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted_many_to_one_skipped: Option<String>,
    /// Share of steps whose inversion did not return the logged model.
    pub observed_many_to_one: f64,
}

/// What the corrections cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HintReport {
    /// Steps that needed a hint (`other_preimage` + `no_preimage`).
    pub steps: usize,
    /// Length of the hint code in bits, as a sum of ceilings (docs/design.md §4.2).
    pub bits: u64,
    /// A description of how the hints are coded.
    pub coding: String,
}

/// What rewinding the run needed beyond its final model and batches, against the simplest
/// alternative: storing W₁,₁ itself, 64 bits per parameter (docs/design.md §4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideInformation {
    /// The hint code's length in bits ([`HintReport::bits`]).
    pub hint_bits: u64,
    /// 64·d: the bits of W₁,₁ stored outright as d 64-bit integers.
    pub first_model_bits: u64,
    /// hint_bits / first_model_bits; above 1 the hints cost more than storing W₁,₁.
    pub ratio: f64,
}

impl SideInformation {
    /// The hints of a run of a `dim`-parameter model beside storing its W₁,₁.
    pub fn new(hint_bits: u64, dim: usize) -> Self {
        let first_model_bits = 64 * dim as u64;
        SideInformation {
            hint_bits,
            first_model_bits,
            ratio: hint_bits as f64 / first_model_bits.max(1) as f64,
        }
    }

    /// The warning a run whose hints cost more than storing W₁,₁ carries.
    pub fn warning(&self) -> Option<String> {
        (self.hint_bits > self.first_model_bits).then(|| {
            format!(
                "the side information ({} hint bits) is {:.1}× the {} bits of storing W₁,₁ outright: on this run rewinding is no cheaper than keeping the first model",
                self.hint_bits, self.ratio, self.first_model_bits
            )
        })
    }
}

/// The bit-for-bit check of the walk back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionReport {
    /// The walk back from the final model, batches and hints alone returned W₁,₁ bit for bit.
    pub initial_model_bit_exact: bool,
    /// Every model of the walk back equals the logged one bit for bit.
    pub all_models_bit_exact: bool,
    /// [`model_sha256`] of the model the walk back started from.
    pub final_model_sha256: String,
    /// [`model_sha256`] of W₁,₁, the logged initial model.
    pub initial_model_sha256: String,
}

/// SHA-256 of a model's raw integers, little-endian, as lowercase hex.
pub fn model_sha256(w: &[i64]) -> String {
    model_digest(w).iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a model's raw integers, little-endian, as bytes.
pub fn model_digest(w: &[i64]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in w {
        h.update(v.to_le_bytes());
    }
    h.finalize().into()
}

// The report sections of SGD′ (docs/design.md §5.3 and Section 4 of the paper).

/// Report section `algorithm`: which algorithm ran and what its thresholds were.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlgorithmReport {
    /// `sgd-prime` (Algorithm 3 calling Algorithm 2 per batch).
    pub name: String,
    /// ε as given (exact fraction).
    pub epsilon: String,
    /// δ = 1/(2(1 − 2ε)), GD's target on its batch.
    pub batch_target: f64,
    /// 1/(2(1 − ε)), the accuracy on X at which SGD′ returns.
    pub stop_target: f64,
    /// T, the most GD steps per call.
    pub max_gd_steps: usize,
    /// Whether SGD′ returned (line 6) within the epoch cap; the report's
    /// `run.stopped_at_full_accuracy` is then true too, meaning "stopped at its target".
    pub terminated: bool,
    /// The epoch in which it returned, if it did.
    pub terminated_in_epoch: Option<usize>,
    /// GD calls (batches) run.
    pub calls: usize,
    /// Per epoch, the code of Lemma 4.1 against ⌈log₂ n!⌉ and the lemma's bound (present when
    /// the code was computed).
    pub code_epochs: Vec<Lemma41Epoch>,
}

/// One epoch's code of Lemma 4.1, its parts and the bounds it is compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lemma41Epoch {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// The epoch's whole code: batches, T_{i,j}, z, hints and header.
    pub bits: u64,
    /// ⌈log₂ n!⌉.
    pub baseline_bits: u64,
    /// n·log₂(n/e) − b·ρ_i + β(n, b) with β's leading term n·log₂n/b² and ρ_i in the paper's
    /// direction: the lemma's bound without its o(n).
    pub lemma_bits: f64,
    /// Σ_j of the Elias-γ code of T_{i,j} + 1: the per-batch log T term.
    pub gd_steps_bits: u64,
    /// Σ_j ℓ·m: the per-batch perturbation term.
    pub perturbation_bits: u64,
    /// The bits of the epoch's hints (corrections for many-to-one inner steps) as the code
    /// writes them: the exact cost of their digits, below the sum of the hints' own lengths in
    /// `gd_steps.epochs[].hint_bits` (see there).
    pub hint_bits: u64,
}

/// Report section `perturbation`: Ψ_ℓ and the randomness it spent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerturbationReport {
    /// ℓ.
    pub length: usize,
    /// m.
    pub bits: u32,
    /// s: a value `z[k]` moves a weight by `z[k]`·2^s ulps.
    pub scale_shift: u32,
    /// ℓ·m, the random bits of one call.
    pub bits_per_call: u64,
    /// Random bits spent in all (calls × ℓ·m).
    pub total_bits: u64,
    /// Per epoch: calls and random bits.
    pub epochs: Vec<EpochPerturbation>,
}

/// One epoch's perturbations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochPerturbation {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// GD calls in the epoch.
    pub calls: usize,
    /// Random bits spent in the epoch (calls × ℓ·m).
    pub bits: u64,
}

/// Report section `gd_steps`: T_{i,j} and the inversion of the inner steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GdStepsReport {
    /// Σ T_{i,j}: every inner GD step (each is one logged, inverted step).
    pub total: usize,
    /// Median T_{i,j} over all calls.
    pub median: f64,
    /// 90th percentile (nearest rank) of T_{i,j} over all calls.
    pub p90: f64,
    /// Largest T_{i,j}.
    pub max: usize,
    /// Share of calls that stopped at T without meeting δ.
    pub share_at_cap: f64,
    /// The same per epoch.
    pub epochs: Vec<EpochGdSteps>,
}

/// One epoch's GD calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochGdSteps {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// GD calls in the epoch.
    pub calls: usize,
    /// Σ_j T_{i,j} over the epoch.
    pub total: usize,
    /// Median T_{i,j} of the epoch.
    pub median: f64,
    /// 90th percentile (nearest rank) of T_{i,j} of the epoch.
    pub p90: f64,
    /// Largest T_{i,j} of the epoch.
    pub max: usize,
    /// Calls that stopped at T without meeting δ.
    pub at_cap: usize,
    /// Inner steps whose inversion gave the logged model (docs/design.md §4.1).
    pub recovered: usize,
    /// Inner steps whose inversion gave another preimage.
    pub other_preimage: usize,
    /// Inner steps whose inversion found no preimage.
    pub no_preimage: usize,
    /// Inner steps that needed a hint.
    pub hinted: usize,
    /// The bits of those hints' corrections, each coded alone in whole bits (the sum of
    /// [`crate::steps::codec::hint::Hint::bits`], as `hints.bits` counts them). The code of Lemma 4.1
    /// writes the same digits arithmetically, with one ceiling per epoch, so its
    /// `algorithm.code_epochs[].hint_bits` is smaller: each hint's count (log₂ d bits) and
    /// positions (log₂ C(d, nnz)) are not rounded up one by one. On the defaults with random
    /// labels (d = 65, 46 hints, mostly of one coordinate) that is 771 against 682 bits,
    /// about 2 × (7 − log₂ 65) ≈ 1.96 bits per hint.
    pub hint_bits: u64,
}

/// The data set exactly as the model sees it (`--dump-data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataDump {
    /// The dump format (1).
    pub format: u32,
    /// p: each raw feature k means k·2^-p.
    pub frac_bits: u32,
    /// Examples, after the tail is dropped.
    pub n: usize,
    /// Feature columns per example, bias included.
    pub d: usize,
    /// The quantised features as raw grid integers, one row per example (docs/design.md §2.6).
    pub features: Vec<Vec<i64>>,
    /// Labels as the loss uses them: ±1 for least squares, the class index otherwise.
    pub labels: Vec<i64>,
}

/// Heavy-ball SGD (docs/design.md §2.9): the buffer that rewinds the velocity, beside
/// d·log₂(1/β), the loss of nearest rounding and plain SGD's hints on the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MomentumReport {
    /// β, exactly, as N/D.
    pub beta: String,
    /// `nearest` or `bits-back`.
    pub rounding: String,
    /// Bits of the buffer's exact code (what β⊙ destroyed over the whole run); 0 at β = 0,
    /// where the run is plain SGD and its hints are the side information.
    pub buffer_bits: u64,
    /// `buffer_bits` / steps.
    pub buffer_bits_per_step: f64,
    /// d·log₂(1/β), hypergrad's cost per step; absent at β = 0.
    pub d_log2_inv_beta_per_step: Option<f64>,
    /// d × the mean over one period of V of log₂ |{V′ : round(β·V′) = round(β·V)}|: what
    /// nearest rounding destroys per step for uniform velocities; absent at β = 0.
    pub nearest_loss_per_step: Option<f64>,
    /// log₂ of what the run left to code: Σ log₂ |preimage set| over every coordinate and step
    /// (nearest), log₂(buffer + 1) (bits-back).
    pub buffer_content_bits: f64,
    /// The hint bits of plain SGD on the same data, model, α and seed (docs/design.md §4.2).
    pub plain_sgd_hint_bits: Option<u64>,
    /// Steps of that plain SGD run that needed a hint.
    pub plain_sgd_hinted_steps: Option<usize>,
    /// The walk back from (W, u) and the decoded buffer returned u₁ = 0 bit for bit (and, for
    /// bits-back, left the buffer empty, as it started).
    pub initial_velocity_bit_exact: bool,
    /// Nearest rounding: steps whose map (W, u) ↦ (W′, u′) has one preimage without the
    /// buffer (every coordinate's preimage set a single point).
    pub unique_steps: Option<usize>,
    /// Nearest rounding: the most preimages a step has without the buffer, as log₂.
    pub max_log2_preimages: Option<f64>,
    /// The Lemma 3.1 code per epoch with the buffer counted as side information.
    pub epochs: Vec<MomentumEpochReport>,
    /// Whether any epoch's code, buffer included, is shorter than ⌈log₂ n!⌉.
    pub code_beats_baseline: Option<bool>,
}

/// One epoch of the Lemma 3.1 code of a momentum run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MomentumEpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// ⌈log₂ n!⌉.
    pub baseline_bits: u64,
    /// The epoch's batches coded from the models' accuracies (docs/design.md §5.1), its
    /// 3-bit header included; no hints, since every step comes back from (W, u) and the buffer.
    pub batch_bits: Option<u64>,
    /// The buffer's share of the epoch.
    pub buffer_bits: u64,
    /// batch_bits + buffer_bits.
    pub bits: Option<u64>,
    /// baseline_bits − bits.
    pub saving_bits: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_formats_are_rejected() {
        assert!(check_format(&serde_json::json!({"format": 1})).is_ok());
        assert!(check_format(&serde_json::json!({"format": 2})).is_err());
        assert!(check_format(&serde_json::json!({"steps": 2})).is_err());
    }

    #[test]
    fn model_hash_is_pinned() {
        // SHA-256 of the 16 bytes 01 00.. ff ff..: pins byte order and hex format.
        assert_eq!(
            model_sha256(&[1, -1]),
            "db0550d553e2a146e34164d19cd55f006c38d700d8f9a4e3ba2c889a1d7c26b2"
        );
    }
}
