//! What sampling an export will cost, measured on its first few megabytes, for `--backend auto`.
//!
//! The head of the largest events table is parsed as the real run parses it, in parts taken
//! alternately serially and on a thread pool (the speedup), and its events added and summed
//! into bins (the append is the coordinator's share under a process backend). These costs
//! scale with the bytes to parse: the table sizes, gzip ones by the inflation ratio of the
//! head. Writing the grid from the bins scales with the grid's size instead.

use super::accumulate::{Accumulator, BinEvent};
use super::{parse_piece, Plan, SampleInputs, SampleOptions};
use crate::backend::select::{median, StageProfile};
use crate::error::{Error, Result};
use crate::grid::GridShape;
use crate::ingest::columns::Header;
use crate::ingest::csv_split::{last_record_end, record_start_at_or_after};
use crate::ingest::events::EventColumns;
use crate::ingest::pieces::{Piece, PIECE_BYTES};
use crate::ingest::source::{open_table, TableSource};
use rayon::prelude::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// Most bytes of the head parsed: 8 pieces, a few tens of milliseconds of work. Smaller exports
/// get a smaller head (a sixty-fourth of their size on disk, at least 32 KiB), so that
/// profiling (the head parsed once) stays a few percent of the sampling.
const HEAD_BYTES: usize = 8 * PIECE_BYTES;

/// Parts of the head, timed alternately serially and on the pool (three of each).
const PARTS: usize = 6;

/// Largest grid the events' cost is measured on (their bins folded into it).
const FOLD_BYTES: usize = 1 << 20;

/// Profiles sampling `inputs`, with the threads of `pool` for the speedup.
pub fn profile(
    inputs: &SampleInputs,
    options: &SampleOptions,
    pool: &rayon::ThreadPool,
) -> Result<StageProfile> {
    let started = Instant::now();
    let threads = pool.current_num_threads();
    let plan = Plan::new(inputs, options)?;
    let sizes: Vec<u64> = inputs
        .events
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).map_err(|e| Error::input(p, e)))
        .collect::<Result<_>>()?;
    let largest = (0..sizes.len()).max_by_key(|&i| sizes[i]).expect("at least one table");
    let path = &inputs.events[largest];
    let budget = (sizes.iter().sum::<u64>() / 64).clamp(32 << 10, HEAD_BYTES as u64);
    // A head or a body with nothing to parse: nothing to measure.
    let nothing =
        || StageProfile { name: "sample", profiling: started.elapsed(), ..StageProfile::default() };
    let head = read_head(path, budget as usize)?;
    if head.bytes.is_empty() {
        return Ok(nothing());
    }
    let header_end = record_start_at_or_after(&head.bytes, 0, false);
    let columns = EventColumns::find(&Header::parse(&head.bytes[..header_end]), path)?;
    let body = &head.bytes[header_end..];
    // The head in PARTS consecutive parts, alternately parsed on this thread and on the pool
    // (each part cut into one piece per thread): every byte is parsed once, and the serial and
    // pool timings interleave, so that a moment of noise spoils one timing of several, not a
    // side. On the pool each piece is timed by the thread that parses it: how much slower a
    // byte is parsed while the other threads parse too is the contention the speedup comes
    // from. (The pool's wall time would add the wake-up of its threads, which a run pays once
    // per batch of up to 64 MiB, and a part of a small head pays in full.)
    let part_bytes = body.len().div_ceil(PARTS).max(1);
    let mut parts = cut(body, part_bytes);
    // A short last part (the cut ends at a record boundary) joins the one before.
    if parts.len() > 1 && parts.last().is_some_and(|p| p.bytes.len() < part_bytes / 2) {
        let short = parts.pop().expect("two parts or more").bytes.len();
        let last = parts.last_mut().expect("one part left");
        last.bytes = &body[body.len() - short - last.bytes.len()..];
    }
    let parts: Vec<Vec<Piece<'_>>> = parts
        .iter()
        .map(|part| cut(part.bytes, part.bytes.len().div_ceil(threads).max(1)))
        .collect();
    if parts.is_empty() {
        return Ok(nothing());
    }
    let parse = |piece: &Piece<'_>| {
        let at = Instant::now();
        let parsed =
            parse_piece(piece, &columns, &plan, true).map_err(|(line, e)| (line, e.to_string()));
        (parsed, at.elapsed().as_secs_f64() / piece.bytes.len().max(1) as f64)
    };
    let mut parsed = Vec::new();
    // Seconds per byte: of whole serial parts, and of single pieces parsed side by side.
    let (mut serial_rates, mut pool_rates) = (Vec::new(), Vec::new());
    for (k, part) in parts.iter().enumerate() {
        if k % 2 == 1 && threads > 1 {
            let results: Vec<_> = pool.install(|| part.par_iter().map(parse).collect());
            for (result, per_byte) in results {
                pool_rates.push(per_byte);
                parsed.push(result);
            }
        } else {
            let bytes: usize = part.iter().map(|p| p.bytes.len()).sum();
            let at = Instant::now();
            parsed.extend(part.iter().map(|p| parse(p).0));
            serial_rates.push(at.elapsed().as_secs_f64() / bytes.max(1) as f64);
        }
    }
    let serial_per_byte = median(&mut serial_rates);
    let speedup = if pool_rates.is_empty() {
        1.0
    } else {
        let contended = median(&mut pool_rates).max(1e-15);
        (threads as f64 * serial_per_byte / contended).min(threads as f64)
    };
    let parse_serial = Duration::from_secs_f64(serial_per_byte * body.len() as f64);

    // Adding the events (held, an append: the coordinator's part under a process backend) and
    // summing them into bins, on one thread, with the events' bins folded into a grid of at
    // most FOLD_BYTES: these scale with the events, so with the bytes parsed. Then writing a
    // grid from the sums (NaN between), timed on the folded grid already touched once (the
    // first-touch page faults of the real grid are every backend's): that scales with the
    // real grid's size. A folded grid of 8 MiB written twice, as before, cost 3-17 ms of
    // first-touch faults on a 150-subject export, most of its profile.
    let parsed: Vec<_> = parsed.into_iter().filter_map(|p| p.ok()).collect();
    let events: u64 =
        parsed.iter().map(|p| p.by_item.iter().map(Vec::len).sum::<usize>() as u64).sum();
    let series_bytes = plan.shape.items * plan.shape.hours * 4;
    let admissions = (FOLD_BYTES / series_bytes.max(1)).clamp(1, plan.shape.admissions.max(1));
    let shape = GridShape { admissions, ..plan.shape };
    let fold = (admissions * plan.shape.hours) as u64;
    let folded: Vec<Vec<Vec<BinEvent>>> = parsed
        .iter()
        .map(|p| {
            p.by_item
                .iter()
                .map(|events| {
                    events
                        .iter()
                        .map(|e| BinEvent { offset: e.offset % fold, value: e.value })
                        .collect()
                })
                .collect()
        })
        .collect();
    let batches: Vec<_> = folded.iter().map(Vec::as_slice).collect();
    let single = crate::backend::thread_pool(1, false)?;
    let mut accumulator = Accumulator::new(shape);
    let at = Instant::now();
    single.install(|| accumulator.add(&batches));
    let append = at.elapsed();
    let bins = single.install(|| accumulator.finish());
    let summed = at.elapsed();
    let mut written = vec![f32::NAN; shape.len()];
    let at = Instant::now();
    bins.fill(0, &mut written);
    let write_per_value = at.elapsed().as_secs_f64() / shape.len().max(1) as f64;
    drop((bins, written));
    let write_grid = Duration::from_secs_f64(write_per_value * plan.shape.len() as f64);

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
        compute: scale(parse_serial + summed, by) + write_grid,
        thread_speedup: speedup,
        threads_measured: threads,
        // Every byte goes to a worker; 12 bytes per placed event come back.
        pipe_bytes: (total_csv + 12.0 * events as f64 * by) as u64,
        pipe_bytes_per_worker: 0,
        coordinator: scale(append, by),
        floor: inflate,
        profiling: started.elapsed(),
        // The head is parsed again by the run.
        kept: Duration::ZERO,
    })
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
