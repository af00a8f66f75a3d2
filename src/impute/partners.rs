//! Cross-vital partners: for each item, the other items whose values move with its own (blood
//! pressures predict each other), found by correlation over the bins where both are observed.
//!
//! The grid is mostly empty (1.6% of bins observed on generated exports, less in MIMIC), so
//! most pairs of an item's observed bin with another item's value are a NaN. Reading every
//! other item at every observed bin of `item` touched every page of every block once per item:
//! on a grid of 77 items and 907 MB, each item's search read 219,000 pages of 4 KiB, about
//! half of the imputation's prepare stage on threads (`perf`), and more where the grid is in
//! shared memory (no huge pages there, so every page costs a TLB miss: docs/RESULTS.md,
//! section 2).
//!
//! [`ObservedIndex`] turns the grid around once per job: for each bin, which items are
//! observed in it, as a bitset. An item's search then reads, at each of its observed bins, the
//! one word that names the items observed there, and only those items' values.

use super::Method;
use crate::grid::GridShape;
use rayon::prelude::*;

/// For every bin of an item block (admission, hour), the set of items observed in it.
pub struct ObservedIndex {
    /// 64-bit words per bin.
    words: usize,
    /// `words` words per bin, bins in block order; bit `j % 64` of word `j / 64` is item `j`.
    bits: Vec<u64>,
}

/// Bins per part when the index is built in parallel: parts read every item's values over
/// their bins, 256 KiB per item, so that a part's reads stay in pages near each other.
const PART_BINS: usize = 1 << 16;

impl ObservedIndex {
    /// Scans `values` (a whole grid of `shape`) once, in parallel over ranges of bins on the
    /// current rayon pool.
    pub fn build(values: &[f32], shape: GridShape) -> Self {
        assert_eq!(values.len(), shape.len());
        let words = shape.items.div_ceil(64).max(1);
        let block = shape.item_block_len();
        let mut bits = vec![0u64; block * words];
        bits.par_chunks_mut(PART_BINS * words).enumerate().for_each(|(part, out)| {
            let first = part * PART_BINS;
            let bins = out.len() / words;
            for item in 0..shape.items {
                let (word, bit) = (item / 64, 1u64 << (item % 64));
                let column = &values[item * block + first..item * block + first + bins];
                for (b, v) in column.iter().enumerate() {
                    if !v.is_nan() {
                        out[b * words + word] |= bit;
                    }
                }
            }
        });
        ObservedIndex { words, bits }
    }

    /// The index `method` needs: built for methods with partners, `None` for the others.
    pub fn for_method(values: &[f32], shape: GridShape, method: Method) -> Option<Self> {
        method.uses_partners().then(|| ObservedIndex::build(values, shape))
    }

    /// The items observed in bin `at` of the block, other than `except`, in increasing order.
    fn others(&self, at: usize, except: usize) -> impl Iterator<Item = usize> + '_ {
        let words = &self.bits[at * self.words..(at + 1) * self.words];
        words.iter().enumerate().flat_map(move |(w, &word)| {
            let word = if except / 64 == w { word & !(1u64 << (except % 64)) } else { word };
            SetBits(word).map(move |b| w * 64 + b)
        })
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
/// both are observed; items sharing fewer than `min_pairs` bins are not candidates. `observed`:
/// the positions of `item`'s observed bins in its block, in order
/// ([`super::features::observed_positions`]); `index`: the grid's [`ObservedIndex`].
///
/// Each pair's sums take its shared bins in block order, as a scan of both blocks would: the
/// same sums to the last bit, whatever the index saves.
pub fn partners(
    values: &[f32],
    shape: GridShape,
    index: &ObservedIndex,
    item: usize,
    observed: &[usize],
    k: usize,
    min_pairs: usize,
) -> Vec<usize> {
    let block = shape.item_block_len();
    let own = &values[item * block..(item + 1) * block];
    let mut sums = vec![PairSums::default(); shape.items];
    for &at in observed {
        let x = f64::from(own[at]);
        for j in index.others(at, item) {
            sums[j].add(x, f64::from(values[j * block + at]));
        }
    }
    let mut scored: Vec<(f64, usize)> = sums
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != item)
        .filter_map(|(j, s)| Some((s.correlation(min_pairs)?.abs(), j)))
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

    /// The search as it was before the index: every other item read at every observed bin.
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
        let index = ObservedIndex::build(&values, shape);
        let observed = observed_positions(&values[..50]);
        assert_eq!(partners(&values, shape, &index, 0, &observed, 1, 10), vec![1]);
        assert_eq!(partners(&values, shape, &index, 0, &observed, 5, 10), vec![1, 2]);
        assert!(partners(&values, shape, &index, 0, &observed, 5, 1000).is_empty());
    }

    #[test]
    fn the_index_names_exactly_the_observed_items_of_every_bin() {
        // 130 items: three words per bin, the last one partly used; more bins than a part.
        let shape = GridShape { items: 130, admissions: 100, hours: 700 };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let values: Vec<f32> =
            (0..shape.len()).map(|_| if rng.gen_bool(0.05) { rng.gen() } else { N }).collect();
        let index = ObservedIndex::build(&values, shape);
        let block = shape.item_block_len();
        assert!(block > PART_BINS);
        for at in (0..block).step_by(97).chain([block - 1]) {
            for except in [0, 63, 64, 129] {
                let expected: Vec<usize> = (0..shape.items)
                    .filter(|&j| j != except && !values[j * block + at].is_nan())
                    .collect();
                assert_eq!(index.others(at, except).collect::<Vec<_>>(), expected, "bin {at}");
            }
        }
    }

    #[test]
    fn the_index_gives_the_partners_a_scan_gives_with_the_same_sums() {
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
        let index = ObservedIndex::build(&values, shape);
        for item in 0..shape.items {
            let observed = observed_positions(&values[item * block..(item + 1) * block]);
            for (k, min_pairs) in [(3, 10), (69, 3), (5, 200)] {
                assert_eq!(
                    partners(&values, shape, &index, item, &observed, k, min_pairs),
                    partners_by_scan(&values, shape, item, k, min_pairs),
                    "item {item}, k {k}, min_pairs {min_pairs}"
                );
            }
        }
    }
}
