//! The hidden `medimpute worker` subcommand: a worker process of the `pipe` and `shm` backends,
//! started by the coordinator, never by hand.

use clap::Args;
use medimpute::backend::{worker, Transport};

/// Serve tasks of a coordinator on stdin/stdout (internal).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[arg(long)]
    pub transport: Transport,
    /// The coordinator's pid: names the segments this worker creates.
    #[arg(long)]
    pub coordinator: u32,
    /// This worker's index in the pool.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// Pin this process to core N (modulo the cores there are).
    #[arg(long)]
    pub pin_core: Option<usize>,
}

pub fn run(args: WorkerArgs) -> i32 {
    if let Some(core) = args.pin_core {
        if let Some(cores) = core_affinity::get_core_ids().filter(|c| !c.is_empty()) {
            core_affinity::set_for_current(cores[core % cores.len()]);
        }
    }
    worker::serve(args.transport, args.coordinator, args.index, &medimpute::jobs::worker_job)
}
