//! What `rewind verify` costs beside the run it verifies, at d = 785.
//!
//! The command `rewind verify --data fixtures/mnist_5k.csv.gz --classes 4,9 --epochs 3`
//! (logistic regression on 28×28 pixels and a bias, 150 steps) is rebuilt here from the same
//! configuration, and three passes are timed in interleaved rounds so that the machine's load
//! weighs on them alike: the forward run alone (`rewind::sgd::run`), the predicted many-to-one
//! share 1 − det(I − αH_B) over the run's steps (through the b×b determinant), the whole
//! verification (run, inversion, walk back, discrepancy, code), and both again as whole commands,
//! each from the file: loading the data and bounding L_B to set α ([`Setup::new`]), then the
//! forward run or the verification. It prints each pass's median wall time and mean CPU time and
//! the ratio of the verification to the forward run, for the passes alone and for the commands.
//! Run with `cargo bench -p rewind --bench verify_cost`.

mod common;

use common::{load_average, time_interleaved};
use rewind::config::{DataSource, Setup, VerifyConfig};
use rewind::many_to_one::predicted_many_to_one;
use rewind::sgd::{run, NoObserver};
use rewind::verify::verify;
use std::time::Duration;

const DATA: &str = "fixtures/mnist_5k.csv.gz";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    common::at_repository_root();
    let config = VerifyConfig {
        data: DataSource::Path(DATA.into()),
        classes: Some(vec![4, 9]),
        epochs: 3,
        ..VerifyConfig::default()
    };
    let setup = Setup::new(&config).expect("the fixture loads");
    let f = setup.step_function();
    let traj = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver)
        .expect("the run completes");
    println!(
        "rewind verify --data {DATA} --classes 4,9 --epochs 3: d = {}, {} steps, {} threads, load {}",
        f.dim(),
        traj.steps.len(),
        rayon::current_num_threads(),
        load_average()
    );
    let mut forward = || {
        let t = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver);
        std::hint::black_box(t.expect("the run completes"));
    };
    let mut predicted = || {
        std::hint::black_box(predicted_many_to_one(&f, &traj));
    };
    let mut whole = || {
        std::hint::black_box(verify(&setup, &mut NoObserver).expect("the run verifies"));
    };
    let mut forward_command = || {
        let setup = Setup::new(&config).expect("the fixture loads");
        let f = setup.step_function();
        let t = run(&f, &setup.sgd_config(), setup.init.clone(), &mut NoObserver);
        std::hint::black_box(t.expect("the run completes"));
    };
    let mut verify_command = || {
        let setup = Setup::new(&config).expect("the fixture loads");
        std::hint::black_box(verify(&setup, &mut NoObserver).expect("the run verifies"));
    };
    let costs = time_interleaved(
        Duration::from_secs(30),
        &mut [
            &mut forward,
            &mut predicted,
            &mut whole,
            &mut forward_command,
            &mut verify_command,
        ],
    );
    let names = [
        "forward run",
        "predicted 1 − det(I − αH_B)",
        "whole verification",
        "forward command (load + run)",
        "verify command (load + verify)",
    ];
    for (name, c) in names.iter().zip(&costs) {
        println!(
            "{name:<30} wall {:>8.3} s   cpu {}",
            c.wall.as_secs_f64(),
            c.cpu.map_or("?".into(), |s| format!("{s:.3} s"))
        );
    }
    let ratio = |a: usize, b: usize| costs[a].wall.as_secs_f64() / costs[b].wall.as_secs_f64();
    println!("verification / forward run: {:.2}× wall", ratio(2, 0));
    println!("verify command / forward command: {:.2}× wall", ratio(4, 3));
}
