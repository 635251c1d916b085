//! Command-line parsing: one file per subcommand.

mod audit;
mod claims;
mod collisions;
mod decode;
mod demo;
mod encode;
mod figures;
mod momentum;
mod progress;
mod run_args;
mod section4;
pub mod signals;
mod sweep;
mod verify;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// A failed write to standard output. A closed pipe (`rewind claims x | head -1`) is not a
/// failure of the program: `main` ends quietly with success on it, as ripgrep does.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutError(#[source] pub std::io::Error);

impl StdoutError {
    /// The reader went away (EPIPE).
    pub fn is_closed_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes `text` to standard output and flushes it, so that every write error surfaces here
/// (instead of a panic in `println!`). Control characters other than line breaks, which only
/// untrusted text (a path, a plan's name, a CSV's header) can bring, are escaped as in
/// [`warn`]; JSON output has none, as serde escapes them inside strings.
pub fn print(text: &str) -> Result<(), StdoutError> {
    let safe: std::borrow::Cow<str> = if text.chars().any(|c| c.is_control() && c != '\n') {
        text.split('\n')
            .map(rewind::input::printable)
            .collect::<Vec<_>>()
            .join("\n")
            .into()
    } else {
        text.into()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(safe.as_bytes())
        .and_then(|()| out.flush())
        .map_err(StdoutError)
}

/// Exact fixed-point SGD that rewinds itself bit for bit.
#[derive(Debug, Parser)]
#[command(name = "rewind", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SGD on the grid, invert every step, reconstruct W₁,₁ bit for bit and report.
    Verify(verify::Args),
    /// Scan a window of a two-parameter model's grid for steps that merge points; draw an SVG.
    Collisions(collisions::Args),
    /// Run SGD and write its randomness as a code file (Lemma 3.1) beside the final model.
    Encode(encode::Args),
    /// Reconstruct every permutation, batch and model from a code file and the final model.
    Decode(decode::Args),
    /// Run the product of a plan's axes in parallel (see plans/); `sweep merge` joins shards.
    Sweep(sweep::Args),
    /// Check the paper's claims on sweep results and print verdicts with numbers.
    Claims(claims::Args),
    /// Draw the paper's figures (and the code-length and many-to-one figures) from sweep results.
    Figures(figures::Args),
    /// Audit a training log: replay it bit for bit, find its first divergence, and say which
    /// steps could have been forged (docs/log-format.md).
    Audit(audit::Args),
    /// Teach one step's inversion on a coarse two-parameter grid, with a picture.
    Demo(demo::Args),
}

/// A warning on stderr, one line (an unwritable stderr cannot be reported anywhere), with any
/// control character from untrusted text (a file's name or content) escaped.
pub fn warn(text: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "warning: {}",
        rewind::input::printable(text)
    );
}

/// The whole of an input file, at most `limit` bytes; `what` says what the file should be.
pub fn read_input(path: &std::path::Path, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    rewind::input::read_whole(path, limit)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}; pass {what}", path.display()))
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_text(path: &std::path::Path, limit: u64, what: &str) -> anyhow::Result<String> {
    String::from_utf8(read_input(path, limit, what)?).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let line = 1 + e.as_bytes()[..good].iter().filter(|&&b| b == b'\n').count();
        anyhow::anyhow!(
            "line {line} of {} is not UTF-8 text; pass {what}",
            path.display()
        )
    })
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    // `--q -0.1` is a value, not a flag: every subcommand accepts negative numbers as values
    // (and its own checks then say what range a value must lie in).
    let command = Cli::command().mut_subcommands(|s| s.allow_negative_numbers(true));
    let cli = match command
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Collisions(args) => collisions::run(args),
        Command::Encode(args) => encode::run(args),
        Command::Decode(args) => decode::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Claims(args) => claims::run(args),
        Command::Figures(args) => figures::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Audit(args) => audit::run(args),
    }
}

/// Help and version go to stdout with success (their write errors are checked like any
/// other output); a usage error becomes one line on stderr.
fn clap_exit(e: clap::Error) -> anyhow::Result<ExitCode> {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let text = if std::io::stdout().is_terminal() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            print(&text)?;
            Ok(
                if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                },
            )
        }
        ErrorKind::InvalidUtf8 => {
            let line = non_utf8_line(std::env::args_os().skip(1));
            let _ = writeln!(std::io::stderr(), "{line} (see rewind --help)");
            Ok(ExitCode::from(2))
        }
        _ => {
            let line = usage_line(&e);
            let _ = writeln!(std::io::stderr(), "{line} (see rewind --help)");
            Ok(ExitCode::from(2))
        }
    }
}

/// Clap says only that some argument is not UTF-8: name it, and the flag it belongs to.
fn non_utf8_line(args: impl Iterator<Item = std::ffi::OsString>) -> String {
    let args: Vec<std::ffi::OsString> = args.collect();
    let Some(i) = args.iter().position(|a| a.to_str().is_none()) else {
        return "error: an argument is not valid UTF-8; rewind reads paths and values as UTF-8"
            .into();
    };
    let value = rewind::input::printable(&args[i].to_string_lossy()).into_owned();
    let flag = i
        .checked_sub(1)
        .and_then(|j| args[j].to_str())
        .filter(|f| f.starts_with("--"));
    match flag {
        Some(flag) => format!(
            "error: the value of {flag} ('{value}') is not valid UTF-8; rename the file, or link it under a UTF-8 name, and pass that"
        ),
        None => format!(
            "error: the argument '{value}' is not valid UTF-8; rename the file, or link it under a UTF-8 name, and pass that"
        ),
    }
}

/// The first line of clap's message, with what it leaves to later lines (the missing
/// arguments' names, the `--flag=-0.1` form for a negative value) brought into it.
fn usage_line(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let text = e.render().to_string();
    let first = text
        .lines()
        .next()
        .unwrap_or("invalid arguments")
        .trim()
        .to_string();
    match e.kind() {
        ErrorKind::MissingRequiredArgument => match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::Strings(names)) => format!(
                "error: missing required argument{} {}",
                if names.len() == 1 { "" } else { "s" },
                names.join(", ")
            ),
            _ => first,
        },
        ErrorKind::UnknownArgument => match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg))
                if arg.starts_with('-') && arg[1..].starts_with(|c: char| c.is_ascii_digit()) =>
            {
                format!("{first}; a negative value is attached to its flag with '=', e.g. --q=-0.1")
            }
            _ => first,
        },
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn a_non_utf8_argument_is_named_with_its_flag() {
        let args = ["verify", "--data"]
            .map(std::ffi::OsString::from)
            .into_iter()
            .chain([std::ffi::OsString::from_vec(b"/tmp/\xff.csv".to_vec())]);
        let line = non_utf8_line(args);
        assert!(
            line.contains("--data") && line.contains("/tmp/\u{fffd}.csv"),
            "{line}"
        );
        assert!(line.contains("not valid UTF-8"), "{line}");
    }
}
