//! Whole jobs over files: impute a grid file, and `run` (sample + impute) from an export.
//!
//! The library's stages work on slices; this module opens, maps and atomically writes the
//! files around them: the imputed grid, its axes, and `<out>.observed.npy`, the `uint8` grid
//! saying which bins were observed (1) and which imputed (0), which downstream users need to
//! tell measurements from estimates.

use crate::backend::region::shared_region;
use crate::backend::{Executor, Region, Transport};
use crate::cancel;
use crate::error::{Error, Result};
use crate::grid::{write_observed_mask, Axes, ByteStorage, Grid, GridShape, NpyFile};
use crate::grid::{SampledGridHome, SharedBytes};
use crate::impute::plan::{self, ProfiledWork};
use crate::impute::remote::{self, SharedGrid};
use crate::impute::{ImputeOptions, ImputeReport};
use crate::output;
use crate::sampling::{
    sample_to_grid, ParsedHead, Plan, SampleInputs, SampleOptions, SampleReport,
};
use crate::timestamp::{parse_timestamp, HOUR};
use indicatif::ProgressBar;
use memmap2::MmapOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A table of an export directory by its MIMIC-III or MIMIC-IV name: `<stem>.csv` or
/// `<stem>.csv.gz`, in any case (`ADMISSIONS.csv.gz`, `admissions.csv`); the first by name if
/// several match.
pub fn find_table(dir: &Path, stem: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase());
            name.is_some_and(|n| n == format!("{stem}.csv") || n == format!("{stem}.csv.gz"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The event tables of an export directory: CHARTEVENTS, then LABEVENTS, those present.
pub fn find_event_tables(dir: &Path) -> Vec<PathBuf> {
    ["chartevents", "labevents"].iter().filter_map(|stem| find_table(dir, stem)).collect()
}

/// ADMISSIONS and the event tables of an export directory (see [`find_table`]).
pub fn export_tables(dir: &Path) -> Result<SampleInputs> {
    let missing = |what: &str| {
        Error::Usage(format!("no {what} table (.csv or .csv.gz, any case) in {}", dir.display()))
    };
    let admissions = find_table(dir, "admissions").ok_or_else(|| missing("ADMISSIONS"))?;
    let events = find_event_tables(dir);
    if events.is_empty() {
        return Err(missing("CHARTEVENTS or LABEVENTS"));
    }
    Ok(SampleInputs { admissions, events })
}

/// What [`run_job`] did.
pub struct JobReport {
    pub sample: SampleReport,
    pub impute: ImputeReport,
    /// Imputation and writing the output files.
    pub impute_time: Duration,
}

/// The main job: samples `inputs` by `plan` ([`Plan::new`]), keeping the records `head` holds
/// parsed (the sampling profile's), into a grid kept where `home` says (in memory, or in a
/// scratch file beside `out` for grids larger than memory), then imputes it into `out` (+ axes
/// and observed mask), atomically. `before_impute` sees the sampled grid (and each item's
/// observed bins) and may replace the executor (`--backend auto` chooses anew for the
/// imputation, a different workload); what its profile did that the run keeps (the items it
/// imputed, the pair table it built) is not done again.
#[allow(clippy::too_many_arguments)]
pub fn run_job(
    plan: &Plan,
    inputs: &SampleInputs,
    sample_options: &SampleOptions,
    head: Option<ParsedHead>,
    impute_options: &ImputeOptions,
    out: &Path,
    home: SampledGridHome,
    exec: &mut Executor,
    sampling: &ProgressBar,
    imputing: impl FnOnce(&Executor) -> ProgressBar,
    before_impute: impl FnOnce(&[f32], GridShape, &Axes, &[u64], &mut Executor) -> Result<ProfiledWork>,
) -> Result<JobReport> {
    let sampled = sample_to_grid(plan, inputs, sample_options, head, exec, sampling, out, home);
    sampling.finish_and_clear();
    let (grid, axes, sample) = sampled?;
    let profiled =
        before_impute(grid.values(), grid.shape(), &axes, &sample.observed_per_item, exec)?;
    let spinner = imputing(exec);
    let start = Instant::now();
    // A grid sampled into shared bytes is handed to the workers by name.
    let region = grid.storage().shared().map(|shared| {
        shared_region(shared, grid.data_offset() as u64, grid.shape().data_bytes() as u64)
    });
    let imputed = impute_to_file(
        grid.values(),
        region,
        grid.shape(),
        &axes,
        out,
        impute_options,
        exec,
        profiled,
    );
    spinner.finish_and_clear();
    Ok(JobReport { sample, impute: imputed?, impute_time: start.elapsed() })
}

/// Where the observed mask of the grid at `out` goes: `<out>.observed.npy`.
pub fn observed_path(out: &Path) -> PathBuf {
    output::sibling(out, ".observed.npy")
}

/// The clock hour (0-23) of bin 0 of every admission.
pub fn first_bin_hours(axes: &Axes) -> Result<Vec<u8>> {
    axes.admissions
        .iter()
        .map(|a| {
            let end = parse_timestamp(a.window_end.as_bytes())
                .ok_or_else(|| Error::Usage(format!("axes: bad window_end '{}'", a.window_end)))?;
            let first = end / HOUR - (axes.hours as i64 - 1);
            Ok(first.rem_euclid(24) as u8)
        })
        .collect()
}

/// A sampled grid file opened for imputation: its values, its axes, and where its values lie
/// in the file (worker processes map the file itself: the same bytes, from the page cache).
pub struct SourceGrid {
    pub grid: Grid<memmap2::MmapMut>,
    pub axes: Axes,
    pub region: Region,
}

impl SourceGrid {
    /// Opens `grid` and its `.axes.json`, checking that they agree.
    pub fn open(grid: &Path) -> Result<Self> {
        let file = std::fs::File::open(grid).map_err(|e| Error::input(grid, e))?;
        // A private copy-on-write map: reads share the page cache, nothing can write the input.
        // SAFETY: mapped privately; a concurrent writer of the input is the accepted mmap risk.
        let map =
            unsafe { MmapOptions::new().map_copy(&file) }.map_err(|e| Error::input(grid, e))?;
        let source = Grid::open(map, grid)?;
        let axes = Axes::read(&Axes::path_for(grid))?;
        check_axes(&axes, source.shape(), grid)?;
        let region = Region {
            path: grid.to_path_buf(),
            offset: source.data_offset() as u64,
            len: source.shape().data_bytes() as u64,
        };
        Ok(SourceGrid { grid: source, axes, region })
    }
}

/// Imputes an opened grid file into `out` (+ axes and observed mask), atomically; the items
/// `profiled` finished are kept as they are, its pair table used.
pub fn impute_file(
    source: &SourceGrid,
    out: &Path,
    options: &ImputeOptions,
    exec: &mut Executor,
    profiled: ProfiledWork,
) -> Result<(ImputeReport, Duration)> {
    let start = Instant::now();
    let grid = &source.grid;
    let region = Some(source.region.clone());
    let report = impute_to_file(
        grid.values(),
        region,
        grid.shape(),
        &source.axes,
        out,
        options,
        exec,
        profiled,
    )?;
    Ok((report, start.elapsed()))
}

fn check_axes(axes: &Axes, shape: GridShape, grid: &Path) -> Result<()> {
    if axes.shape != [shape.items, shape.admissions, shape.hours] {
        return Err(Error::BadGrid {
            path: grid.to_path_buf(),
            reason: format!("axes file says shape {:?}, the grid is {shape:?}", axes.shape),
        });
    }
    Ok(())
}

/// Imputes `source` into a new grid file at `out`, then writes the axes and the observed mask.
/// `source_region`: where `source` lies in a file or segment that worker processes can map
/// (over `shm` a private source is first copied into a segment). The blocks of the items
/// `profiled` finished are written as they are; the plan runs for the others, with the pair
/// table `profiled` holds, if any.
#[allow(clippy::too_many_arguments)]
pub fn impute_to_file(
    source: &[f32],
    source_region: Option<Region>,
    shape: GridShape,
    axes: &Axes,
    out: &Path,
    options: &ImputeOptions,
    exec: &mut Executor,
    profiled: ProfiledWork,
) -> Result<ImputeReport> {
    let hours = first_bin_hours(axes)?;
    let dest = NpyFile::create(out, shape)?;
    let ProfiledWork { items: finished, pairs } = profiled;
    let todo = plan::take_finished(&dest, shape, &finished)?;
    let dest_region = Region {
        path: dest.temp_path().to_path_buf(),
        offset: dest.data_offset(),
        len: shape.data_bytes() as u64,
    };
    let mut report = match exec.processes() {
        None => exec.install(|| {
            plan::impute(source, &dest, shape, &hours, &axes.items, options, &todo, pairs)
        })?,
        Some((pool, coordinator)) => {
            let mut staged = None;
            let source_region = match source_region {
                Some(region) => Some(region),
                None if pool.transport() == Transport::Shm => {
                    let mut shared = SharedBytes::for_grid(shape.data_bytes(), out, true)?;
                    shared.bytes_mut().copy_from_slice(bytemuck::cast_slice(source));
                    let region = shared_region(&shared, 0, shape.data_bytes() as u64);
                    staged = Some(shared);
                    Some(region)
                }
                None => None,
            };
            let grid = SharedGrid { values: source, region: source_region };
            let report = coordinator.install(|| {
                remote::impute(
                    pool,
                    grid,
                    &dest,
                    Some(dest_region),
                    shape,
                    &hours,
                    &axes.items,
                    options,
                    &todo,
                )
            })?;
            drop(staged);
            report
        }
    };
    let done = std::mem::take(&mut report.items);
    report.items = plan::merge_reports(&todo, done, finished, &axes.items);
    cancel::check()?;
    // Worker processes are idle by now: the mask is written on as many threads as they were.
    let mask_path = observed_path(out);
    let mask_file = write_observed_mask(source, shape, &mask_path, exec.spec().workers)?;
    let axes_path = Axes::path_for(out);
    let axes_file = output::write_staged(&axes_path, axes.to_json().as_bytes())?;
    cancel::check()?;
    output::persist(mask_file, &mask_path)?;
    output::persist(axes_file, &axes_path)?;
    dest.persist()?;
    Ok(report)
}
