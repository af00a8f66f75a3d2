//! Per-feature row lists kept sorted through splits: exact split search without sorting.
//!
//! scikit-learn sorts each candidate feature's values at every node, `O(n log n)` per node and
//! feature. Here a tree keeps, per feature, its rows sorted by that feature; a node owns the
//! same range of every list. When a node splits, each list's range is stably partitioned into
//! the children's, which stay sorted. A node then costs one linear scan per candidate feature
//! and one linear partition per feature: `O(n d)` per tree level, every array walked front to
//! back.
//!
//! Two things come free with sorted lists: a feature is constant in a node iff the first and
//! last keys of its range are equal (no need to carry constant features from parent to child,
//! as scikit-learn does), and a constant feature's range needs no partitioning, since it stays
//! constant in every descendant, where it is never scanned.
//!
//! The exact method keeps lists of split keys for whole trees; the histogram method keeps lists
//! of bin codes for the small subtrees where histograms stop paying off.

use std::ops::Range;

use super::grow::{Best, FeatureDraw, Gain, NodeStats, RowStat, Rules};
use super::seed::TreeRng;

/// A row's key (split key or bin code) and local id, what the lists hold and move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Entry<K> {
    pub key: K,
    pub id: u32,
}

/// Every feature's list of one tree.
pub(crate) struct SortedLists<K> {
    /// Rows in the tree (local ids `0..m`).
    m: usize,
    /// Feature `j`'s list is `lists[j * m..][..m]`.
    lists: Vec<Entry<K>>,
    /// Per local id: whether it goes to the left child of the node being split.
    goes_left: Vec<bool>,
    scratch: Vec<Entry<K>>,
}

impl<K: Copy + PartialOrd> SortedLists<K> {
    /// Lists for `lists.len() / m` features of `m` rows each, sorted by the caller (or to be
    /// filled through [`SortedLists::list_mut`]).
    pub(crate) fn new(lists: Vec<Entry<K>>, m: usize) -> SortedLists<K> {
        debug_assert_eq!(lists.len() % m.max(1), 0);
        let blank = lists.first().copied();
        SortedLists {
            m,
            goes_left: vec![false; m],
            scratch: blank.map_or(Vec::new(), |b| vec![b; m]),
            lists,
        }
    }

    fn n_features(&self) -> usize {
        self.lists.len() / self.m.max(1)
    }

    pub(crate) fn list(&self, feature: usize, rows: Range<usize>) -> &[Entry<K>] {
        &self.lists[feature * self.m..][rows]
    }

    pub(crate) fn list_mut(&mut self, feature: usize, rows: Range<usize>) -> &mut [Entry<K>] {
        &mut self.lists[feature * self.m..][rows]
    }

    /// The best split of the node owning `rows`, over features drawn by `draw`.
    pub(crate) fn best_split(
        &self,
        rows: Range<usize>,
        node: &NodeStats,
        stats: &[RowStat],
        rules: &Rules,
        draw: &mut FeatureDraw,
        rng: &mut TreeRng,
    ) -> Option<Best> {
        let mut best = Best::NONE;
        draw.for_each(rng, rules.max_features, |feature| {
            let list = self.list(feature, rows.clone());
            if list[0].key == list[list.len() - 1].key {
                return false;
            }
            if let Some((gain, at)) = scan(list, stats, node, rules.min_leaf, best.gain) {
                best = Best { gain, feature, at };
            }
            true
        });
        best.found()
    }

    /// Splits the node owning `rows` after entry `at` of `feature`'s list. Returns where the
    /// right child's range starts and both children's statistics; partitions the other lists
    /// unless neither child can be split (at `depth`) anyway.
    pub(crate) fn split(
        &mut self,
        rows: Range<usize>,
        feature: usize,
        at: usize,
        stats: &[RowStat],
        rules: &Rules,
        depth: usize,
    ) -> (usize, NodeStats, NodeStats) {
        let mid = rows.start + at + 1;
        let (mut left, mut right) = (NodeStats::EMPTY, NodeStats::EMPTY);
        let list = &self.lists[feature * self.m..][rows.clone()];
        for (i, e) in list.iter().enumerate() {
            let is_left = i <= at;
            self.goes_left[e.id as usize] = is_left;
            let child = if is_left { &mut left } else { &mut right };
            child.add(stats[e.id as usize]);
        }
        if rules.may_split(&left, depth) || rules.may_split(&right, depth) {
            for other in (0..self.n_features()).filter(|&j| j != feature) {
                let list = &mut self.lists[other * self.m..][rows.clone()];
                if list[0].key != list[list.len() - 1].key {
                    stable_partition(list, &self.goes_left, &mut self.scratch);
                }
            }
        }
        (mid, left, right)
    }
}

/// The best split of one feature's sorted range that beats `to_beat`: `(gain, index of the
/// last left entry)`. Only boundaries between distinct keys with `min_leaf` rows on each side
/// are candidates.
///
/// The inner loop of training. Indexed rather than iterator-chained (`windows`, `skip`, `take`
/// left the iterator state in memory), and branchy on purpose: a branch-free running maximum
/// makes every row wait for the previous comparison, slower than the occasional misprediction.
fn scan<K: Copy + PartialOrd>(
    list: &[Entry<K>],
    stats: &[RowStat],
    node: &NodeStats,
    min_leaf: usize,
    to_beat: Gain,
) -> Option<(Gain, usize)> {
    let (mut w_left, mut s_left) = (0.0f64, 0.0f64);
    for e in &list[..min_leaf - 1] {
        let row = stats[e.id as usize];
        w_left += f64::from(row.w);
        s_left += f64::from(row.w) * f64::from(row.y);
    }
    let mut best_gain = to_beat;
    let mut best_at = None;
    for i in min_leaf - 1..list.len() - min_leaf {
        let (e, next) = (list[i], list[i + 1]);
        let row = stats[e.id as usize];
        w_left += f64::from(row.w);
        s_left += f64::from(row.w) * f64::from(row.y);
        if e.key < next.key {
            let gain = Gain::of(node, w_left, s_left);
            if gain.beats(best_gain) {
                best_gain = gain;
                best_at = Some(i);
            }
        }
    }
    best_at.map(|at| (best_gain, at))
}

/// Moves the entries whose row goes left to the front, the others after them, each group in
/// its original order (so both stay sorted by key).
fn stable_partition<K: Copy>(list: &mut [Entry<K>], goes_left: &[bool], scratch: &mut [Entry<K>]) {
    let (mut l, mut r) = (0, 0);
    for i in 0..list.len() {
        let e = list[i];
        let left = goes_left[e.id as usize];
        // Branch-free: write both places, advance one. `l <= i`, so nothing unread is lost.
        list[l] = e;
        scratch[r] = e;
        l += usize::from(left);
        r += usize::from(!left);
    }
    list[l..].copy_from_slice(&scratch[..r]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(keys: &[f32]) -> Vec<Entry<f32>> {
        keys.iter().enumerate().map(|(i, &key)| Entry { key, id: i as u32 }).collect()
    }

    #[test]
    fn stable_partition_keeps_order() {
        let mut list = entries(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
        let goes_left: Vec<bool> = (0..8).map(|i| i % 3 == 0).collect();
        let mut scratch = list.clone();
        stable_partition(&mut list, &goes_left, &mut scratch);
        let ids: Vec<u32> = list.iter().map(|e| e.id).collect();
        assert_eq!(ids, [0, 3, 6, 1, 2, 4, 5, 7]);
    }

    #[test]
    fn scan_respects_min_leaf_and_ties() {
        let list = entries(&[1.0, 1.0, 2.0, 3.0, 4.0]);
        let stats: Vec<RowStat> =
            [0.0, 0.0, 0.0, 5.0, 5.0].iter().map(|&y| RowStat { y, w: 1.0 }).collect();
        let node = NodeStats::of(stats.iter().copied());
        assert_eq!(scan(&list, &stats, &node, 1, Gain::NONE).map(|b| b.1), Some(2));
        // With 3 rows per side no boundary qualifies; with 2 the clean cut 2|3 still does.
        assert_eq!(scan(&list, &stats, &node, 3, Gain::NONE), None);
        assert_eq!(scan(&list, &stats, &node, 2, Gain::NONE).map(|b| b.1), Some(2));
        // Equal keys are never separated: the only boundary of [1, 1, 2] is after both 1s.
        let list = entries(&[1.0, 1.0, 2.0]);
        let stats: Vec<RowStat> = [0.0, 9.0, 9.0].iter().map(|&y| RowStat { y, w: 1.0 }).collect();
        let node = NodeStats::of(stats.iter().copied());
        assert_eq!(scan(&list, &stats, &node, 1, Gain::NONE).map(|b| b.1), Some(1));
    }
}
