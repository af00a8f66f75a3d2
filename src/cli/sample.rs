//! `medimpute sample`: export tables into an hourly grid.

use super::backend::BackendArgs;
use super::report;
use clap::Args;
use medimpute::items::{parse_item_list, ItemSet};
use medimpute::sampling::profile;
use medimpute::sampling::{sample_to_file, Plan, SampleInputs, SampleOptions};
use medimpute::{Error, Result};
use std::path::PathBuf;

/// Sample an export's events into hourly bins: one `.npy` grid of bin means (NaN = no event).
///
/// Writes OUT (float32, shape items x admissions x hours, C order) and OUT.axes.json (item ids
/// and admissions), both atomically. Tables may be MIMIC-III or MIMIC-IV, .csv or .csv.gz.
#[derive(Debug, Args)]
pub struct SampleArgs {
    /// ADMISSIONS table (SUBJECT_ID, HADM_ID, DISCHTIME, HOSPITAL_EXPIRE_FLAG are used).
    #[arg(long, value_name = "FILE")]
    pub admissions: PathBuf,
    /// Events table (CHARTEVENTS, LABEVENTS); repeat for several.
    #[arg(long, value_name = "FILE", required = true)]
    pub events: Vec<PathBuf>,
    #[command(flatten)]
    pub items: ItemArgs,
    /// Hourly bins per admission, ending at DISCHTIME rounded up to the hour (720 = 30 days).
    #[arg(long, default_value_t = 720)]
    pub hours: usize,
    /// Output grid (.npy); OUT.axes.json is written beside it.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Skip malformed rows (and report how many, with the first line numbers) instead of
    /// stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Which items become rows of the grid.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct ItemArgs {
    /// Item ids, comma separated, in grid order.
    #[arg(long, value_name = "ID,ID,...")]
    pub items: Option<String>,
    /// A named item set: medlens-numerical (77 items, the default) or medlens-top5.
    #[arg(long, value_name = "NAME")]
    pub item_set: Option<ItemSet>,
}

impl ItemArgs {
    /// The selected item ids.
    pub fn resolve(&self) -> Result<Vec<u32>> {
        match (&self.items, self.item_set) {
            (Some(list), _) => {
                parse_item_list(list).map_err(|e| Error::Usage(format!("--items: {e}")))
            }
            (None, Some(set)) => Ok(set.item_ids()),
            (None, None) => Ok(ItemSet::MedlensNumerical.item_ids()),
        }
    }
}

pub fn run(args: SampleArgs) -> Result<()> {
    let inputs = SampleInputs { admissions: args.admissions, events: args.events };
    let options = SampleOptions {
        items: args.items.resolve()?,
        hours: args.hours,
        skip_bad_rows: args.skip_bad_rows,
    };
    let mut selector = args.backend.selector();
    let plan = Plan::new(&inputs, &options)?;
    // The records the profile parsed are the run's: kept, not parsed again.
    let mut head = None;
    let mut exec = selector.executor_for(None, profile::profile_into(&plan, &inputs, &mut head))?;
    let bar = report::bytes_bar("sampling");
    let result = sample_to_file(&plan, &inputs, &options, &args.out, head, &mut exec, &bar);
    bar.finish_and_clear();
    let summary = result?;
    let backend = exec.spec().to_string();
    print!("{}", report::sample_summary(&summary, Some(&args.out), &backend));
    print!("{}", selector.summary(&[("sample", summary.elapsed.as_secs_f64())]));
    Ok(())
}
