//! `medimpute bench`: measurements to run on your own machine.

use super::impute::ImputeArgs;
use super::sample::ItemArgs;
use clap::{Args, Subcommand};
use medimpute::backend::BackendKind;
use medimpute::bench::{auto, ipc, scaling};
use medimpute::Result;
use std::path::PathBuf;

/// Benchmarks: IPC transports, the study's scaling table, and how good `--backend auto` is.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    Ipc(IpcArgs),
    Scaling(ScalingArgs),
    Auto(AutoArgs),
}

/// Pipe against shared memory for moving a task's data to a worker process, with a memcpy of
/// the same bytes as the physical reference.
#[derive(Debug, Args)]
pub struct IpcArgs {
    /// Payload sizes (bytes; K, M, G suffixes allowed).
    #[arg(long, value_delimiter = ',', default_value = "4K,64K,1M,16M,256M")]
    pub sizes: Vec<String>,
    /// Transfers per size and transport; the median is reported.
    #[arg(long, default_value_t = 10)]
    pub repeats: usize,
    /// Also write ipc.md and ipc.json here.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The study's Table 1: T_p mean, sigma, median, S_p, E_p per backend and worker count, on
/// the `run` job over an export; Markdown, CSV, JSON and the speedup figure (SVG, PNG).
#[derive(Debug, Args)]
pub struct ScalingArgs {
    /// Export directory.
    #[arg(long, value_name = "DIR", default_value = "data/demo")]
    pub export: PathBuf,
    /// Worker counts; counts above this machine's cores are run and marked oversubscribed.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,6")]
    pub workers: Vec<usize>,
    /// Timed runs per backend and worker count.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Backends to measure.
    #[arg(long, value_delimiter = ',', default_value = "serial,threads,pipe,shm")]
    pub backends: Vec<BackendKind>,
    /// Add the Python baseline (thread pool and process pool) on the same export.
    #[arg(long)]
    pub python: bool,
    /// Where the tables and figures go.
    #[arg(long, value_name = "DIR", default_value = "bench-results")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub items: ItemArgs,
    /// Hourly bins per admission.
    #[arg(long, default_value_t = 720)]
    pub hours: usize,
    #[command(flatten)]
    pub impute: ImputeArgs,
}

/// How good `--backend auto` is: over a set of generated workloads (export sizes, items,
/// methods, trees, hours), every candidate backend and `auto` (its profiling included) run the
/// whole `run` job; reports how often auto is within 10% of the best candidate and what its
/// profiling costs (auto.md, auto.json).
#[derive(Debug, Args)]
pub struct AutoArgs {
    /// A small set of two tiny workloads (a minute at most), instead of the full set (about
    /// ten minutes on 2 cores).
    #[arg(long)]
    pub quick: bool,
    /// Timed runs per configuration (interleaved); medians are compared.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    pub runs: usize,
    /// Short jobs run more rounds than --runs, until their runs add up to about this many
    /// seconds (at most 100 rounds), as hyperfine does (its default is 3 s too): the median of
    /// a few runs of a 3-50 ms job is noise on a busy machine. 0 runs exactly --runs.
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0)]
    pub min_time: f64,
    /// The most workers auto considers, and so the candidates (default: this machine's cores).
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub target_cores: Option<usize>,
    /// Where auto.md and auto.json go (the generated exports live in a scratch folder there
    /// while the benchmark runs).
    #[arg(long, value_name = "DIR", default_value = "bench-results")]
    pub out_dir: PathBuf,
}

/// A count that must be at least 1.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// The command line as typed, for a report's header.
fn command_line() -> String {
    std::iter::once("medimpute".to_string())
        .chain(std::env::args().skip(1))
        .map(|a| scaling::shell_word(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses "4K", "16M", "1G" or plain bytes.
fn parse_size(text: &str) -> Result<usize> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => t.split_at(at),
        None => (t, ""),
    };
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return Err(medimpute::Error::Usage(format!("--sizes: bad unit in '{text}'"))),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| medimpute::Error::Usage(format!("--sizes: '{text}' is not a size")))
}

pub fn run(args: BenchArgs) -> Result<()> {
    let report = match args.command {
        BenchCommand::Ipc(args) => ipc::run(&ipc::IpcOptions {
            sizes: args.sizes.iter().map(|s| parse_size(s)).collect::<Result<_>>()?,
            repeats: args.repeats.max(1),
            out_dir: args.out_dir,
        })?,
        BenchCommand::Scaling(args) => scaling::run(&scaling::ScalingOptions {
            export: args.export,
            workers: args.workers,
            runs: args.runs.max(1),
            backends: args.backends,
            python: args.python,
            out_dir: args.out_dir,
            items: args.items.resolve()?,
            hours: args.hours,
            impute: args.impute.options(),
            command_line: command_line(),
        })?,
        BenchCommand::Auto(args) => auto::run(&auto::AutoOptions {
            quick: args.quick,
            runs: args.runs,
            min_time: args.min_time,
            target_cores: args.target_cores,
            out_dir: args.out_dir,
            command_line: command_line(),
        })?,
    };
    print!("{report}");
    Ok(())
}

/// `medimpute bench-job`: the request on stdin, the answer on stdout.
pub fn run_job() -> Result<()> {
    use std::io::Read;
    let mut request = Vec::new();
    std::io::stdin()
        .read_to_end(&mut request)
        .map_err(|e| medimpute::Error::Usage(format!("bench-job: cannot read stdin: {e}")))?;
    println!("{}", medimpute::bench::fresh::serve(&request)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("100").unwrap(), 100);
        assert!(parse_size("3X").is_err());
        assert!(parse_size("M").is_err());
    }
}
