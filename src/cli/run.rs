//! `medimpute run`: the main job, export to complete grid in one go.

use super::backend::BackendArgs;
use super::impute::ImputeArgs;
use super::report;
use super::sample::ItemArgs;
use clap::Args;
use medimpute::grid::SampledGridHome;
use medimpute::impute::plan::ProfiledWork;
use medimpute::impute::profile as impute_profile;
use medimpute::pipeline::{find_event_tables, find_table, first_bin_hours, observed_path, run_job};
use medimpute::sampling::profile;
use medimpute::sampling::{Plan, SampleInputs, SampleOptions};
use medimpute::units::Seconds;
use medimpute::{Error, Result};
use std::path::PathBuf;

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
    /// Where the sampled grid waits for the imputation: memory (fastest), disk (a scratch
    /// file beside --out that the kernel pages out: grids larger than RAM), or auto: memory
    /// when the grid takes at most half the memory this process may fill (the machine's
    /// available memory, its cgroup's limit, ulimit -d), else disk.
    #[arg(long, value_name = "WHERE", default_value = "auto")]
    pub sampled_grid: SampledGridHome,
    #[command(flatten)]
    pub impute: ImputeArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
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
            let found = find_event_tables(&self.export);
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
    let mut selector = args.backend.selector();
    let plan = Plan::new(&inputs, &sample_options)?;
    // The records the sampling profile parsed are the run's: kept, not parsed again.
    let mut head = None;
    let mut exec = selector.executor_for(None, profile::profile_into(&plan, &inputs, &mut head))?;
    let sample_backend = exec.spec().to_string();
    let bar = report::bytes_bar("sampling");
    let job = run_job(
        &plan,
        &inputs,
        &sample_options,
        head,
        &options,
        &args.out,
        args.sampled_grid,
        &mut exec,
        &bar,
        |exec| report::spinner(&format!("imputing on {}", exec.spec())),
        |values, shape, axes, observed, exec| {
            // The imputation is a different workload: measured and chosen for on its own.
            let hours = first_bin_hours(axes)?;
            // What the profile did (items imputed, a pair table) is the run's: kept.
            let mut profiled = ProfiledWork::default();
            selector.switch(exec, |pool| {
                let (profile, work) =
                    impute_profile::profile(values, shape, &hours, &options, Some(observed), pool)?;
                profiled = work;
                Ok(profile)
            })?;
            Ok(profiled)
        },
    )?;
    let (sampled, imputed, impute_time) = (job.sample, job.impute, job.impute_time);
    print!("{}", report::sample_summary(&sampled, None, &sample_backend));
    print!("{}", report::impute_summary(&imputed, impute_time));
    if let Some((pool, _)) = exec.processes() {
        print!("{}", report::pool_summary(&pool.stats()));
    }
    print!(
        "{}",
        selector.summary(&[
            ("sample", sampled.elapsed.as_secs_f64()),
            ("impute", impute_time.as_secs_f64())
        ])
    );
    println!(
        "total {}; wrote {}, {} and its .axes.json",
        Seconds::from(sampled.elapsed + impute_time),
        args.out.display(),
        observed_path(&args.out).display()
    );
    Ok(())
}
