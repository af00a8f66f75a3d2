//! Random-forest fit and predict: the imputation engine's CPU-bound heart.
//!
//! One fixed synthetic regression set (Friedman #1 plus noise, 20 000 x 10, 100 trees, like
//! one MedLens item's training rows), fitted and predicted on 1 thread and on every core, with
//! exact and histogram splits, and predicted on distinct rows and on rows that repeat.
//! `tools/bench_forest.py` compares the same work with scikit-learn on identical data.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use medimpute::forest::{Dataset, Forest, ForestParams, SplitMethod};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// Friedman #1 rows: 10 uniform features (5 informative), targets with `N(0, 1)` noise.
fn friedman1(n: usize, seed: u64) -> (Dataset, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rows: Vec<Vec<f32>> = (0..n).map(|_| (0..10).map(|_| rng.gen()).collect()).collect();
    let y = rows
        .iter()
        .map(|r| {
            let noise = (-2.0 * (1.0 - rng.gen::<f32>()).ln()).sqrt()
                * (std::f32::consts::TAU * rng.gen::<f32>()).cos();
            10.0 * (std::f32::consts::PI * r[0] * r[1]).sin()
                + 20.0 * (r[2] - 0.5).powi(2)
                + 10.0 * r[3]
                + 5.0 * r[4]
                + noise
        })
        .collect();
    (Dataset::from_rows(&rows), y)
}

fn bench_forest(c: &mut Criterion) {
    let (train, y) = friedman1(20_000, 1);
    let (test, _) = friedman1(2_000, 2);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let methods =
        [("exact", SplitMethod::Exact), ("histogram255", SplitMethod::Histogram { bins: 255 })];

    let mut fit = c.benchmark_group("forest_fit_20000x10_100trees");
    fit.sample_size(10).measurement_time(Duration::from_secs(20));
    for (name, split) in methods {
        let params = ForestParams { split, ..ForestParams::default() };
        for threads in [1, cores] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            // One MedLens item's forest training: per-core cost (1 thread) and tree-parallel scaling.
            fit.bench_function(format!("{name}_{threads}_threads"), |b| {
                b.iter(|| pool.install(|| Forest::fit(&train, &y, &params, 0, 0)))
            });
        }
    }
    fit.finish();

    let forest = Forest::fit(&train, &y, &ForestParams::default(), 0, 0);
    // Imputing missing bins: rows/s through 100 deep trees (memory latency bound, not arithmetic).
    bench_predict(c, "forest_predict_2000rows_100trees", &forest, &test, cores);

    // Imputation's rows repeat (`rf-medlens` predicted 2.25 M bins of a 400-subject export,
    // 34% of them distinct): the same 2,000 rows three times over, each distinct row walked
    // once. Against the group above: what predicting equal rows once saves.
    let rows: Vec<Vec<f32>> = (0..3 * test.n_rows())
        .map(|r| (0..test.n_features()).map(|j| test.column(j)[r % test.n_rows()]).collect())
        .collect();
    let repeated = Dataset::from_rows(&rows);
    bench_predict(c, "forest_predict_6000rows_2000distinct_100trees", &forest, &repeated, cores);
}

/// A group predicting `rows` with `forest` on 1 thread and on `cores`, in rows per second.
fn bench_predict(c: &mut Criterion, group: &str, forest: &Forest, rows: &Dataset, cores: usize) {
    let mut predict = c.benchmark_group(group);
    predict.throughput(Throughput::Elements(rows.n_rows() as u64));
    for threads in [1, cores] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        predict.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| pool.install(|| forest.predict(rows)))
        });
    }
    predict.finish();
}

criterion_group!(benches, bench_forest);
criterion_main!(benches);
