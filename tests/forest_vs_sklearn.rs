//! Accuracy of the forest against scikit-learn's `RandomForestRegressor` on the same data.
//!
//! Trees cannot match scikit-learn's bit for bit (other random streams), so the check is
//! statistical: on held-out rows our RMSE must be within 2% of scikit-learn's, for the MedLens
//! setting (defaults) and for the two knobs that change the search (`max_features`,
//! `min_samples_leaf`). scikit-learn runs through `tools/medlens_baseline.py forest`; without
//! python3 and scikit-learn these tests fail, they do not skip (`MEDIMPUTE_PYTHON` names
//! another interpreter).

use std::path::{Path, PathBuf};
use std::process::Command;

use medimpute::forest::{Dataset, Forest, ForestParams, MaxFeatures};
use ndarray::{Array1, Array2};
use ndarray_npy::{read_npy, write_npy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Regression data, rows as `Vec`s (written to `.npy` row-major, read by us column-major).
struct Split {
    train: Vec<Vec<f32>>,
    train_y: Vec<f64>,
    test: Vec<Vec<f32>>,
    /// Noise-free targets where the generator has them: the comparison is sharper without the
    /// noise floor both models share.
    test_y: Vec<f64>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let (u, v): (f64, f64) = (rng.gen(), rng.gen());
    (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Friedman #1: 10 uniform features, 5 of them used, `N(0, 1)` noise on training targets.
fn friedman1(n_train: usize, n_test: usize, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize, noise: f64| {
        let x: Vec<Vec<f32>> =
            (0..n).map(|_| (0..10).map(|_| rng.gen::<f32>()).collect()).collect();
        let y = x
            .iter()
            .map(|r| {
                let r: Vec<f64> = r.iter().map(|&v| f64::from(v)).collect();
                10.0 * (std::f64::consts::PI * r[0] * r[1]).sin()
                    + 20.0 * (r[2] - 0.5).powi(2)
                    + 10.0 * r[3]
                    + 5.0 * r[4]
                    + noise * normal(&mut rng)
            })
            .collect();
        (x, y)
    };
    let (train, train_y) = draw(n_train, 1.0);
    let (test, test_y) = draw(n_test, 0.0);
    Split { train, train_y, test, test_y }
}

/// MedLens-like imputation data: hourly vital-sign series (a patient level, a daily rhythm,
/// AR(1) noise) seen in 35% of hours; each observed hour is a row whose features are the max,
/// min, mean and range of the other observations within 12 hours, and the hour modulo 24.
/// Admissions are split between training and test rows.
fn windows(n_train: usize, n_test: usize, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows = |n: usize| {
        let (mut x, mut y) = (Vec::new(), Vec::new());
        while x.len() < n {
            let level = 80.0 + 12.0 * normal(&mut rng);
            let phase = rng.gen::<f64>() * std::f64::consts::TAU;
            let mut ar = 0.0;
            let series: Vec<Option<f64>> = (0..240)
                .map(|h| {
                    ar = 0.9 * ar + 3.0 * normal(&mut rng);
                    let v =
                        level + 8.0 * (std::f64::consts::TAU * h as f64 / 24.0 + phase).sin() + ar;
                    (rng.gen::<f64>() < 0.35).then_some(v)
                })
                .collect();
            for (h, v) in series.iter().enumerate() {
                let Some(v) = v else { continue };
                let around: Vec<f64> = (h.saturating_sub(12)..(h + 13).min(series.len()))
                    .filter(|&k| k != h)
                    .filter_map(|k| series[k])
                    .collect();
                if around.is_empty() || x.len() == n {
                    continue;
                }
                let max = around.iter().copied().fold(f64::MIN, f64::max);
                let min = around.iter().copied().fold(f64::MAX, f64::min);
                let mean = around.iter().sum::<f64>() / around.len() as f64;
                x.push([max, min, mean, max - min, (h % 24) as f64].map(|f| f as f32).to_vec());
                y.push(*v);
            }
        }
        (x, y)
    };
    let (train, train_y) = rows(n_train);
    let (test, test_y) = rows(n_test);
    Split { train, train_y, test, test_y }
}

fn matrix(rows: &[Vec<f32>]) -> Array2<f32> {
    let d = rows[0].len();
    Array2::from_shape_vec((rows.len(), d), rows.concat()).expect("rows of equal length")
}

fn rmse(pred: impl Iterator<Item = f64>, truth: &[f64]) -> f64 {
    let se: f64 = pred.zip(truth).map(|(p, t)| (p - t).powi(2)).sum();
    (se / truth.len() as f64).sqrt()
}

/// scikit-learn's predictions for `split.test`, `args` passed on to the baseline script.
fn sklearn(split: &Split, dir: &Path, args: &[&str]) -> Vec<f64> {
    let path = |name: &str| dir.join(name);
    write_npy(path("X.npy"), &matrix(&split.train)).unwrap();
    write_npy(path("y.npy"), &Array1::from(split.train_y.clone())).unwrap();
    write_npy(path("T.npy"), &matrix(&split.test)).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/medlens_baseline.py");
    let python = std::env::var("MEDIMPUTE_PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(&python)
        .arg(&script)
        .arg("forest")
        .args([
            "--train-x",
            "X.npy",
            "--train-y",
            "y.npy",
            "--test-x",
            "T.npy",
            "--out",
            "pred.npy",
        ])
        .args(["--trees", "100", "--seed", "0", "--n-jobs", "-1", "--json-timings", "t.json"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {python}: {e} (python3 with scikit-learn is required)")
        });
    assert!(
        output.status.success(),
        "{python} {} failed (pip install -r tools/requirements.txt?):\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let pred: Array1<f64> = read_npy(path("pred.npy")).unwrap();
    pred.to_vec()
}

fn ours(split: &Split, params: &ForestParams) -> Vec<f32> {
    let train = Dataset::from_rows(&split.train);
    let y: Vec<f32> = split.train_y.iter().map(|&v| v as f32).collect();
    Forest::fit(&train, &y, params, 0, 0).predict(&Dataset::from_rows(&split.test))
}

/// Fits both forests and checks our held-out RMSE against scikit-learn's.
fn compare(name: &str, split: &Split, params: ForestParams, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let theirs = rmse(sklearn(split, dir.path(), args).into_iter(), &split.test_y);
    let ours = rmse(ours(split, &params).into_iter().map(f64::from), &split.test_y);
    eprintln!("{name}: RMSE ours {ours:.4}, scikit-learn {theirs:.4}, ratio {:.4}", ours / theirs);
    assert!(ours <= 1.02 * theirs, "{name}: RMSE {ours:.4} > 1.02 x scikit-learn's {theirs:.4}");
}

#[test]
fn friedman_defaults() {
    compare("friedman defaults", &friedman1(6000, 2000, 1), ForestParams::default(), &[]);
}

#[test]
fn friedman_max_features_sqrt() {
    let params = ForestParams { max_features: MaxFeatures::Sqrt, ..ForestParams::default() };
    compare("friedman sqrt", &friedman1(6000, 2000, 2), params, &["--max-features", "sqrt"]);
}

#[test]
fn friedman_min_samples_leaf_5() {
    let params = ForestParams { min_samples_leaf: 5, ..ForestParams::default() };
    compare("friedman leaf 5", &friedman1(6000, 2000, 3), params, &["--min-samples-leaf", "5"]);
}

#[test]
fn windows_defaults() {
    compare("windows defaults", &windows(6000, 2000, 4), ForestParams::default(), &[]);
}

#[test]
fn windows_min_samples_leaf_5() {
    let params = ForestParams { min_samples_leaf: 5, ..ForestParams::default() };
    compare("windows leaf 5", &windows(6000, 2000, 5), params, &["--min-samples-leaf", "5"]);
}
