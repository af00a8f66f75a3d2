//! A tree's binary form, for trees trained in one process and used in another.
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! b"MIFT"  version: u32  n_features: u32  n_nodes: u32
//! n_nodes x (feature: u32, value: f32, left: u32)      feature = u32::MAX marks a leaf
//! ```
//!
//! Bytes from elsewhere are untrusted: [`Tree::from_bytes`] accepts exactly the trees fitting
//! can produce in structure (see [`Tree`]'s invariants), so no walk over a decoded tree can
//! index out of bounds or loop, and anything else is an error, never a panic.

use super::tree::{Node, LEAF};
use super::{ForestError, Tree};

const MAGIC: &[u8; 4] = b"MIFT";
pub(crate) const VERSION: u32 = 1;
const HEADER: usize = 16;
const NODE: usize = 12;

impl Tree {
    /// The tree's binary form; [`Tree::from_bytes`] reads it back identically.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + NODE * self.nodes.len());
        out.extend_from_slice(MAGIC);
        for word in [VERSION, self.n_features, self.nodes.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        for node in &self.nodes {
            for word in [node.feature, node.value.to_bits(), node.left] {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    /// Reads a tree written by [`Tree::to_bytes`], checking every invariant.
    pub fn from_bytes(bytes: &[u8]) -> Result<Tree, ForestError> {
        let word = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if bytes.len() < HEADER {
            return Err(ForestError::Truncated { needed: HEADER, found: bytes.len() });
        }
        if &bytes[..4] != MAGIC {
            return Err(ForestError::BadMagic);
        }
        if word(4) != VERSION {
            return Err(ForestError::UnsupportedVersion(word(4)));
        }
        let n_features = word(8);
        let n_nodes = word(12) as usize;
        // Checked: on a 32-bit host a hostile count could overflow the product.
        let needed =
            n_nodes.checked_mul(NODE).and_then(|b| b.checked_add(HEADER)).unwrap_or(usize::MAX);
        if bytes.len() < needed {
            return Err(ForestError::Truncated { needed, found: bytes.len() });
        }
        if bytes.len() > needed {
            return Err(ForestError::TrailingBytes(bytes.len() - needed));
        }
        let nodes: Vec<Node> = (0..n_nodes)
            .map(|i| {
                let at = HEADER + NODE * i;
                Node { feature: word(at), value: f32::from_bits(word(at + 4)), left: word(at + 8) }
            })
            .collect();
        let depth = check_structure(&nodes, n_features)?;
        Ok(Tree { n_features, depth, nodes })
    }
}

/// Checks that `nodes` form one tree rooted at node 0 and returns its depth.
///
/// Children come after their parent, so one pass in index order sees every parent before its
/// children; a node referenced once and only once then has exactly one path from the root.
fn check_structure(nodes: &[Node], n_features: u32) -> Result<u32, ForestError> {
    let invalid = |node, reason| Err(ForestError::InvalidNode { node, reason });
    if nodes.is_empty() {
        return invalid(0, "a tree has at least a root");
    }
    // Depth of each node, u32::MAX until its parent is seen.
    let mut depths = vec![u32::MAX; nodes.len()];
    depths[0] = 0;
    let mut max_depth = 0;
    for (i, node) in nodes.iter().enumerate() {
        let depth = depths[i];
        if depth == u32::MAX {
            return invalid(i, "no parent");
        }
        if node.feature == LEAF {
            if node.left != 0 {
                return invalid(i, "leaf with children");
            }
            if !node.value.is_finite() {
                return invalid(i, "leaf value not finite");
            }
            max_depth = max_depth.max(depth);
            continue;
        }
        if node.feature >= n_features {
            return invalid(i, "split feature out of range");
        }
        if node.value.is_nan() {
            return invalid(i, "threshold is NaN");
        }
        let left = node.left as usize;
        if left <= i || left + 1 >= nodes.len() {
            return invalid(i, "children out of range");
        }
        for child in [left, left + 1] {
            if depths[child] != u32::MAX {
                return invalid(child, "more than one parent");
            }
            depths[child] = depth + 1;
        }
    }
    Ok(max_depth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forest::{Dataset, ForestParams, SplitMethod, TreeSeed};
    use rand::{Rng, SeedableRng};

    fn fitted() -> Tree {
        let rows: Vec<Vec<f32>> = (0..300)
            .map(|i| vec![(i % 17) as f32, if i % 5 == 0 { f32::NAN } else { (i % 7) as f32 }])
            .collect();
        let y: Vec<f32> = (0..300).map(|i| ((i * 31) % 23) as f32).collect();
        let params = ForestParams { split: SplitMethod::Exact, ..ForestParams::default() };
        Tree::fit(&Dataset::from_rows(&rows), &y, &params, TreeSeed { seed: 1, stream: 2, tree: 3 })
    }

    #[test]
    fn round_trip() {
        let tree = fitted();
        assert!(tree.node_count() > 20);
        let bytes = tree.to_bytes();
        let back = Tree::from_bytes(&bytes).unwrap();
        assert_eq!(back, tree);
        assert_eq!(back.to_bytes(), bytes);
    }

    #[test]
    fn truncations_and_extensions_are_errors() {
        let bytes = fitted().to_bytes();
        for len in 0..bytes.len() {
            assert!(Tree::from_bytes(&bytes[..len]).is_err(), "length {len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Tree::from_bytes(&longer), Err(ForestError::TrailingBytes(1)));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let good = fitted().to_bytes();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..1000 {
            // Pure noise, noise behind a valid header, and a valid tree with flipped bits.
            let len = rng.gen_range(0..400);
            let noise: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            assert!(Tree::from_bytes(&noise).is_err());
            let mut headed = good[..HEADER].to_vec();
            headed[12..16].copy_from_slice(&((len / NODE) as u32).to_le_bytes());
            headed.extend_from_slice(&noise[..len / NODE * NODE]);
            if let Ok(tree) = Tree::from_bytes(&headed) {
                tree.predict_row(|_| 0.0);
            }
            let mut flipped = good.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..flipped.len());
                flipped[at] ^= 1 << rng.gen_range(0..8);
            }
            if let Ok(tree) = Tree::from_bytes(&flipped) {
                // Flips in thresholds or leaf values can leave a valid tree: it must walk.
                for x in [f32::NAN, -1.0, 3.0, 100.0] {
                    tree.predict_row(|_| x);
                }
            }
        }
    }

    #[test]
    fn structural_errors_are_named() {
        let leaf = Node::leaf(1.0);
        let check = |nodes: &[Node]| check_structure(nodes, 2);
        assert_eq!(check(&[leaf]), Ok(0));
        assert_eq!(check(&[Node::split(0, 0.5, 1), leaf, leaf]), Ok(1));
        assert!(check(&[]).is_err());
        assert!(check(&[Node::split(2, 0.5, 1), leaf, leaf]).is_err(), "feature");
        assert!(check(&[Node::split(0, f32::NAN, 1), leaf, leaf]).is_err(), "NaN threshold");
        assert!(check(&[Node::split(0, 0.5, 0), leaf, leaf]).is_err(), "self loop");
        assert!(check(&[Node::split(0, 0.5, 1), leaf]).is_err(), "missing child");
        assert!(check(&[Node::split(0, 0.5, 1), leaf, leaf, leaf]).is_err(), "orphan");
        let shared = [Node::split(0, 0.5, 1), Node::split(1, 0.5, 2), leaf, leaf];
        assert!(check(&shared).is_err(), "shared child");
        assert!(check(&[Node::leaf(f32::INFINITY)]).is_err(), "leaf value");
    }
}
