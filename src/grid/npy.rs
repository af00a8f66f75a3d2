//! The `.npy` version 1.0 header for a C-order 3-d array: little-endian `float32` (the grid)
//! or `uint8` (its observed mask).
//!
//! Writing is done here because the header must go into storage that is not a file (a heap
//! buffer, a shared-memory segment) before any data exists; reading is delegated to
//! `ndarray-npy`, which validates dtype, order, endianness and alignment.

use super::GridShape;
use ndarray_npy::ViewNpyExt;

const MAGIC: &[u8] = b"\x93NUMPY\x01\x00";

/// The grid's values: little-endian `float32`.
const GRID_DTYPE: &str = "<f4";

/// The observed mask's flags: `uint8` (numpy writes one-byte types as `|u1`).
pub const MASK_DTYPE: &str = "|u1";

/// The header's text, before padding.
fn header_dict(dtype: &str, shape: &GridShape) -> String {
    format!(
        "{{'descr': '{dtype}', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        shape.items, shape.admissions, shape.hours
    )
}

/// Total header length: padded so that the data starts on a 64-byte boundary, as numpy does.
pub fn npy_header_len(shape: &GridShape) -> usize {
    typed_header_len(GRID_DTYPE, shape)
}

fn typed_header_len(dtype: &str, shape: &GridShape) -> usize {
    let unpadded = MAGIC.len() + 2 + header_dict(dtype, shape).len() + 1;
    unpadded.div_ceil(64) * 64
}

/// The complete header bytes (magic, version, length, dict, spaces, newline) of a grid.
pub fn npy_header(shape: &GridShape) -> Vec<u8> {
    typed_header(GRID_DTYPE, shape)
}

/// The complete header bytes of an array of `dtype` (a numpy type string) and `shape`.
pub fn typed_header(dtype: &str, shape: &GridShape) -> Vec<u8> {
    let total = typed_header_len(dtype, shape);
    let dict = header_dict(dtype, shape);
    let dict_len = u16::try_from(total - MAGIC.len() - 2).expect("header fits version 1.0");
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&dict_len.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(total - 1, b' ');
    out.push(b'\n');
    out
}

/// Parses a grid image's header: its shape and where the data starts.
pub fn parse_header(bytes: &[u8]) -> Result<(GridShape, usize), String> {
    let view = ndarray::ArrayView3::<f32>::view_npy(bytes).map_err(|e| e.to_string())?;
    let (items, admissions, hours) = view.dim();
    if !view.is_standard_layout() {
        return Err("the array is in Fortran order; medimpute grids are C order".to_string());
    }
    let shape = GridShape { items, admissions, hours };
    Ok((shape, bytes.len() - shape.data_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_64_byte_aligned_and_newline_terminated() {
        for shape in [
            GridShape { items: 1, admissions: 1, hours: 1 },
            GridShape { items: 77, admissions: 4_000_000, hours: 720 },
        ] {
            let header = npy_header(&shape);
            assert_eq!(header.len() % 64, 0);
            assert_eq!(header.len(), npy_header_len(&shape));
            assert_eq!(*header.last().unwrap(), b'\n');
            assert!(header.starts_with(MAGIC));
        }
    }
}
