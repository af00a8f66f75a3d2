//! Errors as types: every failure a user can cause names the file and, for rows, the line.
//!
//! The split matters for the exit code: bad input (a missing file or column, a malformed row, a
//! duplicate admission) exits 2 so scripts can tell "fix your data" from "the engine broke" (1)
//! and "you pressed Ctrl-C" (130).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Result type of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with one row (or the header) of an input table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    #[error("expected {expected} fields as in the header, found {found}")]
    FieldCount { expected: usize, found: usize },
    #[error("column {column}: '{value}' is not a timestamp (expected YYYY-MM-DD HH:MM:SS)")]
    Timestamp { column: &'static str, value: String },
    #[error("column {column}: '{value}' is not a number")]
    Number { column: &'static str, value: String },
    #[error("a quoted field is never closed")]
    UnterminatedQuote,
    #[error("duplicate admission: SUBJECT_ID {subject_id} already has DISCHTIME {dischtime} (line {first_line})")]
    DuplicateAdmission { subject_id: u64, dischtime: String, first_line: u64 },
    /// A row error found by a worker process, as it described it.
    #[error("{0}")]
    Reported(String),
}

impl RowError {
    /// Builds a [`RowError::Number`] from raw field bytes.
    pub fn number(column: &'static str, value: &[u8]) -> Self {
        RowError::Number { column, value: String::from_utf8_lossy(value).into_owned() }
    }

    /// Builds a [`RowError::Timestamp`] from raw field bytes.
    pub fn timestamp(column: &'static str, value: &[u8]) -> Self {
        RowError::Timestamp { column, value: String::from_utf8_lossy(value).into_owned() }
    }
}

/// A row error located in its file: `path:line: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub path: PathBuf,
    /// 1-based physical line number (the header is line 1).
    pub line: u64,
    pub error: RowError,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.error)
    }
}

/// Every error the engine reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Input { path: PathBuf, source: io::Error },
    /// A table lacks a column the engine needs.
    #[error("{}:1: missing column {column} (the header has: {found})", path.display())]
    MissingColumn { path: PathBuf, column: &'static str, found: String },
    /// A table has no header line at all.
    #[error("{}: empty file, expected a CSV header", path.display())]
    EmptyTable { path: PathBuf },
    /// A malformed row, or an inconsistent one (a duplicate admission).
    #[error("{0}")]
    BadRow(BadRow),
    /// An argument that makes no sense (an empty item list, zero hours, ...).
    #[error("{0}")]
    Usage(String),
    /// An existing file is not a grid this engine can read.
    #[error("{}: not a medimpute grid: {reason}", path.display())]
    BadGrid { path: PathBuf, reason: String },
    /// Writing the output failed (disk full, permissions): not the input's fault.
    #[error("{}: {source}", path.display())]
    Output { path: PathBuf, source: io::Error },
    /// The user pressed Ctrl-C or sent SIGTERM; nothing was left at the destination.
    #[error("interrupted; no output was written")]
    Interrupted,
    /// The sampled grid could not be mapped in memory (a data-segment limit, no address space).
    #[error(
        "cannot hold the sampled grid ({}) in memory: {source}; --sampled-grid disk keeps it \
         in a scratch file beside the output",
        crate::memory::human(*bytes)
    )]
    GridMemory { bytes: u64, source: io::Error },
    /// Worker processes failed: they kept dying, sent garbage, or could not run a task.
    #[error("worker processes failed: {0}")]
    Workers(String),
    /// A benchmark could not stand: runs disagreed on their output, or a baseline failed.
    #[error("benchmark failed: {0}")]
    Bench(String),
}

impl Error {
    /// The process exit code for this error: 2 for bad input, 130 for an interrupt, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::MissingColumn { .. }
            | Error::EmptyTable { .. }
            | Error::BadRow(_)
            | Error::Usage(_)
            | Error::BadGrid { .. } => 2,
            Error::Interrupted => 130,
            Error::Output { .. }
            | Error::GridMemory { .. }
            | Error::Workers(_)
            | Error::Bench(_) => 1,
        }
    }

    /// Wraps an I/O error on an input file.
    pub fn input(path: &Path, source: io::Error) -> Self {
        Error::Input { path: path.to_path_buf(), source }
    }

    /// Wraps an I/O error on an output file.
    pub fn output(path: &Path, source: io::Error) -> Self {
        Error::Output { path: path.to_path_buf(), source }
    }
}

impl From<BadRow> for Error {
    fn from(row: BadRow) -> Self {
        Error::BadRow(row)
    }
}
