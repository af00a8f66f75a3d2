//! Accumulating bin means in place, in file order, so that results never depend on threads.
//!
//! Sums are kept in the output grid itself (`f32`, so no second grid-sized buffer) and counts
//! in a byte per bin, with the rare bin of more than 255 events counted on in a small map.
//! Memory stays at the grid plus a quarter of it, whatever the size of the export.
//!
//! Parsed events arrive grouped by item; each item's block of the grid is a disjoint slice, so
//! items are applied in parallel without locks, and within a bin events are added in file
//! order: the same floating-point sums for 1 thread or 64.

use crate::grid::{ByteStorage, GridShape, HeapBytes};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// An event placed in a bin: the bin's offset within its item's block, and the value.
#[derive(Clone, Copy, Debug)]
pub struct BinEvent {
    pub offset: u64,
    pub value: f32,
}

/// Per-bin sums and counts over a grid's values.
pub struct Accumulator<'g> {
    sums: &'g mut [f32],
    counts: HeapBytes,
    overflow: Vec<FxHashMap<u64, u32>>,
    block: usize,
}

impl<'g> Accumulator<'g> {
    /// Starts from `values`, which must be all zeros and `shape.len()` long.
    pub fn new(values: &'g mut [f32], shape: GridShape) -> Self {
        assert_eq!(values.len(), shape.len());
        Accumulator {
            sums: values,
            counts: HeapBytes::zeroed(shape.len()),
            overflow: vec![FxHashMap::default(); shape.items],
            block: shape.item_block_len().max(1),
        }
    }

    /// Adds events: `batches[p][item]` are the events of item `item` from piece `p`, pieces
    /// in file order.
    pub fn add(&mut self, batches: &[&[Vec<BinEvent>]]) {
        self.sums
            .par_chunks_mut(self.block)
            .zip(self.counts.bytes_mut().par_chunks_mut(self.block))
            .zip(self.overflow.par_iter_mut())
            .enumerate()
            .for_each(|(item, ((sums, counts), overflow))| {
                for piece in batches {
                    for event in &piece[item] {
                        let i = event.offset as usize;
                        sums[i] += event.value;
                        if counts[i] == u8::MAX {
                            *overflow.entry(event.offset).or_insert(0) += 1;
                        } else {
                            counts[i] += 1;
                        }
                    }
                }
            });
    }

    /// Turns sums into means, empty bins into NaN; returns the number of observed bins.
    pub fn finish(self) -> u64 {
        let Accumulator { sums, counts, overflow, block } = self;
        sums.par_chunks_mut(block)
            .zip(counts.bytes().par_chunks(block))
            .zip(overflow.par_iter())
            .map(|((sums, counts), overflow)| {
                let mut observed = 0u64;
                for (i, (sum, &count)) in sums.iter_mut().zip(counts).enumerate() {
                    if count == 0 {
                        *sum = f32::NAN;
                        continue;
                    }
                    observed += 1;
                    let extra = if count == u8::MAX {
                        overflow.get(&(i as u64)).copied().unwrap_or(0)
                    } else {
                        0
                    };
                    *sum /= (u32::from(count) + extra) as f32;
                }
                observed
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_counts_past_255_and_nans() {
        let shape = GridShape { items: 2, admissions: 1, hours: 3 };
        let mut values = vec![0.0f32; shape.len()];
        let mut acc = Accumulator::new(&mut values, shape);
        let mut piece = vec![Vec::new(), Vec::new()];
        piece[0].push(BinEvent { offset: 0, value: 1.0 });
        piece[0].push(BinEvent { offset: 0, value: 2.0 });
        for _ in 0..999 {
            piece[1].push(BinEvent { offset: 2, value: 4.0 });
        }
        piece[1].push(BinEvent { offset: 2, value: 1004.0 });
        acc.add(&[&piece]);
        assert_eq!(acc.finish(), 2);
        assert_eq!(values[0], 1.5);
        assert!(values[1].is_nan() && values[2].is_nan() && values[3].is_nan());
        assert_eq!(values[5], 5.0, "mean of 999 fours and 1004 is 5");
    }
}
