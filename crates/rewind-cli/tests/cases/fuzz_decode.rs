//! The decoder's fuzz target: code files mutated in their raw bytes, in their body with the
//! checksum recomputed, in their header's JSON fields (checksum recomputed), with another run's
//! header, with random code sections, and with the inverter's iteration cap (`max_iterations`)
//! forged, over plain SGD runs (two of them with every step at a small cap, so that another cap
//! changes what each step's inversion does) and one SGD′ run (Lemma 4.1).
//! The contract, case by case: no panic, no case longer than a second of CPU time (the thread's
//! own, which a busy machine does not inflate; the wall time is reported beside it), and never a
//! run other than the encoded one decoded without error.
//!
//! CI runs a short campaign; `REWIND_FUZZ_CASES` sets the number of cases for a long one and
//! `REWIND_FUZZ_SEED` its seed (so that a long campaign can run as several processes):
//! `REWIND_FUZZ_CASES=500000 REWIND_FUZZ_SEED=1 cargo test --release --test main fuzz -- --nocapture`.

use super::code_file::{code_region, encode_config, hinted_seed, mutate, reseal, tiny};
use super::section4;
use rewind::config::{DataSource, ModelKind, StepSize, VerifyConfig};
use rewind::encode::{decode_run, EncodedRun};
use rewind::rng::{stream, uniform_in, Stream};
use rewind::sgd::BackendChoice;
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Cases of the short campaign CI runs.
const CI_CASES: u64 = 1_500;
/// The contract's bound on one case.
const CASE_LIMIT: Duration = Duration::from_secs(1);

/// This thread's user + system CPU time, from /proc/thread-self/stat (Linux; 10 ms ticks).
/// `None` where the file is missing, and the case is then judged by its wall time.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// One encoded run the campaign mutates, with the data flags that decode it (an SGD′ run's
/// `run.sgd_prime` holds its calls).
struct Base {
    label: &'static str,
    config: VerifyConfig,
    run: EncodedRun,
}

/// Three features (four with the bias) and two classes: softmax has 8 parameters and an MLP of
/// one hidden unit also 8, so swapping their headers keeps every length consistent.
fn small(model: ModelKind, seed: u64, hidden: usize) -> VerifyConfig {
    VerifyConfig {
        data: DataSource::Synthetic {
            n: 12,
            features: 3,
            classes: 2,
        },
        model,
        hidden,
        backend: BackendChoice::F64,
        frac_bits: 10,
        step_size: StepSize::Q("0.5".into()),
        batch: 3,
        epochs: 2,
        seed,
        stop_at_full_accuracy: false,
        ..VerifyConfig::default()
    }
}

fn bases() -> Vec<Base> {
    let seed = hinted_seed();
    let configs = [
        ("least squares, exact, hints", tiny(seed, None)),
        ("least squares, exact, certified", tiny(seed, Some(256))),
        ("logistic, f64", small(ModelKind::Logistic, seed, 1)),
        ("softmax, f64", small(ModelKind::Softmax, seed, 1)),
        ("mlp of one unit, f64", small(ModelKind::Mlp, seed, 1)),
        (
            "logistic, f64, steps at a cap of 2",
            VerifyConfig {
                max_iterations: 2,
                ..small(ModelKind::Logistic, seed, 1)
            },
        ),
        (
            "least squares, exact, steps at a cap of 3",
            VerifyConfig {
                max_iterations: 3,
                ..tiny(seed, None)
            },
        ),
    ];
    let mut out: Vec<Base> = configs
        .into_iter()
        .map(|(label, config)| Base {
            label,
            run: encode_config(&config),
            config,
        })
        .collect();
    for base in out.iter().filter(|b| b.config.max_iterations < 10) {
        assert!(
            reaches_the_cap(base),
            "{}: no step reaches the cap, so a forged cap tests nothing",
            base.label
        );
    }
    // SGD′ (Lemma 4.1's code): T_{i,j}, z and hinted inner steps besides the batches.
    let config = section4::tiny(
        section4::hinted_seed(BackendChoice::Exact),
        BackendChoice::Exact,
    );
    let setup = rewind::config::Setup::new(&config).expect("a valid configuration");
    let run = rewind::encode::encode_sgd_prime_run(
        &setup,
        &section4::section4(),
        &rewind::progress::NoProgress,
    )
    .expect("the SGD′ run encodes");
    out.push(Base {
        label: "sgd′, least squares, exact, hints",
        run,
        config,
    });
    out
}

/// Whether some step of the base's run ends its inversion at the cap.
fn reaches_the_cap(base: &Base) -> bool {
    let setup = rewind::config::Setup::new(&base.config).expect("a valid configuration");
    let f = setup.step_function();
    let records =
        rewind::reconstruct::analyse(&f, &base.run.trajectory, base.config.max_iterations)
            .expect("the run inverts");
    records
        .iter()
        .any(|r| r.termination == rewind::invert::Termination::Cap)
}

/// A forged iteration cap: boundaries of the accepted range, neighbours of the genuine value and
/// values that once made the decoder run for minutes.
fn forged_cap(rng: &mut impl rand_core::RngCore, old: u64) -> Value {
    let max = u64::from(rewind::invert::MAX_ITERATIONS);
    let v = match uniform_in(rng, 0, 10) {
        0 => 0,
        1 => 1,
        2 => old.saturating_sub(1),
        3 => old + 1,
        4 => old * 2,
        5 => 1_000,
        6 => max,
        7 => max + 1,
        8 => u64::from(u32::MAX),
        9 => uniform_in(rng, 0, 1 << 20) as u64,
        _ => uniform_in(rng, 0, 100) as u64,
    };
    Value::from(v)
}

/// The file's parts: the JSON header and what follows it (code bits, code), checksum removed.
fn split(bytes: &[u8]) -> (Value, Vec<u8>) {
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[16..16 + len]).expect("a valid header");
    (header, bytes[16 + len..bytes.len() - 32].to_vec())
}

/// A sealed file from a header (any bytes) and the code part.
fn assemble(header: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut body = b"RWNDCODE".to_vec();
    body.extend_from_slice(&rewind::codec::file::FORMAT.to_le_bytes());
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(header);
    body.extend_from_slice(rest);
    reseal(body)
}

/// A value a field could be given: boundaries, neighbours, huge and wrong-typed values.
fn replacement(rng: &mut impl rand_core::RngCore, old: &Value) -> Value {
    const NAMES: [&str; 10] = [
        "least-squares",
        "logistic",
        "softmax",
        "mlp",
        "exact",
        "mpfr",
        "f64",
        "gelu",
        "tanh",
        "",
    ];
    let n = old.as_u64().unwrap_or(0);
    match uniform_in(rng, 0, 13) {
        0 => Value::from(0u64),
        1 => Value::from(1u64),
        2 => Value::from(n.saturating_sub(1)),
        3 => Value::from(n.saturating_add(1)),
        4 => Value::from(n.saturating_mul(2)),
        5 => Value::from(n.saturating_mul(1_000_000)),
        6 => Value::from(u64::from(u32::MAX)),
        7 => Value::from(u64::MAX),
        8 => Value::from(uniform_in(rng, 0, 1 << 20) as u64),
        9 => Value::from(-1i64),
        10 => Value::from(NAMES[uniform_in(rng, 0, NAMES.len() as i64 - 1) as usize]),
        11 => match old {
            Value::Bool(b) => Value::Bool(!b),
            Value::String(s) if !s.is_empty() => {
                // One hex digit of a fingerprint changed.
                let mut c: Vec<char> = s.chars().collect();
                let i = uniform_in(rng, 0, c.len() as i64 - 1) as usize;
                c[i] = if c[i] == '0' { '1' } else { '0' };
                Value::from(c.into_iter().collect::<String>())
            }
            _ => Value::Null,
        },
        12 => Value::Null,
        _ => Value::from(1e300),
    }
}

/// One to three field edits of the header, or an edit that keeps the run shape consistent
/// (epochs and steps scaled together, the case that once made the decoder run for minutes).
fn mutate_header(rng: &mut impl rand_core::RngCore, header: &mut Value) -> String {
    let Value::Object(map) = header else {
        return "not an object".into();
    };
    if uniform_in(rng, 0, 5) == 0 {
        let k = [2u64, 1000, 1 << 30, u64::MAX / 4][uniform_in(rng, 0, 3) as usize];
        for field in ["epochs", "steps"] {
            let v = map.get(field).and_then(Value::as_u64).unwrap_or(1);
            map.insert(field.into(), Value::from(v.saturating_mul(k)));
        }
        return format!("epochs and steps × {k}");
    }
    let keys: Vec<String> = map.keys().cloned().collect();
    let mut what = Vec::new();
    for _ in 0..uniform_in(rng, 1, 3) {
        let key = &keys[uniform_in(rng, 0, keys.len() as i64 - 1) as usize];
        // The SGD′ section's own fields, most of the time it is picked.
        if let Some(Value::Object(inner)) = map.get_mut(key.as_str()) {
            if uniform_in(rng, 0, 3) > 0 {
                let sub: Vec<String> = inner.keys().cloned().collect();
                let k = &sub[uniform_in(rng, 0, sub.len() as i64 - 1) as usize];
                let old = inner.get(k).cloned().unwrap_or(Value::Null);
                let new = replacement(rng, &old);
                what.push(format!("{key}.{k}: {old} → {new}"));
                inner.insert(k.clone(), new);
                continue;
            }
        }
        match uniform_in(rng, 0, 9) {
            0 => {
                map.remove(key);
                what.push(format!("remove {key}"));
            }
            1 => {
                map.insert("unknown".into(), Value::from(1));
                what.push("add an unknown field".into());
            }
            _ => {
                let old = map.get(key).cloned().unwrap_or(Value::Null);
                let new = replacement(rng, &old);
                what.push(format!("{key}: {old} → {new}"));
                map.insert(key.clone(), new);
            }
        }
    }
    what.join(", ")
}

/// What the campaign counts.
#[derive(Debug, Default)]
struct Stats {
    cases: u64,
    rejected: u64,
    identical: u64,
    different: u64,
    panics: u64,
    timeouts: u64,
    slowest: Duration,
    slowest_cpu: Duration,
    over_a_second_of_wall: u64,
    by_class: BTreeMap<&'static str, u64>,
    failures: Vec<String>,
}

impl Stats {
    /// Decodes one case against the final model of `base` and checks the contract.
    fn check(&mut self, class: &'static str, what: String, bytes: &[u8], base: &Base) {
        let traj = &base.run.trajectory;
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        let result = catch_unwind(AssertUnwindSafe(|| {
            decode_run(bytes, &traj.final_model, &base.config)
        }));
        let took = start.elapsed();
        let cpu = cpu_start
            .zip(thread_cpu())
            .map(|(a, b)| b.saturating_sub(a));
        self.cases += 1;
        *self.by_class.entry(class).or_default() += 1;
        self.slowest = self.slowest.max(took);
        self.slowest_cpu = self.slowest_cpu.max(cpu.unwrap_or(took));
        self.over_a_second_of_wall += u64::from(took > CASE_LIMIT);
        let what = format!("{} / {class}: {what}", base.label);
        if cpu.unwrap_or(took) > CASE_LIMIT {
            self.timeouts += 1;
            self.failures.push(format!(
                "{what}: took {cpu:?} of CPU, {took:?} of wall time"
            ));
        }
        match result {
            Err(_) => {
                self.panics += 1;
                self.failures.push(format!("{what}: panicked"));
            }
            Ok(Err(e)) => {
                self.rejected += 1;
                let msg = e.to_string();
                if msg.trim().is_empty() || msg.contains('\n') {
                    self.failures
                        .push(format!("{what}: error is not one line: {msg:?}"));
                }
            }
            Ok(Ok(run)) => {
                let d = &run.decoded;
                let same_calls = base.run.sgd_prime.as_ref().is_none_or(|r| {
                    d.gd_calls.len() == r.calls.len()
                        && d.gd_calls
                            .iter()
                            .zip(&r.calls)
                            .all(|(g, c)| g.z == c.z && g.inner == c.inner)
                });
                let same = d.permutations == traj.permutations
                    && d.models.len() == traj.steps.len()
                    && d.models.iter().zip(&traj.steps).all(|(m, s)| *m == s.w)
                    && same_calls;
                if same {
                    self.identical += 1;
                } else {
                    self.different += 1;
                    self.failures
                        .push(format!("{what}: decoded a DIFFERENT run without error"));
                }
            }
        }
    }
}

/// Runs `cases` cases drawn from a fixed seed.
fn campaign(cases: u64, seed: u64) -> Stats {
    let bases = bases();
    let mut rng = stream(seed, Stream::Init);
    let mut stats = Stats::default();
    let pick = |rng: &mut rand_chacha::ChaCha20Rng| uniform_in(rng, 0, bases.len() as i64 - 1);
    for i in 0..cases {
        let base = &bases[pick(&mut rng) as usize];
        let bytes = &base.run.bytes;
        let body = &bytes[..bytes.len() - 32];
        match i % 6 {
            0 => {
                let (m, what) = mutate(&mut rng, bytes, 0..bytes.len());
                stats.check("raw bytes", what, &m, base);
            }
            1 => {
                let (m, what) = mutate(&mut rng, body, code_region(bytes));
                stats.check("code, resealed", what, &reseal(m), base);
            }
            2 => {
                let (mut header, rest) = split(bytes);
                let what = mutate_header(&mut rng, &mut header);
                let json = serde_json::to_vec(&header).unwrap();
                stats.check(
                    "header fields, resealed",
                    what,
                    &assemble(&json, &rest),
                    base,
                );
            }
            3 => {
                // Another run's header over this run's code and final model.
                let other = &bases[pick(&mut rng) as usize];
                let (mut header, _) = split(&other.run.bytes);
                let (mine, rest) = split(bytes);
                // Keep this run's fingerprints half of the time, so the decoder itself runs.
                if uniform_in(&mut rng, 0, 1) == 0 {
                    for f in ["final_model_sha256", "data_sha256", "d", "n"] {
                        header[f] = mine[f].clone();
                    }
                }
                let json = serde_json::to_vec(&header).unwrap();
                let what = format!("header of {}", other.label);
                stats.check(
                    "swapped header, resealed",
                    what,
                    &assemble(&json, &rest),
                    base,
                );
            }
            5 => {
                // The cap alone, or with one more field edit.
                let (mut header, rest) = split(bytes);
                let old = header["max_iterations"].as_u64().unwrap_or(0);
                let cap = forged_cap(&mut rng, old);
                let mut what = format!("max_iterations: {old} → {cap}");
                header["max_iterations"] = cap;
                if uniform_in(&mut rng, 0, 3) == 0 {
                    what = format!("{what}, {}", mutate_header(&mut rng, &mut header));
                }
                let json = serde_json::to_vec(&header).unwrap();
                stats.check(
                    "max_iterations, resealed",
                    what,
                    &assemble(&json, &rest),
                    base,
                );
            }
            _ => {
                let (header, _) = split(bytes);
                let bits = uniform_in(&mut rng, 0, 2048) as u64;
                let mut rest = bits.to_le_bytes().to_vec();
                for _ in 0..bits.div_ceil(8) {
                    rest.push(uniform_in(&mut rng, 0, 255) as u8);
                }
                if !bits.is_multiple_of(8) {
                    let last = rest.len() - 1;
                    rest[last] &= (1u8 << (bits % 8)) - 1;
                }
                let json = serde_json::to_vec(&header).unwrap();
                let what = format!("random code of {bits} bits");
                stats.check("random code, resealed", what, &assemble(&json, &rest), base);
            }
        }
    }
    stats
}

#[test]
fn fuzz_the_decoder() {
    let cases = std::env::var("REWIND_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CI_CASES);
    // Long campaigns can run as several processes, each with its own seed.
    let seed = std::env::var("REWIND_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0xF022);
    let start = Instant::now();
    let stats = campaign(cases, seed);
    eprintln!(
        "decoder fuzz (seed {seed}): {} cases in {:.1} s: {} rejected, {} decoded the same run, {} decoded a different run, {} panics, {} over {:?} of CPU (slowest {:?} of CPU, {:?} of wall; {} over {:?} of wall); by class {:?}",
        stats.cases,
        start.elapsed().as_secs_f64(),
        stats.rejected,
        stats.identical,
        stats.different,
        stats.panics,
        stats.timeouts,
        CASE_LIMIT,
        stats.slowest_cpu,
        stats.slowest,
        stats.over_a_second_of_wall,
        CASE_LIMIT,
        stats.by_class,
    );
    for f in stats.failures.iter().take(10) {
        eprintln!("  {f}");
    }
    assert!(
        stats.failures.is_empty(),
        "{} failures",
        stats.failures.len()
    );
    assert_eq!(stats.cases, cases);
    // The campaign must reach past the checksum: a fuzzer that only hits it proves nothing.
    assert!(stats.rejected > 0 && stats.identical + stats.rejected == cases);
}

/// Found by the long campaign: an MLP header whose `hidden` grew from 1 to 10⁶ (checksum
/// recomputed) built the million-unit model before comparing its size with the header's, and
/// took 40 s. The size is now compared first.
#[test]
fn a_forged_hidden_width_is_refused_before_the_model_is_built() {
    let config = small(ModelKind::Mlp, hinted_seed(), 1);
    let run = encode_config(&config);
    let (mut header, rest) = split(&run.bytes);
    for hidden in [1_000_000u64, u64::from(u32::MAX), u64::MAX] {
        header["hidden"] = Value::from(hidden);
        let bytes = assemble(&serde_json::to_vec(&header).unwrap(), &rest);
        let start = Instant::now();
        let e = decode_run(&bytes, &run.trajectory.final_model, &config)
            .expect_err("a header describing another model size must be refused");
        assert!(
            start.elapsed() < CASE_LIMIT,
            "hidden {hidden} took {:?}",
            start.elapsed()
        );
        assert!(e.to_string().contains("parameters"), "hidden {hidden}: {e}");
    }
}
