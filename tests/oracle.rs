//! The pandas oracle: `medimpute sample` against `tools/medlens_baseline.py` on the `data/`
//! export, in both of the baseline's modes. Same shape, same axes, same NaN positions, values
//! equal within float32 rounding (the engine sums in float32 in file order; pandas averages in
//! float64, then rounds once).
//!
//! Needs pandas and numpy (`python3 -m pip install -r tools/requirements.txt`); without them the
//! test fails, it does not skip.

mod common;

use common::*;
use medimpute::grid::Axes;
use std::path::Path;

fn baseline(out: &Path, mode: &[&str]) {
    let (admissions, events) = demo_export();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/medlens_baseline.py");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(script).arg("sample").arg("--admissions").arg(&admissions).arg("--out").arg(out);
    for e in &events {
        cmd.arg("--events").arg(e);
    }
    let output = cmd.args(mode).output().expect("python3 runs");
    assert!(output.status.success(), "baseline failed: {}", text(&output));
}

/// Distance in units in the last place between two finite f32 of the same sign.
fn ulps(a: f32, b: f32) -> u32 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
}

fn assert_same_grid(ours: &Path, theirs: &Path) {
    let (grid, axes) = read_grid(ours);
    let (oracle, oracle_axes) = read_grid(theirs);
    assert_eq!(grid.shape(), oracle.shape());
    assert_eq!(axes, oracle_axes, "axes differ");
    let (mut observed, mut inexact) = (0usize, 0usize);
    for (i, (&a, &b)) in grid.values().iter().zip(oracle.values()).enumerate() {
        assert_eq!(a.is_nan(), b.is_nan(), "NaN mismatch at flat index {i}: {a} vs {b}");
        if a.is_nan() {
            continue;
        }
        observed += 1;
        inexact += usize::from(a != b);
        assert!(
            a == b || (a.signum() == b.signum() && ulps(a, b) <= 4),
            "value mismatch at flat index {i}: ours {a}, pandas {b}"
        );
    }
    assert!(observed > 10_000, "the export should fill many bins, got {observed}");
    assert!(inexact * 100 <= observed, "{inexact} of {observed} bins differ in the last bits");
}

#[test]
fn sample_matches_the_vectorized_pandas_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (admissions, events) = demo_export();
    let ours = dir.path().join("ours.npy");
    let output = medimpute().args(sample_args(&admissions, &events, &ours)).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let theirs = dir.path().join("pandas.npy");
    baseline(&theirs, &["--vectorized"]);
    assert_same_grid(&ours, &theirs);
    assert_eq!(Axes::read(&Axes::path_for(&ours)).unwrap().items.len(), 77);
}

#[test]
fn sample_matches_the_medlens_style_baseline_with_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (admissions, events) = demo_export();
    let ours = dir.path().join("ours.npy");
    let mut args = sample_args(&admissions, &events, &ours);
    args.extend(["--item-set", "medlens-top5", "--workers", "1"].map(String::from));
    let output = medimpute().args(args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let theirs = dir.path().join("pandas.npy");
    baseline(&theirs, &["--item-set", "medlens-top5", "--executor", "process", "-p", "2"]);
    let (grid, _) = read_grid(&ours);
    let observed = grid.values().iter().filter(|v| !v.is_nan()).count();
    assert!(observed > 1_000, "GCS items should be charted, got {observed} bins");
    let (oracle, _) = read_grid(&theirs);
    assert_eq!(grid.shape(), oracle.shape());
    for (i, (&a, &b)) in grid.values().iter().zip(oracle.values()).enumerate() {
        assert!(a == b || (a.is_nan() && b.is_nan()) || ulps(a, b) <= 4, "index {i}: {a} vs {b}");
    }
}
