//! Shared regions: mapping them, naming the segments workers create, and removing leftovers.
//!
//! Every segment this engine creates is named `medimpute-<pid>-...` after the coordinator that
//! owns it, so that (a) a coordinator removes every segment of its run when it ends, whoever
//! created it, and (b) a later run can tell a segment whose owner is gone (a `kill -9`, a power
//! cut of the process) from one of a run still going, and remove only the former.

use super::protocol::Region;
use crate::grid::shared_stale::{owner_pid, process_alive, remove_matching};
use crate::grid::{SharedBytes, SEGMENT_PREFIX};
use memmap2::{Mmap, MmapMut, MmapOptions};
use shared_memory::ShmemConf;
use std::fs::OpenOptions;
use std::io;
use std::path::Path;

pub use crate::grid::SHM_DIR;

/// The region of segment `os_id` from `offset`, `len` bytes.
pub fn segment_region(os_id: &str, offset: u64, len: u64) -> Region {
    Region { path: Path::new(SHM_DIR).join(os_id), offset, len }
}

/// The region of shared bytes (a segment or a scratch file) from `offset`, `len` bytes.
pub fn shared_region(shared: &SharedBytes, offset: u64, len: u64) -> Region {
    Region { path: shared.path(), offset, len }
}

/// Maps a region read-only.
pub fn map_read(region: &Region) -> io::Result<Mmap> {
    let file = std::fs::File::open(&region.path)?;
    check_fits(&file, region)?;
    // SAFETY: shared regions are written only by the task that owns a disjoint part of them;
    // a region read here is complete (its producer reported it done) and not written again.
    unsafe { MmapOptions::new().offset(region.offset).len(region.len as usize).map(&file) }
}

/// Maps a region read-write, shared: writes land in the file or segment itself.
///
/// The mapping is populated up front (`MAP_POPULATE`): a task's output region is written
/// whole (an item's block), and one call that maps every page costs less than a fault per
/// 4 KiB page (shared memory gets no huge pages here), 2,880 of them per block of the
/// 3,000-subject grid.
pub fn map_write(region: &Region) -> io::Result<MmapMut> {
    let file = OpenOptions::new().read(true).write(true).open(&region.path)?;
    check_fits(&file, region)?;
    // SAFETY: the coordinator hands each writable region to one task at a time, and regions of
    // different tasks never overlap.
    unsafe {
        MmapOptions::new().offset(region.offset).len(region.len as usize).populate().map_mut(&file)
    }
}

fn check_fits(file: &std::fs::File, region: &Region) -> io::Result<()> {
    let size = file.metadata()?.len();
    if region.offset.checked_add(region.len).map_or(true, |end| end > size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{}: region {}+{} beyond the end ({size} bytes)",
                region.path.display(),
                region.offset,
                region.len
            ),
        ));
    }
    Ok(())
}

/// The prefix of the result segments that workers create for coordinator `coordinator`.
fn results_prefix(coordinator: u32) -> String {
    format!("{SEGMENT_PREFIX}{coordinator}-r")
}

/// Creates segment `medimpute-<coordinator>-r<worker>-<seq>` holding `bytes` and leaves it for
/// the coordinator to remove. Used by workers for results whose size only the task knows.
pub fn write_result_segment(coordinator: u32, seq: u64, bytes: &[u8]) -> io::Result<Region> {
    let os_id = format!("{}{}-{seq}", results_prefix(coordinator), std::process::id());
    let mut shmem = ShmemConf::new()
        .os_id(&os_id)
        .size(bytes.len().max(1))
        .create()
        .map_err(io::Error::other)?;
    // SAFETY: a fresh mapping of at least `bytes.len()` bytes that nothing else uses yet.
    unsafe { std::slice::from_raw_parts_mut(shmem.as_ptr(), bytes.len()) }.copy_from_slice(bytes);
    // The coordinator owns it from here: the worker's exit must not remove it.
    shmem.set_owner(false);
    Ok(segment_region(&os_id, 0, bytes.len() as u64))
}

/// Removes a region's segment (results already consumed). Files outside `/dev/shm` are left.
pub fn remove_segment(region: &Region) {
    if region.path.starts_with(SHM_DIR) {
        let _ = std::fs::remove_file(&region.path);
    }
}

/// Removes every result segment created for coordinator `coordinator` (this process, at the
/// end of a job or on the way out after an error or Ctrl-C). Returns how many.
pub fn remove_results(coordinator: u32) -> usize {
    remove_matching(Path::new(SHM_DIR), |name| name.starts_with(&results_prefix(coordinator)))
}

/// Removes segments left by runs whose process no longer exists. Returns how many. (Scratch
/// files of shared grids are swept from their directory when the next one is created there.)
pub fn sweep_stale() -> usize {
    remove_matching(Path::new(SHM_DIR), |name| {
        name.starts_with(SEGMENT_PREFIX) && owner_pid(name).is_some_and(|pid| !process_alive(pid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_segments_are_readable_by_name_and_removed_by_their_coordinator() {
        // This process as the coordinator: alive, so a concurrent sweep of stale segments (the
        // next test) leaves it alone. No other unit test creates result segments.
        let coordinator = std::process::id();
        let region = write_result_segment(coordinator, 1, b"tree bytes").unwrap();
        assert!(region.path.exists());
        assert_eq!(&map_read(&region).unwrap()[..], b"tree bytes");
        let part = Region { offset: 5, len: 5, ..region.clone() };
        assert_eq!(&map_read(&part).unwrap()[..], b"bytes");
        let beyond = Region { offset: 8, len: 5, ..region.clone() };
        assert!(map_read(&beyond).is_err(), "a region past the end is refused");
        assert_eq!(remove_results(coordinator), 1);
        assert!(!region.path.exists());
    }

    #[test]
    fn a_stale_segment_is_swept_and_a_live_one_kept() {
        let dead = 4_100_000 + std::process::id() % 100_000;
        let stale = write_result_segment(dead, 2, b"left by a crash").unwrap();
        let live = crate::grid::SharedBytes::create(16).unwrap();
        let live_path = live.path();
        assert!(sweep_stale() >= 1);
        assert!(!stale.path.exists(), "the dead run's segment is gone");
        assert!(live_path.exists(), "this live process's segment is kept");
    }

    #[test]
    fn owner_pids_are_read_from_names() {
        assert_eq!(owner_pid("medimpute-1234-7"), Some(1234));
        assert_eq!(owner_pid("medimpute-1234-r55-0"), Some(1234));
        assert_eq!(owner_pid("medimpute-x"), None);
        assert_eq!(owner_pid("other-1234-1"), None);
        assert_eq!(owner_pid(".medimpute-1234-3.shared"), Some(1234));
        assert_eq!(owner_pid(".medimpute-1234-3.partial"), None);
    }
}
