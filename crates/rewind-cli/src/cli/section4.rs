//! The flags of Section 4 (`rewind verify --algorithm sgd-prime`) and its summary lines.

use rewind::config::Setting;
use rewind::perturb::Perturbation;
use rewind::report::VerifyReport;
use rewind::sgd_prime::{self, SgdPrimeConfig};

/// Which training algorithm `verify` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AlgorithmArg {
    /// Algorithm 1: one SGD step per batch.
    Sgd,
    /// Section 4's Algorithm 3: per batch, a perturbed GD call (Algorithm 2) on that batch.
    SgdPrime,
}

/// Flags of `--algorithm sgd-prime`. Defaults: ℓ = 4 values of m = 8 bits, each moving a
/// weight by z·2^16 ulps, ε = 0.1, T = 100.
#[derive(Debug, clap::Args)]
pub struct Section4Args {
    /// `sgd` (Algorithm 1) or `sgd-prime` (Algorithm 3 with a perturbed GD call per batch).
    #[arg(long, value_enum, default_value = "sgd")]
    algorithm: AlgorithmArg,
    /// ℓ: values in each perturbation z (weight i moves by z[i mod ℓ]); sgd-prime only
    /// [default: 4].
    #[arg(long)]
    perturbation_length: Option<usize>,
    /// m: random bits per value of z, a uniform integer in [−2^(m−1), 2^(m−1)); sgd-prime only
    /// [default: 8].
    #[arg(long)]
    perturbation_bits: Option<u32>,
    /// s: a value z\[k\] moves a weight by z\[k\]·2^s ulps (grid units 2^-p); sgd-prime only
    /// [default: 16].
    #[arg(long)]
    perturbation_scale: Option<u32>,
    /// ε: SGD′ stops at accuracy 1/(2(1−ε)) on X; GD aims at 1/(2(1−2ε)) on its batch;
    /// sgd-prime only [default: 0.1].
    #[arg(long)]
    epsilon: Option<String>,
    /// T: the most GD steps of one call; sgd-prime only [default: 100].
    #[arg(long)]
    max_gd_steps: Option<usize>,
}

impl Section4Args {
    /// The SGD′ parameters, or `None` for plain SGD.
    pub fn config(&self) -> anyhow::Result<Option<SgdPrimeConfig>> {
        if self.algorithm == AlgorithmArg::Sgd {
            return Ok(None);
        }
        let p = Perturbation::new(
            self.perturbation_length
                .unwrap_or(sgd_prime::DEFAULT_LENGTH),
            self.perturbation_bits.unwrap_or(sgd_prime::DEFAULT_BITS),
            self.perturbation_scale.unwrap_or(sgd_prime::DEFAULT_SCALE),
        )?;
        Ok(Some(SgdPrimeConfig::new(
            p,
            self.epsilon
                .as_deref()
                .unwrap_or(sgd_prime::DEFAULT_EPSILON),
            self.max_gd_steps.unwrap_or(sgd_prime::DEFAULT_MAX_GD_STEPS),
        )?))
    }

    /// The SGD′ flags given on the command line, for [`rewind::config::check_applicable`].
    pub fn given(&self) -> Vec<(Setting, &'static str)> {
        [
            ("--perturbation-length", self.perturbation_length.is_some()),
            ("--perturbation-bits", self.perturbation_bits.is_some()),
            ("--perturbation-scale", self.perturbation_scale.is_some()),
            ("--epsilon", self.epsilon.is_some()),
            ("--max-gd-steps", self.max_gd_steps.is_some()),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| (Setting::SgdPrime, flag))
        .collect()
    }
}

/// The Section 4 lines of the summary (empty for SGD).
pub fn summary(r: &VerifyReport) -> String {
    let (Some(a), Some(p), Some(g)) = (&r.algorithm, &r.perturbation, &r.gd_steps) else {
        return String::new();
    };
    let mut out = format!(
        "algorithm:       sgd-prime, ε = {}, GD target δ = {:.4} on the batch, stop at {:.4} on X, T = {}; {} GD calls, {}\n\
         perturbation:    ℓ = {}, m = {}, scale 2^{} ulps: {} random bits per call, {} in all\n\
         gd_steps:        {} inner steps; per call median {}, p90 {}, max {}; {:.3} of calls stopped at T\n",
        a.epsilon,
        a.batch_target,
        a.stop_target,
        a.max_gd_steps,
        a.calls,
        match a.terminated_in_epoch {
            Some(e) => format!("terminated in epoch {e}"),
            None => "did not terminate".into(),
        },
        p.length,
        p.bits,
        p.scale_shift,
        p.bits_per_call,
        p.total_bits,
        g.total,
        g.median,
        g.p90,
        g.max,
        g.share_at_cap,
    );
    for e in &g.epochs {
        out += &format!(
            "  epoch {:>3}:     {} calls, T_ij median {} p90 {} max {}, {} at T; inner steps recovered {}, other preimage {}, no preimage {}; {} hinted ({} bits, each hint coded alone)\n",
            e.epoch, e.calls, e.median, e.p90, e.max, e.at_cap, e.recovered, e.other_preimage, e.no_preimage, e.hinted, e.hint_bits
        );
    }
    for e in &a.code_epochs {
        out += &format!(
            "  lemma 4.1 {:>3}: {} bits vs ⌈log₂ n!⌉ = {} and n·log₂(n/e) − b·ρ + β = {:.1}; of which log T terms {} bits, perturbations ℓ·m {} bits, hints {} bits\n",
            e.epoch, e.bits, e.baseline_bits, e.lemma_bits, e.gd_steps_bits, e.perturbation_bits, e.hint_bits
        );
    }
    out
}
