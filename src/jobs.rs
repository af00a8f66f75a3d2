//! The jobs worker processes can run, by name: what a `Setup` message turns into in a worker.
//!
//! Each job has a coordinator half (which builds tasks and places results) beside the code it
//! distributes, and a worker half ([`WorkerJob`]) that runs one task given its inputs.

use crate::backend::worker::WorkerJob;
use crate::bench::ipc::{TransferJob, TransferWorker};
use crate::impute::remote::{ImputeJob, ImputeWorker};
use crate::sampling::remote::{SampleJob, SampleWorker};
use serde::{Deserialize, Serialize};

/// A job's settings as sent to workers.
#[derive(Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "kebab-case")]
pub enum JobSpec {
    Impute(ImputeJob),
    Sample(SampleJob),
    /// `bench ipc`: moves bytes and does nothing else.
    Transfer(TransferJob),
}

/// Builds the worker half of the job a `Setup` message names.
pub fn worker_job(spec: &serde_json::Value) -> Result<Box<dyn WorkerJob>, String> {
    let spec: JobSpec = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
    Ok(match spec {
        JobSpec::Impute(job) => Box::new(ImputeWorker::new(job)),
        JobSpec::Sample(job) => Box::new(SampleWorker::new(job)?),
        JobSpec::Transfer(_) => Box::new(TransferWorker),
    })
}
