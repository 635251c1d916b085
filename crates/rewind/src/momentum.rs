//! Heavy-ball SGD on the grid and its exact reversal (docs/design.md §2.9).
//!
//! The velocity is kept in step units, u = α·v in ulps, so PyTorch's
//! v ← β·v + g(W), W ← W − α·v becomes u ← β⊙u + s_B(W), W ← W − u, with s_B the one step
//! increment of [`crate::sgd::StepFunction`] and β⊙ a multiplication that lands on the grid:
//! round-half-even ([`Rounding::Nearest`]) or hypergrad's exact multiply through a buffer
//! ([`Rounding::BitsBack`]). Reversing a step needs no fixed-point iteration (Lemma 2.1 is not
//! used): W = W' + u' exactly, β⊙u = u' − s_B(W), and u comes back from what β⊙ destroyed, an
//! index into a preimage set of known size or the buffer's digits.

use crate::grid::{checked_add, checked_sub, GridError};
use crate::sgd::{Observer, Optimizer, SgdConfig, StepFunction, Trajectory};
use crate::Error;
use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{ToPrimitive, Zero};
use std::fmt;

/// The largest exponent k of β = N/2^k accepted: the preimage sets have up to 2^k points and
/// the nearest-rounding loss sums over a period of 2^(k+1) values.
pub const MAX_BETA_SHIFT: u32 = 20;

/// β = N/2^k with 0 ≤ β < 1, reduced (N odd unless β = 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beta {
    num: u64,
    shift: u32,
}

impl Beta {
    /// N/2^k, reduced; refused unless 0 ≤ N/2^k < 1 and k ≤ [`MAX_BETA_SHIFT`].
    pub fn new(num: u64, shift: u32) -> Result<Self, Error> {
        let tz = if num == 0 {
            shift
        } else {
            num.trailing_zeros().min(shift)
        };
        let (num, shift) = (num >> tz, shift - tz);
        if shift > MAX_BETA_SHIFT || (shift < 64 && num >= 1u64 << shift) {
            return Err(Error::Config(format!(
                "--beta {num}/2^{shift} is refused: β must lie in [0, 1) with a denominator of at most 2^{MAX_BETA_SHIFT}; use e.g. 7/8"
            )));
        }
        Ok(Beta { num, shift })
    }

    /// N.
    pub fn num(&self) -> u64 {
        self.num
    }

    /// D = 2^k.
    pub fn den(&self) -> u64 {
        1u64 << self.shift
    }

    /// β = 0: the optimizer is plain SGD.
    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// β as an f64 (exact: N < 2^20).
    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den() as f64
    }

    /// log₂(1/β) = log₂ D − log₂ N: what hypergrad's multiply costs per coordinate; infinite
    /// for β = 0.
    pub fn log2_inv(&self) -> f64 {
        self.shift as f64 - (self.num as f64).log2()
    }

    /// The exact information round(β·V) destroys for a uniform integer V: the mean over one
    /// period of V (2D values: β·(V + 2D) = β·V + 2N, an even shift) of log₂ of the size of
    /// V's preimage set. Infinite for β = 0.
    pub fn nearest_loss(&self) -> f64 {
        if self.is_zero() {
            return f64::INFINITY;
        }
        let period = 2 * self.den() as i64;
        let total: f64 = (0..period)
            .map(|v| (nearest_preimages(*self, round_beta(*self, v)).1 as f64).log2())
            .sum();
        total / period as f64
    }
}

impl std::str::FromStr for Beta {
    type Err = Error;

    /// `N/D` (D a power of two), `N/2^k`, a decimal such as `0.875`, or `0`.
    fn from_str(input: &str) -> Result<Self, Error> {
        let bad = || {
            Error::Config(format!(
                "--beta {input} is not a dyadic rational in [0, 1); write it as N/2^k, e.g. 7/8 or 0.875"
            ))
        };
        let value = crate::grid::parse_rational(input.trim()).ok_or_else(bad)?;
        let den = value.denom().magnitude().clone();
        if value.numer().sign() == num_bigint::Sign::Minus || den.count_ones() != 1 {
            return Err(bad());
        }
        let shift = den.trailing_zeros().unwrap_or(0);
        let num = value.numer().magnitude().to_u64().ok_or_else(bad)?;
        Beta::new(num, u32::try_from(shift).map_err(|_| bad())?)
    }
}

impl fmt::Display for Beta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            write!(f, "0")
        } else {
            write!(f, "{}/{}", self.num, self.den())
        }
    }
}

/// How β·u is put back on the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// round-half-even(β·u), as a float framework would round; the run does not depend on
    /// anything but W and u.
    Nearest,
    /// hypergrad's exact multiply: u·N plus a digit popped from the buffer (radix N), the
    /// remainder mod D pushed, then divided by D. The run depends on the buffer.
    BitsBack,
}

crate::named_enum!(Rounding, "momentum rounding", { Nearest => "nearest", BitsBack => "bits-back" });

/// The optimizer: β and how β·u is rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MomentumConfig {
    /// β = N/2^k.
    pub beta: Beta,
    /// How β·u lands on the grid.
    pub rounding: Rounding,
}

/// round-half-even(N·u/D), exactly.
pub fn round_beta(beta: Beta, u: i64) -> i64 {
    let (n, d) = (beta.num as i128, beta.den() as i128);
    let x = n * u as i128;
    let (q, r) = (x.div_euclid(d), x.rem_euclid(d));
    let up = match (2 * r).cmp(&d) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => q % 2 != 0,
    };
    // |β·u| ≤ |u|, so the result fits.
    (q + up as i128) as i64
}

/// The smallest V with round(β·V) ≥ y.
fn lowest_at_least(beta: Beta, y: i128) -> i128 {
    let (n, d) = (beta.num as i128, beta.den() as i128);
    // round(N·V/D) ≥ y ⇔ N·V/D > y − ½, or N·V/D = y − ½ and y is even (ties go to even).
    let (a, c) = (d * (2 * y - 1), 2 * n);
    if y % 2 == 0 && a % c == 0 {
        a / c
    } else {
        a.div_euclid(c) + 1
    }
}

/// The preimage set {V : round(β·V) = y} of a nonzero β: its smallest point and its size (an
/// interval of integers, since V ↦ round(β·V) is non-decreasing).
pub fn nearest_preimages(beta: Beta, y: i64) -> (i128, u64) {
    let lo = lowest_at_least(beta, y as i128);
    let hi = lowest_at_least(beta, y as i128 + 1);
    (lo, (hi - lo) as u64)
}

/// hypergrad's store: a stack of digits of mixed radix held as one big integer, empty at 0.
/// Pushing digit x of radix M makes it s·M + x; popping radix M returns s mod M and leaves
/// ⌊s/M⌋ (popping the empty store returns 0 and costs nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buffer {
    value: BigUint,
}

impl Buffer {
    /// A buffer holding exactly `value`.
    pub fn from_value(value: BigUint) -> Self {
        Buffer { value }
    }

    /// The integer the digits make.
    pub fn value(&self) -> &BigUint {
        &self.value
    }

    /// Whether it is empty (0).
    pub fn is_empty(&self) -> bool {
        self.value.is_zero()
    }

    /// Pushes `digit` < `radix`.
    pub fn push(&mut self, digit: u64, radix: u64) {
        self.value = &self.value * radix + digit;
    }

    /// Pops a digit of `radix`.
    pub fn pop(&mut self, radix: u64) -> u64 {
        let (q, r) = self.value.div_rem(&BigUint::from(radix));
        self.value = q;
        r.to_u64().unwrap_or(0)
    }
}

/// A bound the buffer stays below after `coordinates` multiplies from empty (pop radix N, push
/// radix D each): B ← ⌈B/N⌉, then B·D. It depends on β and the count only, so a decoder knows
/// it, and the buffer is coded as one uniform digit below it.
pub fn buffer_bound(beta: Beta, coordinates: u64) -> BigUint {
    buffer_bound_after(BigUint::from(1u32), beta, coordinates)
}

/// The bound after `coordinates` more multiplies, from a buffer below `b`.
pub fn buffer_bound_after(mut b: BigUint, beta: Beta, coordinates: u64) -> BigUint {
    let (n, d) = (BigUint::from(beta.num), BigUint::from(beta.den()));
    for _ in 0..coordinates {
        b = b.div_ceil(&n) * &d;
    }
    b
}

/// hypergrad's β·u: N·u plus a digit popped (radix N), the remainder mod D pushed, ⌊·/D⌋.
fn mul_bits_back(beta: Beta, u: i64, buffer: &mut Buffer) -> i64 {
    let (n, d) = (beta.num as i128, beta.den() as i128);
    let x = n * u as i128 + buffer.pop(beta.num) as i128;
    buffer.push(x.rem_euclid(d) as u64, beta.den());
    // ⌊x/D⌋ lies within 1 of β·u, and β ≤ 1 − 2^-20: it fits whenever u does.
    x.div_euclid(d) as i64
}

fn overflow(what: &'static str, v: i128) -> Error {
    GridError::Overflow {
        what,
        approx: format!("{v}"),
    }
    .into()
}

/// The inverse of [`mul_bits_back`]: pops the remainder (radix D), splits N·u + digit, pushes
/// the digit back (radix N).
fn unmul_bits_back(beta: Beta, y: i64, buffer: &mut Buffer) -> Result<i64, Error> {
    let (n, d) = (beta.num as i128, beta.den() as i128);
    let x = d * y as i128 + buffer.pop(beta.den()) as i128;
    buffer.push(x.rem_euclid(n) as u64, beta.num);
    let u = x.div_euclid(n);
    i64::try_from(u).map_err(|_| overflow("a velocity walked back", u))
}

/// β⊙u coordinate by coordinate.
fn multiply(cfg: &MomentumConfig, u: &[i64], buffer: &mut Buffer) -> Vec<i64> {
    match cfg.rounding {
        Rounding::Nearest => u.iter().map(|&x| round_beta(cfg.beta, x)).collect(),
        Rounding::BitsBack => u
            .iter()
            .map(|&x| mul_bits_back(cfg.beta, x, buffer))
            .collect(),
    }
}

/// One momentum step, defined once (docs/design.md §2.9): u' = β⊙u + s_B(W), W' = W − u'.
/// Returns (W', u'); with bits-back the buffer moves.
pub fn step(
    f: &StepFunction,
    cfg: &MomentumConfig,
    w: &[i64],
    u: &[i64],
    batch: &[usize],
    buffer: &mut Buffer,
) -> Result<(Vec<i64>, Vec<i64>), Error> {
    let s = f.increment(w, batch)?;
    let bu = multiply(cfg, u, buffer);
    let u_next = checked_add(&bu, &s, "a velocity after a step")?;
    let w_next = checked_sub(w, &u_next, "a model after a momentum step")?;
    Ok((w_next, u_next))
}

/// The first half of a step back: W = W' + u' and β⊙u = u' − s_B(W), both exact.
pub fn step_back(
    f: &StepFunction,
    w_next: &[i64],
    u_next: &[i64],
    batch: &[usize],
) -> Result<(Vec<i64>, Vec<i64>), Error> {
    let w = checked_add(w_next, u_next, "a model walked back")?;
    let s = f.increment(&w, batch)?;
    let bu = checked_sub(u_next, &s, "a velocity walked back")?;
    Ok((w, bu))
}

/// What β⊙ destroyed, as the walk back reads it.
pub trait Destroyed {
    /// u from β⊙u (`bu`).
    fn velocity(&mut self, cfg: &MomentumConfig, bu: &[i64]) -> Result<Vec<i64>, Error>;
}

/// Nearest rounding: u_k = (smallest point of the preimage set of y_k) + an index read by
/// `read(size)` for every coordinate whose set has more than one point.
pub struct NearestIndices<F: FnMut(u64) -> Result<u64, Error>>(pub F);

impl<F: FnMut(u64) -> Result<u64, Error>> Destroyed for NearestIndices<F> {
    fn velocity(&mut self, cfg: &MomentumConfig, bu: &[i64]) -> Result<Vec<i64>, Error> {
        bu.iter()
            .map(|&y| {
                let (lo, size) = nearest_preimages(cfg.beta, y);
                let index = if size > 1 { (self.0)(size)? } else { 0 };
                if index >= size {
                    return Err(Error::Config(
                        "a velocity index lies outside its preimage set; the buffer does not belong to this run".into(),
                    ));
                }
                let u = lo + index as i128;
                i64::try_from(u).map_err(|_| overflow("a velocity walked back", u))
            })
            .collect()
    }
}

impl Destroyed for Buffer {
    fn velocity(&mut self, cfg: &MomentumConfig, bu: &[i64]) -> Result<Vec<i64>, Error> {
        // The forward multiply went through the coordinates in order; the stack unwinds them
        // last first.
        let mut u = vec![0; bu.len()];
        for k in (0..bu.len()).rev() {
            u[k] = unmul_bits_back(cfg.beta, bu[k], self)?;
        }
        Ok(u)
    }
}

/// The optimizer of Algorithm 1 with momentum: its velocity, its buffer, and the velocity
/// before every step taken.
pub struct Momentum<'f, 'a> {
    f: &'f StepFunction<'a>,
    cfg: MomentumConfig,
    u: Vec<i64>,
    buffer: Buffer,
    velocities: Vec<Vec<i64>>,
}

impl Optimizer for Momentum<'_, '_> {
    type Proposal = (Vec<i64>, Vec<i64>, Option<Buffer>);

    fn propose(&self, w: &[i64], batch: &[usize]) -> Result<Self::Proposal, Error> {
        let mut buffer = match self.cfg.rounding {
            Rounding::BitsBack => self.buffer.clone(),
            Rounding::Nearest => Buffer::default(),
        };
        let (w_next, u_next) = step(self.f, &self.cfg, w, &self.u, batch, &mut buffer)?;
        Ok((
            w_next,
            u_next,
            (self.cfg.rounding == Rounding::BitsBack).then_some(buffer),
        ))
    }

    fn accept(&mut self, (w_next, u_next, buffer): Self::Proposal) -> Vec<i64> {
        self.velocities.push(std::mem::replace(&mut self.u, u_next));
        if let Some(b) = buffer {
            self.buffer = b;
        }
        w_next
    }
}

/// A momentum run: Algorithm 1's trajectory with the velocity beside every model.
#[derive(Debug, Clone)]
pub struct MomentumRun {
    /// The models, batches and permutations, as for plain SGD.
    pub trajectory: Trajectory,
    /// u before each step, in run order (u₁ = 0).
    pub velocities: Vec<Vec<i64>>,
    /// u after the last step: with the final model, the state the walk back starts from.
    pub final_velocity: Vec<i64>,
    /// The bits-back buffer after the last step (empty for nearest rounding).
    pub buffer: Buffer,
}

/// Runs Algorithm 1 with momentum from W = `init`, u = 0, an empty buffer.
pub fn run(
    f: &StepFunction,
    sgd: &SgdConfig,
    cfg: &MomentumConfig,
    init: Vec<i64>,
    observer: &mut dyn Observer,
) -> Result<MomentumRun, Error> {
    let mut opt = Momentum {
        f,
        cfg: *cfg,
        u: vec![0; init.len()],
        buffer: Buffer::default(),
        velocities: Vec::new(),
    };
    let trajectory = crate::sgd::run_with(f, sgd, init, observer, &mut opt)?;
    Ok(MomentumRun {
        trajectory,
        velocities: opt.velocities,
        final_velocity: opt.u,
        buffer: opt.buffer,
    })
}

/// A model and its velocity, (W, u).
pub type State = (Vec<i64>, Vec<i64>);

/// Walks back from the final state (W, u) over `batches` (run order), reading what β⊙ destroyed
/// from `destroyed`; returns every (W, u) before its step, in run order.
pub fn rewind(
    f: &StepFunction,
    cfg: &MomentumConfig,
    final_model: &[i64],
    final_velocity: &[i64],
    batches: &[Vec<usize>],
    destroyed: &mut dyn Destroyed,
) -> Result<Vec<State>, Error> {
    let mut states = Vec::with_capacity(batches.len());
    let (mut w, mut u) = (final_model.to_vec(), final_velocity.to_vec());
    for batch in batches.iter().rev() {
        let (w_prev, bu) = step_back(f, &w, &u, batch)?;
        u = destroyed.velocity(cfg, &bu)?;
        w = w_prev;
        states.push((w.clone(), u.clone()));
    }
    states.reverse();
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn beta(s: &str) -> Beta {
        s.parse().unwrap()
    }

    #[test]
    fn the_nearest_loss_of_seven_eighths_is_a_quarter_bit() {
        // Of every 16 consecutive V, four lie in the two-point sets of round(7V/8) (docs/design.md
        // §2.9), so the mean of log₂ |set| is 4/16.
        assert_eq!(beta("7/8").nearest_loss(), 0.25);
        assert!((beta("7/8").log2_inv() - (8.0f64 / 7.0).log2()).abs() < 1e-12);
        // 1/2: every V in a set of two (y ≠ 0 odd…) or three ({−1, 0, 1} for y = 0): not 1 bit.
        assert!(beta("1/2").nearest_loss() > 1.0);
        assert_eq!(beta("1/2").log2_inv(), 1.0);
    }

    #[test]
    fn beta_is_refused_outside_zero_to_one_and_when_not_dyadic() {
        for bad in ["1", "9/8", "-1/2", "0.9", "1/3", "x", "1/2^30"] {
            assert!(bad.parse::<Beta>().is_err(), "{bad}");
        }
        assert!(beta("0").is_zero());
        assert_eq!(beta("0.875").to_string(), "7/8");
        assert_eq!(beta("14/16"), beta("7/8"));
    }

    #[test]
    fn the_buffer_bound_grows_by_log2_inv_beta_per_multiply() {
        let b = beta("3/4");
        let bits = crate::steps::codec::coder::log2_big(&buffer_bound(b, 1000));
        assert!((bits / 1000.0 - b.log2_inv()).abs() < 0.01, "{bits}");
    }

    proptest! {
        #[test]
        fn preimage_sets_are_exactly_the_brute_force_ones(
            num in 1u64..64, shift in 1u32..7, y in -200i64..200
        ) {
            prop_assume!(num < 1 << shift);
            let b = Beta::new(num, shift).unwrap();
            let (lo, size) = nearest_preimages(b, y);
            let brute: Vec<i64> = (-20_000i64..20_000).filter(|&v| round_beta(b, v) == y).collect();
            prop_assert_eq!(brute.len() as u64, size);
            if size > 0 {
                prop_assert_eq!(brute[0] as i128, lo);
            }
        }

        #[test]
        fn round_beta_is_round_half_even(num in 1u64..64, shift in 1u32..7, u in -100_000i64..100_000) {
            prop_assume!(num < 1 << shift);
            let b = Beta::new(num, shift).unwrap();
            let exact = crate::grid::round_half_even_ratio(
                &num_bigint::BigInt::from(b.num() as i64 * u),
                &num_bigint::BigInt::from(b.den() as i64),
            );
            prop_assert_eq!(num_bigint::BigInt::from(round_beta(b, u)), exact);
        }

        #[test]
        fn the_bits_back_multiply_round_trips_with_its_buffer(
            num in 1u64..64, shift in 1u32..7,
            us in proptest::collection::vec(-1_000_000i64..1_000_000, 1..40),
            start in 0u64..1_000_000,
        ) {
            prop_assume!(num < 1 << shift);
            let cfg = MomentumConfig { beta: Beta::new(num, shift).unwrap(), rounding: Rounding::BitsBack };
            let mut buffer = Buffer::from_value(BigUint::from(start));
            let bu = multiply(&cfg, &us, &mut buffer);
            for (x, y) in us.iter().zip(&bu) {
                // Within one ulp of β·u, below or above.
                prop_assert!((*y as f64 - cfg.beta.to_f64() * *x as f64).abs() < 1.0 + 1e-9);
            }
            prop_assert!(*buffer.value() < buffer_bound(cfg.beta, us.len() as u64) * (start + 1));
            let back = buffer.velocity(&cfg, &bu).unwrap();
            prop_assert_eq!(back, us);
            prop_assert_eq!(buffer.value(), &BigUint::from(start));
        }
    }
}
