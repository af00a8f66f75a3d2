//! `medimpute generate`: a realistic synthetic MIMIC export.

use super::report;
use clap::Args;
use medimpute::generate::{generate_with_progress, ExportFormat, GenerateConfig};
use medimpute::{Error, Result};
use std::path::PathBuf;

/// Write a realistic synthetic MIMIC export (ADMISSIONS, CHARTEVENTS, LABEVENTS).
///
/// Real MIMIC item ids (CareVue and MetaVision), correlated vitals with circadian rhythm,
/// irregular charting with MIMIC's missing rates, text values, events after discharge and rows
/// in shuffled order. The same seed always writes the same bytes.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of subjects (patients); each has one to a few admissions.
    #[arg(long)]
    pub subjects: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Table layout: mimic3 (upper-case quoted headers) or mimic4 (lower-case).
    #[arg(long, default_value = "mimic3")]
    pub format: ExportFormat,
    /// Compress each table with gzip (.csv.gz).
    #[arg(long)]
    pub gz: bool,
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.subjects == 0 {
        return Err(Error::Usage("--subjects must be at least 1".into()));
    }
    let config = GenerateConfig {
        subjects: args.subjects,
        seed: args.seed,
        format: args.format,
        gzip: args.gz,
    };
    let bar = report::count_bar("subjects", args.subjects as u64);
    let result = generate_with_progress(&config, &args.out, &|done| bar.set_position(done as u64));
    bar.finish_and_clear();
    let summary = result.map_err(|e| match e.kind() {
        // The generator's own refusal of its arguments (too many subjects), not a disk error.
        std::io::ErrorKind::InvalidInput => Error::Usage(e.to_string()),
        _ => Error::output(&args.out, e),
    })?;
    println!(
        "generated {} subjects, {} admissions, {} chart rows, {} lab rows ({:.1} MB) in {}",
        report::count(summary.subjects as u64),
        report::count(summary.admissions as u64),
        report::count(summary.chart_rows),
        report::count(summary.lab_rows),
        summary.bytes_written as f64 / 1e6,
        args.out.display()
    );
    Ok(())
}
