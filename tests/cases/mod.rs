mod common;

mod cli_errors;
mod cli_runs;
mod inversion;
mod reconstruction;
mod backends;
