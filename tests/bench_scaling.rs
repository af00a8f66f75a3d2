//! `medimpute bench scaling`: the study's Table 1 on the demo export, small and fast.

mod common;

use common::*;
use std::path::Path;

/// Runs `bench scaling` on the demo export (5 items, 48 hours, locf) into `out_dir`.
fn scaling(out_dir: &Path, extra: &[&str]) -> std::process::Output {
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let (export, out_dir) = (export.display().to_string(), out_dir.display().to_string());
    let mut args = vec![
        "bench",
        "scaling",
        "--export",
        &export,
        "--item-set",
        "medlens-top5",
        "--method",
        "locf",
        "--hours",
        "48",
        "--out-dir",
        &out_dir,
    ];
    args.extend(extra);
    run(&args)
}

/// The CSV's rows as (backend, workers, runs, oversubscribed).
fn csv_rows(dir: &Path) -> Vec<(String, usize, usize, bool)> {
    let mut reader = csv::Reader::from_path(dir.join("scaling.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (b, w, r, o) = (at("backend"), at("workers"), at("runs"), at("oversubscribed"));
    reader
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[b].to_string(),
                rec[w].parse().unwrap(),
                rec[r].parse().unwrap(),
                &rec[o] == "true",
            )
        })
        .collect()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[test]
fn table_files_and_figure_for_three_backends() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output =
        scaling(&out, &["--workers", "1,2", "--runs", "2", "--backends", "serial,threads,shm"]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| backend | p | runs | T_p mean (s) | sigma (s) | median (s) | S_p |"));
    assert!(stdout.contains("cores"), "{stdout}");
    assert!(stdout.contains("byte-identical"), "{stdout}");

    for name in ["scaling.md", "scaling.csv", "scaling.json", "speedup.svg", "speedup.png"] {
        assert!(out.join(name).is_file(), "{name} missing");
        assert!(stdout.contains(&out.join(name).display().to_string()), "{name} not listed");
    }
    // Only the five files: the runs' grids went to a scratch directory that is gone.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 5);

    let rows: Vec<(String, usize, usize)> =
        csv_rows(&out).into_iter().map(|(b, w, r, _)| (b, w, r)).collect();
    let expected: Vec<(String, usize, usize)> =
        [("serial", 1), ("threads", 1), ("threads", 2), ("shm", 1), ("shm", 2)]
            .into_iter()
            .map(|(b, w)| (b.to_string(), w, 2))
            .collect();
    assert_eq!(rows, expected);

    let png = std::fs::read(out.join("speedup.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(std::fs::read_to_string(out.join("speedup.svg")).unwrap().starts_with("<svg"));
    assert_eq!(std::fs::read_to_string(out.join("scaling.md")).unwrap(), {
        // The report on stdout is the Markdown file followed by the list of files.
        let md = stdout.split("\nwrote:\n").next().unwrap();
        md.to_string()
    });

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("scaling.json")).unwrap()).unwrap();
    let measurements = json["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 5);
    for m in measurements {
        let runs = m["runs_s"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{m}");
        assert!(runs.iter().all(|t| t.as_f64().unwrap() > 0.0), "{m}");
    }
    assert_eq!(json["rows"].as_array().unwrap().len(), 5);
    assert_eq!(json["rows"][0]["speedup"], 1.0);
}

#[test]
fn worker_counts_above_the_cores_are_run_and_marked_oversubscribed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let output = scaling(&out, &["--workers", "3", "--runs", "1", "--backends", "serial,threads"]);
    assert!(output.status.success(), "{}", text(&output));
    let rows = csv_rows(&out);
    assert_eq!(
        rows,
        [("serial".to_string(), 1, 1, false), ("threads".to_string(), 3, 1, 3 > cores())]
    );
    let md = std::fs::read_to_string(out.join("scaling.md")).unwrap();
    assert_eq!(md.contains("oversubscribed: p > "), 3 > cores(), "{md}");
}

#[test]
fn bad_options_fail_with_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = scaling(dir.path(), &["--workers", "0", "--backends", "threads"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let output = scaling(dir.path(), &["--backends", "auto"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let empty = tempfile::tempdir().unwrap();
    let output = run(&[
        "bench",
        "scaling",
        "--export",
        &empty.path().display().to_string(),
        "--out-dir",
        &dir.path().display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("no ADMISSIONS table"), "{}", text(&output));
}

/// Whether `python3` can run the baseline here (it needs pandas and scikit-learn).
fn python_available() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "import numpy, pandas, sklearn"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn python_baseline_adds_its_rows() {
    if !python_available() {
        eprintln!("skipped: python3 with pandas and scikit-learn is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    // Run from the repository root, where tools/medlens_baseline.py is.
    let output =
        scaling(&out, &["--workers", "1", "--runs", "1", "--backends", "serial", "--python"]);
    assert!(output.status.success(), "{}", text(&output));
    let rows: Vec<(String, usize)> =
        csv_rows(&out).into_iter().map(|(b, w, _, _)| (b, w)).collect();
    let expected: Vec<(String, usize)> =
        ["serial", "python-serial", "python-threads", "python-processes"]
            .into_iter()
            .map(|b| (b.to_string(), 1))
            .collect();
    assert_eq!(rows, expected);
    let md = std::fs::read_to_string(out.join("scaling.md")).unwrap();
    assert!(md.contains("## Python baseline"), "{md}");
    assert!(md.contains("What differs"), "{md}");
}
