//! `medimpute run`: the main job, export to complete grid in one go.

use super::backend::{BackendArgs, Selector};
use super::impute::ImputeArgs;
use super::report;
use super::sample::ItemArgs;
use clap::Args;
use medimpute::backend::region::segment_region;
use medimpute::impute::profile as impute_profile;
use medimpute::pipeline::{first_bin_hours, impute_to_file, observed_path};
use medimpute::sampling::profile;
use medimpute::sampling::{sample_in_memory, SampleInputs, SampleOptions};
use medimpute::{Error, Result};
use std::path::{Path, PathBuf};

/// Sample an export and impute it: the main job. With no arguments, runs on the export shipped
/// in data/demo and writes out/imputed.npy.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Export directory holding ADMISSIONS and CHARTEVENTS/LABEVENTS (MIMIC-III or -IV names,
    /// .csv or .csv.gz); --admissions and --events override it.
    #[arg(long, value_name = "DIR", default_value = "data/demo")]
    pub export: PathBuf,
    /// ADMISSIONS table (default: found in --export).
    #[arg(long, value_name = "FILE")]
    pub admissions: Option<PathBuf>,
    /// Events table; repeat for several (default: CHARTEVENTS and LABEVENTS in --export).
    #[arg(long, value_name = "FILE")]
    pub events: Vec<PathBuf>,
    #[command(flatten)]
    pub items: ItemArgs,
    /// Hourly bins per admission.
    #[arg(long, default_value_t = 720)]
    pub hours: usize,
    /// Output grid (.npy); .axes.json and .observed.npy are written beside it.
    #[arg(long, value_name = "FILE", default_value = "out/imputed.npy")]
    pub out: PathBuf,
    /// Skip malformed rows instead of stopping at the first.
    #[arg(long)]
    pub skip_bad_rows: bool,
    #[command(flatten)]
    pub impute: ImputeArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// The tables of an export directory, by MIMIC-III or MIMIC-IV name.
fn find_table(dir: &Path, stem: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase());
            name.is_some_and(|n| n == format!("{stem}.csv") || n == format!("{stem}.csv.gz"))
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

impl RunArgs {
    fn inputs(&self) -> Result<SampleInputs> {
        let missing = |what: &str| {
            Error::Usage(format!(
                "no {what} table in {} (give --export DIR, or --admissions and --events)",
                self.export.display()
            ))
        };
        let admissions = match &self.admissions {
            Some(p) => p.clone(),
            None => find_table(&self.export, "admissions").ok_or_else(|| missing("ADMISSIONS"))?,
        };
        let events = if self.events.is_empty() {
            let found: Vec<PathBuf> = ["chartevents", "labevents"]
                .iter()
                .filter_map(|stem| find_table(&self.export, stem))
                .collect();
            if found.is_empty() {
                return Err(missing("CHARTEVENTS or LABEVENTS"));
            }
            found
        } else {
            self.events.clone()
        };
        Ok(SampleInputs { admissions, events })
    }
}

pub fn run(args: RunArgs) -> Result<()> {
    let inputs = args.inputs()?;
    let sample_options = SampleOptions {
        items: args.items.resolve()?,
        hours: args.hours,
        skip_bad_rows: args.skip_bad_rows,
    };
    let options = args.impute.options();
    let mut selector = Selector::new(&args.backend);
    let mut exec = selector
        .executor_for(None, |threads| profile::profile(&inputs, &sample_options, threads))?;
    let sample_backend = exec.spec().to_string();
    let bar = report::bytes_bar("sampling");
    let sampled = sample_in_memory(&inputs, &sample_options, &mut exec, &bar);
    bar.finish_and_clear();
    let (grid, axes, sampled) = sampled?;
    // The imputation is a different workload: measured and chosen for on its own.
    let mut exec = selector.executor_for(Some(exec), |threads| {
        let hours = first_bin_hours(&axes)?;
        Ok(impute_profile::profile(grid.values(), grid.shape(), &hours, &options, threads))
    })?;
    let backend = exec.spec().to_string();
    let spinner = report::spinner(&format!("imputing on {backend}"));
    let start = std::time::Instant::now();
    // A grid sampled into a shared segment is handed to the workers by name.
    let region = grid.storage().segment().map(|segment| {
        segment_region(segment.os_id(), grid.data_offset() as u64, grid.shape().data_bytes() as u64)
    });
    let imputed =
        impute_to_file(grid.values(), region, grid.shape(), &axes, &args.out, &options, &mut exec);
    spinner.finish_and_clear();
    let imputed = imputed?;
    let impute_time = start.elapsed();
    print!("{}", report::sample_summary(&sampled, None, &sample_backend));
    print!("{}", report::impute_summary(&imputed, impute_time));
    print!(
        "{}",
        selector.summary(&[
            ("sample", sampled.elapsed.as_secs_f64()),
            ("impute", impute_time.as_secs_f64())
        ])
    );
    println!(
        "total {:.2} s; wrote {}, {} and its .axes.json",
        (sampled.elapsed + impute_time).as_secs_f64(),
        args.out.display(),
        observed_path(&args.out).display()
    );
    Ok(())
}
