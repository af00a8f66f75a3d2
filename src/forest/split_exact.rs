//! Exact splits, scikit-learn's `BestSplitter`, from lists sorted once per forest.
//!
//! Each feature's rows are sorted once per forest; a tree filters its in-bag rows out of those
//! orders (no sorting per tree either) and grows on [`SortedLists`] of split keys.

use std::ops::Range;

use rayon::prelude::*;

use super::dataset::{ordered_bits, split_key, Dataset};
use super::grow::{midpoint, FeatureDraw, InBag, NodeStats, NodeWriter, Rules, OUT_OF_BAG};
use super::seed::TreeRng;
use super::sorted::{Entry, SortedLists};
use super::ForestParams;

const BLANK: Entry<f32> = Entry { key: 0.0, id: 0 };

/// Every feature's rows sorted by split key, once per forest.
pub(crate) struct Presorted {
    n_rows: usize,
    n_features: usize,
    /// Feature `j`'s entries (`id` = dataset row) are `sorted[j * n_rows..][..n_rows]`.
    sorted: Vec<Entry<f32>>,
}

impl Presorted {
    pub(crate) fn new(data: &Dataset) -> Presorted {
        let n = data.n_rows();
        let mut sorted = vec![BLANK; n * data.n_features()];
        if n > 0 {
            sorted.par_chunks_mut(n).enumerate().for_each(|(j, out)| {
                // One u64 per row, key bits above row index: ties come out in row order.
                let column = data.column(j);
                let mut keys: Vec<u64> = column
                    .iter()
                    .enumerate()
                    .map(|(r, &x)| u64::from(ordered_bits(x)) << 32 | r as u64)
                    .collect();
                keys.sort_unstable();
                for (e, k) in out.iter_mut().zip(keys) {
                    let r = k as u32;
                    *e = Entry { key: split_key(column[r as usize]), id: r };
                }
            });
        }
        Presorted { n_rows: n, n_features: data.n_features(), sorted }
    }

    pub(crate) fn n_features(&self) -> usize {
        self.n_features
    }

    pub(crate) fn grow(&self, bag: &InBag, params: &ForestParams, rng: &mut TreeRng) -> NodeWriter {
        let m = bag.stats.len();
        // One slot of slack: the filter below writes every entry and keeps the in-bag ones.
        let mut lists = vec![BLANK; m * self.n_features + 1];
        if self.n_rows > 0 {
            for (j, feature) in self.sorted.chunks_exact(self.n_rows).enumerate() {
                // Branch-free: about a third of rows are out of the bag, at random. A write past
                // this feature's list lands in the next one's first slot, written again later.
                let mut kept = j * m;
                for e in feature {
                    let id = bag.local[e.id as usize];
                    lists[kept] = Entry { key: e.key, id };
                    kept += usize::from(id != OUT_OF_BAG);
                }
            }
        }
        lists.truncate(m * self.n_features);
        let rules = Rules::new(params, self.n_features);
        let mut lists = SortedLists::new(lists, &bag.stats, rules);
        let mut draw = FeatureDraw::new(self.n_features);
        let mut writer = NodeWriter::new(2 * m);
        let root = NodeStats::of(bag.stats.iter().copied());
        // Depth first, left child on top: a node's lists are still in cache for its children.
        let mut stack = vec![Pending { id: 0, rows: 0..m, depth: 0, stats: root }];
        while let Some(node) = stack.pop() {
            let split = if rules.may_split(&node.stats, node.depth) {
                lists.best_split(node.depth, node.rows.clone(), &node.stats, &mut draw, rng)
            } else {
                None
            };
            let Some(best) = split else {
                writer.leaf(node.id, &node.stats, node.depth);
                continue;
            };
            let list = lists.list(node.depth, best.feature, node.rows.clone());
            let threshold = midpoint(list[best.at].key, list[best.at + 1].key);
            let depth = node.depth + 1;
            let (mid, left, right) =
                lists.split(node.depth, node.rows.clone(), best.feature, best.at);
            let (left_id, right_id) = writer.split(node.id, best.feature, threshold);
            stack.push(Pending { id: right_id, rows: mid..node.rows.end, depth, stats: right });
            stack.push(Pending { id: left_id, rows: node.rows.start..mid, depth, stats: left });
        }
        writer
    }
}

/// A node waiting to be split: the range of every feature's list it owns.
struct Pending {
    id: usize,
    rows: Range<usize>,
    depth: usize,
    stats: NodeStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presort_orders_keys_with_missing_first_and_ties_by_row() {
        let data = Dataset::new(5, 1, vec![2.0, f32::NAN, -1.0, 2.0, 0.5]);
        let p = Presorted::new(&data);
        let ids: Vec<u32> = p.sorted.iter().map(|e| e.id).collect();
        assert_eq!(ids, [1, 2, 4, 0, 3]);
        assert_eq!(p.sorted[0].key, f32::NEG_INFINITY);
    }
}
