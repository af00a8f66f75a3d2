//! The worker side of the process backends: the hidden `medimpute worker` subcommand.
//!
//! A worker reads frames from stdin and answers on stdout, one task at a time: a `Setup` names
//! the job, `Blob`s bring its inputs (inline over the pipe, or as regions to map), and each
//! `Task` is run by the job and answered with `Done` (or `Failed`). It exits when stdin closes.
//!
//! It never decides anything on its own: which task runs where, retries and clean-up are the
//! coordinator's ([`super::pool`]). It ignores Ctrl-C (the coordinator decides when workers stop)
//! and dies with its coordinator (`PR_SET_PDEATHSIG`, set before `exec`), so that no worker
//! outlives a killed run.

use super::protocol::{read_frame, write_frame, BlobMessage, FrameError, FromWorker, ToWorker};
use super::region::{map_read, map_write, write_result_segment};
use super::Transport;
use memmap2::Mmap;
use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Write};
use std::os::fd::FromRawFd;

/// A job's worker half: runs the job's tasks given their inputs.
pub trait WorkerJob {
    /// Runs task `spec`. `output`, when the coordinator gave one, is a shared region to write
    /// the result into in place; otherwise bulk results go in [`TaskResult::bytes`].
    fn run(
        &mut self,
        spec: &serde_json::Value,
        blobs: &mut Blobs,
        output: Option<&mut [u8]>,
    ) -> Result<TaskResult, String>;
}

/// What a task hands back: small results (`meta`) and bulk bytes (possibly empty).
#[derive(Default)]
pub struct TaskResult {
    pub meta: serde_json::Value,
    pub bytes: Vec<u8>,
}

/// Builds the worker half of a job from its `Setup` message.
pub type JobFactory = dyn Fn(&serde_json::Value) -> Result<Box<dyn WorkerJob>, String> + Sync;

/// The inputs a worker has received for the current job, by id.
#[derive(Default)]
pub struct Blobs {
    blobs: HashMap<String, Blob>,
    /// Inputs of the next task alone.
    scratch: Vec<String>,
}

enum Blob {
    Inline(Vec<u8>),
    Mapped(Mmap),
}

impl Blobs {
    /// The bytes of blob `id`.
    pub fn get(&self, id: &str) -> Result<&[u8], String> {
        match self.blobs.get(id) {
            Some(Blob::Inline(bytes)) => Ok(bytes),
            Some(Blob::Mapped(map)) => Ok(map),
            None => Err(format!("input '{id}' was never sent")),
        }
    }

    /// Removes blob `id` and returns its bytes (`None` if absent): for inputs a job copies into
    /// its own structures once.
    pub fn take(&mut self, id: &str) -> Option<Vec<u8>> {
        self.blobs.remove(id).map(|blob| match blob {
            Blob::Inline(bytes) => bytes,
            Blob::Mapped(map) => map.to_vec(),
        })
    }

    /// Whether blob `id` is here.
    pub fn has(&self, id: &str) -> bool {
        self.blobs.contains_key(id)
    }
}

/// A fault to inject, for the tests of the coordinator's fault handling:
/// `MEDIMPUTE_WORKER_FAULT=<kind>:<n>[:<worker index>]` makes the worker (all, or the one with
/// that index) misbehave on receiving its n-th task (1-based). Kinds: `die` (SIGKILL itself),
/// `garbage` (write bytes that are not a frame, then wait), `truncate` (write half a frame, then
/// exit), `misanswer` (answer a task it was not given).
struct Fault {
    kind: String,
    at_task: u64,
}

impl Fault {
    fn from_env(index: usize) -> Option<Fault> {
        let spec = std::env::var("MEDIMPUTE_WORKER_FAULT").ok()?;
        let mut parts = spec.split(':');
        let kind = parts.next()?.to_string();
        let at_task = parts.next()?.parse().ok()?;
        match parts.next() {
            Some(only) if only.parse::<usize>().ok() != Some(index) => None,
            _ => Some(Fault { kind, at_task }),
        }
    }

    fn strike(&self, out: &mut impl Write) {
        match self.kind.as_str() {
            "die" => {
                // SAFETY: plain syscalls on this process.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            "garbage" => {
                let _ =
                    out.write_all(b"garbage: certainly not a frame of the medimpute protocol\n");
                let _ = out.flush();
                // Stay alive with the pipe open: the coordinator must not wait for more.
                std::thread::sleep(std::time::Duration::from_secs(600));
            }
            "truncate" => {
                let mut frame = Vec::new();
                let done = FromWorker::Done {
                    id: 0,
                    meta: serde_json::Value::Null,
                    region: None,
                    compute_ns: 0,
                };
                let _ = write_frame(&mut frame, &done, &[0u8; 4096]);
                let _ = out.write_all(&frame[..frame.len() / 2]);
                let _ = out.flush();
                std::process::exit(3);
            }
            _ => {}
        }
    }
}

/// Serves tasks on stdin/stdout until stdin closes; returns the exit code.
///
/// A worker is one unit of the coordinator's parallelism (`--workers N` means N cores busy), so
/// its tasks run on one thread: the parallel loops inside tasks (presorting a forest's columns,
/// predicting in blocks) run inline, as they do nested in the `threads` backend's pool. On
/// rayon's global pool they would start a thread per core in every worker: on 2 cores, two
/// workers ran six threads, which spun (33,000 `sched_yield` calls in one run) against the
/// workers' own compute.
pub fn serve(transport: Transport, coordinator: u32, index: usize, jobs: &JobFactory) -> i32 {
    match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(one) => one.install(|| serve_tasks(transport, coordinator, index, jobs)),
        Err(error) => {
            eprintln!("medimpute worker {}: cannot start its thread: {error}", std::process::id());
            1
        }
    }
}

fn serve_tasks(transport: Transport, coordinator: u32, index: usize, jobs: &JobFactory) -> i32 {
    let stdin = std::io::stdin();
    let mut input = BufReader::with_capacity(1 << 20, stdin.lock());
    // SAFETY: fd 1 is this process's stdout, used by nothing else in a worker; wrapping it
    // avoids `Stdout`'s line buffering, which would split binary frames at every newline byte.
    let stdout = unsafe { std::fs::File::from_raw_fd(1) };
    let mut output = BufWriter::with_capacity(1 << 16, stdout);
    let fault = Fault::from_env(index);
    let send = |out: &mut BufWriter<std::fs::File>, message: &FromWorker, raw: &[u8]| {
        write_frame(out, message, raw).is_ok()
    };
    if !send(&mut output, &FromWorker::Ready { pid: std::process::id() }, &[]) {
        return 1;
    }
    let mut job: Option<Box<dyn WorkerJob>> = None;
    let mut blobs = Blobs::default();
    let mut tasks_seen = 0u64;
    let mut results = 0u64;
    loop {
        let frame = match read_frame::<ToWorker>(&mut input) {
            Ok(frame) => frame,
            Err(FrameError::Closed) => return 0,
            Err(error) => {
                eprintln!("medimpute worker {}: {error}", std::process::id());
                return 1;
            }
        };
        match frame.message {
            ToWorker::Setup { job: spec } => {
                blobs = Blobs::default();
                job = match jobs(&spec) {
                    Ok(j) => Some(j),
                    Err(error) => {
                        eprintln!("medimpute worker {}: bad job: {error}", std::process::id());
                        return 1;
                    }
                };
            }
            ToWorker::Blob(BlobMessage { id, region, scratch }) => {
                let blob = match region {
                    None => Blob::Inline(frame.raw),
                    Some(region) => match map_read(&region) {
                        Ok(map) => Blob::Mapped(map),
                        Err(error) => {
                            eprintln!("medimpute worker: cannot map input '{id}': {error}");
                            return 1;
                        }
                    },
                };
                if scratch {
                    blobs.scratch.push(id.clone());
                }
                blobs.blobs.insert(id, blob);
            }
            ToWorker::Task { id, spec, output: region } => {
                tasks_seen += 1;
                if let Some(fault) = fault.as_ref().filter(|f| f.at_task == tasks_seen) {
                    if fault.kind == "misanswer" {
                        // A well-formed answer to a task it was never given.
                        let wrong = FromWorker::Done {
                            id: id.wrapping_add(1 << 40),
                            meta: serde_json::Value::Null,
                            region: None,
                            compute_ns: 0,
                        };
                        let _ = send(&mut output, &wrong, &[]);
                        continue;
                    }
                    fault.strike(&mut output);
                }
                let started = std::time::Instant::now();
                let result = match (&mut job, region) {
                    (None, _) => Err("a task before any job".to_string()),
                    (Some(job), None) => job.run(&spec, &mut blobs, None),
                    (Some(job), Some(region)) => match map_write(&region) {
                        Ok(mut map) => job.run(&spec, &mut blobs, Some(&mut map)),
                        Err(error) => Err(format!("cannot map the output region: {error}")),
                    },
                };
                let compute_ns = started.elapsed().as_nanos() as u64;
                for id in std::mem::take(&mut blobs.scratch) {
                    blobs.blobs.remove(&id);
                }
                let sent = match result {
                    Err(error) => send(&mut output, &FromWorker::Failed { id, error }, &[]),
                    Ok(TaskResult { meta, bytes }) => {
                        if transport == Transport::Shm && !bytes.is_empty() {
                            results += 1;
                            match write_result_segment(coordinator, results, &bytes) {
                                Ok(region) => send(
                                    &mut output,
                                    &FromWorker::Done {
                                        id,
                                        meta,
                                        region: Some(region),
                                        compute_ns,
                                    },
                                    &[],
                                ),
                                Err(error) => send(
                                    &mut output,
                                    &FromWorker::Failed {
                                        id,
                                        error: format!("cannot create a result segment: {error}"),
                                    },
                                    &[],
                                ),
                            }
                        } else {
                            let done = FromWorker::Done { id, meta, region: None, compute_ns };
                            send(&mut output, &done, &bytes)
                        }
                    }
                };
                if !sent {
                    // The coordinator is gone.
                    return 1;
                }
            }
        }
    }
}
