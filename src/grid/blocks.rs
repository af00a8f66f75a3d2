//! Where an imputed grid's item blocks go: each item's block is written once, whole, by
//! whichever thread finished it, in whatever order the items finish.
//!
//! To the output file a block goes by a positioned write into the page cache ([`NpyFile`]).
//! The file used to be mapped and filled through the mapping. Every first write into a page of
//! the new file was then a page fault. In that fault ext4 read the page (zeros, the blocks
//! being allocated but unwritten) before the copy could start. In `perf`, that `memset` inside
//! `ext4_mpage_readpages` was 13-20% of a 400-subject `linear` job. How many pages each fault
//! brought in (the readahead) also changed from run to run, and with it the job's time.
//! Sampling's output left its mapping for the same reason (see
//! [`write_staged_in_parts`](crate::output::write_staged_in_parts)).
//!
//! Worker processes over shared memory still write their blocks in place through a mapping of
//! the same file ([`NpyFile::temp_path`]): the page cache is one, whoever writes it.

use super::GridShape;
use crate::error::{Error, Result};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Receives the finished blocks of a grid's items (`shape.item_block_len()` values each, as
/// little-endian `f32` bytes).
pub trait ItemBlocks: Sync {
    /// Stores item `item`'s block. Called at most once per item, from any thread.
    fn put(&self, item: usize, bytes: &[u8]) -> Result<()>;
}

/// The item blocks of a grid in memory (`evaluate`, tests).
pub struct SliceBlocks<'a> {
    blocks: Vec<Mutex<&'a mut [f32]>>,
}

impl<'a> SliceBlocks<'a> {
    /// `values` cut into blocks of `block_len` values, one per item.
    pub fn new(values: &'a mut [f32], block_len: usize) -> Self {
        SliceBlocks { blocks: values.chunks_mut(block_len.max(1)).map(Mutex::new).collect() }
    }
}

impl ItemBlocks for SliceBlocks<'_> {
    fn put(&self, item: usize, bytes: &[u8]) -> Result<()> {
        // One lock per item, taken once: never contended.
        let mut block = self.blocks[item].lock().unwrap_or_else(|e| e.into_inner());
        bytemuck::cast_slice_mut::<f32, u8>(&mut block).copy_from_slice(bytes);
        Ok(())
    }
}

/// A `.npy` grid file being written: header first, then item blocks by positioned writes, under
/// a temporary name beside its destination, renamed into place by [`NpyFile::persist`].
/// Dropped without `persist` (an error, Ctrl-C), the temporary file is removed, so a failed run
/// never leaves a partial grid at the destination.
pub struct NpyFile {
    file: tempfile::NamedTempFile,
    destination: PathBuf,
    data_offset: u64,
    block_bytes: u64,
}

impl NpyFile {
    /// Creates the file for a grid of `shape` with its header written and its data zero, its
    /// blocks allocated where the file system can ([`allocate`](crate::output::allocate): a
    /// full disk is an error here rather than at the last block).
    pub fn create(destination: &Path, shape: GridShape) -> Result<Self> {
        let out_err = |e| Error::output(destination, e);
        let file = crate::output::temp_beside(destination)?;
        crate::output::allocate(file.as_file(), shape.npy_bytes() as u64).map_err(out_err)?;
        let header = super::npy_header(&shape);
        file.as_file().write_all_at(&header, 0).map_err(out_err)?;
        Ok(NpyFile {
            file,
            destination: destination.to_path_buf(),
            data_offset: header.len() as u64,
            block_bytes: (shape.item_block_len() * 4) as u64,
        })
    }

    /// The temporary file's path (worker processes map it to write in place).
    pub fn temp_path(&self) -> &Path {
        self.file.path()
    }

    /// Where the values start in the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Renames the file to its destination.
    ///
    /// No `fsync`: the kernel writes the pages back on its own schedule, as for any `write`.
    /// What the rename guarantees is that no reader ever sees a partial grid under the
    /// destination's name; durability across a power cut would need an fsync that numpy's own
    /// `save` does not do either.
    pub fn persist(self) -> Result<()> {
        crate::output::persist(self.file, &self.destination)
    }
}

impl ItemBlocks for NpyFile {
    fn put(&self, item: usize, bytes: &[u8]) -> Result<()> {
        assert_eq!(bytes.len() as u64, self.block_bytes, "one whole item block");
        let offset = self.data_offset + item as u64 * self.block_bytes;
        self.file
            .as_file()
            .write_all_at(bytes, offset)
            .map_err(|e| Error::output(&self.destination, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;

    #[test]
    fn blocks_written_in_any_order_make_the_grid() {
        let shape = GridShape { items: 3, admissions: 2, hours: 5 };
        let n = shape.item_block_len();
        let block = |i: usize| -> Vec<f32> { (0..n).map(|k| (i * 100 + k) as f32).collect() };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("g.npy");
        let file = NpyFile::create(&out, shape).unwrap();
        let mut memory = vec![f32::NAN; shape.len()];
        let slices = SliceBlocks::new(&mut memory, n);
        for i in [2, 0, 1] {
            file.put(i, bytemuck::cast_slice(&block(i))).unwrap();
            slices.put(i, bytemuck::cast_slice(&block(i))).unwrap();
        }
        drop(slices);
        // Nothing at the destination until persisted.
        assert!(!out.exists());
        file.persist().unwrap();
        let grid = Grid::read(&out).unwrap();
        assert_eq!(grid.shape(), shape);
        let expected: Vec<f32> = (0..3).flat_map(block).collect();
        assert_eq!(grid.values(), &expected[..]);
        assert_eq!(memory, expected);
    }

    #[test]
    fn an_unpersisted_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let shape = GridShape { items: 2, admissions: 1, hours: 4 };
        let file = NpyFile::create(&dir.path().join("g.npy"), shape).unwrap();
        file.put(1, &[0u8; 16]).unwrap();
        drop(file);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
