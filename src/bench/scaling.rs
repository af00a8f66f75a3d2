//! The study's Table 1 per backend and worker count: the whole `run` job (start the backend,
//! sample the export, impute, write the grid), timed run after run.
//!
//! Method, as the study's and then some:
//! - `serial` runs at `p = 1` only (its mean is `T_1`); every other backend at each `p`;
//! - one untimed warm-up run of the first configuration fills the page cache;
//! - runs are interleaved (run `r` of every configuration before run `r + 1` of any), so that
//!   drift on a noisy machine hits every configuration alike, each round in its own shuffled
//!   [order](super::order), so that none always runs after the same one;
//! - every timed run's grid must be byte-identical to the warm-up's, or the benchmark fails:
//!   parallelism may change the time and nothing else;
//! - worker counts above the machine's cores are run and marked oversubscribed, never dropped;
//! - with `--python`, `tools/medlens_baseline.py run` on the same export is timed the same way
//!   (serial, thread pool, process pool), as a subprocess from start to exit.

use super::fresh::BenchJob;
use super::order;
use super::plot::{speedup_png, speedup_svg};
use super::table::{table, to_csv, to_json, to_markdown, Measurement, Row};
use crate::backend::{available_cores, BackendKind, BackendSpec, Executor};
use crate::cancel;
use crate::error::{Error, Result};
use crate::grid::{Axes, SampledGridHome};
use crate::impute::plan::{self, ProfiledWork};
use crate::impute::{FillEmpty, ImputeOptions, Method};
use crate::pipeline::{self, observed_path};
use crate::sampling::{Plan, SampleInputs, SampleOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What to measure.
#[derive(Clone, Debug)]
pub struct ScalingOptions {
    /// Export directory (ADMISSIONS, CHARTEVENTS, LABEVENTS).
    pub export: PathBuf,
    pub workers: Vec<usize>,
    pub runs: usize,
    pub backends: Vec<BackendKind>,
    /// Add the Python baseline (threads and processes) on the same export.
    pub python: bool,
    pub out_dir: PathBuf,
    pub items: Vec<u32>,
    pub hours: usize,
    pub impute: ImputeOptions,
    /// The command line as typed, quoted in the report's header.
    pub command_line: String,
}

/// The Python baseline's pool kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PyPool {
    Thread,
    Process,
}

impl PyPool {
    fn flag(self) -> &'static str {
        match self {
            PyPool::Thread => "thread",
            PyPool::Process => "process",
        }
    }
}

/// Who runs a configuration.
#[derive(Clone, Copy, Debug)]
enum Contender {
    Rust(BackendKind),
    Python(PyPool),
}

/// One row of the table to be: a backend at a worker count.
#[derive(Clone, Debug)]
struct Config {
    backend: String,
    family: &'static str,
    workers: usize,
    contender: Contender,
}

impl Config {
    fn label(&self) -> String {
        format!("{} p={}", self.backend, self.workers)
    }
}

/// The configurations in report order: our backends as given, then the Python baseline.
fn configurations(backends: &[BackendKind], workers: &[usize], python: bool) -> Vec<Config> {
    let mut out = Vec::new();
    for &kind in backends {
        let counts: &[usize] = if kind == BackendKind::Serial { &[1] } else { workers };
        for &p in counts {
            out.push(Config {
                backend: kind.name().to_string(),
                family: "rust",
                workers: p,
                contender: Contender::Rust(kind),
            });
        }
    }
    if python {
        let py = |backend: &str, p: usize, pool: PyPool| Config {
            backend: backend.to_string(),
            family: "python",
            workers: p,
            contender: Contender::Python(pool),
        };
        out.push(py("python-serial", 1, PyPool::Thread));
        for (name, pool) in
            [("python-threads", PyPool::Thread), ("python-processes", PyPool::Process)]
        {
            out.extend(workers.iter().map(|&p| py(name, p, pool)));
        }
    }
    out
}

/// Checks the options and removes repeated backends and worker counts (keeping the order).
fn validate(options: &ScalingOptions) -> Result<(Vec<BackendKind>, Vec<usize>)> {
    let mut workers = Vec::new();
    for &p in &options.workers {
        if p == 0 {
            return Err(Error::Usage("--workers: counts must be at least 1".into()));
        }
        if !workers.contains(&p) {
            workers.push(p);
        }
    }
    let mut backends = Vec::new();
    for &kind in &options.backends {
        if kind == BackendKind::Auto {
            return Err(Error::Usage(
                "--backends: 'auto' is a choice, not a backend to measure (give serial, \
                 threads, pipe, shm)"
                    .into(),
            ));
        }
        if !backends.contains(&kind) {
            backends.push(kind);
        }
    }
    let needs_workers = backends.iter().any(|&k| k != BackendKind::Serial) || options.python;
    if workers.is_empty() && needs_workers {
        return Err(Error::Usage("--workers: give at least one worker count".into()));
    }
    if backends.is_empty() && !options.python {
        return Err(Error::Usage("--backends: give at least one backend".into()));
    }
    Ok((backends, workers))
}

/// The Python baseline: the interpreter and `tools/medlens_baseline.py`.
struct Python {
    script: PathBuf,
}

const PYTHON: &str = "python3";

impl Python {
    /// Finds the script (under the working directory, else in this source tree) and checks that
    /// `python3` imports what it needs, which also brings the libraries into the page cache.
    fn find() -> Result<Python> {
        let relative = Path::new("tools/medlens_baseline.py");
        let script = [relative.to_path_buf(), Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)]
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::Usage(
                    "--python: tools/medlens_baseline.py not found; run from the medimpute \
                     repository root"
                        .into(),
                )
            })?;
        let requirements = script.with_file_name("requirements.txt");
        let install = format!("{PYTHON} -m pip install -r {}", requirements.display());
        let check = Command::new(PYTHON).args(["-c", "import numpy, pandas, sklearn"]).output();
        match check {
            Err(e) => Err(Error::Usage(format!(
                "--python needs {PYTHON} on the PATH ({e}); install Python 3, then: {install}"
            ))),
            Ok(out) if !out.status.success() => {
                let said = String::from_utf8_lossy(&out.stderr);
                let last = said.lines().last().unwrap_or("").trim().to_string();
                Err(Error::Usage(format!(
                    "--python needs numpy, pandas and scikit-learn ({PYTHON} says: {last}); \
                     install them with: {install}"
                )))
            }
            Ok(_) => Ok(Python { script }),
        }
    }
}

/// The Python baseline's forest settings: those our `rf-medlens` would use.
struct PySettings {
    trees: usize,
    window: usize,
    max_train: usize,
    seed: u64,
}

impl PySettings {
    fn of(options: &ImputeOptions) -> Self {
        PySettings {
            trees: options.trees.unwrap_or_else(|| plan::default_trees(Method::RfMedlens)),
            window: options.window.unwrap_or_else(|| plan::default_window(Method::RfMedlens)),
            max_train: options.max_train,
            seed: options.seed,
        }
    }
}

/// Everything a run needs, built once.
struct Job<'a> {
    inputs: SampleInputs,
    sample: SampleOptions,
    options: &'a ScalingOptions,
    python: Option<Python>,
    py: PySettings,
    scratch: tempfile::TempDir,
}

impl Job<'_> {
    fn rust_out(&self) -> PathBuf {
        self.scratch.path().join("run.npy")
    }

    fn python_out(&self) -> PathBuf {
        self.scratch.path().join("python.npy")
    }

    /// Runs `config` once, returning its wall-clock seconds; the grid is left at
    /// [`Job::rust_out`] or [`Job::python_out`].
    fn run(&self, config: &Config) -> Result<f64> {
        match config.contender {
            Contender::Rust(kind) => self.run_rust(kind, config.workers),
            Contender::Python(pool) => self.run_python(pool, config.workers),
        }
    }

    fn run_rust(&self, kind: BackendKind, workers: usize) -> Result<f64> {
        let out = self.rust_out();
        remove_grid(&out);
        let spec = BackendSpec { kind, workers, pin: false };
        let job = BenchJob {
            inputs: self.inputs.clone(),
            sample: self.sample.clone(),
            impute: self.options.impute.clone(),
            out,
        };
        super::fresh::time_fixed(&job, spec)
    }

    fn python_command(&self, pool: PyPool, workers: usize) -> Command {
        let python = self.python.as_ref().expect("checked before any Python configuration");
        let items: Vec<String> = self.sample.items.iter().map(u32::to_string).collect();
        let mut cmd = Command::new(PYTHON);
        cmd.arg(&python.script).arg("run").arg("--admissions").arg(&self.inputs.admissions);
        for events in &self.inputs.events {
            cmd.arg("--events").arg(events);
        }
        cmd.args(["--items", &items.join(",")])
            .args(["--hours", &self.sample.hours.to_string()])
            .args(["--executor", pool.flag(), "-p", &workers.to_string()])
            .args(["--trees", &self.py.trees.to_string()])
            .args(["--window", &self.py.window.to_string()])
            .args(["--max-train", &self.py.max_train.to_string()])
            .args(["--seed", &self.py.seed.to_string()])
            .arg("--out")
            .arg(self.python_out());
        cmd
    }

    fn run_python(&self, pool: PyPool, workers: usize) -> Result<f64> {
        let out = self.python_out();
        remove_grid(&out);
        let mut cmd = self.python_command(pool, workers);
        let start = Instant::now();
        let result = cmd.output();
        let elapsed = start.elapsed().as_secs_f64();
        // Ctrl-C reaches the child too: report the interrupt, not the child's death.
        cancel::check()?;
        let result = result
            .map_err(|e| Error::Bench(format!("cannot start {PYTHON} for the baseline: {e}")))?;
        if !result.status.success() {
            let said = String::from_utf8_lossy(&result.stderr);
            let tail: Vec<&str> = said.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(Error::Bench(format!(
                "the Python baseline failed ({}): {:?}\n{}",
                result.status,
                cmd,
                tail.join("\n")
            )));
        }
        Ok(elapsed)
    }
}

/// The whole `run` job on a fixed backend, quietly: seconds from starting the backend (worker
/// processes included) to stopping it, which are part of what a user waits for.
pub(crate) fn time_job(
    inputs: &SampleInputs,
    sample: &SampleOptions,
    impute: &ImputeOptions,
    out: &Path,
    spec: BackendSpec,
) -> Result<f64> {
    let start = Instant::now();
    let mut exec = Executor::start(spec)?;
    let hidden = ProgressBar::hidden();
    pipeline::run_job(
        &Plan::new(inputs, sample)?,
        inputs,
        sample,
        None,
        impute,
        out,
        SampledGridHome::Auto,
        &mut exec,
        &hidden,
        |_| ProgressBar::hidden(),
        |_, _, _, _, _| Ok(ProfiledWork::default()),
    )?;
    drop(exec);
    Ok(start.elapsed().as_secs_f64())
}

/// Removes a grid and the files written beside it, if there.
pub(crate) fn remove_grid(path: &Path) {
    for p in [path.to_path_buf(), Axes::path_for(path), observed_path(path)] {
        let _ = std::fs::remove_file(p);
    }
}

/// Whether two files hold the same bytes, compared in chunks.
pub(crate) fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| Error::input(p, e));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let len =
        |f: &std::fs::File, p: &Path| f.metadata().map(|m| m.len()).map_err(|e| Error::input(p, e));
    let size = len(&fa, a)?;
    if size != len(&fb, b)? {
        return Ok(false);
    }
    const CHUNK: usize = 1 << 20;
    let (mut ba, mut bb) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut left = size;
    while left > 0 {
        let n = CHUNK.min(left as usize);
        fa.read_exact(&mut ba[..n]).map_err(|e| Error::input(a, e))?;
        fb.read_exact(&mut bb[..n]).map_err(|e| Error::input(b, e))?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        left -= n as u64;
    }
    Ok(true)
}

/// The first grid of a family kept as the reference, and how later ones compared.
pub(crate) struct Reference {
    path: PathBuf,
    pub(crate) kept: bool,
    pub(crate) compared: usize,
    pub(crate) differing: Vec<String>,
}

impl Reference {
    pub(crate) fn new(path: PathBuf) -> Self {
        Reference { path, kept: false, compared: 0, differing: Vec::new() }
    }

    /// Keeps `out` as the reference, or compares it with the reference.
    pub(crate) fn check(&mut self, out: &Path, label: &str) -> Result<()> {
        if !self.kept {
            std::fs::rename(out, &self.path).map_err(|e| Error::output(&self.path, e))?;
            self.kept = true;
        } else {
            self.compared += 1;
            if !same_bytes(&self.path, out)? {
                self.differing.push(label.to_string());
            }
        }
        Ok(())
    }
}

/// Quotes a word for a shell command line when it needs it.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

pub(crate) fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>10} [{bar:40.cyan/blue}] {pos}/{len} (eta {eta}) {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("scaling");
    bar
}

fn fill_name(fill: FillEmpty) -> &'static str {
    match fill {
        FillEmpty::Nan => "nan",
        FillEmpty::Zero => "zero",
        FillEmpty::Mean => "mean",
    }
}

/// Runs the benchmark; returns the Markdown report and the list of files written.
pub fn run(options: &ScalingOptions) -> Result<String> {
    let (backends, workers) = validate(options)?;
    let inputs = pipeline::export_tables(&options.export)?;
    let python = if options.python { Some(Python::find()?) } else { None };
    let configs = configurations(&backends, &workers, options.python);
    let cores = available_cores();

    std::fs::create_dir_all(&options.out_dir).map_err(|e| Error::output(&options.out_dir, e))?;
    let scratch = tempfile::Builder::new()
        .prefix(".scaling-")
        .tempdir_in(&options.out_dir)
        .map_err(|e| Error::output(&options.out_dir, e))?;
    let job = Job {
        inputs,
        sample: SampleOptions {
            items: options.items.clone(),
            hours: options.hours,
            skip_bad_rows: false,
        },
        options,
        python,
        py: PySettings::of(&options.impute),
        scratch,
    };
    let mut ours = Reference::new(job.scratch.path().join("reference.npy"));
    let mut theirs = Reference::new(job.scratch.path().join("python-reference.npy"));
    let mut check = |config: &Config, label: &str| -> Result<()> {
        match config.contender {
            Contender::Rust(_) => ours.check(&job.rust_out(), label),
            Contender::Python(_) => theirs.check(&job.python_out(), label),
        }
    };

    let mut measurements: Vec<Measurement> = configs
        .iter()
        .map(|c| Measurement {
            backend: c.backend.clone(),
            family: c.family.to_string(),
            workers: c.workers,
            runs_s: Vec::with_capacity(options.runs),
            oversubscribed: c.workers > cores,
        })
        .collect();

    let started = Instant::now();
    let bar = progress_bar(1 + (options.runs * configs.len()) as u64);
    let outcome = (|| -> Result<()> {
        bar.set_message(format!("warm-up, {}", configs[0].label()));
        cancel::check()?;
        job.run(&configs[0])?;
        check(&configs[0], &format!("{} (warm-up)", configs[0].label()))?;
        bar.inc(1);
        for r in 0..options.runs {
            for c in order::round_order(configs.len(), r) {
                let (config, measurement) = (&configs[c], &mut measurements[c]);
                cancel::check()?;
                let label = format!("{} run {}/{}", config.label(), r + 1, options.runs);
                bar.set_message(label.clone());
                let seconds = job.run(config)?;
                check(config, &label)?;
                measurement.runs_s.push(seconds);
                bar.inc(1);
            }
        }
        Ok(())
    })();
    bar.finish_and_clear();
    outcome?;
    if !ours.differing.is_empty() {
        return Err(Error::Bench(format!(
            "the output grid of {} differs from the first run's: parallelism must change \
             only the time",
            ours.differing.join(", ")
        )));
    }
    let elapsed = started.elapsed();

    let rows = table(&measurements);
    let markdown = report(options, &job, &rows, cores, &ours, &theirs, elapsed.as_secs_f64());

    let title = format!("Speedup of the run job ({}, {cores} cores)", options.export.display());
    let svg = speedup_svg(&rows, &title).map_err(|e| Error::Bench(format!("figure: {e}")))?;
    let png_scratch = job.scratch.path().join("speedup.png");
    speedup_png(&rows, &title, &png_scratch).map_err(|e| Error::Bench(format!("figure: {e}")))?;
    let png = std::fs::read(&png_scratch).map_err(|e| Error::input(&png_scratch, e))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&to_json(&rows, &measurements)).expect("our own JSON parses");
    json["command"] = options.command_line.clone().into();
    json["cores"] = cores.into();
    json["export"] = options.export.display().to_string().into();
    json["items"] = options.items.clone().into();
    json["hours"] = options.hours.into();
    json["method"] = options.impute.method.name().into();
    json["runs_interleaved"] = true.into();
    json["warm_up_runs"] = 1.into();
    let json = serde_json::to_string_pretty(&json).expect("JSON values serialise");
    let csv = to_csv(&rows);
    let files: [(&str, &[u8]); 5] = [
        ("scaling.md", markdown.as_bytes()),
        ("scaling.csv", csv.as_bytes()),
        ("scaling.json", json.as_bytes()),
        ("speedup.svg", svg.as_bytes()),
        ("speedup.png", &png),
    ];
    let listing = super::write_reports(&options.out_dir, &files)?;
    Ok(format!("{markdown}{listing}"))
}

/// The Markdown report: header (command, machine, job), our table, the Python table, notes.
fn report(
    options: &ScalingOptions,
    job: &Job<'_>,
    rows: &[Row],
    cores: usize,
    ours: &Reference,
    theirs: &Reference,
    seconds: f64,
) -> String {
    let imp = &options.impute;
    let mut md = String::from("# medimpute bench scaling\n\n");
    let _ = writeln!(md, "- command: `{}`", options.command_line);
    let _ = writeln!(
        md,
        "- machine: {cores} cores available ({} {}); benchmark took {seconds:.0} s",
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    let tables: Vec<String> = std::iter::once(&job.inputs.admissions)
        .chain(&job.inputs.events)
        .map(|p| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
        .collect();
    let _ = writeln!(
        md,
        "- job: `run` on {} ({}): {} items x {} hours, method {}{}, seed {}, \
         max-train {}, fill-empty {}",
        options.export.display(),
        tables.join(", "),
        options.items.len(),
        options.hours,
        imp.method,
        if matches!(imp.method, Method::Locf | Method::Linear) {
            String::new()
        } else {
            format!(", trees {}", imp.trees.unwrap_or_else(|| plan::default_trees(imp.method)))
        },
        imp.seed,
        imp.max_train,
        fill_name(imp.fill_empty),
    );
    let _ = writeln!(
        md,
        "- {} timed runs per configuration, interleaved (each round in its own shuffled order), \
         after one untimed warm-up run; each \
         run starts the backend (worker processes included), samples, imputes and writes the \
         grid; T_1 is serial p=1",
        options.runs
    );
    if ours.kept {
        let _ = writeln!(
            md,
            "- output grids: all {} runs byte-identical to the first",
            ours.compared + 1
        );
    }
    if rows.iter().any(|r| r.oversubscribed) {
        let _ = writeln!(
            md,
            "- oversubscribed rows (p > {cores} cores) are measured and kept: they time the OS \
             scheduler as much as the backend"
        );
    }
    md.push('\n');
    let family = |f: &str| rows.iter().filter(|r| r.family == f).cloned().collect::<Vec<_>>();
    let rust = family("rust");
    if !rust.is_empty() {
        md.push_str(&to_markdown(&rust, "medimpute", cores));
        md.push('\n');
    }
    let python = family("python");
    if !python.is_empty() {
        md.push_str(&to_markdown(
            &python,
            "Python baseline (tools/medlens_baseline.py run, same export)",
            cores,
        ));
        let py = &job.py;
        md.push_str("\nWhat differs from our job, as far as the script allows:\n\n");
        let _ = writeln!(
            md,
            "- the script has one method, MedLens's Random Forest (our `rf-medlens`), run here \
             with the same items and hours, trees {}, window {}, max-train {}, seed {}{}",
            py.trees,
            py.window,
            py.max_train,
            py.seed,
            if imp.method == Method::RfMedlens {
                String::new()
            } else {
                format!("; our rows above used method {}, a different job", imp.method)
            }
        );
        let _ = writeln!(
            md,
            "- it fills series without observations with 0 (ours: fill-empty {}); scikit-learn's \
             forests are not ours, so the grids are not compared across the two",
            fill_name(imp.fill_empty)
        );
        md.push_str(
            "- T_p is the subprocess's wall clock, start to exit: interpreter start-up and the \
             pandas/scikit-learn imports count, as our worker processes' start-up does\n",
        );
        md.push_str(
            "- python-serial is `--executor thread -p 1` (the script has no pool-free mode); \
             python-threads is its ThreadPoolExecutor (the original MedLens), python-processes \
             its ProcessPoolExecutor (the study's)\n",
        );
        if theirs.kept {
            let _ = writeln!(
                md,
                "- the baseline's own grids: {}",
                if theirs.differing.is_empty() {
                    format!("all {} runs byte-identical", theirs.compared + 1)
                } else {
                    format!("differ between runs ({})", theirs.differing.join(", "))
                }
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(backends: &[BackendKind], workers: &[usize], python: bool) -> ScalingOptions {
        ScalingOptions {
            export: PathBuf::from("data/demo"),
            workers: workers.to_vec(),
            runs: 1,
            backends: backends.to_vec(),
            python,
            out_dir: PathBuf::from("bench-results"),
            items: vec![1],
            hours: 48,
            impute: ImputeOptions::default(),
            command_line: String::new(),
        }
    }

    #[test]
    fn serial_runs_at_one_worker_and_the_rest_at_every_count() {
        use BackendKind::*;
        let configs = configurations(&[Serial, Threads, Shm], &[1, 2, 4], true);
        let labels: Vec<String> = configs.iter().map(Config::label).collect();
        assert_eq!(
            labels,
            [
                "serial p=1",
                "threads p=1",
                "threads p=2",
                "threads p=4",
                "shm p=1",
                "shm p=2",
                "shm p=4",
                "python-serial p=1",
                "python-threads p=1",
                "python-threads p=2",
                "python-threads p=4",
                "python-processes p=1",
                "python-processes p=2",
                "python-processes p=4",
            ]
        );
        assert!(configs
            .iter()
            .filter(|c| c.family == "python")
            .all(|c| c.backend.starts_with("python-")));
    }

    #[test]
    fn options_are_checked_and_deduplicated() {
        use BackendKind::*;
        let (b, w) = validate(&options(&[Threads, Serial, Threads], &[2, 1, 2], false)).unwrap();
        assert_eq!(b, [Threads, Serial]);
        assert_eq!(w, [2, 1]);
        assert!(validate(&options(&[Auto], &[1], false)).is_err());
        assert!(validate(&options(&[Threads], &[0], false)).is_err());
        assert!(validate(&options(&[Threads], &[], false)).is_err());
        assert!(validate(&options(&[], &[1], false)).is_err());
        assert!(validate(&options(&[], &[1], true)).is_ok());
        assert!(validate(&options(&[Serial], &[], false)).is_ok());
    }

    #[test]
    fn same_bytes_compares_contents() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        let big: Vec<u8> = (0..3_000_000u32).map(|i| i as u8).collect();
        std::fs::write(&a, &big).unwrap();
        std::fs::write(&b, &big).unwrap();
        let mut other = big.clone();
        other[2_500_000] ^= 1;
        std::fs::write(&c, &other).unwrap();
        assert!(same_bytes(&a, &b).unwrap());
        assert!(!same_bytes(&a, &c).unwrap());
        std::fs::write(&c, &big[..10]).unwrap();
        assert!(!same_bytes(&a, &c).unwrap());
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("--workers"), "--workers");
        assert_eq!(shell_word("1,2,4"), "1,2,4");
        assert_eq!(shell_word("my dir"), "'my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
