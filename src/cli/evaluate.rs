//! `medimpute evaluate`: how well each method recovers observed values hidden from it.

use super::impute::ImputeArgs;
use clap::Args;
use medimpute::grid::{Axes, Grid};
use medimpute::impute::evaluate::evaluate;
use medimpute::impute::Method;
use medimpute::pipeline::first_bin_hours;
use medimpute::units::Seconds;
use medimpute::{Error, Result};
use std::fmt::Write;
use std::path::PathBuf;

/// Hide a random share of a grid's observed bins, impute them with each method, and print per
/// item and overall RMSE, MAE and RMSE / sd, with the time each method took.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Sampled grid (.npy with its .axes.json).
    #[arg(long, value_name = "FILE")]
    pub grid: PathBuf,
    /// Share of each item's observed bins to hide.
    #[arg(long, default_value_t = 0.1)]
    pub mask_fraction: f64,
    /// Methods to score, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "locf,linear,rf-medlens,rf,auto")]
    pub methods: Vec<Method>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub impute: ImputeArgs,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
}

pub fn run(args: EvaluateArgs) -> Result<()> {
    if !(args.mask_fraction > 0.0 && args.mask_fraction < 1.0) {
        return Err(Error::Usage("--mask-fraction must be between 0 and 1".into()));
    }
    let grid = Grid::read(&args.grid)?;
    let axes = Axes::read(&Axes::path_for(&args.grid))?;
    let hours = first_bin_hours(&axes)?;
    let pool = super::thread_pool(args.workers)?;
    let scores = pool.install(|| {
        evaluate(
            grid.values(),
            grid.shape(),
            &hours,
            &axes.items,
            args.mask_fraction,
            &args.methods,
            &args.impute.options(),
        )
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&scores).expect("scores serialize"));
        return Ok(());
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>12} {:>12} {:>10}",
        "method", "RMSE/sd", "RMSE", "MAE", "time"
    );
    for s in &scores {
        let _ = writeln!(
            out,
            "{:<12} {:>12.4} {:>12.4} {:>12.4} {:>10}",
            s.method.name(),
            s.mean_rmse_over_sd,
            s.mean_rmse,
            s.mean_mae,
            Seconds::from(s.elapsed)
        );
    }
    let _ = writeln!(out, "\nper item, RMSE/sd:");
    let _ = write!(out, "{:>8} {:>7}", "item", "hidden");
    for s in &scores {
        let _ = write!(out, " {:>11}", s.method.name());
    }
    out.push('\n');
    for (k, item) in scores[0].items.iter().enumerate() {
        let _ = write!(out, "{:>8} {:>7}", item.item_id, item.hidden);
        for s in &scores {
            let _ = write!(out, " {:>11.4}", s.items[k].rmse_over_sd);
        }
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
