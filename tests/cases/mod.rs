mod common;

mod backends;
mod certification;
mod cli_errors;
mod cli_runs;
mod codec;
mod code_file;
mod collisions;
mod inversion;
mod reconstruction;
