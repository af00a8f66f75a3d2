//! A grid in a POSIX shared-memory segment (`/dev/shm`): the region that worker processes map
//! to read the observed grid and write imputed values in place, with no serialization.
//!
//! The creating process owns the segment and unlinks it when the storage is dropped, on success,
//! error or Ctrl-C alike; processes that open it by name only map it. Segments are named
//! `medimpute-<pid>-<n>` so that one left by a killed run can be recognised as ours.

use super::ByteStorage;
use crate::error::{Error, Result};
use shared_memory::{Shmem, ShmemConf};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes in a shared-memory segment.
pub struct SharedBytes {
    shmem: Shmem,
    len: usize,
}

/// The prefix of every segment this engine creates.
pub const SEGMENT_PREFIX: &str = "medimpute-";

fn segment_error(id: &str, error: shared_memory::ShmemError) -> Error {
    Error::output(&PathBuf::from(format!("/dev/shm/{id}")), std::io::Error::other(error))
}

/// Backs every page of a new segment at once. Its creator writes all of it (a sampled grid,
/// whose every bin ends as a mean or NaN; a staged copy), and shared memory gets no huge pages
/// where the kernel keeps them for anonymous memory: page by page, the faults of a 907 MB grid
/// cost this project's VM 0.7-2.8 s, on the coordinator, against 0.5 s for one populate call
/// (docs/RESULTS.md, section 2). Kernels before 5.14 refuse the advice; pages then come as
/// they are touched, as before.
///
/// Most of the call's time is the kernel zeroing pages, which parallelizes: the range is cut
/// into one part per core (parts of at least [`POPULATE_PART`]), each advised on its own
/// thread. For 907 MB on 2 cores: 0.30 s on two threads against 0.50-0.85 s on one
/// (`madvise` timed from Python, 2 runs each).
fn populate(shmem: &Shmem, len: usize) {
    if len == 0 {
        return;
    }
    const PAGE: usize = 4096;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = len.div_ceil(POPULATE_PART).clamp(1, cores);
    let part = len.div_ceil(parts).next_multiple_of(PAGE);
    let base = shmem.as_ptr() as usize;
    let advise = |start: usize| {
        let end = (start + part).min(len);
        // SAFETY: the range lies inside this process's fresh mapping of the segment (`start`
        // is page-aligned, as the mapping is); the advice only allocates and maps its pages
        // (zero-filled), it changes no contents.
        unsafe {
            libc::madvise(
                (base + start) as *mut libc::c_void,
                end - start,
                libc::MADV_POPULATE_WRITE,
            );
        }
    };
    std::thread::scope(|scope| {
        for start in (part..len).step_by(part) {
            scope.spawn(move || advise(start));
        }
        advise(0);
    });
}

/// The smallest part of a segment worth a thread of its own when populating it.
const POPULATE_PART: usize = 64 << 20;

impl SharedBytes {
    /// Creates a zero-filled segment of `len` bytes, owned by this process.
    pub fn create(len: usize) -> Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "{SEGMENT_PREFIX}{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // The kernel refuses empty segments: map one byte and expose none.
        let shmem = ShmemConf::new()
            .os_id(&id)
            .size(len.max(1))
            .create()
            .map_err(|e| segment_error(&id, e))?;
        populate(&shmem, len);
        Ok(SharedBytes { shmem, len })
    }

    /// Maps an existing segment by its name (as [`SharedBytes::os_id`] gives it); the segment
    /// stays its creator's to remove.
    pub fn open(os_id: &str, len: usize) -> Result<Self> {
        let shmem = ShmemConf::new().os_id(os_id).open().map_err(|e| segment_error(os_id, e))?;
        if shmem.len() < len {
            return Err(Error::BadGrid {
                path: PathBuf::from(format!("/dev/shm/{os_id}")),
                reason: format!("segment holds {} bytes, {len} expected", shmem.len()),
            });
        }
        Ok(SharedBytes { shmem, len })
    }

    /// The segment's name, for other processes to open it.
    pub fn os_id(&self) -> &str {
        self.shmem.get_os_id()
    }
}

// SAFETY: the segment is plain memory mapped for the whole process; `Shmem` holds a raw
// pointer only because the crate does not promise thread safety for its own bookkeeping, which
// this type never touches after creation. Access follows Rust's borrow rules through
// `bytes`/`bytes_mut`, as for any heap buffer.
unsafe impl Send for SharedBytes {}
unsafe impl Sync for SharedBytes {}

impl ByteStorage for SharedBytes {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is at least `len` bytes and lives as long as `self`. Other
        // processes may write the segment concurrently; the engine's plan gives every task
        // disjoint bins, as it does for threads sharing a heap grid.
        unsafe { std::slice::from_raw_parts(self.shmem.as_ptr(), self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; `&mut self` makes this process's view exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.shmem.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{Grid, GridShape};
    use std::path::Path;

    #[test]
    fn a_grid_in_a_segment_is_seen_and_written_through_a_second_mapping_and_removed_after() {
        let shape = GridShape { items: 2, admissions: 3, hours: 24 };
        let mut owner = Grid::create(SharedBytes::create(shape.npy_bytes()).unwrap(), shape);
        owner.values_mut().fill(f32::NAN);
        owner.values_mut()[shape.index(1, 2, 5)] = 7.5;
        let name = owner.storage().os_id().to_string();
        assert!(name.starts_with(SEGMENT_PREFIX));
        assert!(Path::new("/dev/shm").join(&name).exists());

        // What a worker process does: map the segment by name, view the grid, write in place.
        let segment = SharedBytes::open(&name, shape.npy_bytes()).unwrap();
        let mut worker = Grid::open(segment, Path::new("shm")).unwrap();
        assert_eq!(worker.shape(), shape);
        assert_eq!(worker.series(1, 2)[5], 7.5);
        assert!(worker.series(0, 0)[0].is_nan());
        worker.values_mut()[shape.index(0, 1, 3)] = -1.25;
        drop(worker);
        assert_eq!(
            owner.series(0, 1)[3],
            -1.25,
            "a write through one mapping is seen by the other"
        );
        assert!(Path::new("/dev/shm").join(&name).exists(), "a worker's drop does not remove it");

        drop(owner);
        assert!(
            !Path::new("/dev/shm").join(&name).exists(),
            "the owner's drop removes the segment"
        );
        assert!(SharedBytes::open(&name, 1).is_err());
    }

    #[test]
    fn a_segment_populated_in_parts_is_zero_filled_and_resident_to_its_last_byte() {
        // Three parts' worth and a page more: the last part is short, and on two or more
        // cores parts are advised on threads of their own.
        let len = 3 * POPULATE_PART + 4096 + 100;
        let mut segment = SharedBytes::create(len).unwrap();
        let resident_kb = |name: &str| -> u64 {
            // The segment's pages in this process's memory map (Rss of its mapping).
            let maps = std::fs::read_to_string("/proc/self/smaps").unwrap();
            let mut in_segment = false;
            for line in maps.lines() {
                if line.contains("/dev/shm/") || line.contains(" /") {
                    in_segment = line.contains(name);
                } else if in_segment && line.starts_with("Rss:") {
                    return line.split_whitespace().nth(1).unwrap().parse().unwrap();
                }
            }
            0
        };
        let name = segment.os_id().to_string();
        assert!(resident_kb(&name) >= (len / 1024) as u64, "every page backed before use");
        let bytes = segment.bytes_mut();
        assert_eq!(bytes.len(), len);
        assert!(bytes.iter().step_by(4093).all(|&b| b == 0) && bytes[len - 1] == 0);
        bytes[len - 1] = 9;
        assert_eq!(segment.bytes()[len - 1], 9);
    }
}
