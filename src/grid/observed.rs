//! The observed mask: `<out>.observed.npy`, a `uint8` grid of the imputed grid's shape saying
//! which bins were observed (1) and which imputed (0).
//!
//! It is written straight from the source grid into its file, front to back in windows filled
//! on every thread and written with direct I/O ([`write_staged_in_parts`]; a mask smaller
//! than one window, 8 MiB, goes through the page cache, where a direct write would wait for
//! the device). No mask of the whole grid is held in memory first, and the page cache never
//! holds a large one. For a
//! 77 x 4,090 x 720 grid (227 MB of flags) on this project's 2-core VM, 2 threads:
//!
//! | how | time |
//! |---|---|
//! | whole mask in a `Vec`, then one buffered write (session 3) | 0.63 s |
//! | one part per thread, chunks written with `pwrite` | 0.49-0.51 s |
//! | one part per thread, through a shared mapping (sessions 4-5) | 0.21-0.30 s |
//!
//! (the phase timed inside `medimpute run --export /tmp/big --backend threads|shm --workers
//! 2`, 2-4 runs each; `perf` showed `pwrite`'s second thread spinning on the file's inode lock
//! in `rwsem_spin_on_owner`). The windows of session 6 were not timed alone. In 3 alternating
//! runs of `medimpute run --export /tmp/big --method locf --backend threads --workers 2`, the
//! imputation stage outside "predict and fill" (the mask, the axes, the renames) took
//! 0.43-1.12 s with the mapping and 0.15-0.94 s with the windows. The masks were identical.

use super::npy::{typed_header, MASK_DTYPE};
use super::GridShape;
use crate::error::Result;
use crate::output::write_staged_in_parts;
use std::path::Path;
use tempfile::NamedTempFile;

/// The flag of one value: observed (1) unless NaN.
#[inline]
fn flag(value: f32) -> u8 {
    u8::from(!value.is_nan())
}

/// Writes the observed mask of `values` (a grid of `shape`) as a complete `.npy` file under a
/// temporary name beside `destination`, on up to `threads` threads, and returns it
/// unpersisted so that it is committed together with the grid.
pub fn write_observed_mask(
    values: &[f32],
    shape: GridShape,
    destination: &Path,
    threads: usize,
) -> Result<NamedTempFile> {
    assert_eq!(values.len(), shape.len(), "values and shape disagree");
    let header = typed_header(MASK_DTYPE, &shape);
    write_staged_in_parts(destination, &header, values.len(), threads, |at, flags| {
        for (f, &v) in flags.iter_mut().zip(&values[at..]) {
            *f = flag(v);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::ReadNpyExt;

    /// A grid with NaNs all through it.
    fn values(len: usize) -> Vec<f32> {
        (0..len).map(|i| if i % 7 == 0 || i % 1000 == 999 { f32::NAN } else { i as f32 }).collect()
    }

    #[test]
    fn the_mask_numpy_reads_flags_every_value_whatever_the_threads() {
        let dir = tempfile::tempdir().unwrap();
        // Three minimal parts and a bit: with 2, 3 and 8 threads, parts end inside the data.
        let shape = GridShape { items: 3, admissions: 7, hours: (3 * (1 << 20) + 4096) / 21 + 1 };
        let values = values(shape.len());
        let expected: Vec<u8> = values.iter().map(|&v| u8::from(!v.is_nan())).collect();
        for threads in [1, 2, 3, 8] {
            let path = dir.path().join(format!("mask{threads}.npy"));
            let staged = write_observed_mask(&values, shape, &path, threads).unwrap();
            assert!(!path.exists(), "nothing at the destination before it is persisted");
            crate::output::persist(staged, &path).unwrap();
            let mask = ndarray::Array3::<u8>::read_npy(std::fs::File::open(&path).unwrap())
                .unwrap_or_else(|e| panic!("{threads} threads: {e}"));
            assert_eq!(mask.dim(), (shape.items, shape.admissions, shape.hours));
            assert!(mask.as_slice().unwrap() == expected, "{threads} threads: wrong flags");
        }
    }

    #[test]
    fn an_empty_grid_gets_a_header_and_no_data() {
        let dir = tempfile::tempdir().unwrap();
        let shape = GridShape { items: 0, admissions: 5, hours: 720 };
        let path = dir.path().join("empty.npy");
        let staged = write_observed_mask(&[], shape, &path, 4).unwrap();
        crate::output::persist(staged, &path).unwrap();
        let mask = ndarray::Array3::<u8>::read_npy(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(mask.dim(), (0, 5, 720));
    }
}
