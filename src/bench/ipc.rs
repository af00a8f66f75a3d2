//! Pipe against shared memory for moving a task's data (placeholder until the benchmark lands).

use crate::backend::worker::{Blobs, TaskResult, WorkerJob};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What to measure.
#[derive(Clone, Debug)]
pub struct IpcOptions {
    /// Payload sizes in bytes.
    pub sizes: Vec<usize>,
    /// Transfers per size and transport (the median is reported).
    pub repeats: usize,
    /// Where to write `ipc.md` and `ipc.json` (none: print only).
    pub out_dir: Option<PathBuf>,
}

/// The job workers run for this benchmark: read every byte of the task's input.
#[derive(Serialize, Deserialize)]
pub struct TransferJob {}

/// The worker half of [`TransferJob`].
pub struct TransferWorker;

impl WorkerJob for TransferWorker {
    fn run(
        &mut self,
        _spec: &serde_json::Value,
        blobs: &mut Blobs,
        _output: Option<&mut [u8]>,
    ) -> std::result::Result<TaskResult, String> {
        // Touch every 8-byte word, as a task that uses its input would.
        let bytes = blobs.get("data")?;
        let sum = bytes.chunks(8).fold(0u64, |s, c| {
            s.wrapping_add(c.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b)))
        });
        Ok(TaskResult { meta: serde_json::json!({ "sum": sum }), bytes: Vec::new() })
    }
}

/// Runs the benchmark; returns the Markdown report.
pub fn run(_options: &IpcOptions) -> Result<String> {
    Err(Error::Usage("bench ipc: not built yet".into()))
}
