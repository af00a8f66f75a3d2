//! The order in which one round of a benchmark runs its configurations.
//!
//! Why not the same order every round, or that order rotated: a run can slow the one after it
//! (worker processes still exiting, memory the host takes back after a large free), so a
//! configuration that always follows the same one carries that one's after-effects in every
//! run. Rotating a fixed order does not help: within a round each configuration still follows
//! the same neighbour. Until session 16 `bench auto` did that, and `auto` followed `shm x2` in
//! 6 of 7 rounds while `threads x2` followed `serial`. Measured apart on the benchmark's
//! smallest job (`tools/auto_predecessor.py`, five series of 60-150 pairs each, the first two
//! with a draft of it; 4.8-5.8 ms jobs), a run right after `shm x2` took longer than one right
//! after `serial` in 9 of 10 comparisons, by 0.06-0.25 ms (1-5% of the job; the tenth: 0.13 ms
//! less), `auto` and `threads x2` alike: a cost the old order charged to `auto` alone.
//!
//! Each round is a fresh shuffle, drawn from a seed that is the round's number, so each
//! configuration follows each other about equally often and a benchmark's order can be
//! replayed.

use rand::seq::SliceRandom;
use rand::SeedableRng;

/// The order of round `round` over `configurations` configurations: a permutation of
/// `0..configurations`, the same for the same arguments.
pub fn round_order(configurations: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..configurations).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(round as u64);
    order.shuffle(&mut rng);
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_is_a_permutation_and_replays() {
        for n in [0, 1, 2, 7] {
            for r in 0..20 {
                let order = round_order(n, r);
                let mut sorted = order.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>());
                assert_eq!(order, round_order(n, r));
            }
        }
    }

    /// What the rotated fixed order got wrong: within 100 rounds of 7 configurations (the
    /// tiny job of `bench auto` on 2 cores), each configuration follows each other one, run
    /// after run, a fair share of the time (100 * 6 / 42, about 14, expected).
    #[test]
    fn each_configuration_follows_each_other_often() {
        let n = 7;
        let mut follows = vec![vec![0usize; n]; n];
        let mut previous = None;
        for r in 0..100 {
            for c in round_order(n, r) {
                if let Some(p) = previous {
                    follows[c][p] += 1;
                }
                previous = Some(c);
            }
        }
        for (c, counts) in follows.iter().enumerate() {
            for (p, &count) in counts.iter().enumerate() {
                if p != c {
                    assert!(count >= 5, "{c} followed {p} {count} times in 100 rounds");
                }
            }
        }
    }
}
