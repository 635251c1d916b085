//! The training log (docs/log-format.md): a versioned JSON-lines record of one run of
//! Algorithm 1 that any program can write — a header naming the model, the grid, α, the
//! backend and the SHA-256 of the quantised data set; one line per step with its batch and,
//! optionally, the model before it (a checkpoint) or that model's hash; the final model last.
//!
//! This module owns the format: its types, the writer behind `rewind verify --dump-trajectory`
//! (with a checkpoint every K steps) and the reader `rewind audit` checks a log with. A log is
//! the paper's "trajectory" made external: with the data, the final model and the batches it
//! determines every step (Algorithm 1, Lemma 2.1).

use crate::data::Dataset;
use crate::pipeline::config::Setup;
use crate::pipeline::report::model_sha256;
use crate::sgd::{LoggedStep, Observer};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// The log format this build writes and reads.
pub const LOG_FORMAT: u32 = 2;

/// Errors of reading a log: each names the line and the fix.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log could not be read from its file.
    #[error("cannot read the log {path}: {source}")]
    Read {
        /// The log's path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not what the format puts there.
    #[error("line {line} of the log: {why}; see docs/log-format.md for the format")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        why: String,
    },
    /// A format this build does not read.
    #[error("the log is format {got}, but this build reads format {LOG_FORMAT} only; write the log as docs/log-format.md describes (format 1 dumps lack the data hash: rewrite them with this build's `rewind verify --dump-trajectory`)")]
    UnknownFormat {
        /// The format the header names.
        got: u64,
    },
    /// The log as a whole is inconsistent (no final model, no initial model, …).
    #[error("the log {0}; see docs/log-format.md")]
    Structure(String),
    /// The log does not belong to the data set or the model given to the auditor.
    #[error("the log does not match the data given: {0}")]
    Mismatch(String),
}

/// The first line of a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryHeader {
    /// The log format ([`LOG_FORMAT`]).
    pub format: u32,
    /// p, the grid's fractional bits.
    pub p: u32,
    /// Numerator m of α = m / alpha_den.
    pub alpha_num: u64,
    /// Denominator of α, a power of two.
    pub alpha_den: u64,
    /// The model's name (`least-squares`, `logistic`, `softmax`, `mlp`).
    pub model: String,
    /// Hidden units of the MLP; absent for the other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
    /// Activation of the MLP; absent for the other models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<String>,
    /// The backend's name (`exact`, `f64`, `mpfr`).
    pub backend: String,
    /// Working precision of the MPFR backend; absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mpfr_precision: Option<u32>,
    /// Examples the run uses.
    pub n: usize,
    /// Model parameters.
    pub d: usize,
    /// Feature columns, bias included.
    pub features: usize,
    /// Whether the last feature column is the constant-one bias.
    #[serde(default = "yes")]
    pub bias: bool,
    /// Batch size b.
    pub batch: usize,
    /// [`data_sha256`] of the quantised data set.
    pub data_sha256: String,
    /// The seed of the run's randomness, when a seed made it (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// K of `--checkpoint-every K`, when the writer used one (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
}

fn yes() -> bool {
    true
}

/// One step line: the batch, and the model before the step or its hash (or neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogStep {
    /// The log's own epoch number.
    pub epoch: usize,
    /// The log's own step number within the epoch.
    pub step: usize,
    /// The batch's example indices, in order.
    pub batch: Vec<usize>,
    /// The model before the step, raw grid integers: a checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<Vec<i64>>,
    /// [`model_sha256`] of the model before the step, when the model itself is not logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w_sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinalLine {
    #[serde(rename = "final")]
    model: Vec<i64>,
}

/// A whole log, read and checked for shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    /// The header.
    pub header: TrajectoryHeader,
    /// Every step in log order.
    pub steps: Vec<LogStep>,
    /// The model after the last step.
    pub final_model: Vec<i64>,
}

impl Log {
    /// The 0-based step indices that carry a model, and `steps.len()` (the final model) last:
    /// the boundaries of the segments an audit replays.
    pub fn checkpoints(&self) -> Vec<usize> {
        let mut c: Vec<usize> = (0..self.steps.len())
            .filter(|&k| self.steps[k].w.is_some())
            .collect();
        c.push(self.steps.len());
        c
    }
}

/// SHA-256 of the quantised data set, lowercase hex: the features of every example in order,
/// row by row, each raw grid integer as 8 bytes little-endian (bias column included), then
/// every example's class index, also as 8 bytes little-endian.
pub fn data_sha256(data: &Dataset) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for row in &data.features {
        for v in row {
            h.update(v.to_le_bytes());
        }
    }
    for &c in &data.labels {
        h.update(i64::from(c).to_le_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The header of a log of the run `s` sets up.
pub fn header(s: &Setup, checkpoint_every: Option<usize>) -> TrajectoryHeader {
    let mlp = s.config.model == crate::pipeline::config::ModelKind::Mlp;
    TrajectoryHeader {
        format: LOG_FORMAT,
        p: s.data.grid.frac_bits(),
        alpha_num: s.alpha.num(),
        alpha_den: 1u64 << s.alpha.shift(),
        model: s.model.name().into(),
        hidden: mlp.then_some(s.config.hidden),
        activation: mlp.then(|| s.config.activation.name().to_string()),
        backend: s.config.backend.name().into(),
        mpfr_precision: match s.config.backend {
            crate::sgd::BackendChoice::Mpfr { precision } => Some(precision),
            _ => None,
        },
        n: s.data.n(),
        d: s.model.dim(),
        features: s.data.d(),
        bias: s.data.has_bias,
        batch: s.config.batch,
        data_sha256: data_sha256(&s.data),
        seed: Some(s.config.seed),
        checkpoint_every,
    }
}

/// Streams a run as a log (`--dump-trajectory`): the header, one line per step with the
/// model before it on every K-th step (counted from the first, which always has it) and its
/// hash on the others, and the final model.
pub struct TrajectoryWriter<W: std::io::Write> {
    out: W,
    path: String,
    every: usize,
    written: usize,
}

impl<W: std::io::Write> TrajectoryWriter<W> {
    /// Starts a log with a checkpoint on every step; `path` names `out` in I/O errors.
    pub fn new(out: W, path: &str, header: &TrajectoryHeader) -> Result<Self, crate::Error> {
        Self::with_checkpoints(out, path, header, 1)
    }

    /// Starts a log with a checkpoint every `every` steps (at least 1).
    pub fn with_checkpoints(
        mut out: W,
        path: &str,
        header: &TrajectoryHeader,
        every: usize,
    ) -> Result<Self, crate::Error> {
        write_line(&mut out, path, header)?;
        Ok(TrajectoryWriter {
            out,
            path: path.to_string(),
            every: every.max(1),
            written: 0,
        })
    }

    /// The underlying writer, e.g. to commit it once the run has succeeded.
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn write_line<W: std::io::Write, T: Serialize>(
    out: &mut W,
    path: &str,
    v: &T,
) -> Result<(), crate::Error> {
    let io = |source| crate::Error::Io {
        path: path.to_string(),
        source,
    };
    serde_json::to_writer(&mut *out, v).map_err(|e| io(e.into()))?;
    out.write_all(b"\n").map_err(io)
}

impl<W: std::io::Write> Observer for TrajectoryWriter<W> {
    fn on_step(&mut self, step: &LoggedStep) -> Result<(), crate::Error> {
        let checkpoint = self.written.is_multiple_of(self.every);
        self.written += 1;
        let line = LogStep {
            epoch: step.epoch,
            step: step.step,
            batch: step.batch.clone(),
            w: checkpoint.then(|| step.w.clone()),
            w_sha256: (!checkpoint).then(|| model_sha256(&step.w)),
        };
        write_line(&mut self.out, &self.path, &line)
    }

    fn on_final(&mut self, w: &[i64]) -> Result<(), crate::Error> {
        write_line(
            &mut self.out,
            &self.path,
            &serde_json::json!({ "final": w }),
        )?;
        self.out.flush().map_err(|source| crate::Error::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads a log from a file.
pub fn read_log_file(path: &std::path::Path) -> Result<Log, LogError> {
    let file = std::fs::File::open(path).map_err(|source| LogError::Read {
        path: path.display().to_string(),
        source,
    })?;
    read_log(std::io::BufReader::new(file), &path.display().to_string())
}

/// Reads a log and checks its shape: the format, every line's fields, batch indices below n,
/// models of d weights, a model on the first step and a final model last.
pub fn read_log(input: impl BufRead, path: &str) -> Result<Log, LogError> {
    let mut header: Option<TrajectoryHeader> = None;
    let mut steps = Vec::new();
    let mut final_model: Option<Vec<i64>> = None;
    for (k, line) in input.lines().enumerate() {
        let line_no = k + 1;
        let text = line.map_err(|source| LogError::Read {
            path: path.to_string(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let bad = |why: String| LogError::Line { line: line_no, why };
        if final_model.is_some() {
            return Err(bad("a line follows the final model".into()));
        }
        let Some(h) = &header else {
            header = Some(parse_header(&text).map_err(|e| match e {
                HeaderError::Format(got) => LogError::UnknownFormat { got },
                HeaderError::Bad(why) => bad(why),
            })?);
            continue;
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        if value.get("final").is_some() {
            let f: FinalLine = serde_json::from_value(value)
                .map_err(|e| bad(format!("not a final model ({e})")))?;
            check_model(&f.model, h.d).map_err(bad)?;
            final_model = Some(f.model);
            continue;
        }
        let s: LogStep =
            serde_json::from_value(value).map_err(|e| bad(format!("not a step ({e})")))?;
        check_step(&s, h).map_err(bad)?;
        steps.push(s);
    }
    let header = header.ok_or_else(|| LogError::Structure("is empty".into()))?;
    let final_model = final_model.ok_or_else(|| {
        LogError::Structure(
            "ends without a final model (a last line {\"final\": [...]}); it may be truncated"
                .into(),
        )
    })?;
    match steps.first() {
        None => return Err(LogError::Structure("has no steps".into())),
        Some(s) if s.w.is_none() => {
            return Err(LogError::Structure(
                "does not give the model before its first step (`w` on the first step line)".into(),
            ))
        }
        Some(_) => {}
    }
    Ok(Log {
        header,
        steps,
        final_model,
    })
}

enum HeaderError {
    Format(u64),
    Bad(String),
}

fn parse_header(text: &str) -> Result<TrajectoryHeader, HeaderError> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| HeaderError::Bad(format!("the header is not JSON ({e})")))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(f) if f == u64::from(LOG_FORMAT) => {}
        Some(f) => return Err(HeaderError::Format(f)),
        None => {
            return Err(HeaderError::Bad(
                "the header has no integer `format`; the first line must be the header".into(),
            ))
        }
    }
    let h: TrajectoryHeader = serde_json::from_value(value)
        .map_err(|e| HeaderError::Bad(format!("not a header ({e})")))?;
    if h.alpha_num == 0 || !h.alpha_den.is_power_of_two() {
        return Err(HeaderError::Bad(format!(
            "α = {}/{} is not a positive dyadic rational; alpha_den must be a power of two",
            h.alpha_num, h.alpha_den
        )));
    }
    if h.batch == 0 || h.d == 0 {
        return Err(HeaderError::Bad("batch and d must be positive".into()));
    }
    if !is_sha256(&h.data_sha256) {
        return Err(HeaderError::Bad(
            "data_sha256 is not 64 lowercase hex digits".into(),
        ));
    }
    Ok(h)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn check_model(w: &[i64], d: usize) -> Result<(), String> {
    if w.len() == d {
        Ok(())
    } else {
        Err(format!(
            "a model of {} weights, but the header says d = {d}",
            w.len()
        ))
    }
}

fn check_step(s: &LogStep, h: &TrajectoryHeader) -> Result<(), String> {
    if s.batch.is_empty() {
        return Err("an empty batch".into());
    }
    if let Some(&i) = s.batch.iter().find(|&&i| i >= h.n) {
        return Err(format!(
            "batch index {i} is out of range: the data set has n = {} examples",
            h.n
        ));
    }
    if let Some(w) = &s.w {
        check_model(w, h.d)?;
    }
    if let Some(x) = &s.w_sha256 {
        if !is_sha256(x) {
            return Err("w_sha256 is not 64 lowercase hex digits".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"format":2,"p":8,"alpha_num":1,"alpha_den":64,"model":"least-squares","backend":"exact","n":4,"d":2,"features":2,"batch":2,"data_sha256":"0000000000000000000000000000000000000000000000000000000000000000"}"#;

    fn read(lines: &[&str]) -> Result<Log, LogError> {
        read_log(lines.join("\n").as_bytes(), "t.jsonl")
    }

    #[test]
    fn a_small_log_reads_and_names_its_checkpoints() {
        let log = read(&[
            HEADER,
            r#"{"epoch":1,"step":1,"batch":[0,1],"w":[1,2]}"#,
            r#"{"epoch":1,"step":2,"batch":[2,3],"w_sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#,
            r#"{"final":[3,4]}"#,
        ])
        .unwrap();
        assert_eq!(log.steps.len(), 2);
        assert_eq!(log.checkpoints(), vec![0, 2]);
        assert_eq!(log.final_model, vec![3, 4]);
    }

    #[test]
    fn bad_logs_are_one_line_errors() {
        let future = HEADER.replace("\"format\":2", "\"format\":3");
        let bad_alpha = HEADER.replace("\"alpha_den\":64", "\"alpha_den\":63");
        let cases: Vec<(Vec<&str>, &str)> = vec![
            (vec![&future], "format 3"),
            (
                vec![
                    HEADER,
                    r#"{"epoch":1,"step":1,"batch":[0,9],"w":[1,2]}"#,
                    r#"{"final":[1,2]}"#,
                ],
                "line 2",
            ),
            (
                vec![
                    HEADER,
                    r#"{"epoch":1,"step":1,"batch":[0,1],"w":[1]}"#,
                    r#"{"final":[1,2]}"#,
                ],
                "d = 2",
            ),
            (
                vec![HEADER, r#"{"epoch":1,"step":1,"batch":[0,1],"w":[1,2]}"#],
                "final model",
            ),
            (
                vec![
                    HEADER,
                    r#"{"epoch":1,"step":1,"batch":[0,1]}"#,
                    r#"{"final":[1,2]}"#,
                ],
                "first step",
            ),
            (
                vec![
                    HEADER,
                    r#"{"epoch":1,"step":1,"batch":[0,1],"w":[1,2]}"#,
                    r#"{"final":[1,2]}"#,
                    "{}",
                ],
                "follows",
            ),
            (vec![&bad_alpha], "power of two"),
            (
                vec![
                    HEADER,
                    r#"{"epoch":1,"step":1,"batch":[0,1],"w":[1,2],"extra":1}"#,
                    r#"{"final":[1,2]}"#,
                ],
                "not a step",
            ),
        ];
        for (lines, want) in cases {
            let e = read(&lines).unwrap_err().to_string();
            assert!(e.contains(want), "{e} lacks {want}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_writer_logs_a_model_every_k_steps_and_hashes_between() {
        let h: TrajectoryHeader = serde_json::from_str(HEADER).unwrap();
        let mut w = TrajectoryWriter::with_checkpoints(Vec::new(), "t", &h, 2).unwrap();
        for k in 0..3 {
            let s = LoggedStep {
                epoch: 1,
                step: k + 1,
                batch: vec![0, 1],
                w: vec![k as i64, 0],
            };
            w.on_step(&s).unwrap();
        }
        w.on_final(&[9, 9]).unwrap();
        let log = read_log(&w.into_inner()[..], "t").unwrap();
        assert_eq!(log.checkpoints(), vec![0, 2, 3]);
        assert_eq!(
            log.steps[1].w_sha256.as_deref(),
            Some(model_sha256(&[1, 0]).as_str())
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config { cases: 64, failure_persistence: None, ..Default::default() })]
        /// Written with a checkpoint every K steps and read back: the same batches, the models
        /// on every K-th step, the hashes of the others, the same final model.
        #[test]
        fn a_written_log_reads_back(
            models in proptest::collection::vec(proptest::collection::vec(proptest::num::i64::ANY, 2), 1..12),
            every in 1usize..5,
        ) {
            let h: TrajectoryHeader = serde_json::from_str(HEADER).unwrap();
            let mut w = TrajectoryWriter::with_checkpoints(Vec::new(), "t", &h, every).unwrap();
            for (k, m) in models.iter().enumerate() {
                let s = LoggedStep { epoch: 1, step: k + 1, batch: vec![k % 4, 3], w: m.clone() };
                w.on_step(&s).unwrap();
            }
            w.on_final(&models[0]).unwrap();
            let log = read_log(&w.into_inner()[..], "t").unwrap();
            proptest::prop_assert_eq!(&log.final_model, &models[0]);
            for (k, (s, m)) in log.steps.iter().zip(&models).enumerate() {
                proptest::prop_assert_eq!(&s.batch, &vec![k % 4, 3]);
                if k % every == 0 {
                    proptest::prop_assert_eq!(s.w.as_ref(), Some(m));
                } else {
                    proptest::prop_assert_eq!(s.w_sha256.clone(), Some(model_sha256(m)));
                }
            }
        }
    }
}
