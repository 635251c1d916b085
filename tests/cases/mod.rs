mod common;

mod backends;
mod certification;
mod claims;
mod cli_errors;
mod cli_runs;
mod code_file;
mod codec;
mod collisions;
mod demo;
mod figures;
mod inversion;
mod null_model;
mod reconstruction;
