//! The `rewind` command: a thin front end over the library. `main` parses, dispatches to one
//! subcommand, prints any error once on one line, and returns the exit code.

mod cli;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::signals::install();
    match cli::run() {
        Ok(code) => code,
        // The reader of our output went away: nothing is wrong, and nobody is listening.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<cli::StdoutError>()
                    .is_some_and(cli::StdoutError::is_closed_pipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // If stderr itself cannot be written, the exit code is all that is left.
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line; a cause already quoted by the message above it is
/// not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !msg.contains(&text) {
            if !msg.is_empty() {
                msg.push_str(": ");
            }
            msg.push_str(&text);
        }
    }
    rewind::input::printable(&msg.replace('\n', " ")).into_owned()
}
