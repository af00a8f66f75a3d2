//! The grid: `(items, admissions, hours)` little-endian `float32` values in C order, stored as a
//! complete `.npy` image (header and data) in any byte storage.
//!
//! Keeping the header inside the storage means a heap buffer, a memory-mapped file and a shared
//! memory segment ([`SharedBytes`]) hold the very same bytes: a worker process that maps the segment, or numpy
//! reading the file with `mmap_mode="r"`, sees the grid without a conversion step, and writing
//! the file is one copy of the bytes.
//!
//! Layout: every item's block of `admissions * hours` values is contiguous, and so is every
//! (item, admission) series of `hours` values, oldest hour first. Imputation works one series
//! or one item block at a time, so both are plain slices here.

mod axes;
mod blocks;
mod npy;
mod observed;
mod shared;
mod storage;

pub use axes::{AdmissionAxis, Axes};
pub use blocks::{ItemBlocks, NpyFile, SliceBlocks};
pub use npy::{npy_header, npy_header_len};
pub use observed::write_observed_mask;
pub use shared::stale as shared_stale;
pub use shared::{shmem_gets_huge_pages, SharedBytes, SEGMENT_PREFIX, SHM_DIR};
pub use storage::{ByteStorage, HeapBytes, MemoryBytes, SampledGridHome};

use crate::error::{Error, Result};
use std::path::Path;

/// The dimensions of a grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GridShape {
    pub items: usize,
    pub admissions: usize,
    pub hours: usize,
}

impl GridShape {
    /// Number of values (bins) in the grid.
    pub fn len(&self) -> usize {
        self.items * self.admissions * self.hours
    }

    /// Whether the grid holds no value at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of values in one item's block.
    pub fn item_block_len(&self) -> usize {
        self.admissions * self.hours
    }

    /// Flat index of bin `hour` of `admission`'s series of `item`.
    #[inline]
    pub fn index(&self, item: usize, admission: usize, hour: usize) -> usize {
        debug_assert!(item < self.items && admission < self.admissions && hour < self.hours);
        (item * self.admissions + admission) * self.hours + hour
    }

    /// Size of the data part in bytes.
    pub fn data_bytes(&self) -> usize {
        self.len() * std::mem::size_of::<f32>()
    }

    /// Size of the whole `.npy` image (header and data) in bytes.
    pub fn npy_bytes(&self) -> usize {
        npy_header_len(self) + self.data_bytes()
    }
}

/// A grid over some byte storage `S` holding a complete `.npy` image.
pub struct Grid<S> {
    storage: S,
    shape: GridShape,
    data_offset: usize,
}

impl<S: ByteStorage> Grid<S> {
    /// Writes a fresh header into `storage` (which must be exactly `shape.npy_bytes()` long)
    /// and returns the grid over it. The data bytes are left as they are.
    pub fn create(mut storage: S, shape: GridShape) -> Self {
        let header = npy_header(&shape);
        let bytes = storage.bytes_mut();
        assert_eq!(bytes.len(), shape.npy_bytes(), "storage size does not match the shape");
        bytes[..header.len()].copy_from_slice(&header);
        Grid { storage, shape, data_offset: header.len() }
    }

    /// Reads the header of an existing image; `origin` names it in errors.
    pub fn open(storage: S, origin: &Path) -> Result<Self> {
        let bad = |reason: String| Error::BadGrid { path: origin.to_path_buf(), reason };
        let (shape, data_offset) = npy::parse_header(storage.bytes()).map_err(bad)?;
        if storage.bytes().len() != data_offset + shape.data_bytes() {
            return Err(bad(format!(
                "file holds {} bytes, the header's shape needs {}",
                storage.bytes().len(),
                data_offset + shape.data_bytes()
            )));
        }
        Ok(Grid { storage, shape, data_offset })
    }

    /// The grid's dimensions.
    pub fn shape(&self) -> GridShape {
        self.shape
    }

    /// All values, in C order.
    /// Where the values start in the storage's bytes (after the `.npy` header).
    pub fn data_offset(&self) -> usize {
        self.data_offset
    }

    pub fn values(&self) -> &[f32] {
        bytemuck::cast_slice(&self.storage.bytes()[self.data_offset..])
    }

    /// All values, mutable, in C order.
    pub fn values_mut(&mut self) -> &mut [f32] {
        bytemuck::cast_slice_mut(&mut self.storage.bytes_mut()[self.data_offset..])
    }

    /// The `hours` values of one (item, admission) series.
    pub fn series(&self, item: usize, admission: usize) -> &[f32] {
        let start = self.shape.index(item, admission, 0);
        &self.values()[start..start + self.shape.hours]
    }

    /// An ndarray view, for code that prefers axes to flat indices.
    pub fn view(&self) -> ndarray::ArrayView3<'_, f32> {
        let s = self.shape;
        ndarray::ArrayView3::from_shape((s.items, s.admissions, s.hours), self.values())
            .expect("shape and length agree by construction")
    }

    /// The complete `.npy` image.
    pub fn as_npy_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// The storage, e.g. to name a shared segment to worker processes.
    pub fn storage(&self) -> &S {
        &self.storage
    }

    /// Gives the storage back (to flush or persist a file, for instance).
    pub fn into_storage(self) -> S {
        self.storage
    }
}

impl Grid<HeapBytes> {
    /// A grid in heap memory with every value set to `fill`.
    pub fn in_memory(shape: GridShape, fill: f32) -> Self {
        let mut grid = Grid::create(HeapBytes::zeroed(shape.npy_bytes()), shape);
        if fill.to_bits() != 0 {
            grid.values_mut().fill(fill);
        }
        grid
    }

    /// Reads a whole `.npy` grid file into memory.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::input(path, e))?;
        Grid::open(HeapBytes::from_bytes(&bytes), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::ViewNpyExt;

    fn shape() -> GridShape {
        GridShape { items: 2, admissions: 3, hours: 4 }
    }

    #[test]
    fn series_are_contiguous_and_items_are_blocks() {
        let s = shape();
        assert_eq!(s.index(0, 0, 3), 3);
        assert_eq!(s.index(0, 1, 0), 4);
        assert_eq!(s.index(1, 0, 0), s.item_block_len());
        assert_eq!(s.index(1, 2, 3), s.len() - 1);
    }

    #[test]
    fn image_is_an_npy_file_ndarray_npy_can_view() {
        let mut grid = Grid::in_memory(shape(), f32::NAN);
        let i = shape().index(1, 2, 3);
        grid.values_mut()[i] = 42.5;
        let view = ndarray::ArrayView3::<f32>::view_npy(grid.as_npy_bytes()).unwrap();
        assert_eq!(view.dim(), (2, 3, 4));
        assert_eq!(view[[1, 2, 3]], 42.5);
        assert!(view[[0, 0, 0]].is_nan());
        assert_eq!(grid.series(1, 2)[3], 42.5);
    }

    #[test]
    fn open_reads_back_what_create_wrote_and_rejects_truncation() {
        let grid = Grid::in_memory(shape(), 1.0);
        let bytes = grid.as_npy_bytes().to_vec();
        let again = Grid::open(HeapBytes::from_bytes(&bytes), Path::new("g.npy")).unwrap();
        assert_eq!(again.shape(), shape());
        assert_eq!(again.values(), grid.values());
        let cut = HeapBytes::from_bytes(&bytes[..bytes.len() - 4]);
        let err = Grid::open(cut, Path::new("g.npy")).err().unwrap();
        assert!(err.to_string().contains("g.npy"), "{err}");
    }
}
