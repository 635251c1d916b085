//! Progress: every phase the library reports adds up to its announced total and changes no
//! result; on the command line `--quiet` is accepted everywhere and, when the output is piped,
//! nothing but the result is written (no bar, and the same bytes with or without `--quiet`).

use super::common::rewind;
use rewind::config::{DataSource, ModelKind, Setup, VerifyConfig};
use rewind::progress::{Phase, Progress};
use rewind::sgd::{BackendChoice, NoObserver};
use rewind::verify::{verify_quiet, verify_run};
use std::sync::Mutex;
use tempfile::TempDir;

/// Records every phase with its total and the units advanced.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(Phase, u64, u64)>>);

impl Progress for Recorder {
    fn begin(&self, phase: Phase, total: u64) {
        self.0.lock().unwrap().push((phase, total, 0));
    }
    fn advance(&self, n: u64) {
        let mut v = self.0.lock().unwrap();
        let last = v.last_mut().expect("advance after begin");
        last.2 += n;
    }
}

#[test]
fn every_phase_reaches_its_total_and_changes_nothing() {
    let setup = Setup::new(&VerifyConfig {
        data: DataSource::Synthetic {
            n: 24,
            features: 2,
            classes: 2,
        },
        model: ModelKind::LeastSquares,
        backend: BackendChoice::Exact,
        frac_bits: 10,
        batch: 4,
        epochs: 2,
        stop_at_full_accuracy: false,
        certify: Some(64),
        ..VerifyConfig::default()
    })
    .unwrap();
    let recorder = Recorder::default();
    let run = verify_run(&setup, &mut NoObserver, &recorder).unwrap();
    let phases = recorder.0.into_inner().unwrap();
    let names: Vec<Phase> = phases.iter().map(|p| p.0).collect();
    // Each step is inverted and certified while the run goes (docs/design.md §7.5); encoding
    // and decoding each walk the whole run.
    assert_eq!(
        names,
        [Phase::Run, Phase::WalkBack, Phase::Code, Phase::Code]
    );
    for (phase, total, done) in &phases {
        assert_eq!(*total, 12, "{phase:?}");
        assert_eq!(done, total, "{phase:?}");
    }
    let (quiet, traj) = verify_quiet(&setup).unwrap();
    assert_eq!(run.report, quiet);
    assert_eq!(run.trajectory, traj);
}

const SMALL: [&str; 14] = [
    "--data",
    "synthetic",
    "--synthetic-n",
    "24",
    "--model",
    "least-squares",
    "--backend",
    "exact",
    "--frac-bits",
    "12",
    "--batch",
    "4",
    "--epochs",
    "2",
];

/// Two runs of a few steps each.
const TINY_PLAN: &str = r#"
name = "tiny"
[axes]
data = ["synthetic"]
model = ["least-squares"]
backend = ["exact"]
batch = [4]
epochs = [1]
seed = [0, 1]
[fixed]
synthetic_n = 16
"#;

/// Runs `rewind` with stdout and stderr piped, and returns stdout after checking that it
/// succeeded and wrote nothing on stderr.
#[track_caller]
fn piped(args: &[String]) -> Vec<u8> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = rewind(&args);
    assert!(
        out.status.success(),
        "{args:?}: exit {:?}, stderr {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{args:?} wrote on stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `--quiet` is accepted by every subcommand that shows progress, and with the output piped it
/// changes no byte of stdout nor of the files written.
#[test]
fn quiet_is_accepted_everywhere_and_piped_output_does_not_depend_on_it() {
    let dir = TempDir::new().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let small = own(&SMALL);
    std::fs::write(p("plan.toml"), TINY_PLAN).unwrap();
    let commands: Vec<(Vec<String>, Vec<String>)> = vec![
        ([own(&["verify", "--json"]), small.clone()].concat(), vec![]),
        (
            [
                own(&["encode", "--code"]),
                vec![p("run.rwc")],
                own(&["--final"]),
                vec![p("final.json")],
                small.clone(),
            ]
            .concat(),
            vec![p("run.rwc"), p("final.json")],
        ),
        (
            [
                own(&["decode"]),
                vec![p("run.rwc"), "--final".into(), p("final.json")],
                own(&SMALL[..4]),
                own(&["--out"]),
                vec![p("decoded.jsonl")],
            ]
            .concat(),
            vec![p("decoded.jsonl")],
        ),
        (
            [
                own(&["collisions", "--half-width", "8", "--svg"]),
                vec![p("map.svg")],
            ]
            .concat(),
            vec![p("map.svg")],
        ),
        (
            [
                own(&["sweep"]),
                vec![p("plan.toml")],
                own(&["--out"]),
                vec![p("smoke.jsonl")],
            ]
            .concat(),
            vec![p("smoke.jsonl")],
        ),
    ];
    let read = |files: &[String]| -> Vec<Vec<u8>> {
        files.iter().map(|f| std::fs::read(f).unwrap()).collect()
    };
    for (args, files) in &commands {
        let loud = piped(args);
        let loud_files = read(files);
        let quiet = piped(&[args.clone(), vec!["--quiet".into()]].concat());
        assert!(!loud.is_empty(), "{args:?} printed nothing");
        if args[0] == "sweep" {
            // The sweep's last line says how long it took; everything else must match.
            let strip = |b: &[u8]| String::from_utf8_lossy(b).replace(char::is_numeric, "");
            assert_eq!(strip(&loud), strip(&quiet), "{args:?}");
        } else {
            assert_eq!(loud, quiet, "{args:?}");
        }
        assert_eq!(loud_files, read(files), "{args:?}");
    }
}
