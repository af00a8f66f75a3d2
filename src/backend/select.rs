//! `--backend auto`: measure a little, model the whole job, run the best candidate.
//!
//! A job stage describes itself by a [`StageProfile`]: how many tasks it has, how long its
//! compute would take on one core (extrapolated from a few of its real tasks, timed serially),
//! how well its tasks scale on threads (the same tasks timed on a pool), how many bytes a
//! process backend would push through pipes, and the coordinator's own serial work under a
//! process backend. [`TransportCosts`] are measured once per run on the pool itself: the time
//! to start workers, the round trip of an empty task, the pipe's bandwidth.
//!
//! The model, for `p` workers on a machine of `c` cores, `q = min(p, c)`:
//!
//! - contention follows Amdahl's law, `S(q) = q / (1 + sigma (q - 1))`, with `sigma` fitted
//!   from the measured thread speedup (the Universal Scalability Law with no coherence term:
//!   two points cannot fit more);
//! - `serial`: `C`;
//! - `threads`: `C / S(q)`;
//! - `pipe`, `shm`: `start(p) + (C + n * rtt) / S(q) + coordinator + bytes / bandwidth` (pipe
//!   only), since the coordinator writes every pipe byte itself, one worker at a time.
//!
//! Nothing is a threshold: a small job picks `serial` or `threads` because starting processes
//! costs more than the measured compute they would share.

use super::{available_cores, BackendKind, BackendSpec, Executor, ProfilePool};
use crate::bench::ipc::{checksum, TransferJob};
use crate::error::Result;
use crate::grid::SharedBytes;
use crate::units::Seconds;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a stage of a job costs, as measured on a sample of its tasks.
#[derive(Clone, Debug, Default)]
pub struct StageProfile {
    pub name: &'static str,
    /// Tasks the whole stage would dispatch to worker processes.
    pub tasks: u64,
    /// The whole stage's compute on one core (extrapolated from the sample).
    pub compute: Duration,
    /// The sample's speedup on `threads_measured` threads (1.0 when not measured).
    pub thread_speedup: f64,
    pub threads_measured: usize,
    /// Bytes a `pipe` backend would move (both directions), plus what each worker receives
    /// whatever its share of tasks (a replica of the grid).
    pub pipe_bytes: u64,
    pub pipe_bytes_per_worker: u64,
    /// A bound no backend beats (inflating a gzip table happens on one thread).
    pub floor: Duration,
    /// Serial work of the coordinator under a process backend (applying results).
    pub coordinator: Duration,
    /// Time spent measuring this profile.
    pub profiling: Duration,
    /// The profile stopped at its time budget, before it had measured everything (see
    /// `sampling::profile::BUDGET_SHARE`): what it did not measure counts as nothing.
    pub over_budget: bool,
    /// Of `profiling`, the time spent on work the job keeps (the imputation's profile imputes
    /// a few items completely), counted at the parallelism the job would have given it: the
    /// cost of measuring is `profiling - kept`.
    pub kept: Duration,
}

/// What the process backends cost on this machine, measured on a worker of each transport.
#[derive(Clone, Copy, Debug)]
pub struct TransportCosts {
    /// Starting one worker and a second one (seconds).
    pub start_first: f64,
    pub start_more: f64,
    /// Round trip of an empty task.
    pub rtt_pipe: f64,
    pub rtt_shm: f64,
    /// Bytes per second through a pipe, end to end.
    pub pipe_bandwidth: f64,
    pub measuring: Duration,
}

impl TransportCosts {
    /// Measures on real workers: a pool of 1 and of 2 (start-up), 16 empty tasks over each
    /// transport (round trip), 8 MiB over a pipe (bandwidth). About 50 ms in all.
    ///
    /// `local_best`: the best time threads or serial are predicted to take. If starting one
    /// worker already costs more, no process backend can win and nothing else is measured
    /// (the other costs are then set so that the model says so too).
    pub fn measure(local_best: f64) -> Result<Self> {
        let started = Instant::now();
        let timed_start = |n: usize, t: super::Transport| -> Result<(f64, super::ProcessPool)> {
            let at = Instant::now();
            let pool = super::ProcessPool::start(n, t, false)?;
            Ok((at.elapsed().as_secs_f64(), pool))
        };
        let (start_first, mut pipe) = timed_start(1, super::Transport::Pipe)?;
        if start_first >= local_best {
            return Ok(TransportCosts {
                start_first,
                start_more: start_first,
                rtt_pipe: 0.0,
                rtt_shm: 0.0,
                pipe_bandwidth: f64::INFINITY,
                measuring: started.elapsed(),
            });
        }
        let (start_two, _) = timed_start(2.min(available_cores()).max(1), super::Transport::Pipe)?;
        let (_, mut shm) = timed_start(1, super::Transport::Shm)?;
        let rtt_pipe = round_trip(&mut pipe, &[0u8; 64], 16)?;
        let segment = SharedBytes::create(64)?;
        let region = super::region::shared_region(&segment, 0, 64);
        let rtt_shm = round_trip_region(&mut shm, region, 16)?;
        let payload = vec![1u8; 8 << 20];
        let at = Instant::now();
        round_trip(&mut pipe, &payload, 1)?;
        let pipe_bandwidth = payload.len() as f64 / at.elapsed().as_secs_f64().max(1e-9);
        Ok(TransportCosts {
            start_first,
            start_more: (start_two - start_first).max(0.0),
            rtt_pipe,
            rtt_shm,
            pipe_bandwidth,
            measuring: started.elapsed(),
        })
    }

    /// Costs that rule processes out: used when they could not win whatever the transports
    /// cost (see [`process_floor`]), so that nothing is spent measuring them.
    pub fn not_measured() -> Self {
        TransportCosts {
            start_first: f64::INFINITY,
            start_more: 0.0,
            rtt_pipe: 0.0,
            rtt_shm: 0.0,
            pipe_bandwidth: f64::INFINITY,
            measuring: Duration::ZERO,
        }
    }

    /// Whether these costs were measured (rather than [`TransportCosts::not_measured`]).
    pub fn measured(&self) -> bool {
        self.start_first.is_finite()
    }

    fn start(&self, p: usize) -> f64 {
        self.start_first + self.start_more * (p.max(1) - 1) as f64
    }
}

fn transfer_task<'a>(scratch: super::Payload<'a>) -> super::RemoteTask<'a> {
    super::RemoteTask {
        spec: serde_json::Value::Null,
        inputs: Vec::new(),
        scratch: vec![("data".to_string(), scratch)],
        output: None,
        affinity: 0,
    }
}

/// Median round trip of `n` tasks carrying `bytes` over the pipe.
fn round_trip(pool: &mut super::ProcessPool, bytes: &[u8], n: usize) -> Result<f64> {
    pool.setup(serde_json::json!(crate::jobs::JobSpec::Transfer(TransferJob {})))?;
    let expected = checksum(bytes);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let at = Instant::now();
        pool.run(&[transfer_task(super::Payload::Bytes(bytes))], |_, done| {
            check_sum(&done.meta, expected)
        })?;
        times.push(at.elapsed().as_secs_f64());
    }
    Ok(median(&mut times))
}

fn round_trip_region(
    pool: &mut super::ProcessPool,
    region: super::Region,
    n: usize,
) -> Result<f64> {
    pool.setup(serde_json::json!(crate::jobs::JobSpec::Transfer(TransferJob {})))?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let at = Instant::now();
        pool.run(&[transfer_task(super::Payload::Region(region.clone()))], |_, _| Ok(()))?;
        times.push(at.elapsed().as_secs_f64());
    }
    Ok(median(&mut times))
}

fn check_sum(meta: &serde_json::Value, expected: u64) -> Result<()> {
    if meta.get("sum").and_then(serde_json::Value::as_u64) == Some(expected) {
        Ok(())
    } else {
        Err(crate::Error::Workers("a calibration transfer came back wrong".into()))
    }
}

/// The median of `values` (the upper one of an even count), sorting them in place.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Amdahl's serial fraction from a speedup `s` measured on `p` threads.
fn serial_fraction(s: f64, p: usize) -> f64 {
    if p <= 1 || s <= 0.0 {
        return 0.0;
    }
    // Above 1 when threads were slower than one thread: the model then predicts the slowdown.
    ((p as f64 / s - 1.0) / (p as f64 - 1.0)).max(0.0)
}

fn speedup(sigma: f64, q: usize) -> f64 {
    q as f64 / (1.0 + sigma * (q as f64 - 1.0))
}

/// The model's prediction of a stage on `spec`, in seconds.
pub fn predict(
    stage: &StageProfile,
    costs: &TransportCosts,
    spec: BackendSpec,
    cores: usize,
) -> f64 {
    let c = stage.compute.as_secs_f64();
    let q = spec.workers.min(cores).max(1);
    let sigma = serial_fraction(stage.thread_speedup, stage.threads_measured);
    let n = stage.tasks as f64;
    let time = match spec.kind {
        BackendKind::Serial => c,
        BackendKind::Threads => c / speedup(sigma, q),
        BackendKind::Pipe | BackendKind::Shm => {
            let pipe = spec.kind == BackendKind::Pipe;
            let rtt = if pipe { costs.rtt_pipe } else { costs.rtt_shm };
            let bytes = stage.pipe_bytes + spec.workers as u64 * stage.pipe_bytes_per_worker;
            let moved = if pipe { bytes as f64 / costs.pipe_bandwidth } else { 0.0 };
            // Workers contend for the machine (memory bandwidth, caches) as threads do: the
            // speedup measured on threads applies, and what being separate processes costs is
            // counted on top (start-up, round trips, bytes moved). `bench auto` found no
            // workload where processes beat threads on this basis (docs/RESULTS.md).
            costs.start(spec.workers)
                + (c + n * rtt) / speedup(sigma, q)
                + stage.coordinator.as_secs_f64()
                + moved
        }
        BackendKind::Auto => f64::INFINITY,
    };
    time.max(stage.floor.as_secs_f64())
}

/// The candidates for a machine of `target` cores: serial, then threads, pipe and shm at
/// 1, 2, 4, 6, ... up to `target` workers (and `target` itself).
pub fn candidates(target: usize) -> Vec<BackendSpec> {
    let mut counts: Vec<usize> = vec![1, 2];
    let mut p = 4;
    while p < target {
        counts.push(p);
        p += 2;
    }
    counts.push(target);
    counts.retain(|&p| p <= target.max(1));
    counts.dedup();
    let mut out = vec![BackendSpec { kind: BackendKind::Serial, workers: 1, pin: false }];
    for kind in [BackendKind::Threads, BackendKind::Pipe, BackendKind::Shm] {
        for &workers in &counts {
            if kind == BackendKind::Threads && workers == 1 {
                continue; // one thread is serial with a pool around it
            }
            out.push(BackendSpec { kind, workers, pin: false });
        }
    }
    out
}

/// The selector's decision and its reasons.
#[derive(Clone, Debug)]
pub struct Choice {
    pub spec: BackendSpec,
    /// Predicted seconds for every candidate, in candidate order.
    pub predictions: Vec<(BackendSpec, f64)>,
    /// Time spent profiling (stages and transports), and the part of it spent on work the job
    /// keeps ([`StageProfile::kept`]).
    pub profiling: Duration,
    pub kept: Duration,
}

impl Choice {
    /// The prediction for the chosen backend.
    pub fn predicted(&self) -> f64 {
        self.predictions.iter().find(|(s, _)| *s == self.spec).map_or(f64::NAN, |p| p.1)
    }
}

/// The least any process backend could take: its compute split as threads split it, before
/// any cost of being a process. When threads are predicted to do at least as well, the
/// transports need not be measured at all.
pub fn process_floor(stages: &[StageProfile], target: usize) -> f64 {
    let cores = available_cores();
    (1..=target.max(1))
        .map(|p| {
            let q = p.min(cores).max(1);
            stages
                .iter()
                .map(|s| {
                    let sigma = serial_fraction(s.thread_speedup, s.threads_measured);
                    (s.compute.as_secs_f64() / speedup(sigma, q)).max(s.floor.as_secs_f64())
                })
                .sum::<f64>()
        })
        .fold(f64::INFINITY, f64::min)
}

/// The best time serial or threads are predicted to take (no transport costs needed).
pub fn local_best(stages: &[StageProfile], target: usize) -> f64 {
    let cores = available_cores();
    let unused = TransportCosts {
        start_first: 0.0,
        start_more: 0.0,
        rtt_pipe: 0.0,
        rtt_shm: 0.0,
        pipe_bandwidth: 1.0,
        measuring: Duration::ZERO,
    };
    candidates(target)
        .into_iter()
        .filter(|s| s.kind.transport().is_none())
        .map(|spec| stages.iter().map(|s| predict(s, &unused, spec, cores)).sum::<f64>())
        .fold(f64::INFINITY, f64::min)
}

/// Picks the candidate with the lowest predicted time for `stages` on `target` cores (the
/// machine's cores bound the parallelism actually available).
pub fn choose(stages: &[StageProfile], costs: &TransportCosts, target: usize, pin: bool) -> Choice {
    choose_on(stages, costs, target, available_cores(), pin)
}

/// [`choose`] for a machine of `cores` cores.
pub fn choose_on(
    stages: &[StageProfile],
    costs: &TransportCosts,
    target: usize,
    cores: usize,
    pin: bool,
) -> Choice {
    let predictions: Vec<(BackendSpec, f64)> = candidates(target)
        .into_iter()
        .map(|spec| (spec, stages.iter().map(|s| predict(s, costs, spec, cores)).sum()))
        .collect();
    // Within 2% the measurements cannot tell candidates apart; then more threads win: if the
    // measured speedup was noise, threads lose nothing against serial, while serial on a job
    // that does scale loses a factor of the cores.
    let better = |p: (BackendSpec, f64), best: (BackendSpec, f64)| {
        let tie = (p.1 - best.1).abs() <= 0.02 * best.1;
        if tie {
            p.0.kind == BackendKind::Threads && p.0.workers > best.0.workers
                || best.0.kind != BackendKind::Threads && p.1 < best.1
        } else {
            p.1 < best.1
        }
    };
    let best =
        predictions.iter().fold(predictions[0], |best, &p| if better(p, best) { p } else { best });
    let profiling = stages.iter().map(|s| s.profiling).sum::<Duration>() + costs.measuring;
    let kept = stages.iter().map(|s| s.kept).sum::<Duration>();
    Choice { spec: BackendSpec { pin, ..best.0 }, predictions, profiling, kept }
}

/// `--explain`: the measurements, the prediction for each candidate, and the choice.
pub fn explain(stages: &[StageProfile], costs: &TransportCosts, choice: &Choice) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "backend selection ({} cores here)", available_cores());
    if costs.measured() {
        let _ = writeln!(
            out,
            "  measured: worker start {:.1} ms (+{:.1} ms per extra worker), empty task round \
             trip {:.0} us over a pipe, {:.0} us with shm; pipe {:.2} GB/s",
            costs.start_first * 1e3,
            costs.start_more * 1e3,
            costs.rtt_pipe * 1e6,
            costs.rtt_shm * 1e6,
            costs.pipe_bandwidth / 1e9
        );
    } else {
        let _ = writeln!(
            out,
            "  transports not measured: threads are predicted to do as well as processes could \
             at best (the same compute split, at no cost of their own)"
        );
    }
    for s in stages {
        let _ = writeln!(
            out,
            "  stage {}: {} tasks, {} of compute on one core, {:.2}x on {} threads \
             (serial fraction {:.2}), {:.1} MB through pipes, coordinator {}",
            s.name,
            s.tasks,
            Seconds::from(s.compute),
            s.thread_speedup,
            s.threads_measured,
            serial_fraction(s.thread_speedup, s.threads_measured),
            s.pipe_bytes as f64 / 1e6,
            Seconds::from(s.coordinator)
        );
        if s.over_budget {
            let _ = writeln!(
                out,
                "    (its profile stopped at its budget, a small share of the stage's expected \
                 time: what it had not measured yet counts as nothing)"
            );
        }
    }
    let _ = writeln!(out, "  predicted:");
    for (spec, t) in &choice.predictions {
        let mark = if spec.kind == choice.spec.kind && spec.workers == choice.spec.workers {
            "  <- chosen"
        } else {
            ""
        };
        if t.is_finite() {
            let _ = writeln!(out, "    {:<14} {:>9}{mark}", spec.to_string(), Seconds(*t));
        } else {
            let _ = writeln!(out, "    {:<14}  ruled out", spec.to_string());
        }
    }
    let _ = writeln!(
        out,
        "  profiling took {}, {} of it on work the job keeps",
        Seconds::from(choice.profiling),
        Seconds::from(choice.kept)
    );
    out
}

/// What the user asked for: a backend, or `auto` and its bounds.
#[derive(Clone, Copy, Debug)]
pub struct SelectorOptions {
    pub backend: BackendKind,
    /// Workers for a named backend (0 = one per core).
    pub workers: usize,
    pub pin: bool,
    /// `auto`: the most workers to consider (default: the machine's cores).
    pub target_cores: Option<usize>,
    /// `auto`: print the measurements and predictions to stderr.
    pub explain: bool,
}

impl SelectorOptions {
    /// `auto` up to `target` cores, unpinned and quiet (what `bench auto` runs).
    pub fn auto(target: usize) -> Self {
        SelectorOptions {
            backend: BackendKind::Auto,
            workers: 0,
            pin: false,
            target_cores: Some(target),
            explain: false,
        }
    }
}

/// Chooses backends for the stages of one job, measuring the transports once.
pub struct Selector {
    args: SelectorOptions,
    costs: Option<TransportCosts>,
    /// The threads every stage is profiled on, started once; a `threads` backend of its size
    /// runs on it.
    pool: Option<Arc<rayon::ThreadPool>>,
    /// Whether every thread of `pool` has been seen running ([`ProfilePool::running`]).
    pool_up: bool,
    /// Time spent starting `pool` (its threads spawned, then waited for by a profile), and
    /// whether a stage ran on it.
    pool_start: Duration,
    pool_ran_a_stage: bool,
    /// Time spent starting the other backends stages ran on.
    other_starts: Duration,
    /// The choices made, for the closing summary: (stage, choice).
    pub choices: Vec<(&'static str, Choice)>,
}

impl Selector {
    /// Under `auto`, starts the threads stages are profiled on now: they come up while the
    /// caller reads the admissions and the first profile does what it can without them (it
    /// waits for them only when it first times work on them: [`ProfilePool::running`]). (A
    /// pool that fails to start is started again, and its error reported, when first needed.)
    ///
    /// The pool is sized by the affinity mask (one system call), and its first thread is asked
    /// to read the cores available, the cgroup's quota included (72-117 us on this VM),
    /// meanwhile: before, the selector read them first, on the job's critical path. New
    /// threads are slow to start here, though (their first task ran 218-567 us after the
    /// pool's start in session 15's trace of a 3 ms job): the read was done when the first
    /// profile needed the cores in 5 of 15 runs, and in the other 10 the caller waited for it
    /// or read them itself (36-112 us). Since session 18 it does not wait: the first stage is
    /// profiled on the mask's cores, and again where the quota allows fewer
    /// ([`Selector::profile_stage`]).
    pub fn new(args: SelectorOptions) -> Self {
        let mut selector = Selector {
            args,
            costs: None,
            pool: None,
            pool_up: false,
            pool_start: Duration::ZERO,
            pool_ran_a_stage: false,
            other_starts: Duration::ZERO,
            choices: Vec::new(),
        };
        if args.backend == BackendKind::Auto {
            let at = Instant::now();
            let mask = super::affinity_cores();
            let threads = args.target_cores.unwrap_or(mask).clamp(1, mask);
            selector.pool = super::profile_pool::start(threads).ok();
            if let Some(pool) = &selector.pool {
                pool.spawn(|| {
                    available_cores();
                });
            }
            selector.pool_start = at.elapsed();
        }
        selector
    }

    /// The time this job spent starting the backends its stages ran on, measured as it went:
    /// the threads stages were profiled on (spawned, then seen running), if a stage ran on
    /// them, and any other backend started. Every candidate pays for starting its backend: in
    /// `bench auto`, what the selector spent beyond this and the work its profiles kept is what
    /// choosing cost.
    pub fn starting(&self) -> Duration {
        let pool = if self.pool_ran_a_stage { self.pool_start } else { Duration::ZERO };
        pool + self.other_starts
    }

    /// The most workers `auto` considers.
    fn target(&self) -> usize {
        self.args.target_cores.unwrap_or_else(available_cores).max(1)
    }

    /// The threads stages are profiled on: the target's, as far as `cores` go.
    fn profile_threads(&self, cores: usize) -> usize {
        self.args.target_cores.unwrap_or(cores).clamp(1, cores.max(1))
    }

    /// Profiles a stage on the pool, started again at the right size where it is not.
    ///
    /// The threads are the target's, as far as the machine has cores. How many it has is
    /// known for sure once the cgroup's quota is read (`cores`, `None` until then), which the
    /// pool's first thread does meanwhile ([`Selector::new`]; 72-117 us on this VM, which the
    /// first profile of a 3 ms job waited 86-217 us for in 9 of 23 traced runs, session 18).
    /// Until read, the pool's size stands (the affinity mask's cores, which a quota can only
    /// lower): where the quota allows fewer, the stage is profiled again on that many.
    fn profile_stage(
        &mut self,
        mut cores: Option<usize>,
        mut profile: impl FnMut(&ProfilePool<'_>) -> Result<StageProfile>,
    ) -> Result<StageProfile> {
        loop {
            let at = Instant::now();
            let pool = match (&self.pool, cores) {
                (Some(pool), None) => pool.clone(),
                (Some(pool), Some(c)) if pool.current_num_threads() == self.profile_threads(c) => {
                    pool.clone()
                }
                (_, cores) => {
                    let threads = self.profile_threads(cores.unwrap_or_else(available_cores));
                    self.pool_up = false;
                    self.pool_start = Duration::ZERO;
                    let pool = super::profile_pool::start(threads)?;
                    self.pool.insert(pool).clone()
                }
            };
            self.pool_start += at.elapsed();
            // The profile waits for the threads still starting when it first times work on
            // them: that wait is the pool's start, not the profile's.
            let lent = ProfilePool::new(&pool, self.pool_up);
            let stage = profile(&lent);
            self.pool_up = lent.is_up();
            self.pool_start += lent.waited();
            let mut stage = stage?;
            if cores.is_none() {
                let read = available_cores();
                if pool.current_num_threads() != self.profile_threads(read) {
                    cores = Some(read);
                    continue;
                }
            }
            stage.profiling = stage.profiling.saturating_sub(lent.waited());
            stage.kept = stage.kept.min(stage.profiling);
            return Ok(stage);
        }
    }

    /// The backend for a stage: the one asked for, or under auto the one the model predicts
    /// fastest from `profile(pool)`, the stage profiled on a pool of the threads to measure.
    /// Keeps `current` when it is already that backend.
    pub fn executor_for(
        &mut self,
        current: Option<Executor>,
        profile: impl FnMut(&ProfilePool<'_>) -> Result<StageProfile>,
    ) -> Result<Executor> {
        let spec = self.spec_for(profile)?;
        match current {
            Some(exec) if same_backend(exec.spec(), spec) => Ok(exec),
            other => {
                drop(other);
                self.start(spec)
            }
        }
    }

    fn start(&mut self, spec: BackendSpec) -> Result<Executor> {
        let at = Instant::now();
        let exec = match &self.pool {
            Some(pool) => Executor::start_on(spec, pool)?,
            None => Executor::start(spec)?,
        };
        if self.pool.as_ref().is_some_and(|pool| exec.runs_on(pool)) {
            self.pool_ran_a_stage = true;
        } else {
            self.other_starts += at.elapsed();
        }
        Ok(exec)
    }

    /// The backend for a stage (see [`Selector::executor_for`]).
    fn spec_for(
        &mut self,
        profile: impl FnMut(&ProfilePool<'_>) -> Result<StageProfile>,
    ) -> Result<BackendSpec> {
        Ok(match self.args.backend {
            BackendKind::Auto => {
                let stage = self.profile_stage(super::cores_if_read(), profile)?;
                let target = self.target();
                let stages = std::slice::from_ref(&stage);
                let local = local_best(stages, target);
                // Measured once per run, and only when processes could win at all.
                let costs = if local <= process_floor(stages, target) {
                    TransportCosts::not_measured()
                } else {
                    match self.costs {
                        Some(costs) => costs,
                        None => *self.costs.insert(TransportCosts::measure(local)?),
                    }
                };
                let choice = choose(std::slice::from_ref(&stage), &costs, target, self.args.pin);
                if self.args.explain {
                    eprint!("{}", explain(std::slice::from_ref(&stage), &costs, &choice));
                }
                let spec = choice.spec;
                self.choices.push((stage.name, choice));
                spec
            }
            kind => BackendSpec { kind, workers: self.args.workers, pin: self.args.pin },
        })
    }

    /// Replaces `exec` when the backend for the next stage differs from it.
    pub fn switch(
        &mut self,
        exec: &mut Executor,
        profile: impl FnMut(&ProfilePool<'_>) -> Result<StageProfile>,
    ) -> Result<()> {
        let spec = self.spec_for(profile)?;
        if !same_backend(exec.spec(), spec) {
            *exec = self.start(spec)?;
        }
        Ok(())
    }

    /// "auto chose ..." lines for the summary, with predicted and actual times.
    pub fn summary(&self, actual: &[(&str, f64)]) -> String {
        let mut out = String::new();
        for (stage, choice) in &self.choices {
            let took = actual.iter().find(|(s, _)| s == stage).map_or(f64::NAN, |a| a.1);
            out.push_str(&format!(
                "auto: {stage} on {} (predicted {}, took {}; profiling {}, {} of it kept)\n",
                choice.spec,
                Seconds(choice.predicted()),
                Seconds(took),
                Seconds::from(choice.profiling),
                Seconds::from(choice.kept)
            ));
        }
        out
    }
}

/// Whether `a` already is `b` (worker count 0 means one per core): a stage chosen on `b`
/// keeps the executor of a stage on `a`.
fn same_backend(a: BackendSpec, b: BackendSpec) -> bool {
    a.kind == b.kind
        && a.pin == b.pin
        && (a.kind == BackendKind::Serial || a.resolved().workers == b.resolved().workers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn costs() -> TransportCosts {
        TransportCosts {
            start_first: 0.010,
            start_more: 0.002,
            rtt_pipe: 40e-6,
            rtt_shm: 40e-6,
            pipe_bandwidth: 1e9,
            measuring: Duration::ZERO,
        }
    }

    fn stage(compute: f64, speedup: f64, tasks: u64, bytes: u64) -> StageProfile {
        StageProfile {
            name: "t",
            tasks,
            compute: Duration::from_secs_f64(compute),
            thread_speedup: speedup,
            threads_measured: 2,
            pipe_bytes: bytes,
            ..StageProfile::default()
        }
    }

    /// The choice on a machine of 2 cores (this one's size, whatever runs the test).
    fn pick(s: StageProfile, target: usize) -> BackendSpec {
        choose_on(&[s], &costs(), target, 2, false).spec
    }

    #[test]
    fn amdahl_fit_recovers_the_serial_fraction() {
        assert!((serial_fraction(2.0, 2) - 0.0).abs() < 1e-12);
        assert!((serial_fraction(1.0, 2) - 1.0).abs() < 1e-12);
        let sigma = 0.1;
        let s4 = speedup(sigma, 4);
        assert!((serial_fraction(s4, 4) - sigma).abs() < 1e-12);
    }

    #[test]
    fn starting_counts_the_profiling_threads_once_a_stage_runs_on_them() {
        let mut selector = Selector::new(SelectorOptions::auto(2));
        // A profile that waits for the threads, then reports a millisecond more than that.
        let waits = std::cell::RefCell::new(Vec::new());
        let on = |pool: &ProfilePool<'_>, compute: f64, speedup: f64| {
            pool.running();
            waits.borrow_mut().push(pool.waited());
            let threads_measured = pool.threads();
            let profiling = pool.waited() + Duration::from_millis(1);
            Ok(StageProfile { threads_measured, profiling, ..stage(compute, speedup, 64, 0) })
        };
        // A stage that threads slow down runs serially: the pool was only for profiling.
        let mut exec = selector.executor_for(None, |pool| on(pool, 1e-3, 0.5)).unwrap();
        let pool = selector.pool.clone().expect("auto profiles on a pool");
        assert!(
            selector.pool_start > waits.borrow()[0],
            "the pool's start is timed, its wait included"
        );
        let profiled = selector.choices[0].1.profiling;
        assert_eq!(profiled, Duration::from_millis(1), "the wait is not the profile's");
        assert_eq!(exec.spec().kind, BackendKind::Serial);
        assert!(!selector.pool_ran_a_stage && !exec.runs_on(&pool));
        assert_eq!(selector.starting(), selector.other_starts);
        // A stage that scales runs on the pool that profiled it, whose start is then the job's.
        let threads = pool.current_num_threads() as f64;
        selector.switch(&mut exec, |pool| on(pool, 10.0, threads)).unwrap();
        assert_eq!(
            waits.borrow()[1],
            Duration::ZERO,
            "threads seen running are not waited for again"
        );
        assert_eq!(exec.runs_on(&pool), exec.spec().kind == BackendKind::Threads);
        assert_eq!(selector.pool_ran_a_stage, exec.runs_on(&pool));
        if exec.runs_on(&pool) {
            assert_eq!(selector.starting(), selector.pool_start + selector.other_starts);
        }
    }

    #[test]
    fn a_stage_profiled_on_more_threads_than_the_cores_read_later_allow_is_profiled_again() {
        let cores = available_cores();
        let mut selector = Selector::new(SelectorOptions::auto(cores + 1));
        // As if the affinity mask showed a core more than the quota allows.
        selector.pool = Some(Arc::new(super::super::thread_pool(cores + 1, false).unwrap()));
        let mut seen = Vec::new();
        let mut on = |pool: &ProfilePool<'_>| {
            seen.push(pool.threads());
            Ok(stage(0.001, 1.0, 1, 0))
        };
        // The quota not read yet: the pool's size stands, then the stage is profiled again.
        selector.profile_stage(None, &mut on).unwrap();
        // The right size now, read or not: once.
        selector.profile_stage(None, &mut on).unwrap();
        selector.profile_stage(Some(cores), &mut on).unwrap();
        assert_eq!(seen, [cores + 1, cores, cores, cores]);
    }

    #[test]
    fn a_tiny_job_does_not_pay_for_processes() {
        // 5 ms of compute: starting a worker alone costs twice that.
        let spec = pick(stage(0.005, 1.9, 10, 1000), 2);
        assert!(matches!(spec.kind, BackendKind::Serial | BackendKind::Threads), "{spec}");
    }

    #[test]
    fn a_job_that_does_not_scale_stays_serial_unless_too_close_to_call() {
        let spec = pick(stage(2.0, 0.8, 100, 0), 2);
        assert_eq!(spec.kind, BackendKind::Serial, "threads measured slower: {spec}");
        // A speedup of 1.0 predicts a tie: threads lose nothing then, and win if it was noise.
        let spec = pick(stage(2.0, 1.0, 100, 0), 2);
        assert_eq!((spec.kind, spec.workers), (BackendKind::Threads, 2), "{spec}");
    }

    #[test]
    fn processes_lose_to_threads_by_what_they_cost_and_pipes_by_their_bytes() {
        let s = stage(20.0, 1.95, 10_000, 4_000_000_000);
        let cost =
            |kind, workers| predict(&s, &costs(), BackendSpec { kind, workers, pin: false }, 2);
        let threads = cost(BackendKind::Threads, 2);
        let shm = cost(BackendKind::Shm, 2);
        let pipe = cost(BackendKind::Pipe, 2);
        // shm: start-up and 10,000 round trips of 40 us over 2 workers on top of threads' time.
        assert!((shm - threads - (0.012 + 10_000.0 * 40e-6 / s.thread_speedup)).abs() < 1e-6);
        // pipe: 4 GB at 1 GB/s more.
        assert!((pipe - shm - 4.0).abs() < 1e-6, "{pipe} {shm}");
        assert!(process_floor(&[s], 2) <= threads + 1e-12, "the floor bounds every process");
    }

    #[test]
    fn a_big_scalable_job_uses_every_core_and_avoids_moving_bytes() {
        let spec = pick(stage(20.0, 1.95, 10_000, 4_000_000_000), 2);
        assert_eq!(spec.workers, 2, "{spec}");
        assert_ne!(spec.kind, BackendKind::Pipe, "4 GB over pipes is never the best: {spec}");
    }

    #[test]
    fn stages_are_profiled_on_the_cores_available_up_to_the_target() {
        for target in [1, 2, 64] {
            let mut selector = Selector::new(SelectorOptions::auto(target));
            let mut threads = 0;
            selector
                .executor_for(None, |pool| {
                    threads = pool.threads();
                    Ok(stage(0.001, 1.0, 1, 0))
                })
                .unwrap();
            assert_eq!(threads, target.min(available_cores()), "target {target}");
        }
    }

    #[test]
    fn candidates_cover_the_study_worker_counts() {
        let c = candidates(6);
        let shm: Vec<usize> =
            c.iter().filter(|s| s.kind == BackendKind::Shm).map(|s| s.workers).collect();
        assert_eq!(shm, vec![1, 2, 4, 6]);
        assert_eq!(c[0].kind, BackendKind::Serial);
        assert!(!c.iter().any(|s| s.kind == BackendKind::Threads && s.workers == 1));
        let one = candidates(1);
        assert!(one.iter().all(|s| s.workers == 1));
    }
}
