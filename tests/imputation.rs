//! Imputation end to end: accuracy targets on a generated export with known hidden bins,
//! byte-identical output across thread counts and runs, the observed mask, and bad input.

mod common;

use common::*;
use medimpute::grid::Grid;
use std::path::{Path, PathBuf};

/// Generates and samples a 400-subject export: large enough that per-method differences are
/// not noise.
fn tuning_grid(dir: &Path) -> PathBuf {
    let export = dir.join("export");
    let out = run(&[
        "generate",
        "--subjects",
        "400",
        "--seed",
        "11",
        "--out",
        &export.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let grid = dir.join("grid.npy");
    let events = [export.join("CHARTEVENTS.csv"), export.join("LABEVENTS.csv")];
    let out = medimpute()
        .args(sample_args(&export.join("ADMISSIONS.csv"), &events, &grid))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    grid
}

/// One method's scores: name, mean RMSE/sd, and per item (RMSE/sd, hidden bins).
type Scores = (String, f64, Vec<(Option<f64>, u64)>);

/// `evaluate --json`, parsed.
fn evaluate(grid: &Path, methods: &str) -> Vec<Scores> {
    let out =
        run(&["evaluate", "--grid", &grid.display().to_string(), "--methods", methods, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let scores: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    scores
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let items = m["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["rmse_over_sd"].as_f64(), i["hidden"].as_u64().unwrap()))
                .collect();
            (
                m["method"].as_str().unwrap().to_string(),
                m["mean_rmse_over_sd"].as_f64().unwrap(),
                items,
            )
        })
        .collect()
}

#[test]
fn rf_beats_rf_medlens_by_15_percent_and_the_simple_methods_and_auto_picks_well() {
    let dir = tempfile::tempdir().unwrap();
    let scores = evaluate(&tuning_grid(dir.path()), "locf,linear,rf-medlens,rf,auto");
    let mean = |name: &str| scores.iter().find(|s| s.0 == name).unwrap().1;
    let (locf, linear, medlens, rf, auto) =
        (mean("locf"), mean("linear"), mean("rf-medlens"), mean("rf"), mean("auto"));
    let report = format!(
        "locf {locf:.4} linear {linear:.4} rf-medlens {medlens:.4} rf {rf:.4} auto {auto:.4}"
    );
    assert!(rf <= 0.85 * medlens, "rf must beat rf-medlens by 15%: {report}");
    assert!(rf <= locf.min(linear), "rf must be no worse than locf and linear: {report}");
    let best_single = locf.min(linear).min(medlens).min(rf);
    assert!(auto <= 1.01 * best_single, "auto within 1% of the best method: {report}");

    // Per item, on items with at least 100 hidden bins: below that, the test bins' own noise
    // (a standard error of about 15% of the RMSE at 27 bins) exceeds the 5% being checked, and
    // no selector can be held to it (docs/imputation.md lists those items' figures).
    let auto_items = &scores.iter().find(|s| s.0 == "auto").unwrap().2;
    let mut checked = 0;
    for (k, &(auto_score, hidden)) in auto_items.iter().enumerate() {
        let Some(auto_score) = auto_score.filter(|_| hidden >= 100) else { continue };
        checked += 1;
        let best = scores
            .iter()
            .filter(|s| s.0 != "auto")
            .filter_map(|s| s.2[k].0)
            .fold(f64::INFINITY, f64::min);
        assert!(
            auto_score <= 1.05 * best,
            "item #{k} ({hidden} hidden bins): auto {auto_score:.4} vs best {best:.4}; {report}"
        );
    }
    assert!(checked >= 40, "only {checked} items had 100 hidden bins");
}

fn run_job(dir: &Path, name: &str, extra: &[&str]) -> (Vec<u8>, Vec<u8>) {
    let out = dir.join(name);
    let mut args = vec!["run", "--export", "data/demo", "--out"];
    let out_text = out.display().to_string();
    args.push(&out_text);
    args.extend(extra);
    let output = medimpute().current_dir(env!("CARGO_MANIFEST_DIR")).args(&args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let observed = medimpute::pipeline::observed_path(&out);
    (std::fs::read(&out).unwrap(), std::fs::read(observed).unwrap())
}

#[test]
fn run_output_is_byte_identical_for_1_2_and_3_threads_and_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    for method in ["auto", "rf-medlens"] {
        let reference =
            run_job(dir.path(), "a.npy", &["--method", method, "--workers", "1", "--trees", "8"]);
        for workers in ["2", "3", "3"] {
            let again = run_job(
                dir.path(),
                "b.npy",
                &["--method", method, "--workers", workers, "--trees", "8"],
            );
            assert!(again == reference, "{method}: {workers} workers changed the output");
        }
        let other_seed =
            run_job(dir.path(), "c.npy", &["--method", method, "--seed", "9", "--trees", "8"]);
        assert!(other_seed.0 != reference.0, "{method}: the seed must matter");
    }
}

#[test]
fn impute_fills_every_bin_and_the_observed_mask_tells_which_were_measured() {
    let dir = tempfile::tempdir().unwrap();
    let (admissions, events) = demo_export();
    let sampled = dir.path().join("grid.npy");
    let out = medimpute().args(sample_args(&admissions, &events, &sampled)).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let imputed = dir.path().join("imputed.npy");
    for (method, fill) in
        [("linear", "mean"), ("rf", "mean"), ("locf", "nan"), ("rf-medlens", "zero")]
    {
        let out = run(&[
            "impute",
            "--grid",
            &sampled.display().to_string(),
            "--out",
            &imputed.display().to_string(),
            "--method",
            method,
            "--fill-empty",
            fill,
            "--trees",
            "8",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let (source, _) = read_grid(&sampled);
        let (result, axes) = read_grid(&imputed);
        assert_eq!(
            axes.shape,
            [source.shape().items, source.shape().admissions, source.shape().hours]
        );
        let mask = std::fs::read(medimpute::pipeline::observed_path(&imputed)).unwrap();
        let mask = &mask[mask.len() - source.values().len()..];
        for (k, (&s, &r)) in source.values().iter().zip(result.values()).enumerate() {
            assert_eq!(mask[k], u8::from(!s.is_nan()), "mask at {k}");
            if !s.is_nan() {
                assert_eq!(
                    s.to_bits(),
                    r.to_bits(),
                    "{method}: observed bins are kept as they are"
                );
            }
        }
        let hours = source.shape().hours;
        let empty_series =
            |k: usize| source.values()[k / hours * hours..][..hours].iter().all(|v| v.is_nan());
        for (k, &r) in result.values().iter().enumerate() {
            match fill {
                "nan" => {
                    assert_eq!(r.is_nan(), empty_series(k), "{method}: NaN only in empty series")
                }
                "zero" if empty_series(k) => assert_eq!(r, 0.0),
                _ => assert!(r.is_finite(), "{method}: bin {k} left empty"),
            }
        }
        assert!(text(&out).contains(&format!("imputed by {method}")), "{}", text(&out));
    }
}

#[test]
fn impute_rejects_files_that_are_not_grids_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = write(dir.path(), "bogus.npy", "this is not an npy file");
    let out = dir.path().join("out.npy");
    let result = run(&[
        "impute",
        "--grid",
        &bogus.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(result.status.code(), Some(2), "{}", text(&result));
    assert!(text(&result).contains("bogus.npy"), "{}", text(&result));
    assert!(!out.exists());

    // A valid grid without its axes file.
    let grid =
        Grid::in_memory(medimpute::grid::GridShape { items: 1, admissions: 1, hours: 4 }, 1.0);
    let lone = dir.path().join("lone.npy");
    std::fs::write(&lone, grid.as_npy_bytes()).unwrap();
    let result = run(&[
        "impute",
        "--grid",
        &lone.display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert_eq!(result.status.code(), Some(2), "{}", text(&result));
    assert!(text(&result).contains("lone.npy.axes.json"), "{}", text(&result));
    assert!(!out.exists());
    assert!(partial_files(dir.path()).is_empty());
}

#[test]
fn forests_of_no_trees_or_no_rows_are_refused_as_usage_errors() {
    for args in [["--trees", "0"], ["--max-train", "0"]] {
        let out = medimpute()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("run")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(args[0]), "{}", text(&out));
    }
}
