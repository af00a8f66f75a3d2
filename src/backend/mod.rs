//! Execution backends: the same plan of tasks run four ways, with byte-identical results.
//!
//! | backend | where tasks run | how bulk data moves |
//! |---|---|---|
//! | `serial` | the calling thread | it does not |
//! | `threads` | a rayon pool of N threads (`--pin`: one per core) | shared address space |
//! | `pipe` | N worker processes ([`worker`]) | serialized over each worker's stdin/stdout |
//! | `shm` | N worker processes | mapped shared regions; only task ids and names cross pipes |
//!
//! `pipe` is the study's `ProcessPoolExecutor` model done as well as pipes allow (each input is
//! sent to a worker once, raw bytes, no pickling); `shm` is its future work. The process pool,
//! its scheduler and its fault handling are in [`pool`]; what crosses the pipes is defined in
//! [`protocol`]; regions and segment clean-up in [`region`]. Under `auto`, [`select`] profiles
//! each stage on a [`ProfilePool`] and picks its backend.
//!
//! Jobs (sampling, imputation) run their coordinator-side code on [`Executor::install`], which
//! is the rayon pool for `threads`, and one thread for `serial` and for the process backends
//! (whose parallel work is in the workers, not in the coordinator).

pub mod pool;
pub mod profile_pool;
pub mod protocol;
pub mod region;
pub mod select;
pub mod worker;

pub use pool::{Completion, Payload, PoolStats, ProcessPool, RemoteTask, TaskData};
pub use profile_pool::ProfilePool;
pub use protocol::Region;

use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How a process backend moves bulk data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Pipe,
    Shm,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Pipe => "pipe",
            Transport::Shm => "shm",
        }
    }
}

impl FromStr for Transport {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "pipe" => Ok(Transport::Pipe),
            "shm" => Ok(Transport::Shm),
            _ => Err(format!("unknown transport '{s}' (known: pipe, shm)")),
        }
    }
}

/// Which backend runs a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Serial,
    Threads,
    Pipe,
    Shm,
    /// Chosen per job by the adaptive selector.
    Auto,
}

impl BackendKind {
    /// Every concrete backend (not `auto`), in the order reports list them.
    pub const CONCRETE: [BackendKind; 4] =
        [BackendKind::Serial, BackendKind::Threads, BackendKind::Pipe, BackendKind::Shm];

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Serial => "serial",
            BackendKind::Threads => "threads",
            BackendKind::Pipe => "pipe",
            BackendKind::Shm => "shm",
            BackendKind::Auto => "auto",
        }
    }

    /// The transport of a process backend.
    pub fn transport(self) -> Option<Transport> {
        match self {
            BackendKind::Pipe => Some(Transport::Pipe),
            BackendKind::Shm => Some(Transport::Shm),
            _ => None,
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        [
            BackendKind::Serial,
            BackendKind::Threads,
            BackendKind::Pipe,
            BackendKind::Shm,
            BackendKind::Auto,
        ]
        .into_iter()
        .find(|b| b.name() == s)
        .ok_or_else(|| format!("unknown backend '{s}' (known: serial, threads, pipe, shm, auto)"))
    }
}

/// A concrete backend and its worker count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BackendSpec {
    pub kind: BackendKind,
    /// Threads or processes (1 for `serial`).
    pub workers: usize,
    /// Pin threads or processes to cores, one each.
    pub pin: bool,
}

impl BackendSpec {
    /// This spec with its worker count filled in: 0 means one per core.
    pub fn resolved(self) -> BackendSpec {
        let workers = if self.workers == 0 { available_cores() } else { self.workers };
        BackendSpec { workers, ..self }
    }
}

impl fmt::Display for BackendSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BackendKind::Serial => f.write_str("serial")?,
            kind => write!(f, "{kind} x{}", self.workers)?,
        }
        if self.pin {
            f.write_str(" (pinned)")?;
        }
        Ok(())
    }
}

/// The machine's cores (as the scheduler may use them), read once per process.
///
/// `available_parallelism` reads the affinity mask and the cgroup's CPU quota on every call
/// (files under `/proc` and `/sys`): tens of microseconds, which the selector's model paid
/// several times per stage, a measurable share of a job of a few milliseconds.
///
/// Read when first needed, not at start-up: only `auto` and `--workers 0` need them, and the
/// first read cost 72-117 us on this VM (five `bench-job` runs). Read at start-up, a job that
/// names its workers would pay that for nothing, and `auto`'s cost would merely leave the
/// clock of `bench auto`, which does not time a process's start-up (tried in session 14, and
/// undone for that reason). `auto` asks its pool's first thread to read them while the
/// admissions are read ([`select::Selector::new`]), and does not wait for them
/// ([`cores_if_read`]).
pub fn available_cores() -> usize {
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// [`available_cores`], if read already: `None` while no thread has read them, or one still
/// is.
pub fn cores_if_read() -> Option<usize> {
    CORES.get().copied()
}

static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// A started backend: a thread pool, or worker processes and the coordinator's thread.
pub enum Executor {
    Local { spec: BackendSpec, pool: Arc<rayon::ThreadPool> },
    Processes { spec: BackendSpec, pool: Box<ProcessPool>, coordinator: rayon::ThreadPool },
}

/// The cores in this process's affinity mask: one system call, where [`available_cores`] also
/// reads the cgroup's CPU quota (three files). At least the cores available; more where a
/// quota allows fewer.
pub(crate) fn affinity_cores() -> usize {
    core_affinity::get_core_ids().map_or(0, |ids| ids.len()).max(1)
}

pub(crate) fn thread_pool(threads: usize, pin: bool) -> Result<rayon::ThreadPool> {
    let cores = if pin { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("medimpute-{i}"))
        .start_handler(move |i| {
            if !cores.is_empty() {
                core_affinity::set_for_current(cores[i % cores.len()]);
            }
        })
        .build()
        .map_err(|e| Error::Usage(format!("cannot start {threads} threads: {e}")))
}

impl Executor {
    /// Starts `spec` (`workers` 0 = one per core). `auto` must be resolved before.
    pub fn start(spec: BackendSpec) -> Result<Self> {
        let spec = spec.resolved();
        let workers = spec.workers;
        match spec.kind {
            BackendKind::Serial => Ok(Executor::Local {
                spec: BackendSpec { workers: 1, ..spec },
                pool: Arc::new(thread_pool(1, spec.pin)?),
            }),
            BackendKind::Threads => {
                Ok(Executor::Local { spec, pool: Arc::new(thread_pool(workers, spec.pin)?) })
            }
            BackendKind::Pipe | BackendKind::Shm => {
                let transport = spec.kind.transport().expect("a process backend");
                Ok(Executor::Processes {
                    spec,
                    pool: Box::new(ProcessPool::start(workers, transport, spec.pin)?),
                    coordinator: thread_pool(1, false)?,
                })
            }
            BackendKind::Auto => Err(Error::Usage(
                "backend 'auto' is resolved by the selector before anything starts".into(),
            )),
        }
    }

    /// `spec` on `pool`, already started, when it fits (threads of the pool's size, unpinned):
    /// `auto` runs on the pool it profiled with rather than starting another.
    pub fn start_on(spec: BackendSpec, pool: &Arc<rayon::ThreadPool>) -> Result<Self> {
        let spec = spec.resolved();
        if spec.kind == BackendKind::Threads
            && !spec.pin
            && spec.workers == pool.current_num_threads()
        {
            return Ok(Executor::Local { spec, pool: pool.clone() });
        }
        Executor::start(spec)
    }

    /// Whether this backend runs its tasks on `pool`.
    pub fn runs_on(&self, pool: &Arc<rayon::ThreadPool>) -> bool {
        matches!(self, Executor::Local { pool: own, .. } if Arc::ptr_eq(own, pool))
    }

    /// What runs the job.
    pub fn spec(&self) -> BackendSpec {
        match self {
            Executor::Local { spec, .. } | Executor::Processes { spec, .. } => *spec,
        }
    }

    /// Runs `f` on this backend's threads: the pool for `threads`, one thread otherwise.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self {
            Executor::Local { pool, .. } => pool.install(f),
            Executor::Processes { coordinator, .. } => coordinator.install(f),
        }
    }

    /// Runs `f` on as many threads as the backend has workers: the pool for `threads`, and for
    /// a process backend a pool started for the occasion. For the coordinator's work between
    /// the workers' tasks (summing what they parsed), while the workers wait.
    pub fn install_wide<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        match self {
            Executor::Local { pool, .. } => Ok(pool.install(f)),
            Executor::Processes { spec, .. } => Ok(thread_pool(spec.workers, false)?.install(f)),
        }
    }

    /// The worker processes, for a process backend.
    pub fn processes(&mut self) -> Option<(&mut ProcessPool, &rayon::ThreadPool)> {
        match self {
            Executor::Local { .. } => None,
            Executor::Processes { pool, coordinator, .. } => Some((pool, coordinator)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print() {
        for kind in BackendKind::CONCRETE {
            assert_eq!(kind.name().parse::<BackendKind>().unwrap(), kind);
        }
        assert_eq!("auto".parse::<BackendKind>().unwrap(), BackendKind::Auto);
        assert!("mpi".parse::<BackendKind>().unwrap_err().contains("known: serial"));
        let spec = BackendSpec { kind: BackendKind::Shm, workers: 3, pin: true };
        assert_eq!(spec.to_string(), "shm x3 (pinned)");
    }

    #[test]
    fn serial_runs_on_one_thread_and_threads_on_n() {
        let serial =
            Executor::start(BackendSpec { kind: BackendKind::Serial, workers: 4, pin: false })
                .unwrap();
        assert_eq!(serial.spec().workers, 1);
        assert_eq!(serial.install(rayon::current_num_threads), 1);
        let threads =
            Executor::start(BackendSpec { kind: BackendKind::Threads, workers: 3, pin: false })
                .unwrap();
        assert_eq!(threads.install(rayon::current_num_threads), 3);
    }
}
