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
fn populate(shmem: &Shmem, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: the range is exactly this process's fresh mapping of the segment; the advice
    // only allocates and maps its pages (zero-filled), it changes no contents.
    unsafe {
        libc::madvise(shmem.as_ptr().cast(), len, libc::MADV_POPULATE_WRITE);
    }
}

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
}
