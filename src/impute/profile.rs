//! What imputing a grid will cost, measured on a few of its real tasks, for `--backend auto`.
//!
//! One item stands for all: the item with the median number of observed bins. Its prepare task
//! runs once; a batch of its trees (about 10 ms of work) is grown serially and then on a pool (each timed twice, the better kept)
//! (the speedup); its fill task runs once with forests of the real size. Every item's costs are
//! then scaled by its training rows (`n log n` for a tree), counted from the grid.

use super::features::GridContext;
use super::plan::{self, CV_BELOW, CV_FOLDS};
use super::{ImputeOptions, Method};
use crate::backend::select::StageProfile;
use crate::forest::{Forest, Trainer, Tree};
use crate::grid::GridShape;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// Profiles imputing `source` with `threads` threads for the speedup.
pub fn profile(
    source: &[f32],
    shape: GridShape,
    first_bin_hour: &[u8],
    options: &ImputeOptions,
    threads: usize,
) -> StageProfile {
    let started = Instant::now();
    let name = "impute";
    if shape.is_empty() {
        return StageProfile { name, profiling: started.elapsed(), ..StageProfile::default() };
    }
    let block = shape.item_block_len();
    let observed: Vec<usize> =
        source.par_chunks(block).map(|b| b.iter().filter(|v| !v.is_nan()).count()).collect();
    let mut order: Vec<usize> = (0..shape.items).filter(|&i| observed[i] >= 2).collect();
    order.sort_by_key(|&i| observed[i]);
    let grid_bytes = (shape.len() * 4) as u64;
    let ctx = GridContext { values: source, shape, first_bin_hour, replaced: None };
    let forest_method = options.method.uses_forest();
    let Some(&k) = order.get(order.len() / 2) else {
        // Nothing to learn from: every item is a quick fill.
        let at = Instant::now();
        let prep = plan::prepare(&ctx, 0, options);
        let mut out = vec![0f32; block];
        plan::fill(&ctx, 0, &mut out, &prep, &[], options);
        let fill = at.elapsed().as_secs_f64();
        return StageProfile {
            name,
            tasks: 2 * shape.items as u64,
            compute: Duration::from_secs_f64(fill * shape.items as f64),
            thread_speedup: 1.0,
            threads_measured: 1,
            pipe_bytes: 2 * grid_bytes,
            profiling: started.elapsed(),
            ..StageProfile::default()
        };
    };

    let serial = |f: &mut dyn FnMut()| {
        let at = Instant::now();
        f();
        at.elapsed().as_secs_f64()
    };
    let mut prep = None;
    let t_prepare = serial(&mut || prep = Some(plan::prepare(&ctx, k, options)));
    let prep = prep.expect("just prepared");
    let trees = options.trees.unwrap_or_else(|| plan::default_trees(options.method));
    let params = plan::forest_params(options.method, trees);
    let threads = threads.max(1);
    let (mut t_tree, mut speedup, mut tree_bytes) = (0.0, 1.0, 0usize);
    let mut grown: Vec<Tree> = Vec::new();
    if let Some((data, targets)) = prep.fits.first().filter(|_| forest_method) {
        let trainer = Trainer::new(data, targets, &params);
        let seed = |t: usize| plan::tree_seed(options.seed, k, 0, t);
        let first = serial(&mut || grown = (0..2).map(|t| trainer.fit_tree(seed(t))).collect());
        tree_bytes = grown.iter().map(|t| t.to_bytes().len()).sum::<usize>() / 2;
        // Enough trees for about 10 ms of work, a multiple of the threads: small trees take
        // microseconds, too little to time a pool's speedup on.
        let n = ((0.01 / (first / 2.0).max(1e-7)) as usize).clamp(2 * threads, 128);
        let n = n.div_ceil(threads) * threads;
        // Each timing is the better of two: on a shared machine noise only ever adds time, and
        // a speedup read off one unlucky batch would make threads look worse than serial.
        let best_of_two = |f: &mut dyn FnMut()| serial(&mut *f).min(serial(f));
        let one = best_of_two(&mut || (0..n).for_each(|t| drop(trainer.fit_tree(seed(t)))));
        t_tree = one / n as f64;
        if threads > 1 {
            if let Ok(pool) = rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
                // Every thread started and awake before the clock runs.
                pool.broadcast(|_| ());
                let many = best_of_two(&mut || {
                    pool.install(|| {
                        (0..n).into_par_iter().for_each(|t| drop(trainer.fit_tree(seed(t))))
                    })
                });
                speedup = one / many.max(1e-9);
            }
        }
    }
    // One real fill task: forests of the item's real tree count (the two grown trees repeated:
    // prediction costs the same whatever the trees' values).
    let mut out = vec![0f32; block];
    let forests: Vec<Forest> = (0..prep.fits.len())
        .map(|_| Forest::from_trees(grown.iter().cycle().take(trees).cloned().collect()))
        .collect();
    let fill = serial(&mut || {
        plan::fill(&ctx, k, &mut out, &prep, &forests, options);
    });

    // Scale to every item by its training rows.
    let rows = |i: usize| observed[i].min(options.max_train).max(2) as f64;
    let n_log_n = |r: f64| r * r.log2().max(1.0);
    let fits = |i: usize| match options.method {
        Method::Locf | Method::Linear => 0,
        _ if observed[i] < 2 => 0,
        Method::Auto if observed[i] < CV_BELOW => CV_FOLDS + 1,
        _ => 1,
    };
    let (rk, fk) = (rows(k), fits(k).max(1) as f64);
    let mut compute = 0.0;
    let mut tree_tasks = 0u64;
    for i in 0..shape.items {
        let f = fits(i) as f64;
        tree_tasks += (fits(i) * trees) as u64;
        compute += t_prepare * (rows(i) / rk) * (f.max(1.0) / fk);
        compute += t_tree * trees as f64 * f * n_log_n(rows(i)) / n_log_n(rk);
        compute += fill;
    }
    let prepared_bytes: u64 = (0..shape.items)
        .map(|i| {
            (fits(i) as f64
                * rows(i)
                * 4.0
                * (1 + prep.fits.first().map_or(0, |d| d.0.n_features())) as f64) as u64
        })
        .sum();
    let all_blocks = matches!(options.method, Method::Rf | Method::Auto);
    StageProfile {
        name,
        tasks: 2 * shape.items as u64 + tree_tasks,
        compute: Duration::from_secs_f64(compute),
        thread_speedup: speedup,
        threads_measured: if speedup == 1.0 { 1 } else { threads },
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
        profiling: started.elapsed(),
    }
}
