//! Histogram splits: features quantized once into at most `bins` bins, splits at bin edges.
//!
//! A large node sums `(rows, weight, weighted target)` per bin and feature, then scans bins
//! instead of rows, so its split search costs `O(bins)` per feature however many rows it holds.
//! Of two children only the smaller one's histograms are summed from rows; the larger one's
//! are its parent's minus the smaller's (the subtraction trick of LightGBM), so a tree level
//! costs at most half its rows in summing. Small nodes gain nothing from bins: a node below
//! [`MIN_HISTOGRAM_ROWS`] sorts its rows' codes once per feature and grows its whole subtree on
//! [`SortedLists`] of codes, the exact method's machinery.
//!
//! Trees trained this way are ordinary [`Tree`](super::Tree)s: a split's threshold is the real
//! value of its bin edge, so prediction reads raw features.

use std::ops::Range;

use rayon::prelude::*;

use super::dataset::{ordered_bits, split_key, Dataset};
use super::grow::{midpoint, Best, FeatureDraw, Gain, InBag, NodeStats, NodeWriter, RowStat};
use super::grow::{Rules, OUT_OF_BAG};
use super::seed::TreeRng;
use super::sorted::{Entry, SortedLists};
use super::ForestParams;

/// A bin index: `u8` when 256 bins suffice, `u16` otherwise. Smaller codes mean less memory
/// traffic when summing histograms, the method's inner loop.
pub(crate) trait Code: Copy + Send + Sync + Ord {
    fn new(bin: usize) -> Self;
    fn get(self) -> usize;
}

impl Code for u8 {
    fn new(bin: usize) -> u8 {
        bin as u8
    }
    #[inline]
    fn get(self) -> usize {
        usize::from(self)
    }
}

impl Code for u16 {
    fn new(bin: usize) -> u16 {
        bin as u16
    }
    #[inline]
    fn get(self) -> usize {
        usize::from(self)
    }
}

/// Every value of the dataset as its bin, column-major, once per forest.
pub(crate) struct Binned {
    n_rows: usize,
    /// Per feature, the thresholds between consecutive bins: `edges[j][c]` separates bin `c`
    /// from bin `c + 1`, and a value's bin is the number of edges below it.
    edges: Vec<Vec<f32>>,
    codes: Codes,
}

enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

impl Binned {
    /// Bins every feature into at most `bins` bins (2 at least).
    pub(crate) fn new(data: &Dataset, bins: u16) -> Binned {
        let bins = usize::from(bins.max(2));
        let edges: Vec<Vec<f32>> = (0..data.n_features())
            .into_par_iter()
            .map(|j| bin_edges(data.column(j), bins))
            .collect();
        let codes = if bins <= 256 {
            Codes::U8(encode(data, &edges))
        } else {
            Codes::U16(encode(data, &edges))
        };
        Binned { n_rows: data.n_rows(), edges, codes }
    }

    pub(crate) fn n_features(&self) -> usize {
        self.edges.len()
    }

    pub(crate) fn grow(&self, bag: &InBag, params: &ForestParams, rng: &mut TreeRng) -> NodeWriter {
        match &self.codes {
            Codes::U8(codes) => self.grower(codes, bag, params).grow(rng),
            Codes::U16(codes) => self.grower(codes, bag, params).grow(rng),
        }
    }

    fn grower<'a, C: Code>(
        &'a self,
        codes: &[C],
        bag: &'a InBag,
        params: &ForestParams,
    ) -> Grower<'a, C> {
        let m = bag.stats.len();
        let mut local = Vec::with_capacity(m * self.n_features());
        if self.n_rows > 0 {
            for column in codes.chunks_exact(self.n_rows) {
                let in_bag = column.iter().zip(&bag.local).filter(|(_, &l)| l != OUT_OF_BAG);
                local.extend(in_bag.map(|(c, _)| *c));
            }
        }
        let mut offsets = vec![0];
        for e in &self.edges {
            offsets.push(offsets[offsets.len() - 1] + e.len() + 1);
        }
        let blank = Entry { key: C::new(0), id: 0 };
        let rules = Rules::new(params, self.n_features());
        Grower {
            rules,
            edges: &self.edges,
            m,
            codes: local,
            stats: &bag.stats,
            rows: (0..m as u32).collect(),
            scratch: vec![0; m],
            offsets,
            pool: Vec::new(),
            lists: SortedLists::new(vec![blank; m * self.n_features()], &bag.stats, rules),
            draw: FeatureDraw::new(self.n_features()),
        }
    }
}

/// Edges cutting `column` into at most `bins` bins of about equal row counts, cutting only
/// between distinct values (at their midpoint). Missing values (and `-inf`) get a bin of
/// their own, so "missing or not" is always a candidate split.
fn bin_edges(column: &[f32], bins: usize) -> Vec<f32> {
    let mut keys: Vec<u32> = column.iter().map(|&x| ordered_bits(x)).collect();
    keys.sort_unstable();
    // Distinct split keys and their counts (`-0.0` and `0.0` are one key).
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for k in keys {
        let x = from_ordered_bits(k);
        match distinct.last_mut() {
            Some((last, count)) if *last == x => *count += 1,
            _ => distinct.push((x, 1)),
        }
    }
    if distinct.len() <= bins {
        return distinct.windows(2).map(|w| midpoint(w[0].0, w[1].0)).collect();
    }
    let mut edges = Vec::with_capacity(bins - 1);
    let mut rest = &distinct[..];
    let mut remaining = column.len();
    if distinct[0].0 == f32::NEG_INFINITY {
        edges.push(midpoint(distinct[0].0, distinct[1].0));
        remaining -= distinct[0].1;
        rest = &distinct[1..];
    }
    // Greedy quantiles: close a bin once it holds its share of the rows still to be binned, so
    // a value too frequent for one bin does not starve the bins after it.
    let mut in_bin = 0;
    for (i, &(x, count)) in rest[..rest.len() - 1].iter().enumerate() {
        if edges.len() == bins - 1 {
            break;
        }
        in_bin += count;
        let bins_left = bins - edges.len();
        if in_bin * bins_left >= remaining {
            edges.push(midpoint(x, rest[i + 1].0));
            remaining -= in_bin;
            in_bin = 0;
        }
    }
    edges
}

/// Inverse of [`ordered_bits`] (on split keys).
fn from_ordered_bits(b: u32) -> f32 {
    f32::from_bits(if b >> 31 == 1 { b & 0x7FFF_FFFF } else { !b })
}

fn encode<C: Code>(data: &Dataset, edges: &[Vec<f32>]) -> Vec<C> {
    let n = data.n_rows();
    let mut codes = vec![C::new(0); n * edges.len()];
    if n > 0 {
        codes.par_chunks_mut(n).zip(edges).enumerate().for_each(|(j, (out, edges))| {
            for (c, &x) in out.iter_mut().zip(data.column(j)) {
                let x = split_key(x);
                *c = C::new(edges.partition_point(|&t| t < x));
            }
        });
    }
    codes
}

/// One bin of a histogram: rows, weight and weighted target sum of the node's rows in it.
#[derive(Debug, Clone, Copy, Default)]
struct Bin {
    s: f64,
    w: u32,
    n: u32,
}

/// Below this many rows a node's subtree grows on sorted lists of codes: summing and scanning
/// histograms of `bins` bins per feature no longer beats scanning the rows themselves (256 fit
/// fastest of 64 to 4096, on 20 000 rows x 10 features with 255 bins).
const MIN_HISTOGRAM_ROWS: usize = 256;

/// How a node looks for its split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Needs {
    /// It is large: histograms.
    Histograms,
    /// It is small: its range of the sorted lists, filled when the node is created from a
    /// large parent, partitioned by the split of a small one.
    Lists,
    /// It is a leaf.
    Nothing,
}

/// A node waiting to be split: its range of rows (and of the sorted lists), and its
/// histograms if it [needs](Needs) them.
struct Pending {
    id: usize,
    rows: Range<usize>,
    depth: usize,
    stats: NodeStats,
    histograms: Option<Vec<Bin>>,
}

impl Pending {
    /// A node without histograms yet, and without its id: the writer gives it on the split.
    fn new(rows: Range<usize>, depth: usize, stats: NodeStats) -> Pending {
        Pending { id: 0, rows, depth, stats, histograms: None }
    }
}

/// The state of one tree's training.
struct Grower<'a, C> {
    rules: Rules,
    edges: &'a [Vec<f32>],
    m: usize,
    /// Feature `j`'s codes by local id: `codes[j * m..][..m]`.
    codes: Vec<C>,
    stats: &'a [RowStat],
    /// Local ids of large nodes; a node owns `rows[range]`, kept in increasing order by stable
    /// partitions so that reading their codes walks memory forwards.
    rows: Vec<u32>,
    scratch: Vec<u32>,
    /// Feature `j`'s bins are `histograms[offsets[j]..offsets[j + 1]]`.
    offsets: Vec<usize>,
    /// Histogram buffers no node holds any more, for reuse.
    pool: Vec<Vec<Bin>>,
    /// Small subtrees' lists of codes.
    lists: SortedLists<'a, C>,
    draw: FeatureDraw,
}

impl<C: Code> Grower<'_, C> {
    fn grow(mut self, rng: &mut TreeRng) -> NodeWriter {
        let mut writer = NodeWriter::new(2 * self.m);
        let mut root = Pending::new(0..self.m, 0, NodeStats::of(self.stats.iter().copied()));
        match self.needs(&root) {
            Needs::Histograms => root.histograms = Some(self.sum_histograms(root.rows.clone())),
            Needs::Lists => self.fill_lists(0, root.rows.clone()),
            Needs::Nothing => {}
        }
        let mut stack = vec![root];
        while let Some(mut node) = stack.pop() {
            let split = match node.histograms.take() {
                _ if !self.rules.may_split(&node.stats, node.depth) => None,
                Some(histograms) => self.split_large(&node, histograms, rng),
                None => self.split_small(&node, rng),
            };
            let Some((feature, threshold, [left, right])) = split else {
                writer.leaf(node.id, &node.stats, node.depth);
                continue;
            };
            let (left_id, right_id) = writer.split(node.id, feature, threshold);
            stack.push(Pending { id: right_id, ..right });
            stack.push(Pending { id: left_id, ..left });
        }
        writer
    }

    /// How a node will look for its split, if it may split at all.
    fn needs(&self, node: &Pending) -> Needs {
        if !self.rules.may_split(&node.stats, node.depth) {
            Needs::Nothing
        } else if node.stats.n >= MIN_HISTOGRAM_ROWS {
            Needs::Histograms
        } else {
            Needs::Lists
        }
    }

    /// Splits a large node on its histograms: `(feature, threshold, [left, right])`.
    fn split_large(
        &mut self,
        node: &Pending,
        histograms: Vec<Bin>,
        rng: &mut TreeRng,
    ) -> Option<(usize, f32, [Pending; 2])> {
        let mut best = Best::NONE;
        self.draw.for_each(rng, self.rules.max_features, |feature| {
            let bins = &histograms[self.offsets[feature]..self.offsets[feature + 1]];
            match scan_bins(bins, &node.stats, self.rules.min_leaf, best.gain) {
                Scan::Constant => false,
                Scan::NoBetter => true,
                Scan::Better(gain, at) => {
                    best = Best { gain, feature, at };
                    true
                }
            }
        });
        let Some(best) = best.found() else {
            self.pool.push(histograms);
            return None;
        };
        let (mid, left, right) = self.partition(node.rows.clone(), best.feature, best.at);
        let depth = node.depth + 1;
        let mut left = Pending::new(node.rows.start..mid, depth, left);
        let mut right = Pending::new(mid..node.rows.end, depth, right);
        self.prepare_children(histograms, &mut left, &mut right);
        Some((best.feature, self.edges[best.feature][best.at], [left, right]))
    }

    /// Gives each child of a large node what [`Grower::needs`] says. Histograms come by the
    /// subtraction trick where the larger child needs them: the smaller child's are summed
    /// and subtracted from the parent's, whose buffer becomes the larger child's.
    fn prepare_children(&mut self, mut parent: Vec<Bin>, left: &mut Pending, right: &mut Pending) {
        let (small, large) =
            if left.stats.n <= right.stats.n { (left, right) } else { (right, left) };
        let (small_needs, large_needs) = (self.needs(small), self.needs(large));
        if large_needs == Needs::Histograms {
            let summed = self.sum_histograms(small.rows.clone());
            for (p, s) in parent.iter_mut().zip(&summed) {
                p.s -= s.s;
                p.w -= s.w;
                p.n -= s.n;
            }
            large.histograms = Some(parent);
            if small_needs == Needs::Histograms {
                small.histograms = Some(summed);
            } else {
                self.pool.push(summed);
            }
        } else {
            self.pool.push(parent);
            if small_needs == Needs::Histograms {
                small.histograms = Some(self.sum_histograms(small.rows.clone()));
            }
        }
        for (child, needs) in [(small, small_needs), (large, large_needs)] {
            if needs == Needs::Lists {
                self.fill_lists(child.depth, child.rows.clone());
            }
        }
    }

    /// Splits a small node on its sorted lists of codes: `(feature, threshold, [left, right])`.
    fn split_small(
        &mut self,
        node: &Pending,
        rng: &mut TreeRng,
    ) -> Option<(usize, f32, [Pending; 2])> {
        let rows = node.rows.clone();
        let best =
            self.lists.best_split(node.depth, rows.clone(), &node.stats, &mut self.draw, rng)?;
        let bin = self.lists.list(node.depth, best.feature, rows.clone())[best.at].key;
        let depth = node.depth + 1;
        let (mid, left, right) = self.lists.split(node.depth, rows.clone(), best.feature, best.at);
        let children =
            [Pending::new(rows.start..mid, depth, left), Pending::new(mid..rows.end, depth, right)];
        Some((best.feature, self.edges[best.feature][bin.get()], children))
    }

    /// Sorts the codes of `rows[range]` into every feature's list (ties by position, so the
    /// order is deterministic).
    fn fill_lists(&mut self, depth: usize, range: Range<usize>) {
        const { assert!(MIN_HISTOGRAM_ROWS <= 1 << 16) };
        let rows = &self.rows[range.clone()];
        let mut keys: Vec<u32> = Vec::with_capacity(rows.len());
        for j in 0..self.edges.len() {
            let codes = &self.codes[j * self.m..][..self.m];
            keys.clear();
            // Code above, position below: positions are < MIN_HISTOGRAM_ROWS <= 2^16.
            keys.extend(
                rows.iter()
                    .enumerate()
                    .map(|(p, &id)| (codes[id as usize].get() as u32) << 16 | p as u32),
            );
            keys.sort_unstable();
            for (e, k) in self.lists.list_mut(depth, j, range.clone()).iter_mut().zip(&keys) {
                *e = Entry { key: C::new((k >> 16) as usize), id: rows[(k & 0xFFFF) as usize] };
            }
        }
    }

    /// Stably partitions `rows[range]` into bins `..=last_left` and the rest; returns where the
    /// right child starts and both children's statistics.
    fn partition(
        &mut self,
        range: Range<usize>,
        feature: usize,
        last_left: usize,
    ) -> (usize, NodeStats, NodeStats) {
        let codes = &self.codes[feature * self.m..][..self.m];
        let rows = &mut self.rows[range.clone()];
        let (mut left, mut right) = (NodeStats::EMPTY, NodeStats::EMPTY);
        let (mut l, mut r) = (0, 0);
        for i in 0..rows.len() {
            let id = rows[i];
            let goes_left = codes[id as usize].get() <= last_left;
            let child = if goes_left { &mut left } else { &mut right };
            child.add(self.stats[id as usize]);
            rows[l] = id;
            self.scratch[r] = id;
            l += usize::from(goes_left);
            r += usize::from(!goes_left);
        }
        rows[l..].copy_from_slice(&self.scratch[..r]);
        (range.start + l, left, right)
    }

    /// Every feature's histogram of the rows `rows[range]`.
    fn sum_histograms(&mut self, range: Range<usize>) -> Vec<Bin> {
        let total = self.offsets[self.offsets.len() - 1];
        let mut h = self.pool.pop().unwrap_or_default();
        h.clear();
        h.resize(total, Bin::default());
        let rows = &self.rows[range];
        for (j, bins) in self.offsets.windows(2).enumerate() {
            let bins = &mut h[bins[0]..bins[1]];
            let codes = &self.codes[j * self.m..][..self.m];
            for &id in rows {
                let row = self.stats[id as usize];
                let bin = &mut bins[codes[id as usize].get()];
                bin.s += f64::from(row.w) * f64::from(row.y);
                bin.w += row.w as u32;
                bin.n += 1;
            }
        }
        h
    }
}

/// What a feature's split search found.
enum Scan {
    /// The node's rows all share one bin: the feature does not count as evaluated.
    Constant,
    NoBetter,
    /// `(gain, last left bin)`.
    Better(Gain, usize),
}

/// The best boundary between non-empty bins with `min_leaf` rows on each side.
fn scan_bins(bins: &[Bin], node: &NodeStats, min_leaf: usize, to_beat: Gain) -> Scan {
    let mut found = Scan::Constant;
    let mut best_gain = to_beat;
    let (mut w_left, mut s_left, mut n_left) = (0.0f64, 0.0f64, 0usize);
    let mut last = None;
    for (c, bin) in bins.iter().enumerate().filter(|(_, b)| b.n > 0) {
        if let Some(prev) = last {
            if matches!(found, Scan::Constant) {
                found = Scan::NoBetter;
            }
            if n_left >= min_leaf && node.n - n_left >= min_leaf {
                let gain = Gain::of(node, w_left, s_left);
                if gain.beats(best_gain) {
                    best_gain = gain;
                    found = Scan::Better(gain, prev);
                }
            }
        }
        w_left += f64::from(bin.w);
        s_left += bin.s;
        n_left += bin.n as usize;
        last = Some(c);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let edges = bin_edges(&[3.0, 1.0, 2.0, 1.0, f32::NAN], 255);
        assert_eq!(edges, [f32::NEG_INFINITY, 1.5, 2.5]);
    }

    #[test]
    fn many_values_get_quantile_bins() {
        let column: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let edges = bin_edges(&column, 4);
        assert_eq!(edges, [249.5, 499.5, 749.5]);
        // A heavy value fills its own bin; the bins after it share the rest.
        let mut column = vec![0.0f32; 600];
        column.extend((1..=400).map(|i| i as f32));
        let edges = bin_edges(&column, 4);
        assert_eq!(edges.len(), 3);
        assert_eq!(edges[0], 0.5);
    }

    #[test]
    fn missing_values_keep_their_own_bin() {
        let mut column: Vec<f32> = (0..100).map(|i| i as f32).collect();
        column[7] = f32::NAN;
        let edges = bin_edges(&column, 8);
        assert_eq!(edges[0], f32::NEG_INFINITY);
        assert!(edges.len() <= 7);
    }

    #[test]
    fn codes_count_edges_below() {
        let data = Dataset::new(5, 1, vec![f32::NAN, 1.0, 1.5, 2.0, 9.0]);
        let codes: Vec<u8> = encode(&data, &[vec![f32::NEG_INFINITY, 1.5, 2.5]]);
        assert_eq!(codes, [0, 1, 1, 2, 3]);
        assert_eq!(from_ordered_bits(ordered_bits(-2.5)), -2.5);
        assert_eq!(from_ordered_bits(ordered_bits(f32::NAN)), f32::NEG_INFINITY);
    }
}
