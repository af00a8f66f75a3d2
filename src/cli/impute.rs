//! `medimpute impute`: a sampled grid into a complete one.

use super::backend::BackendArgs;
use super::report;
use clap::Args;
use medimpute::impute::plan::ProfiledWork;
use medimpute::impute::profile;
use medimpute::impute::{FillEmpty, ImputeOptions, Method};
use medimpute::pipeline::{first_bin_hours, impute_file, observed_path, SourceGrid};
use medimpute::Result;
use std::path::PathBuf;

/// A count that must be at least 1 (a forest of no trees, or trained on no rows, is no forest).
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// Imputation settings shared by `impute`, `run` and `evaluate`.
#[derive(Debug, Args, Clone)]
pub struct ImputeArgs {
    /// locf, linear, rf-medlens (the MedLens study's method), rf (ours), or auto (per item, the
    /// best of locf, linear and rf on held-out observed bins).
    #[arg(long, default_value = "auto")]
    pub method: Method,
    /// Trees per forest (default: 100 for rf-medlens, 32 for rf and auto).
    #[arg(long, value_parser = at_least_one())]
    pub trees: Option<usize>,
    /// Half-width of the feature window, in hours (default: 12 for rf-medlens, as MedLens; 24 for
    /// rf and auto).
    #[arg(long)]
    pub window: Option<usize>,
    /// Random seed: the same seed gives byte-identical output, whatever the worker count.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// At most this many training rows per item (a seeded random subset beyond).
    #[arg(long, default_value_t = 20_000, value_parser = at_least_one())]
    pub max_train: usize,
    /// What bins no method reaches (series without observations) become: nan, zero (MedLens),
    /// or mean (the item's observed mean).
    #[arg(long, default_value = "mean")]
    pub fill_empty: FillEmpty,
}

impl ImputeArgs {
    pub fn options(&self) -> ImputeOptions {
        ImputeOptions {
            method: self.method,
            trees: self.trees,
            window: self.window,
            seed: self.seed,
            max_train: self.max_train,
            fill_empty: self.fill_empty,
            ..ImputeOptions::default()
        }
    }
}

/// Impute the missing bins of a sampled grid.
///
/// Writes OUT (the complete grid, same shape and format), OUT.axes.json, and
/// OUT.observed.npy (uint8: 1 = observed, 0 = imputed), all atomically.
#[derive(Debug, Args)]
pub struct ImputeCommand {
    /// Sampled grid (.npy from `medimpute sample`; its .axes.json must be beside it).
    #[arg(long, value_name = "FILE")]
    pub grid: PathBuf,
    /// Output grid (.npy).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub impute: ImputeArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: ImputeCommand) -> Result<()> {
    let source = SourceGrid::open(&args.grid)?;
    let options = args.impute.options();
    let mut selector = args.backend.selector();
    // What the profile did (under auto: items imputed, a pair table) is the run's: kept.
    let mut profiled = ProfiledWork::default();
    let mut exec = selector.executor_for(None, |pool| {
        let hours = first_bin_hours(&source.axes)?;
        let grid = &source.grid;
        let (profile, work) =
            profile::profile(grid.values(), grid.shape(), &hours, &options, None, pool)?;
        profiled = work;
        Ok(profile)
    })?;
    let spinner = report::spinner(&format!("imputing on {}", exec.spec()));
    let result = impute_file(&source, &args.out, &options, &mut exec, profiled);
    spinner.finish_and_clear();
    let (summary, elapsed) = result?;
    print!("{}", report::impute_summary(&summary, elapsed));
    print!("{}", selector.summary(&[("impute", elapsed.as_secs_f64())]));
    println!("wrote {} and {}", args.out.display(), observed_path(&args.out).display());
    Ok(())
}
