//! Pipe against shared memory for moving a task's data to a worker process, with a `memcpy` of
//! the same bytes as the physical reference.
//!
//! One pool per transport, one worker each, both alive for the whole run. For every size the
//! payload is generated once, copied once into a shared segment, and then each repeat times, in
//! its own shuffled [order](super::order) so that no contender always runs on a cache the same
//! one warmed:
//!
//! - `pipe`: one task whose input travels over the worker's stdin;
//! - `shm`: one task whose input is the segment, of which only the name crosses the pipe;
//! - `memcpy`: a copy of the bytes into a buffer allocated once, then the same read the worker
//!   does, since a transfer nobody reads proves nothing;
//! - `read`: that read alone, so that readers can subtract what the worker's share costs.
//!
//! A task's time is the wall time of [`ProcessPool::run`] for it: sending, the worker's read,
//! and the answer coming back. Every answer carries the worker's checksum of what it read; one
//! that differs from the coordinator's is an error, so a finished run proves the bytes arrived.

use crate::backend::region::shared_region;
use crate::backend::worker::{Blobs, TaskResult, WorkerJob};
use crate::backend::{available_cores, Payload, ProcessPool, RemoteTask, Transport};
use crate::bench::table::summary;
use crate::error::{Error, Result};
use crate::grid::{ByteStorage, SharedBytes};
use crate::jobs::JobSpec;
use crate::units::{three_digits, time_unit, Seconds};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Clone, Debug)]
pub struct IpcOptions {
    /// Payload sizes in bytes.
    pub sizes: Vec<usize>,
    /// Transfers per size and transport (the median is reported).
    pub repeats: usize,
    /// Where to write `ipc.md` and `ipc.json` (none: print only).
    pub out_dir: Option<PathBuf>,
}

/// The job workers run for this benchmark: read every byte of the task's input.
#[derive(Serialize, Deserialize)]
pub struct TransferJob {}

/// The worker half of [`TransferJob`].
pub struct TransferWorker;

impl WorkerJob for TransferWorker {
    fn run(
        &mut self,
        _spec: &serde_json::Value,
        blobs: &mut Blobs,
        _output: Option<&mut [u8]>,
    ) -> std::result::Result<TaskResult, String> {
        let sum = checksum(blobs.get("data")?);
        // The threads a task's parallel loops would use, reported for the tests.
        let threads = rayon::current_num_threads();
        Ok(TaskResult {
            meta: serde_json::json!({ "sum": sum, "threads": threads }),
            bytes: Vec::new(),
        })
    }
}

/// The read every contender does: the wrapping sum of the bytes as big-endian 8-byte words (a
/// short last word counts as its bytes alone). It touches every byte, as a task that uses its
/// input would, and is cheap enough (it vectorises) not to hide the transports' differences.
pub fn checksum(bytes: &[u8]) -> u64 {
    let words = bytes.chunks_exact(8);
    let tail = words.remainder().iter().fold(0u64, |w, &b| (w << 8) | u64::from(b));
    words
        .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
        .fold(0u64, u64::wrapping_add)
        .wrapping_add(tail)
}

/// One size's payload: the bytes in this process's heap (what `pipe` sends and `memcpy`
/// copies), the same bytes in a shared segment (what `shm` names), and the `memcpy` target.
/// All allocated and touched once, so that no timing includes a first-touch page fault.
pub struct Buffers {
    data: Vec<u8>,
    segment: SharedBytes,
    copy: Vec<u8>,
    sum: u64,
}

impl Buffers {
    /// `len` pseudo-random bytes (not zeros: a checksum of zeros would prove little).
    pub fn new(len: usize) -> Result<Self> {
        let mut data = vec![0u8; len];
        fill(&mut data, len as u64);
        let mut segment = SharedBytes::create(len)?;
        segment.bytes_mut().copy_from_slice(&data);
        let sum = checksum(&data);
        Ok(Buffers { copy: data.clone(), data, segment, sum })
    }

    /// Bytes per transfer.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The checksum every reader of these bytes must find.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Copies the bytes into the preallocated target and reads the copy.
    pub fn memcpy(&mut self) -> Duration {
        let start = Instant::now();
        self.copy.copy_from_slice(black_box(&self.data));
        black_box(checksum(black_box(&self.copy)));
        start.elapsed()
    }

    /// Reads the bytes once, as the worker does.
    pub fn read(&self) -> Duration {
        let start = Instant::now();
        black_box(checksum(black_box(&self.data)));
        start.elapsed()
    }
}

/// Fills `bytes` from a SplitMix64 stream seeded with `seed`.
fn fill(bytes: &mut [u8], seed: u64) {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for chunk in bytes.chunks_mut(8) {
        let word = next().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

/// The two pools, one worker each, set up for [`TransferJob`].
pub struct Transports {
    pipe: ProcessPool,
    shm: ProcessPool,
}

impl Transports {
    /// Starts both pools; workers are this executable unless `MEDIMPUTE_WORKER_EXE` says.
    pub fn start() -> Result<Self> {
        Ok(Transports {
            pipe: transfer_pool(Transport::Pipe)?,
            shm: transfer_pool(Transport::Shm)?,
        })
    }

    /// One task whose input goes over the worker's stdin; its round trip.
    pub fn pipe(&mut self, buffers: &Buffers) -> Result<Duration> {
        round_trip(&mut self.pipe, Payload::Bytes(&buffers.data), buffers.sum)
    }

    /// One task whose input is the shared segment, mapped by the worker; its round trip.
    pub fn shm(&mut self, buffers: &Buffers) -> Result<Duration> {
        let region = shared_region(&buffers.segment, 0, buffers.len() as u64);
        round_trip(&mut self.shm, Payload::Region(region), buffers.sum)
    }

    /// Bulk bytes each pool has written to its worker's pipe so far: what shows that `shm`
    /// moved names only.
    pub fn bytes_sent(&self) -> (u64, u64) {
        (self.pipe.stats().bytes_sent, self.shm.stats().bytes_sent)
    }
}

fn transfer_pool(transport: Transport) -> Result<ProcessPool> {
    let mut pool = ProcessPool::start(1, transport, false)?;
    let job = serde_json::to_value(JobSpec::Transfer(TransferJob {}))
        .map_err(|e| Error::Workers(format!("cannot describe the transfer job: {e}")))?;
    pool.setup(job)?;
    Ok(pool)
}

/// Runs one task reading `data` and checks the worker's checksum against `expected`.
fn round_trip(pool: &mut ProcessPool, data: Payload<'_>, expected: u64) -> Result<Duration> {
    let task = RemoteTask {
        spec: serde_json::Value::Null,
        inputs: Vec::new(),
        scratch: vec![("data".into(), data)],
        output: None,
        affinity: 0,
    };
    let mut sum = None;
    let start = Instant::now();
    pool.run(std::slice::from_ref(&task), |_, done| {
        sum = done.meta.get("sum").and_then(serde_json::Value::as_u64);
        Ok(())
    })?;
    let elapsed = start.elapsed();
    match sum {
        Some(sum) if sum == expected => Ok(elapsed),
        got => Err(Error::Workers(format!(
            "{} transfer: the worker read checksum {got:?}, the coordinator sent {expected}",
            pool.transport().name()
        ))),
    }
}

/// Median, minimum and every sample of one contender at one size, in seconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timing {
    pub median_s: f64,
    pub min_s: f64,
    pub samples_s: Vec<f64>,
}

impl Timing {
    fn of(samples: &[Duration]) -> Self {
        let samples_s: Vec<f64> = samples.iter().map(Duration::as_secs_f64).collect();
        let (_, _, median_s) = summary(&samples_s);
        let min_s = samples_s.iter().copied().fold(f64::INFINITY, f64::min);
        Timing { median_s, min_s, samples_s }
    }
}

/// One row of the report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizeResult {
    pub bytes: u64,
    pub label: String,
    /// The checksum pass alone.
    pub read: Timing,
    /// `memcpy` plus the checksum pass.
    pub memcpy: Timing,
    pub pipe: Timing,
    pub shm: Timing,
    /// Effective throughputs, `bytes / median`, in 10^9 bytes per second.
    pub memcpy_gb_s: f64,
    pub pipe_gb_s: f64,
    pub shm_gb_s: f64,
    /// Median pipe time over median shm time.
    pub pipe_over_shm: f64,
}

/// The whole run, as `ipc.json` holds it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct IpcReport {
    pub command: String,
    pub cores: usize,
    pub repeats: usize,
    /// Bulk bytes written to the workers' pipes, warm-up included.
    pub pipe_bytes_sent: u64,
    pub shm_bytes_sent: u64,
    pub sizes: Vec<SizeResult>,
}

/// The contenders; each repeat runs them in its own order.
#[derive(Clone, Copy)]
enum Contender {
    Pipe,
    Shm,
    Memcpy,
    Read,
}

const CONTENDERS: [Contender; 4] =
    [Contender::Pipe, Contender::Shm, Contender::Memcpy, Contender::Read];

/// Samples of each contender at one size, indexed like [`CONTENDERS`].
type Samples = [Vec<Duration>; 4];

fn once(which: Contender, transports: &mut Transports, buffers: &mut Buffers) -> Result<Duration> {
    match which {
        Contender::Pipe => transports.pipe(buffers),
        Contender::Shm => transports.shm(buffers),
        Contender::Memcpy => Ok(buffers.memcpy()),
        Contender::Read => Ok(buffers.read()),
    }
}

/// Times `repeats` rounds at one size after one untimed round (which lets the worker grow its
/// receive buffer and the caches settle, as they would in a job of many tasks).
fn measure_size(
    transports: &mut Transports,
    len: usize,
    repeats: usize,
    progress: &ProgressBar,
) -> Result<SizeResult> {
    let mut buffers = Buffers::new(len)?;
    for which in CONTENDERS {
        once(which, transports, &mut buffers)?;
    }
    let mut samples: Samples = Default::default();
    for round in 0..repeats {
        for slot in super::order::round_order(CONTENDERS.len(), round) {
            samples[slot].push(once(CONTENDERS[slot], transports, &mut buffers)?);
        }
        progress.inc(1);
    }
    Ok(size_result(len, &samples))
}

fn size_result(len: usize, samples: &Samples) -> SizeResult {
    let [pipe, shm, memcpy, read] = samples.each_ref().map(|s| Timing::of(s));
    let rate = |t: &Timing| len as f64 / t.median_s / 1e9;
    SizeResult {
        bytes: len as u64,
        label: size_label(len),
        memcpy_gb_s: rate(&memcpy),
        pipe_gb_s: rate(&pipe),
        shm_gb_s: rate(&shm),
        pipe_over_shm: pipe.median_s / shm.median_s,
        read,
        memcpy,
        pipe,
        shm,
    }
}

/// Runs the benchmark; returns the Markdown report (and writes it with the JSON to `out_dir`).
pub fn run(options: &IpcOptions) -> Result<String> {
    let mut transports = Transports::start()?;
    let repeats = options.repeats.max(1);
    let progress = progress_bar((options.sizes.len() * repeats) as u64);
    let mut sizes = Vec::with_capacity(options.sizes.len());
    for &len in &options.sizes {
        progress.set_message(size_label(len));
        let result = measure_size(&mut transports, len, repeats, &progress)?;
        progress.suspend(|| eprintln!("{}", progress_line(&result)));
        sizes.push(result);
    }
    progress.finish_and_clear();
    let (pipe_bytes_sent, shm_bytes_sent) = transports.bytes_sent();
    drop(transports);
    let report = IpcReport {
        command: command_line(options),
        cores: available_cores(),
        repeats,
        pipe_bytes_sent,
        shm_bytes_sent,
        sizes,
    };
    let markdown = to_markdown(&report);
    if let Some(dir) = &options.out_dir {
        write_outputs(dir, &markdown, &report)?;
    }
    Ok(markdown)
}

/// A bar on stderr (hidden when stderr is not a terminal); per-size lines are printed anyway.
fn progress_bar(rounds: u64) -> ProgressBar {
    let bar = ProgressBar::new(rounds);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40.cyan/blue}] {pos}/{len} rounds")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn progress_line(r: &SizeResult) -> String {
    format!(
        "bench ipc: {:>8}: memcpy {}, pipe {}, shm {} (median)",
        r.label,
        Seconds(r.memcpy.median_s),
        Seconds(r.pipe.median_s),
        Seconds(r.shm.median_s)
    )
}

/// Writes `ipc.md` and `ipc.json`, each complete or not at all.
fn write_outputs(dir: &Path, markdown: &str, report: &IpcReport) -> Result<()> {
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::output(&dir.join("ipc.json"), std::io::Error::other(e)))?;
    let json = format!("{json}\n");
    super::write_reports(dir, &[("ipc.md", markdown.as_bytes()), ("ipc.json", json.as_bytes())])?;
    Ok(())
}

/// The command that reproduces the run (output directory aside).
fn command_line(options: &IpcOptions) -> String {
    let sizes: Vec<String> = options.sizes.iter().map(|&n| size_arg(n)).collect();
    format!("medimpute bench ipc --sizes {} --repeats {}", sizes.join(","), options.repeats)
}

/// The report as Markdown: a header naming the command and the machine, then one row a size.
pub fn to_markdown(report: &IpcReport) -> String {
    let mut out = format!(
        "## bench ipc\n\n`{}` on {} cores, one worker per transport.\n\n",
        report.command, report.cores
    );
    out.push_str(&format!(
        "Time per task: median (min) of {} round trips of one task whose worker reads every \
         byte. memcpy: a copy of the same bytes then the same read; read: that read alone. \
         GB/s = 10^9 bytes / median. Bytes written to the pipes: pipe {}, shm {}.\n\n",
        report.repeats, report.pipe_bytes_sent, report.shm_bytes_sent
    ));
    out.push_str("| size | read | memcpy | pipe | shm | pipe GB/s | shm GB/s | pipe/shm |\n");
    out.push_str("|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in &report.sizes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
            r.label,
            median_min(&r.read),
            median_min(&r.memcpy),
            median_min(&r.pipe),
            median_min(&r.shm),
            r.pipe_gb_s,
            r.shm_gb_s,
            r.pipe_over_shm
        ));
    }
    out
}

/// `1.23 (1.10) ms`: the median and the minimum in the median's unit.
fn median_min(t: &Timing) -> String {
    let (scale, unit) = time_unit(t.median_s);
    format!("{} ({}) {unit}", three_digits(t.median_s * scale), three_digits(t.min_s * scale))
}

const UNITS: [(usize, &str, &str); 3] =
    [(1 << 30, "GiB", "G"), (1 << 20, "MiB", "M"), (1 << 10, "KiB", "K")];

/// `4 KiB`, `256 MiB`; plain bytes when no unit divides the size.
fn size_label(bytes: usize) -> String {
    UNITS
        .iter()
        .find(|(unit, ..)| bytes >= *unit && bytes % unit == 0)
        .map_or(format!("{bytes} B"), |(unit, name, _)| format!("{} {name}", bytes / unit))
}

/// The `--sizes` spelling of a size: `4K`, `256M`, `100`.
fn size_arg(bytes: usize) -> String {
    UNITS
        .iter()
        .find(|(unit, ..)| bytes >= *unit && bytes % unit == 0)
        .map_or(bytes.to_string(), |(unit, _, suffix)| format!("{}{suffix}", bytes / unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_reads_big_endian_words_and_a_short_tail() {
        let old = |bytes: &[u8]| {
            bytes.chunks(8).fold(0u64, |s, c| {
                s.wrapping_add(c.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b)))
            })
        };
        let mut bytes = vec![0u8; 1003];
        fill(&mut bytes, 7);
        for len in [0, 1, 7, 8, 9, 64, 1003] {
            assert_eq!(checksum(&bytes[..len]), old(&bytes[..len]), "{len} bytes");
        }
        assert_eq!(checksum(&[0, 0, 0, 0, 0, 0, 1, 2, 3]), 0x0102 + 3);
        let mut flipped = bytes.clone();
        flipped[500] ^= 1;
        assert_ne!(checksum(&flipped), checksum(&bytes), "one changed bit changes the sum");
    }

    #[test]
    fn sizes_print_as_labels_and_as_arguments() {
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(256 << 20), "256 MiB");
        assert_eq!(size_label(1000), "1000 B");
        assert_eq!(size_arg(4096), "4K");
        assert_eq!(size_arg(1 << 30), "1G");
        assert_eq!(size_arg(1000), "1000");
        let options = IpcOptions { sizes: vec![4096, 1 << 20], repeats: 3, out_dir: None };
        assert_eq!(command_line(&options), "medimpute bench ipc --sizes 4K,1M --repeats 3");
    }

    #[test]
    fn times_keep_three_digits_and_min_shares_the_median_unit() {
        assert_eq!(Seconds(0.000_012_34).to_string(), "12.3 µs");
        assert_eq!(Seconds(1.5).to_string(), "1.50 s");
        assert_eq!(Seconds(0.25).to_string(), "250 ms");
        let t = Timing::of(&[
            Duration::from_micros(1200),
            Duration::from_micros(998),
            Duration::from_micros(1300),
        ]);
        assert_eq!(t.min_s, 998e-6);
        assert_eq!(median_min(&t), "1.20 (0.998) ms");
    }

    #[test]
    fn a_size_row_derives_rates_and_the_ratio_from_medians() {
        let ms = Duration::from_millis;
        let samples: Samples =
            [vec![ms(4), ms(2), ms(6)], vec![ms(1), ms(2), ms(3)], vec![ms(1)], vec![ms(1)]];
        let row = size_result(2_000_000, &samples);
        assert_eq!(row.pipe.median_s, 0.004);
        assert!((row.pipe_over_shm - 2.0).abs() < 1e-12);
        assert!((row.shm_gb_s - 1.0).abs() < 1e-12, "2 MB in 2 ms is 1 GB/s");
    }
}
