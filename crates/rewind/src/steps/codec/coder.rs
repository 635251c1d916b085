//! An exact arithmetic coder on big integers.
//!
//! A digit is coded with an integer frequency f out of an integer total M (a uniform digit of
//! radix N is f = 1, M = N). The encoder keeps the message's interval exactly,
//! [low/D, (low + W)/D) with W = Πf and D = ΠM (up to a common factor, see [`Encoder`]), and
//! writes the shortest binary fraction inside it: L = ⌈log₂(D/W)⌉ or one bit more. Nothing is lost to rounding, so a run of uniform
//! digits costs exactly ⌈log₂ ΠN⌉ bits (or one more), which is what makes "the code never
//! loses against log₂ n!" a checkable statement.
//!
//! Digits come out of the decoder in the order they went into the encoder, and each digit's
//! frequency table may depend on every digit decoded before it.

use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{One, Zero};

/// Errors of decoding: the code cannot be what the decoder is asked to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// A digit's radix or total frequency is zero, so no digit can be read.
    #[error("a digit's frequency table is empty or zero; the code does not match the data or the final model")]
    EmptyTable,
    /// The remaining value falls outside the digit's range: the code is too short for what is
    /// being read.
    #[error("the code ends before its last digit; the file is truncated or corrupted")]
    Exhausted,
}

/// A finished code: the integer `value` written with `bits` bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code as an integer C, the binary fraction C/2^`bits` ∈ [0, 1).
    pub value: BigUint,
    /// The code's length L in bits (C < 2^L; leading zero bits count).
    pub bits: u64,
}

/// A message's exact interval on its own, [low/den, (low + width)/den).
#[derive(Debug, Clone)]
struct Interval {
    low: BigUint,
    width: BigUint,
    den: BigUint,
}

impl Interval {
    /// The message `self` then `next`: `next`'s interval nested inside `self`'s. The integers
    /// are those of pushing `next`'s digits one by one after `self`'s, whatever the grouping.
    fn then(self, next: Interval) -> Interval {
        Interval {
            low: self.low * &next.den + next.low * &self.width,
            width: self.width * next.width,
            den: self.den * next.den,
        }
    }
}

/// The encoder's exact interval.
///
/// Pushing a digit into one interval of N bits costs O(N) word operations, which makes a
/// message of D digits cost O(D·N). The encoder instead keeps the message as consecutive
/// blocks of roughly doubling size, merging two blocks when the later one has caught up with
/// the earlier, like the carries of a binary counter: each digit then takes part in O(log D)
/// merges of balanced operands, where the big-integer products are subquadratic. Nesting
/// intervals is associative, so the grouping changes nothing.
///
/// The last digit of a frequency table stays open: a uniform digit of radix R that divides
/// its frequency f splits it into R equal parts, so instead of multiplying the interval's
/// three integers by R it divides f by R. The walk's subset ranks do exactly this (their radices
/// C(|S₁|, k₁) and C(|S₀|, b − k₁) divide f_{k₁}), which keeps the width to the tilt's power of
/// two and the denominator to what the code holds. The integers then differ from those of one
/// digit at a time by a common factor only, and the code depends on their ratios alone.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    blocks: Vec<Interval>,
    open: Option<Interval>,
}

impl Encoder {
    /// The empty message: the interval [0, 1).
    pub fn new() -> Self {
        Encoder::default()
    }

    fn append(&mut self, digit: Interval) {
        self.blocks.push(digit);
        while let [.., earlier, later] = self.blocks.as_slice() {
            if later.den.bits() < earlier.den.bits() {
                break;
            }
            let (Some(later), Some(earlier)) = (self.blocks.pop(), self.blocks.pop()) else {
                break;
            };
            self.blocks.push(earlier.then(later));
        }
    }

    fn close(&mut self) {
        if let Some(open) = self.open.take() {
            self.append(open);
        }
    }

    /// The whole message's interval, up to a common factor of its three integers.
    fn interval(&self) -> Interval {
        let empty = Interval {
            low: BigUint::zero(),
            width: BigUint::one(),
            den: BigUint::one(),
        };
        let mut blocks = self.blocks.iter().chain(&self.open).cloned();
        blocks
            .next()
            .map_or(empty, |first| blocks.fold(first, Interval::then))
    }

    /// Codes the digit whose range is [cum, cum + freq) out of `total`. Requires
    /// 0 < freq and cum + freq ≤ total.
    pub fn push(&mut self, cum: &BigUint, freq: &BigUint, total: &BigUint) {
        debug_assert!(!freq.is_zero() && cum + freq <= *total);
        self.close();
        self.open = Some(Interval {
            low: cum.clone(),
            width: freq.clone(),
            den: total.clone(),
        });
    }

    /// Codes `digit` ∈ [0, radix) uniformly.
    pub fn push_uniform(&mut self, digit: &BigUint, radix: &BigUint) {
        debug_assert!(digit < radix);
        if let Some(open) = &mut self.open {
            let (part, rest) = open.width.div_rem(radix);
            if rest.is_zero() {
                // [low + digit·f/R, low + (digit + 1)·f/R) out of the same total.
                open.low += digit * &part;
                open.width = part;
                return;
            }
        }
        self.close();
        self.append(Interval {
            low: digit.clone(),
            width: BigUint::one(),
            den: radix.clone(),
        });
    }

    /// Codes digit `k` of a table of frequencies (their sum is the total).
    pub fn push_table(&mut self, table: &[BigUint], k: usize) {
        let cum: BigUint = table[..k].iter().sum();
        let total: BigUint = &cum + table[k..].iter().sum::<BigUint>();
        self.push(&cum, &table[k], &total);
    }

    /// The information content so far, ⌈log₂(D/W)⌉ bits.
    pub fn information_bits(&self) -> u64 {
        let i = self.interval();
        ceil_log2_ratio(&i.den, &i.width)
    }

    /// The shortest binary fraction C/2^L in the interval.
    pub fn finish(self) -> Code {
        shortest_fraction(&self.interval())
    }
}

/// The shortest binary fraction C/2^L in [low/den, (low + width)/den): L = ⌈log₂(den/width)⌉
/// or one more. It depends on the two ratios only.
fn shortest_fraction(i: &Interval) -> Code {
    let mut bits = ceil_log2_ratio(&i.den, &i.width);
    loop {
        let scaled = &i.low << bits;
        let (q, r) = scaled.div_rem(&i.den);
        let value = if r.is_zero() { q } else { q + 1u32 };
        if &value * &i.den < (&i.low + &i.width) << bits {
            return Code { value, bits };
        }
        bits += 1;
    }
}

/// A product of many factors, multiplied in a balanced tree (as the encoder's blocks are): the
/// exact denominators the code's accounting keeps cost O(M(N) log) instead of O(N²).
#[derive(Debug, Clone, Default)]
pub struct Product {
    partial: Vec<BigUint>,
}

impl Product {
    /// The empty product, 1.
    pub fn new() -> Self {
        Product::default()
    }

    /// Multiplies the product by `factor`.
    pub fn mul(&mut self, factor: BigUint) {
        self.partial.push(factor);
        while let [.., earlier, later] = self.partial.as_slice() {
            if later.bits() < earlier.bits() {
                break;
            }
            let (Some(later), Some(earlier)) = (self.partial.pop(), self.partial.pop()) else {
                break;
            };
            self.partial.push(earlier * later);
        }
    }

    /// The product's value.
    pub fn value(&self) -> BigUint {
        // Smallest first, so that the big products come last.
        self.partial
            .iter()
            .rev()
            .fold(BigUint::one(), |acc, f| acc * f)
    }
}

/// ⌈log₂(a/b)⌉ for a ≥ b > 0 (0 when a ≤ b).
pub fn ceil_log2_ratio(a: &BigUint, b: &BigUint) -> u64 {
    if a <= b {
        return 0;
    }
    let mut l = (a.bits() - b.bits()).saturating_sub(1);
    while (b << l) < *a {
        l += 1;
    }
    l
}

/// log₂ v for v ≥ 1, from its top 64 bits (relative error below 2^-52).
pub fn log2_big(v: &BigUint) -> f64 {
    let bits = v.bits();
    if bits <= 64 {
        return (v.iter_u64_digits().next().unwrap_or(0) as f64).log2();
    }
    let top = (v >> (bits - 64)).iter_u64_digits().next().unwrap_or(0);
    (top as f64).log2() + (bits - 64) as f64
}

/// ⌊a/d⌋ and a mod d for d > 0, when the quotient is short next to d (a digit read from a
/// long code): the quotient is guessed from the top bits of a and d, 66 bits more than the
/// quotient's, which puts the guess within one of the truth, and then settled exactly. This
/// costs two products by the short quotient instead of a long division.
fn div_rem_small_quotient(a: BigUint, d: &BigUint) -> (BigUint, BigUint) {
    // A code's own denominator is a power of two: shifts are enough.
    if let Some(e) = d.trailing_zeros().filter(|&e| e + 1 == d.bits()) {
        let q = &a >> e;
        let r = a - (&q << e);
        return (q, r);
    }
    let quotient_bits = a.bits().saturating_sub(d.bits()) + 1;
    let shift = d.bits().saturating_sub(quotient_bits + 66);
    let mut q = (&a >> shift) / (d >> shift);
    let mut qd = &q * d;
    while qd > a && !q.is_zero() {
        q -= 1u32;
        qd -= d;
    }
    let mut r = a - qd;
    while r >= *d {
        q += 1u32;
        r -= d;
    }
    (q, r)
}

/// The decoder's position: the value v = num/(den·open) ∈ [0, 1) of what is left to read.
///
/// `open` is what is left of the last table digit's frequency, as in the encoder: a uniform
/// digit whose radix divides it is read by dividing it, not by multiplying the value by the
/// radix, so the denominator stays the code's power of two (times the tilts' powers of two).
///
/// It also counts the information read so far, Σ log₂(total/frequency). A code of L bits holds
/// at most L bits of information (the encoder writes ⌈log₂(D/W)⌉ or one bit more), so a digit
/// that would take the count beyond L reads past the end of the code: an error, which bounds
/// the decoder's work by the code's length whatever a header claims.
#[derive(Debug, Clone)]
pub struct Decoder {
    num: BigUint,
    den: BigUint,
    open: BigUint,
    read_bits: f64,
    limit_bits: f64,
}

impl Decoder {
    /// Starts reading `code` from its first digit.
    pub fn new(code: &Code) -> Self {
        let bits = code.bits as f64;
        Decoder {
            num: code.value.clone(),
            den: BigUint::one() << code.bits,
            open: BigUint::one(),
            read_bits: 0.0,
            // Slack for the rounding of the f64 sum only; a valid code never needs it.
            limit_bits: bits + 1e-9 * bits + 1e-6,
        }
    }

    /// Bits of information read so far.
    pub fn read_bits(&self) -> f64 {
        self.read_bits
    }

    /// Bits of information left in the code.
    pub fn remaining_bits(&self) -> f64 {
        (self.limit_bits - self.read_bits).max(0.0)
    }

    /// Counts `bits` more of information, failing past the end of the code.
    fn consume(&mut self, bits: f64) -> Result<(), CodeError> {
        self.read_bits += bits;
        if self.read_bits > self.limit_bits {
            return Err(CodeError::Exhausted);
        }
        Ok(())
    }

    /// Multiplies what is left of the last table digit's frequency into the denominator.
    fn close(&mut self) {
        if !self.open.is_one() {
            self.den *= std::mem::replace(&mut self.open, BigUint::one());
        }
    }

    /// Reads a uniform digit of `radix`.
    pub fn pop_uniform(&mut self, radix: &BigUint) -> Result<BigUint, CodeError> {
        if radix.is_zero() {
            return Err(CodeError::EmptyTable);
        }
        self.consume(log2_big(radix))?;
        let num = std::mem::take(&mut self.num);
        let (part, rest) = self.open.div_rem(radix);
        let (slot, rest) = if rest.is_zero() {
            // ⌊v·R⌋ with v = num/(den·R·part): num/(den·part), the value left over the same.
            self.open = part;
            div_rem_small_quotient(num, &(&self.den * &self.open))
        } else {
            self.close();
            div_rem_small_quotient(num * radix, &self.den)
        };
        self.num = rest;
        if slot >= *radix {
            return Err(CodeError::Exhausted);
        }
        Ok(slot)
    }

    /// Reads a digit of a frequency table; returns its index.
    pub fn pop_table(&mut self, table: &[BigUint]) -> Result<usize, CodeError> {
        let total: BigUint = table.iter().sum();
        if total.is_zero() {
            return Err(CodeError::EmptyTable);
        }
        self.close();
        let t = &self.num * &total;
        let (slot, _) = div_rem_small_quotient(t.clone(), &self.den);
        let mut cum = BigUint::zero();
        for (k, f) in table.iter().enumerate() {
            if slot < &cum + f {
                self.consume(log2_big(&total) - log2_big(f))?;
                // v' = (v·M − cum)/f
                self.num = t - &cum * &self.den;
                self.open = f.clone();
                return Ok(k);
            }
            cum += f;
        }
        Err(CodeError::Exhausted)
    }
}

/// The code as bytes, big-endian, exactly ⌈bits/8⌉ long.
pub fn code_to_bytes(code: &Code) -> Vec<u8> {
    let len = code.bits.div_ceil(8) as usize;
    let raw = code.value.to_bytes_be();
    let mut out = vec![0u8; len.saturating_sub(raw.len())];
    out.extend(raw.iter().skip(raw.len().saturating_sub(len)));
    out
}

/// Reads a code of `bits` bits from big-endian bytes; `None` if the bytes do not fit.
pub fn code_from_bytes(bytes: &[u8], bits: u64) -> Option<Code> {
    if bytes.len() as u64 != bits.div_ceil(8) {
        return None;
    }
    let value = BigUint::from_bytes_be(bytes);
    (value.bits() <= bits).then_some(Code { value, bits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn big(v: u64) -> BigUint {
        BigUint::from(v)
    }

    #[test]
    fn uniform_digits_cost_the_log_of_their_product() {
        let mut e = Encoder::new();
        let radices = [3u64, 7, 10, 2, 5];
        let digits = [2u64, 0, 9, 1, 4];
        for (d, r) in digits.iter().zip(&radices) {
            e.push_uniform(&big(*d), &big(*r));
        }
        assert_eq!(e.information_bits(), 12); // ⌈log₂ 2100⌉
        let code = e.finish();
        assert!(code.bits == 12 || code.bits == 13, "{}", code.bits);
        let mut dec = Decoder::new(&code);
        for (d, r) in digits.iter().zip(&radices) {
            assert_eq!(dec.pop_uniform(&big(*r)).unwrap(), big(*d));
        }
    }

    #[test]
    fn reading_past_the_end_is_an_error() {
        let mut e = Encoder::new();
        e.push_uniform(&big(5), &big(8));
        let code = e.finish();
        let mut dec = Decoder::new(&code);
        assert_eq!(dec.pop_uniform(&big(8)).unwrap(), big(5));
        assert_eq!(dec.pop_uniform(&big(2)), Err(CodeError::Exhausted));
        // A digit of radix 1 carries no information and is always there.
        let mut dec = Decoder::new(&code);
        dec.pop_uniform(&big(8)).unwrap();
        assert_eq!(dec.pop_uniform(&big(1)).unwrap(), big(0));
        let exact = (1u64 << 40) + 12345;
        assert!(
            (log2_big(&(BigUint::from(exact) << 100u32)) - ((exact as f64).log2() + 100.0)).abs()
                < 1e-12
        );
    }

    #[test]
    fn ratio_logs_are_exact() {
        assert_eq!(ceil_log2_ratio(&big(8), &big(1)), 3);
        assert_eq!(ceil_log2_ratio(&big(9), &big(1)), 4);
        assert_eq!(ceil_log2_ratio(&big(9), &big(3)), 2);
        assert_eq!(ceil_log2_ratio(&big(3), &big(3)), 0);
        assert_eq!(ceil_log2_ratio(&big(2), &big(3)), 0);
    }

    #[test]
    fn bytes_round_trip_and_reject_misfits() {
        let code = Code {
            value: big(0x1_0203),
            bits: 17,
        };
        let b = code_to_bytes(&code);
        assert_eq!(b, vec![1, 2, 3]);
        assert_eq!(code_from_bytes(&b, 17).unwrap(), code);
        assert!(code_from_bytes(&b, 16).is_none());
        assert!(code_from_bytes(&[0xff, 0, 0], 17).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            rng_seed: proptest::test_runner::RngSeed::Fixed(7),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_tables_round_trip(
            steps in proptest::collection::vec(
                (proptest::collection::vec(1u64..1_000_000, 1..12), any::<u64>(), 0u64..50),
                0..60,
            )
        ) {
            // Each step is a uniform digit of radix 1..50, or (radix 0) a digit of a frequency
            // table with every third entry zeroed.
            let table_of = |raw: &[u64]| -> Vec<BigUint> {
                raw.iter()
                    .enumerate()
                    .map(|(i, f)| if i % 3 == 2 { BigUint::zero() } else { big(*f) })
                    .collect()
            };
            let choice = |t: &[BigUint], pick: u64| {
                let nonzero: Vec<usize> = (0..t.len()).filter(|&i| !t[i].is_zero()).collect();
                nonzero[(pick as usize) % nonzero.len()]
            };
            let mut e = Encoder::new();
            for (raw, pick, radix) in &steps {
                if *radix > 0 {
                    e.push_uniform(&big(pick % radix), &big(*radix));
                } else {
                    let t = table_of(raw);
                    e.push_table(&t, choice(&t, *pick));
                }
            }
            let info = e.information_bits();
            let code = e.finish();
            prop_assert!(code.bits == info || code.bits == info + 1);
            let code = code_from_bytes(&code_to_bytes(&code), code.bits).unwrap();
            let mut dec = Decoder::new(&code);
            for (raw, pick, radix) in &steps {
                if *radix > 0 {
                    prop_assert_eq!(dec.pop_uniform(&big(*radix)).unwrap(), big(pick % radix));
                } else {
                    let t = table_of(raw);
                    prop_assert_eq!(dec.pop_table(&t).unwrap(), choice(&t, *pick));
                }
            }
        }

        #[test]
        fn blocks_and_split_frequencies_hold_the_interval_of_one_digit_at_a_time(
            digits in proptest::collection::vec(
                (1u64..1 << 40, any::<u64>(), 0u64..1 << 40, 1u64..1 << 20, 1u64..1 << 20),
                0..150,
            )
        ) {
            // Each step: a table digit of frequency f = r₁·r₀·g (g = freq) and total
            // cum + f + extra, then two uniform digits of radices r₁ and r₀ (which split f), or
            // (extra ≡ 0 mod 3) a lone uniform digit. The reference pushes one digit at a time
            // into one interval, with no common factor taken out.
            let mut e = Encoder::new();
            let mut r = Interval { low: BigUint::zero(), width: BigUint::one(), den: BigUint::one() };
            let mut push = |e: &mut Encoder, cum: BigUint, freq: BigUint, total: BigUint| {
                if freq.is_one() {
                    e.push_uniform(&cum, &total);
                } else {
                    e.push(&cum, &freq, &total);
                }
                r = r.clone().then(Interval { low: cum, width: freq, den: total });
            };
            for &(g, cum, extra, r1, r0) in &digits {
                let cum = big(cum % (1 << 50));
                if extra % 3 == 0 {
                    push(&mut e, cum.clone(), BigUint::one(), &cum + 1u32 + big(extra));
                } else {
                    let f = big(g) * big(r1) * big(r0);
                    push(&mut e, cum.clone(), f.clone(), &cum + &f + big(extra));
                    push(&mut e, big(extra % r1), BigUint::one(), big(r1));
                    push(&mut e, big(cum.bits() % r0), BigUint::one(), big(r0));
                }
            }
            let i = e.interval();
            prop_assert_eq!(&i.low * &r.den, &r.low * &i.den);
            prop_assert_eq!(&i.width * &r.den, &r.width * &i.den);
            prop_assert_eq!(e.information_bits(), ceil_log2_ratio(&r.den, &r.width));
            prop_assert_eq!(e.finish(), shortest_fraction(&r));
        }

        #[test]
        fn short_quotients_divide_exactly(
            a in proptest::collection::vec(any::<u8>(), 0..300),
            d in proptest::collection::vec(any::<u8>(), 1..200),
            shift in 0u32..4,
        ) {
            // Quotients from 0 to thousands of bits, divisors up to 1,600 bits and ones whose
            // top bits are all ones (where a guess is most often one too large).
            let a = BigUint::from_bytes_le(&a);
            let mut d = BigUint::from_bytes_le(&d) + 1u32;
            if shift == 3 {
                d = (BigUint::one() << d.bits()) - 1u32;
            }
            let a = a << (shift * 300);
            prop_assert_eq!(div_rem_small_quotient(a.clone(), &d), a.div_rem(&d));
        }

        #[test]
        fn a_product_in_a_tree_is_the_product(
            factors in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..80)
        ) {
            let mut p = Product::new();
            let mut direct = BigUint::one();
            for f in &factors {
                let f = BigUint::from_bytes_le(f);
                direct *= &f;
                p.mul(f);
            }
            prop_assert_eq!(p.value(), direct);
        }

        #[test]
        fn digits_that_split_a_frequency_read_back(
            steps in proptest::collection::vec(
                (0u64..1 << 30, 1u64..1 << 10, 0u64..1 << 30, 1u64..1 << 30, 1u64..1 << 30, any::<u64>()),
                0..80,
            )
        ) {
            // A table [a, g·r₁·r₀, c] read at index 1, then digits of radix r₁ and r₀, which the
            // decoder reads by dividing the open frequency; every fourth step a radix that
            // does not divide it follows as well.
            let digit = |pick: u64, r: u64| pick % r;
            let mut e = Encoder::new();
            for &(a, g, c, r1, r0, pick) in &steps {
                let table = [big(a), big(g) * big(r1) * big(r0), big(c)];
                e.push_table(&table, 1);
                e.push_uniform(&big(digit(pick, r1)), &big(r1));
                e.push_uniform(&big(digit(pick >> 20, r0)), &big(r0));
                if pick % 4 == 0 {
                    e.push_uniform(&big(digit(pick >> 40, 7)), &big(7 * g + 1));
                }
            }
            let code = e.finish();
            let mut dec = Decoder::new(&code);
            for &(a, g, c, r1, r0, pick) in &steps {
                let table = [big(a), big(g) * big(r1) * big(r0), big(c)];
                prop_assert_eq!(dec.pop_table(&table).unwrap(), 1);
                prop_assert_eq!(dec.pop_uniform(&big(r1)).unwrap(), big(digit(pick, r1)));
                prop_assert_eq!(dec.pop_uniform(&big(r0)).unwrap(), big(digit(pick >> 20, r0)));
                if pick % 4 == 0 {
                    prop_assert_eq!(dec.pop_uniform(&big(7 * g + 1)).unwrap(), big(digit(pick >> 40, 7)));
                }
            }
        }
    }
}
