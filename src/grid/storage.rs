//! Byte storages a [`Grid`](super::Grid) can live in.
//!
//! One trait, two homes: heap memory (tests, small jobs) and shared bytes (a segment or a
//! scratch file, which worker processes can map and which can be larger than RAM). An imputed
//! grid is written to its file by item blocks instead ([`NpyFile`](super::NpyFile)).

use crate::error::{Error, Result};
use memmap2::MmapMut;
use std::path::Path;

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
