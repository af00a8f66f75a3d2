//! The scaling study's "Table 1": per backend and worker count, the mean,
//! spread and median of repeated wall-clock runs, plus speedup and efficiency.
//!
//! The study reported `T_p` (mean), `sigma` (sample standard deviation),
//! the median, `S_p = T_1 / T_p` and `E_p = S_p / p`. This module turns raw
//! [`Measurement`]s into [`Row`]s with exactly those numbers and writes them as
//! Markdown (for the report), CSV (for spreadsheets) and JSON (which also keeps
//! the raw runs, so any statistic can be recomputed later).
//!
//! Statistics of a measurement with no runs are `NaN` rather than a panic: a
//! crashed or skipped configuration must not take the whole report down. `NaN`
//! is written as `n/a` in Markdown, `NaN` in CSV and `null` in JSON.

use serde::{Deserialize, Serialize};

/// The timed runs of one backend at one worker count, as collected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    /// Execution backend, e.g. `serial`, `threads`, `pipe`, `shm`,
    /// `python-threads`, `python-processes`.
    pub backend: String,
    /// `"rust"` or `"python"`; speedups are only computed within a family,
    /// because the Python baselines have their own single-worker time.
    pub family: String,
    /// Worker count `p`.
    pub workers: usize,
    /// Wall-clock seconds of each repetition, in the order they ran.
    pub runs_s: Vec<f64>,
    /// Set by the collector when `p` exceeds the machine's cores, so the
    /// reader does not mistake a scheduling artefact for a scaling limit.
    pub oversubscribed: bool,
}

/// One line of the table. Field order is the CSV column order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub backend: String,
    pub family: String,
    /// Worker count `p`.
    pub workers: usize,
    /// Number of timed runs behind the statistics.
    pub runs: usize,
    /// `T_p`: arithmetic mean of the runs, seconds.
    pub mean_s: f64,
    /// Sample standard deviation (divisor `n - 1`), seconds; `0` for a single
    /// run, since one run carries no information about spread.
    pub sigma_s: f64,
    /// Median of the runs, seconds; robust to one slow outlier run.
    pub median_s: f64,
    /// `S_p = T_1 / T_p`.
    pub speedup: f64,
    /// `E_p = S_p / p`.
    pub efficiency: f64,
    pub oversubscribed: bool,
    /// Which measurement supplied `T_1`, e.g. `"serial p=1"`, so a reader can
    /// tell a true serial baseline from a fallback (see [`table`]).
    pub baseline: String,
}

/// CSV header, in [`Row`] field order. Written explicitly so an empty table
/// still has a header (the `csv` crate only derives one from the first record).
const CSV_HEADER: [&str; 11] = [
    "backend",
    "family",
    "workers",
    "runs",
    "mean_s",
    "sigma_s",
    "median_s",
    "speedup",
    "efficiency",
    "oversubscribed",
    "baseline",
];

/// Mean, sample standard deviation and median of `runs`.
///
/// Empty input gives `NaN` for all three (there is nothing to summarise, and
/// `NaN` propagates visibly into speedup/efficiency instead of a fake zero).
/// One run gives a standard deviation of `0`.
pub fn summary(runs: &[f64]) -> (f64, f64, f64) {
    let n = runs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = runs.iter().sum::<f64>() / n as f64;
    let sigma = if n == 1 {
        0.0
    } else {
        let ss: f64 = runs.iter().map(|x| (x - mean) * (x - mean)).sum();
        (ss / (n - 1) as f64).sqrt()
    };
    let mut sorted = runs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    (mean, sigma, median)
}

/// Whether `backend` is a family's serial reference: `serial` itself, or
/// `<prefix>-serial` (e.g. `python-serial`), so new families need no code change.
fn is_serial_backend(backend: &str) -> bool {
    backend == "serial" || backend.ends_with("-serial")
}

/// Picks `T_1` for measurement `i`, returning `(T_1, label)`.
///
/// Order of preference:
/// 1. the family's serial backend at `p = 1` (what the study used);
/// 2. the backend's own `p = 1` mean (no serial run in this family);
/// 3. the backend's smallest measured `p`, mean times `p` — this assumes
///    perfect scaling up to that `p`, so speedups are an upper bound and `E_p`
///    is relative to that smallest `p`; the label says so.
///
/// Measurements with no runs (NaN mean) are never used as a baseline.
/// Returns `(NaN, "none")` when nothing usable exists.
fn baseline_for(i: usize, ms: &[Measurement], means: &[f64]) -> (f64, String) {
    let me = &ms[i];
    let usable = |j: usize| means[j].is_finite();

    let family_serial = (0..ms.len()).find(|&j| {
        usable(j)
            && ms[j].family == me.family
            && ms[j].workers == 1
            && is_serial_backend(&ms[j].backend)
    });
    if let Some(j) = family_serial {
        return (means[j], format!("{} p=1", ms[j].backend));
    }

    let same_backend =
        |j: usize| usable(j) && ms[j].family == me.family && ms[j].backend == me.backend;
    if let Some(j) = (0..ms.len()).find(|&j| same_backend(j) && ms[j].workers == 1) {
        return (means[j], format!("{} p=1", ms[j].backend));
    }

    let smallest = (0..ms.len())
        .filter(|&j| same_backend(j) && ms[j].workers >= 1)
        .min_by_key(|&j| ms[j].workers);
    if let Some(j) = smallest {
        let p = ms[j].workers;
        return (means[j] * p as f64, format!("{} p={p} x {p} (extrapolated)", ms[j].backend));
    }

    (f64::NAN, "none".to_string())
}

/// Builds the table, one [`Row`] per measurement, in input order (the
/// collector's order is the order the reader expects).
///
/// `T_1` is, in order of preference: the family's serial backend (`serial` or
/// `*-serial`) at `p = 1`; the backend's own `p = 1`; its smallest `p` mean
/// times `p` (an optimistic extrapolation). Each row's `baseline` says which.
/// Empty `runs_s` yield NaN statistics, speedup and efficiency; `p = 0` yields
/// NaN efficiency.
pub fn table(measurements: &[Measurement]) -> Vec<Row> {
    let stats: Vec<(f64, f64, f64)> = measurements.iter().map(|m| summary(&m.runs_s)).collect();
    let means: Vec<f64> = stats.iter().map(|s| s.0).collect();
    measurements
        .iter()
        .zip(&stats)
        .enumerate()
        .map(|(i, (m, &(mean_s, sigma_s, median_s)))| {
            let (t1, baseline) = baseline_for(i, measurements, &means);
            let speedup = t1 / mean_s;
            let efficiency = if m.workers == 0 { f64::NAN } else { speedup / m.workers as f64 };
            Row {
                backend: m.backend.clone(),
                family: m.family.clone(),
                workers: m.workers,
                runs: m.runs_s.len(),
                mean_s,
                sigma_s,
                median_s,
                speedup,
                efficiency,
                oversubscribed: m.oversubscribed,
                baseline,
            }
        })
        .collect()
}

/// Formats a number for the Markdown table; NaN/inf become `n/a` so a
/// missing configuration reads as missing, not as a number.
fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "n/a".to_string()
    }
}

/// Escapes text for a Markdown table cell (a raw `|` would split the cell).
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders the table as GitHub-flavoured Markdown under a `## title` heading
/// (omitted when `title` is empty).
///
/// `cores` is the machine's core count, quoted in the note of rows flagged
/// oversubscribed. The note also names the `T_1` source when it is not a
/// serial backend, because such speedups are not comparable with the others.
pub fn to_markdown(rows: &[Row], title: &str, cores: usize) -> String {
    let mut out = String::new();
    if !title.is_empty() {
        out.push_str(&format!("## {title}\n\n"));
    }
    out.push_str(
        "| backend | p | runs | T_p mean (s) | sigma (s) | median (s) | S_p | E_p | note |\n",
    );
    out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|---|\n");
    for r in rows {
        let mut notes = Vec::new();
        if r.oversubscribed {
            notes.push(format!("oversubscribed: p > {cores} cores"));
        }
        let serial_baseline = r.baseline.split_whitespace().next().is_some_and(is_serial_backend);
        if !serial_baseline {
            notes.push(format!("T_1 from {}", r.baseline));
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&r.backend),
            r.workers,
            r.runs,
            num(r.mean_s, 4),
            num(r.sigma_s, 4),
            num(r.median_s, 4),
            num(r.speedup, 2),
            num(r.efficiency, 2),
            cell(&notes.join("; ")),
        ));
    }
    out
}

/// Renders every [`Row`] field as CSV with a header row (also when empty).
/// Non-finite numbers are written as `NaN`/`inf`, which the `csv` crate and
/// most tools parse back as floats.
pub fn to_csv(rows: &[Row]) -> String {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    // Writing into a Vec<u8> cannot fail with I/O errors, and Row has only
    // scalar/string fields, so serialisation cannot fail either.
    w.write_record(CSV_HEADER).expect("CSV header into memory");
    for r in rows {
        w.serialize(r).expect("CSV row into memory");
    }
    let bytes = w.into_inner().expect("flush CSV into memory");
    String::from_utf8(bytes).expect("CSV from UTF-8 strings is UTF-8")
}

/// Pretty JSON `{"rows": [...], "measurements": [...]}`. The raw runs are kept
/// so other statistics can be recomputed without rerunning the benchmark.
/// Non-finite numbers become `null` (JSON has no NaN).
pub fn to_json(rows: &[Row], measurements: &[Measurement]) -> String {
    #[derive(Serialize)]
    struct Report<'a> {
        rows: &'a [Row],
        measurements: &'a [Measurement],
    }
    serde_json::to_string_pretty(&Report { rows, measurements })
        .expect("structs with string keys always serialise to JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(backend: &str, family: &str, workers: usize, runs: &[f64]) -> Measurement {
        Measurement {
            backend: backend.into(),
            family: family.into(),
            workers,
            runs_s: runs.to_vec(),
            oversubscribed: false,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn summary_matches_hand_computed_values() {
        let (mean, sd, med) = summary(&[1.0, 2.0, 3.0, 4.0]);
        assert!(close(mean, 2.5));
        // sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3)
        assert!(close(sd, 1.2910), "sd {sd}");
        assert!(close(med, 2.5));

        let (mean, sd, med) = summary(&[5.0, 1.0, 3.0]);
        assert!(close(mean, 3.0));
        assert!(close(sd, 2.0));
        assert!(close(med, 3.0), "median must sort first");

        assert_eq!(summary(&[7.0]), (7.0, 0.0, 7.0));
    }

    #[test]
    fn empty_runs_give_nan_not_panic() {
        let (a, b, c) = summary(&[]);
        assert!(a.is_nan() && b.is_nan() && c.is_nan());

        let rows = table(&[m("serial", "rust", 1, &[]), m("threads", "rust", 2, &[1.0])]);
        assert_eq!(rows[0].runs, 0);
        assert!(rows[0].mean_s.is_nan() && rows[0].speedup.is_nan());
        // The empty serial row is not usable; threads falls back to extrapolation.
        assert_eq!(rows[1].baseline, "threads p=2 x 2 (extrapolated)");
        assert!(close(rows[1].speedup, 2.0));
        // Writers must cope with NaN too.
        let md = to_markdown(&rows, "t", 4);
        assert!(md.contains("n/a"));
        let json = to_json(&rows, &[]);
        assert!(json.contains("null"));
    }

    #[test]
    fn speedup_and_efficiency_use_family_serial_baseline() {
        let ms = vec![
            m("serial", "rust", 1, &[8.0, 8.0]),
            m("threads", "rust", 1, &[10.0]),
            m("threads", "rust", 4, &[2.0, 2.0]),
            m("shm", "rust", 8, &[1.0, 2.0, 1.5]),
            m("python-serial", "python", 1, &[40.0]),
            m("python-processes", "python", 4, &[20.0]),
        ];
        let rows = table(&ms);
        assert_eq!(rows.len(), ms.len());
        let names: Vec<&str> = rows.iter().map(|r| r.backend.as_str()).collect();
        assert_eq!(
            names,
            ["serial", "threads", "threads", "shm", "python-serial", "python-processes"]
        );

        assert!(close(rows[0].speedup, 1.0) && close(rows[0].efficiency, 1.0));
        // threads p=1 is measured, but the family serial run is T_1.
        assert_eq!(rows[1].baseline, "serial p=1");
        assert!(close(rows[1].speedup, 0.8));
        assert!(close(rows[2].speedup, 4.0) && close(rows[2].efficiency, 1.0));
        assert!(close(rows[3].speedup, 8.0 / 1.5) && close(rows[3].efficiency, 8.0 / 1.5 / 8.0));
        // Python is compared with Python, not with Rust serial.
        assert_eq!(rows[5].baseline, "python-serial p=1");
        assert!(close(rows[5].speedup, 2.0) && close(rows[5].efficiency, 0.5));
    }

    #[test]
    fn fallback_baselines_are_labelled() {
        let ms = vec![
            m("pipe", "rust", 1, &[6.0]),
            m("pipe", "rust", 3, &[2.0]),
            m("python-threads", "python", 2, &[5.0]),
            m("python-threads", "python", 4, &[4.0]),
        ];
        let rows = table(&ms);
        assert_eq!(rows[1].baseline, "pipe p=1");
        assert!(close(rows[1].speedup, 3.0) && close(rows[1].efficiency, 1.0));
        assert_eq!(rows[3].baseline, "python-threads p=2 x 2 (extrapolated)");
        assert!(close(rows[3].speedup, 2.5) && close(rows[3].efficiency, 0.625));
        let md = to_markdown(&rows, "", 4);
        assert!(md.contains("T_1 from python-threads p=2 x 2 (extrapolated)"));
        assert!(!md.starts_with("##"));
    }

    #[test]
    fn markdown_has_columns_and_oversubscribed_note() {
        let mut over = m("threads", "rust", 32, &[1.0]);
        over.oversubscribed = true;
        let rows = table(&[m("serial", "rust", 1, &[16.0]), over]);
        let md = to_markdown(&rows, "Table 1", 16);
        assert!(md.starts_with("## Table 1\n"));
        assert!(md.contains(
            "| backend | p | runs | T_p mean (s) | sigma (s) | median (s) | S_p | E_p | note |"
        ));
        let lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
        assert_eq!(lines.len(), 4, "header, rule, two rows");
        assert!(!lines[2].contains("oversubscribed"));
        assert!(lines[3].contains("oversubscribed: p > 16 cores"));
        assert!(lines[3].contains("| 16.00 | 0.50 |"));
    }

    #[test]
    fn csv_round_trips_every_row() {
        let rows = table(&[
            m("serial", "rust", 1, &[2.0, 2.2]),
            m("threads", "rust", 2, &[1.1, 1.0, 1.2]),
            m("shm", "rust", 4, &[]),
        ]);
        let text = to_csv(&rows);
        let mut rd = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rd.headers().unwrap().iter().collect::<Vec<_>>(), CSV_HEADER);
        let back: Vec<Row> = rd.deserialize().collect::<Result<_, _>>().unwrap();
        assert_eq!(back.len(), rows.len());
        assert_eq!(back[1], rows[1]);
        assert!(back[2].mean_s.is_nan());
    }

    #[test]
    fn csv_header_matches_row_fields() {
        // Guards CSV_HEADER against drifting from the struct definition.
        let mut w = csv::Writer::from_writer(Vec::new());
        w.serialize(&table(&[m("serial", "rust", 1, &[1.0])])[0]).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), CSV_HEADER.join(","));
        // An empty table still gets the header.
        assert_eq!(to_csv(&[]).trim_end(), CSV_HEADER.join(","));
    }

    #[test]
    fn json_keeps_rows_and_raw_runs() {
        let ms = vec![m("serial", "rust", 1, &[1.5, 2.5])];
        let rows = table(&ms);
        let v: serde_json::Value = serde_json::from_str(&to_json(&rows, &ms)).unwrap();
        assert_eq!(v["rows"][0]["mean_s"], 2.0);
        assert_eq!(v["rows"][0]["baseline"], "serial p=1");
        assert_eq!(v["measurements"][0]["runs_s"], serde_json::json!([1.5, 2.5]));
        let back: Vec<Measurement> = serde_json::from_value(v["measurements"].clone()).unwrap();
        assert_eq!(back[0].runs_s, ms[0].runs_s);
    }
}
