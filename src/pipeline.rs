//! Whole jobs over files: impute a grid file, and `run` (sample + impute) from an export.
//!
//! The library's stages work on slices; this module opens, maps and atomically writes the
//! files around them: the imputed grid, its axes, and `<out>.observed.npy`, the `uint8` grid
//! saying which bins were observed (1) and which imputed (0), which downstream users need to
//! tell measurements from estimates.

use crate::cancel;
use crate::error::{Error, Result};
use crate::grid::{Axes, FileGrid, Grid, GridShape};
use crate::impute::{plan, ImputeOptions, ImputeReport};
use crate::output;
use crate::timestamp::{parse_timestamp, HOUR};
use memmap2::MmapOptions;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Imputes the grid file `grid` into `out` (+ axes and observed mask), atomically.
pub fn impute_file(
    grid: &Path,
    out: &Path,
    options: &ImputeOptions,
) -> Result<(ImputeReport, Duration)> {
    let file = std::fs::File::open(grid).map_err(|e| Error::input(grid, e))?;
    // A private copy-on-write map: reads share the page cache, and nothing can write the input.
    // SAFETY: mapped privately; a concurrent writer of the input is the accepted mmap risk.
    let map = unsafe { MmapOptions::new().map_copy(&file) }.map_err(|e| Error::input(grid, e))?;
    let source = Grid::open(map, grid)?;
    let axes = Axes::read(&Axes::path_for(grid))?;
    check_axes(&axes, source.shape(), grid)?;
    let start = Instant::now();
    let report = impute_to_file(source.values(), source.shape(), &axes, out, options)?;
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
pub fn impute_to_file(
    source: &[f32],
    shape: GridShape,
    axes: &Axes,
    out: &Path,
    options: &ImputeOptions,
) -> Result<ImputeReport> {
    let hours = first_bin_hours(axes)?;
    let mut dest = Grid::create(FileGrid::create(out, shape.npy_bytes())?, shape);
    let report = plan::impute(source, dest.values_mut(), shape, &hours, &axes.items, options);
    cancel::check()?;
    let mask: Vec<u8> = source.iter().map(|v| u8::from(!v.is_nan())).collect();
    let mask = ndarray::Array3::from_shape_vec((shape.items, shape.admissions, shape.hours), mask)
        .expect("mask has the grid's shape");
    let mask_path = observed_path(out);
    let mut mask_file = output::temp_beside(&mask_path)?;
    ndarray_npy::WriteNpyExt::write_npy(&mask, std::io::BufWriter::new(mask_file.as_file_mut()))
        .map_err(|e| Error::output(&mask_path, std::io::Error::other(e)))?;
    let axes_path = Axes::path_for(out);
    let axes_file = output::write_staged(&axes_path, axes.to_json().as_bytes())?;
    cancel::check()?;
    output::persist(mask_file, &mask_path)?;
    output::persist(axes_file, &axes_path)?;
    dest.into_storage().persist()?;
    Ok(report)
}
