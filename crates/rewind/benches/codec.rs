//! What the entropy-compression code costs against the inversions it rides on, for one epoch:
//! logistic regression on digits 3 vs 8 (n = 340, b = 20) and on a synthetic set (n = 5000,
//! 8 features, b = 50), both on the f64 backend at q = 0.1.
//!
//! The target: the coder's own work (ranking and coding) costs no more than the step
//! inversions of the same epoch, with the split evaluations acc(W, x) (O(n·d) per step)
//! reported apart. Besides criterion's timings of `encode` and `decode`, each configuration
//! prints one table row (medians of several passes):
//! - inversions: every step of the epoch inverted once (`analyse`, on one thread, since the
//!   coder runs on one);
//! - split pass: acc(W_{i,j+1}, x) on the unassigned examples at every step, exactly the sets
//!   the coder's walk splits;
//! - encode: `entropy::encode` from precomputed inversion records; it makes two split passes,
//!   one to choose each epoch's tilt and one in the walk, so its own work is encode − 2·split;
//! - decode: `entropy::decode`, which re-inverts every step and makes one split pass, so its own
//!   work is decode − inversions − split.
//!
//! The ms are CPU time per pass (the process's; a busy machine inflates wall time
//! far more), means over passes lasting at least `budget`; after each row a line states the
//! coder's own work ÷ the inversions in CPU time and in median wall time, with the load average.
//!
//! Run with `cargo bench --bench codec` (`cargo bench --bench codec -- --warm-up-time 1
//! --measurement-time 1` for the table without criterion's long sampling).

mod common;

use common::{load_average, time_interleaved, Cost};
use criterion::{criterion_group, criterion_main, Criterion};
use rewind::codec::entropy::{decode, encode, CodeOptions, Encoded, RunShape};
use rewind::codec::hint::StepRecord;
use rewind::config::{DataSource, ModelKind, Setup, StepSize, VerifyConfig};
use rewind::reconstruct::analyse;
use rewind::sgd::{run, BackendChoice, NoObserver, StepFunction, Trajectory};
use std::time::Duration;

struct Config {
    name: &'static str,
    data: DataSource,
    classes: Option<Vec<u32>>,
    batch: usize,
    /// Time spent on each quantity of the table, and criterion's measurement time.
    budget: Duration,
    measure: Duration,
}

fn setup(c: &Config) -> Setup {
    Setup::new(&VerifyConfig {
        data: c.data.clone(),
        model: ModelKind::Logistic,
        classes: c.classes.clone(),
        backend: BackendChoice::F64,
        step_size: StepSize::Q("0.1".into()),
        batch: c.batch,
        epochs: 1,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    })
    .expect("the data set loads")
}

/// The split evaluations of the coder's walk, without the coding: per epoch, backwards, the
/// model after each step classifies the examples no later step has used.
fn split_pass(f: &StepFunction, t: &Trajectory, n: usize, b: usize) -> usize {
    let per_epoch = n / b;
    let mut correct = 0;
    for (e, perm) in t.permutations.iter().enumerate() {
        let steps = t.steps.len().saturating_sub(e * per_epoch).min(per_epoch);
        let mut unassigned = vec![true; n];
        for &x in &perm[steps * b..] {
            unassigned[x] = false;
        }
        for j in (0..steps).rev() {
            let k = e * per_epoch + j;
            let w = t.model_after(k);
            for (x, &free) in unassigned.iter().enumerate() {
                if free {
                    correct += f.correct(w, x).expect("acc evaluates") as usize;
                }
            }
            for &x in &t.steps[k].batch {
                unassigned[x] = false;
            }
        }
    }
    correct
}

/// The coder's own work ÷ the inversions, from the times of [inversions, split pass, encode,
/// decode]: the encoder's (encode − 2·split) and the decoder's (decode − inversions − split).
fn own_ratios(t: &[f64]) -> (f64, f64) {
    let (inv, split, enc, dec) = (t[0], t[1], t[2], t[3]);
    ((enc - 2.0 * split) / inv, (dec - inv - split) / inv)
}

/// CPU milliseconds per pass (wall where /proc is missing).
fn ms(c: Cost) -> f64 {
    c.cpu.unwrap_or(c.wall.as_secs_f64()) * 1e3
}

fn bench(c: &mut Criterion) {
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool");
    eprintln!("| data | n | d | b | steps | code bits | inversions ms | split pass ms | encode ms | decode ms | encode − 2·split ms | ÷ inversions | decode − inversions − split ms | ÷ inversions |");
    eprintln!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let configs = [
        Config {
            name: "digits 3 vs 8",
            data: DataSource::Digits,
            classes: Some(vec![3, 8]),
            batch: 20,
            budget: Duration::from_secs(1),
            measure: Duration::from_secs(5),
        },
        Config {
            name: "synthetic",
            data: DataSource::Synthetic {
                n: 5000,
                features: 8,
                classes: 2,
            },
            classes: None,
            batch: 50,
            budget: Duration::from_secs(2),
            measure: Duration::from_secs(8),
        },
    ];
    for cfg in &configs {
        let s = setup(cfg);
        let f = s.step_function();
        let t = run(&f, &s.sgd_config(), s.init.clone(), &mut NoObserver).expect("a run");
        let (n, b) = (s.data.n(), cfg.batch);
        let max_it = s.config.max_iterations;
        let shape = RunShape::of(&t, n, b);
        let opts = CodeOptions {
            certify: None,
            max_iterations: max_it,
        };
        let records: Vec<StepRecord> =
            one_thread.install(|| analyse(&f, &t, max_it).expect("inversions"));
        let encode_once = || -> Encoded { encode(&f, &t, &records, shape, opts).expect("encode") };
        let enc = encode_once();
        let dec = decode(&f, &t.final_model, shape, &enc.code, opts).expect("decode");
        assert_eq!(
            dec.permutations, t.permutations,
            "the bench must round-trip"
        );

        let costs = time_interleaved(
            cfg.budget,
            &mut [
                &mut || {
                    std::hint::black_box(
                        one_thread.install(|| analyse(&f, &t, max_it).expect("invert")),
                    );
                },
                &mut || {
                    std::hint::black_box(split_pass(&f, &t, n, b));
                },
                &mut || {
                    std::hint::black_box(encode_once());
                },
                &mut || {
                    std::hint::black_box(
                        decode(&f, &t.final_model, shape, &enc.code, opts).expect("decode"),
                    );
                },
            ],
        );
        let cpu: Option<Vec<f64>> = costs.iter().map(|c| c.cpu).collect();
        let wall: Vec<f64> = costs.iter().map(|c| c.wall.as_secs_f64()).collect();
        let cpu = cpu.map(|t| own_ratios(&t));
        let wall = own_ratios(&wall);
        let shown = |r: Option<f64>| r.map_or("?".into(), |r| format!("{r:.2}"));
        let [inv, spl, en, de] = [0, 1, 2, 3].map(|i| ms(costs[i]));
        eprintln!(
            "| {} | {n} | {} | {b} | {} | {} | {inv:.2} | {spl:.2} | {en:.2} | {de:.2} | {:.2} | {} | {:.2} | {} |",
            cfg.name,
            f.dim(),
            t.steps.len(),
            enc.code.bits,
            en - 2.0 * spl,
            shown(cpu.map(|r| r.0)),
            de - inv - spl,
            shown(cpu.map(|r| r.1)),
        );
        eprintln!(
            "codec ÷ inversions, {} (n = {n}, b = {b}): encoder {} in CPU time ({:.2} in median wall time), decoder {} ({:.2}); load {}",
            cfg.name,
            shown(cpu.map(|r| r.0)),
            wall.0,
            shown(cpu.map(|r| r.1)),
            wall.1,
            load_average(),
        );

        let mut group =
            c.benchmark_group(format!("codec-{}-n{n}-b{b}", cfg.name.replace(' ', "-")));
        group.sample_size(10).measurement_time(cfg.measure);
        group.bench_function("encode-epoch", |bch| bch.iter(encode_once));
        group.bench_function("decode-epoch", |bch| {
            bch.iter(|| decode(&f, &t.final_model, shape, &enc.code, opts).expect("decode"))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
