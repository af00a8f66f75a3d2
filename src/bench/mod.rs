//! `medimpute bench`: measurements users run on their own machines, side by side in one run.
//!
//! - [`auto`]: how good `--backend auto` is: every candidate and auto's choice on a set of
//!   workloads, auto's time against the best, and what its profiling costs;
//! - [`fresh`]: each timed job of those two in a fresh process, as a user runs it;
//! - [`order`]: the order of each round's configurations, shuffled so that none always
//!   follows the same one;
//! - [`ipc`]: moving a task's data to a worker process over a pipe or through shared memory,
//!   against a `memcpy` of the same bytes;
//! - [`scaling`]: the study's Table 1 (T_p, sigma, median, S_p, E_p) per backend and worker
//!   count, with the Python baseline beside it; [`table`] computes and writes it, [`plot`]
//!   draws the speedup figure.

pub mod auto;
pub mod fresh;
pub mod ipc;
pub mod order;
pub mod plot;
pub mod scaling;
pub mod table;

use crate::error::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Writes report files into `dir`: every file is staged first, then all are renamed into place,
/// so a failed or interrupted bench leaves none half-written. Returns the "wrote:" listing.
pub(crate) fn write_reports(dir: &Path, files: &[(&str, &[u8])]) -> Result<String> {
    let staged = files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            Ok((crate::output::write_staged(&path, bytes)?, path))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::cancel::check()?;
    let mut listing = String::from("\nwrote:\n");
    for (file, path) in staged {
        crate::output::persist(file, &path)?;
        let _ = writeln!(listing, "  {}", path.display());
    }
    Ok(listing)
}
