//! Where each tree's randomness comes from.
//!
//! A tree's random stream depends on `(seed, stream, tree)` and nothing else: not on the thread
//! that trains it, not on the trees trained before it. That is what makes a forest bit-identical
//! whatever the thread count, and what lets a later step train the trees of one item in other
//! processes. Changing anything here changes every forest: treat it as a file format.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The coordinates of one tree's random stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeSeed {
    /// The user's seed.
    pub seed: u64,
    /// Which independent forest of a run: the item index, so items never share streams.
    pub stream: u64,
    /// The tree's index in its forest.
    pub tree: u64,
}

impl TreeSeed {
    /// The tree's generator: ChaCha8 keyed by a SplitMix64 chain over the three coordinates.
    ///
    /// Chaining (rather than, say, XOR-ing the coordinates) keeps `(1, 2, 0)` and `(2, 1, 0)`
    /// apart; SplitMix64 spreads small integers over the whole key.
    pub(crate) fn rng(self) -> TreeRng {
        let a = splitmix64(self.seed);
        let b = splitmix64(a ^ self.stream);
        let c = splitmix64(b ^ self.tree);
        let d = splitmix64(c);
        let mut key = [0u8; 32];
        for (chunk, word) in key.chunks_exact_mut(8).zip([a, b, c, d]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        TreeRng(ChaCha8Rng::from_seed(key))
    }
}

/// SplitMix64's finalizer (Steele, Lea and Flood 2014) applied to `x` plus its increment.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tree's generator, with the one draw training needs.
pub(crate) struct TreeRng(ChaCha8Rng);

impl TreeRng {
    /// A uniform integer in `0..n` (Lemire's multiply-and-reject), `n >= 1`.
    ///
    /// Written out rather than taken from `rand`'s `gen_range` so the mapping from the stream to
    /// draws is pinned here, not by a dependency's version or by the width of `usize`.
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        debug_assert!(n > 0);
        let mut m = u64::from(self.0.next_u32()) * u64::from(n);
        if (m as u32) < n {
            let reject_below = n.wrapping_neg() % n;
            while (m as u32) < reject_below {
                m = u64::from(self.0.next_u32()) * u64::from(n);
            }
        }
        (m >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_give_distinct_streams() {
        let draws = |s: TreeSeed| {
            let mut rng = s.rng();
            (0..8).map(|_| rng.below(1 << 30)).collect::<Vec<_>>()
        };
        let base = TreeSeed { seed: 1, stream: 2, tree: 0 };
        assert_eq!(draws(base), draws(base));
        for other in [
            TreeSeed { seed: 2, stream: 1, tree: 0 },
            TreeSeed { tree: 1, ..base },
            TreeSeed { stream: 3, ..base },
        ] {
            assert_ne!(draws(base), draws(other));
        }
    }

    #[test]
    fn below_is_in_range_and_covers_it() {
        let mut rng = TreeSeed { seed: 7, stream: 0, tree: 0 }.rng();
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            seen[rng.below(7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(rng.below(1), 0);
    }
}
