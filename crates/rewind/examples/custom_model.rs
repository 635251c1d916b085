//! A model rewind does not ship, run through the whole pipeline without changing rewind.
//!
//! Huber regression on ±1 labels: f_x(W) = h(xᵀW − y) with h(r) = r²/2 for |r| ≤ 1 and
//! |r| − 1/2 beyond, so ∇f_x = clamp(xᵀW − y, −1, 1)·x. Its gradient needs only comparisons,
//! additions and products, so the exact backend evaluates it with no rounding at all; h'' ≤ 1
//! gives the same certified smoothness bound as least squares.
//!
//! `cargo run --release --example custom_model` verifies a run bit for bit (inversion, hints,
//! the walk back, certificates and the Lemma 3.1 code), then runs a two-point sweep on it.

// The prelude names everything a model implementation needs, so a crate of its own depends
// on `rewind` alone (the random-number trait is rewind's `rand_core`, re-exported).
use rewind::prelude::*;
use rewind::sweep::{run_one_with, to_jsonl, Plan};
use rewind::verify::verify_quiet;
use std::process::ExitCode;

/// Huber regression with threshold 1.
#[derive(Debug, Clone)]
struct Huber {
    d: usize,
}

impl Huber {
    fn new(data: &Dataset) -> Self {
        Huber { d: data.d() }
    }

    /// ⟨x_i, W⟩ − y_i in the backend's numbers.
    fn residual<B: Backend>(&self, be: &B, w: &[B::R], data: &Dataset, i: usize) -> B::R {
        let p = data.grid.frac_bits();
        let mut z = be.int(0);
        for (xk, wk) in data.features[i].iter().zip(w) {
            if *xk != 0 {
                z = z.add(&be.raw(*xk, p).mul(wk));
            }
        }
        z.sub(&be.int(self.loss_label(data.labels[i])))
    }
}

impl Model for Huber {
    fn name(&self) -> &'static str {
        "huber"
    }

    fn dim(&self) -> usize {
        self.d
    }

    fn batch_gradient<B: Backend>(
        &self,
        be: &B,
        w: &[B::R],
        data: &Dataset,
        batch: &[usize],
    ) -> Result<Vec<B::R>, BackendError> {
        let (one, minus_one) = (be.int(1), be.int(-1));
        let p = data.grid.frac_bits();
        let mut g = vec![be.int(0); self.d];
        for &i in batch {
            let r = self.residual(be, w, data, i);
            let psi = if r.gt(&one) {
                one.clone()
            } else if minus_one.gt(&r) {
                minus_one.clone()
            } else {
                r
            };
            for (gk, xk) in g.iter_mut().zip(&data.features[i]) {
                if *xk != 0 {
                    *gk = gk.add(&psi.mul(&be.raw(*xk, p)));
                }
            }
        }
        Ok(g.iter().map(|v| v.div_int(batch.len() as u64)).collect())
    }

    fn correct<B: Backend>(
        &self,
        be: &B,
        w: &[i64],
        data: &Dataset,
        i: usize,
    ) -> Result<bool, BackendError> {
        let p = data.grid.frac_bits();
        let wr: Vec<B::R> = w.iter().map(|&k| be.raw(k, p)).collect();
        let z = self
            .residual(be, &wr, data, i)
            .add(&be.int(self.loss_label(data.labels[i])));
        Ok(z.is_positive() == (data.labels[i] == 1))
    }

    fn smoothness(&self, data: &Dataset, batch: usize, _w: &[i64]) -> Smoothness {
        certified_linear_bound(data, batch, BigRational::one())
    }

    fn hessian(&self, _w: &[f64], _data: &Dataset, _batch: &[usize]) -> Option<Vec<f64>> {
        None
    }

    fn loss_label(&self, class: u32) -> i64 {
        if class == 1 {
            1
        } else {
            -1
        }
    }

    fn init(&self, rng: &mut dyn RngCore, data: &Dataset) -> Vec<i64> {
        uniform_init(rng, data, self.d, self.d)
    }

    fn bounds(&self) -> Option<&dyn CertifiedBounds> {
        Some(self)
    }
}

// The optional certified part: |H_B| has the row sums of (1/b)Σ xxᵀ (h'' ≤ 1)…
impl CertifiedBounds for Huber {
    fn linf_bound(&self, data: &Dataset, batch: usize) -> BigRational {
        certified_linf_bound(data, batch, &BigRational::one())
    }

    fn row_bound<'d>(
        &self,
        data: &'d Dataset,
        batch: &[usize],
        _around: Option<Around>,
    ) -> RowBound<'d> {
        RowBound::new(data, batch, 1, |_, _| 1.0)
    }

    // …and the exact backend makes no evaluation error; other backends get no certificate.
    fn evaluation_error(
        &self,
        _data: &Dataset,
        _batch: &[usize],
        w: &[i64],
        _slack: i64,
        u: f64,
    ) -> Option<Vec<f64>> {
        (u == 0.0).then(|| vec![0.0; w.len()])
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A sweep plan: exact and f64, two seeds, one epoch of digits 3 vs 8.
const PLAN: &str = r#"
name = "huber"
[axes]
data = ["digits"]
backend = ["exact", "f64"]
seed = [0, 1]
epochs = [1]
classes = [[3, 8]]
[fixed]
early_stop = false
"#;

/// A report section that the configuration switched on.
fn section<'a, T>(s: &'a Option<T>, name: &str) -> Result<&'a T, rewind::Error> {
    s.as_ref()
        .ok_or_else(|| rewind::Error::Config(format!("the report has no {name} section")))
}

fn run() -> Result<(), rewind::Error> {
    let config = VerifyConfig {
        backend: BackendChoice::Exact,
        classes: Some(vec![3, 8]),
        epochs: 2,
        stop_at_full_accuracy: false,
        certify: Some(rewind::certify::DEFAULT_BUDGET),
        ..VerifyConfig::default()
    };
    let setup = Setup::with_model(&config, Huber::new)?;
    let (report, _trajectory) = verify_quiet(&setup)?;
    let inv = section(&report.inversion, "inversion")?;
    let rec = section(&report.reconstruction, "reconstruction")?;
    let cert = section(&report.certification, "certification")?;
    let code = section(&report.code, "code")?;
    println!(
        "model {} on {}, d = {}, backend {}, α·L_B = {:.4}",
        report.config.model,
        report.config.data,
        report.config.d,
        report.config.backend,
        report.config.q
    );
    println!(
        "steps {}: recovered {}, other preimage {}, no preimage {}; {} hinted steps, {} hint bits",
        report.steps,
        inv.recovered,
        inv.other_preimage,
        inv.no_preimage,
        report.hints.as_ref().map_or(0, |h| h.steps),
        report.hints.as_ref().map_or(0, |h| h.bits)
    );
    println!(
        "certificates: {} unique, {} ambiguous, {} unknown",
        cert.unique, cert.ambiguous, cert.unknown
    );
    println!(
        "code: {} bits against {} (epochs × ⌈log₂ n!⌉), roundtrip_bit_exact: {}",
        code.total_bits, code.baseline_total_bits, code.roundtrip_bit_exact
    );
    println!("initial_model_bit_exact: {}", rec.initial_model_bit_exact);
    println!("all_models_bit_exact:    {}", rec.all_models_bit_exact);

    // The same model through a sweep: two seeds, f64 and exact.
    let plan = Plan::parse(PLAN, "huber-plan")?;
    let lines: Vec<_> = plan
        .runs()
        .iter()
        .map(|spec| run_one_with(&plan, spec, &|c| Setup::with_model(c, Huber::new)))
        .collect();
    for line in &lines {
        let r = section(&line.report, "sweep run's")?;
        println!(
            "sweep run: model {}, backend {}, seed {}: initial_model_bit_exact {}",
            r.config.model,
            r.config.backend,
            r.config.seed,
            section(&r.reconstruction, "reconstruction")?.initial_model_bit_exact
        );
    }
    println!(
        "sweep results: {} bytes of JSON lines",
        to_jsonl(&lines).len()
    );
    Ok(())
}
