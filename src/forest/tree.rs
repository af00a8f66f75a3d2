//! One regression tree: flat nodes, fitting, and single-row prediction.

use super::{Dataset, ForestParams, Trainer, TreeSeed};

/// A node, 12 bytes: a split (`feature`, `value` = threshold, children `left` and `left + 1`) or
/// a leaf (`feature == LEAF`, `value` = prediction).
///
/// One array of small nodes keeps a prediction's walk to one cache line per level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Node {
    pub feature: u32,
    pub value: f32,
    pub left: u32,
}

/// `Node::feature` of a leaf.
pub(crate) const LEAF: u32 = u32::MAX;

impl Node {
    pub(crate) fn leaf(value: f32) -> Node {
        Node { feature: LEAF, value, left: 0 }
    }

    pub(crate) fn split(feature: u32, threshold: f32, left: u32) -> Node {
        Node { feature, value: threshold, left }
    }

    pub(crate) fn is_leaf(&self) -> bool {
        self.feature == LEAF
    }

    /// The child a value of the node's feature goes to: right iff `x > threshold`, so `NaN`
    /// (missing) goes left.
    #[inline]
    pub(crate) fn child(&self, x: f32) -> usize {
        self.left as usize + usize::from(x > self.value)
    }
}

/// A fitted regression tree.
///
/// Invariants (checked by [`Tree::from_bytes`], guaranteed by fitting): node 0 is the root;
/// every split's children come after it and exist; every node but the root is the child of
/// exactly one split; split features are below `n_features`. So a walk from the root ends at a
/// leaf within `depth` steps and never leaves the array.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub(crate) n_features: u32,
    pub(crate) depth: u32,
    pub(crate) nodes: Vec<Node>,
}

impl Tree {
    /// Fits one tree to `targets` (one per row of `data`) with the randomness of `seed`.
    ///
    /// This prepares the data (sorts or bins every feature) for one tree: to fit several trees
    /// on the same data, prepare it once with a [`Trainer`].
    ///
    /// # Panics
    /// As [`Forest::fit`](super::Forest::fit).
    pub fn fit(data: &Dataset, targets: &[f32], params: &ForestParams, seed: TreeSeed) -> Tree {
        Trainer::new(data, targets, params).fit_tree(seed)
    }

    /// Predicts one row; `row(j)` returns the row's value of feature `j` (`NaN` if missing).
    pub fn predict_row(&self, row: impl Fn(usize) -> f32) -> f32 {
        let mut node = self.nodes[0];
        while !node.is_leaf() {
            node = self.nodes[node.child(row(node.feature as usize))];
        }
        node.value
    }

    /// Number of nodes, splits and leaves.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Length of the longest root-to-leaf path in splits (a lone leaf has depth 0).
    pub fn depth(&self) -> usize {
        self.depth as usize
    }

    /// Number of features a row must have.
    pub fn n_features(&self) -> usize {
        self.n_features as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{MaxFeatures, SplitMethod};

    /// One tree without bootstrap: it sees every row once, so results are hand-checkable.
    fn params(split: SplitMethod) -> ForestParams {
        ForestParams { trees: 1, bootstrap: false, split, ..ForestParams::default() }
    }

    const METHODS: [SplitMethod; 2] = [SplitMethod::Exact, SplitMethod::Histogram { bins: 255 }];
    const SEED: TreeSeed = TreeSeed { seed: 0, stream: 0, tree: 0 };

    fn column(xs: &[f32]) -> Dataset {
        Dataset::new(xs.len(), 1, xs.to_vec())
    }

    #[test]
    fn a_step_is_one_split_at_the_midpoint() {
        let data = column(&[0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0]);
        let y = [5.0, 5.0, 5.0, 5.0, -1.0, -1.0, -1.0];
        for method in METHODS {
            let tree = Tree::fit(&data, &y, &params(method), SEED);
            assert_eq!(tree.node_count(), 3, "{method:?}");
            assert_eq!(tree.depth(), 1);
            assert_eq!(tree.nodes[0], Node::split(0, 6.5, 1));
            assert_eq!(tree.predict_row(|_| 3.0), 5.0);
            assert_eq!(tree.predict_row(|_| 6.5), 5.0);
            assert_eq!(tree.predict_row(|_| 6.6), -1.0);
        }
    }

    #[test]
    fn a_constant_target_is_one_leaf() {
        let data = column(&[3.0, 1.0, 4.0, 1.0, 5.0]);
        for method in METHODS {
            let tree = Tree::fit(&data, &[2.5; 5], &params(method), SEED);
            assert_eq!((tree.node_count(), tree.depth()), (1, 0));
            assert_eq!(tree.predict_row(|_| 100.0), 2.5);
        }
    }

    #[test]
    fn no_features_is_one_leaf() {
        let data = Dataset::new(4, 0, Vec::new());
        for method in METHODS {
            let tree = Tree::fit(&data, &[1.0, 2.0, 3.0, 6.0], &params(method), SEED);
            assert_eq!((tree.node_count(), tree.predict_row(|_| unreachable!())), (1, 3.0));
        }
    }

    #[test]
    fn unlimited_trees_fit_distinct_rows_exactly() {
        let xs: Vec<f32> = (0..50).map(|i| ((i * 37) % 50) as f32).collect();
        let y: Vec<f32> = (0..50).map(|i| (i * i % 17) as f32).collect();
        let data = column(&xs);
        for method in METHODS {
            let tree = Tree::fit(&data, &y, &params(method), SEED);
            for (x, y) in xs.iter().zip(&y) {
                assert_eq!(tree.predict_row(|_| *x), *y, "{method:?}");
            }
        }
    }

    #[test]
    fn min_samples_leaf_is_respected() {
        let xs: Vec<f32> = (0..40).map(|i| i as f32).collect();
        let y: Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32).collect();
        let data = column(&xs);
        for method in METHODS {
            let p = ForestParams { min_samples_leaf: 6, ..params(method) };
            let tree = Tree::fit(&data, &y, &p, SEED);
            assert!(tree.node_count() > 1);
            // Every leaf holds at least 6 training rows.
            let mut per_leaf = std::collections::HashMap::new();
            for x in &xs {
                *per_leaf.entry(leaf_of(&tree, *x)).or_insert(0) += 1;
            }
            assert!(per_leaf.values().all(|&n| n >= 6), "{method:?} {per_leaf:?}");
        }
    }

    fn leaf_of(tree: &Tree, x: f32) -> usize {
        let mut i = 0;
        while !tree.nodes[i].is_leaf() {
            i = tree.nodes[i].child(x);
        }
        i
    }

    #[test]
    fn max_depth_is_respected() {
        let xs: Vec<f32> = (0..64).map(|i| i as f32).collect();
        let y: Vec<f32> = (0..64).map(|i| ((i * 13) % 7) as f32).collect();
        for method in METHODS {
            for depth in [0, 1, 3] {
                let p = ForestParams { max_depth: Some(depth), ..params(method) };
                let tree = Tree::fit(&column(&xs), &y, &p, SEED);
                assert_eq!(tree.depth(), depth, "{method:?}");
            }
        }
    }

    #[test]
    fn min_samples_split_is_respected() {
        let data = column(&[0.0, 1.0, 2.0]);
        for method in METHODS {
            let p = ForestParams { min_samples_split: 4, ..params(method) };
            assert_eq!(Tree::fit(&data, &[0.0, 1.0, 2.0], &p, SEED).node_count(), 1);
        }
    }

    #[test]
    fn missing_values_go_left() {
        let nan = f32::NAN;
        // Missing rows have the target of the small values: one split separates both.
        let data = column(&[nan, 1.0, nan, 2.0, 8.0, 9.0]);
        let y = [0.0, 0.0, 0.0, 0.0, 4.0, 4.0];
        for method in METHODS {
            let tree = Tree::fit(&data, &y, &params(method), SEED);
            assert_eq!(tree.node_count(), 3, "{method:?}");
            assert_eq!(tree.predict_row(|_| nan), 0.0);
            assert_eq!(tree.predict_row(|_| 9.0), 4.0);
        }
        // Missing rows alone on one side: the threshold is below every number.
        let y = [7.0, 0.0, 7.0, 0.0, 0.0, 0.0];
        for method in METHODS {
            let tree = Tree::fit(&data, &y, &params(method), SEED);
            assert_eq!(tree.nodes[0], Node::split(0, f32::NEG_INFINITY, 1), "{method:?}");
            assert_eq!(tree.predict_row(|_| nan), 7.0);
            assert_eq!(tree.predict_row(|_| -1e30), 0.0);
        }
    }

    #[test]
    fn the_best_feature_wins() {
        // Feature 1 explains the target, feature 0 is noise, feature 2 is constant.
        let rows: Vec<Vec<f32>> =
            (0..30).map(|i| vec![((i * 7) % 30) as f32, (i / 10) as f32, 1.0]).collect();
        let y: Vec<f32> = (0..30).map(|i| (i / 10) as f32 * 3.0).collect();
        let data = Dataset::from_rows(&rows);
        for method in METHODS {
            let p = ForestParams { max_features: MaxFeatures::All, ..params(method) };
            let tree = Tree::fit(&data, &y, &p, SEED);
            assert_eq!(tree.node_count(), 5, "{method:?}");
            assert!(tree.nodes.iter().all(|n| n.is_leaf() || n.feature == 1));
        }
    }
}
