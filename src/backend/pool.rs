//! The coordinator side of the process backends: a pool of worker processes and the scheduler
//! that feeds them.
//!
//! Scheduling is dynamic: a worker gets its next task when it reports the last one done, so
//! uneven tasks (items and admissions differ a lot) balance by themselves. Tasks carry an
//! *affinity* key (the training set a tree is grown from, say): an idle worker keeps to its
//! key while that key has tasks left, so the inputs it already holds are reused rather than sent
//! or decoded again; when its key runs dry it joins the key with the most tasks left, which
//! splits the largest remaining groups between workers.
//!
//! Faults: a worker that dies, closes its pipe, or sends anything that is not a valid frame is
//! killed and replaced, and its task goes back to the queue. A task that has failed
//! [`MAX_ATTEMPTS`] times, or more deaths than [`deaths_allowed`], end the run with
//! [`Error::Workers`]. Dropping the pool (success, error, Ctrl-C) kills and reaps every worker
//! and removes every result segment the workers created, so that neither processes nor
//! `/dev/shm` segments outlive the run.

use super::protocol::{
    read_frame_from_pipe, write_frame, BlobMessage, Frame, FrameError, FromWorker, Region, ToWorker,
};
use super::region::{map_read, remove_results, remove_segment};
use super::Transport;
use crate::cancel;
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::BufWriter;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A task fails the run after this many tries on workers that died under it.
pub const MAX_ATTEMPTS: u32 = 3;

/// Worker deaths tolerated in one pool's life: a few per worker, beyond which something is
/// systematically wrong (a bad binary, a machine out of memory) and retrying only hides it.
fn deaths_allowed(workers: usize) -> usize {
    2 * workers + 2
}

/// A worker writes each frame in one go: one that stops this long in the middle of a frame
/// (hung, or stalled after writing garbage) is treated as failed.
const STALL_LIMIT: Duration = Duration::from_secs(5);

/// Inputs up to this size may be sent ahead to a busy worker: less than a pipe's buffer, so
/// the write completes without the worker reading.
const PREFETCH_BYTES: usize = 32 << 10;

/// How often the scheduler's wait wakes up to check for Ctrl-C.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The bytes of an input, as the coordinator has them.
pub enum Payload<'a> {
    /// In the coordinator's memory: sent over the pipe.
    Bytes(&'a [u8]),
    /// In a shared region: only its name is sent; the worker maps it.
    Region(Region),
}

/// One task for the pool.
pub struct RemoteTask<'a> {
    /// The job-specific description the worker's job decodes.
    pub spec: serde_json::Value,
    /// Inputs by id; each is sent to a worker once per job, however many tasks need it.
    pub inputs: Vec<(String, Payload<'a>)>,
    /// Inputs of this task alone (a piece of a table): sent with it, dropped after it.
    pub scratch: Vec<(String, Payload<'a>)>,
    /// A shared region the task writes its result into, in place.
    pub output: Option<Region>,
    /// Tasks with the same key share inputs: a worker keeps to one key while it has tasks.
    pub affinity: u64,
}

/// A task's result as the coordinator receives it.
pub struct Completion {
    pub meta: serde_json::Value,
    pub data: TaskData,
}

/// Where a task's bulk result is.
pub enum TaskData {
    /// Came over the pipe (possibly empty).
    Inline(Vec<u8>),
    /// In a segment the worker created; removed by [`Completion::discard`], or by the pool
    /// when the job ends.
    Region(Region),
}

impl Completion {
    /// The bulk result's bytes, mapping its segment if it has one.
    pub fn bytes(&self) -> Result<Cow<'_, [u8]>> {
        match &self.data {
            TaskData::Inline(bytes) => Ok(Cow::Borrowed(bytes)),
            TaskData::Region(region) => map_read(region)
                .map(|map| Cow::Owned(map.to_vec()))
                .map_err(|e| Error::Workers(format!("cannot map a result: {e}"))),
        }
    }

    /// Reads the bulk result in place (the pipe's buffer, or its segment mapped) with `f`.
    pub fn read<T>(&self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        match &self.data {
            TaskData::Inline(bytes) => Ok(f(bytes)),
            TaskData::Region(region) => map_read(region)
                .map(|map| f(&map))
                .map_err(|e| Error::Workers(format!("cannot map a result: {e}"))),
        }
    }

    /// Removes the result's segment, if it has one, once no task will read it again (a failed
    /// task is re-run, so only after the tasks that read it have completed). Inline results
    /// are left to their owner.
    pub fn discard(&self) {
        if let TaskData::Region(region) = &self.data {
            remove_segment(region);
        }
    }

    /// The bulk result as an input of later tasks, without copying it.
    pub fn as_payload(&self) -> Payload<'_> {
        match &self.data {
            TaskData::Inline(bytes) => Payload::Bytes(bytes),
            TaskData::Region(region) => Payload::Region(region.clone()),
        }
    }
}

/// What a pool has done so far, for the reports and the benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    pub tasks: u64,
    /// Time spent inside tasks, summed over workers.
    pub compute: Duration,
    /// Bulk bytes sent to workers and received from them over pipes.
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Workers replaced after dying or misbehaving.
    pub replaced: u64,
    /// Time to start the workers (until each said it was ready).
    pub startup: Duration,
    /// Time since the pool started.
    pub alive: Duration,
    pub workers: usize,
}

impl PoolStats {
    /// The share of the workers' time (workers x time alive) not spent inside tasks: starting,
    /// waiting for work, moving data. What shared memory is meant to shrink.
    pub fn outside_compute(&self) -> f64 {
        let capacity = self.workers as f64 * self.alive.as_secs_f64();
        if capacity <= 0.0 {
            return 0.0;
        }
        (1.0 - self.compute.as_secs_f64() / capacity).max(0.0)
    }
}

struct Worker {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    reader: Option<std::thread::JoinHandle<()>>,
    /// Bumped on every replacement: events of a replaced worker are ignored.
    generation: u64,
    /// Inputs this worker holds for the current job.
    blobs: HashSet<String>,
    /// The tasks sent to it and not yet answered, oldest (running) first: indices into the
    /// current run's tasks.
    busy: VecDeque<usize>,
    affinity: Option<u64>,
}

enum Event {
    Frame { slot: usize, generation: u64, frame: Frame<FromWorker> },
    Lost { slot: usize, generation: u64, error: FrameError },
}

/// A pool of worker processes.
pub struct ProcessPool {
    transport: Transport,
    pin: bool,
    exe: PathBuf,
    workers: Vec<Worker>,
    events: mpsc::Receiver<Event>,
    sender: mpsc::Sender<Event>,
    job: Option<serde_json::Value>,
    next_index: usize,
    next_generation: u64,
    deaths: usize,
    next_task_id: u64,
    stats: PoolStats,
    started: Instant,
}

/// The `medimpute` executable, which workers (and the benches' fresh jobs) run: this one,
/// unless `MEDIMPUTE_WORKER_EXE` names another (library tests and benches, whose own executable
/// has no `worker` subcommand).
pub(crate) fn medimpute_exe() -> Result<PathBuf> {
    match std::env::var_os("MEDIMPUTE_WORKER_EXE") {
        Some(exe) => Ok(PathBuf::from(exe)),
        None => std::env::current_exe()
            .map_err(|e| Error::Workers(format!("cannot find this executable: {e}"))),
    }
}

impl ProcessPool {
    /// Starts `workers` worker processes and waits until each is ready.
    pub fn start(workers: usize, transport: Transport, pin: bool) -> Result<Self> {
        assert!(workers > 0, "a pool needs at least one worker");
        let start = Instant::now();
        // Segments of runs that were killed before they could clean up are removed first: they
        // take memory, and nothing will ever remove them otherwise.
        super::region::sweep_stale();
        let (sender, events) = mpsc::channel();
        let mut pool = ProcessPool {
            transport,
            pin,
            exe: medimpute_exe()?,
            workers: Vec::with_capacity(workers),
            events,
            sender,
            job: None,
            next_index: 0,
            next_generation: 0,
            deaths: 0,
            next_task_id: 0,
            stats: PoolStats { workers, ..PoolStats::default() },
            started: start,
        };
        for slot in 0..workers {
            let worker = pool.spawn(slot)?;
            pool.workers.push(worker);
        }
        let mut ready = 0;
        while ready < workers {
            cancel::check()?;
            match pool.events.recv_timeout(CHECK_INTERVAL) {
                Ok(Event::Frame {
                    frame: Frame { message: FromWorker::Ready { .. }, .. }, ..
                }) => ready += 1,
                Ok(Event::Lost { error, .. }) => {
                    return Err(Error::Workers(format!("a worker failed to start: {error}")))
                }
                Ok(_) => return Err(Error::Workers("a worker spoke before it was ready".into())),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    unreachable!("the pool holds a sender")
                }
            }
        }
        pool.stats.startup = start.elapsed();
        Ok(pool)
    }

    /// Number of worker processes.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// The transport bulk data takes.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Counters since the pool started.
    pub fn stats(&self) -> PoolStats {
        PoolStats { alive: self.started.elapsed(), ..self.stats }
    }

    /// Starts a worker for `slot` (a new one, or the replacement of a failed one).
    fn spawn(&mut self, slot: usize) -> Result<Worker> {
        let index = self.next_index;
        self.next_index += 1;
        let mut command = Command::new(&self.exe);
        command
            .arg("worker")
            .arg("--transport")
            .arg(self.transport.name())
            .arg("--coordinator")
            .arg(std::process::id().to_string())
            .arg("--index")
            .arg(index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if self.pin {
            command.arg("--pin-core").arg(index.to_string());
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                // Die with the coordinator, however it dies (even SIGKILL).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                // Ctrl-C reaches the whole process group; the coordinator alone decides.
                libc::signal(libc::SIGINT, libc::SIG_IGN);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| Error::Workers(format!("cannot start {}: {e}", self.exe.display())))?;
        let stdin = BufWriter::with_capacity(1 << 16, child.stdin.take().expect("piped"));
        let stdout = child.stdout.take().expect("piped");
        let generation = self.next_generation;
        self.next_generation += 1;
        let sender = self.sender.clone();
        let reader = std::thread::Builder::new()
            .name(format!("medimpute-pool-{index}"))
            .spawn(move || {
                let mut input = stdout;
                loop {
                    let event = match read_frame_from_pipe::<FromWorker>(&mut input, STALL_LIMIT) {
                        Ok(frame) => Event::Frame { slot, generation, frame },
                        Err(error) => {
                            let _ = sender.send(Event::Lost { slot, generation, error });
                            return;
                        }
                    };
                    if sender.send(event).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Workers(format!("cannot start a reader thread: {e}")))?;
        let mut worker = Worker {
            child,
            stdin,
            reader: Some(reader),
            generation,
            blobs: HashSet::new(),
            busy: VecDeque::new(),
            affinity: None,
        };
        if let Some(job) = &self.job {
            write_frame(&mut worker.stdin, &ToWorker::Setup { job: job.clone() }, &[])
                .map_err(|e| Error::Workers(format!("cannot set up a new worker: {e}")))?;
        }
        Ok(worker)
    }

    /// Starts a new job on every worker: its settings, and no inputs yet.
    pub fn setup(&mut self, job: serde_json::Value) -> Result<()> {
        remove_results(std::process::id());
        for slot in 0..self.workers.len() {
            let worker = &mut self.workers[slot];
            worker.blobs.clear();
            worker.affinity = None;
            if write_frame(&mut worker.stdin, &ToWorker::Setup { job: job.clone() }, &[]).is_err() {
                // Found dead: replaced below, and the replacement gets the job.
                self.job = Some(job.clone());
                self.replace(slot, "its pipe closed")?;
            }
        }
        self.job = Some(job);
        Ok(())
    }

    /// Runs `tasks` to completion, calling `on_done(index, completion)` as each finishes (in
    /// completion order, which varies from run to run: callers place results by index).
    pub fn run<'a>(
        &mut self,
        tasks: &[RemoteTask<'a>],
        mut on_done: impl FnMut(usize, Completion) -> Result<()>,
    ) -> Result<()> {
        let base = self.next_task_id;
        self.next_task_id += tasks.len() as u64;
        let mut queue = Queue::new(tasks);
        let mut attempts = vec![0u32; tasks.len()];
        let mut remaining = tasks.len();
        while remaining > 0 {
            cancel::check()?;
            for slot in 0..self.workers.len() {
                while let Some(task) = self.next_for(slot, tasks, &mut queue) {
                    self.workers[slot].busy.push_back(task);
                    self.workers[slot].affinity = Some(tasks[task].affinity);
                    if let Err(error) = self.send(slot, &tasks[task], base + task as u64) {
                        self.lost(slot, &error.to_string(), &mut queue, &mut attempts)?;
                        break;
                    }
                }
            }
            let event = match self.events.recv_timeout(CHECK_INTERVAL) {
                Ok(event) => event,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    unreachable!("the pool holds a sender")
                }
            };
            match event {
                Event::Frame { slot, generation, .. } | Event::Lost { slot, generation, .. }
                    if self.workers[slot].generation != generation => {}
                Event::Frame { frame: Frame { message: FromWorker::Ready { .. }, .. }, .. } => {}
                Event::Frame { slot, frame, .. } => {
                    let (id, completion) = match frame.message {
                        FromWorker::Done { id, meta, region, compute_ns } => {
                            self.stats.compute += Duration::from_nanos(compute_ns);
                            self.stats.bytes_received += frame.raw.len() as u64;
                            let data = match region {
                                Some(region) => TaskData::Region(region),
                                None => TaskData::Inline(frame.raw),
                            };
                            (id, Completion { meta, data })
                        }
                        FromWorker::Failed { error, .. } => return Err(Error::Workers(error)),
                        FromWorker::Ready { .. } => unreachable!("matched above"),
                    };
                    // Left in place when it does not match, so that `lost` requeues it.
                    let task = self.workers[slot].busy.front().copied();
                    if task.map(|t| base + t as u64) != Some(id) {
                        self.lost(
                            slot,
                            &format!("answered task {id}, not the one it was given"),
                            &mut queue,
                            &mut attempts,
                        )?;
                        continue;
                    }
                    self.workers[slot].busy.pop_front();
                    self.stats.tasks += 1;
                    remaining -= 1;
                    on_done(task.expect("checked"), completion)?;
                }
                Event::Lost { slot, error, .. } => {
                    self.lost(slot, &error.to_string(), &mut queue, &mut attempts)?;
                }
            }
        }
        Ok(())
    }

    /// The next task for worker `slot`, if it should get one now: always when it is idle; while
    /// it runs one, a second is sent ahead so that it never waits for a round trip between
    /// tasks, but only when what must be sent is small (names, or inputs it already holds):
    /// a large write would block the scheduler until the busy worker reads it.
    fn next_for(&self, slot: usize, tasks: &[RemoteTask<'_>], queue: &mut Queue) -> Option<usize> {
        let worker = &self.workers[slot];
        match worker.busy.len() {
            0 => queue.pop(worker.affinity),
            1 => {
                let task = queue.peek(worker.affinity)?;
                let unsent: usize = tasks[task]
                    .inputs
                    .iter()
                    .filter(|(id, _)| !worker.blobs.contains(id))
                    .chain(&tasks[task].scratch)
                    .map(|(_, payload)| match payload {
                        Payload::Bytes(bytes) => bytes.len(),
                        Payload::Region(_) => 0,
                    })
                    .sum();
                (unsent <= PREFETCH_BYTES).then(|| queue.pop(worker.affinity)).flatten()
            }
            _ => None,
        }
    }

    /// Sends a task and the inputs the worker lacks.
    fn send(&mut self, slot: usize, task: &RemoteTask<'_>, id: u64) -> std::io::Result<()> {
        let worker = &mut self.workers[slot];
        let inputs = task.inputs.iter().map(|i| (i, false));
        for ((blob, payload), scratch) in inputs.chain(task.scratch.iter().map(|i| (i, true))) {
            if !scratch && worker.blobs.contains(blob) {
                continue;
            }
            let (region, raw): (Option<Region>, &[u8]) = match payload {
                Payload::Bytes(bytes) => (None, bytes),
                Payload::Region(region) => (Some(region.clone()), &[]),
            };
            let message = ToWorker::Blob(BlobMessage { id: blob.clone(), region, scratch });
            write_frame(&mut worker.stdin, &message, raw)?;
            self.stats.bytes_sent += raw.len() as u64;
            if !scratch {
                worker.blobs.insert(blob.clone());
            }
        }
        let message = ToWorker::Task { id, spec: task.spec.clone(), output: task.output.clone() };
        write_frame(&mut worker.stdin, &message, &[])
    }

    /// Worker `slot` is gone or broken: replace it and requeue its task.
    fn lost(
        &mut self,
        slot: usize,
        why: &str,
        queue: &mut Queue,
        attempts: &mut [u32],
    ) -> Result<()> {
        cancel::check()?;
        let pid = self.workers[slot].child.id();
        let why = match ending(&mut self.workers[slot].child) {
            Some(how) => format!("{why}; {how}"),
            None => why.to_string(),
        };
        let why = why.as_str();
        let unanswered = std::mem::take(&mut self.workers[slot].busy);
        eprintln!("medimpute: worker {pid} failed ({why}); replacing it");
        // The oldest task was running when the worker failed: it counts an attempt. The others
        // had only been queued behind it.
        if let Some(&running) = unanswered.front() {
            attempts[running] += 1;
            if attempts[running] >= MAX_ATTEMPTS {
                return Err(Error::Workers(format!(
                    "a task failed on {MAX_ATTEMPTS} workers in a row (last: worker {pid}: {why})"
                )));
            }
        }
        for &task in unanswered.iter().rev() {
            queue.push_front(task);
        }
        self.replace(slot, why)
    }

    fn replace(&mut self, slot: usize, why: &str) -> Result<()> {
        self.deaths += 1;
        if self.deaths > deaths_allowed(self.workers.len()) {
            return Err(Error::Workers(format!(
                "{} worker failures, the last: {why}",
                self.deaths
            )));
        }
        let fresh = self.spawn(slot)?;
        let old = std::mem::replace(&mut self.workers[slot], fresh);
        retire(old);
        self.stats.replaced += 1;
        Ok(())
    }
}

/// How a worker's process ended, if it has (or does within a moment: its pipe closes as it
/// exits, a little before the kernel reports its status). A worker that fails by ending says
/// nothing itself, and the kernel's out-of-memory killer says nothing either: its SIGKILL is
/// the one clue a user gets that the job needs less memory per worker (or `shm`: a `pipe`
/// worker holds every block of the grid it was sent, docs/backends.md).
fn ending(child: &mut Child) -> Option<String> {
    let deadline = Instant::now() + Duration::from_millis(100);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(describe_exit(status)),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => return None,
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(libc::SIGKILL)) => {
            "killed by SIGKILL: out of memory (the kernel's OOM killer), or kill -9".to_string()
        }
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), _) => format!("exited with code {code}"),
        (None, None) => "ended".to_string(),
    }
}

/// Kills and reaps a worker (it is replaced or the pool is done).
fn retire(mut worker: Worker) {
    let _ = worker.child.kill();
    let _ = worker.child.wait();
    if let Some(reader) = worker.reader.take() {
        let _ = reader.join();
    }
}

impl Drop for ProcessPool {
    fn drop(&mut self) {
        // Closing stdin asks idle workers to exit; busy ones are killed after a short grace.
        let workers = std::mem::take(&mut self.workers);
        let mut children = Vec::new();
        for worker in workers {
            let Worker { child, stdin, reader, .. } = worker;
            drop(stdin);
            children.push((child, reader));
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        for (child, _) in &mut children {
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for (_, reader) in children {
            if let Some(reader) = reader {
                let _ = reader.join();
            }
        }
        // Only now, with every worker reaped, can no new result segment appear.
        remove_results(std::process::id());
    }
}

/// Pending tasks grouped by affinity key, largest group first for a worker without one.
struct Queue {
    affinity: Vec<u64>,
    groups: HashMap<u64, VecDeque<usize>>,
    by_size: BTreeSet<(Reverse<usize>, u64)>,
}

impl Queue {
    fn new(tasks: &[RemoteTask<'_>]) -> Self {
        let mut groups: HashMap<u64, VecDeque<usize>> = HashMap::new();
        for (i, task) in tasks.iter().enumerate() {
            groups.entry(task.affinity).or_default().push_back(i);
        }
        let by_size = groups.iter().map(|(&key, q)| (Reverse(q.len()), key)).collect();
        Queue { affinity: tasks.iter().map(|t| t.affinity).collect(), groups, by_size }
    }

    fn resize(&mut self, key: u64, before: usize) {
        self.by_size.remove(&(Reverse(before), key));
        let after = self.groups.get(&key).map_or(0, VecDeque::len);
        if after > 0 {
            self.by_size.insert((Reverse(after), key));
        } else {
            self.groups.remove(&key);
        }
    }

    fn key_for(&self, affinity: Option<u64>) -> Option<u64> {
        match affinity.filter(|k| self.groups.contains_key(k)) {
            Some(key) => Some(key),
            None => Some(self.by_size.first()?.1),
        }
    }

    /// The task [`Queue::pop`] would return, left in the queue.
    fn peek(&self, affinity: Option<u64>) -> Option<usize> {
        self.groups.get(&self.key_for(affinity)?)?.front().copied()
    }

    /// The next task for a worker that last ran tasks of `affinity`.
    fn pop(&mut self, affinity: Option<u64>) -> Option<usize> {
        let key = self.key_for(affinity)?;
        let group = self.groups.get_mut(&key).expect("listed groups exist");
        let before = group.len();
        let task = group.pop_front();
        self.resize(key, before);
        task
    }

    /// Puts a task back at the front of its group (its worker died).
    fn push_front(&mut self, task: usize) {
        let key = self.affinity[task];
        let group = self.groups.entry(key).or_default();
        let before = group.len();
        group.push_front(task);
        if before > 0 {
            self.by_size.remove(&(Reverse(before), key));
        }
        self.by_size.insert((Reverse(before + 1), key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tasks(affinities: &[u64]) -> Vec<RemoteTask<'static>> {
        affinities
            .iter()
            .map(|&affinity| RemoteTask {
                spec: serde_json::Value::Null,
                inputs: Vec::new(),
                scratch: Vec::new(),
                output: None,
                affinity,
            })
            .collect()
    }

    #[test]
    fn a_worker_keeps_to_its_key_then_joins_the_largest_group() {
        // Key 7 has three tasks, key 3 two, key 9 one.
        let t = tasks(&[3, 7, 7, 3, 7, 9]);
        let mut q = Queue::new(&t);
        assert_eq!(q.pop(None), Some(1), "no key yet: the largest group, first task");
        assert_eq!(q.pop(Some(3)), Some(0), "keeps to its key");
        assert_eq!(q.peek(Some(3)), Some(3));
        assert_eq!(q.pop(Some(3)), Some(3));
        assert_eq!(q.pop(Some(3)), Some(2), "key 3 ran dry: joins key 7, the largest left");
        assert_eq!(q.pop(Some(7)), Some(4));
        assert_eq!(q.pop(Some(7)), Some(5));
        assert_eq!(q.pop(None), None);
    }

    #[test]
    fn a_requeued_task_goes_back_to_the_front_of_its_group() {
        let t = tasks(&[1, 1, 2]);
        let mut q = Queue::new(&t);
        let first = q.pop(Some(1)).unwrap();
        q.push_front(first);
        assert_eq!(q.pop(Some(1)), Some(first));
        let mut seen = vec![first];
        while let Some(task) = q.pop(None) {
            seen.push(task);
        }
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2], "every task exactly once");
    }
}
