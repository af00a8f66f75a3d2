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
    pub fn zeroed(len: usize) -> Self {
        // A zero-length anonymous map is refused by the kernel: map one byte and expose none.
        let map = MmapMut::map_anon(len.max(1)).expect("allocate anonymous memory");
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        HeapBytes { map, len }
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

/// A sampled grid's bytes: private (heap), or shared with worker processes (a segment or a
/// scratch file, see [`SharedBytes::for_grid`](super::SharedBytes::for_grid)).
pub enum MemoryBytes {
    Heap(HeapBytes),
    Shared(super::SharedBytes),
}

impl MemoryBytes {
    /// `len` zero bytes: on the heap, or shared for a job whose output is `Some(out)`.
    pub fn zeroed(len: usize, shared_near: Option<&Path>) -> Result<Self> {
        Ok(match shared_near {
            Some(out) => MemoryBytes::Shared(super::SharedBytes::for_grid(len, out)?),
            None => MemoryBytes::Heap(HeapBytes::zeroed(len)),
        })
    }

    /// The shared bytes, when shared.
    pub fn shared(&self) -> Option<&super::SharedBytes> {
        match self {
            MemoryBytes::Heap(_) => None,
            MemoryBytes::Shared(segment) => Some(segment),
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
