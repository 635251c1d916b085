//! The step size α: given by `--alpha`, or the largest 16-bit dyadic with α·L_B ≤ q
//! (`--q`) or α·L_∞ ≤ q (`--q-inf`), and checked against α·L < 1, Lemma 2.1's condition.

use super::StepSize;
use crate::grid::{parse_rational, Dyadic};
use crate::model::Smoothness;
use crate::Error;
use num_rational::BigRational;
use num_traits::{One, Signed, ToPrimitive};

/// The largest 16-bit dyadic α with α·bound ≤ q.
fn alpha_for(q: &str, flag: &str, bound: &BigRational) -> Result<Dyadic, Error> {
    let qv = parse_rational(q.trim())
        .filter(|v| v.is_positive() && *v < BigRational::one())
        .ok_or_else(|| {
            Error::Config(format!(
                "{flag} {q} must be a number strictly between 0 and 1, e.g. {flag} 0.1"
            ))
        })?;
    if !bound.is_positive() {
        return Err(Error::Config(format!(
            "the smoothness bound is zero (all features are zero?); pass --alpha instead of {flag}"
        )));
    }
    Dyadic::largest_at_most(&(qv / bound)).ok_or_else(|| {
        Error::Config(format!(
            "{flag} {q} gives no usable α; pass --alpha explicitly"
        ))
    })
}

/// α from `--alpha` (checked against a certified bound), from `--q` or from `--q-inf`.
pub(super) fn resolve_alpha(
    step: &StepSize,
    l: &Smoothness,
    linf: Option<&BigRational>,
) -> Result<Dyadic, Error> {
    let alpha = match step {
        StepSize::Alpha(a) => *a,
        StepSize::Q(q) => {
            let bound = match l {
                Smoothness::Certified { bound, .. } => bound.clone(),
                Smoothness::Estimate { value, .. } => BigRational::from_float(*value)
                    .filter(|v| v.is_positive())
                    .ok_or_else(|| {
                        Error::Config(format!(
                            "the smoothness estimate {value} is not a positive number; pass --alpha instead of --q"
                        ))
                    })?,
            };
            alpha_for(q, "--q", &bound)?
        }
        StepSize::QInf(q) => {
            let bound = linf.ok_or_else(|| {
                Error::Config("--q-inf needs a certified ∞-norm bound, which this model lacks; use --alpha or --q".into())
            })?;
            alpha_for(q, "--q-inf", bound)?
        }
    };
    if alpha.shift() >= 63 {
        return Err(Error::Config(format!(
            "α = {alpha} is below 2^-62; use a larger --alpha or --q, or rescale the data"
        )));
    }
    if let Smoothness::Certified { bound, how } = l {
        let q = alpha.to_rational() * bound;
        if q >= BigRational::one() {
            return Err(Error::Config(format!(
                "α·L_B = {:.4} ≥ 1 with the certified bound L_B = {:.6} ({how}): the step is not provably invertible; lower --alpha below {:.6} or use --q 0.1",
                q.to_f64().unwrap_or(f64::INFINITY),
                bound.to_f64().unwrap_or(f64::INFINITY),
                (BigRational::one() / bound).to_f64().unwrap_or(0.0)
            )));
        }
    }
    Ok(alpha)
}
