//! Accumulating bin means in file order, so that results never depend on threads.
//!
//! Events arrive grouped by item, a batch of pieces at a time, in file order. While they take
//! less memory than dense planes would (a sum and a count per bin of the grid), they are only
//! held, per item: adding a batch is an append, and no grid-sized memory is touched during the
//! parse. [`Accumulator::finish`] then sums each item's events in a scratch block per thread
//! (one item after another, the scratch reused and cache-warm) and keeps only the observed
//! bins' means ([`Bins`]), from which the grid is written once: into its file in windows, or
//! into memory. Real exports are sparse (1.6% of a 77-item grid's bins observed), so this
//! touches the grid's memory once instead of three times (sums, counts, then the file's pages).
//!
//! An export dense enough to pass that budget is added to dense planes instead, from then on:
//! sums in the grid itself (`f32`) and counts in a byte per bin, the rare bin of more than 255
//! events counted on in a small map. Memory stays at most the dense planes' size either way.
//!
//! Within a bin events are always added in file order, from 0: the same floating-point sums
//! whichever phase, for 1 thread or 64.

use crate::grid::{ByteStorage, GridShape, HeapBytes};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// How many events `item` has.
    fn event_count(&self, item: usize) -> usize;
}

impl PieceEvents for &[Vec<BinEvent>] {
    fn for_each_event(&self, item: usize, f: impl FnMut(BinEvent)) {
        self[item].iter().copied().for_each(f);
    }
    fn event_count(&self, item: usize) -> usize {
        self[item].len()
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
    fn event_count(&self, item: usize) -> usize {
        self.runs[item].len() / EVENT_BYTES
    }

    fn for_each_event(&self, item: usize, mut f: impl FnMut(BinEvent)) {
        for raw in self.bytes[self.runs[item].clone()].chunks_exact(EVENT_BYTES) {
            f(BinEvent {
                offset: u64::from_le_bytes(raw[..8].try_into().expect("8 bytes")),
                value: f32::from_le_bytes(raw[8..].try_into().expect("4 bytes")),
            });
        }
    }
}

/// Adds one event to its bin's sum and count.
#[inline]
fn add_event(
    event: BinEvent,
    sums: &mut [f32],
    counts: &mut [u8],
    overflow: &mut FxHashMap<u64, u32>,
) {
    let i = event.offset as usize;
    sums[i] += event.value;
    if counts[i] == u8::MAX {
        *overflow.entry(event.offset).or_insert(0) += 1;
    } else {
        counts[i] += 1;
    }
}

/// The mean of a bin of `count` events (past 255: plus its `overflow`).
#[inline]
fn mean(sum: f32, count: u8, offset: u64, overflow: &FxHashMap<u64, u32>) -> f32 {
    let extra = if count == u8::MAX { overflow.get(&offset).copied().unwrap_or(0) } else { 0 };
    sum / (u32::from(count) + extra) as f32
}

/// Bytes of dense planes per bin: an `f32` sum and a `u8` count.
const DENSE_BYTES_PER_BIN: usize = 5;

/// Bytes a held event may take: 16, twice over for a vector's spare capacity.
const HELD_BYTES_PER_EVENT: usize = 2 * std::mem::size_of::<BinEvent>();

/// Per-bin sums and counts of a grid's events (see the module's documentation).
pub struct Accumulator<'g> {
    shape: GridShape,
    block: usize,
    /// Most events held before going dense.
    budget: usize,
    held: usize,
    phase: Phase<'g>,
    /// Where dense sums go and means end up, if the caller has the grid in memory.
    target: Option<&'g mut [f32]>,
    /// Works on the current thread alone ([`Accumulator::on_one_thread`]).
    one_thread: bool,
}

enum Phase<'g> {
    /// Each item's events, in file order.
    Held(Vec<Vec<BinEvent>>),
    Dense(Dense<'g>),
}

/// Sums in a grid-sized plane, counts in a byte per bin.
struct Dense<'g> {
    sums: Plane<'g>,
    counts: HeapBytes,
    overflow: Vec<FxHashMap<u64, u32>>,
}

/// A grid-sized plane of values: the caller's grid, or memory of our own.
enum Plane<'g> {
    Borrowed(&'g mut [f32]),
    Owned(HeapBytes),
}

impl Plane<'_> {
    fn values(&self) -> &[f32] {
        match self {
            Plane::Borrowed(values) => values,
            Plane::Owned(heap) => bytemuck::cast_slice(heap.bytes()),
        }
    }

    fn values_mut(&mut self) -> &mut [f32] {
        match self {
            Plane::Borrowed(values) => values,
            Plane::Owned(heap) => bytemuck::cast_slice_mut(heap.bytes_mut()),
        }
    }
}

impl<'g> Accumulator<'g> {
    /// For a grid written elsewhere afterwards (to a file, through [`Bins::fill`]).
    pub fn new(shape: GridShape) -> Self {
        Accumulator {
            shape,
            block: shape.item_block_len().max(1),
            budget: Self::held_budget(shape),
            held: 0,
            phase: Phase::Held(vec![Vec::new(); shape.items]),
            target: None,
            one_thread: false,
        }
    }

    /// The most events a grid of `shape` holds before going dense: as many as take the dense
    /// planes' memory.
    pub fn held_budget(shape: GridShape) -> usize {
        shape.len() * DENSE_BYTES_PER_BIN / HELD_BYTES_PER_EVENT
    }

    /// For a grid in memory: `values` (all zeros, `shape.len()` long) holds the dense sums if
    /// it comes to that, and the means once [`Bins::into_target`] is called.
    pub fn with_target(values: &'g mut [f32], shape: GridShape) -> Self {
        assert_eq!(values.len(), shape.len());
        Accumulator { target: Some(values), ..Self::new(shape) }
    }

    /// Sets the most events held before going dense (0 is dense from the start): for tests, and
    /// for the sampling profile, whose small grid times its events in the run's phase.
    pub fn with_budget(mut self, events: usize) -> Self {
        self.budget = events;
        self
    }

    /// Works on the current thread alone, though called on a pool of several: the sampling
    /// profile times what its events cost one core, on a thread of the pool it profiles with,
    /// rather than starting a thread of its own.
    pub fn on_one_thread(mut self) -> Self {
        self.one_thread = true;
        self
    }

    /// Fewest items a thread takes at once: 1, or all of them on one thread.
    fn min_items(&self) -> usize {
        if self.one_thread {
            usize::MAX
        } else {
            1
        }
    }

    /// Adds the events of `pieces`, given in file order, items in parallel on the current
    /// rayon pool.
    pub fn add<P: PieceEvents>(&mut self, pieces: &[P]) {
        let incoming: usize = (0..self.shape.items)
            .map(|item| pieces.iter().map(|p| p.event_count(item)).sum::<usize>())
            .sum();
        if matches!(self.phase, Phase::Held(_)) && self.held + incoming > self.budget {
            self.go_dense();
        }
        self.held += incoming;
        let min_items = self.min_items();
        match &mut self.phase {
            Phase::Held(held) => held.par_iter_mut().with_min_len(min_items).enumerate().for_each(
                |(item, events)| {
                    events.reserve(pieces.iter().map(|p| p.event_count(item)).sum());
                    for piece in pieces {
                        piece.for_each_event(item, |event| events.push(event));
                    }
                },
            ),
            Phase::Dense(dense) => {
                dense.each_item(self.block, min_items, |item, sums, counts, overflow| {
                    for piece in pieces {
                        piece.for_each_event(item, |e| add_event(e, sums, counts, overflow));
                    }
                })
            }
        }
    }

    /// Moves the held events into dense planes, the target's if there is one.
    fn go_dense(&mut self) {
        let len = self.shape.len();
        let sums = match self.target.take() {
            Some(values) => Plane::Borrowed(values),
            None => Plane::Owned(HeapBytes::zeroed(len * 4)),
        };
        let mut dense = Dense {
            sums,
            counts: HeapBytes::zeroed(len),
            overflow: vec![FxHashMap::default(); self.shape.items],
        };
        let min_items = self.min_items();
        if let Phase::Held(held) = &mut self.phase {
            dense.each_item(self.block, min_items, |item, sums, counts, overflow| {
                for &event in &held[item] {
                    add_event(event, sums, counts, overflow);
                }
            });
        }
        self.phase = Phase::Dense(dense);
    }

    /// Turns the sums into means, on the current rayon pool.
    pub fn finish(self) -> Bins<'g> {
        let min_items = self.min_items();
        let Accumulator { block, phase, target, one_thread, .. } = self;
        match phase {
            Phase::Held(held) => {
                let means = held_means(&held, block, one_thread);
                drop(held);
                let observed = means.iter().map(|m| m.offsets.len() as u64).collect();
                Bins { block, observed, means: Means::Sparse(means), target }
            }
            Phase::Dense(Dense { mut sums, counts, overflow }) => {
                let observed = sums
                    .values_mut()
                    .par_chunks_mut(block)
                    .zip(counts.bytes().par_chunks(block))
                    .zip(overflow.par_iter())
                    .with_min_len(min_items)
                    .map(|((sums, counts), overflow)| {
                        let mut observed = 0u64;
                        for (i, (sum, &count)) in sums.iter_mut().zip(counts).enumerate() {
                            if count == 0 {
                                *sum = f32::NAN;
                            } else {
                                observed += 1;
                                *sum = mean(*sum, count, i as u64, overflow);
                            }
                        }
                        observed
                    })
                    .collect();
                Bins { block, observed, means: Means::Dense(sums), target }
            }
        }
    }
}

impl Dense<'_> {
    /// Calls `f(item, sums, counts, overflow)` on each item's block, items in parallel (at
    /// least `min_items` to a thread).
    fn each_item(
        &mut self,
        block: usize,
        min_items: usize,
        f: impl Fn(usize, &mut [f32], &mut [u8], &mut FxHashMap<u64, u32>) + Sync,
    ) {
        self.sums
            .values_mut()
            .par_chunks_mut(block)
            .zip(self.counts.bytes_mut().par_chunks_mut(block))
            .zip(self.overflow.par_iter_mut())
            .with_min_len(min_items)
            .enumerate()
            .for_each(|(item, ((sums, counts), overflow))| f(item, sums, counts, overflow));
    }
}

/// The observed bins of one item: offsets in its block, ascending, and their means.
#[derive(Default)]
struct ItemMeans {
    offsets: Vec<u64>,
    means: Vec<f32>,
}

/// Each item's observed bins, from its held events: every thread of the current rayon pool
/// takes items one at a time and sums them in its own scratch block, which it then scans for
/// the bins it touched (eight count bytes at a time) and leaves zeroed for the next item. Or
/// the current thread takes them all, `alone`.
fn held_means(held: &[Vec<BinEvent>], block: usize, alone: bool) -> Vec<ItemMeans> {
    let next = AtomicUsize::new(0);
    let work = |_| {
        let mut done = Vec::new();
        let (mut sums, mut counts, mut overflow) = (Vec::new(), Vec::new(), FxHashMap::default());
        loop {
            let item = next.fetch_add(1, Ordering::Relaxed);
            let Some(events) = held.get(item) else { break };
            if events.is_empty() {
                done.push((item, ItemMeans::default()));
                continue;
            }
            if sums.is_empty() {
                sums = vec![0.0f32; block];
                counts = vec![0u8; block];
            }
            for &event in events {
                add_event(event, &mut sums, &mut counts, &mut overflow);
            }
            let mut means = ItemMeans::default();
            for (w, word) in counts.chunks_mut(8).enumerate() {
                // A word of eight counts read at once: most are empty.
                let empty = match <&[u8; 8]>::try_from(&*word) {
                    Ok(eight) => u64::from_ne_bytes(*eight) == 0,
                    Err(_) => word.iter().all(|&c| c == 0),
                };
                if empty {
                    continue;
                }
                for (j, count) in word.iter_mut().enumerate() {
                    if *count != 0 {
                        let i = w * 8 + j;
                        means.offsets.push(i as u64);
                        means.means.push(mean(sums[i], *count, i as u64, &overflow));
                        sums[i] = 0.0;
                        *count = 0;
                    }
                }
            }
            overflow.clear();
            done.push((item, means));
        }
        done
    };
    let done: Vec<Vec<(usize, ItemMeans)>> =
        if alone { vec![work(())] } else { rayon::broadcast(|_| work(())) };
    let mut means: Vec<ItemMeans> = (0..held.len()).map(|_| ItemMeans::default()).collect();
    for (item, m) in done.into_iter().flatten() {
        means[item] = m;
    }
    means
}

/// Finished bins: their means, whence the grid's values are written.
pub struct Bins<'g> {
    block: usize,
    /// Bins with at least one event, per item: counted here for free, where the imputation's
    /// profile would otherwise read the whole grid to count them.
    observed: Vec<u64>,
    means: Means<'g>,
    target: Option<&'g mut [f32]>,
}

enum Means<'g> {
    /// Each item's observed bins; every other bin is NaN.
    Sparse(Vec<ItemMeans>),
    /// Every bin's value (NaN where empty), in the caller's grid or our own plane.
    Dense(Plane<'g>),
}

/// Values per part when [`Bins::into_target`] writes a grid in parallel.
const FILL_PART: usize = 1 << 18;

impl Bins<'_> {
    /// Bins with at least one event, per item.
    pub fn observed(&self) -> &[u64] {
        &self.observed
    }

    /// Writes the grid's values `start..start + out.len()` (flat indices) into `out`.
    pub fn fill(&self, start: usize, out: &mut [f32]) {
        match &self.means {
            Means::Dense(plane) => out.copy_from_slice(&plane.values()[start..start + out.len()]),
            Means::Sparse(items) => {
                let end = start + out.len();
                let mut at = start;
                while at < end {
                    let item = at / self.block;
                    let block_start = item * self.block;
                    let upto = (block_start + self.block).min(end);
                    let part = &mut out[at - start..upto - start];
                    part.fill(f32::NAN);
                    let (lo, hi) = ((at - block_start) as u64, (upto - block_start) as u64);
                    let m = &items[item];
                    let first = m.offsets.partition_point(|&o| o < lo);
                    for (&o, &v) in m.offsets[first..].iter().zip(&m.means[first..]) {
                        if o >= hi {
                            break;
                        }
                        part[(o - lo) as usize] = v;
                    }
                    at = upto;
                }
            }
        }
    }

    /// Leaves the means in the grid the accumulator was given
    /// ([`Accumulator::with_target`]), parts in parallel on the current rayon pool, and returns
    /// the number of observed bins per item.
    pub fn into_target(mut self) -> Vec<u64> {
        if let Some(target) = self.target.take() {
            target
                .par_chunks_mut(FILL_PART)
                .enumerate()
                .for_each(|(k, part)| self.fill(k * FILL_PART, part));
        }
        // Otherwise the dense sums were the target's values, now means.
        self.observed
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

    /// The whole grid of `bins`, through `fill` in parts of `part` values.
    fn grid_of(bins: &Bins<'_>, shape: GridShape, part: usize) -> Vec<u32> {
        let mut values = vec![0.0f32; shape.len()];
        for (k, chunk) in values.chunks_mut(part).enumerate() {
            bins.fill(k * part, chunk);
        }
        values.iter().map(|v| v.to_bits()).collect()
    }

    /// Random pieces of events over a grid of `shape`, some bins hit hundreds of times.
    fn random_pieces(shape: GridShape, pieces: usize, seed: u64) -> Vec<Vec<Vec<BinEvent>>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let block = shape.item_block_len() as u64;
        (0..pieces)
            .map(|_| {
                (0..shape.items)
                    .map(|item| {
                        let n = if item == 1 { 0 } else { rng.gen_range(0..400) };
                        (0..n)
                            .map(|_| BinEvent {
                                // A third of the events in bin 5: past 255 in a few pieces.
                                offset: if rng.gen_bool(0.3) { 5 } else { rng.gen_range(0..block) },
                                value: rng.gen_range(-50.0f32..150.0),
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn held_dense_and_switching_phases_give_the_same_bits() {
        let shape = GridShape { items: 4, admissions: 13, hours: 37 };
        let pieces = random_pieces(shape, 9, 7);
        let run = |budget: Option<usize>, target: bool, batch: usize| {
            let mut values = vec![0.0f32; shape.len()];
            let acc = if target {
                Accumulator::with_target(&mut values, shape)
            } else {
                Accumulator::new(shape)
            };
            let mut acc = match budget {
                Some(b) => acc.with_budget(b),
                None => acc,
            };
            for batch in pieces.chunks(batch) {
                acc.add(&batch.iter().map(Vec::as_slice).collect::<Vec<_>>());
            }
            let bins = acc.finish();
            let observed = bins.observed().to_vec();
            let filled = grid_of(&bins, shape, 100);
            // Per item, the bins the grid holds a value in.
            let counted: Vec<u64> = filled
                .chunks(shape.item_block_len())
                .map(|b| b.iter().filter(|&&v| !f32::from_bits(v).is_nan()).count() as u64)
                .collect();
            assert_eq!(observed, counted, "budget {budget:?} target {target} batch {batch}");
            if target {
                assert_eq!(bins.into_target(), observed);
                let in_target: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
                assert!(in_target == filled, "the target holds what fill gives");
            }
            (observed, filled)
        };
        let (observed, reference) = run(None, false, 9);
        assert!(
            observed.iter().sum::<u64>() > 100
                && reference.iter().any(|&b| f32::from_bits(b).is_nan())
        );
        let total: usize = pieces.iter().flatten().map(Vec::len).sum();
        // Dense from the start; dense after a few batches; held to the end; in one batch or
        // piece by piece; into the caller's grid or not.
        for budget in [Some(0), Some(total / 3), Some(total), None] {
            for target in [false, true] {
                for batch in [1, 2, 9] {
                    let (o, grid) = run(budget, target, batch);
                    assert_eq!(o, observed, "budget {budget:?} target {target} batch {batch}");
                    assert!(grid == reference, "budget {budget:?} target {target} batch {batch}");
                }
            }
        }
        // Parts that end inside items and series, whatever the phase.
        let mut acc = Accumulator::new(shape);
        acc.add(&pieces.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let bins = acc.finish();
        for part in [1, 7, 481, shape.len()] {
            assert!(grid_of(&bins, shape, part) == reference, "parts of {part}");
        }
    }

    /// Events that note which pool thread reads them.
    struct Watched<'a> {
        by_item: &'a [Vec<BinEvent>],
        threads: &'a std::sync::Mutex<std::collections::BTreeSet<Option<usize>>>,
    }

    impl PieceEvents for Watched<'_> {
        fn for_each_event(&self, item: usize, f: impl FnMut(BinEvent)) {
            self.threads.lock().unwrap().insert(rayon::current_thread_index());
            self.by_item[item].iter().copied().for_each(f);
        }
        fn event_count(&self, item: usize) -> usize {
            self.by_item[item].len()
        }
    }

    #[test]
    fn on_one_thread_reads_every_event_on_the_calling_thread_and_sums_the_same_bits() {
        let shape = GridShape { items: 64, admissions: 3, hours: 11 };
        let pieces = random_pieces(shape, 4, 11);
        let slices: Vec<&[Vec<BinEvent>]> = pieces.iter().map(Vec::as_slice).collect();
        let pool = crate::backend::thread_pool(4, false).unwrap();
        let reference = pool.install(|| {
            let mut acc = Accumulator::new(shape);
            acc.add(&slices);
            grid_of(&acc.finish(), shape, shape.len())
        });
        // Held to the end, and dense from the start.
        for budget in [None, Some(0)] {
            let threads = std::sync::Mutex::new(std::collections::BTreeSet::new());
            let watched: Vec<Watched<'_>> =
                pieces.iter().map(|p| Watched { by_item: p, threads: &threads }).collect();
            let (caller, grid) = pool.install(|| {
                let acc = Accumulator::new(shape).on_one_thread();
                let mut acc = match budget {
                    Some(b) => acc.with_budget(b),
                    None => acc,
                };
                acc.add(&watched);
                (rayon::current_thread_index(), grid_of(&acc.finish(), shape, shape.len()))
            });
            assert!(grid == reference, "budget {budget:?}");
            let threads = threads.into_inner().unwrap();
            assert_eq!(threads.into_iter().collect::<Vec<_>>(), [caller], "budget {budget:?}");
        }
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
        let mut plain = Accumulator::new(shape);
        plain.add(&pieces.iter().map(Vec::as_slice).collect::<Vec<_>>());
        let bytes: Vec<Vec<u8>> = pieces.iter().map(|p| EncodedEvents::encode(p)).collect();
        let mut encoded = Accumulator::new(shape);
        for b in &bytes {
            encoded.add(&[EncodedEvents::parse(b, shape).unwrap()]);
        }
        let (plain, encoded) = (plain.finish(), encoded.finish());
        assert!(grid_of(&plain, shape, 3) == grid_of(&encoded, shape, 5));
    }

    #[test]
    fn means_counts_past_255_and_nans() {
        let shape = GridShape { items: 2, admissions: 1, hours: 3 };
        let mut piece = vec![Vec::new(), Vec::new()];
        piece[0].push(BinEvent { offset: 0, value: 1.0 });
        piece[0].push(BinEvent { offset: 0, value: 2.0 });
        for _ in 0..999 {
            piece[1].push(BinEvent { offset: 2, value: 4.0 });
        }
        piece[1].push(BinEvent { offset: 2, value: 1004.0 });
        for budget in [0, usize::MAX] {
            let mut values = vec![0.0f32; shape.len()];
            let mut acc = Accumulator::with_target(&mut values, shape).with_budget(budget);
            acc.add(&[piece.as_slice()]);
            assert_eq!(acc.finish().into_target(), vec![1, 1], "budget {budget}: one bin per item");
            assert_eq!(values[0], 1.5);
            assert!(values[1].is_nan() && values[2].is_nan() && values[3].is_nan());
            assert_eq!(values[5], 5.0, "budget {budget}: mean of 999 fours and 1004 is 5");
        }
    }
}
