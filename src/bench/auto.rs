//! How good `--backend auto` is: over a set of workloads, every candidate the selector weighs
//! and `auto` itself are run as whole `run` jobs, and auto's time is set against the best
//! candidate's.
//!
//! Method:
//! - the workloads vary the export (generated here, fixed seed, a few sizes, one gzipped), the
//!   items, the method, the trees and the hours: tiny jobs where starting processes must lose,
//!   sampling-heavy and forest-heavy ones;
//! - every run is a fresh process ([`fresh`](super::fresh)), as a user's `medimpute run` is;
//! - a candidate's run starts its backend (worker processes included), samples, imputes, writes
//!   the grid and stops the backend; `auto`'s run does the same as `medimpute run --backend
//!   auto`: its profiling of both stages and its transport measurements count in its time
//!   (and so does the work its profiles do for the job: the sampling profile parses the head
//!   of a table and the imputation's imputes a few items, which the run keeps);
//! - one untimed warm-up run per workload, then at least `runs` rounds, interleaved (round `r`
//!   of every configuration before round `r + 1` of any), each round in its own shuffled
//!   [order](super::order), so that no configuration always follows the same one (in a fixed
//!   order, rotated or not, `auto` ran right after `shm x2` in 6 of 7 rounds, and `threads x2`
//!   after `serial`);
//! - a short job gets more rounds, until the warm-up's time times the rounds reaches
//!   `min_time` (at most [`MAX_ROUNDS`]), as hyperfine runs a command until its runs add up to
//!   3 s: on this project's VM a 3-50 ms job's runs spread by 10-50%, and the median of five of
//!   them moved a workload across the 10% line from one benchmark to the next;
//! - medians are compared;
//! - every run's grid must be byte-identical to the workload's first, or the benchmark fails;
//! - `auto` is within 10% when its median is at most 1.1 times the best candidate's median; its
//!   profiling share is its median profiling time (less the work the run keeps, counted at
//!   the run's parallelism) over its median job time; beside the ratio of medians, the report
//!   gives the paired ratio (auto over the best candidate round by round, the median over
//!   the rounds), which a slow spell of the machine covering a round does not move, but the
//!   targets are judged on the medians. Targets: within 10%
//!   on at least 90% of the workloads, profiling at most 5% of the job. Missed targets are
//!   reported, not turned into an error.

use super::fresh::{self, BenchJob};
use super::order;
use super::scaling::{progress_bar, remove_grid, Reference};
use crate::backend::select::{candidates, Selector, SelectorOptions};
use crate::backend::{available_cores, BackendKind, BackendSpec};
use crate::cancel;
use crate::error::{Error, Result};
use crate::generate::{generate, ExportFormat, GenerateConfig};
use crate::grid::SampledGridHome;
use crate::impute::plan::{self, ProfiledWork};
use crate::impute::profile as impute_profile;
use crate::impute::{ImputeOptions, Method};
use crate::items::ItemSet;
use crate::pipeline::{self, first_bin_hours};
use crate::sampling::profile as sample_profile;
use crate::sampling::{Plan, SampleOptions};
use indicatif::ProgressBar;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug)]
pub struct AutoOptions {
    /// The small set (a few seconds), for tests and a first look.
    pub quick: bool,
    /// Timed rounds per workload, at least.
    pub runs: usize,
    /// Seconds a workload's rounds should add up to (of the warm-up's time each): short jobs
    /// get more rounds than `runs`, up to [`MAX_ROUNDS`].
    pub min_time: f64,
    /// The most workers `auto` considers, and so the candidates (default: this machine's cores).
    pub target_cores: Option<usize>,
    pub out_dir: PathBuf,
    /// The command line as typed, quoted in the report's header.
    pub command_line: String,
}

/// A generated export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Export {
    pub subjects: usize,
    pub gzip: bool,
}

impl Export {
    fn dir_name(self) -> String {
        format!("export-{}{}", self.subjects, if self.gzip { "-gz" } else { "" })
    }

    fn label(self) -> String {
        format!("{}{}", self.subjects, if self.gzip { " gz" } else { "" })
    }
}

/// One `run` job.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    pub export: Export,
    pub items: ItemSet,
    pub method: Method,
    /// Trees per forest (forest methods only).
    pub trees: Option<usize>,
    pub hours: usize,
}

impl Workload {
    const fn new(
        subjects: usize,
        gzip: bool,
        items: ItemSet,
        method: Method,
        trees: Option<usize>,
        hours: usize,
    ) -> Self {
        Workload { export: Export { subjects, gzip }, items, method, trees, hours }
    }

    /// "150 gz, top5, rf-medlens t100, 720 h".
    pub fn label(&self) -> String {
        let items = match self.items {
            ItemSet::MedlensTop5 => "top5",
            ItemSet::MedlensNumerical => "numerical",
        };
        let trees = match self.trees {
            Some(t) if self.method.uses_forest() => format!(" t{t}"),
            None if self.method.uses_forest() => {
                format!(" t{}", plan::default_trees(self.method))
            }
            _ => String::new(),
        };
        format!("{}, {items}, {}{trees}, {} h", self.export.label(), self.method, self.hours)
    }

    fn impute_options(&self) -> ImputeOptions {
        ImputeOptions { method: self.method, trees: self.trees, ..ImputeOptions::default() }
    }
}

/// The default set: tiny jobs (processes must lose), sampling-heavy ones, forest-heavy ones.
/// About 7 minutes on 2 cores with 3 rounds.
pub fn default_workloads() -> Vec<Workload> {
    use ItemSet::{MedlensNumerical as Num, MedlensTop5 as Top5};
    use Method::*;
    vec![
        Workload::new(30, false, Top5, Locf, None, 168),
        Workload::new(30, false, Num, Linear, None, 720),
        Workload::new(30, false, Num, RfMedlens, Some(8), 168),
        Workload::new(150, false, Num, Locf, None, 720),
        Workload::new(150, true, Num, Linear, None, 720),
        Workload::new(150, false, Top5, Rf, Some(32), 720),
        Workload::new(150, false, Num, Rf, Some(100), 168),
        Workload::new(150, false, Num, Auto, Some(8), 720),
        Workload::new(400, false, Num, Linear, None, 720),
        Workload::new(400, false, Top5, RfMedlens, Some(100), 720),
        Workload::new(400, false, Num, RfMedlens, Some(8), 720),
        Workload::new(400, false, Num, Rf, Some(32), 168),
    ]
}

/// `--quick`: two tiny jobs, one a forest's.
pub fn quick_workloads() -> Vec<Workload> {
    use ItemSet::MedlensTop5 as Top5;
    vec![
        Workload::new(30, false, Top5, Method::Locf, None, 168),
        Workload::new(30, false, Top5, Method::RfMedlens, Some(8), 168),
    ]
}

/// The most rounds a workload gets for `min_time`.
pub const MAX_ROUNDS: usize = 100;

/// Rounds for a workload whose warm-up took `warm_up` seconds: at least `runs`, and enough for
/// `min_time` seconds, up to [`MAX_ROUNDS`] (or `runs`, if more).
fn rounds_for(runs: usize, min_time: f64, warm_up: f64) -> usize {
    let wanted = (min_time / warm_up.max(1e-6)).ceil();
    if wanted.is_finite() && wanted > runs as f64 {
        (wanted as usize).min(MAX_ROUNDS.max(runs))
    } else {
        runs
    }
}

/// The generator's seed for every export.
const SEED: u64 = 7;

/// `auto` is within this factor of the best candidate...
const WITHIN: f64 = 1.10;
/// ...on at least this share of the workloads,
const TARGET_WITHIN_SHARE: f64 = 0.90;
/// and profiles for at most this share of its job.
const TARGET_PROFILING_SHARE: f64 = 0.05;

/// One stage's decision in one `auto` run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct StageChoice {
    stage: String,
    spec: BackendSpec,
    predicted: f64,
    #[serde(deserialize_with = "nan_for_null")]
    took: f64,
    /// Seconds of its profile spent on work the run kept.
    kept: f64,
    /// The model's prediction for every candidate (the first run's only are reported); NaN
    /// for those ruled out.
    #[serde(deserialize_with = "nan_for_null_each")]
    predictions: Vec<(BackendSpec, f64)>,
}

/// JSON has no NaN: `serde_json` writes it as `null`, read back here as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan_for_null_each<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<(BackendSpec, f64)>, D::Error> {
    let each: Vec<(BackendSpec, Option<f64>)> = serde::Deserialize::deserialize(d)?;
    Ok(each.into_iter().map(|(spec, t)| (spec, t.unwrap_or(f64::NAN))).collect())
}

/// One timed `auto` run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AutoRun {
    seconds: f64,
    /// Profiling the stages plus measuring the transports (each measurement once).
    profiling: f64,
    /// Its parts: profiling each stage (stage, seconds), and measuring the transports (the
    /// rest of the selector's time).
    stage_profiling: Vec<(String, f64)>,
    transports: f64,
    /// Starting the backends the stages ran on, in the job ([`Selector::starting`]): not
    /// profiling, since every candidate starts its own, but auto's first profile waits for
    /// every thread of its pool to run before it first times work on them
    /// (`ProfilePool::running`), where a candidate's job starts on whichever thread comes up
    /// first.
    starting: f64,
    choices: Vec<StageChoice>,
}

impl AutoRun {
    /// "threads x2 / serial": the backend of each stage.
    fn chosen(&self) -> String {
        self.choices.iter().map(|c| c.spec.to_string()).collect::<Vec<_>>().join(" / ")
    }
}

/// What one workload measured.
struct Outcome {
    workload: Workload,
    /// Timed rounds (every candidate and auto ran once per round).
    rounds: usize,
    /// Per candidate: its runs (seconds).
    candidates: Vec<(BackendSpec, Vec<f64>)>,
    auto: Vec<AutoRun>,
    compared: usize,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Outcome {
    /// The best candidate and its median.
    fn best(&self) -> (BackendSpec, f64) {
        self.candidates
            .iter()
            .map(|(s, runs)| (*s, median(runs)))
            .fold(None, |best: Option<(BackendSpec, f64)>, c| match best {
                Some(b) if b.1 <= c.1 => Some(b),
                _ => Some(c),
            })
            .expect("at least one candidate")
    }

    fn auto_median(&self) -> f64 {
        median(&self.auto.iter().map(|r| r.seconds).collect::<Vec<_>>())
    }

    fn profiling_median(&self) -> f64 {
        median(&self.auto.iter().map(|r| r.profiling).collect::<Vec<_>>())
    }

    fn ratio(&self) -> f64 {
        self.auto_median() / self.best().1
    }

    fn within(&self) -> bool {
        self.ratio() <= WITHIN
    }

    /// auto's time over the best candidate's in the same round, the median over the rounds.
    ///
    /// Reported beside [`Outcome::ratio`], which the target is judged on. A round's runs follow
    /// each other within a second or so, so a slow spell of the machine that covers a whole
    /// round cancels out of its ratio; the ratio of medians keeps it whenever such spells fall
    /// on one side's median run more than on the other's (on this project's VM, runs of one
    /// configuration spread by 10-50%).
    fn paired_ratio(&self) -> f64 {
        let best = self.best().0;
        let (_, runs) =
            self.candidates.iter().find(|(s, _)| *s == best).expect("the best is a candidate");
        let ratios: Vec<f64> = self.auto.iter().zip(runs).map(|(a, b)| a.seconds / b).collect();
        median(&ratios)
    }

    fn profiling_share(&self) -> f64 {
        self.profiling_median() / self.auto_median()
    }

    /// auto's choices over its runs: "threads x2 / serial" or "a (2x), b (1x)".
    fn chosen(&self) -> String {
        let mut seen: Vec<(String, usize)> = Vec::new();
        for run in &self.auto {
            let c = run.chosen();
            match seen.iter_mut().find(|(s, _)| *s == c) {
                Some(entry) => entry.1 += 1,
                None => seen.push((c, 1)),
            }
        }
        if seen.len() == 1 {
            seen.remove(0).0
        } else {
            seen.iter().map(|(c, n)| format!("{c} ({n}x)")).collect::<Vec<_>>().join(", ")
        }
    }

    /// The run of median time (the one whose choice and predictions are shown).
    fn median_run(&self) -> &AutoRun {
        let mut order: Vec<&AutoRun> = self.auto.iter().collect();
        order.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
        order[(order.len() - 1) / 2]
    }
}

/// A workload's job, ready to run.
fn bench_job(workload: &Workload, export: &Path, out: PathBuf) -> Result<BenchJob> {
    Ok(BenchJob {
        inputs: pipeline::export_tables(export)?,
        sample: SampleOptions {
            items: workload.items.item_ids(),
            hours: workload.hours,
            skip_bad_rows: false,
        },
        impute: workload.impute_options(),
        out,
    })
}

/// A candidate's whole job, in a fresh process: start the backend, run, stop it. Returns
/// seconds.
fn run_candidate(job: &BenchJob, spec: BackendSpec) -> Result<f64> {
    remove_grid(&job.out);
    fresh::time_fixed(job, spec)
}

/// `auto`'s whole job, in a fresh process ([`run_auto`] there).
fn run_auto_fresh(job: &BenchJob, target: usize) -> Result<AutoRun> {
    remove_grid(&job.out);
    fresh::time_auto(job, target)
}

/// `auto`'s whole job, as `medimpute run --backend auto` does it (the `bench-job` process's
/// side).
///
/// Its profiling is the time spent in the selector (both stages) less starting the backends it
/// chose, which every candidate pays too ([`Selector::starting`]): the stages' profiles (timed
/// on their own, less the work they did that the run keeps) and the rest, measuring the
/// transports (worker pools started, timed and stopped) and choosing. Until session 17 the
/// starts were timed again after the job, outside it: a warm restart, which differed from the
/// job's own start by the noise of starting threads (in 12-32% of the 3 ms job's runs, in each
/// of session 16's five `bench auto` runs, the restart took longer than all the selector did
/// beyond its profiles, and that rest was counted as zero).
pub(crate) fn run_auto(job: &BenchJob, target: usize) -> Result<AutoRun> {
    // Per stage (sample, impute): the wall time of its profile (or profiles: see
    // `Selector::profile_stage`), less its wait for the pool's threads to start (which is the
    // pool's start: see `ProfilePool::running`).
    let mut profiled = [Duration::ZERO; 2];
    let mut selecting = Duration::ZERO;
    let start = Instant::now();
    let mut selector = Selector::new(SelectorOptions::auto(target));
    selecting += start.elapsed();
    // Reading the admissions is the job's, whatever the backend.
    let plan = Plan::new(&job.inputs, &job.sample)?;
    let choosing = Instant::now();
    let mut head = None;
    let mut exec = {
        let mut profile = sample_profile::profile_into(&plan, &job.inputs, &mut head);
        selector.executor_for(None, |pool| {
            let at = Instant::now();
            let stage = profile(pool);
            profiled[0] += at.elapsed().saturating_sub(pool.waited());
            stage
        })?
    };
    selecting += choosing.elapsed();
    let report = pipeline::run_job(
        &plan,
        &job.inputs,
        &job.sample,
        head,
        &job.impute,
        &job.out,
        SampledGridHome::Auto,
        &mut exec,
        &ProgressBar::hidden(),
        |_| ProgressBar::hidden(),
        |values, shape, axes, observed, exec| {
            let hours = first_bin_hours(axes)?;
            let switching = Instant::now();
            let mut kept = ProfiledWork::default();
            let switched = selector.switch(exec, |pool| {
                let at = Instant::now();
                let (profile, work) = impute_profile::profile(
                    values,
                    shape,
                    &hours,
                    &job.impute,
                    Some(observed),
                    pool,
                )?;
                profiled[1] += at.elapsed().saturating_sub(pool.waited());
                kept = work;
                Ok(profile)
            });
            selecting += switching.elapsed();
            switched.map(|()| kept)
        },
    )?;
    drop(exec);
    let seconds = start.elapsed().as_secs_f64();

    // What starting the backends the stages ran on cost, as the job went: every candidate
    // pays for starting its own.
    let starting = selector.starting();
    let stage_profiling: Vec<(String, f64)> = selector
        .choices
        .iter()
        .zip(&profiled)
        .map(|((stage, choice), t)| {
            (stage.to_string(), t.saturating_sub(choice.kept).as_secs_f64())
        })
        .collect();
    let profiled_total: Duration = profiled.iter().sum();
    let transports =
        selecting.saturating_sub(starting).saturating_sub(profiled_total).as_secs_f64();
    let profiling = stage_profiling.iter().map(|s| s.1).sum::<f64>() + transports;
    let took = |stage: &str| match stage {
        "sample" => report.sample.elapsed.as_secs_f64(),
        "impute" => report.impute_time.as_secs_f64(),
        _ => f64::NAN,
    };
    let choices = selector
        .choices
        .iter()
        .map(|(stage, choice)| StageChoice {
            stage: stage.to_string(),
            spec: choice.spec,
            predicted: choice.predicted(),
            took: took(stage),
            kept: choice.kept.as_secs_f64(),
            predictions: choice.predictions.clone(),
        })
        .collect();
    let starting = starting.as_secs_f64();
    Ok(AutoRun { seconds, profiling, stage_profiling, transports, starting, choices })
}

/// Generates the exports the workloads need into `dir`, once each.
fn generate_exports(workloads: &[Workload], dir: &Path) -> Result<Vec<(Export, PathBuf)>> {
    let mut exports: Vec<(Export, PathBuf)> = Vec::new();
    for w in workloads {
        if exports.iter().any(|(e, _)| *e == w.export) {
            continue;
        }
        cancel::check()?;
        let path = dir.join(w.export.dir_name());
        let config = GenerateConfig {
            subjects: w.export.subjects,
            seed: SEED,
            format: ExportFormat::Mimic3,
            gzip: w.export.gzip,
        };
        generate(&config, &path).map_err(|e| Error::output(&path, e))?;
        exports.push((w.export, path));
    }
    Ok(exports)
}

fn validate(options: &AutoOptions) -> Result<usize> {
    if options.runs == 0 {
        return Err(Error::Usage("--runs must be at least 1".into()));
    }
    if !(options.min_time >= 0.0 && options.min_time.is_finite()) {
        return Err(Error::Usage(format!(
            "--min-time must be a number of seconds, 0 or more (got {})",
            options.min_time
        )));
    }
    match options.target_cores {
        Some(0) => Err(Error::Usage("--target-cores must be at least 1".into())),
        Some(n) => Ok(n),
        None => Ok(available_cores()),
    }
}

/// Runs the benchmark; returns the Markdown report and the files written.
pub fn run(options: &AutoOptions) -> Result<String> {
    let target = validate(options)?;
    let workloads = if options.quick { quick_workloads() } else { default_workloads() };
    let specs = candidates(target);
    let warm_up =
        specs.iter().copied().find(|s| s.kind == BackendKind::Threads).unwrap_or(specs[0]);

    std::fs::create_dir_all(&options.out_dir).map_err(|e| Error::output(&options.out_dir, e))?;
    let scratch = tempfile::Builder::new()
        .prefix(".auto-")
        .tempdir_in(&options.out_dir)
        .map_err(|e| Error::output(&options.out_dir, e))?;

    let started = Instant::now();
    let per_workload = 1 + options.runs * (specs.len() + 1);
    let bar = progress_bar((workloads.len() * per_workload) as u64);
    bar.set_prefix("auto");
    let outcome = (|| -> Result<Vec<Outcome>> {
        bar.set_message("generating exports");
        let exports = generate_exports(&workloads, scratch.path())?;
        let mut outcomes = Vec::with_capacity(workloads.len());
        for (i, w) in workloads.iter().enumerate() {
            let export = &exports.iter().find(|(e, _)| *e == w.export).expect("generated").1;
            let job = bench_job(w, export, scratch.path().join("run.npy"))?;
            let mut reference = Reference::new(scratch.path().join(format!("reference-{i}.npy")));
            let name = w.label();

            // Warm-up (untimed) on threads, rarely slow: its grid becomes the reference.
            cancel::check()?;
            bar.set_message(format!("{name}: warm-up"));
            let warm_up_s = run_candidate(&job, warm_up)?;
            reference.check(&job.out, &format!("{name}: warm-up"))?;
            bar.inc(1);
            let rounds = rounds_for(options.runs, options.min_time, warm_up_s);
            bar.inc_length(((rounds - options.runs) * (specs.len() + 1)) as u64);

            let mut outcome = Outcome {
                workload: *w,
                rounds,
                candidates: specs.iter().map(|&s| (s, Vec::with_capacity(rounds))).collect(),
                auto: Vec::with_capacity(rounds),
                compared: 0,
            };
            // Configurations 0..specs.len() are the candidates, specs.len() is auto.
            let configurations = specs.len() + 1;
            for r in 0..rounds {
                let round = format!("run {}/{rounds}", r + 1);
                for c in order::round_order(configurations, r) {
                    cancel::check()?;
                    let label = match outcome.candidates.get(c) {
                        Some((spec, _)) => format!("{name}: {spec} {round}"),
                        None => format!("{name}: auto {round}"),
                    };
                    bar.set_message(label.clone());
                    match outcome.candidates.get_mut(c) {
                        Some((spec, runs)) => runs.push(run_candidate(&job, *spec)?),
                        None => outcome.auto.push(run_auto_fresh(&job, target)?),
                    }
                    reference.check(&job.out, &label)?;
                    bar.inc(1);
                }
            }
            outcome.compared = reference.compared;
            if !reference.differing.is_empty() {
                return Err(Error::Bench(format!(
                    "the output grid of {} differs from the first run's: the backend must \
                     change only the time",
                    reference.differing.join(", ")
                )));
            }
            remove_grid(&scratch.path().join(format!("reference-{i}.npy")));
            outcomes.push(outcome);
        }
        Ok(outcomes)
    })();
    bar.finish_and_clear();
    let outcomes = outcome?;
    let seconds = started.elapsed().as_secs_f64();

    let cores = available_cores();
    let markdown = report(options, &specs, &outcomes, cores, target, seconds);
    let json = serde_json::to_string_pretty(&to_json(options, &specs, &outcomes, cores, target))
        .expect("JSON values serialise");

    let files: [(&str, &[u8]); 2] =
        [("auto.md", markdown.as_bytes()), ("auto.json", json.as_bytes())];
    let listing = super::write_reports(&options.out_dir, &files)?;
    Ok(format!("{markdown}{listing}"))
}

/// What the report and the JSON total over the workloads.
struct Totals {
    /// Workloads where auto is within 10% of the best candidate, and their share.
    within: usize,
    share: f64,
    /// Workloads within 10% by the paired ratio (shown, not judged).
    within_paired: usize,
    /// Median and max of the workloads' profiling shares.
    median_share: f64,
    max_share: f64,
}

fn totals(outcomes: &[Outcome]) -> Totals {
    let within = outcomes.iter().filter(|o| o.within()).count();
    let within_paired = outcomes.iter().filter(|o| o.paired_ratio() <= WITHIN).count();
    let shares: Vec<f64> = outcomes.iter().map(Outcome::profiling_share).collect();
    Totals {
        within,
        share: within as f64 / outcomes.len().max(1) as f64,
        within_paired,
        median_share: median(&shares),
        max_share: shares.iter().copied().fold(f64::NAN, f64::max),
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn report(
    options: &AutoOptions,
    specs: &[BackendSpec],
    outcomes: &[Outcome],
    cores: usize,
    target: usize,
    seconds: f64,
) -> String {
    let mut md = String::from("# medimpute bench auto\n\n");
    let _ = writeln!(md, "- command: `{}`", options.command_line);
    let _ = writeln!(
        md,
        "- machine: {cores} cores available ({} {}); candidates for {target} cores: {}; \
         benchmark took {seconds:.0} s",
        std::env::consts::OS,
        std::env::consts::ARCH,
        specs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(
        md,
        "- workloads: `run` jobs on generated exports (subjects, seed {SEED}; gz = gzipped \
         tables), item set, method (tN = trees), hours; fill-empty mean, seed 0"
    );
    let _ = writeln!(
        md,
        "- at least {} timed runs per configuration, and for short jobs as many as make about \
         {} s of the warm-up's time (at most {MAX_ROUNDS}; the rounds column of the last table), \
         interleaved (each round in its own shuffled order), after one untimed \
         warm-up run; medians compared; each run starts its backend (worker processes \
         included), samples, imputes, writes the grid; auto's runs include its profiling and \
         transport measurements; its profiling time counts what measuring cost, not the \
         records its sampling profile parsed and the items its imputation profile imputed for \
         the run (the run keeps them: counted at the run's parallelism, they are the job's own \
         work)",
        options.runs, options.min_time
    );
    let compared: usize = outcomes.iter().map(|o| o.compared + 1).sum();
    let _ = writeln!(
        md,
        "- output grids: all {compared} runs byte-identical to their workload's first"
    );
    md.push('\n');

    md.push_str(
        "| workload | best candidate | best (s) | auto chose (sample / impute) | auto (s) | \
         auto/best | within 10% | paired | predicted -> took (s, per stage) | profiling (s): sample + \
         impute + transports | profiling share |\n",
    );
    md.push_str("|---|---|---:|---|---:|---:|:---:|---:|---|---:|---:|\n");
    for o in outcomes {
        let (best, best_s) = o.best();
        let run = o.median_run();
        let predicted = run
            .choices
            .iter()
            .map(|c| format!("{:.3} -> {:.3}", c.predicted, c.took))
            .collect::<Vec<_>>()
            .join(" / ");
        let parts = run
            .stage_profiling
            .iter()
            .map(|(_, t)| format!("{t:.3}"))
            .chain(std::iter::once(format!("{:.3}", run.transports)))
            .collect::<Vec<_>>()
            .join(" + ");
        let _ = writeln!(
            md,
            "| {} | {best} | {best_s:.3} | {} | {:.3} | {:.2} | {} | {:.2} | {predicted} | {:.3}: \
             {parts} | {:.1}% |",
            o.workload.label(),
            o.chosen(),
            o.auto_median(),
            o.ratio(),
            if o.within() { "yes" } else { "no" },
            o.paired_ratio(),
            o.profiling_median(),
            100.0 * o.profiling_share()
        );
    }

    let Totals { within, share, within_paired, median_share, max_share } = totals(outcomes);
    md.push_str("\n## Totals\n\n");
    let _ = writeln!(
        md,
        "- auto within 10% of the best candidate: {within} of {} workloads ({:.0}%); target at \
         least {:.0}%: {}",
        outcomes.len(),
        100.0 * share,
        100.0 * TARGET_WITHIN_SHARE,
        met(share >= TARGET_WITHIN_SHARE)
    );
    let _ = writeln!(
        md,
        "- paired (auto over the best candidate round by round, median over the rounds; shown \
         beside the target, not judged): within 10% on {within_paired} of {} workloads",
        outcomes.len()
    );
    let _ = writeln!(
        md,
        "- profiling share of auto's job time: median {:.1}%, max {:.1}%; target at most \
         {:.0}%: {} (median), {} (max)",
        100.0 * median_share,
        100.0 * max_share,
        100.0 * TARGET_PROFILING_SHARE,
        met(median_share <= TARGET_PROFILING_SHARE),
        met(max_share <= TARGET_PROFILING_SHARE)
    );

    md.push_str("\n## Median time per configuration (s)\n\n| workload |");
    for s in specs {
        let _ = write!(md, " {s} |");
    }
    md.push_str(" auto | rounds |\n|---|");
    md.push_str(&"---:|".repeat(specs.len() + 2));
    md.push('\n');
    for o in outcomes {
        let best = o.best().0;
        let _ = write!(md, "| {} |", o.workload.label());
        for (spec, runs) in &o.candidates {
            let t = median(runs);
            if *spec == best {
                let _ = write!(md, " **{t:.3}** |");
            } else {
                let _ = write!(md, " {t:.3} |");
            }
        }
        let _ = writeln!(md, " {:.3} | {} |", o.auto_median(), o.rounds);
    }
    md
}

fn spec_json(spec: BackendSpec) -> serde_json::Value {
    json!({ "label": spec.to_string(), "kind": spec.kind.name(), "workers": spec.workers })
}

fn to_json(
    options: &AutoOptions,
    specs: &[BackendSpec],
    outcomes: &[Outcome],
    cores: usize,
    target: usize,
) -> serde_json::Value {
    let Totals { within, share, within_paired, median_share, max_share } = totals(outcomes);
    let workloads: Vec<serde_json::Value> = outcomes
        .iter()
        .map(|o| {
            let w = &o.workload;
            let (best, best_s) = o.best();
            let candidates: Vec<serde_json::Value> = o
                .candidates
                .iter()
                .map(|(spec, runs)| {
                    let mut v = spec_json(*spec);
                    v["runs_s"] = json!(runs);
                    v["median_s"] = json!(median(runs));
                    v
                })
                .collect();
            let runs: Vec<serde_json::Value> = o
                .auto
                .iter()
                .map(|r| {
                    json!({
                        "seconds": r.seconds,
                        "profiling_s": r.profiling,
                        "profiling_parts_s": {
                            "stages": r.stage_profiling.iter().map(|(stage, t)| json!({
                                "stage": stage, "seconds": t
                            })).collect::<Vec<_>>(),
                            "transports": r.transports,
                        },
                        "starting_s": r.starting,
                        "choices": r.choices.iter().map(|c| json!({
                            "stage": c.stage,
                            "backend": spec_json(c.spec),
                            "predicted_s": c.predicted,
                            "took_s": c.took,
                            "profile_kept_s": c.kept,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let median_run = o.median_run();
            let predictions: Vec<serde_json::Value> = median_run
                .choices
                .iter()
                .map(|c| {
                    json!({
                        "stage": c.stage,
                        "predicted_s": c.predictions.iter().map(|(s, t)| json!({
                            "backend": s.to_string(), "seconds": t
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            json!({
                "label": w.label(),
                "subjects": w.export.subjects,
                "gzip": w.export.gzip,
                "item_set": w.items.name(),
                "items": w.items.item_ids().len(),
                "method": w.method.name(),
                "trees": if w.method.uses_forest() {
                    json!(w.trees.unwrap_or_else(|| plan::default_trees(w.method)))
                } else {
                    serde_json::Value::Null
                },
                "hours": w.hours,
                "candidates": candidates,
                "best": { "backend": best.to_string(), "median_s": best_s },
                "auto": {
                    "chosen": o.chosen(),
                    "median_s": o.auto_median(),
                    "profiling_s": o.profiling_median(),
                    "profiling_share": o.profiling_share(),
                    "runs": runs,
                    "predictions_of_median_run": predictions,
                },
                "ratio": o.ratio(),
                "within_10pct": o.within(),
                "paired_ratio": o.paired_ratio(),
                "rounds": o.rounds,
                "runs_byte_identical": o.compared + 1,
            })
        })
        .collect();
    json!({
        "command": options.command_line,
        "cores": cores,
        "target_cores": target,
        "runs": options.runs,
        "min_time_s": options.min_time,
        "max_rounds": MAX_ROUNDS,
        "runs_interleaved": true,
        "warm_up_runs": 1,
        "quick": options.quick,
        "export_seed": SEED,
        "candidates": specs.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        "workloads": workloads,
        "totals": {
            "workloads": outcomes.len(),
            "within_10pct": within,
            "within_10pct_share": share,
            "within_10pct_paired": within_paired,
            "target_within_10pct_share": TARGET_WITHIN_SHARE,
            "within_target_met": share >= TARGET_WITHIN_SHARE,
            "profiling_share_median": median_share,
            "profiling_share_max": max_share,
            "target_profiling_share": TARGET_PROFILING_SHARE,
            "profiling_target_met": max_share <= TARGET_PROFILING_SHARE,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_set_is_varied() {
        let w = default_workloads();
        assert!(w.len() >= 8);
        let distinct = |f: &dyn Fn(&Workload) -> String| {
            let mut v: Vec<String> = w.iter().map(f).collect();
            v.sort();
            v.dedup();
            v.len()
        };
        assert!(distinct(&|w| w.export.label()) >= 3);
        assert!(distinct(&|w| w.items.name().to_string()) == 2);
        assert!(distinct(&|w| w.method.name().to_string()) >= 4);
        assert!(distinct(&|w| format!("{:?}", w.trees)) >= 3);
        assert!(distinct(&|w| w.hours.to_string()) >= 2);
        assert!(quick_workloads().len() >= 2);
    }

    #[test]
    fn medians_and_labels() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let w = Workload::new(150, true, ItemSet::MedlensTop5, Method::RfMedlens, None, 720);
        assert_eq!(w.label(), "150 gz, top5, rf-medlens t100, 720 h");
        let w = Workload::new(30, false, ItemSet::MedlensNumerical, Method::Locf, Some(8), 168);
        assert_eq!(w.label(), "30, numerical, locf, 168 h");
    }

    #[test]
    fn bad_options_are_usage_errors() {
        let options = AutoOptions {
            quick: true,
            runs: 0,
            min_time: 0.0,
            target_cores: None,
            out_dir: PathBuf::from("x"),
            command_line: String::new(),
        };
        assert_eq!(validate(&options).unwrap_err().exit_code(), 2);
        let options = AutoOptions { runs: 1, target_cores: Some(0), ..options };
        assert_eq!(validate(&options).unwrap_err().exit_code(), 2);
        let options = AutoOptions { target_cores: None, min_time: -1.0, ..options };
        assert_eq!(validate(&options).unwrap_err().exit_code(), 2);
        let options = AutoOptions { min_time: f64::NAN, ..options };
        assert_eq!(validate(&options).unwrap_err().exit_code(), 2);
    }

    fn auto_run(seconds: f64) -> AutoRun {
        AutoRun {
            seconds,
            profiling: 0.0,
            stage_profiling: Vec::new(),
            transports: 0.0,
            starting: 0.0,
            choices: Vec::new(),
        }
    }

    /// Two rounds of four in a slow spell (every configuration twice as slow), and one slow
    /// auto run outside it: the ratio of medians sees auto at 1.4 times the best, the paired
    /// ratio the 1.05 of three rounds in four.
    #[test]
    fn the_paired_ratio_compares_runs_of_a_round() {
        let threads = BackendSpec { kind: BackendKind::Threads, workers: 2, pin: false };
        let serial = BackendSpec { kind: BackendKind::Serial, workers: 1, pin: false };
        let fast = [1.0, 1.0, 2.0, 2.0];
        let outcome = Outcome {
            workload: quick_workloads()[0],
            rounds: 4,
            candidates: vec![
                (serial, fast.iter().map(|t| t * 3.0).collect()),
                (threads, fast.to_vec()),
            ],
            auto: [1.05, 2.1, 2.1, 2.1].iter().map(|&t| auto_run(t)).collect(),
            compared: 0,
        };
        assert_eq!(outcome.best().0, threads);
        assert!((outcome.ratio() - 2.1 / 1.5).abs() < 1e-12);
        assert!(!outcome.within());
        assert!((outcome.paired_ratio() - 1.05).abs() < 1e-12);
    }

    #[test]
    fn short_jobs_get_rounds_up_to_the_minimum_time() {
        // A 2 s job: the runs asked for.
        assert_eq!(rounds_for(5, 1.0, 2.0), 5);
        // 50 ms: 20 rounds make a second.
        assert_eq!(rounds_for(5, 1.0, 0.05), 20);
        // 3 ms: capped.
        assert_eq!(rounds_for(5, 1.0, 0.003), MAX_ROUNDS);
        // No minimum time, or more runs asked than the cap: the runs asked for.
        assert_eq!(rounds_for(5, 0.0, 0.003), 5);
        assert_eq!(rounds_for(150, 1.0, 0.003), 150);
        assert_eq!(rounds_for(3, 1.0, 0.0), MAX_ROUNDS);
    }
}
