//! What sampling an export will cost, measured on its first few megabytes, for `--backend auto`.
//!
//! The head of the largest events table is parsed as the real run parses it: serially, then on
//! a thread pool (the speedup), and its events added to a grid of the real size (the
//! coordinator's share under a process backend, and the page faults every backend pays). Costs
//! scale with the bytes to parse: the table sizes, gzip ones by the inflation ratio of the head.

use super::accumulate::Accumulator;
use super::{parse_piece, Plan, SampleInputs, SampleOptions};
use crate::backend::select::StageProfile;
use crate::error::{Error, Result};
use crate::grid::{ByteStorage, HeapBytes};
use crate::ingest::columns::Header;
use crate::ingest::csv_split::{last_record_end, record_start_at_or_after};
use crate::ingest::events::EventColumns;
use crate::ingest::pieces::{Piece, PIECE_BYTES};
use crate::ingest::source::{open_table, TableSource};
use rayon::prelude::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// Most bytes of the head parsed: 8 pieces, a few tens of milliseconds of work. Smaller exports
/// get a smaller head (a sixty-fourth of their size on disk, at least 64 KiB), so that profiling
/// (the head parsed four times) stays a few percent of the sampling.
const HEAD_BYTES: usize = 8 * PIECE_BYTES;

/// Profiles sampling `inputs` with `threads` threads for the speedup.
pub fn profile(
    inputs: &SampleInputs,
    options: &SampleOptions,
    threads: usize,
) -> Result<StageProfile> {
    let started = Instant::now();
    let plan = Plan::new(inputs, options)?;
    let sizes: Vec<u64> = inputs
        .events
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).map_err(|e| Error::input(p, e)))
        .collect::<Result<_>>()?;
    let largest = (0..sizes.len()).max_by_key(|&i| sizes[i]).expect("at least one table");
    let path = &inputs.events[largest];
    let budget = (sizes.iter().sum::<u64>() / 64).clamp(64 << 10, HEAD_BYTES as u64);
    let head = read_head(path, budget as usize)?;
    if head.bytes.is_empty() {
        return Ok(StageProfile {
            name: "sample",
            profiling: started.elapsed(),
            ..StageProfile::default()
        });
    }
    let header_end = record_start_at_or_after(&head.bytes, 0, false);
    let columns = EventColumns::find(&Header::parse(&head.bytes[..header_end]), path)?;
    let body = &head.bytes[header_end..];
    let threads = threads.max(1);
    let pieces = cut(body, body.len().div_ceil(2 * threads).clamp(1, PIECE_BYTES));
    if pieces.is_empty() {
        return Ok(StageProfile {
            name: "sample",
            profiling: started.elapsed(),
            ..StageProfile::default()
        });
    }

    let parse_all = |pieces: &[Piece<'_>]| {
        pieces
            .par_iter()
            .map(|p| {
                parse_piece(p, &columns, &plan, true).map_err(|(line, e)| (line, e.to_string()))
            })
            .collect::<Vec<_>>()
    };
    let serial_pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(pool_error)?;
    // Each timing is the better of two (noise only adds time).
    let at = Instant::now();
    let parsed = serial_pool.install(|| parse_all(&pieces));
    let mut parse_serial = at.elapsed();
    let at = Instant::now();
    serial_pool.install(|| parse_all(&pieces));
    parse_serial = parse_serial.min(at.elapsed());
    let parse_threads = if threads > 1 {
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().map_err(pool_error)?;
        pool.broadcast(|_| ());
        let timed = || {
            let at = Instant::now();
            pool.install(|| parse_all(&pieces));
            at.elapsed()
        };
        timed().min(timed())
    } else {
        parse_serial
    };

    // The coordinator's part: adding the events to a grid of the real size.
    let parsed: Vec<_> = parsed.into_iter().filter_map(|p| p.ok()).collect();
    let events: u64 =
        parsed.iter().map(|p| p.by_item.iter().map(Vec::len).sum::<usize>() as u64).sum();
    let mut grid = HeapBytes::zeroed(plan.shape.len() * 4);
    let values: &mut [f32] = bytemuck::cast_slice_mut(grid.bytes_mut());
    let mut accumulator = Accumulator::new(values, plan.shape);
    let batches: Vec<_> = parsed.iter().map(|p| p.by_item.as_slice()).collect();
    // Twice: the first pass pays the grid's first-touch page faults, which every backend pays
    // once whatever the export's size; the second is the cost that grows with the events.
    serial_pool.install(|| accumulator.add(&batches));
    let at = Instant::now();
    serial_pool.install(|| accumulator.add(&batches));
    let apply = at.elapsed();
    drop(accumulator);

    // Scale from the head to every table: bytes to parse, and for gzip the inflation.
    let scale = |d: Duration, by: f64| Duration::from_secs_f64(d.as_secs_f64() * by);
    let ratio = head.bytes.len() as f64 / head.disk_bytes.max(1) as f64;
    let total_csv: f64 = inputs
        .events
        .iter()
        .zip(&sizes)
        .map(|(p, &s)| if is_stream(p) { s as f64 * ratio } else { s as f64 })
        .sum();
    let by = total_csv / body.len().max(1) as f64;
    let inflate = if head.streamed {
        scale(head.read_time, total_csv / head.bytes.len() as f64)
    } else {
        Duration::ZERO
    };
    Ok(StageProfile {
        name: "sample",
        tasks: (total_csv / PIECE_BYTES as f64).ceil() as u64,
        compute: scale(parse_serial + apply, by),
        thread_speedup: parse_serial.as_secs_f64() / parse_threads.as_secs_f64().max(1e-9),
        threads_measured: threads,
        // Every byte goes to a worker; 12 bytes per placed event come back.
        pipe_bytes: (total_csv + 12.0 * events as f64 * by) as u64,
        pipe_bytes_per_worker: 0,
        coordinator: scale(apply, by),
        floor: inflate,
        profiling: started.elapsed(),
    })
}

fn pool_error(e: rayon::ThreadPoolBuildError) -> Error {
    Error::Usage(format!("cannot start profiling threads: {e}"))
}

fn is_stream(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

struct Head {
    /// Whole records (header first), at most the limit asked for.
    bytes: Vec<u8>,
    /// Bytes read from disk for them (less, for gzip).
    disk_bytes: u64,
    streamed: bool,
    read_time: Duration,
}

fn read_head(path: &std::path::Path, limit: usize) -> Result<Head> {
    let at = Instant::now();
    let regular = std::fs::metadata(path).map_err(|e| Error::input(path, e))?.is_file();
    let (mut bytes, disk_bytes, streamed) = if !regular {
        // A pipe or FIFO can be read once only, by the run itself: nothing to profile.
        (Vec::new(), 0, true)
    } else if is_stream(path) {
        // Opened here rather than through the ingest's reader, whose 1 MiB input buffer would
        // hide how much of the file a small head really took: the inflation ratio needs it.
        let file = std::fs::File::open(path).map_err(|e| Error::input(path, e))?;
        let mut counted = Counted { inner: file, count: 0 };
        let mut bytes = Vec::with_capacity(limit);
        {
            let buffered = std::io::BufReader::with_capacity(8 << 10, &mut counted);
            flate2::read::MultiGzDecoder::new(buffered)
                .take(limit as u64)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::input(path, e))?;
        }
        (bytes, counted.count, true)
    } else {
        match open_table(path)? {
            TableSource::Mapped(map) => {
                let n = map.len().min(limit);
                (map[..n].to_vec(), n as u64, false)
            }
            TableSource::Empty => return Err(Error::EmptyTable { path: path.to_path_buf() }),
            TableSource::Stream(_) => (Vec::new(), 0, true),
        }
    };
    let read_time = at.elapsed();
    if bytes.len() == limit {
        bytes.truncate(last_record_end(&bytes).unwrap_or(bytes.len()));
    }
    Ok(Head { bytes, disk_bytes, streamed, read_time })
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Cuts whole records into pieces of about `size` bytes.
fn cut(body: &[u8], size: usize) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = if body.len() - start <= size {
            body.len()
        } else {
            start + last_record_end(&body[start..start + size]).unwrap_or(body.len() - start)
        };
        pieces.push(Piece { bytes: &body[start..end], first_line: 2, file_offset: None });
        start = end;
    }
    pieces
}
