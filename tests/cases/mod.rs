mod common;

mod backends;
mod certification;
mod claims;
mod cli_errors;
mod cli_runs;
mod code_file;
mod codec;
mod collisions;
mod custom_model;
mod demo;
mod design_refs;
mod figures;
mod fuzz_decode;
mod inversion;
mod reconstruction;
mod reliability;
