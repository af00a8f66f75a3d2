//! What both split methods share: the bootstrap, the stopping rules, node statistics, the
//! per-node feature draw, and the writer that lays nodes out.

use super::seed::TreeRng;
use super::tree::Node;
use super::{ForestParams, MaxFeatures};

/// Marks a row that is not in the tree's bootstrap sample.
pub(crate) const OUT_OF_BAG: u32 = u32::MAX;

/// One in-bag row's target and bootstrap count, what every split scan reads per row.
///
/// 8 bytes, so that the scans' random reads stay in cache. A count is a small integer (about
/// Poisson(1)), exact in `f32`, and a count times a target is exact in `f64`, where all sums
/// are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RowStat {
    pub y: f32,
    pub w: f32,
}

/// The rows a tree learns from, renumbered `0..m` in row order ("local ids").
///
/// As scikit-learn: `n` draws with replacement give each row a count; rows drawn zero times are
/// out of the tree entirely, the others carry their count as a weight. Without bootstrap every
/// row is in with weight 1.
pub(crate) struct InBag {
    /// Local id of each row of the dataset, or [`OUT_OF_BAG`].
    pub local: Vec<u32>,
    /// Target and weight of each local id.
    pub stats: Vec<RowStat>,
}

impl InBag {
    pub(crate) fn draw(targets: &[f32], bootstrap: bool, rng: &mut TreeRng) -> InBag {
        let n = targets.len();
        let mut counts = vec![u32::from(!bootstrap); n];
        if bootstrap {
            // `n` fits in u32: Dataset::new checks it.
            for _ in 0..n {
                counts[rng.below(n as u32) as usize] += 1;
            }
        }
        let mut local = vec![OUT_OF_BAG; n];
        let mut stats = Vec::with_capacity(n);
        for (r, (&c, &y)) in counts.iter().zip(targets).enumerate() {
            if c > 0 {
                local[r] = stats.len() as u32;
                stats.push(RowStat { y, w: c as f32 });
            }
        }
        InBag { local, stats }
    }
}

/// Totals of one node, enough to decide whether it is a leaf and what it predicts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeStats {
    /// Distinct rows (what `min_samples_*` count, as in scikit-learn).
    pub n: usize,
    /// Sum of weights.
    pub w: f64,
    /// Weighted sum of targets.
    pub s: f64,
    pub y_min: f32,
    pub y_max: f32,
}

impl NodeStats {
    pub(crate) const EMPTY: NodeStats =
        NodeStats { n: 0, w: 0.0, s: 0.0, y_min: f32::INFINITY, y_max: f32::NEG_INFINITY };

    #[inline]
    pub(crate) fn add(&mut self, r: RowStat) {
        self.n += 1;
        self.w += f64::from(r.w);
        self.s += f64::from(r.w) * f64::from(r.y);
        self.y_min = self.y_min.min(r.y);
        self.y_max = self.y_max.max(r.y);
    }

    pub(crate) fn of(rows: impl IntoIterator<Item = RowStat>) -> NodeStats {
        let mut stats = NodeStats::EMPTY;
        rows.into_iter().for_each(|r| stats.add(r));
        stats
    }

    /// The leaf value: the weighted mean target.
    pub(crate) fn mean(&self) -> f32 {
        (self.s / self.w) as f32
    }
}

/// The stopping rules of [`ForestParams`], resolved for one dataset.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub max_depth: usize,
    pub min_leaf: usize,
    pub min_split: usize,
    /// Features to evaluate per node (all of them when fewer are not constant).
    pub max_features: usize,
}

impl Rules {
    pub(crate) fn new(params: &ForestParams, n_features: usize) -> Rules {
        Rules {
            max_depth: params.max_depth.unwrap_or(usize::MAX),
            min_leaf: params.min_samples_leaf.max(1),
            min_split: params.min_samples_split.max(2),
            max_features: params.max_features.resolve(n_features),
        }
    }

    /// Whether a node may be split (scikit-learn's checks before searching for a split).
    ///
    /// A pure node is a leaf: every split of it would gain nothing.
    pub(crate) fn may_split(&self, node: &NodeStats, depth: usize) -> bool {
        depth < self.max_depth
            && node.n >= self.min_split
            && node.n >= self.min_leaf.saturating_mul(2)
            && node.y_min < node.y_max
    }
}

impl MaxFeatures {
    /// The number of features to evaluate per node out of `n`, as scikit-learn computes it
    /// (`int()` truncation, at least 1), clamped to `1..=n` where scikit-learn would refuse.
    pub(crate) fn resolve(self, n: usize) -> usize {
        let k = match self {
            MaxFeatures::All => n,
            MaxFeatures::Sqrt => (n as f64).sqrt() as usize,
            MaxFeatures::Fraction(f) => (f64::from(f) * n as f64) as usize,
            MaxFeatures::Count(k) => k,
        };
        k.clamp(1, n.max(1))
    }
}

/// The random order in which a node looks at features.
///
/// A Fisher-Yates shuffle drawn one step at a time, so a node that finds what it needs early
/// stops drawing. The permutation carries over from node to node (as in scikit-learn): any
/// permutation is as good a start as the identity, and it saves a reset.
pub(crate) struct FeatureDraw {
    order: Vec<u32>,
}

impl FeatureDraw {
    pub(crate) fn new(n_features: usize) -> FeatureDraw {
        FeatureDraw { order: (0..n_features as u32).collect() }
    }

    /// Calls `evaluate(feature)` on features in a fresh random order until it has returned
    /// `true` (the feature is not constant in the node) `max_features` times, or no feature is
    /// left. Constant features do not count, so a node evaluates `max_features` real candidates
    /// whenever it has that many.
    pub(crate) fn for_each(
        &mut self,
        rng: &mut TreeRng,
        max_features: usize,
        mut evaluate: impl FnMut(usize) -> bool,
    ) {
        let n = self.order.len();
        let mut found = 0;
        for i in 0..n {
            let j = i + rng.below((n - i) as u32) as usize;
            self.order.swap(i, j);
            if evaluate(self.order[i] as usize) {
                found += 1;
                if found == max_features {
                    return;
                }
            }
        }
    }
}

/// How much a split decreases the node's squared error, as a fraction compared without
/// dividing.
///
/// scikit-learn maximizes `s_l^2 / w_l + s_r^2 / w_r`. Minus the node's constant `S^2 / W` that
/// is `(s_l W - S w_l)^2 / (W w_l w_r)`: the same order of splits, one fraction whose constant
/// `W` can go, compared by cross-multiplying. The scan over rows, the inner loop of training,
/// then divides nowhere (it divided twice per row), and the decrease is computed directly rather
/// than as a small change to a large constant, which is also more accurate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Gain {
    num: f64,
    den: f64,
}

impl Gain {
    /// Less than any split's gain.
    pub(crate) const NONE: Gain = Gain { num: -1.0, den: 1.0 };

    /// The gain of sending weight `w_left` with weighted target sum `s_left` left.
    #[inline]
    pub(crate) fn of(node: &NodeStats, w_left: f64, s_left: f64) -> Gain {
        let t = s_left * node.w - node.s * w_left;
        Gain { num: t * t, den: w_left * (node.w - w_left) }
    }

    /// Strictly larger: of equal gains, the first found wins.
    #[inline]
    pub(crate) fn beats(self, other: Gain) -> bool {
        self.num * other.den > other.num * self.den
    }
}

/// The best split found so far in a node. Ties keep the split found first, in feature draw
/// order then threshold order, as scikit-learn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Best {
    pub gain: Gain,
    pub feature: usize,
    /// Method-specific position of the split: the last left entry, or the last left bin.
    pub at: usize,
}

impl Best {
    pub(crate) const NONE: Best = Best { gain: Gain::NONE, feature: usize::MAX, at: 0 };

    pub(crate) fn found(self) -> Option<Best> {
        (self.feature != usize::MAX).then_some(self)
    }
}

/// The threshold between two consecutive distinct split keys `a < b`: their midpoint, or `a`
/// when the midpoint rounds to `b` or overflows (scikit-learn's rule). Either way `a` goes left
/// and `b` right under "right iff `x > threshold`".
pub(crate) fn midpoint(a: f32, b: f32) -> f32 {
    let t = ((f64::from(a) + f64::from(b)) * 0.5) as f32;
    if t >= b || t.is_infinite() {
        a
    } else {
        t
    }
}

/// Lays out nodes as training decides them: the root first, the two children of a split side
/// by side (the right child is `left + 1`).
pub(crate) struct NodeWriter {
    nodes: Vec<Node>,
    depth: usize,
}

impl NodeWriter {
    /// A writer holding the root's slot, index 0.
    pub(crate) fn new(capacity: usize) -> NodeWriter {
        let mut nodes = Vec::with_capacity(capacity);
        nodes.push(Node::leaf(0.0));
        NodeWriter { nodes, depth: 0 }
    }

    pub(crate) fn leaf(&mut self, id: usize, node: &NodeStats, depth: usize) {
        self.nodes[id] = Node::leaf(node.mean());
        self.depth = self.depth.max(depth);
    }

    /// The finished nodes, without the spare capacity reserved for a fully grown tree.
    pub(crate) fn finish(mut self) -> (Vec<Node>, usize) {
        self.nodes.shrink_to_fit();
        (self.nodes, self.depth)
    }

    /// Turns `id` into a split and returns the ids of its (still empty) children.
    pub(crate) fn split(&mut self, id: usize, feature: usize, threshold: f32) -> (usize, usize) {
        let left = self.nodes.len();
        self.nodes[id] = Node::split(feature as u32, threshold, left as u32);
        self.nodes.extend([Node::leaf(0.0); 2]);
        (left, left + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::TreeSeed;

    #[test]
    fn max_features_follows_sklearn() {
        assert_eq!(MaxFeatures::All.resolve(10), 10);
        assert_eq!(MaxFeatures::Sqrt.resolve(10), 3);
        assert_eq!(MaxFeatures::Sqrt.resolve(16), 4);
        assert_eq!(MaxFeatures::Fraction(0.33).resolve(10), 3);
        assert_eq!(MaxFeatures::Fraction(0.01).resolve(10), 1);
        assert_eq!(MaxFeatures::Count(4).resolve(10), 4);
        assert_eq!(MaxFeatures::Count(40).resolve(10), 10);
    }

    #[test]
    fn gain_orders_splits_as_sklearn_proxy() {
        // Rows (y, w); every split point of them, ranked both ways.
        let rows = [(1.0f32, 2.0f32), (4.0, 1.0), (2.0, 1.0), (8.0, 3.0), (3.0, 1.0)];
        let node = NodeStats::of(rows.iter().map(|&(y, w)| RowStat { y, w }));
        let mut splits = Vec::new();
        let (mut w, mut s) = (0.0, 0.0);
        for &(y, wy) in &rows[..4] {
            w += f64::from(wy);
            s += f64::from(wy) * f64::from(y);
            let proxy = s * s / w + (node.s - s).powi(2) / (node.w - w);
            splits.push((proxy, Gain::of(&node, w, s)));
        }
        for a in &splits {
            for b in &splits {
                assert_eq!(a.0 > b.0 + 1e-9, a.1.beats(b.1), "{a:?} {b:?}");
            }
            assert!(a.1.beats(Gain::NONE));
        }
    }

    #[test]
    fn midpoint_stays_between() {
        assert_eq!(midpoint(1.0, 2.0), 1.5);
        let a = 1.0f32;
        let b = f32::from_bits(a.to_bits() + 1);
        assert_eq!(midpoint(a, b), a);
        assert_eq!(midpoint(f32::NEG_INFINITY, -5.0), f32::NEG_INFINITY);
        assert_eq!(midpoint(f32::MAX, f32::INFINITY), f32::MAX);
    }

    #[test]
    fn bootstrap_weights_sum_to_n() {
        let targets = vec![0.0; 1000];
        let mut rng = TreeSeed { seed: 3, stream: 0, tree: 0 }.rng();
        let bag = InBag::draw(&targets, true, &mut rng);
        let total: f32 = bag.stats.iter().map(|s| s.w).sum();
        assert_eq!(total, 1000.0);
        // About 1 - 1/e of the rows are in the bag.
        assert!((580..690).contains(&bag.stats.len()), "{}", bag.stats.len());
        let all = InBag::draw(&targets, false, &mut rng);
        assert_eq!(all.stats.len(), 1000);
        assert!(all.local.iter().enumerate().all(|(r, &l)| l as usize == r));
    }

    #[test]
    fn feature_draw_skips_constants_and_stops() {
        let mut rng = TreeSeed { seed: 0, stream: 0, tree: 0 }.rng();
        let mut draw = FeatureDraw::new(6);
        let mut seen = Vec::new();
        // Features 0..3 are constant: the draw goes on until two others were evaluated.
        draw.for_each(&mut rng, 2, |f| {
            seen.push(f);
            f >= 3
        });
        assert_eq!(seen.iter().filter(|&&f| f >= 3).count(), 2);
        let mut all = Vec::new();
        draw.for_each(&mut rng, 6, |f| {
            all.push(f);
            true
        });
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3, 4, 5]);
    }
}
