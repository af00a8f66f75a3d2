//! `--backend`, `--workers`, `--pin`: how `sample`, `impute` and `run` execute.

use clap::Args;
use medimpute::backend::{BackendKind, BackendSpec, Executor};
use medimpute::Result;

/// Execution settings shared by `sample`, `impute` and `run`.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    /// serial (one thread), threads (a thread pool), pipe (worker processes fed over pipes),
    /// shm (worker processes sharing the grid in memory), or auto (chosen for the job).
    #[arg(long, default_value = "auto")]
    pub backend: BackendKind,
    /// Threads or worker processes (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Pin each thread or worker process to its own core.
    #[arg(long)]
    pub pin: bool,
}

impl BackendArgs {
    /// Starts the backend. `auto` picks threads, which share memory at no cost.
    pub fn start(&self) -> Result<Executor> {
        let kind = match self.backend {
            BackendKind::Auto => BackendKind::Threads,
            kind => kind,
        };
        Executor::start(BackendSpec { kind, workers: self.workers, pin: self.pin })
    }
}
