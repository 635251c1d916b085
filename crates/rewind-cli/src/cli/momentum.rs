//! The flags of heavy-ball SGD (`rewind verify --optimizer momentum --beta B`) and its summary
//! lines.

use rewind::momentum::{Beta, MomentumConfig, Rounding};
use rewind::report::VerifyReport;

/// Which optimizer Algorithm 1 steps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerArg {
    /// W ← W − round(α·g(W)).
    Sgd,
    /// Heavy ball, PyTorch's convention: v ← β·v + g(W), W ← W − round(α·v).
    Momentum,
}

/// Flags of `--optimizer momentum`.
#[derive(Debug, clap::Args)]
pub struct MomentumArgs {
    /// `sgd` or `momentum` (heavy ball, with --beta).
    #[arg(long, value_enum, default_value = "sgd")]
    optimizer: OptimizerArg,
    /// β of --optimizer momentum: a dyadic rational in [0, 1) such as 7/8; 0 is plain SGD.
    #[arg(long)]
    beta: Option<String>,
    /// How β·v lands on the grid: `nearest` (round half to even) or `bits-back` (hypergrad's
    /// exact multiply through a buffer).
    #[arg(long, value_parser = super::run_args::choice::<Rounding>())]
    momentum_rounding: Option<Rounding>,
}

impl MomentumArgs {
    /// The optimizer, or `None` for plain SGD.
    pub fn config(&self) -> anyhow::Result<Option<MomentumConfig>> {
        if self.optimizer == OptimizerArg::Sgd {
            if self.beta.is_some() || self.momentum_rounding.is_some() {
                anyhow::bail!("--beta and --momentum-rounding apply to --optimizer momentum only; add --optimizer momentum or leave them out");
            }
            return Ok(None);
        }
        let Some(beta) = &self.beta else {
            anyhow::bail!(
                "--optimizer momentum needs --beta, a dyadic rational in [0, 1) such as 7/8"
            );
        };
        Ok(Some(MomentumConfig {
            beta: beta.parse::<Beta>()?,
            rounding: self.momentum_rounding.unwrap_or(Rounding::Nearest),
        }))
    }
}

/// The whole summary of a momentum run with β > 0 (no inversion phase of its own).
pub fn run_summary(r: &VerifyReport) -> String {
    let c = &r.config;
    let rec = r.reconstruction.as_ref();
    format!(
        "rewind verify: {model} on {data}, classes {classes:?}, n = {n} (of {nl}), b = {b}, {ep} epochs, seed {seed}\n\
         grid:            p = {p}, backend {backend}, α = {alpha} (α·L_B = {q:.4}), d = {d}\n\
         run:             {steps} steps over {er} epochs, accuracy {a0:.3} → {a1:.3}\n\
         {section}\
         initial_model_bit_exact: {ie}\n\
         all_models_bit_exact:    {ae}\n\
         final model sha256: {sha}\n",
        model = c.model,
        data = c.data,
        classes = c.classes,
        n = c.n,
        nl = c.n_loaded,
        b = c.batch,
        ep = c.epochs,
        seed = c.seed,
        p = c.frac_bits,
        backend = c.backend,
        alpha = c.alpha,
        q = c.q,
        d = c.d,
        steps = r.steps,
        er = r.run.epochs_run,
        a0 = r.run.initial_accuracy,
        a1 = r.run.final_accuracy,
        section = summary(r),
        ie = rec.is_some_and(|x| x.initial_model_bit_exact),
        ae = rec.is_some_and(|x| x.all_models_bit_exact),
        sha = r.run.final_model_sha256,
    )
}

/// The momentum lines (empty without momentum).
pub fn summary(r: &VerifyReport) -> String {
    let Some(m) = &r.momentum else {
        return String::new();
    };
    let opt = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.3}"));
    let mut out = format!(
        "momentum:        β = {}, rounding {}: buffer {} bits, {:.3} bits per step against d·log₂(1/β) = {} and the nearest-rounding loss {}; plain SGD's hints on the same run {} bits ({} steps)\n",
        m.beta,
        m.rounding,
        m.buffer_bits,
        m.buffer_bits_per_step,
        opt(m.d_log2_inv_beta_per_step),
        opt(m.nearest_loss_per_step),
        m.plain_sgd_hint_bits.map_or("—".into(), |b| b.to_string()),
        m.plain_sgd_hinted_steps.map_or("—".into(), |b| b.to_string()),
    );
    if let (Some(u), Some(mx)) = (m.unique_steps, m.max_log2_preimages) {
        out += &format!(
            "  without the buffer: {u} of {} steps have one preimage; at most 2^{mx:.1} preimages\n",
            r.steps
        );
    }
    for e in &m.epochs {
        if let (Some(b), Some(bits), Some(s)) = (e.batch_bits, e.bits, e.saving_bits) {
            out += &format!(
                "  lemma 3.1 {:>3}: {} bits (batches {}, buffer {}) vs ⌈log₂ n!⌉ = {}: saving {}\n",
                e.epoch, bits, b, e.buffer_bits, e.baseline_bits, s
            );
        }
    }
    out
}
