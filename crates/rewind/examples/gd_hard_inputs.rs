//! Section 4 (b), Theorem 4.3's existence searched: for ℓ = o(m) random values in GD's initial
//! perturbation (m = |Y| the batch size) there EXIST inputs on which GD needs Ω(2^m)
//! iterations. For each batch size m, a fixed set Y of m synthetic points (16 features, logistic
//! regression, α·L = 0.5, the grid's 32 fractional bits) and every one of its 2^m binary
//! labelings, GD(W₁,₁, Y, δ) of Algorithm 2 runs with T = 2^m and ε = 0.2 (δ = 5/6), the
//! perturbation ψ_z of ℓ values of 4 bits each moving a weight by z·2^-8; per labeling the mean
//! steps over `DRAWS` seeded draws of z (one draw when ℓ = 0, which has no randomness). The
//! worst labeling's mean steps against m, for ℓ = 0, 1, 2 and ℓ = m, says whether the worst case
//! grows like 2^m when ℓ = o(m).
//!
//! ```sh
//! cargo run -p rewind --example gd_hard_inputs > docs/section-4/gd-hard-inputs.csv
//! ```
//!
//! Prints CSV: m, ℓ, T, labelings, draws, worst mean steps, its labeling, mean over labelings,
//! share of (labeling, draw) calls stopped at T.

use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::perturb::Perturbation;
use rewind::sgd_prime::gd;
use rewind::sgd_prime::SgdPrimeConfig;

/// Seeded draws of z per labeling when ℓ > 0.
const DRAWS: u64 = 8;
/// Batch sizes searched exhaustively (2^m labelings, T = 2^m).
const SIZES: [usize; 5] = [4, 6, 8, 10, 12];

fn setup(m: usize) -> Result<Setup, Box<dyn std::error::Error>> {
    let config = VerifyConfig {
        data: DataSource::Synthetic {
            n: m,
            features: 16,
            classes: 2,
        },
        model: ModelKind::Logistic,
        step_size: StepSize::Q("0.5".into()),
        batch: m,
        epochs: 1,
        invert: false,
        code: false,
        ..VerifyConfig::default()
    };
    Ok(Setup::new(&config)?)
}

/// Mean GD steps over the draws, and the calls that stopped at T, for one labeling.
fn steps(
    setup: &Setup,
    p: &SgdPrimeConfig,
    draws: u64,
) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    let f = setup.step_function();
    let batch: Vec<usize> = (0..setup.data.n()).collect();
    let (mut total, mut capped) = (0usize, 0usize);
    for d in 0..draws {
        let mut rng = rewind::rng::stream(d, rewind::rng::Stream::Perturbation);
        let z = p.perturbation.draw(&mut rng);
        let r = gd(
            &f,
            &setup.init,
            &batch,
            &p.batch_target(),
            p.max_gd_steps,
            &p.perturbation,
            &z,
        )?;
        total += r.inner.len();
        capped += usize::from(!r.reached);
    }
    Ok((total as f64 / draws as f64, capped))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("m,l,T,labelings,draws,worst_mean_steps,worst_labeling,mean_steps,share_at_T");
    for m in SIZES {
        let mut s = setup(m)?;
        let t = 1usize << m;
        for l in [0, 1, 2, m] {
            let p = SgdPrimeConfig::new(Perturbation::new(l, 4, 24)?, "0.2", t)?;
            let draws = if l == 0 { 1 } else { DRAWS };
            let (mut worst, mut worst_at, mut sum, mut capped) = (-1.0, 0u32, 0.0, 0);
            for labeling in 0u32..1 << m {
                for (x, label) in s.data.labels.iter_mut().enumerate() {
                    *label = (labeling >> x) & 1;
                }
                let (mean, c) = steps(&s, &p, draws)?;
                sum += mean;
                capped += c;
                if mean > worst {
                    (worst, worst_at) = (mean, labeling);
                }
            }
            let labelings = 1u64 << m;
            println!(
                "{m},{l},{t},{labelings},{draws},{worst},{worst_at:#x},{:.3},{:.4}",
                sum / labelings as f64,
                capped as f64 / (labelings * draws) as f64
            );
        }
    }
    Ok(())
}
