//! Byte storages a [`Grid`](super::Grid) can live in.
//!
//! One trait, three homes: heap memory (tests, small jobs), a memory-mapped output file (grids
//! larger than RAM: the kernel pages them out to the file), and, for worker processes, shared
//! bytes (a segment or a scratch file).

use crate::error::{Error, Result};
use memmap2::MmapMut;
use std::path::{Path, PathBuf};

/// Contiguous bytes a grid can be viewed over. Implementations must hand out page-aligned
/// slices so that the data part (64-byte aligned inside the image) can be viewed as `f32`.
pub trait ByteStorage {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
}

/// Anonymous memory: page-aligned, zero-filled by the kernel, and advised to use huge pages
/// (where the kernel has transparent huge pages in `madvise` mode), which turns the hundreds of
/// thousands of 4 KiB page faults of a multi-GB grid into a few thousand.
pub struct HeapBytes {
    map: MmapMut,
    len: usize,
}

impl HeapBytes {
    /// `len` zero bytes.
    ///
    /// # Panics
    /// If the memory cannot be mapped; [`HeapBytes::try_zeroed`] says why instead.
    pub fn zeroed(len: usize) -> Self {
        HeapBytes::try_zeroed(len).expect("allocate anonymous memory")
    }

    /// `len` zero bytes, or the kernel's refusal (a data-segment limit, no address space).
    pub fn try_zeroed(len: usize) -> std::io::Result<Self> {
        // A zero-length anonymous map is refused by the kernel: map one byte and expose none.
        let map = MmapMut::map_anon(len.max(1))?;
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(HeapBytes { map, len })
    }

    /// A copy of `bytes`.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut heap = HeapBytes::zeroed(bytes.len());
        heap.bytes_mut().copy_from_slice(bytes);
        heap
    }
}

impl ByteStorage for HeapBytes {
    fn bytes(&self) -> &[u8] {
        &self.map[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map[..self.len]
    }
}

impl ByteStorage for MmapMut {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self
    }
}

/// A grid file being written: mapped read-write under a temporary name beside its destination,
/// renamed into place by [`FileGrid::persist`]. Dropped without `persist` (an error, Ctrl-C),
/// the temporary file is removed, so a failed run never leaves a partial grid at the
/// destination.
pub struct FileGrid {
    map: MmapMut,
    file: tempfile::NamedTempFile,
    destination: PathBuf,
}

impl FileGrid {
    /// Creates a zero-filled file of `len` bytes, its blocks allocated where the file system
    /// can ([`allocate`](crate::output::allocate): faster first writes, and a full disk is an
    /// error here rather than a SIGBUS later).
    pub fn create(destination: &Path, len: usize) -> Result<Self> {
        let out_err = |e| Error::output(destination, e);
        let file = crate::output::temp_beside(destination)?;
        crate::output::allocate(file.as_file(), len as u64).map_err(out_err)?;
        // Pages are faulted in by the threads that first write them, in parallel; mapping them
        // all up front (MAP_POPULATE) was measured to only move that kernel time into one
        // thread before the parallel work starts.
        // SAFETY: the file is ours alone: freshly created under a random name, not shared.
        let map = unsafe { MmapMut::map_mut(file.as_file()) }.map_err(out_err)?;
        Ok(FileGrid { map, file, destination: destination.to_path_buf() })
    }

    /// The temporary file's path (workers map it to write in place).
    pub fn temp_path(&self) -> &Path {
        self.file.path()
    }

    /// Unmaps the file and renames it to its destination.
    ///
    /// No `msync`: the kernel writes the pages back on its own schedule, as it does for any
    /// `write`. What the rename guarantees is that no reader ever sees a partial grid under the
    /// destination's name; durability across a power cut would need an fsync that numpy's own
    /// `save` does not do either, and a forced write-back of the whole grid would make every run
    /// wait for the disk.
    pub fn persist(self) -> Result<()> {
        let FileGrid { map, file, destination } = self;
        drop(map);
        crate::output::persist(file, &destination)
    }
}

impl ByteStorage for FileGrid {
    fn bytes(&self) -> &[u8] {
        &self.map
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

/// Where `run` keeps the grid it samples until the imputation has read it (`--sampled-grid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampledGridHome {
    /// In memory when the grid takes at most half the memory this process may fill
    /// ([`crate::memory::room`]), else on disk: the other half is for the sampled events, the
    /// imputation's buffers and the output's dirty pages.
    #[default]
    Auto,
    /// In memory: anonymous memory, or shared memory for worker processes. Fastest; a grid
    /// larger than the memory this process may fill is killed by the kernel (out of memory).
    Memory,
    /// In a scratch file beside the output, mapped shared: the kernel writes its pages back to
    /// disk and drops them when memory runs short, so grids larger than RAM work. Removed when
    /// the job ends, on success, error or Ctrl-C alike.
    Disk,
}

impl SampledGridHome {
    pub const NAMES: &'static str = "auto, memory, disk";

    /// Whether a grid of `len` bytes is kept in memory, and why, in words for the report.
    pub fn decide(self, len: usize) -> (bool, String) {
        match self {
            SampledGridHome::Memory => (true, "--sampled-grid memory".into()),
            SampledGridHome::Disk => (false, "--sampled-grid disk".into()),
            SampledGridHome::Auto => match crate::memory::room() {
                None => (true, "the memory free to this process is not known".into()),
                Some(room) => {
                    let fits = len as u64 <= room.bytes / 2;
                    let relation = if fits { "at most" } else { "more than" };
                    let free = crate::memory::human(room.bytes);
                    let bound = room.bound.describe();
                    (fits, format!("{relation} half of the {free} free to this process: {bound}"))
                }
            },
        }
    }
}

impl std::str::FromStr for SampledGridHome {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(SampledGridHome::Auto),
            "memory" => Ok(SampledGridHome::Memory),
            "disk" => Ok(SampledGridHome::Disk),
            _ => Err(format!("'{s}': expected one of {}", SampledGridHome::NAMES)),
        }
    }
}

/// A sampled grid's bytes: private (heap), or in shared bytes (a segment or a scratch file, see
/// [`SharedBytes::for_grid`](super::SharedBytes::for_grid)) that worker processes can map and
/// that, as a file, can be larger than memory.
pub enum MemoryBytes {
    Heap(HeapBytes),
    Shared(super::SharedBytes),
}

impl MemoryBytes {
    /// `len` zero bytes for the grid of a job whose output is `out`: shared with worker
    /// processes when `shared`, in memory or in a scratch file beside `out` as `in_memory`
    /// says ([`SampledGridHome::decide`]).
    pub fn for_sampled_grid(len: usize, in_memory: bool, shared: bool, out: &Path) -> Result<Self> {
        if shared || !in_memory {
            return Ok(MemoryBytes::Shared(super::SharedBytes::for_grid(len, out, in_memory)?));
        }
        let heap = HeapBytes::try_zeroed(len)
            .map_err(|source| Error::GridMemory { bytes: len as u64, source })?;
        Ok(MemoryBytes::Heap(heap))
    }

    /// The shared bytes, when shared.
    pub fn shared(&self) -> Option<&super::SharedBytes> {
        match self {
            MemoryBytes::Heap(_) => None,
            MemoryBytes::Shared(segment) => Some(segment),
        }
    }

    /// Where the bytes are, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            MemoryBytes::Heap(_) => "in memory",
            MemoryBytes::Shared(shared) if shared.is_segment() => "in a shared-memory segment",
            MemoryBytes::Shared(_) => "in a scratch file beside the output",
        }
    }
}

impl ByteStorage for MemoryBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            MemoryBytes::Heap(b) => b.bytes(),
            MemoryBytes::Shared(b) => b.bytes(),
        }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            MemoryBytes::Heap(b) => b.bytes_mut(),
            MemoryBytes::Shared(b) => b.bytes_mut(),
        }
    }
}
