//! Bytes shared with worker processes: the region that they map to read the observed grid and
//! write imputed values in place, with no serialization.
//!
//! Two homes, one type: a POSIX shared-memory segment (`/dev/shm`), and a scratch file in a
//! directory of the caller's choosing (beside the job's output). The file is there for the
//! page size. Where the kernel gives shared memory no transparent huge pages
//! (`shmem_enabled` is `never` on most distributions, and on this project's machines), a
//! segment is mapped in 4 KiB pages while the threads backend's heap grid gets 2 MiB ones;
//! file systems with large folios (ext4 and xfs on recent kernels) map a file's page cache in
//! 2 MiB entries. On this project's VM that was the whole of shm's remaining gap to threads
//! (docs/RESULTS.md, section 2, sessions 7 and 8). [`SharedBytes::for_grid`] picks the home.
//!
//! The creating process owns the bytes and removes them when the storage is dropped, on
//! success, error or Ctrl-C alike; processes that open them by name only map them. Names are
//! `medimpute-<pid>-<n>` (segments) and `.medimpute-<pid>-<n>.shared` (files) so that one left
//! by a killed run can be recognised as ours and removed ([`stale`]).

use super::ByteStorage;
use crate::error::{Error, Result};
use memmap2::MmapMut;
use shared_memory::{Shmem, ShmemConf};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes shared with worker processes: a segment or a scratch file.
pub struct SharedBytes {
    home: Home,
    len: usize,
}

enum Home {
    Segment(Shmem),
    /// A scratch file mapped shared, removed on drop.
    File {
        map: MmapMut,
        path: PathBuf,
    },
}

/// The prefix of every segment this engine creates (and, after a dot, of its scratch files).
pub const SEGMENT_PREFIX: &str = "medimpute-";

/// The suffix of scratch files holding shared bytes.
const FILE_SUFFIX: &str = ".shared";

/// Where POSIX shared-memory segments appear as files on Linux.
pub const SHM_DIR: &str = "/dev/shm";

fn segment_error(id: &str, error: shared_memory::ShmemError) -> Error {
    Error::output(&Path::new(SHM_DIR).join(id), std::io::Error::other(error))
}

/// Backs every page of a new mapping at once. Its creator writes all of it (a sampled grid,
/// whose every bin ends as a mean or NaN; a staged copy), and, page by page, the faults of a
/// 907 MB grid in 4 KiB pages cost this project's VM 0.7-2.8 s, on the coordinator, against
/// 0.5 s for one populate call (docs/RESULTS.md, section 2). Kernels before 5.14 refuse the
/// advice; pages then come as they are touched, as before.
///
/// Most of the call's time is the kernel zeroing pages, which parallelizes: the range is cut
/// into one part per core (parts of at least [`POPULATE_PART`]), each advised on its own
/// thread. For 907 MB on 2 cores: 0.30 s on two threads against 0.50-0.85 s on one
/// (`madvise` timed from Python, 2 runs each).
fn populate(base: *mut u8, len: usize) {
    if len == 0 {
        return;
    }
    const PAGE: usize = 4096;
    let cores = crate::backend::available_cores();
    let parts = len.div_ceil(POPULATE_PART).clamp(1, cores);
    let part = len.div_ceil(parts).next_multiple_of(PAGE);
    let base = base as usize;
    let advise = |start: usize| {
        let end = (start + part).min(len);
        // SAFETY: the range lies inside this process's fresh mapping (`start` is
        // page-aligned, as the mapping is); the advice only allocates and maps its pages
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

/// The smallest part of a mapping worth a thread of its own when populating it.
const POPULATE_PART: usize = 64 << 20;

/// A fresh name for bytes this process creates: `medimpute-<pid>-<n>`.
fn fresh_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{SEGMENT_PREFIX}{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Whether the kernel backs shared memory with transparent huge pages: `shmem_enabled` set to
/// `always`, `within_size`, `advise` (segments are advised) or `force`. Unknown (no such file)
/// counts as no.
pub fn shmem_gets_huge_pages() -> bool {
    let path = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";
    huge_pages_chosen(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Whether a `shmem_enabled` setting (`always within_size advise [never] deny force`) has
/// huge pages chosen.
fn huge_pages_chosen(setting: &str) -> bool {
    let chosen = setting.split('[').nth(1).and_then(|s| s.split(']').next()).unwrap_or("");
    matches!(chosen, "always" | "within_size" | "advise" | "force")
}

impl SharedBytes {
    /// Creates a zero-filled segment of `len` bytes, owned by this process.
    pub fn create(len: usize) -> Result<Self> {
        let id = fresh_name();
        // The kernel refuses empty segments: map one byte and expose none.
        let shmem = ShmemConf::new()
            .os_id(&id)
            .size(len.max(1))
            .create()
            .map_err(|e| segment_error(&id, e))?;
        #[cfg(target_os = "linux")]
        // SAFETY: advice on this process's fresh mapping; it changes no contents.
        unsafe {
            libc::madvise(shmem.as_ptr() as *mut libc::c_void, len.max(1), libc::MADV_HUGEPAGE);
        }
        populate(shmem.as_ptr(), len);
        Ok(SharedBytes { home: Home::Segment(shmem), len })
    }

    /// Creates a zero-filled scratch file of `len` bytes in `dir`, mapped shared and owned by
    /// this process. Its blocks are allocated up front where the file system can
    /// ([`allocate`](crate::output::allocate)); with `populate`, every page is then backed,
    /// as for a segment. Without, pages come as they are first written: what a file larger
    /// than memory needs, since backing every page would only make the kernel write the
    /// first ones back to disk to make room for the last.
    pub fn create_file(dir: &Path, len: usize, populate: bool) -> Result<Self> {
        let path = dir.join(format!(".{}{FILE_SUFFIX}", fresh_name()));
        let out_err = |e| Error::output(&path, e);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(out_err)?;
        // From here the file is removed on every way out, errors included.
        let mut guard = RemoveOnDrop(Some(path.clone()));
        crate::output::allocate(&file, len.max(1) as u64).map_err(out_err)?;
        // SAFETY: a fresh file under a new name that only this run's processes open.
        let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(out_err)?;
        if populate {
            self::populate(map.as_mut_ptr(), len);
        }
        guard.0 = None;
        Ok(SharedBytes { home: Home::File { map, path }, len })
    }

    /// Creates `len` zero bytes for a whole grid shared with worker processes: a scratch file
    /// beside `near` (the job's output, on the file system the imputed grid goes to) where the
    /// kernel gives shared memory no huge pages or the grid is not to be held in memory
    /// (`in_memory` false: a segment is memory, a file's pages can go back to disk), else a
    /// segment (see the module's doc). Scratch files left there by killed runs are removed
    /// first.
    pub fn for_grid(len: usize, near: &Path, in_memory: bool) -> Result<Self> {
        if in_memory && shmem_gets_huge_pages() {
            return Self::create(len);
        }
        let dir = crate::output::directory_of(near)?;
        stale::sweep_files(dir);
        Self::create_file(dir, len, in_memory)
    }

    /// Maps an existing segment by its name (as [`SharedBytes::path`]'s last component gives
    /// it); the segment stays its creator's to remove.
    pub fn open(os_id: &str, len: usize) -> Result<Self> {
        let shmem = ShmemConf::new().os_id(os_id).open().map_err(|e| segment_error(os_id, e))?;
        if shmem.len() < len {
            return Err(Error::BadGrid {
                path: Path::new(SHM_DIR).join(os_id),
                reason: format!("segment holds {} bytes, {len} expected", shmem.len()),
            });
        }
        Ok(SharedBytes { home: Home::Segment(shmem), len })
    }

    /// The file other processes map to see these bytes: `/dev/shm/<name>` for a segment, the
    /// scratch file's path otherwise.
    pub fn path(&self) -> PathBuf {
        match &self.home {
            Home::Segment(shmem) => Path::new(SHM_DIR).join(shmem.get_os_id()),
            Home::File { path, .. } => path.clone(),
        }
    }

    /// Whether the bytes live in a `/dev/shm` segment (rather than a scratch file).
    pub fn is_segment(&self) -> bool {
        matches!(self.home, Home::Segment(_))
    }

    fn as_ptr(&self) -> *const u8 {
        match &self.home {
            Home::Segment(shmem) => shmem.as_ptr(),
            Home::File { map, .. } => map.as_ptr(),
        }
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        match &mut self.home {
            Home::Segment(shmem) => shmem.as_ptr(),
            Home::File { map, .. } => map.as_mut_ptr(),
        }
    }
}

/// Removes a path when dropped, unless disarmed (`.0 = None`).
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for SharedBytes {
    fn drop(&mut self) {
        if let Home::File { path, .. } = &self.home {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Recognising and removing what killed runs left: names carry the owner's pid.
pub mod stale {
    use super::{FILE_SUFFIX, SEGMENT_PREFIX};
    use std::path::{Path, PathBuf};

    /// The owner's pid in `medimpute-<pid>-...` (a segment) or `.medimpute-<pid>-....shared`
    /// (a scratch file).
    pub fn owner_pid(name: &str) -> Option<u32> {
        let name = match name.strip_prefix('.') {
            Some(file) => file.strip_suffix(FILE_SUFFIX)?,
            None => name,
        };
        name.strip_prefix(SEGMENT_PREFIX)?.split('-').next()?.parse().ok()
    }

    /// Whether process `pid` exists.
    pub fn process_alive(pid: u32) -> bool {
        Path::new("/proc").join(pid.to_string()).exists()
    }

    /// Removes the entries of `dir` whose name `matches`. Returns how many.
    pub fn remove_matching(dir: &Path, matches: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
        let doomed: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(&matches))
            .map(|e| e.path())
            .collect();
        doomed.iter().filter(|p| std::fs::remove_file(p).is_ok()).count()
    }

    /// Removes the scratch files in `dir` whose owner is gone. Returns how many.
    pub fn sweep_files(dir: &Path) -> usize {
        remove_matching(dir, |name| {
            name.starts_with('.') && owner_pid(name).is_some_and(|pid| !process_alive(pid))
        })
    }
}

// SAFETY: the bytes are plain memory mapped for the whole process; `Shmem` holds a raw
// pointer only because the crate does not promise thread safety for its own bookkeeping, which
// this type never touches after creation; `MmapMut` is `Send + Sync` itself. Access follows
// Rust's borrow rules through `bytes`/`bytes_mut`, as for any heap buffer.
unsafe impl Send for SharedBytes {}
unsafe impl Sync for SharedBytes {}

impl ByteStorage for SharedBytes {
    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is at least `len` bytes and lives as long as `self`. Other
        // processes may write the segment concurrently; the engine's plan gives every task
        // disjoint bins, as it does for threads sharing a heap grid.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above; `&mut self` makes this process's view exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.as_mut_ptr(), self.len) }
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
        let name = owner.storage().path().file_name().unwrap().to_str().unwrap().to_string();
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
        let name = segment.path().file_name().unwrap().to_str().unwrap().to_string();
        assert!(resident_kb(&name) >= (len / 1024) as u64, "every page backed before use");
        let bytes = segment.bytes_mut();
        assert_eq!(bytes.len(), len);
        assert!(bytes.iter().step_by(4093).all(|&b| b == 0) && bytes[len - 1] == 0);
        bytes[len - 1] = 9;
        assert_eq!(segment.bytes()[len - 1], 9);
    }

    #[test]
    fn a_scratch_file_is_shared_through_its_path_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let len = 3 * 4096 + 10;
        let mut owner = SharedBytes::create_file(dir.path(), len, true).unwrap();
        let path = owner.path();
        assert!(!owner.is_segment());
        assert_eq!(path.parent(), Some(dir.path()));
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        assert_eq!(stale::owner_pid(&name), Some(std::process::id()), "{name}");
        assert!(owner.bytes().iter().all(|&b| b == 0));
        owner.bytes_mut()[len - 1] = 42;

        // What a worker process does: map the file by its path, read, write in place.
        let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
        // SAFETY: a test's own scratch file.
        let mut worker = unsafe { MmapMut::map_mut(&file) }.unwrap();
        assert_eq!(worker[len - 1], 42, "the owner's write is seen through the file");
        worker[7] = 9;
        drop(worker);
        assert_eq!(owner.bytes()[7], 9, "a worker's write is seen by the owner");

        drop(owner);
        assert!(!path.exists(), "the owner's drop removes the file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing else left");
    }

    #[test]
    fn stale_scratch_files_are_swept_and_live_or_foreign_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pids on Linux stay below 2^22: this owner cannot be alive.
        let dead = 4_190_000 + std::process::id() % 1000;
        let stale_file = dir.path().join(format!(".medimpute-{dead}-3.shared"));
        let foreign = [
            dir.path().join(format!(".medimpute-{dead}-3.partial")),
            dir.path().join(format!("medimpute-{dead}-3.shared")),
            dir.path().join("grid.npy"),
        ];
        for path in foreign.iter().chain([&stale_file]) {
            std::fs::write(path, b"x").unwrap();
        }
        let live = SharedBytes::create_file(dir.path(), 100, true).unwrap();
        assert_eq!(stale::sweep_files(dir.path()), 1);
        assert!(!stale_file.exists(), "the dead run's scratch file is gone");
        assert!(live.path().exists(), "this live process's file is kept");
        for path in &foreign {
            assert!(path.exists(), "{} is not a scratch file of ours", path.display());
        }
    }

    #[test]
    fn a_grid_goes_to_a_scratch_file_beside_the_output_exactly_when_segments_get_no_huge_pages() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub").join("grid.npy");
        let shared = SharedBytes::for_grid(4096, &out, true).unwrap();
        if shmem_gets_huge_pages() {
            assert!(shared.is_segment());
            assert!(shared.path().starts_with(SHM_DIR));
        } else {
            assert!(!shared.is_segment());
            assert_eq!(shared.path().parent(), out.parent(), "beside the output");
        }
    }

    #[test]
    fn the_shmem_setting_is_read_from_its_brackets() {
        assert!(!huge_pages_chosen("always within_size advise [never] deny force"));
        assert!(!huge_pages_chosen("always within_size advise never [deny] force"));
        assert!(huge_pages_chosen("[always] within_size advise never deny force"));
        assert!(huge_pages_chosen("always within_size [advise] never deny force"));
        assert!(huge_pages_chosen("always [within_size] advise never deny force\n"));
        assert!(!huge_pages_chosen(""), "no setting (no THP): no huge pages");
    }
}
