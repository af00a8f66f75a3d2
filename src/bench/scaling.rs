//! The study's Table 1 per backend and worker count (placeholder until the benchmark lands).

use crate::backend::BackendKind;
use crate::error::{Error, Result};
use crate::impute::ImputeOptions;
use std::path::PathBuf;

/// What to measure.
#[derive(Clone, Debug)]
pub struct ScalingOptions {
    /// Export directory (ADMISSIONS, CHARTEVENTS, LABEVENTS).
    pub export: PathBuf,
    pub workers: Vec<usize>,
    pub runs: usize,
    pub backends: Vec<BackendKind>,
    /// Add the Python baseline (threads and processes) on the same export.
    pub python: bool,
    pub out_dir: PathBuf,
    pub items: Vec<u32>,
    pub hours: usize,
    pub impute: ImputeOptions,
}

/// Runs the benchmark; returns the Markdown table.
pub fn run(_options: &ScalingOptions) -> Result<String> {
    Err(Error::Usage("bench scaling: not built yet".into()))
}
