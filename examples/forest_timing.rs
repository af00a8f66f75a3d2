//! Times one forest fit and prediction on `.npy` data, for `tools/bench_forest.py`.
//!
//! ```text
//! cargo run --release --example forest_timing -- DIR THREADS [exact | histogram:BINS] [TREES]
//! ```
//!
//! Reads `DIR/X.npy` (float32, rows x features), `DIR/y.npy` and `DIR/T.npy`, and `DIR/Ty.npy`
//! if present (targets of `T`, float64 or float32); fits 100 trees (default parameters
//! otherwise) on a pool of THREADS threads, predicts `T`, and prints one JSON line:
//! `{"fit_s", "predict_s", "rmse" (null without Ty.npy), "threads", "nodes"}`.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use medimpute::forest::{Dataset, Forest, ForestParams, SplitMethod};
use ndarray::{Array1, Array2};
use ndarray_npy::read_npy;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, threads, rest @ ..] = args.as_slice() else {
        bail!("usage: forest_timing DIR THREADS [exact | histogram:BINS] [TREES]");
    };
    let dir = Path::new(dir);
    let threads: usize = threads.parse().context("THREADS")?;
    let split = match rest.first().map(String::as_str) {
        None | Some("exact") => SplitMethod::Exact,
        Some(m) => match m.strip_prefix("histogram:").map(str::parse) {
            Some(Ok(bins)) => SplitMethod::Histogram { bins },
            _ => bail!("method {m:?}: expected exact or histogram:BINS"),
        },
    };
    let trees = rest.get(1).map(|t| t.parse()).transpose().context("TREES")?.unwrap_or(100);
    let params = ForestParams { trees, split, ..ForestParams::default() };

    let train = dataset(&dir.join("X.npy"))?;
    let y = targets(&dir.join("y.npy"))?;
    let test = dataset(&dir.join("T.npy"))?;
    let truth =
        if dir.join("Ty.npy").exists() { Some(targets(&dir.join("Ty.npy"))?) } else { None };

    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let start = Instant::now();
    let forest = pool.install(|| Forest::fit(&train, &y, &params, 0, 0));
    let fit_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let pred = pool.install(|| forest.predict(&test));
    let predict_s = start.elapsed().as_secs_f64();

    let rmse = truth.map_or("null".to_string(), |t| {
        let se: f64 =
            pred.iter().zip(&t).map(|(p, t)| (f64::from(*p) - f64::from(*t)).powi(2)).sum();
        format!("{}", (se / t.len() as f64).sqrt())
    });
    let nodes: usize = forest.trees().iter().map(|t| t.node_count()).sum();
    println!(
        "{{\"fit_s\": {fit_s}, \"predict_s\": {predict_s}, \"rmse\": {rmse}, \"threads\": {threads}, \"nodes\": {nodes}}}"
    );
    Ok(())
}

/// A row-major float32 `.npy` matrix as a column-major [`Dataset`].
fn dataset(path: &Path) -> Result<Dataset> {
    let x: Array2<f32> =
        read_npy(path).with_context(|| format!("{}: expected 2-D float32", path.display()))?;
    let (rows, features) = x.dim();
    Ok(Dataset::new(rows, features, x.t().iter().copied().collect()))
}

/// A 1-D float64 or float32 `.npy` vector as `f32`.
fn targets(path: &Path) -> Result<Vec<f32>> {
    if let Ok(y) = read_npy::<_, Array1<f64>>(path) {
        return Ok(y.iter().map(|&v| v as f32).collect());
    }
    let y: Array1<f32> =
        read_npy(path).with_context(|| format!("{}: expected 1-D float", path.display()))?;
    Ok(y.to_vec())
}
