//! What imputing a grid will cost, measured by imputing a few of its items, for `--backend auto`.
//!
//! The profile imputes one item per thread completely (the items nearest the median number of
//! observed bins) and the run keeps them: measuring costs little beyond work the job needs
//! anyway. On a pool of the threads to be measured:
//!
//! - the items' prepare tasks, then their training sets' sorting, then their fill tasks run side
//!   by side, each timed on its own thread;
//! - their trees are grown on the pool, each timed on its thread, but for the last few of one
//!   set, which the last thread to finish grows alone: a tree's cost on one core (the mean of
//!   about 1 ms of them), and how much slower that set's trees grew side by side (the
//!   contention the threads' speedup is measured from); the other sets' trees on one core are
//!   theirs on the pool less that contention ([`grow_timed`]).
//!
//! Without a forest (`locf`, `linear`) there are no trees to time on the pool: one item is
//! imputed on the calling thread, and the threads' speedup is left unmeasured.
//!
//! Every other item's costs are scaled from these by its training rows (`n log n` for sorting
//! and growing a tree), counted from the grid.

use super::features::GridContext;
use super::partners::PairTable;
use super::plan::{self, FinishedItem, Prepared, ProfiledWork, CV_BELOW, CV_FOLDS};
use super::{ImputeOptions, Method};
use crate::backend::select::{median, StageProfile};
use crate::backend::ProfilePool;
use crate::error::Result;
use crate::forest::{Forest, Trainer};
use crate::grid::GridShape;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Trees of one set grown alone to time a tree on one core: about `SERIAL_TIME` seconds of
/// them (a tree can take microseconds), at least one and at most half the set; `SERIAL_TREES`
/// when no tree's cost is known yet. (2 ms until session 19, behind an uncounted tree.)
const SERIAL_TREES: usize = 2;
const SERIAL_TIME: f64 = 0.001;

/// Profiles imputing `source`, with the threads of `pool` for the speedup (without a forest,
/// and with the observed bins given, it neither uses them nor waits for them to start).
/// Returns the profile
/// of the work left, and the items it imputed and the pair table it built, which the run
/// keeps ([`ProfiledWork`]).
///
/// `observed`: each item's observed bins, when known (sampling counts them as it writes the
/// grid); otherwise the whole grid is read to count them, which on a grid of 114 MB was most of
/// what this profile cost beyond the work the run keeps (4 ms).
pub fn profile(
    source: &[f32],
    shape: GridShape,
    first_bin_hour: &[u8],
    options: &ImputeOptions,
    observed: Option<&[u64]>,
    pool: &ProfilePool<'_>,
) -> Result<(StageProfile, ProfiledWork)> {
    let started = Instant::now();
    let name = "impute";
    if shape.is_empty() {
        let profile = StageProfile { name, profiling: started.elapsed(), ..Default::default() };
        return Ok((profile, ProfiledWork::default()));
    }
    let threads = pool.threads();
    let block = shape.item_block_len();
    let observed: Vec<usize> = match observed {
        Some(counts) => {
            assert_eq!(counts.len(), shape.items, "one count of observed bins per item");
            counts.iter().map(|&n| n as usize).collect()
        }
        None => pool.running().install(|| {
            source.par_chunks(block).map(|b| b.iter().filter(|v| !v.is_nan()).count()).collect()
        }),
    };
    // Without a forest an item is one pass over its block, and nothing the profile measures
    // needs the pool (no trees to time on it): one item, on this thread. On a 5-item `locf`
    // job, filling one item per thread side by side cost a trip through the pool (20-40 us on
    // this VM) for work the run does within its own trip.
    let forest = options.method.uses_forest();
    let chosen = median_items(&observed, if forest { threads } else { 1 });
    // Side by side, the wall time is the run's; one item alone, the run would have shared it
    // out with the others over its threads.
    let spread = if forest { 1.0 } else { threads as f64 };
    let ctx = GridContext { values: source, shape, first_bin_hour, replaced: None };
    // A phase with nothing to do skips the pool: each trip through it wakes its threads (20-40
    // us on this VM), and five such trips were most of a 5-item `locf` job's profile.
    let pairs = options
        .method
        .uses_partners()
        .then(|| pool.running().install(|| PairTable::build(source, shape)));
    let timed = |f: &mut dyn FnMut()| {
        let at = Instant::now();
        f();
        at.elapsed().as_secs_f64()
    };
    // Wall time of the work the run keeps, at the parallelism the run would have given it.
    let mut kept = 0.0;

    // Prepare, side by side (without a forest, there is nothing to prepare).
    let at = Instant::now();
    let prepare = |&i: &usize| {
        let mut prep = None;
        let t = timed(&mut || prep = Some(plan::prepare(&ctx, pairs.as_ref(), i, options)));
        (prep.expect("just prepared"), t)
    };
    let prepared: Vec<(Prepared, f64)> = if forest {
        pool.running().install(|| chosen.par_iter().map(prepare).collect())
    } else {
        chosen.iter().map(prepare).collect()
    };
    kept += at.elapsed().as_secs_f64() / spread;

    // Sort every training set, side by side: (item's place in `chosen`, set).
    let trees = options.trees.unwrap_or_else(|| plan::default_trees(options.method));
    let params = plan::forest_params(options.method, trees);
    let sets: Vec<(usize, usize)> = prepared
        .iter()
        .enumerate()
        .flat_map(|(j, (p, _))| (0..p.fits.len()).map(move |f| (j, f)))
        .collect();
    let at = Instant::now();
    let sort = |&(j, f): &(usize, usize)| {
        let (data, targets) = &prepared[j].0.fits[f];
        let mut trainer = None;
        let t = timed(&mut || trainer = Some(Trainer::new(data, targets, &params)));
        (trainer.expect("just sorted"), t)
    };
    let trainers: Vec<(Trainer, f64)> = if sets.is_empty() {
        Vec::new()
    } else {
        pool.running().install(|| sets.par_iter().map(sort).collect())
    };
    kept += at.elapsed().as_secs_f64();
    let grow = |s: usize, k: usize| {
        let (j, f) = sets[s];
        trainers[s].0.fit_tree(plan::tree_seed(options.seed, chosen[j], f, k))
    };

    // Every tree of the profiled sets: on the pool, then the last few of one set on one
    // core (see `grow_timed`), which gives each set's tree on one core. Every other item's
    // are scaled from the profiled items' by training rows (`Measured::scaled_to`).
    let rows_of_set: Vec<f64> =
        sets.iter().map(|&(j, f)| prepared[j].0.fits[f].1.len().max(2) as f64).collect();
    let timing = if sets.is_empty() {
        TreeTiming::none()
    } else {
        let timing = grow_timed(pool.running(), trees, &rows_of_set, &grow);
        kept += timing.wall - timing.serial_time;
        timing
    };
    // A tree of each profiled item's first set on one core.
    let tree_time: Vec<f64> = (0..chosen.len())
        .map(|j| sets.iter().position(|&(sj, _)| sj == j).map_or(0.0, |s| timing.one_core[s]))
        .collect();
    // Too few trees to keep every thread busy say nothing about the speedup.
    let speedup = timing
        .contention
        .filter(|_| threads > 1 && timing.pool_trees >= 2 * threads)
        .map(|c| (threads as f64 / c).min(threads as f64));
    kept += timing.serial_time / speedup.unwrap_or(1.0);
    let grown = timing.grown;
    // A tree's size on the wire, from the first few grown.
    let sizes: Vec<usize> = grown.iter().flatten().take(4).map(|t| t.to_bytes().len()).collect();
    let tree_bytes = sizes.iter().sum::<usize>().checked_div(sizes.len()).unwrap_or(0);

    // Fill, side by side, with the items' real forests: these blocks are the run's.
    let mut forests: Vec<Vec<Forest>> = chosen.iter().map(|_| Vec::new()).collect();
    for (s, trees) in grown.into_iter().enumerate() {
        forests[sets[s].0].push(Forest::from_trees(trees));
    }
    let at = Instant::now();
    let fill = |(&i, ((prep, _), forest)): (&usize, (&(Prepared, f64), &Vec<Forest>))| {
        let mut out = vec![0f32; block];
        let mut report = None;
        let t = timed(&mut || {
            report = Some(plan::fill(&ctx, i, &mut out, prep, forest, options));
        });
        let report = report.expect("just filled");
        (FinishedItem { item: i, block: out, report }, t)
    };
    let filled: Vec<(FinishedItem, f64)> = if forest {
        let items = chosen.par_iter().zip(prepared.par_iter().zip(forests.par_iter()));
        pool.running().install(|| items.map(fill).collect())
    } else {
        chosen.iter().zip(prepared.iter().zip(forests.iter())).map(fill).collect()
    };
    kept += at.elapsed().as_secs_f64() / spread;

    // Scale to every other item by its training rows, from each profiled item in turn.
    let rows = |i: usize| observed[i].min(options.max_train).max(2) as f64;
    let fits = |i: usize| match options.method {
        Method::Locf | Method::Linear => 0,
        _ if observed[i] < 2 => 0,
        Method::Auto if observed[i] < CV_BELOW => CV_FOLDS + 1,
        _ => 1,
    };
    let measured: Vec<Measured> = chosen
        .iter()
        .enumerate()
        .map(|(j, &i)| Measured {
            rows: rows(i),
            fits: fits(i).max(1) as f64,
            prepare: prepared[j].1,
            sort: sets
                .iter()
                .zip(&trainers)
                .filter(|((sj, _), _)| *sj == j)
                .map(|(_, (_, t))| t)
                .sum(),
            tree: tree_time[j],
            fill: filled[j].1,
        })
        .collect();
    let others: Vec<usize> = (0..shape.items).filter(|i| !chosen.contains(i)).collect();
    let mut compute = 0.0;
    let mut tree_tasks = 0u64;
    for &i in &others {
        let f = fits(i) as f64;
        tree_tasks += (fits(i) * trees) as u64;
        let scaled: f64 = measured.iter().map(|m| m.scaled_to(rows(i), f, trees)).sum();
        compute += scaled / measured.len() as f64;
    }
    let n_features =
        prepared.iter().find_map(|(p, _)| p.fits.first()).map_or(0, |d| d.0.n_features());
    let prepared_bytes: u64 = others
        .iter()
        .map(|&i| (fits(i) as f64 * rows(i) * 4.0 * (1 + n_features) as f64) as u64)
        .sum();
    let grid_bytes = (shape.len() * 4) as u64;
    let all_blocks = options.method.uses_partners();
    // One reading of the clock for both, so that the kept work never exceeds the profile's
    // time (read twice, it could by the nanoseconds between the readings).
    let profiling = started.elapsed();
    let profile = StageProfile {
        name,
        tasks: 2 * others.len() as u64 + tree_tasks,
        compute: Duration::from_secs_f64(compute),
        thread_speedup: speedup.unwrap_or(1.0),
        threads_measured: if speedup.is_some() { threads } else { 1 },
        // Prepared sets back to the coordinator and out to the workers growing their trees,
        // trees back and out again, imputed blocks back; without partner search, each block
        // goes out once to be prepared and once to be filled.
        pipe_bytes: 2 * prepared_bytes
            + 2 * tree_tasks * tree_bytes as u64
            + grid_bytes
            + if all_blocks { 0 } else { 2 * grid_bytes },
        // With partner search every worker receives every block (it reads them all).
        pipe_bytes_per_worker: if all_blocks { grid_bytes } else { 0 },
        coordinator: Duration::ZERO,
        floor: Duration::ZERO,
        profiling,
        kept: Duration::from_secs_f64(kept).min(profiling),
        over_budget: false,
    };
    let items = filled.into_iter().map(|(item, _)| item).collect();
    Ok((profile, ProfiledWork { items, pairs }))
}

/// What growing the profiled sets' trees measured (see [`grow_timed`]).
struct TreeTiming<T> {
    /// Every set's trees, in order.
    grown: Vec<Vec<T>>,
    /// Seconds per tree of each set on one core.
    one_core: Vec<f64>,
    /// Seconds of trees grown alone.
    serial_time: f64,
    /// Trees grown on the pool, side by side.
    pool_trees: usize,
    /// How much slower set 0's trees grew on the pool than alone (the median of those on the
    /// pool over the mean of those alone); unmeasured without trees on both sides.
    contention: Option<f64>,
    /// Wall time of it all.
    wall: f64,
}

impl<T> TreeTiming<T> {
    /// What the trees' times say: `order[q]` is the (set, tree) of `slots[q]`, which holds the
    /// tree, its seconds and whether it grew alone; the rows of set `s` are `rows[s]`. Kept
    /// apart from [`grow_timed`]'s scheduling so that the arithmetic can be checked on times
    /// chosen by hand, not on times a busy machine happens to give.
    fn from_grown(
        rows: &[f64],
        order: &[(usize, usize)],
        slots: Vec<(T, f64, bool)>,
        wall: f64,
    ) -> Self {
        let trees = order.len() / rows.len().max(1);
        let serial: Vec<f64> = slots.iter().filter(|g| g.2).map(|g| g.1).collect();
        let serial_time: f64 = serial.iter().sum();
        let serial_per_tree = serial_time / serial.len().max(1) as f64;
        // Each set's trees grown on the pool, in seconds.
        let mut on_pool: Vec<Vec<f64>> = vec![Vec::new(); rows.len()];
        for (&(s, _), g) in order.iter().zip(&slots).filter(|(_, g)| !g.2) {
            on_pool[s].push(g.1);
        }
        let pool_trees = on_pool.iter().map(Vec::len).sum();
        // Against set 0's own trees: the sets' trees differ in cost by more than their rows say
        // (two sets of 2273 rows grew trees of 0.52 and 0.41 ms).
        let contention = (!on_pool[0].is_empty() && !serial.is_empty())
            .then(|| median(&mut on_pool[0].clone()) / serial_per_tree.max(1e-12));
        // A tree of each set on one core: the serial ones, or its trees on the pool less the
        // contention; without either, scaled from set 0 by rows.
        let one_core: Vec<f64> = on_pool
            .iter_mut()
            .enumerate()
            .map(|(s, times)| match contention {
                _ if s == 0 => serial_per_tree,
                Some(c) if !times.is_empty() => median(times) / c,
                _ => serial_per_tree * n_log_n(rows[s]) / n_log_n(rows[0]),
            })
            .collect();
        // Each set's trees in the order `order` lists them.
        let mut grown: Vec<Vec<T>> = (0..rows.len()).map(|_| Vec::with_capacity(trees)).collect();
        for (&(s, _), (tree, _, _)) in order.iter().zip(slots) {
            grown[s].push(tree);
        }
        TreeTiming { grown, one_core, serial_time, pool_trees, contention, wall }
    }

    /// Nothing grown, nothing measured.
    fn none() -> Self {
        TreeTiming {
            grown: Vec::new(),
            one_core: Vec::new(),
            serial_time: 0.0,
            pool_trees: 0,
            contention: None,
            wall: 0.0,
        }
    }
}

/// Grows `trees` trees of every set (the training rows of set `s` are `rows[s]`) with
/// `grow(s, k)` on the threads of `pool`, each tree timed on the thread that grows it; the
/// last trees of set 0, about [`SERIAL_TIME`] of them (at least one, at most half the set),
/// are left for the last thread to finish, which grows them alone and times them: a tree's
/// cost on one core, and how much slower the pool's trees grew beside each other.
///
/// Until session 19 the serial trees came first, on the calling thread, behind a tree that
/// warmed its caches and was not counted (the first two trees grew 20-30% slower than the
/// later ones), and the rest followed in two batches on the pool, each a barrier: the speedup
/// was a batch's one-core cost over its wall time, the better batch's. On a 150-subject,
/// 5-item job of 32 trees (trees of 0.55 ms), that was 2.9 ms of serial trees and three
/// trips through the pool. Now the serial trees are grown by a thread warm from the pool's
/// trees, as the pool's one trip ends, and none is left uncounted: that job's imputation
/// profile cost 2.1-2.2 ms beyond the work kept, against 2.9-3.0 ms, and auto took 3.7 and
/// -2.4 ms more than threads (paired medians of 21 runs, `tools/auto_overhead.py`, two runs
/// with the pair table kept as well) against 6.2 and 7.2 ms.
fn grow_timed<T: Send>(
    pool: &rayon::ThreadPool,
    trees: usize,
    rows: &[f64],
    grow: &(dyn Fn(usize, usize) -> T + Sync),
) -> TreeTiming<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let started = Instant::now();
    // Set 0's trees last: the serial ones are its last.
    let order: Vec<(usize, usize)> =
        (1..rows.len()).chain([0]).flat_map(|s| (0..trees).map(move |k| (s, k))).collect();
    let n = order.len();
    let most_serial = (trees / 2).max(1);
    let next = AtomicUsize::new(0);
    let busy = AtomicUsize::new(pool.current_num_threads());
    // Set 0's tree cost on the pool, from the trees grown there so far (seconds per tree,
    // scaled by rows): how many trees make SERIAL_TIME.
    let so_far = Mutex::new((0.0f64, 0usize));
    let serial_wanted = || -> usize {
        let (sum, count) = *so_far.lock().expect("not poisoned");
        let wanted = if count == 0 {
            SERIAL_TREES
        } else {
            (SERIAL_TIME / (sum / count as f64).max(1e-9)).ceil() as usize
        };
        wanted.clamp(1, most_serial)
    };
    // Per thread: (task, tree, seconds, grown alone).
    let mine: Vec<Vec<(usize, T, f64, bool)>> = pool.broadcast(|_| {
        let mut mine = Vec::new();
        loop {
            let q = next.load(Ordering::Acquire);
            if q >= n || (order[q].0 == 0 && n - q <= serial_wanted()) {
                break;
            }
            if next.compare_exchange(q, q + 1, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            let (s, k) = order[q];
            let at = Instant::now();
            let tree = grow(s, k);
            let t = at.elapsed().as_secs_f64();
            let mut total = so_far.lock().expect("not poisoned");
            total.0 += t * n_log_n(rows[0]) / n_log_n(rows[s]);
            total.1 += 1;
            drop(total);
            mine.push((q, tree, t, false));
        }
        // The last thread out grows what is left alone: the others are done.
        if busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            let left = next.swap(n, Ordering::AcqRel);
            for (q, &(s, k)) in order.iter().enumerate().skip(left) {
                let at = Instant::now();
                let tree = grow(s, k);
                mine.push((q, tree, at.elapsed().as_secs_f64(), true));
            }
        }
        mine
    });
    let wall = started.elapsed().as_secs_f64();
    let mut slots: Vec<Option<(T, f64, bool)>> = (0..n).map(|_| None).collect();
    for (q, tree, t, alone) in mine.into_iter().flatten() {
        slots[q] = Some((tree, t, alone));
    }
    let slots: Vec<(T, f64, bool)> =
        slots.into_iter().map(|slot| slot.expect("every tree grown once")).collect();
    TreeTiming::from_grown(rows, &order, slots, wall)
}

/// One profiled item's costs (seconds on one core, under the pool's contention for the tasks
/// timed on it).
struct Measured {
    rows: f64,
    fits: f64,
    prepare: f64,
    /// Sorting all its training sets.
    sort: f64,
    /// One tree of its first set.
    tree: f64,
    fill: f64,
}

impl Measured {
    /// The cost of an item of `rows` training rows and `fits` training sets of `trees` trees,
    /// scaled from this one: preparing grows with the rows, sorting and growing trees as
    /// `n log n`, filling is taken as is.
    fn scaled_to(&self, rows: f64, fits: f64, trees: usize) -> f64 {
        let by_rows = rows / self.rows;
        let by_trees = n_log_n(rows) / n_log_n(self.rows);
        self.prepare * by_rows * fits.max(1.0) / self.fits
            + (self.sort / self.fits + self.tree * trees as f64) * by_trees * fits
            + self.fill
    }
}

/// How sorting a training set and growing a tree grow with its rows.
fn n_log_n(rows: f64) -> f64 {
    rows * rows.log2().max(1.0)
}

/// `n` items nearest the median number of observed bins (among items with something to learn
/// from, if any), in item order.
fn median_items(observed: &[usize], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..observed.len()).filter(|&i| observed[i] >= 2).collect();
    if order.is_empty() {
        order = (0..observed.len()).collect();
    }
    order.sort_by_key(|&i| (observed[i], i));
    let n = n.min(order.len());
    let first = (order.len() / 2).saturating_sub(n / 2).min(order.len() - n);
    let mut chosen = order[first..first + n].to_vec();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_like_the_measured_one_costs_what_it_cost() {
        // 6 training sets of 10 trees: sorting 6 sets took 0.6 s, a tree 0.01 s.
        let m =
            Measured { rows: 1000.0, fits: 6.0, prepare: 0.2, sort: 0.6, tree: 0.01, fill: 0.3 };
        let same = m.scaled_to(1000.0, 6.0, 10);
        assert!((same - (0.2 + 0.6 + 0.01 * 10.0 * 6.0 + 0.3)).abs() < 1e-12, "{same}");
        // One set instead of six: a sixth of the preparing, sorting and trees.
        let one = m.scaled_to(1000.0, 1.0, 10);
        assert!((one - (0.2 / 6.0 + 0.1 + 0.01 * 10.0 + 0.3)).abs() < 1e-12, "{one}");
        // Twice the rows: preparing doubles, trees grow a little more than twice.
        let more = m.scaled_to(2000.0, 6.0, 10) - m.fill;
        let trees_part = (0.6 + 0.6) * (2000.0 * 2000f64.log2()) / (1000.0 * 1000f64.log2());
        assert!((more - (0.4 + trees_part)).abs() < 1e-9, "{more}");
    }

    /// `grow_timed` with trees that each spin for `spin`, on `threads` threads: the timing,
    /// and whether each tree (set, index) grew while no other did.
    fn spin_trees(
        threads: usize,
        sets: usize,
        trees: usize,
        spin: Duration,
    ) -> (TreeTiming<(usize, usize)>, Vec<Vec<bool>>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let active = AtomicUsize::new(0);
        let alone = Mutex::new(vec![vec![false; trees]; sets]);
        let grow = |s: usize, k: usize| {
            let mut most = active.fetch_add(1, Ordering::SeqCst) + 1;
            let at = Instant::now();
            while at.elapsed() < spin {
                most = most.max(active.load(Ordering::SeqCst));
            }
            active.fetch_sub(1, Ordering::SeqCst);
            alone.lock().unwrap()[s][k] = most == 1;
            (s, k)
        };
        let timing = grow_timed(&pool, trees, &vec![1000.0; sets], &grow);
        (timing, alone.into_inner().unwrap())
    }

    #[test]
    fn trees_grow_once_each_and_the_last_few_of_set_0_alone() {
        let spin = Duration::from_micros(300);
        for (threads, sets, trees) in [(2, 3, 8), (3, 2, 16), (1, 2, 4), (2, 1, 1)] {
            let (timing, alone) = spin_trees(threads, sets, trees, spin);
            let case = format!("{threads} threads, {sets} sets of {trees}");
            for (s, grown) in timing.grown.iter().enumerate() {
                let expected: Vec<_> = (0..trees).map(|k| (s, k)).collect();
                assert_eq!(grown, &expected, "{case}: set {s}'s trees, once each, in order");
            }
            // About 1 ms of 0.3 ms trees (fewer if they looked slower on the pool), at least
            // one, at most half the set: the last ones of set 0, each grown alone.
            let serial = sets * trees - timing.pool_trees;
            assert!((1..=4.min((trees / 2).max(1))).contains(&serial), "{case}: {serial}");
            let last = &alone[0][trees - serial..];
            assert!(last.iter().all(|&a| a), "{case}: set 0's last {serial} alone: {alone:?}");
            let secs = timing.serial_time;
            assert!(secs >= serial as f64 * spin.as_secs_f64(), "{case}: {secs} s timed alone");
            assert!(secs < timing.wall, "{case}");
            assert_eq!(timing.one_core[0], secs / serial as f64, "{case}: set 0 on one core");
            // Only bounds a busy machine cannot break: a descheduled thread makes a tree look
            // slower, never faster, so ratios of these times are checked in
            // `contention_and_one_core_trees_come_from_the_times_given` instead.
            assert_eq!(timing.one_core.len(), sets, "{case}");
            assert!(timing.one_core.iter().all(|t| t.is_finite() && *t > 0.0), "{case}");
            assert_eq!(timing.contention.is_some(), trees > serial, "{case}: set 0 on the pool");
        }
    }

    #[test]
    fn contention_and_one_core_trees_come_from_the_times_given() {
        // Three sets of 4 trees, set 0's last; its last 2 grew alone in 1 and 3 ms (2 ms each).
        let rows = [1000.0, 1000.0, 4000.0];
        let order: Vec<(usize, usize)> =
            [1, 2, 0].iter().flat_map(|&s| (0..4).map(move |k| (s, k))).collect();
        let times = [
            [5.0, 6.0, 7.0, 100.0], // set 1: median 7 ms (the upper one)
            [8.0, 9.0, 9.0, 9.0],   // set 2: median 9 ms
            [4.0, 4.0, 1.0, 3.0],   // set 0: 4 ms twice on the pool, 1 and 3 ms alone
        ];
        let slots: Vec<((usize, usize), f64, bool)> = order
            .iter()
            .zip(times.iter().flatten())
            .map(|(&(s, k), &ms)| ((s, k), ms / 1e3, s == 0 && k >= 2))
            .collect();
        let timing = TreeTiming::from_grown(&rows, &order, slots.clone(), 0.1);
        for (s, grown) in timing.grown.iter().enumerate() {
            assert_eq!(grown, &(0..4).map(|k| (s, k)).collect::<Vec<_>>(), "set {s}");
        }
        assert_eq!(timing.pool_trees, 10);
        assert!((timing.serial_time - 4e-3).abs() < 1e-15);
        // Set 0's median on the pool (4 ms) over its mean alone (2 ms).
        let c = timing.contention.expect("set 0 grew on both sides");
        assert!((c - 2.0).abs() < 1e-12, "{c}");
        let expected = [2e-3, 7e-3 / 2.0, 9e-3 / 2.0];
        for (got, want) in timing.one_core.iter().zip(expected) {
            assert!((got - want).abs() < 1e-15, "{:?}", timing.one_core);
        }
        assert_eq!(timing.wall, 0.1);

        // Set 0 all alone: no contention measured; the other sets are scaled from set 0's
        // trees by their rows (n log n), whatever their trees took on the pool.
        let alone: Vec<_> = slots.iter().map(|&(t, secs, _)| (t, secs, t.0 == 0)).collect();
        let timing = TreeTiming::from_grown(&rows, &order, alone, 0.1);
        assert_eq!(timing.contention, None);
        assert_eq!(timing.pool_trees, 8);
        let set0 = 3e-3; // (4 + 4 + 1 + 3) / 4 ms
        let scaled = set0 * n_log_n(4000.0) / n_log_n(1000.0);
        let expected = [set0, set0, scaled];
        for (got, want) in timing.one_core.iter().zip(expected) {
            assert!((got - want).abs() < 1e-15, "{:?}", timing.one_core);
        }
    }

    #[test]
    fn median_items_prefer_learnable_items_around_the_median() {
        // Items 0 and 4 have nothing to learn from.
        let observed = [0, 10, 30, 20, 1, 40];
        assert_eq!(median_items(&observed, 1), vec![2]);
        assert_eq!(median_items(&observed, 2), vec![2, 3]);
        assert_eq!(median_items(&observed, 9), vec![1, 2, 3, 5]);
        assert_eq!(median_items(&[0, 0, 1], 2), vec![0, 1]);
    }
}
