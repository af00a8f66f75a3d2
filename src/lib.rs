//! medimpute: raw MIMIC-III / MIMIC-IV ICU exports into complete hourly vital-sign grids.
//!
//! The engine, in the order data flows through it:
//!
//! | stage | module | what it does |
//! |---|---|---|
//! | input | [`ingest`] | reads ADMISSIONS and event tables, plain or gzip, in parallel pieces |
//! | sampling | [`sampling`] | places events into hourly bins per admission (MedLens semantics) |
//! | layout | [`grid`] | the `(items, admissions, hours)` `float32` `.npy` grid over any bytes |
//! | imputation | [`impute`] | `locf`, `linear`, `rf-medlens`, `rf`, `auto`, as a plan of tasks |
//! | model | [`forest`] | a deterministic random-forest regressor, column-major, exact or histogram |
//! | execution | [`backend`] | the plans' tasks on `serial`, `threads`, `pipe` or `shm` workers |
//! | jobs | [`pipeline`] | whole jobs over files: `impute` a grid, `run` sample + impute |
//! | output | [`output`] | atomic writes: a temporary name, renamed when complete |
//!
//! Around them: [`items`] (the MedLens item sets), [`timestamp`] (MIMIC times as integers),
//! [`memory`] (how much memory this process may fill: where `run` keeps its sampled grid),
//! [`generate`] (realistic synthetic exports), [`error`] (errors as types, with exit codes),
//! [`cancel`] (Ctrl-C), [`cpu`] (the CPU's features, asked at start-up), [`jobs`] (what a
//! worker process can be asked to run), [`units`] (durations as summaries print them),
//! [`bench`] (the measurements behind `medimpute bench`).

#[cfg(not(target_endian = "little"))]
compile_error!(
    "medimpute's grid is little-endian float32 viewed in place: big-endian hosts are not supported"
);

pub mod backend;
pub mod bench;
pub mod cancel;
pub mod cpu;
pub mod error;
pub mod forest;
pub mod generate;
pub mod grid;
pub mod impute;
pub mod ingest;
pub mod items;
pub mod jobs;
pub mod memory;
pub mod output;
pub mod pipeline;
pub mod sampling;
pub mod timestamp;
pub mod units;

pub use error::{Error, Result};
