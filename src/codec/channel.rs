//! The two sides of the Lemma 3.1 code as one interface (docs/design.md §5.1): the encoder
//! writes the digit it knows, the decoder reads it, and the walk ([`super::walk`]) is written
//! once over both. Each digit is a uniform digit of some radix or a digit of an exact frequency
//! table; the writer also keeps, per epoch, the exact products of what each part of the code
//! costs, which is what [`super::entropy::EpochCost`] reports.

use super::coder::{CodeError, Decoder, Encoder};
use crate::Error;
use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

/// Which part of the code a digit belongs to, for the per-epoch accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Run,
    Header,
    Batch,
    Hint,
    GdSteps,
    Perturbation,
}

/// Either side of the code: the encoder writes the digit it knows, the decoder reads it.
pub(super) trait Channel {
    fn uniform(
        &mut self,
        part: Part,
        radix: &BigUint,
        known: Option<BigUint>,
    ) -> Result<BigUint, Error>;
    fn table(
        &mut self,
        part: Part,
        table: &[BigUint],
        known: Option<usize>,
    ) -> Result<usize, Error>;
    fn start_epoch(&mut self, epoch: usize);
    /// Whether the code can still hold `bits` of information (always, when writing).
    fn can_hold(&self, bits: f64) -> bool;
}

/// Exact products of one epoch's digits: all of them, and its hints and header alone.
#[derive(Debug, Clone)]
pub(super) struct Tally {
    pub(super) den: BigUint,
    pub(super) width: BigUint,
    pub(super) hint_den: BigUint,
    pub(super) header_den: BigUint,
    pub(super) gd_den: BigUint,
    pub(super) z_den: BigUint,
}

impl Tally {
    pub(super) fn new() -> Self {
        Tally {
            den: BigUint::one(),
            width: BigUint::one(),
            hint_den: BigUint::one(),
            header_den: BigUint::one(),
            gd_den: BigUint::one(),
            z_den: BigUint::one(),
        }
    }
}

/// The encoder's side: every digit is known, and its cost is tallied.
pub(super) struct Writer {
    pub(super) enc: Encoder,
    pub(super) run: Tally,
    pub(super) epochs: Vec<(usize, Tally)>,
}

impl Writer {
    fn tally(&mut self, part: Part) -> &mut Tally {
        match (part, self.epochs.last_mut()) {
            (Part::Run, _) | (_, None) => &mut self.run,
            (_, Some((_, t))) => t,
        }
    }
}

fn missing() -> Error {
    Error::Config("internal: the encoder lacks a digit it should know".into())
}

impl Channel for Writer {
    fn uniform(
        &mut self,
        part: Part,
        radix: &BigUint,
        known: Option<BigUint>,
    ) -> Result<BigUint, Error> {
        let d = known.ok_or_else(missing)?;
        self.enc.push_uniform(&d, radix);
        let t = self.tally(part);
        t.den *= radix;
        match part {
            Part::Hint => t.hint_den *= radix,
            Part::Header => t.header_den *= radix,
            Part::GdSteps => t.gd_den *= radix,
            Part::Perturbation => t.z_den *= radix,
            _ => {}
        }
        Ok(d)
    }

    fn table(
        &mut self,
        part: Part,
        table: &[BigUint],
        known: Option<usize>,
    ) -> Result<usize, Error> {
        let k = known.ok_or_else(missing)?;
        self.enc.push_table(table, k);
        let t = self.tally(part);
        t.den *= table.iter().sum::<BigUint>();
        t.width *= &table[k];
        Ok(k)
    }

    fn start_epoch(&mut self, epoch: usize) {
        self.epochs.push((epoch, Tally::new()));
    }

    fn can_hold(&self, _: f64) -> bool {
        true
    }
}

/// The decoder's side: every digit is read from the code.
pub(super) struct Reader {
    pub(super) dec: Decoder,
}

impl Channel for Reader {
    fn uniform(&mut self, _: Part, radix: &BigUint, _: Option<BigUint>) -> Result<BigUint, Error> {
        self.dec.pop_uniform(radix).map_err(code_error)
    }

    fn table(&mut self, _: Part, table: &[BigUint], _: Option<usize>) -> Result<usize, Error> {
        self.dec.pop_table(table).map_err(code_error)
    }

    fn start_epoch(&mut self, _: usize) {}

    fn can_hold(&self, bits: f64) -> bool {
        bits <= self.dec.remaining_bits()
    }
}

fn code_error(e: CodeError) -> Error {
    Error::Config(e.to_string())
}

pub(super) fn corrupt(what: &str) -> Error {
    Error::Config(format!(
        "the code is corrupted or does not belong to this data and final model: {what}"
    ))
}

pub(super) fn big(v: usize) -> BigUint {
    BigUint::from(v)
}

pub(super) fn small(v: &BigUint, what: &str) -> Result<usize, Error> {
    v.to_usize().ok_or_else(|| corrupt(what))
}

/// Elias-γ of a positive integer as binary digits: ℓ zeros, then its ℓ + 1 bits.
pub(super) fn elias_gamma(
    ch: &mut dyn Channel,
    part: Part,
    known: Option<u64>,
) -> Result<u64, Error> {
    let two = big(2);
    let len = known.map(|v| 63 - v.leading_zeros() as usize);
    let mut zeros = 0usize;
    loop {
        let bit = ch.uniform(part, &two, len.map(|l| big((zeros == l) as usize)))?;
        if !bit.is_zero() {
            break;
        }
        zeros += 1;
        if zeros > 62 {
            return Err(corrupt("hint value too long"));
        }
    }
    let mut value = 1u64;
    for i in (0..zeros).rev() {
        let bit = ch.uniform(part, &two, known.map(|v| big(((v >> i) & 1) as usize)))?;
        value = (value << 1) | bit.to_u64().unwrap_or(0);
    }
    Ok(value)
}
