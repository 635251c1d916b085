//! Dot products over the input features in one fixed, documented evaluation order, for every
//! backend, and the f64 kernels that evaluate that order fast (docs/design.md §2.4: the f64
//! backend is IEEE double in a fixed evaluation order).
//!
//! **The evaluation-order rule.** A dot product ⟨x, w⟩ over the d input features (a
//! pre-activation of the MLP, a logit of logistic, softmax or least squares) is summed in
//! [`LANES`] = 8 lanes: lane l starts at +0 and adds the rounded products x_k·w_k of the
//! features k ≡ l (mod 8), in increasing k; the lanes are then combined in the fixed tree
//! ((s₀ + s₄) + (s₂ + s₆)) + ((s₁ + s₅) + (s₃ + s₇)) ([`combine`]). Every product and every sum
//! is rounded on its own: no fused multiply-add, ever (Rust never contracts `a * b + c`, and no
//! kernel calls `mul_add`). Everything else keeps the order it had: sums over the batch run in
//! batch order, coordinate by coordinate; sums over hidden units and classes in index order.
//!
//! A zero feature may be skipped: its product is ±0, and adding ±0 to a lane leaves the lane's
//! bits unchanged (a lane starts at +0 and, rounding to nearest, can never become −0, so even
//! the sign of a zero sum is the same). The sparse generic form ([`dot`], which every backend
//! runs, the f64 predictor included) and the f64 kernel ([`Rows::dots`] over [`ChunkRows`],
//! the MLP's accuracy pass) therefore give the same bits.
//!
//! Why this order: eight independent chains keep several additions in flight, and with the
//! features cut into chunks of eight the lanes are SIMD lanes of any width (2 doubles with the
//! default x86-64 target, 4 or 8 with `-C target-cpu=native`), while the result depends only on
//! d and the data — never on the target, the SIMD width, the register block or the thread
//! count. There is no run-time CPU feature dispatch. The MPFR backend sums in the same order
//! but is not blocked: an MPFR operation costs about a hundred f64 ones, so memory traffic and
//! SIMD width, what the blocking saves, do not show there.

use super::backend::{Backend, Real, F64};

/// The number of accumulator lanes of a dot product over the input features.
pub const LANES: usize = 8;

/// The lanes' sum in the fixed tree ((s₀ + s₄) + (s₂ + s₆)) + ((s₁ + s₅) + (s₃ + s₇)): the
/// halving tree, which a SIMD register of any width folds without reordering.
pub fn combine<R: Real>(s: &[R; LANES]) -> R {
    let t: [R; 4] = std::array::from_fn(|l| s[l].add(&s[l + 4]));
    let u0 = t[0].add(&t[2]);
    let u1 = t[1].add(&t[3]);
    u0.add(&u1)
}

/// ⟨x, w⟩ in the lane order, for a sparse row `x` of (feature index, value) pairs in
/// increasing index order (zero features left out), in any backend's numbers.
pub fn dot<R: Real>(x: &[(usize, R)], w: &[R], zero: &R) -> R {
    let mut lanes: [R; LANES] = std::array::from_fn(|_| zero.clone());
    for (k, xk) in x {
        let lane = &mut lanes[k % LANES];
        *lane = lane.add(&xk.mul(&w[*k]));
    }
    combine(&lanes)
}

/// m rows of d f64 weights, each padded with zeros to whole chunks of [`LANES`] features (and
/// m to an even count with zero rows), for [`Rows::dots`].
#[derive(Debug, Clone)]
pub struct Rows {
    m: usize,
    width: usize,
    w: Vec<f64>,
}

/// Rows processed together per pass over an example: the register block. With the default
/// x86-64 target two rows' 8 lanes fill 8 of the 16 SSE registers; the block changes the
/// speed only, never the result (each row's lanes are its own). [`Rows::dots`] is written for
/// exactly two.
const BLOCK: usize = 2;

impl Rows {
    /// `rows`: m rows of `d` values each, row-major.
    pub fn new(rows: &[f64], d: usize) -> Self {
        let m = rows.len().checked_div(d).unwrap_or(0);
        let width = d.div_ceil(LANES) * LANES;
        let mut w = vec![0.0; m.div_ceil(BLOCK) * BLOCK * width];
        for (r, row) in rows.chunks_exact(d.max(1)).enumerate() {
            w[r * width..r * width + d].copy_from_slice(row);
        }
        Rows { m, width, w }
    }

    /// The number of rows m.
    pub fn len(&self) -> usize {
        self.m
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.m == 0
    }

    /// `out[r]` = ⟨row r, x⟩ for every row r < m, in the lane order: chunk c of the example
    /// holds features 8c..8c+8, so feature 8c + l lands in lane l of every row at once.
    pub fn dots(&self, x: ChunkRow, out: &mut [f64]) {
        debug_assert_eq!(out.len(), self.m);
        for (b, block) in self.w.chunks_exact(BLOCK * self.width).enumerate() {
            let (w0, w1) = block.split_at(self.width);
            let mut a0 = [0.0; LANES];
            let mut a1 = [0.0; LANES];
            for (&c, xv) in x.chunk.iter().zip(x.value) {
                let at = c as usize * LANES;
                multiply_add(&mut a0, xv, &w0[at..at + LANES]);
                multiply_add(&mut a1, xv, &w1[at..at + LANES]);
            }
            for (o, a) in out[b * BLOCK..].iter_mut().zip([a0, a1]) {
                *o = combine(&a);
            }
        }
    }
}

/// ⟨x, w⟩ and Σ|x_k·w_k| in f64, for `w` padded to whole chunks of [`LANES`]: the pair a
/// sign filter needs ([`crate::model`]'s error bound holds for any order of summation).
pub fn dot_and_abs(x: ChunkRow, w: &[f64]) -> (f64, f64) {
    let mut s = [0.0; LANES];
    let mut a = [0.0; LANES];
    for (&c, xv) in x.chunk.iter().zip(x.value) {
        let at = c as usize * LANES;
        let w = &w[at..at + LANES];
        for l in 0..LANES {
            let p = xv[l] * w[l];
            s[l] += p;
            a[l] += p.abs();
        }
    }
    (combine(&s), combine(&a))
}

/// a_l ← a_l + x_l·w_l in every lane, the product rounded before the sum.
#[inline(always)]
fn multiply_add(a: &mut [f64; LANES], x: &[f64; LANES], w: &[f64]) {
    let w = &w[..LANES];
    for l in 0..LANES {
        a[l] += x[l] * w[l];
    }
}

/// One example's features in the chunks of [`LANES`] consecutive features that hold a non-zero
/// value: the chunks' indices in increasing order and their values (zeros included).
#[derive(Debug, Clone, Copy)]
pub struct ChunkRow<'a> {
    chunk: &'a [u32],
    value: &'a [[f64; LANES]],
}

/// Every example's features in f64, converted once, keeping only the chunks of [`LANES`]
/// features with a non-zero value: a pass over the data reads a third of MNIST's chunks, and
/// inside a chunk the lanes are the SIMD lanes. Skipping an all-zero chunk skips ±0 products
/// only, so [`Rows::dots`] gives the bits of [`dot`].
#[derive(Debug, Clone, Default)]
pub struct ChunkRows {
    start: Vec<usize>,
    chunk: Vec<u32>,
    value: Vec<[f64; LANES]>,
}

impl ChunkRows {
    /// The rows of `features`, raw grid integers at `frac_bits`, each value converted as the
    /// f64 backend converts it ([`F64::raw`]).
    pub fn new(features: &[Vec<i64>], frac_bits: u32) -> Self {
        let mut rows = ChunkRows {
            start: vec![0],
            ..Self::default()
        };
        for x in features {
            for (c, part) in x.chunks(LANES).enumerate() {
                if part.iter().any(|&v| v != 0) {
                    let mut v = [0.0; LANES];
                    for (slot, &raw) in v.iter_mut().zip(part) {
                        *slot = F64.raw(raw, frac_bits);
                    }
                    // A chunk index fits in u32: a row of 2^35 features would not fit in memory.
                    rows.chunk.push(c as u32);
                    rows.value.push(v);
                }
            }
            rows.start.push(rows.chunk.len());
        }
        rows
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> ChunkRow<'_> {
        let (a, b) = (self.start[i], self.start[i + 1]);
        ChunkRow {
            chunk: &self.chunk[a..b],
            value: &self.value[a..b],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::linear::sparse_row;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn the_lanes_and_the_tree_fix_the_rounding() {
        // 2^53 + 1 rounds back to 2^53 (ties to even), but 2^53 + 2 is exact: the sum depends
        // on which ones meet first.
        let big = 9_007_199_254_740_992.0_f64;
        let sum = |x: &[(usize, f64)]| dot(x, &[1.0; 16], &0.0);
        // In order, each one is lost; in lanes 1 and 3 they meet in u1 = (s1 + s5) + (s3 + s7).
        let x = [(0, big), (1, 1.0), (3, 1.0)];
        assert_eq!(x.iter().fold(0.0, |a, (_, v)| a + v), big);
        assert_eq!(sum(&x), big + 2.0);
        // Lane 4 meets lane 0 first (s0 + s4), and lane 2 then meets their sum: both lost.
        assert_eq!(sum(&[(0, big), (2, 1.0), (4, 1.0)]), big);
        // Two ones in the same lane meet each other first only if they precede the big value.
        assert_eq!(sum(&[(1, 1.0), (3, big), (9, 1.0)]), big + 2.0);
        assert_eq!(sum(&[(1, big), (3, 1.0), (9, 1.0)]), big);
    }

    #[test]
    fn the_f64_kernel_gives_the_generic_order_bit_for_bit() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let p = 24;
        for (d, m) in [(1, 1), (7, 3), (65, 10), (785, 10), (130, 5), (16, 2)] {
            let raw = |rng: &mut ChaCha20Rng, zero_share: u32| -> i64 {
                if rng.next_u32() % 100 < zero_share {
                    0
                } else {
                    (rng.next_u64() % (1 << 26)) as i64 - (1 << 25)
                }
            };
            let w_raw: Vec<i64> = (0..m * d).map(|_| raw(&mut rng, 10)).collect();
            let w: Vec<f64> = w_raw.iter().map(|&k| F64.raw(k, p)).collect();
            let t = Rows::new(&w, d);
            assert_eq!(t.len(), m);
            let mut out = vec![0.0; m];
            let x: Vec<Vec<i64>> = (0..20)
                .map(|_| (0..d).map(|_| raw(&mut rng, 60)).collect())
                .collect();
            let rows = ChunkRows::new(&x, p);
            for (i, xi) in x.iter().enumerate() {
                t.dots(rows.row(i), &mut out);
                let sparse = sparse_row(&F64, xi, p);
                for (r, o) in out.iter().enumerate() {
                    let generic = dot(&sparse, &w[r * d..(r + 1) * d], &0.0);
                    assert_eq!(o.to_bits(), generic.to_bits(), "d {d}, row {r}");
                }
            }
        }
    }
}
