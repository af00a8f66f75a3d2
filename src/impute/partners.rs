//! Cross-vital partners: for each item, the other items whose values move with its own (blood
//! pressures predict each other), found by correlation over the bins where both are observed.
//!
//! The grid is mostly empty (1.6% of bins observed on generated exports, less in MIMIC), so
//! most pairs of an item's observed bin with another item's value are a NaN. Reading every
//! other item at every observed bin of `item` touched every page of every block once per item:
//! on a grid of 77 items and 907 MB, each item's search read 219,000 pages of 4 KiB, about
//! half of the imputation's prepare stage on threads (`perf`). An index of the items observed
//! in each bin (session 7) cut the values read to those that exist, but each item's search
//! still went to the other items' pages at its own observed bins, which spread over whole
//! blocks: most pages of most blocks, once per item. For a grid larger than the page cache
//! that is one read of the grid from disk per item: `run --method rf` in an 800 MB cgroup on a
//! 1.8 GB grid spent 277 s in prepare against 1.5 s without the limit (docs/RESULTS.md,
//! section 6).
//!
//! [`PairTable`] computes every pair's sums at once, in one pass over the grid: a range of
//! bins at a time, every item's values over that range are read (one stretch of each block),
//! the items observed at each bin are noted in a bitset, and every pair observed together at a
//! bin gets its values added. An item's search then only reads its row of the table.

use super::Method;
use crate::grid::GridShape;
use rayon::prelude::*;

/// Every pair of items' [`PairSums`] over the bins where both are observed.
pub struct PairTable {
    items: usize,
    /// Pair `(a, b)`, `a < b`, at [`PairTable::slot`]; `sa`/`saa` are `a`'s values.
    sums: Vec<PairSums>,
}

/// Bins per part of the pass: parts read every item's values over their bins, 256 KiB per
/// item, so that a part's reads stay in pages near each other.
const PART_BINS: usize = 1 << 16;

/// Most bytes of part tables in flight at once: parts run in parallel in groups whose tables
/// take at most this much, then are added to the total in part order.
const GROUP_BYTES: usize = 64 << 20;

impl PairTable {
    fn empty(items: usize) -> Self {
        PairTable { items, sums: vec![PairSums::default(); items * items.saturating_sub(1) / 2] }
    }

    /// The slot of pair `(a, b)`, `a < b`: row `a` of the upper triangle.
    fn slot(&self, a: usize, b: usize) -> usize {
        debug_assert!(a < b && b < self.items);
        a * (2 * self.items - a - 1) / 2 + (b - a - 1)
    }

    /// Sums of `(a, b)` with `a`'s values first.
    fn pair(&self, a: usize, b: usize) -> PairSums {
        if a < b {
            self.sums[self.slot(a, b)]
        } else {
            self.sums[self.slot(b, a)].swapped()
        }
    }

    /// One pass over `values` (a whole grid of `shape`), parts in parallel on the current
    /// rayon pool. Each pair's sums are its parts' sums added in part order, each part's in bin
    /// order: the same to the last bit whatever the threads.
    pub fn build(values: &[f32], shape: GridShape) -> Self {
        assert_eq!(values.len(), shape.len());
        let block = shape.item_block_len();
        let mut total = PairTable::empty(shape.items);
        let table_bytes = (total.sums.len() * std::mem::size_of::<PairSums>()).max(1);
        let group = (GROUP_BYTES / table_bytes).clamp(1, 64);
        let parts: Vec<usize> = (0..block.div_ceil(PART_BINS)).collect();
        for parts in parts.chunks(group) {
            let tables: Vec<PairTable> = parts
                .par_iter()
                .map(|&part| {
                    let bins = part * PART_BINS..((part + 1) * PART_BINS).min(block);
                    PairTable::of_bins(values, shape, bins)
                })
                .collect();
            for table in &tables {
                total.sums.iter_mut().zip(&table.sums).for_each(|(t, p)| t.merge(p));
            }
        }
        total
    }

    /// The sums over bins `bins` of every item block.
    fn of_bins(values: &[f32], shape: GridShape, bins: std::ops::Range<usize>) -> Self {
        let block = shape.item_block_len();
        let words = shape.items.div_ceil(64).max(1);
        // Which items are observed at each bin of the part, one item's stretch at a time.
        for item in 0..shape.items {
            crate::memory::will_need(&values[item * block + bins.start..item * block + bins.end]);
        }
        let mut seen = vec![0u64; bins.len() * words];
        for item in 0..shape.items {
            let (word, bit) = (item / 64, 1u64 << (item % 64));
            let column = &values[item * block + bins.start..item * block + bins.end];
            for (b, v) in column.iter().enumerate() {
                if !v.is_nan() {
                    seen[b * words + word] |= bit;
                }
            }
        }
        let mut table = PairTable::empty(shape.items);
        let mut here: Vec<(usize, f64)> = Vec::with_capacity(shape.items);
        for (b, bits) in seen.chunks_exact(words).enumerate() {
            here.clear();
            let at = bins.start + b;
            for (w, &word) in bits.iter().enumerate() {
                here.extend(SetBits(word).map(|i| {
                    let item = w * 64 + i;
                    (item, f64::from(values[item * block + at]))
                }));
            }
            for (p, &(a, x)) in here.iter().enumerate() {
                for &(b, y) in &here[p + 1..] {
                    let slot = table.slot(a, b);
                    table.sums[slot].add(x, y);
                }
            }
        }
        table
    }

    /// The table `method` needs: built for methods with partners, `None` for the others.
    pub fn for_method(values: &[f32], shape: GridShape, method: Method) -> Option<Self> {
        method.uses_partners().then(|| PairTable::build(values, shape))
    }
}

/// The positions of the set bits of a word, lowest first.
struct SetBits(u64);

impl Iterator for SetBits {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        (self.0 != 0).then(|| {
            let b = self.0.trailing_zeros() as usize;
            self.0 &= self.0 - 1;
            b
        })
    }
}

/// The `k` items whose values correlate most (in absolute value) with `item`'s over bins where
/// both are observed; items sharing fewer than `min_pairs` bins are not candidates. `pairs`:
/// the grid's [`PairTable`].
pub fn partners(pairs: &PairTable, item: usize, k: usize, min_pairs: usize) -> Vec<usize> {
    let mut scored: Vec<(f64, usize)> = (0..pairs.items)
        .filter(|&j| j != item)
        .filter_map(|j| Some((pairs.pair(item, j).correlation(min_pairs)?.abs(), j)))
        .collect();
    // Highest correlation first; ties broken by item index so the choice is deterministic.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, j)| j).collect()
}

/// Running sums of a pair of items' shared observations, for Pearson's correlation.
#[derive(Clone, Copy, Default)]
struct PairSums {
    n: usize,
    sa: f64,
    sb: f64,
    saa: f64,
    sbb: f64,
    sab: f64,
}

impl PairSums {
    /// Adds the sums of a later stretch of bins.
    fn merge(&mut self, later: &PairSums) {
        self.n += later.n;
        self.sa += later.sa;
        self.sb += later.sb;
        self.saa += later.saa;
        self.sbb += later.sbb;
        self.sab += later.sab;
    }

    /// The same sums with the two items' roles exchanged.
    fn swapped(self) -> PairSums {
        PairSums { sa: self.sb, sb: self.sa, saa: self.sbb, sbb: self.saa, ..self }
    }

    fn add(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sa += x;
        self.sb += y;
        self.saa += x * x;
        self.sbb += y * y;
        self.sab += x * y;
    }

    /// Pearson's correlation, if at least `min_pairs` (and 3) pairs were added and neither
    /// side is constant.
    fn correlation(&self, min_pairs: usize) -> Option<f64> {
        if self.n < min_pairs.max(3) {
            return None;
        }
        let nf = self.n as f64;
        let cov = self.sab - self.sa * self.sb / nf;
        let var = (self.saa - self.sa * self.sa / nf) * (self.sbb - self.sb * self.sb / nf);
        (var > 0.0).then(|| cov / var.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impute::features::observed_positions;
    use rand::{Rng, SeedableRng};
    const N: f32 = f32::NAN;

    /// The search as it was before the table: every other item read at every observed bin.
    fn partners_by_scan(
        values: &[f32],
        shape: GridShape,
        item: usize,
        k: usize,
        min_pairs: usize,
    ) -> Vec<usize> {
        let block = shape.item_block_len();
        let own = &values[item * block..(item + 1) * block];
        let observed = observed_positions(own);
        let mut scored: Vec<(f64, usize)> = (0..shape.items)
            .filter(|&j| j != item)
            .filter_map(|j| {
                let mut sums = PairSums::default();
                for &at in &observed {
                    let y = values[j * block + at];
                    if !y.is_nan() {
                        sums.add(f64::from(own[at]), f64::from(y));
                    }
                }
                Some((sums.correlation(min_pairs)?.abs(), j))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().take(k).map(|(_, j)| j).collect()
    }

    #[test]
    fn partners_are_the_most_correlated_items() {
        let shape = GridShape { items: 3, admissions: 1, hours: 50 };
        let mut values = vec![N; shape.len()];
        for h in 0..50 {
            let x = (h as f32 * 0.7).sin();
            values[h] = x;
            values[50 + h] = if h % 3 == 0 { N } else { 2.0 * x + 1.0 };
            values[100 + h] = ((h * 7919) % 13) as f32;
        }
        let table = PairTable::build(&values, shape);
        assert_eq!(partners(&table, 0, 1, 10), vec![1]);
        assert_eq!(partners(&table, 0, 5, 10), vec![1, 2]);
        assert_eq!(partners(&table, 2, 5, 10), vec![0, 1]);
        assert!(partners(&table, 0, 5, 1000).is_empty());
    }

    /// Items observed at random, 130 of them (three words per bin, the last partly used), over
    /// more bins than a part.
    fn random_grid(seed: u64) -> (Vec<f32>, GridShape) {
        let shape = GridShape { items: 130, admissions: 100, hours: 700 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let values: Vec<f32> = (0..shape.len())
            .map(|_| if rng.gen_bool(0.05) { rng.gen_range(-50.0..50.0) } else { N })
            .collect();
        assert!(shape.item_block_len() > PART_BINS);
        (values, shape)
    }

    #[test]
    fn every_pair_sums_the_bins_where_both_are_observed() {
        let (values, shape) = random_grid(3);
        let table = PairTable::build(&values, shape);
        let block = shape.item_block_len();
        for (a, b) in [(0, 1), (0, 129), (63, 64), (64, 63), (128, 129), (129, 5), (77, 12)] {
            let mut expected = PairSums::default();
            for at in 0..block {
                let (x, y) = (values[a * block + at], values[b * block + at]);
                if !x.is_nan() && !y.is_nan() {
                    expected.add(f64::from(x), f64::from(y));
                }
            }
            let got = table.pair(a, b);
            assert_eq!(got.n, expected.n, "pair ({a}, {b})");
            assert!(expected.n > 10, "pair ({a}, {b}) shares too few bins to test");
            let close = |g: f64, e: f64| (g - e).abs() <= 1e-9 * e.abs().max(1.0);
            for (g, e) in [
                (got.sa, expected.sa),
                (got.sb, expected.sb),
                (got.saa, expected.saa),
                (got.sbb, expected.sbb),
                (got.sab, expected.sab),
            ] {
                assert!(close(g, e), "pair ({a}, {b}): {g} against {e}");
            }
        }
    }

    #[test]
    fn the_table_is_the_same_to_the_bit_on_any_number_of_threads() {
        let (values, shape) = random_grid(5);
        let bits = |threads: usize| -> Vec<[u64; 6]> {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let table = pool.install(|| PairTable::build(&values, shape));
            let s = |x: f64| x.to_bits();
            table
                .sums
                .iter()
                .map(|p| [p.n as u64, s(p.sa), s(p.sb), s(p.saa), s(p.sbb), s(p.sab)])
                .collect()
        };
        let one = bits(1);
        assert_eq!(one, bits(2));
        assert_eq!(one, bits(3));
    }

    #[test]
    fn the_table_gives_the_partners_a_scan_gives() {
        // Correlated items observed at random, so that pairs share some bins and not others;
        // item 1 a copy of item 0 where both are observed (correlation exactly 1).
        let shape = GridShape { items: 70, admissions: 40, hours: 72 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let block = shape.item_block_len();
        let base: Vec<f32> = (0..block).map(|b| (b as f32 * 0.01).sin() * 40.0 + 80.0).collect();
        let mut values = vec![N; shape.len()];
        for j in 0..shape.items {
            let density = [0.02, 0.1, 0.4][j % 3];
            let weight = (j % 7) as f32 - 3.0;
            for b in 0..block {
                if rng.gen_bool(density) {
                    let noise: f32 = rng.gen_range(-5.0..5.0);
                    values[j * block + b] =
                        if j == 1 { base[b] } else { weight * base[b] + noise * j as f32 };
                }
            }
        }
        for b in 0..block {
            if !values[b].is_nan() {
                values[block + b] = base[b];
            }
        }
        let table = PairTable::build(&values, shape);
        for item in 0..shape.items {
            for (k, min_pairs) in [(3, 10), (69, 3), (5, 200)] {
                assert_eq!(
                    partners(&table, item, k, min_pairs),
                    partners_by_scan(&values, shape, item, k, min_pairs),
                    "item {item}, k {k}, min_pairs {min_pairs}"
                );
            }
        }
    }
}
