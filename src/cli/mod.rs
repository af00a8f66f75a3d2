//! Command-line definitions and dispatch. Each subcommand lives in its own file and only
//! translates arguments into library calls and results into a report.

mod backend;
mod bench;
mod evaluate;
mod generate;
mod impute;
mod report;
mod run;
mod sample;
mod worker;

use clap::{Parser, Subcommand};
use medimpute::cancel;

/// medimpute: raw MIMIC-III / MIMIC-IV ICU exports into complete hourly vital-sign grids.
///
/// Exit codes: 0 success, 1 internal or output error, 2 bad input or arguments, 130 interrupted.
#[derive(Debug, Parser)]
#[command(name = "medimpute", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(run::RunArgs),
    Sample(sample::SampleArgs),
    Impute(impute::ImputeCommand),
    Evaluate(evaluate::EvaluateArgs),
    Generate(generate::GenerateArgs),
    Bench(bench::BenchArgs),
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
    /// One timed job of `bench scaling` or `bench auto`, in a fresh process (internal).
    #[command(hide = true)]
    BenchJob,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    medimpute::cpu::detect();
    let cli = Cli::parse();
    if let Command::Worker(args) = cli.command {
        // Workers leave signals to their coordinator.
        return worker::run(args);
    }
    cancel::install_handler();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Sample(args) => sample::run(args),
        Command::Impute(args) => impute::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchJob => bench::run_job(),
        Command::Worker(_) => unreachable!("handled above"),
    };
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("medimpute: error: {error}");
            error.exit_code()
        }
    }
}

/// Builds the rayon pool for `--workers` (0 = all cores).
fn thread_pool(workers: usize) -> medimpute::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("medimpute-{i}"))
        .build()
        .map_err(|e| medimpute::Error::Usage(format!("cannot start {workers} threads: {e}")))
}
