//! The imputation plan: three stages of independent tasks over the grid.
//!
//! 1. *prepare* item i: pick its feature set, hold out validation bins (`auto`), draw and build
//!    its training rows;
//! 2. *train* tree k of item i, for every pair: the bulk of the work, and evenly sized, so it
//!    balances across workers far better than one forest per item would;
//! 3. *fill* item i: predict its missing bins, choose (`auto`), carry along, fill what is left.
//!
//! Every task reads the immutable source grid; a fill task hands its item's whole block to the
//! destination ([`ItemBlocks`]) once.
//! Results depend on (seed, item, tree) only, never on which worker ran a task.

use super::features::{self, build, Bin, FeatureSet, GridContext};
use super::partners::{self, PairTable};
use super::series::{linear, locf};
use super::{FillEmpty, ImputeOptions, ImputeReport, ItemReport, Method};
use crate::error::Result;
use crate::forest::{Dataset, Forest, ForestParams, MaxFeatures, Trainer, Tree, TreeSeed};
use crate::grid::{GridShape, ItemBlocks};
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::time::Instant;

/// Trees per forest when `--trees` is not given. `rf-medlens` keeps MedLens's 100; `rf` uses
/// fewer, larger-leaved trees, which scored as well on generated exports at a third of the cost
/// (docs/imputation.md has the sweep).
pub fn default_trees(method: Method) -> usize {
    match method {
        Method::RfMedlens => 100,
        _ => 32,
    }
}

/// Feature window half-width when `--window` is not given: MedLens's 12 hours for
/// `rf-medlens`; 24 for ours, which scored better on generated exports (docs/imputation.md).
pub fn default_window(method: Method) -> usize {
    match method {
        Method::RfMedlens => 12,
        _ => 24,
    }
}

/// Forest settings: MedLens's are scikit-learn's defaults; ours were tuned (docs/imputation.md).
pub fn forest_params(method: Method, trees: usize) -> ForestParams {
    match method {
        Method::RfMedlens => ForestParams { trees, ..ForestParams::default() },
        _ => ForestParams {
            trees,
            min_samples_leaf: 5,
            max_features: MaxFeatures::Fraction(0.5),
            ..ForestParams::default()
        },
    }
}

/// Minimum number of bins two items must share to be considered cross-vital partners.
const MIN_SHARED_BINS: usize = 50;

/// `auto`: items with fewer observed bins than this are scored by [`CV_FOLDS`]-fold
/// cross-validation, so that every observed bin counts in the choice; a 10% hold-out of a rare
/// item is a few dozen bins, too few to tell the methods apart. Larger items use one hold-out.
pub(super) const CV_BELOW: usize = 5_000;
pub(super) const CV_FOLDS: usize = 5;

/// Held-out bins of one validation fold, in (admission, hour) order, with their true values.
///
/// The item's block with them hidden is made when needed, by [`Fold::hide`] on one copy of the
/// block that all of an item's folds share, and undone by [`Fold::restore`]. (A masked copy
/// per fold, kept from the prepare stage to the fill stage, held five blocks per
/// cross-validated item, 12 MB each on a 4,000-admission export, and cost fresh zeroed pages
/// for every one.)
pub(super) struct Fold {
    pub(super) bins: Vec<(Bin, f32)>,
}

impl Fold {
    /// Hides the fold's bins in `block`, the item's block.
    fn hide(&self, block: &mut [f32], hours: usize) {
        for &((a, h), _) in &self.bins {
            block[a as usize * hours + h as usize] = f32::NAN;
        }
    }

    /// Puts the fold's true values back into `block`.
    fn restore(&self, block: &mut [f32], hours: usize) {
        for &((a, h), v) in &self.bins {
            block[a as usize * hours + h as usize] = v;
        }
    }
}

/// Stage-1 output for one item.
pub(super) struct Prepared {
    pub(super) set: Option<FeatureSet>,
    /// Training sets, one forest each: one per fold (fold k trains on `folds[k]` hidden), then,
    /// with cross-validation, one on every observed bin.
    pub(super) fits: Vec<(Dataset, Vec<f32>)>,
    pub(super) folds: Vec<Fold>,
}

/// A deterministic RNG for a purpose of one item.
pub(super) fn rng_for(seed: u64, item: usize, purpose: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&(item as u64).to_le_bytes());
    key[16..24].copy_from_slice(&purpose.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

const PURPOSE_HOLDOUT: u64 = 1;
const PURPOSE_SUBSAMPLE: u64 = 2;
/// `evaluate`'s hidden bins: a stream apart from every stream of the imputation it scores.
pub(super) const PURPOSE_EVALUATE: u64 = 0xEE;

/// An item imputed before the plan ran: `--backend auto`'s profile imputes a few items
/// completely to time their tasks, and the run keeps them rather than doing them again.
pub struct FinishedItem {
    pub item: usize,
    /// The item's destination block, complete.
    pub block: Vec<f32>,
    pub report: ItemReport,
}

/// What `--backend auto`'s imputation profile did that the run keeps rather than doing again:
/// the items it imputed completely, and the grid's pair table (for partner search), which took
/// 1.0 ms to build on a 150-subject, 5-item, 720-hour grid, as long as a tenth of the job's
/// trees. (Worker processes build their own.)
#[derive(Default)]
pub struct ProfiledWork {
    pub items: Vec<FinishedItem>,
    pub pairs: Option<PairTable>,
}

/// Writes the blocks of `finished` to `dest`; returns the items still to impute, in order.
pub fn take_finished(
    dest: &dyn ItemBlocks,
    shape: GridShape,
    finished: &[FinishedItem],
) -> Result<Vec<usize>> {
    let mut todo = vec![true; shape.items];
    for done in finished {
        dest.put(done.item, bytemuck::cast_slice(&done.block))?;
        todo[done.item] = false;
    }
    Ok((0..shape.items).filter(|&i| todo[i]).collect())
}

/// The reports of every item in item order: those of `todo` (in its order) and of `finished`.
pub fn merge_reports(
    todo: &[usize],
    reports: Vec<ItemReport>,
    finished: Vec<FinishedItem>,
    item_ids: &[u32],
) -> Vec<ItemReport> {
    let mut all: Vec<(usize, ItemReport)> = todo.iter().copied().zip(reports).collect();
    all.extend(finished.into_iter().map(|f| (f.item, f.report)));
    all.sort_by_key(|(i, _)| *i);
    all.into_iter()
        .map(|(i, mut report)| {
            report.item_id = item_ids[i];
            report
        })
        .collect()
}

/// Imputes the items `todo` of `source` and hands each one's block to `dest` (blocks of a grid
/// of `source`'s shape; other items' blocks are not written). `first_bin_hour[a]` is the clock
/// hour of bin 0 of admission `a`; `item_ids` name the items in the report, which lists
/// `todo`'s items in order. `pairs`: the grid's pair table if built already (by the profile),
/// else built here for methods with partners.
#[allow(clippy::too_many_arguments)]
pub fn impute(
    source: &[f32],
    dest: &dyn ItemBlocks,
    shape: GridShape,
    first_bin_hour: &[u8],
    item_ids: &[u32],
    options: &ImputeOptions,
    todo: &[usize],
    pairs: Option<PairTable>,
) -> Result<ImputeReport> {
    assert_eq!(source.len(), shape.len());
    let ctx = GridContext { values: source, shape, first_bin_hour, replaced: None };
    let mut report = ImputeReport::default();
    if shape.is_empty() || todo.is_empty() {
        return Ok(report);
    }

    let start = Instant::now();
    let pairs = pairs.or_else(|| PairTable::for_method(source, shape, options.method));
    let prepared: Vec<Prepared> =
        todo.par_iter().map(|&i| prepare(&ctx, pairs.as_ref(), i, options)).collect();
    report.prepare = start.elapsed();

    let start = Instant::now();
    let trees = options.trees.unwrap_or_else(|| default_trees(options.method));
    let params = forest_params(options.method, trees);
    // One task per (item, training set, tree), `j` the item's place in `todo`. A tree's stream
    // is (item, set) and its index within the set: the same trees whatever the plan's order or
    // the worker that runs them.
    let tasks: Vec<(usize, usize, usize)> = prepared
        .iter()
        .enumerate()
        .flat_map(|(j, p)| (0..p.fits.len()).flat_map(move |f| (0..trees).map(move |k| (j, f, k))))
        .collect();
    // Each training set is prepared (sorted) once, then shared by its trees.
    let trainers: Vec<Vec<Trainer>> = prepared
        .par_iter()
        .map(|p| {
            p.fits.iter().map(|(data, targets)| Trainer::new(data, targets, &params)).collect()
        })
        .collect();
    let trained: Vec<Tree> = tasks
        .par_iter()
        .map(|&(j, f, k)| trainers[j][f].fit_tree(tree_seed(options.seed, todo[j], f, k)))
        .collect();
    drop(trainers);
    let mut forests: Vec<Vec<Forest>> = (0..todo.len()).map(|_| Vec::new()).collect();
    for (chunk, &(j, _, _)) in trained.chunks(trees.max(1)).zip(tasks.iter().step_by(trees.max(1)))
    {
        forests[j].push(Forest::from_trees(chunk.to_vec()));
    }
    report.train = start.elapsed();

    let start = Instant::now();
    // Each item is filled in a buffer of its thread's (reused from item to item), then written
    // whole.
    let block_len = shape.item_block_len();
    report.items = (0..todo.len())
        .into_par_iter()
        .map_init(
            || vec![0.0f32; block_len],
            |block, j| {
                let i = todo[j];
                let mut item = fill(&ctx, i, block, &prepared[j], &forests[j], options);
                dest.put(i, bytemuck::cast_slice(block))?;
                item.item_id = item_ids[i];
                Ok(item)
            },
        )
        .collect::<Result<_>>()?;
    report.predict = start.elapsed();
    Ok(report)
}

/// Every item of a grid of `shape`, for [`impute`].
pub fn all_items(shape: GridShape) -> Vec<usize> {
    (0..shape.items).collect()
}

/// The random stream of tree `k` of training set `fit` of item `i`: the same tree whatever the
/// plan's order or the worker (thread or process) that grows it.
pub(super) fn tree_seed(seed: u64, i: usize, fit: usize, k: usize) -> TreeSeed {
    TreeSeed { seed, stream: (i * (CV_FOLDS + 1) + fit) as u64, tree: k as u64 }
}

/// Stage 1 for item `i`.
///
/// `pairs` is the source grid's [`PairTable`], which methods with partners need
/// ([`Method::uses_partners`]); others take `None`.
pub(super) fn prepare(
    ctx: &GridContext<'_>,
    pairs: Option<&PairTable>,
    i: usize,
    options: &ImputeOptions,
) -> Prepared {
    let empty = Prepared { set: None, fits: Vec::new(), folds: Vec::new() };
    let window = options.window.unwrap_or_else(|| default_window(options.method));
    if matches!(options.method, Method::Locf | Method::Linear) {
        return empty;
    }
    let block = item_block(ctx.values, ctx.shape, i);
    let hours = ctx.shape.hours;
    // One scan of the block for its observed bins, for the partners and the folds.
    let positions = features::observed_positions(block);
    let set = match options.method {
        Method::Rf | Method::Auto => FeatureSet::Ours {
            window,
            partners: partners::partners(
                pairs.expect("methods with partners are prepared with the grid's pair table"),
                i,
                options.partners,
                MIN_SHARED_BINS,
            ),
        },
        Method::RfMedlens => FeatureSet::Medlens { window },
        Method::Locf | Method::Linear => unreachable!("returned above"),
    };
    let observed: Vec<Bin> =
        positions.iter().map(|&k| ((k / hours) as u32, (k % hours) as u32)).collect();
    if observed.len() < 2 {
        return Prepared { set: Some(set), ..empty };
    }

    // Which observed bins each fold hides: a seeded shuffle, cut into folds.
    let fold_members: Vec<Vec<usize>> = if options.method == Method::Auto {
        let mut order =
            sample(&mut rng_for(options.seed, i, PURPOSE_HOLDOUT), observed.len(), observed.len())
                .into_vec();
        if observed.len() < CV_BELOW {
            let per_fold = observed.len().div_ceil(CV_FOLDS);
            order.chunks(per_fold).map(<[usize]>::to_vec).collect()
        } else {
            let n_hold = (observed.len() as f64 * options.validation_fraction).round() as usize;
            order.truncate(n_hold.clamp(1, observed.len() - 1));
            vec![order]
        }
    } else {
        Vec::new()
    };

    let mut fits = Vec::new();
    let mut folds = Vec::new();
    let mut masked = if fold_members.is_empty() { Vec::new() } else { block.to_vec() };
    for (f, members) in fold_members.iter().enumerate() {
        let mut hidden = vec![false; observed.len()];
        let mut bins = Vec::with_capacity(members.len());
        for &k in members {
            hidden[k] = true;
            let (a, h) = observed[k];
            bins.push((observed[k], block[a as usize * hours + h as usize]));
        }
        bins.sort_unstable_by_key(|b| b.0);
        let fold = Fold { bins };
        let train: Vec<Bin> =
            observed.iter().zip(&hidden).filter(|(_, &held)| !held).map(|(b, _)| *b).collect();
        fold.hide(&mut masked, hours);
        fits.push(training_set(&ctx.with_block(i, &masked), i, &set, train, options, f));
        fold.restore(&mut masked, hours);
        folds.push(fold);
    }
    // Cross-validated (or plain rf) items also get a forest trained on every observed bin.
    if folds.len() != 1 {
        fits.push(training_set(ctx, i, &set, observed, options, folds.len()));
    }
    Prepared { set: Some(set), fits, folds }
}

/// The feature rows and targets of `bins`, subsampled to `--max-train` with a seeded draw.
fn training_set(
    ctx: &GridContext<'_>,
    i: usize,
    set: &FeatureSet,
    mut bins: Vec<Bin>,
    options: &ImputeOptions,
    fit: usize,
) -> (Dataset, Vec<f32>) {
    if bins.len() > options.max_train {
        let mut rng = rng_for(options.seed, i, PURPOSE_SUBSAMPLE + fit as u64);
        let mut picked = sample(&mut rng, bins.len(), options.max_train).into_vec();
        picked.sort_unstable();
        bins = picked.into_iter().map(|k| bins[k]).collect();
    }
    let targets = bins.iter().map(|&(a, h)| ctx.series(i, a as usize)[h as usize]).collect();
    (build(ctx, i, set, &bins), targets)
}

pub(super) fn item_block(values: &[f32], shape: GridShape, i: usize) -> &[f32] {
    let n = shape.item_block_len();
    &values[i * n..(i + 1) * n]
}

/// Stage 3 for item `i`: writes `block` (the item's destination block) completely.
pub(super) fn fill(
    ctx: &GridContext<'_>,
    i: usize,
    block: &mut [f32],
    prep: &Prepared,
    forests: &[Forest],
    options: &ImputeOptions,
) -> ItemReport {
    let source = item_block(ctx.values, ctx.shape, i);
    block.copy_from_slice(source);
    let hours = ctx.shape.hours;
    let mut report = ItemReport {
        observed: source.iter().filter(|v| !v.is_nan()).count() as u64,
        ..ItemReport::default()
    };

    let method = match options.method {
        Method::Auto => {
            let (winner, scores) = choose(ctx, i, prep, forests);
            report.validation = scores;
            winner
        }
        m => m,
    };
    report.method = Some(method);

    match method {
        Method::Locf | Method::Linear => {
            let fill_series = if method == Method::Locf { locf } else { linear };
            block.chunks_mut(hours).for_each(fill_series);
            report.imputed = count_filled(source, block);
        }
        Method::RfMedlens | Method::Rf => {
            // The last forest fills the item: trained on every observed bin, or, for a large
            // item under `auto`, on its hold-out's 90%.
            if let (Some(set), Some(forest)) = (&prep.set, forests.last()) {
                report.imputed = predict_into(ctx, i, set, forest, block);
            }
            let missing = count_missing(block);
            block.chunks_mut(hours).for_each(locf);
            report.carried = missing - count_missing(block);
        }
        Method::Auto => unreachable!("auto resolves to a candidate"),
    }

    let fill_value = match options.fill_empty {
        FillEmpty::Nan => f32::NAN,
        FillEmpty::Zero => 0.0,
        FillEmpty::Mean => observed_mean(source),
    };
    if !fill_value.is_nan() {
        for v in block.iter_mut().filter(|v| v.is_nan()) {
            *v = fill_value;
            report.filled_empty += 1;
        }
    }
    report
}

/// Predicts every missing bin the feature set can reach, in blocks of admissions so that
/// memory stays bounded; returns how many were predicted.
fn predict_into(
    ctx: &GridContext<'_>,
    i: usize,
    set: &FeatureSet,
    forest: &Forest,
    block: &mut [f32],
) -> u64 {
    const ADMISSIONS_PER_BATCH: usize = 256;
    let hours = ctx.shape.hours;
    let mut predicted = 0;
    // The batch after `first`'s is asked for while `first`'s is predicted: the item's and its
    // partners' values, read from disk meanwhile where the grid is a file larger than memory.
    let partners = match set {
        FeatureSet::Ours { partners, .. } => &partners[..],
        FeatureSet::Medlens { .. } => &[],
    };
    let read_ahead = |first: usize| {
        let admissions = first.min(ctx.shape.admissions)
            ..(first + ADMISSIONS_PER_BATCH).min(ctx.shape.admissions);
        for &j in std::iter::once(&i).chain(partners) {
            let values = item_block(ctx.values, ctx.shape, j);
            crate::memory::will_need(&values[admissions.start * hours..admissions.end * hours]);
        }
    };
    read_ahead(0);
    for first in (0..ctx.shape.admissions).step_by(ADMISSIONS_PER_BATCH) {
        read_ahead(first + ADMISSIONS_PER_BATCH);
        let last = (first + ADMISSIONS_PER_BATCH).min(ctx.shape.admissions);
        let mut bins: Vec<Bin> = Vec::new();
        for a in first..last {
            set.for_each_predictable(ctx.series(i, a), |h| bins.push((a as u32, h as u32)));
        }
        if bins.is_empty() {
            continue;
        }
        let values = forest.predict(&build(ctx, i, set, &bins));
        for (&(a, h), v) in bins.iter().zip(values) {
            block[a as usize * hours + h as usize] = v;
        }
        predicted += bins.len() as u64;
    }
    predicted
}

/// `auto`: scores `locf`, `linear` and `rf` on every fold's hidden bins; the lowest RMSE over
/// all of them wins (ties go to the simpler method).
fn choose(
    ctx: &GridContext<'_>,
    i: usize,
    prep: &Prepared,
    forests: &[Forest],
) -> (Method, Vec<(Method, f64)>) {
    let Some(set) = &prep.set else { return (Method::Locf, Vec::new()) };
    if prep.folds.is_empty() {
        return (Method::Locf, Vec::new());
    }
    let hours = ctx.shape.hours;
    let candidates = [Method::Locf, Method::Linear, Method::Rf];
    let mut guesses: [Vec<f32>; 3] = Default::default();
    let mut truth = Vec::new();
    let mut masked = item_block(ctx.values, ctx.shape, i).to_vec();
    let mut series = vec![0.0f32; hours];
    for (fold, forest) in prep.folds.iter().zip(forests) {
        fold.hide(&mut masked, hours);
        let bins: Vec<Bin> = fold.bins.iter().map(|&(b, _)| b).collect();
        truth.extend(fold.bins.iter().map(|&(_, v)| v));
        // locf and linear of the series that hold hidden bins, the only ones scored.
        let carried_from = guesses[0].len();
        for group in bins.chunk_by(|x, y| x.0 == y.0) {
            let a = group[0].0 as usize;
            let hidden_series = &masked[a * hours..(a + 1) * hours];
            series.copy_from_slice(hidden_series);
            locf(&mut series);
            guesses[0].extend(group.iter().map(|&(_, h)| series[h as usize]));
            series.copy_from_slice(hidden_series);
            linear(&mut series);
            guesses[1].extend(group.iter().map(|&(_, h)| series[h as usize]));
        }
        // A hidden bin the forest would not reach is carried along in a real run: score it so.
        let masked_ctx = ctx.with_block(i, &masked);
        let mut predicted = forest.predict(&build(&masked_ctx, i, set, &bins));
        for (k, b) in bins.iter().enumerate() {
            if !set.can_predict(masked_ctx.series(i, b.0 as usize), b.1 as usize) {
                predicted[k] = guesses[0][carried_from + k];
            }
        }
        guesses[2].extend(predicted);
        fold.restore(&mut masked, hours);
    }
    let scores: Vec<(Method, f64)> =
        candidates.iter().zip(&guesses).map(|(&m, g)| (m, rmse(g, &truth))).collect();
    let best = scores.iter().fold(scores[0], |best, &s| if s.1 < best.1 { s } else { best });
    (best.0, scores)
}

/// Root mean squared error; NaN guesses count as errors of the truth's size.
pub fn rmse(guess: &[f32], truth: &[f32]) -> f64 {
    let sum: f64 = guess
        .iter()
        .zip(truth)
        .map(|(&g, &t)| {
            let d = if g.is_nan() { f64::from(t) } else { f64::from(g) - f64::from(t) };
            d * d
        })
        .sum();
    (sum / truth.len().max(1) as f64).sqrt()
}

fn count_filled(before: &[f32], after: &[f32]) -> u64 {
    before.iter().zip(after).filter(|(b, a)| b.is_nan() && !a.is_nan()).count() as u64
}

fn count_missing(values: &[f32]) -> u64 {
    values.iter().filter(|v| v.is_nan()).count() as u64
}

/// Mean of the observed values (NaN if none).
fn observed_mean(values: &[f32]) -> f32 {
    let (sum, n) = values
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0f64, 0u64), |(s, n), &v| (s + f64::from(v), n + 1));
    if n == 0 {
        f32::NAN
    } else {
        (sum / n as f64) as f32
    }
}
