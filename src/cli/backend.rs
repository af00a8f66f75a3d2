//! `--backend`, `--workers`, `--pin`, `--target-cores`, `--explain`: how `sample`, `impute` and
//! `run` execute.

use clap::Args;
use medimpute::backend::select::{self, Choice, StageProfile, TransportCosts};
use medimpute::backend::{available_cores, BackendKind, BackendSpec, Executor};
use medimpute::Result;

/// Execution settings shared by `sample`, `impute` and `run`.
#[derive(Debug, Args, Clone)]
pub struct BackendArgs {
    /// serial (one thread), threads (a thread pool), pipe (worker processes fed over pipes),
    /// shm (worker processes sharing the grid in memory), or auto: a few of the job's tasks are
    /// timed, a cost model predicts every candidate, the fastest runs (see --explain).
    #[arg(long, default_value = "auto")]
    pub backend: BackendKind,
    /// Threads or worker processes (0 = one per core); with auto, chosen by the selector.
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Pin each thread or worker process to its own core.
    #[arg(long)]
    pub pin: bool,
    /// auto: the most workers to consider (default: this machine's cores).
    #[arg(long, value_name = "N")]
    pub target_cores: Option<usize>,
    /// auto: print the measurements, each candidate's predicted time, and the choice.
    #[arg(long)]
    pub explain: bool,
}

/// Chooses backends for the stages of one job, measuring the transports once.
pub struct Selector {
    args: BackendArgs,
    costs: Option<TransportCosts>,
    /// The choices made, for the closing summary: (stage, choice).
    pub choices: Vec<(&'static str, Choice)>,
}

impl Selector {
    pub fn new(args: &BackendArgs) -> Self {
        Selector { args: args.clone(), costs: None, choices: Vec::new() }
    }

    /// The backend for a stage: the one asked for, or under auto the one the model predicts
    /// fastest from `profile(threads)`. Keeps `current` when it is already that backend.
    pub fn executor_for(
        &mut self,
        current: Option<Executor>,
        profile: impl FnOnce(usize) -> Result<StageProfile>,
    ) -> Result<Executor> {
        let spec = self.spec_for(profile)?;
        match current {
            Some(exec) if same(exec.spec(), spec) => Ok(exec),
            other => {
                drop(other);
                Executor::start(spec)
            }
        }
    }

    /// The backend for a stage (see [`Selector::executor_for`]).
    fn spec_for(
        &mut self,
        profile: impl FnOnce(usize) -> Result<StageProfile>,
    ) -> Result<BackendSpec> {
        Ok(match self.args.backend {
            BackendKind::Auto => {
                let target = self.args.target_cores.unwrap_or_else(available_cores).max(1);
                let stage = profile(target.min(available_cores()))?;
                let local = select::local_best(std::slice::from_ref(&stage), target);
                // Measured once per run, in full unless processes are ruled out by their
                // start-up alone; a later stage that could use them measures again.
                let costs = match self.costs {
                    Some(costs) if costs.rtt_pipe > 0.0 || costs.start_first >= local => costs,
                    _ => *self.costs.insert(TransportCosts::measure(local)?),
                };
                let choice =
                    select::choose(std::slice::from_ref(&stage), &costs, target, self.args.pin);
                if self.args.explain {
                    eprint!("{}", select::explain(std::slice::from_ref(&stage), &costs, &choice));
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
        profile: impl FnOnce(usize) -> Result<StageProfile>,
    ) -> Result<()> {
        let spec = self.spec_for(profile)?;
        if !same(exec.spec(), spec) {
            *exec = Executor::start(spec)?;
        }
        Ok(())
    }

    /// "auto chose ..." lines for the summary, with predicted and actual times.
    pub fn summary(&self, actual: &[(&str, f64)]) -> String {
        let mut out = String::new();
        for (stage, choice) in &self.choices {
            let took = actual.iter().find(|(s, _)| s == stage).map_or(f64::NAN, |a| a.1);
            out.push_str(&format!(
                "auto: {stage} on {} (predicted {:.2} s, took {:.2} s; profiling {:.3} s)\n",
                choice.spec,
                choice.predicted(),
                took,
                choice.profiling.as_secs_f64()
            ));
        }
        out
    }
}

/// Whether `a` already is `b` (worker count 0 means one per core).
fn same(a: BackendSpec, b: BackendSpec) -> bool {
    let workers = |s: BackendSpec| if s.workers == 0 { available_cores() } else { s.workers };
    a.kind == b.kind
        && a.pin == b.pin
        && (a.kind == BackendKind::Serial || workers(a) == workers(b))
}
