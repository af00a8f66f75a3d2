//! Data prepared once, trees fitted from it one at a time.

use super::grow::InBag;
use super::{split_exact, split_histogram, Dataset, ForestParams, SplitMethod, Tree, TreeSeed};

/// A training set prepared for its split method, from which any number of trees can be fitted,
/// in any order, on any threads.
///
/// Preparing (sorting every feature once for exact splits, binning it for histograms) costs
/// about as much as fitting a fully grown tree, so a forest prepares once: [`Forest::fit`]
/// does it through a `Trainer`, and so can a scheduler that fits trees as separate tasks. The
/// tree fitted for a [`TreeSeed`] is the same whichever `Trainer` call fits it.
///
/// [`Forest::fit`]: super::Forest::fit
pub struct Trainer {
    data: Prepared,
    targets: Vec<f32>,
    params: ForestParams,
}

/// The data in the form its split method trains on.
enum Prepared {
    Exact(split_exact::Presorted),
    Histogram(split_histogram::Binned),
}

impl Trainer {
    /// Prepares `data` and `targets` (one per row) for trees with `params` (`params.trees` is
    /// not used here).
    ///
    /// # Panics
    /// If `targets.len() != data.n_rows()`, if `data` has no rows, or if a target is not finite.
    pub fn new(data: &Dataset, targets: &[f32], params: &ForestParams) -> Trainer {
        assert_eq!(targets.len(), data.n_rows(), "one target per row");
        assert!(data.n_rows() > 0, "a tree needs at least one training row");
        assert!(targets.iter().all(|y| y.is_finite()), "targets must be finite");
        let data = match params.split {
            SplitMethod::Exact => Prepared::Exact(split_exact::Presorted::new(data)),
            SplitMethod::Histogram { bins } => {
                Prepared::Histogram(split_histogram::Binned::new(data, bins))
            }
        };
        Trainer { data, targets: targets.to_vec(), params: params.clone() }
    }

    /// Fits the tree of `seed`: its bootstrap sample and every random choice come from `seed`'s
    /// stream alone.
    pub fn fit_tree(&self, seed: TreeSeed) -> Tree {
        let mut rng = seed.rng();
        let bag = InBag::draw(&self.targets, self.params.bootstrap, &mut rng);
        let (n_features, writer) = match &self.data {
            Prepared::Exact(p) => (p.n_features(), p.grow(&bag, &self.params, &mut rng)),
            Prepared::Histogram(b) => (b.n_features(), b.grow(&bag, &self.params, &mut rng)),
        };
        let (nodes, depth) = writer.finish();
        Tree { n_features: n_features as u32, depth: depth as u32, nodes }
    }
}
