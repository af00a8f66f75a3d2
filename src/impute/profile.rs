//! What imputing a grid will cost, measured by imputing a few of its items, for `--backend auto`.
//!
//! The profile imputes one item per thread completely (the items nearest the median number of
//! observed bins) and the run keeps them: measuring costs little beyond work the job needs
//! anyway. On a pool of the threads to be measured:
//!
//! - the items' prepare tasks, then their training sets' sorting, then their fill tasks run side
//!   by side, each timed on its own thread;
//! - the first trees of one item are grown serially: a tree's cost on one core (the mean of
//!   about 2 ms of trees after the first, which warms the caches), scaled to the other
//!   profiled items by their training rows;
//! - the rest of their trees are grown on the pool in two batches; a batch's serial cost (from
//!   the trees above) over its wall time is the threads' speedup (the better batch counts).
//!
//! Without a forest (`locf`, `linear`) there are no trees to time on the pool: one item is
//! imputed on the calling thread, and the threads' speedup is left unmeasured.
//!
//! Every other item's costs are scaled from these by its training rows (`n log n` for sorting
//! and growing a tree), counted from the grid.

use super::features::GridContext;
use super::partners::PairTable;
use super::plan::{self, FinishedItem, Prepared, CV_BELOW, CV_FOLDS};
use super::{ImputeOptions, Method};
use crate::backend::select::StageProfile;
use crate::backend::ProfilePool;
use crate::error::Result;
use crate::forest::{Forest, Trainer, Tree};
use crate::grid::GridShape;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Trees grown serially per profiled item to time one tree on one core: at least this many,
/// and after the first, at least `SERIAL_TIME` seconds of them (a tree can take microseconds).
const SERIAL_TREES: usize = 2;
const SERIAL_TIME: f64 = 0.002;

/// Profiles imputing `source`, with the threads of `pool` for the speedup (without a forest,
/// and with the observed bins given, it neither uses them nor waits for them to start).
/// Returns the profile
/// of the work left and the items it imputed, which the run keeps ([`plan::take_finished`]).
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
) -> Result<(StageProfile, Vec<FinishedItem>)> {
    let started = Instant::now();
    let name = "impute";
    if shape.is_empty() {
        let profile = StageProfile { name, profiling: started.elapsed(), ..Default::default() };
        return Ok((profile, Vec::new()));
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

    // A tree on one core: the first trees of one item's first set, serially. The other
    // profiled items' trees are scaled from it by their training rows, as every other item's
    // are: timing each of them serially too would cost the pool's other threads' share of
    // their trees again, per item.
    let mut grown: Vec<Vec<Option<Tree>>> = sets.iter().map(|_| vec![None; trees]).collect();
    let mut tree_time = vec![0.0f64; chosen.len()];
    let mut serial_time = 0.0;
    let set_rows =
        |j: usize| prepared[j].0.fits.first().map_or(2.0, |(_, y)| y.len().max(2) as f64);
    if let Some(s) = sets.iter().position(|&(_, f)| f == 0) {
        let j = sets[s].0;
        // The first tree warms the caches and is not counted; then trees until SERIAL_TIME
        // of them, leaving at least half the set to the pool.
        let mut times = Vec::new();
        let most = (trees / 2).max(SERIAL_TREES.min(trees));
        for (k, slot) in grown[s].iter_mut().enumerate().take(most) {
            let t = timed(&mut || *slot = Some(grow(s, k)));
            serial_time += t;
            times.push(t);
            if times.len() >= SERIAL_TREES && times[1..].iter().sum::<f64>() >= SERIAL_TIME {
                break;
            }
        }
        let timed = match times.len() {
            0 => 0.0,
            1 => times[0],
            n => times[1..].iter().sum::<f64>() / (n - 1) as f64,
        };
        for (other, time) in tree_time.iter_mut().enumerate() {
            *time = timed * n_log_n(set_rows(other)) / n_log_n(set_rows(j));
        }
    }

    // The rest on the pool, in two batches of alternate trees (alike in their mix of items).
    let rest: Vec<(usize, usize)> = (0..sets.len())
        .flat_map(|s| (0..trees).map(move |k| (s, k)))
        .filter(|&(s, k)| grown[s][k].is_none())
        .collect();
    let mut speedup: Option<f64> = None;
    for batch in [0, 1] {
        let tasks: Vec<(usize, usize)> = rest.iter().copied().skip(batch).step_by(2).collect();
        if tasks.is_empty() {
            continue;
        }
        let at = Instant::now();
        let made: Vec<Tree> =
            pool.running().install(|| tasks.par_iter().map(|&(s, k)| grow(s, k)).collect());
        let wall = at.elapsed().as_secs_f64();
        kept += wall;
        for (&(s, k), tree) in tasks.iter().zip(made) {
            grown[s][k] = Some(tree);
        }
        // Too few trees to keep every thread busy say nothing about the speedup.
        if threads > 1 && tasks.len() >= 2 * threads {
            let one_core: f64 = tasks.iter().map(|&(s, _)| tree_time[sets[s].0]).sum();
            let measured = one_core / wall.max(1e-9);
            speedup = Some(speedup.map_or(measured, |s: f64| s.max(measured)));
        }
    }
    let speedup = speedup.map(|s| s.min(threads as f64));
    kept += serial_time / speedup.unwrap_or(1.0);
    // A tree's size on the wire, from the first few grown.
    let sizes: Vec<usize> =
        grown.iter().flatten().flatten().take(4).map(|t| t.to_bytes().len()).collect();
    let tree_bytes = sizes.iter().sum::<usize>().checked_div(sizes.len()).unwrap_or(0);

    // Fill, side by side, with the items' real forests: these blocks are the run's.
    let mut forests: Vec<Vec<Forest>> = chosen.iter().map(|_| Vec::new()).collect();
    for (s, trees) in grown.into_iter().enumerate() {
        let trees = trees.into_iter().map(|t| t.expect("every tree grown")).collect();
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
    Ok((profile, filled.into_iter().map(|(item, _)| item).collect()))
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
