//! Every timed job of `bench scaling` and `bench auto` in a fresh process, as a user runs it.
//!
//! Why not in the bench's own process: that is not how a user runs a job. A job run after
//! others in one process finds their freed memory (glibc's arenas, pool threads) already
//! backed, while a `medimpute run` starts from nothing; on this project's VM a fresh page is a
//! fault the host must serve. The suspicion was that this favoured the in-process `threads`
//! backend, whose allocations land in the bench's heap, over worker processes that start
//! fresh every run. Measured on `/tmp/big`, 3 runs each, it made little difference there:
//! `threads` at p = 2 took 14.32 s in the bench's process and 14.53 s in fresh ones, `shm`
//! 16.26 s and 16.37 s (docs/RESULTS.md, section 2). Fresh processes stay because they are
//! what a user runs, and they make the small jobs of `bench auto` pay what a user's do.
//!
//! The bench starts `medimpute bench-job` (hidden), writes it the job as JSON on stdin, and
//! reads the measurement back as JSON on stdout. The child times the job itself, from starting
//! the backend to stopping it, as the in-process bench did, so the process's own start-up (a
//! few milliseconds, the same for every backend) is not counted.

use super::auto::{self, AutoRun};
use super::scaling::time_job;
use crate::backend::BackendSpec;
use crate::error::{Error, Result};
use crate::impute::ImputeOptions;
use crate::sampling::{SampleInputs, SampleOptions};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One job of a bench: what to run and where to write it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchJob {
    pub inputs: SampleInputs,
    pub sample: SampleOptions,
    pub impute: ImputeOptions,
    pub out: PathBuf,
}

/// How the job is run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Timing {
    /// On a fixed backend: the answer is its seconds.
    Fixed(BackendSpec),
    /// As `--backend auto` does, up to `target` cores: the answer is an [`AutoRun`].
    Auto { target: usize },
}

#[derive(Serialize, Deserialize)]
struct Request {
    job: BenchJob,
    timing: Timing,
}

/// Runs `job` on a fixed backend in a fresh process; returns its seconds.
pub fn time_fixed(job: &BenchJob, spec: BackendSpec) -> Result<f64> {
    let answer = in_fresh_process(job, Timing::Fixed(spec))?;
    serde_json::from_str(&answer).map_err(|e| bad_answer(&answer, e))
}

/// Runs `job` as `--backend auto` would, in a fresh process.
pub fn time_auto(job: &BenchJob, target: usize) -> Result<AutoRun> {
    let answer = in_fresh_process(job, Timing::Auto { target })?;
    serde_json::from_str(&answer).map_err(|e| bad_answer(&answer, e))
}

fn bad_answer(answer: &str, e: serde_json::Error) -> Error {
    Error::Workers(format!("bench-job answered something unreadable ({e}): {answer}"))
}

fn in_fresh_process(job: &BenchJob, timing: Timing) -> Result<String> {
    let exe = crate::backend::pool::medimpute_exe()?;
    let request = serde_json::to_vec(&Request { job: job.clone(), timing })
        .map_err(|e| Error::Workers(format!("cannot encode the bench job: {e}")))?;
    let start_err = |e: std::io::Error| Error::Workers(format!("cannot start bench-job: {e}"));
    let mut child = Command::new(&exe)
        .arg("bench-job")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(start_err)?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(&request).map_err(start_err)?;
    drop(stdin);
    let output = child.wait_with_output().map_err(start_err)?;
    crate::cancel::check()?;
    if !output.status.success() {
        return Err(Error::Workers(format!(
            "a bench job failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The child's side (`medimpute bench-job`): reads a request on stdin, runs it, and returns
/// the answer to print on stdout.
pub fn serve(request: &[u8]) -> Result<String> {
    let Request { job, timing } = serde_json::from_slice(request)
        .map_err(|e| Error::Usage(format!("bench-job: unreadable request: {e}")))?;
    let encode = |value: serde_json::Result<String>| {
        value.map_err(|e| Error::Workers(format!("cannot encode the answer: {e}")))
    };
    match timing {
        Timing::Fixed(spec) => {
            let seconds = time_job(&job.inputs, &job.sample, &job.impute, &job.out, spec)?;
            encode(serde_json::to_string(&seconds))
        }
        Timing::Auto { target } => encode(serde_json::to_string(&auto::run_auto(&job, target)?)),
    }
}
