//! Byte storages a [`Grid`](super::Grid) can live in.
//!
//! One trait, three homes: heap memory (tests, small jobs), a memory-mapped output file (grids
//! larger than RAM: the kernel pages them out to the file), and, for worker processes, a shared
//! memory segment.

use crate::error::{Error, Result};
use memmap2::MmapMut;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Contiguous bytes a grid can be viewed over. Implementations must hand out 8-byte aligned
/// slices so that the data part (64-byte aligned inside the image) can be viewed as `f32`.
pub trait ByteStorage {
    fn bytes(&self) -> &[u8];
    fn bytes_mut(&mut self) -> &mut [u8];
}

/// Heap bytes with 8-byte alignment (a `Vec<u8>` promises only 1).
#[derive(Clone, Debug)]
pub struct HeapBytes {
    words: Vec<u64>,
    len: usize,
}

impl HeapBytes {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        HeapBytes { words: vec![0; len.div_ceil(8)], len }
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
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
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
    /// Creates a zero-filled (sparse where the file system allows) file of `len` bytes.
    pub fn create(destination: &Path, len: usize) -> Result<Self> {
        let out_err = |e| Error::output(destination, e);
        let file = crate::output::temp_beside(destination)?;
        file.as_file().set_len(len as u64).map_err(out_err)?;
        // SAFETY: the file is ours alone: freshly created under a random name, not shared.
        let map = unsafe { MmapMut::map_mut(file.as_file()) }.map_err(out_err)?;
        Ok(FileGrid { map, file, destination: destination.to_path_buf() })
    }

    /// Flushes the mapping and renames the file to its destination.
    pub fn persist(self) -> Result<()> {
        let FileGrid { map, file, destination } = self;
        map.flush().map_err(|e| Error::output(&destination, e))?;
        drop(map);
        crate::output::persist(file, &destination)
    }

    /// The underlying file, e.g. to read its size.
    pub fn file(&self) -> &File {
        self.file.as_file()
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
