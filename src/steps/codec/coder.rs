//! An exact arithmetic coder on big integers.
//!
//! A digit is coded with an integer frequency f out of an integer total M (a uniform digit of
//! radix N is f = 1, M = N). The encoder keeps the message's interval exactly,
//! [low/D, (low + W)/D) with W = Πf and D = ΠM, and writes the shortest binary fraction inside
//! it: L = ⌈log₂(D/W)⌉ or one bit more. Nothing is lost to rounding, so a run of uniform
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

/// The encoder's exact interval.
#[derive(Debug, Clone, Default)]
pub struct Encoder {
    low: BigUint,
    width: BigUint,
    den: BigUint,
}

impl Encoder {
    /// The empty message: the interval [0, 1).
    pub fn new() -> Self {
        Encoder {
            low: BigUint::zero(),
            width: BigUint::one(),
            den: BigUint::one(),
        }
    }

    /// Codes the digit whose range is [cum, cum + freq) out of `total`. Requires
    /// 0 < freq and cum + freq ≤ total.
    pub fn push(&mut self, cum: &BigUint, freq: &BigUint, total: &BigUint) {
        debug_assert!(!freq.is_zero() && cum + freq <= *total);
        self.low = &self.low * total + cum * &self.width;
        self.width *= freq;
        self.den *= total;
    }

    /// Codes `digit` ∈ [0, radix) uniformly.
    pub fn push_uniform(&mut self, digit: &BigUint, radix: &BigUint) {
        debug_assert!(digit < radix);
        self.low = &self.low * radix + digit * &self.width;
        self.den *= radix;
    }

    /// Codes digit `k` of a table of frequencies (their sum is the total).
    pub fn push_table(&mut self, table: &[BigUint], k: usize) {
        let cum: BigUint = table[..k].iter().sum();
        let total: BigUint = table.iter().sum();
        self.push(&cum, &table[k], &total);
    }

    /// The information content so far, ⌈log₂(D/W)⌉ bits.
    pub fn information_bits(&self) -> u64 {
        ceil_log2_ratio(&self.den, &self.width)
    }

    /// The shortest binary fraction C/2^L in the interval.
    pub fn finish(self) -> Code {
        let mut bits = ceil_log2_ratio(&self.den, &self.width);
        loop {
            let scaled = &self.low << bits;
            let (q, r) = scaled.div_rem(&self.den);
            let value = if r.is_zero() { q } else { q + 1u32 };
            if &value * &self.den < (&self.low + &self.width) << bits {
                return Code { value, bits };
            }
            bits += 1;
        }
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

/// The decoder's position: the value v = num/den ∈ [0, 1) of what is left to read.
///
/// It also counts the information read so far, Σ log₂(total/frequency). A code of L bits holds
/// at most L bits of information (the encoder writes ⌈log₂(D/W)⌉ or one bit more), so a digit
/// that would take the count beyond L reads past the end of the code: an error, which bounds
/// the decoder's work by the code's length whatever a header claims.
#[derive(Debug, Clone)]
pub struct Decoder {
    num: BigUint,
    den: BigUint,
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

    /// Reads a uniform digit of `radix`.
    pub fn pop_uniform(&mut self, radix: &BigUint) -> Result<BigUint, CodeError> {
        if radix.is_zero() {
            return Err(CodeError::EmptyTable);
        }
        self.consume(log2_big(radix))?;
        let t = &self.num * radix;
        let (slot, rest) = t.div_rem(&self.den);
        if slot >= *radix {
            return Err(CodeError::Exhausted);
        }
        self.num = rest;
        Ok(slot)
    }

    /// Reads a digit of a frequency table; returns its index.
    pub fn pop_table(&mut self, table: &[BigUint]) -> Result<usize, CodeError> {
        let total: BigUint = table.iter().sum();
        if total.is_zero() {
            return Err(CodeError::EmptyTable);
        }
        let t = &self.num * &total;
        let slot = &t / &self.den;
        let mut cum = BigUint::zero();
        for (k, f) in table.iter().enumerate() {
            if slot < &cum + f {
                self.consume(log2_big(&total) - log2_big(f))?;
                // v' = (v·M − cum)/f
                self.num = t - &cum * &self.den;
                self.den *= f;
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
    }
}
