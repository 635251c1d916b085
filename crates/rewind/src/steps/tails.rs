//! Exact tails of the learning tests: the p-values of the run's `running_fit_z` and of ρ's
//! running excess z ([`crate::steps::discrepancy`]) under the permutation null itself, not its normal
//! approximation.
//!
//! The null is Algorithm 1's own randomness with learning taken out: every model's correctness
//! vector is held fixed (the run's `correct[k]`), and the per-epoch permutations are redrawn
//! uniformly, so that each batch is drawn independently of which examples the model after it
//! gets right. Each redraw recomputes both statistics exactly as the report does (seen sets,
//! K, k, the hypergeometric moments of [`crate::steps::null`]); the p-value is
//! (1 + #{redraws ≥ observed})/(1 + draws), the standard unbiased Monte Carlo estimate of a
//! permutation p-value, which is never 0. The z's are only approximately normal (a sum of tens
//! of skewed, dependent terms per epoch; docs/design.md §8.4), which is why the claims read
//! these p-values and not the z's.
//!
//! Draws come in fixed chunks of [`CHUNK`], each from its own ChaCha20 stream of the run's seed,
//! so the p-values are byte-identical whatever the thread count.

use crate::rng::Shuffler;
use crate::steps::discrepancy::{fit_moments, rho_code};
use crate::steps::null::{step_moments, z_score};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Redraws per run: the Monte Carlo standard error of a p-value near 0.01 is 0.001.
pub const DRAWS: usize = 10_000;
/// Redraws per ChaCha20 stream.
pub const CHUNK: usize = 500;
/// The first stream number of the redraws, above every stream of [`crate::rng::Stream`].
const STREAM_BASE: u64 = 1 << 32;

/// The permutation p-values of a run's two learning statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tails {
    /// Redraws of the permutations.
    pub draws: usize,
    /// P(running_fit_z ≥ observed) under the redraws: the batch-fitting test's p-value.
    pub fit_p: f64,
    /// P(running ρ_code excess z ≥ observed): ρ above its null.
    pub rho_code_p: f64,
    /// P(running ρ_code excess z ≤ observed): ρ below its null (the surprise of likely
    /// outcomes, as at b = 1).
    pub rho_code_p_below: f64,
}

/// One epoch's layout: its steps (indices into the run's batches) and how many examples it
/// used.
struct Epoch {
    steps: std::ops::Range<usize>,
    len: usize,
}

/// What the redraws read, gathered one step at a time as the run goes: per epoch its steps and
/// size, per step its batch size and the correctness of the model after it on the epoch's
/// examples, as a bit set over their positions in the epoch (n/8 bytes a step).
#[derive(Default)]
pub struct TailsInput {
    epochs: Vec<Epoch>,
    sizes: Vec<usize>,
    bits: Vec<Vec<u64>>,
    /// The current epoch's examples in order, and each of its steps' correctness by example.
    members: Vec<usize>,
    pending: Vec<Vec<u64>>,
    epoch: usize,
}

impl TailsInput {
    /// No steps yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A step of the 1-based `epoch` used `batch`, and the model after it is right on the
    /// examples where `after` is true.
    pub fn push(&mut self, batch: &[usize], epoch: usize, after: &[bool]) {
        if self.epochs.is_empty() || epoch != self.epoch {
            self.close_epoch();
            let k = self.sizes.len();
            self.epochs.push(Epoch {
                steps: k..k,
                len: 0,
            });
            self.epoch = epoch;
        }
        if let Some(e) = self.epochs.last_mut() {
            e.steps.end += 1;
            e.len += batch.len();
        }
        self.sizes.push(batch.len());
        self.members.extend_from_slice(batch);
        let mut by_example = vec![0u64; after.len().div_ceil(64)];
        for (x, _) in after.iter().enumerate().filter(|(_, &c)| c) {
            by_example[x / 64] |= 1 << (x % 64);
        }
        self.pending.push(by_example);
    }

    /// The epoch's bit sets move from example indices to positions in the epoch, now that its
    /// order is known.
    fn close_epoch(&mut self) {
        for by_example in self.pending.drain(..) {
            let mut bits = vec![0u64; self.members.len().div_ceil(64)];
            for (i, &x) in self.members.iter().enumerate() {
                if (by_example[x / 64] >> (x % 64)) & 1 == 1 {
                    bits[i / 64] |= 1 << (i % 64);
                }
            }
            self.bits.push(bits);
        }
        self.members.clear();
    }

    /// The permutation p-values from `draws` redraws of the ChaCha20 streams of `seed`.
    pub fn tails(self, draws: usize, seed: u64) -> Tails {
        self.drawn(draws, seed, &|| false).0
    }

    /// [`tails`](Self::tails), or `None` once `stop` says so: it is asked before every redraw,
    /// so that a Ctrl-C is not kept waiting for the rest of them.
    pub fn tails_unless(
        self,
        draws: usize,
        seed: u64,
        stop: &(dyn Fn() -> bool + Sync),
    ) -> Option<Tails> {
        let (tails, stopped) = self.drawn(draws, seed, stop);
        (!stopped).then_some(tails)
    }

    fn drawn(mut self, draws: usize, seed: u64, stop: &(dyn Fn() -> bool + Sync)) -> (Tails, bool) {
        self.close_epoch();
        tails_of(&self.epochs, &self.sizes, &self.bits, (draws, seed), stop)
    }
}

/// The statistics' running sums over a whole run.
#[derive(Default)]
struct Sums {
    fit: f64,
    fit_var: f64,
    rho: f64,
    null_mean: f64,
    null_var: f64,
}

impl Sums {
    fn zs(&self) -> (f64, f64) {
        (
            z_score(self.fit, self.fit_var),
            z_score(self.rho - self.null_mean, self.null_var),
        )
    }
}

type Moments = HashMap<(usize, usize, usize), (f64, f64), BuildHasherDefault<Mix>>;

/// A multiply-rotate hash of the moments' small integer keys: the redraws look one up per
/// step, and std's SipHash, built to resist chosen keys, cost more than the lookup's work.
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_u64(b as u64));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// Both z's of the run with the epochs' examples in the order `order(epoch, buffer)` writes
/// (positions into the epoch's members), the batches cut from it with the run's own batch
/// sizes.
fn statistics(
    epochs: &[Epoch],
    sizes: &[usize],
    bits: &[Vec<u64>],
    cache: &mut Moments,
    mut order: impl FnMut(usize, &mut Vec<usize>),
) -> (f64, f64) {
    let mut s = Sums::default();
    let mut pos = Vec::new();
    for (ei, e) in epochs.iter().enumerate() {
        order(ei, &mut pos);
        let mut seen = vec![0u64; e.len.div_ceil(64)];
        let (mut start, mut total) = (0, 0);
        for k in e.steps.clone() {
            let b = sizes[k];
            let c = &bits[k];
            let mut batch_correct = 0;
            for &i in &pos[start..start + b] {
                seen[i / 64] |= 1 << (i % 64);
                batch_correct += ((c[i / 64] >> (i % 64)) & 1) as usize;
            }
            start += b;
            total += b;
            let seen_correct: usize = seen
                .iter()
                .zip(c)
                .map(|(a, m)| (a & m).count_ones() as usize)
                .sum();
            let (score, var) = fit_moments(batch_correct, total, seen_correct, b);
            s.fit += score;
            s.fit_var += var;
            let lambda = seen_correct as f64 / total as f64;
            s.rho += rho_code(lambda, batch_correct as f64 / b.max(1) as f64);
            let (mean, v) = *cache.entry((total, seen_correct, b)).or_insert_with(|| {
                let m = step_moments(total, seen_correct, b);
                (m.mean_code, m.var_code)
            });
            s.null_mean += mean;
            s.null_var += v;
        }
    }
    s.zs()
}

/// The permutation p-values of the run whose models' correctness is `correct` (`correct[k]`
/// for the model before step k, the last for the final model), with its `batches` and the
/// 1-based `epoch_of` each step; `draws` redraws from the ChaCha20 streams of `seed`.
pub fn permutation_tails(
    correct: &[Vec<bool>],
    batches: &[Vec<usize>],
    epoch_of: &[usize],
    draws: usize,
    seed: u64,
) -> Tails {
    let mut input = TailsInput::new();
    for (k, batch) in batches.iter().enumerate() {
        input.push(batch, epoch_of[k], &correct[k + 1]);
    }
    input.tails(draws, seed)
}

/// The run's own order of an epoch of `len` examples, written into `pos`.
fn identity_order(len: usize, pos: &mut Vec<usize>) {
    pos.clear();
    pos.extend(0..len);
}

/// The tails from `draws` redraws of the streams of `seed`, and whether `stop` cut them short
/// (the counts are then partial).
fn tails_of(
    epochs: &[Epoch],
    sizes: &[usize],
    bits: &[Vec<u64>],
    (draws, seed): (usize, u64),
    stop: &(dyn Fn() -> bool + Sync),
) -> (Tails, bool) {
    let mut cache = Moments::default();
    let (fit_obs, rho_obs) = statistics(epochs, sizes, bits, &mut cache, |ei, pos| {
        identity_order(epochs[ei].len, pos)
    });
    let chunks = draws.div_ceil(CHUNK);
    let shuffler = Shuffler::new(epochs.iter().map(|e| e.len).max().unwrap_or(0));
    let counts: Vec<([usize; 3], bool)> = (0..chunks)
        .into_par_iter()
        .map(|chunk| {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            rng.set_stream(STREAM_BASE + chunk as u64);
            let mut cache = Moments::default();
            let mut count = [0usize; 3];
            for _ in chunk * CHUNK..((chunk + 1) * CHUNK).min(draws) {
                if stop() {
                    return (count, true);
                }
                let (fit, rho) = statistics(epochs, sizes, bits, &mut cache, |ei, pos| {
                    shuffler.permutation_into(&mut rng, epochs[ei].len, pos)
                });
                // A tolerance of rounding: a redraw equal to the observation counts as at least
                // as extreme.
                count[0] += (fit >= fit_obs - 1e-9) as usize;
                count[1] += (rho >= rho_obs - 1e-9) as usize;
                count[2] += (rho <= rho_obs + 1e-9) as usize;
            }
            (count, false)
        })
        .collect();
    let total = |i: usize| counts.iter().map(|c| c.0[i]).sum::<usize>();
    let p = |c: usize| (1 + c) as f64 / (1 + draws) as f64;
    let tails = Tails {
        draws,
        fit_p: p(total(0)),
        rho_code_p: p(total(1)),
        rho_code_p_below: p(total(2)),
    };
    (tails, counts.iter().any(|c| c.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::discrepancy::discrepancy;

    /// Correctness of every model, batches, epoch and index in the epoch of every step.
    type MadeRun = (Vec<Vec<bool>>, Vec<Vec<usize>>, Vec<usize>, Vec<usize>);

    /// A run of `epochs` epochs over n examples in batches of b, with batches in index order
    /// and the correctness of every model given by `model(step, x)`.
    fn run(n: usize, b: usize, epochs: usize, model: impl Fn(usize, usize) -> bool) -> MadeRun {
        let per = n / b;
        let steps = per * epochs;
        let correct = (0..=steps)
            .map(|k| (0..n).map(|x| model(k, x)).collect())
            .collect();
        let batches = (0..steps)
            .map(|k| ((k % per) * b..(k % per + 1) * b).collect())
            .collect();
        let epoch_of = (0..steps).map(|k| k / per + 1).collect();
        let j_of = (0..steps).map(|k| k % per + 1).collect();
        (correct, batches, epoch_of, j_of)
    }

    #[test]
    fn the_identity_order_reproduces_the_reports_statistics() {
        let (correct, batches, epoch_of, j_of) = run(24, 3, 2, |k, x| (x * 7 + k) % 5 < 3);
        // Batches that do not follow the example indices, so that positions in the epoch and
        // example indices differ.
        let batches: Vec<Vec<usize>> = batches
            .iter()
            .map(|b| b.iter().map(|&x| (x * 5 + 1) % 24).collect())
            .collect();
        let (_, report) = discrepancy(&correct, &batches, &epoch_of, &j_of, 8);
        let mut input = TailsInput::new();
        for (k, batch) in batches.iter().enumerate() {
            input.push(batch, epoch_of[k], &correct[k + 1]);
        }
        input.close_epoch();
        let epochs = &input.epochs;
        let (fit, rho) = statistics(
            epochs,
            &input.sizes,
            &input.bits,
            &mut Moments::default(),
            |ei, pos| identity_order(epochs[ei].len, pos),
        );
        let last = report.last().unwrap();
        assert!((fit - last.running_fit_z).abs() < 1e-9, "{fit} vs {last:?}");
        assert!((rho - last.running_excess_z_code).abs() < 1e-9);
    }

    #[test]
    fn a_memorising_model_is_far_in_the_tail_and_a_fixed_one_is_not() {
        // The model after step k − 1 gets its batch right, and otherwise the even examples.
        let (n, b) = (40, 4);
        let memorise =
            |k: usize, x: usize| x.is_multiple_of(2) || (k > 0 && x / b == (k - 1) % (n / b));
        let (correct, batches, epoch_of, _) = run(n, b, 2, memorise);
        let t = permutation_tails(&correct, &batches, &epoch_of, 2_000, 7);
        assert_eq!(t.fit_p, 1.0 / 2_001.0, "{t:?}");
        // A model that never moves: correctness independent of the batches.
        let (correct, batches, epoch_of, _) = run(n, b, 2, |_, x| x % 3 == 0);
        let t = permutation_tails(&correct, &batches, &epoch_of, 2_000, 7);
        assert!(t.fit_p > 0.01 && t.rho_code_p > 0.01, "{t:?}");
    }

    #[test]
    fn a_stop_ends_the_redraws_and_no_stop_changes_nothing() {
        let (correct, batches, epoch_of, _) = run(30, 3, 2, |k, x| (x + k) % 4 == 0);
        let input = || {
            let mut input = TailsInput::new();
            for (k, batch) in batches.iter().enumerate() {
                input.push(batch, epoch_of[k], &correct[k + 1]);
            }
            input
        };
        let whole = permutation_tails(&correct, &batches, &epoch_of, 1_200, 3);
        assert_eq!(input().tails_unless(1_200, 3, &|| false), Some(whole));
        assert_eq!(input().tails_unless(1_200, 3, &|| true), None);
    }

    #[test]
    fn p_values_do_not_depend_on_the_thread_count() {
        let (correct, batches, epoch_of, _) = run(30, 3, 2, |k, x| (x + k) % 4 == 0);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| permutation_tails(&correct, &batches, &epoch_of, 1_200, 3));
        let two = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
            .install(|| permutation_tails(&correct, &batches, &epoch_of, 1_200, 3));
        assert_eq!(one, two);
    }
}
