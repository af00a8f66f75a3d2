//! `medimpute bench`: measurements users run on their own machines, side by side in one run.
//!
//! - [`auto`]: how good `--backend auto` is: every candidate and auto's choice on a set of
//!   workloads, auto's time against the best, and what its profiling costs;
//! - [`ipc`]: moving a task's data to a worker process over a pipe or through shared memory,
//!   against a `memcpy` of the same bytes;
//! - [`scaling`]: the study's Table 1 (T_p, sigma, median, S_p, E_p) per backend and worker
//!   count, with the Python baseline beside it; [`table`] computes and writes it, [`plot`]
//!   draws the speedup figure.

pub mod auto;
pub mod ipc;
pub mod plot;
pub mod scaling;
pub mod table;
