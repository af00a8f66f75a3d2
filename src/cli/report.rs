//! Progress bars and closing summaries, kept out of the library so that it never prints.

use indicatif::{ProgressBar, ProgressStyle};
use medimpute::grid::Axes;
use medimpute::impute::ImputeReport;
use medimpute::sampling::SampleReport;
use medimpute::units::Seconds;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

/// A progress bar over bytes on stderr; hidden when stderr is not a terminal.
pub fn bytes_bar(label: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>10} [{bar:40.cyan/blue}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// A progress bar over a count of things.
pub fn count_bar(label: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40.cyan/blue}] {pos}/{len} (eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(label.to_string());
    bar
}

/// Thousands separators, for counts a person reads.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// The closing summary of `medimpute sample`.
pub fn sample_summary(report: &SampleReport, out: Option<&Path>, backend: &str) -> String {
    let rows = &report.rows;
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "sampled {} rows ({:.1} MB of CSV, {:.1} MB on disk) in {} on {backend}: \
         {:.0} MB/s, {:.2} M rows/s",
        count(rows.read),
        megabytes(report.csv_bytes),
        megabytes(report.disk_bytes),
        Seconds(secs),
        megabytes(report.csv_bytes) / secs,
        rows.read as f64 / secs / 1e6,
    );
    let lines = [
        ("rows used", rows.used),
        ("skipped, empty VALUENUM", rows.empty_value),
        ("skipped, item not selected", rows.item_not_selected),
        ("skipped, no admission", rows.no_admission),
        ("skipped, outside the window", rows.outside_window),
        ("skipped, malformed", rows.bad),
    ];
    for (label, n) in lines {
        let _ = writeln!(s, "  {label:<28} {:>14}", count(n));
    }
    for bad in &report.first_bad_rows {
        let _ = writeln!(s, "    {bad}");
    }
    if rows.bad > report.first_bad_rows.len() as u64 {
        let _ = writeln!(
            s,
            "    ... and {} more",
            count(rows.bad - report.first_bad_rows.len() as u64)
        );
    }
    let shape = report.shape;
    let share = 100.0 * report.bins_observed() as f64 / shape.len().max(1) as f64;
    let _ = writeln!(
        s,
        "grid: {} items x {} admissions x {} hours, {} bins observed ({share:.2}%)",
        shape.items,
        count(shape.admissions as u64),
        shape.hours,
        count(report.bins_observed()),
    );
    if let Some(home) = &report.grid_home {
        let _ = writeln!(s, "  kept {home}");
    }
    if let Some(out) = out {
        let _ = writeln!(s, "wrote {} and {}", out.display(), Axes::path_for(out).display());
    }
    s
}

/// A spinner for work without a known size.
///
/// It ticks on a thread of its own, started only where it is drawn (stderr a terminal): a
/// hidden spinner's thread would be a thread start in every scripted run, for nothing.
pub fn spinner(label: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_message(label.to_string());
    if !bar.is_hidden() {
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

/// The closing summary of imputation: bins per method, the `auto` choices, time per stage.
pub fn impute_summary(report: &ImputeReport, elapsed: Duration) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "imputed {} items in {} (prepare {}, train {}, predict and fill {})",
        report.items.len(),
        Seconds::from(elapsed),
        Seconds::from(report.prepare),
        Seconds::from(report.train),
        Seconds::from(report.predict)
    );
    let observed: u64 = report.items.iter().map(|i| i.observed).sum();
    let _ = writeln!(s, "  {:<28} {:>14}", "bins observed", count(observed));
    for (method, imputed, carried, filled) in report.per_method() {
        let _ = writeln!(s, "  {:<28} {:>14}", format!("imputed by {method}"), count(imputed));
        if carried > 0 {
            let _ =
                writeln!(s, "  {:<28} {:>14}", format!("carried along ({method})"), count(carried));
        }
        if filled > 0 {
            let _ =
                writeln!(s, "  {:<28} {:>14}", format!("filled empty ({method})"), count(filled));
        }
    }
    let chosen: Vec<String> = report
        .items
        .iter()
        .filter(|i| !i.validation.is_empty())
        .map(|i| format!("{}:{}", i.item_id, i.method.map_or("-", |m| m.name())))
        .collect();
    if !chosen.is_empty() {
        let _ = writeln!(s, "  auto chose (item:method): {}", chosen.join(" "));
    }
    s
}

/// What the worker processes did: tasks, compute against their time alive, bytes over pipes.
pub fn pool_summary(stats: &medimpute::backend::PoolStats) -> String {
    format!(
        "workers: {} processes, {} tasks, {} inside tasks of {} x {} alive \
         ({:.1}% outside compute), {:.1} MB sent and {:.1} MB received over pipes, \
         started in {}, {} replaced\n",
        stats.workers,
        stats.tasks,
        Seconds::from(stats.compute),
        Seconds::from(stats.alive),
        stats.workers,
        100.0 * stats.outside_compute(),
        stats.bytes_sent as f64 / 1e6,
        stats.bytes_received as f64 / 1e6,
        Seconds::from(stats.startup),
        stats.replaced
    )
}
