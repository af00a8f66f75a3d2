//! `--backend`, `--workers`, `--pin`, `--target-cores`, `--explain`: how `sample`, `impute` and
//! `run` execute.

use clap::Args;
use medimpute::backend::select::{Selector, SelectorOptions};
use medimpute::backend::BackendKind;

/// Execution settings shared by `sample`, `impute` and `run`.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    /// serial (one thread), threads (a thread pool), pipe (worker processes fed over pipes),
    /// shm (worker processes sharing the grid in memory), or auto: a few of the job's tasks are
    /// timed, a cost model predicts every candidate, the fastest runs (see --explain).
    #[arg(long, default_value = "auto")]
    pub backend: BackendKind,
    /// Threads or worker processes (0 = one per core); with auto, chosen by the selector.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Pin each thread or worker process to its own core.
    #[arg(long)]
    pub pin: bool,
    /// auto: the most workers to consider (default: this machine's cores).
    #[arg(long, value_name = "N")]
    pub target_cores: Option<usize>,
    /// auto: print the measurements, each candidate's predicted time, and the choice.
    #[arg(long)]
    pub explain: bool,
}

impl BackendArgs {
    /// The selector for one job's stages.
    pub fn selector(&self) -> Selector {
        Selector::new(SelectorOptions {
            backend: self.backend,
            workers: self.workers,
            pin: self.pin,
            target_cores: self.target_cores,
            explain: self.explain,
        })
    }
}
