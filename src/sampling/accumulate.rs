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

/// The events of one piece, by item.
pub trait PieceEvents: Sync {
    /// Calls `f` on each event of `item`, in file order.
    fn for_each_event(&self, item: usize, f: impl FnMut(BinEvent));
}

impl PieceEvents for &[Vec<BinEvent>] {
    fn for_each_event(&self, item: usize, f: impl FnMut(BinEvent)) {
        self[item].iter().copied().for_each(f);
    }
}

/// Events as a worker process sends them, read in place (from a pipe's buffer or a mapped
/// segment) rather than copied into vectors: per item a `u64` count, then (`u64` offset,
/// `f32` value) per event, little-endian.
pub struct EncodedEvents<'a> {
    bytes: &'a [u8],
    /// Each item's events: a range of `bytes`.
    runs: Vec<std::ops::Range<usize>>,
}

/// Bytes of one encoded event.
const EVENT_BYTES: usize = 12;

impl<'a> EncodedEvents<'a> {
    /// Encodes `by_item` (the worker's side).
    pub fn encode(by_item: &[Vec<BinEvent>]) -> Vec<u8> {
        let total: usize = by_item.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(8 * by_item.len() + EVENT_BYTES * total);
        for events in by_item {
            out.extend_from_slice(&(events.len() as u64).to_le_bytes());
            for event in events {
                out.extend_from_slice(&event.offset.to_le_bytes());
                out.extend_from_slice(&event.value.to_le_bytes());
            }
        }
        out
    }

    /// Reads the layout of `bytes` for a grid of `shape`, checking that it is whole and that
    /// every event falls inside its item's block: what a worker wrote is not trusted to index
    /// the grid.
    pub fn parse(bytes: &'a [u8], shape: GridShape) -> Result<Self, String> {
        let block = shape.item_block_len() as u64;
        let mut runs = Vec::with_capacity(shape.items);
        let mut at = 0usize;
        for _ in 0..shape.items {
            let count = bytes.get(at..at + 8).ok_or("events truncated")?;
            let n = u64::from_le_bytes(count.try_into().expect("8 bytes"));
            let len = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(EVENT_BYTES))
                .ok_or("events: bad count")?;
            let end = (at + 8).checked_add(len).filter(|&e| e <= bytes.len());
            let end = end.ok_or("events truncated")?;
            let outside = bytes[at + 8..end]
                .chunks_exact(EVENT_BYTES)
                .any(|raw| u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")) >= block);
            if outside {
                return Err("events: a bin outside the grid".into());
            }
            runs.push(at + 8..end);
            at = end;
        }
        if at != bytes.len() {
            return Err("events: trailing bytes".into());
        }
        Ok(EncodedEvents { bytes, runs })
    }
}

impl PieceEvents for EncodedEvents<'_> {
    fn for_each_event(&self, item: usize, mut f: impl FnMut(BinEvent)) {
        for raw in self.bytes[self.runs[item].clone()].chunks_exact(EVENT_BYTES) {
            f(BinEvent {
                offset: u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")),
                value: f32::from_le_bytes(raw[8..].try_into().expect("4 bytes")),
            });
        }
    }
}

/// Adds the events of one item: its block's sums and counts.
fn add_item<P: PieceEvents>(
    pieces: &[P],
    item: usize,
    sums: &mut [f32],
    counts: &mut [u8],
    overflow: &mut FxHashMap<u64, u32>,
) {
    for piece in pieces {
        piece.for_each_event(item, |event| {
            let i = event.offset as usize;
            sums[i] += event.value;
            if counts[i] == u8::MAX {
                *overflow.entry(event.offset).or_insert(0) += 1;
            } else {
                counts[i] += 1;
            }
        });
    }
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

    /// Adds the events of `pieces`, given in file order, items in parallel.
    pub fn add<P: PieceEvents>(&mut self, pieces: &[P]) {
        self.sums
            .par_chunks_mut(self.block)
            .zip(self.counts.bytes_mut().par_chunks_mut(self.block))
            .zip(self.overflow.par_iter_mut())
            .enumerate()
            .for_each(|(item, ((sums, counts), overflow))| {
                add_item(pieces, item, sums, counts, overflow)
            });
    }

    /// [`Accumulator::add`] on the calling thread alone: what a coordinator does while worker
    /// processes parse (the same sums, in the same order).
    pub fn add_here<P: PieceEvents>(&mut self, pieces: &[P]) {
        self.sums
            .chunks_mut(self.block)
            .zip(self.counts.bytes_mut().chunks_mut(self.block))
            .zip(self.overflow.iter_mut())
            .enumerate()
            .for_each(|(item, ((sums, counts), overflow))| {
                add_item(pieces, item, sums, counts, overflow)
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
    fn encoded_events_read_in_place_as_they_were_and_truncation_is_caught() {
        let by_item = vec![
            vec![BinEvent { offset: 3, value: 1.5 }, BinEvent { offset: 9, value: -2.0 }],
            vec![],
            vec![BinEvent { offset: u64::MAX, value: f32::MAX }],
        ];
        let bytes = EncodedEvents::encode(&by_item);
        let shape = |items| GridShape { items, admissions: 1, hours: 10 };
        assert_eq!(
            EncodedEvents::parse(&bytes, shape(3)).err().as_deref(),
            Some("events: a bin outside the grid"),
            "offset u64::MAX in a block of 10 bins"
        );
        let by_item = vec![by_item[0].clone(), vec![], vec![BinEvent { offset: 9, value: 1.0 }]];
        let bytes = EncodedEvents::encode(&by_item);
        let encoded = EncodedEvents::parse(&bytes, shape(3)).unwrap();
        for (item, events) in by_item.iter().enumerate() {
            let mut back = Vec::new();
            encoded.for_each_event(item, |e| back.push((e.offset, e.value)));
            let expected: Vec<_> = events.iter().map(|e| (e.offset, e.value)).collect();
            assert_eq!(back, expected, "item {item}");
        }
        assert!(EncodedEvents::parse(&bytes[..bytes.len() - 1], shape(3)).is_err(), "truncated");
        assert!(EncodedEvents::parse(&bytes, shape(2)).is_err(), "trailing bytes");
        let mut huge = bytes.clone();
        huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(EncodedEvents::parse(&huge, shape(3)).is_err(), "a count past the end");
    }

    #[test]
    fn encoded_and_decoded_pieces_sum_alike() {
        let shape = GridShape { items: 2, admissions: 1, hours: 4 };
        let pieces: Vec<Vec<Vec<BinEvent>>> = (0..3)
            .map(|p| {
                (0..2)
                    .map(|i| {
                        (0..5)
                            .map(|k| BinEvent {
                                offset: (k % 3) as u64,
                                value: 0.1 * (p * 7 + i * 3 + k) as f32,
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let mut plain = vec![0.0f32; shape.len()];
        let mut acc = Accumulator::new(&mut plain, shape);
        acc.add(&pieces.iter().map(Vec::as_slice).collect::<Vec<_>>());
        acc.finish();
        let bytes: Vec<Vec<u8>> = pieces.iter().map(|p| EncodedEvents::encode(p)).collect();
        let mut encoded = vec![0.0f32; shape.len()];
        let mut acc = Accumulator::new(&mut encoded, shape);
        for b in &bytes {
            acc.add_here(&[EncodedEvents::parse(b, shape).unwrap()]);
        }
        acc.finish();
        assert_eq!(
            plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            encoded.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
    }

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
        acc.add(&[piece.as_slice()]);
        assert_eq!(acc.finish(), 2);
        assert_eq!(values[0], 1.5);
        assert!(values[1].is_nan() && values[2].is_nan() && values[3].is_nan());
        assert_eq!(values[5], 5.0, "mean of 999 fours and 1004 is 5");
    }
}
