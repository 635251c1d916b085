//! The two sides of the Lemma 3.1 code as one interface (docs/design.md §5.1): the encoder
//! writes the digit it knows, the decoder reads it, and the walk ([`super::walk`]) is written
//! once over both. Each digit is a uniform digit of some radix or a digit of an exact frequency
//! table; the writer also keeps, per epoch, the exact products of what each part of the code
//! costs, which is what [`super::entropy::EpochCost`] reports.

use super::coder::{Code, CodeError, Decoder, Encoder, Product};
use crate::Error;
use num_bigint::BigUint;
use num_integer::Integer;
use num_traits::{ToPrimitive, Zero};

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
#[derive(Debug, Clone, Default)]
pub(super) struct Tally {
    den: Product,
    width: Product,
    pub(super) hint_den: Product,
    pub(super) header_den: Product,
    pub(super) gd_den: Product,
    pub(super) z_den: Product,
    /// What is left of the last table digit's frequency (see [`Encoder`]).
    open: Option<BigUint>,
}

impl Tally {
    pub(super) fn new() -> Self {
        Tally::default()
    }

    /// The exact ratio of all the digits' totals to their frequencies, as (den, width) up to a
    /// common factor.
    pub(super) fn ratio(&self) -> (BigUint, BigUint) {
        let width = self.open.iter().fold(self.width.value(), |w, f| w * f);
        (self.den.value(), width)
    }

    /// A uniform digit: as in the encoder, a radix that divides the open table frequency
    /// divides it instead of multiplying the denominator.
    fn uniform(&mut self, radix: &BigUint) {
        if let Some(open) = &mut self.open {
            let (part, rest) = open.div_rem(radix);
            if rest.is_zero() {
                *open = part;
                return;
            }
        }
        self.close();
        self.den.mul(radix.clone());
    }

    fn table(&mut self, total: BigUint, freq: &BigUint) {
        self.close();
        self.den.mul(total);
        self.open = Some(freq.clone());
    }

    fn close(&mut self) {
        if let Some(f) = self.open.take() {
            self.width.mul(f);
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
    /// The empty code, nothing tallied yet.
    pub(super) fn new() -> Self {
        Writer {
            enc: Encoder::new(),
            run: Tally::new(),
            epochs: Vec::new(),
        }
    }

    fn tally(&mut self, part: Part) -> &mut Tally {
        match (part, self.epochs.last_mut()) {
            (Part::Run, _) | (_, None) => &mut self.run,
            (_, Some((_, t))) => t,
        }
    }
}

fn missing() -> Error {
    Error::Internal("the encoder lacks a digit it should know".into())
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
        t.uniform(radix);
        match part {
            Part::Hint => t.hint_den.mul(radix.clone()),
            Part::Header => t.header_den.mul(radix.clone()),
            Part::GdSteps => t.gd_den.mul(radix.clone()),
            Part::Perturbation => t.z_den.mul(radix.clone()),
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
        t.table(table.iter().sum::<BigUint>(), &table[k]);
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
    dec: Decoder,
}

impl Reader {
    /// Reads `code` from its first digit.
    pub(super) fn new(code: &Code) -> Self {
        Reader {
            dec: Decoder::new(code),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::codec::coder::ceil_log2_ratio;
    use crate::steps::codec::elias_gamma_bits;
    use num_traits::One;

    fn writer() -> Writer {
        Writer::new()
    }

    fn reader(w: Writer) -> Reader {
        Reader::new(&w.enc.finish())
    }

    const GAMMA: [u64; 6] = [1, 2, 3, 1 << 40, (1 << 62) + 1, i64::MAX as u64];

    #[test]
    fn digits_read_back_as_written_at_the_edges() {
        let huge = num_traits::pow(BigUint::from(3u32), 80);
        let table: Vec<BigUint> = [0u32, 5, 0, 3, 0].iter().map(|&v| v.into()).collect();
        let uniform = [
            (big(1), big(0)),
            (big(2), big(1)),
            (huge.clone(), &huge - 1u32),
            (huge.clone(), big(0)),
        ];
        let mut w = writer();
        for (radix, digit) in &uniform {
            w.uniform(Part::Batch, radix, Some(digit.clone())).unwrap();
        }
        for k in [1, 3] {
            w.table(Part::Batch, &table, Some(k)).unwrap();
        }
        for v in GAMMA {
            elias_gamma(&mut w, Part::Hint, Some(v)).unwrap();
        }
        let mut r = reader(w);
        for (radix, digit) in &uniform {
            assert_eq!(&r.uniform(Part::Batch, radix, None).unwrap(), digit);
        }
        for k in [1, 3] {
            assert_eq!(r.table(Part::Batch, &table, None).unwrap(), k);
        }
        for v in GAMMA {
            assert_eq!(elias_gamma(&mut r, Part::Hint, None).unwrap(), v);
        }
    }

    #[test]
    fn an_elias_gamma_digit_costs_its_stated_bits() {
        for v in GAMMA {
            let mut w = writer();
            w.start_epoch(1);
            elias_gamma(&mut w, Part::GdSteps, Some(v)).unwrap();
            let t = &w.epochs[0].1;
            assert_eq!(
                ceil_log2_ratio(&t.gd_den.value(), &BigUint::one()),
                elias_gamma_bits(v)
            );
            assert_eq!(t.ratio(), (t.gd_den.value(), BigUint::one()));
        }
    }

    #[test]
    fn an_elias_gamma_prefix_longer_than_an_i64_is_a_corrupt_code() {
        let mut w = writer();
        for _ in 0..63 {
            w.uniform(Part::Hint, &big(2), Some(big(0))).unwrap();
        }
        w.uniform(Part::Hint, &big(2), Some(big(1))).unwrap();
        let err = elias_gamma(&mut reader(w), Part::Hint, None).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }

    #[test]
    fn each_digit_is_tallied_to_its_part_and_epoch() {
        let mut w = writer();
        w.uniform(Part::Run, &big(5), Some(big(4))).unwrap();
        w.start_epoch(2);
        w.uniform(Part::Hint, &big(4), Some(big(1))).unwrap();
        w.uniform(Part::Header, &big(8), Some(big(7))).unwrap();
        w.uniform(Part::Perturbation, &big(16), Some(big(0)))
            .unwrap();
        w.uniform(Part::Run, &big(3), Some(big(2))).unwrap();
        let table = [big(1), big(6), big(3)];
        w.table(Part::Batch, &table, Some(2)).unwrap();
        assert_eq!(w.run.ratio(), (big(15), big(1)));
        let (epoch, t) = &w.epochs[0];
        assert_eq!(*epoch, 2);
        assert_eq!(t.ratio(), (big(4 * 8 * 16 * 10), big(3)));
        assert_eq!(
            (t.hint_den.value(), t.header_den.value(), t.z_den.value()),
            (big(4), big(8), big(16))
        );
        assert_eq!(t.gd_den.value(), big(1));
    }

    #[test]
    fn the_encoder_without_a_digit_it_should_know_is_an_internal_error() {
        let mut w = writer();
        let err = w.uniform(Part::Batch, &big(3), None).unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err}");
    }
}
