//! What sampling an export will cost, measured on its first few megabytes, for `--backend auto`.
//!
//! The head of the largest events table is parsed as the real run parses it, in parts taken
//! alternately serially and on a thread pool (the speedup), and its events added and summed
//! into bins (the append is the coordinator's share under a process backend). These costs
//! scale with the bytes to parse: the table sizes, gzip ones by the inflation ratio of the
//! head. Writing the grid from the bins scales with the grid's size instead.

use super::accumulate::{Accumulator, BinEvent, PieceEvents};
use super::{parse_piece, ParsedPiece, Plan, SampleInputs};
use crate::backend::select::{median, StageProfile};
use crate::backend::ProfilePool;
use crate::error::{Error, Result};
use crate::grid::GridShape;
use crate::ingest::columns::Header;
use crate::ingest::csv_split::{count_byte, last_record_end, record_start_at_or_after};
use crate::ingest::events::EventColumns;
use crate::ingest::pieces::{Piece, Resume, PIECE_BYTES};
use crate::ingest::source::{is_gzip_file, starts_as_gzip};
use rayon::prelude::*;
use std::io::Read;
use std::time::{Duration, Instant};

/// Most bytes of the head parsed: 8 pieces, a few tens of milliseconds of work. Smaller exports
/// get a smaller head (a sixty-fourth of their size on disk, at least 32 KiB), so that
/// profiling (the head parsed once) stays a few percent of the sampling.
const HEAD_BYTES: usize = 8 * PIECE_BYTES;

/// Parts of the head, timed alternately serially and on the pool (three of each).
const PARTS: usize = 6;

/// Largest grid the events' cost is measured on (their bins folded into it): small, as its
/// pages are fresh memory (see [`event_costs`]).
const FOLD_BYTES: usize = 64 << 10;

/// The share of the sampling's expected time the profile may cost, beyond the records it
/// parses for the run to keep (`bench auto`'s target for profiling is 5% of the job's time).
/// That time is known once the first part is parsed: its serial rate over every table's bytes,
/// over the pool's threads. It is a lower bound of the whole job's wall time (the threads may
/// not scale, and the imputation comes after). Until session 13 the budget was 5% of the work
/// on one core, up to 10% of the sampling's wall time on 2 threads, and it counted the parse
/// the run now keeps.
///
/// On a large export the profile never comes near it (the head is a sixty-fourth of the bytes;
/// 3 ms of profile for 114 ms of work on a 400-subject export). On a tiny one its fixed costs
/// do: on a 6 MB export whose whole job takes 3-5 ms, the profile took 0.5-0.7 ms, of which
/// parsing the head was 0.2 ms and timing the events' costs another 0.2 ms. Once over the
/// budget, the profile stops where it is: the speedup unmeasured if no part ran on the pool
/// (then no contention is known, and threads are predicted to scale), the events' costs not
/// timed.
pub const BUDGET_SHARE: f64 = 0.05;

/// Profiles sampling `inputs` by `plan` (the run's own, so that the admissions are read
/// once), with the threads of `pool` for the speedup, within [`BUDGET_SHARE`] of the
/// sampling's expected time. Returns the profile, and the records it parsed for the run to
/// keep ([`ParsedHead`]) where it can.
pub fn profile(
    plan: &Plan,
    inputs: &SampleInputs,
    pool: &ProfilePool<'_>,
) -> Result<(StageProfile, Option<ParsedHead>)> {
    profile_within(plan, inputs, pool, BUDGET_SHARE)
}

/// [`profile`] as a selector asks for it: returns the profile and puts the parsed head in
/// `head`, for the run.
pub fn profile_into<'a>(
    plan: &'a Plan,
    inputs: &'a SampleInputs,
    head: &'a mut Option<ParsedHead>,
) -> impl FnMut(&ProfilePool<'_>) -> Result<StageProfile> + 'a {
    move |pool| {
        let (stage, parsed) = profile(plan, inputs, pool)?;
        *head = parsed;
        Ok(stage)
    }
}

/// The first records of one events table, parsed by the profile: the run adds their events
/// and goes on reading after them ([`read_pieces_from`](crate::ingest::pieces::read_pieces_from))
/// instead of parsing them again, so that what the profile parsed is work the job keeps.
///
/// Kept only from a plain table (a gzip one is a stream, read from its start) whose parsed
/// records were all good: a bad row is the run's to report (or skip) in its own words.
pub struct ParsedHead {
    /// The table's place in [`SampleInputs::events`].
    pub(super) table: usize,
    /// Where the run goes on: the byte after the last record parsed, and its line.
    pub(super) resume: Resume,
    /// The parsed pieces, in file order.
    pub(super) pieces: Vec<ParsedPiece>,
}

/// Whether a profile that has cost `cost` seconds (beyond the work the run keeps) is still
/// within `share` of a sampling expected to take `expected` seconds.
fn within_budget(cost: f64, share: f64, expected: f64) -> bool {
    cost <= share * expected
}

/// [`profile`] with the budget's share given.
fn profile_within(
    plan: &Plan,
    inputs: &SampleInputs,
    pool: &ProfilePool<'_>,
    share: f64,
) -> Result<(StageProfile, Option<ParsedHead>)> {
    let started = Instant::now();
    let threads = pool.threads();
    let metadata: Vec<std::fs::Metadata> = inputs
        .events
        .iter()
        .map(|p| std::fs::metadata(p).map_err(|e| Error::input(p, e)))
        .collect::<Result<_>>()?;
    let sizes: Vec<u64> = metadata.iter().map(std::fs::Metadata::len).collect();
    let largest = (0..sizes.len()).max_by_key(|&i| sizes[i]).expect("at least one table");
    let path = &inputs.events[largest];
    let budget = (sizes.iter().sum::<u64>() / 64).clamp(32 << 10, HEAD_BYTES as u64);
    // A head or a body with nothing to parse: nothing to measure.
    let nothing = || {
        (StageProfile { name: "sample", profiling: started.elapsed(), ..Default::default() }, None)
    };
    let head = read_head(path, budget as usize)?;
    if head.bytes.is_empty() {
        return Ok(nothing());
    }
    // Every table's bytes to parse: gzip ones by the inflation ratio of the head.
    let ratio = head.bytes.len() as f64 / head.disk_bytes.max(1) as f64;
    let mut total_csv = 0.0;
    for (path, meta) in inputs.events.iter().zip(&metadata) {
        let gzip = meta.is_file() && is_gzip_file(path)?;
        total_csv += if gzip { meta.len() as f64 * ratio } else { meta.len() as f64 };
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
    let parts = cut(body, body.len().div_ceil(PARTS).max(1));
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
            parse_piece(piece, &columns, plan, true).map_err(|(line, e)| (line, e.to_string()));
        (parsed, at.elapsed().as_secs_f64() / piece.bytes.len().max(1) as f64)
    };
    let mut parsed = Vec::new();
    // Seconds per byte: of whole serial parts, and of single pieces parsed side by side.
    let (mut serial_rates, mut pool_rates) = (Vec::new(), Vec::new());
    let mut parsed_bytes = 0;
    let mut over_budget = false;
    // Time spent parsing: serial parts, and pool parts (their wall time).
    let (mut serial_time, mut pool_time) = (0.0, 0.0);
    // Whether the run can keep what is parsed so far: a plain table, every record good.
    let mut keepable = !head.streamed;
    // Past the budget, at the fastest serial rate seen: the profile's cost so far less the
    // parse the run keeps (counted as if its threads scaled, at most), and the wait for the
    // pool's threads to start, which is the pool's, not the profile's.
    let over = |rate: f64, serial_time: f64, pool_time: f64, keepable: bool| {
        let kept = if keepable { pool_time + serial_time / threads as f64 } else { 0.0 };
        let cost = started.elapsed().saturating_sub(pool.waited()).as_secs_f64() - kept;
        !within_budget(cost, share, rate * total_csv / threads as f64)
    };
    for (k, part) in parts.iter().enumerate() {
        if let Some(rate) = serial_rates.iter().copied().min_by(f64::total_cmp) {
            if over(rate, serial_time, pool_time, keepable) {
                over_budget = true;
                break;
            }
        }
        let before = parsed.len();
        parsed_bytes += part.iter().map(|p| p.bytes.len()).sum::<usize>();
        if k % 2 == 1 && threads > 1 {
            // The threads still starting are waited for here, after the head was read and
            // its first part parsed on this thread meanwhile.
            let pool = pool.running();
            let at = Instant::now();
            let results: Vec<_> = pool.install(|| part.par_iter().map(parse).collect());
            pool_time += at.elapsed().as_secs_f64();
            for (result, per_byte) in results {
                pool_rates.push(per_byte);
                parsed.push(result);
            }
        } else {
            let bytes: usize = part.iter().map(|p| p.bytes.len()).sum();
            let at = Instant::now();
            parsed.extend(part.iter().map(|p| parse(p).0));
            let took = at.elapsed().as_secs_f64();
            serial_time += took;
            serial_rates.push(took / bytes.max(1) as f64);
        }
        keepable &= parsed[before..].iter().all(|p| p.as_ref().is_ok_and(|p| p.bad.is_empty()));
    }
    let fastest = serial_rates.iter().copied().min_by(f64::total_cmp);
    let serial_per_byte = median(&mut serial_rates);
    let speedup = if pool_rates.is_empty() {
        1.0
    } else {
        let contended = median(&mut pool_rates).max(1e-15);
        (threads as f64 * serial_per_byte / contended).min(threads as f64)
    };
    let parse_serial = Duration::from_secs_f64(serial_per_byte * parsed_bytes as f64);

    // The run keeps what was parsed if every record was good, at the parallelism it would
    // have parsed it with.
    let kept = if keepable { pool_time + serial_time / speedup } else { 0.0 };

    // The events' costs beyond parsing, unless the budget is spent.
    let parsed: Vec<_> = parsed.into_iter().filter_map(|p| p.ok()).collect();
    let events: u64 =
        parsed.iter().map(|p| p.by_item.iter().map(Vec::len).sum::<usize>() as u64).sum();
    // The budget is checked once more: the events' costs are a fixed cost of their own.
    let over_budget =
        over_budget || fastest.is_some_and(|rate| over(rate, serial_time, pool_time, keepable));
    let by = total_csv / parsed_bytes.max(1) as f64;
    // Whether the run's accumulator will go dense: the events' costs are timed in that phase.
    let dense = events as f64 * by > Accumulator::held_budget(plan.shape) as f64;
    let costs = if over_budget {
        EventCosts::default()
    } else {
        event_costs(&parsed, plan, dense, pool.running())
    };

    // Scale from the parts parsed to every table: bytes to parse, and for gzip the inflation.
    let scale = |d: Duration, by: f64| Duration::from_secs_f64(d.as_secs_f64() * by);
    let inflate = if head.streamed {
        scale(head.read_time, total_csv / head.bytes.len() as f64)
    } else {
        Duration::ZERO
    };
    // One reading of the clock for both, so that the kept work never exceeds the profile's
    // time (read twice, it could by the nanoseconds between the readings).
    let profiling = started.elapsed();
    let profile = StageProfile {
        name: "sample",
        tasks: (total_csv / PIECE_BYTES as f64).ceil() as u64,
        compute: scale(parse_serial + costs.summed, by) + costs.write_grid,
        thread_speedup: speedup,
        // Unmeasured (a pool of one, or a profile stopped before its first pool part): no
        // contention is known, as in the imputation's profile.
        threads_measured: if pool_rates.is_empty() { 1 } else { threads },
        // Every byte goes to a worker; 12 bytes per placed event come back.
        pipe_bytes: (total_csv + 12.0 * events as f64 * by) as u64,
        pipe_bytes_per_worker: 0,
        coordinator: scale(costs.append, by),
        floor: inflate,
        profiling,
        kept: Duration::from_secs_f64(kept).min(profiling),
        over_budget,
    };
    let head = keepable.then(|| {
        let resume = Resume {
            offset: (header_end + parsed_bytes) as u64,
            line: 2 + count_byte(&body[..parsed_bytes], b'\n') as u64,
        };
        ParsedHead { table: largest, resume, pieces: parsed }
    });
    Ok((profile, head))
}

/// What the events parsed cost beyond parsing (see [`event_costs`]).
#[derive(Default)]
struct EventCosts {
    /// Adding them (held, an append): the coordinator's part under a process backend.
    append: Duration,
    /// Adding and summing them into bins.
    summed: Duration,
    /// Writing the real grid from the bins.
    write_grid: Duration,
}

/// Times, on one thread of `pool` alone (the others idle), adding the events of `parsed` and
/// summing them into bins, with the events' bins folded into a grid of at most [`FOLD_BYTES`]:
/// these scale with the events, so with the bytes parsed. Then writing a grid from the sums
/// (NaN between), timed on the folded grid already touched once (the first-touch page faults
/// of the real grid are every backend's): that scales with the real grid's size.
///
/// What this measuring costs weighs on a small export's profile. A folded grid of 8 MiB
/// written twice, as before, cost 3-17 ms of first-touch faults on a 150-subject export; one
/// of 1 MiB still took 0.6-0.8 ms of a 30-subject export's 77 items (of a 20 ms job). Until
/// session 17 the grid was folded in whole admissions (one 77-item admission of 720 hours is
/// 217 KiB), the events were copied to fold them, and a thread was started to time them on:
/// 0.28-0.30 ms on that export. Folded in bins per item (64 KiB), read in place, and timed on
/// a thread of the pool already up: 0.12 ms.
fn event_costs(
    parsed: &[ParsedPiece],
    plan: &Plan,
    dense: bool,
    pool: &rayon::ThreadPool,
) -> EventCosts {
    let items = plan.shape.items.max(1);
    let fold = (FOLD_BYTES / 4 / items).clamp(1, plan.shape.item_block_len().max(1));
    let shape = GridShape { items: plan.shape.items, admissions: 1, hours: fold };
    let folded: Vec<Folded<'_>> =
        parsed.iter().map(|p| Folded { by_item: &p.by_item, fold: fold as u64 }).collect();
    // In the phase the run's accumulator will be in (the folded grid's own budget would make
    // it dense at a few thousand events).
    let budget = if dense { 0 } else { usize::MAX };
    let mut accumulator = Accumulator::new(shape).on_one_thread().with_budget(budget);
    // Timed on one thread of the pool, the others idle.
    let (append, summed, bins) = pool.install(|| {
        let at = Instant::now();
        accumulator.add(&folded);
        let append = at.elapsed();
        let bins = accumulator.finish();
        (append, at.elapsed(), bins)
    });
    let mut written = vec![f32::NAN; shape.len()];
    let at = Instant::now();
    bins.fill(0, &mut written);
    let write_per_value = at.elapsed().as_secs_f64() / shape.len().max(1) as f64;
    drop((bins, written));
    let write_grid = Duration::from_secs_f64(write_per_value * plan.shape.len() as f64);
    EventCosts { append, summed, write_grid }
}

/// A parsed piece's events with their bins folded into the first `fold` of each item's,
/// read in place.
struct Folded<'a> {
    by_item: &'a [Vec<BinEvent>],
    fold: u64,
}

impl PieceEvents for Folded<'_> {
    fn for_each_event(&self, item: usize, mut f: impl FnMut(BinEvent)) {
        for e in &self.by_item[item] {
            f(BinEvent { offset: e.offset % self.fold, value: e.value });
        }
    }

    fn event_count(&self, item: usize) -> usize {
        self.by_item[item].len()
    }
}

struct Head {
    /// Whole records (header first), at most the limit asked for.
    bytes: HeadBytes,
    /// Bytes read from disk for them (less, for gzip).
    disk_bytes: u64,
    streamed: bool,
    read_time: Duration,
}

/// A head's bytes: of a plain table, its first pages mapped; of a gzip one, inflated.
enum HeadBytes {
    /// The mapping and the length of its bytes in use (its whole records, once cut).
    Mapped(memmap2::Mmap, usize),
    Read(Vec<u8>),
}

impl HeadBytes {
    fn truncate(&mut self, len: usize) {
        match self {
            HeadBytes::Mapped(_, whole) => *whole = len.min(*whole),
            HeadBytes::Read(bytes) => bytes.truncate(len),
        }
    }
}

impl std::ops::Deref for HeadBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            HeadBytes::Mapped(map, len) => &map[..*len],
            HeadBytes::Read(bytes) => bytes,
        }
    }
}

/// Reads the head of the table at `path`. A plain table's head is mapped, its pages set up in
/// the one call (populated): they are the page cache's own, where a buffer to copy them into
/// would be fresh memory, whose first touch cost 55-85 us for the 96 KiB head of a 6 MB
/// export on this VM, most of a profile that must stay near a tenth of a millisecond there.
/// (Not the ingest's reader: it maps a whole window and prepares it for a sequential scan.)
/// A gzip one is inflated from a small input buffer: the ingest's 1 MiB one would hide how
/// much of the file a small head really took, which the inflation ratio needs. Gzip is told by
/// its magic bytes, as the ingest tells it.
fn read_head(path: &std::path::Path, limit: usize) -> Result<Head> {
    let at = Instant::now();
    let err = |e| Error::input(path, e);
    // Looked at before opening: a FIFO is not even opened (its writer would take that for the
    // run's reader, and see a broken pipe when this one closes).
    let meta = std::fs::metadata(path).map_err(err)?;
    if !meta.is_file() {
        // A pipe or FIFO can be read once only, by the run itself: nothing to profile.
        let read_time = at.elapsed();
        let bytes = HeadBytes::Read(Vec::new());
        return Ok(Head { bytes, disk_bytes: 0, streamed: true, read_time });
    }
    if meta.len() == 0 {
        return Err(Error::EmptyTable { path: path.to_path_buf() });
    }
    let mut file = std::fs::File::open(path).map_err(err)?;
    let streamed = starts_as_gzip(&mut file).map_err(err)?;
    let (mut bytes, disk_bytes) = if streamed {
        let mut counted = Counted { inner: &mut file, count: 0 };
        let mut bytes = vec![0u8; limit];
        // The `bufread` decoder inflates from this buffer alone (the `read` one would add a
        // 32 KiB buffer of its own, and a small head would look 32 KiB big on disk).
        let buffered = std::io::BufReader::with_capacity(8 << 10, &mut counted);
        let mut decoder = flate2::bufread::MultiGzDecoder::new(buffered);
        let filled = fill(&mut decoder, &mut bytes).map_err(err)?;
        // Bytes read from disk but left in the input buffer, not inflated.
        let unconsumed = decoder.get_ref().buffer().len() as u64;
        bytes.truncate(filled);
        (HeadBytes::Read(bytes), counted.count - unconsumed)
    } else {
        let len = (meta.len() as usize).min(limit);
        // SAFETY: as the ingest's own mapping of the same table: the export is not written
        // while it is read.
        let map =
            unsafe { memmap2::MmapOptions::new().len(len).populate().map(&file) }.map_err(err)?;
        (HeadBytes::Mapped(map, len), len as u64)
    };
    let read_time = at.elapsed();
    if bytes.len() == limit {
        bytes.truncate(last_record_end(&bytes).unwrap_or(limit));
    }
    Ok(Head { bytes, disk_bytes, streamed, read_time })
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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

/// Cuts whole records into pieces of about `size` bytes. Each piece ends at the last record
/// boundary within its `size`, so that the bytes left after `n` such pieces are a little
/// more than `n - 1` pieces' worth: a tail shorter than half a piece joins the last piece.
/// (Until session 18 it was a piece of its own: cut in two for two threads, a 16 KiB part of
/// the head became two pieces and a tail of a few records, whose fixed cost made its bytes
/// parse up to 30 times slower than the others', a third of the pool's rates: the median of
/// them put the speedup of two threads at 1.15-1.56 in six runs of a 30-subject, 77-item
/// job, 1.41-2.00 once the tail joined the last piece.)
fn cut(body: &[u8], size: usize) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = if body.len() - start <= size + size / 2 {
            body.len()
        } else {
            start + last_record_end(&body[start..start + size]).unwrap_or(body.len() - start)
        };
        pieces.push(Piece { bytes: &body[start..end], first_line: 2, file_offset: None });
        start = end;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SampleOptions;
    use std::path::{Path, PathBuf};

    fn demo(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo").join(name)
    }

    fn inflated(path: &Path) -> Vec<u8> {
        let mut bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }

    #[test]
    fn cut_in_n_is_n_pieces_of_whole_records() {
        let body: Vec<u8> =
            (0..1000).flat_map(|i| format!("{i},{},x\n", i * 7).into_bytes()).collect();
        for n in 1..=8 {
            let pieces = cut(&body, body.len().div_ceil(n));
            assert_eq!(pieces.len(), n, "no short tail of its own");
            let joined: Vec<u8> = pieces.iter().flat_map(|p| p.bytes.iter().copied()).collect();
            assert_eq!(joined, body, "every byte once, in order");
            assert!(pieces.iter().all(|p| p.bytes.ends_with(b"\n")), "whole records");
        }
    }

    #[test]
    fn a_plain_head_is_the_first_whole_records_of_the_file() {
        let csv = inflated(&demo("CHARTEVENTS.csv.gz"));
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("CHARTEVENTS.csv");
        std::fs::write(&plain, &csv).unwrap();
        let head = read_head(&plain, 100_000).unwrap();
        assert!(!head.streamed);
        assert_eq!(head.disk_bytes, 100_000, "the bytes read, before the cut at a record end");
        assert!(head.bytes.len() > 99_000 && head.bytes.len() <= 100_000, "{}", head.bytes.len());
        assert_eq!(head.bytes[..], csv[..head.bytes.len()]);
        assert_eq!(head.bytes.last(), Some(&b'\n'), "whole records only");
        // A table shorter than the limit is read whole.
        let short = dir.path().join("short.csv");
        std::fs::write(&short, &csv[..500]).unwrap();
        assert_eq!(read_head(&short, 100_000).unwrap().bytes[..], csv[..500]);
    }

    #[test]
    fn a_gzip_head_is_inflated_whatever_the_file_is_called() {
        let gz = demo("CHARTEVENTS.csv.gz");
        let csv = inflated(&gz);
        let dir = tempfile::tempdir().unwrap();
        for name in ["CHARTEVENTS.csv.gz", "CHARTEVENTS.csv"] {
            let path = dir.path().join(name);
            std::fs::copy(&gz, &path).unwrap();
            let head = read_head(&path, 100_000).unwrap();
            assert!(head.streamed, "{name}: told by its magic bytes");
            assert!(head.bytes.len() > 99_000, "{name}: {}", head.bytes.len());
            assert_eq!(head.bytes[..], csv[..head.bytes.len()], "{name}");
            // The compressed bytes that made the head are counted, not the decoder's whole
            // input buffer: the head inflates about as much as the whole file.
            let ratio = head.bytes.len() as f64 / head.disk_bytes as f64;
            let whole = csv.len() as f64 / std::fs::metadata(&gz).unwrap().len() as f64;
            assert!((ratio - whole).abs() < 0.25 * whole, "{name}: {ratio} against {whole}");
        }
    }

    #[test]
    fn a_fifo_is_left_unopened_for_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("CHARTEVENTS.csv");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Opening a FIFO with no writer blocks: on a thread, so that the test fails, not hangs.
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || send.send(read_head(&fifo, 1000).map(|h| h.bytes.len())));
        let head = receive.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(head.expect("read_head opened the FIFO").unwrap(), 0, "nothing to profile");
    }

    #[test]
    fn an_empty_table_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("CHARTEVENTS.csv");
        std::fs::write(&empty, b"").unwrap();
        let err = read_head(&empty, 1000).err().expect("an empty table is an error");
        assert!(err.to_string().contains("CHARTEVENTS.csv"), "{err}");
    }

    /// The demo export, gzipped as shipped, and inflated: the profile must see the same
    /// amount of CSV to parse in both, from the head's inflation ratio for gzip.
    #[test]
    fn the_profile_scales_to_the_inflated_size_of_every_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = Vec::new();
        let mut inflated_total = 0;
        let mut misnamed = Vec::new();
        for name in ["CHARTEVENTS", "LABEVENTS"] {
            let csv = inflated(&demo(&format!("{name}.csv.gz")));
            inflated_total += csv.len();
            let path = dir.path().join(format!("{name}.csv"));
            std::fs::write(&path, csv).unwrap();
            plain.push(path);
            let path = dir.path().join(format!("{name}-gz.csv"));
            std::fs::copy(demo(&format!("{name}.csv.gz")), &path).unwrap();
            misnamed.push(path);
        }
        let gzipped = vec![demo("CHARTEVENTS.csv.gz"), demo("LABEVENTS.csv.gz")];
        let options = SampleOptions {
            items: crate::items::ItemSet::MedlensNumerical.item_ids(),
            hours: 48,
            skip_bad_rows: false,
        };
        let pool = crate::backend::thread_pool(2, false).unwrap();
        let profile_of = |events: Vec<PathBuf>| {
            let inputs = SampleInputs { admissions: demo("ADMISSIONS.csv.gz"), events };
            let plan = Plan::new(&inputs, &options).unwrap();
            // The demo export is small enough for the budget to stop the profile early.
            profile_within(&plan, &inputs, &ProfilePool::new(&pool, false), f64::INFINITY).unwrap()
        };
        let (exact, head) = profile_of(plain.clone());
        let head = head.expect("a plain table's good records are kept for the run");
        assert_eq!(head.table, 0, "CHARTEVENTS, the largest");
        assert!(exact.kept > Duration::ZERO && exact.kept <= exact.profiling);
        assert_eq!(exact.tasks, inflated_total.div_ceil(PIECE_BYTES) as u64);
        assert!(exact.pipe_bytes >= inflated_total as u64, "every byte goes to a worker");
        assert_eq!(exact.floor, Duration::ZERO, "plain tables are not inflated");
        assert!(exact.compute > Duration::ZERO && exact.coordinator > Duration::ZERO);
        for (label, events) in [("gzip", gzipped), ("gzip named .csv", misnamed)] {
            let (estimated, head) = profile_of(events);
            assert!(head.is_none(), "{label}: a stream is read from its start");
            // From the head's inflation ratio, which a table's first records (its header, a
            // compressor still learning) make a little lower than the whole table's.
            let (a, b) = (estimated.tasks as f64, exact.tasks as f64);
            assert!((a - b).abs() <= 0.25 * b, "{label}: {a} tasks, {b} exactly");
            assert!(estimated.floor > Duration::ZERO, "{label}: inflating is on one thread");
        }
        assert!(!exact.over_budget);

        // No budget at all: the profile stops after its first part, which it parsed serially.
        let inputs = SampleInputs { admissions: demo("ADMISSIONS.csv.gz"), events: plain };
        let plan = Plan::new(&inputs, &options).unwrap();
        let (cut, _) =
            profile_within(&plan, &inputs, &ProfilePool::new(&pool, false), 0.0).unwrap();
        assert!(cut.over_budget);
        assert_eq!((cut.thread_speedup, cut.threads_measured), (1.0, 1), "no part ran on the pool");
        assert_eq!(cut.coordinator, Duration::ZERO, "the events' costs were not timed");
        assert!(cut.compute > Duration::ZERO, "the serial rate of the first part");
        assert_eq!(cut.tasks, exact.tasks, "scaled to every table all the same");
    }

    /// Profiles sampling `events` (and the demo's admissions), then samples them, keeping
    /// the profile's head if `keep` and it has one: the grid's bytes and the report, or the
    /// error.
    fn sample_with(
        events: &[PathBuf],
        skip_bad_rows: bool,
        keep: bool,
    ) -> Result<(Vec<u8>, String)> {
        use crate::backend::{BackendKind, BackendSpec, Executor};
        let inputs =
            SampleInputs { admissions: demo("ADMISSIONS.csv.gz"), events: events.to_vec() };
        let options = SampleOptions {
            items: crate::items::ItemSet::MedlensNumerical.item_ids(),
            hours: 48,
            skip_bad_rows,
        };
        let plan = Plan::new(&inputs, &options)?;
        let pool = crate::backend::thread_pool(2, false)?;
        let (_, head) =
            profile_within(&plan, &inputs, &ProfilePool::new(&pool, false), f64::INFINITY)?;
        let head = head.filter(|_| keep);
        let mut exec =
            Executor::start(BackendSpec { kind: BackendKind::Threads, workers: 2, pin: false })?;
        let dir = tempfile::tempdir().unwrap();
        let (grid, _, report) = crate::sampling::sample_to_grid(
            &plan,
            &inputs,
            &options,
            head,
            &mut exec,
            &indicatif::ProgressBar::hidden(),
            &dir.path().join("grid.npy"),
            crate::grid::SampledGridHome::Memory,
        )?;
        let bytes = bytemuck::cast_slice(grid.values()).to_vec();
        let report =
            format!("{:?} {:?} {:?}", report.rows, report.first_bad_rows, report.observed_per_item);
        Ok((bytes, report))
    }

    /// Whether the profile of sampling `events` offers its parsed head to the run.
    fn offers_head(events: &[PathBuf]) -> bool {
        let inputs =
            SampleInputs { admissions: demo("ADMISSIONS.csv.gz"), events: events.to_vec() };
        let options = SampleOptions { items: vec![220045], hours: 48, skip_bad_rows: false };
        let plan = Plan::new(&inputs, &options).unwrap();
        let pool = crate::backend::thread_pool(2, false).unwrap();
        profile_within(&plan, &inputs, &ProfilePool::new(&pool, false), f64::INFINITY)
            .unwrap()
            .1
            .is_some()
    }

    /// The demo's events as plain tables in `dir`, CHARTEVENTS edited by `edit`.
    fn plain_events(dir: &Path, edit: impl Fn(&mut Vec<u8>)) -> Vec<PathBuf> {
        std::fs::create_dir_all(dir).unwrap();
        ["CHARTEVENTS", "LABEVENTS"]
            .iter()
            .map(|name| {
                let mut csv = inflated(&demo(&format!("{name}.csv.gz")));
                if *name == "CHARTEVENTS" {
                    edit(&mut csv);
                }
                let path = dir.join(format!("{name}.csv"));
                std::fs::write(&path, csv).unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn a_kept_head_samples_the_same_grid_rows_and_errors_as_parsing_it_again() {
        let dir = tempfile::tempdir().unwrap();
        let good = plain_events(&dir.path().join("good"), |_| ());
        let same = |events: &[PathBuf], skip| {
            assert!(offers_head(events), "the profile parsed good records only");
            let kept = sample_with(events, skip, true);
            let again = sample_with(events, skip, false);
            match (kept, again) {
                (Ok(a), Ok(b)) => assert!(a == b, "kept: {}\nagain: {}", a.1, b.1),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                (a, b) => panic!("kept: {:?}, again: {:?}", a.map(|r| r.1), b.map(|r| r.1)),
            }
        };
        same(&good, false);
        // A bad row after the head: reported on its line (the run counts lines on from the
        // head's end), or skipped and listed the same way.
        let bad_tail =
            plain_events(&dir.path().join("tail"), |csv| csv.extend_from_slice(b"1,2\n"));
        let err = sample_with(&bad_tail, false, true).expect_err("a bad row is an error");
        let lines = inflated(&demo("CHARTEVENTS.csv.gz")).iter().filter(|&&b| b == b'\n').count();
        assert!(err.to_string().contains(&format!("CHARTEVENTS.csv:{}:", lines + 1)), "{err}");
        same(&bad_tail, false);
        same(&bad_tail, true);
    }

    #[test]
    fn a_head_that_is_the_whole_table_is_kept() {
        // One table of 151 records, a few KiB: the head (at least 32 KiB) is all of it, and no
        // batch of the run comes to take its records along.
        let dir = tempfile::tempdir().unwrap();
        let events = plain_events(dir.path(), |csv| {
            let end = csv.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(150).unwrap().0;
            csv.truncate(end + 1);
        });
        let chart = &events[..1];
        assert!(std::fs::metadata(&chart[0]).unwrap().len() < 32 << 10);
        assert!(offers_head(chart));
        let (kept, report) = sample_with(chart, false, true).unwrap();
        let (again, expected) = sample_with(chart, false, false).unwrap();
        assert!(kept == again && report == expected, "kept: {report}\nagain: {expected}");
        assert!(report.starts_with("RowCounts { read: 150, used: 13,"), "{report}");
    }

    #[test]
    fn a_head_with_a_bad_row_is_left_to_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let bad_head = plain_events(dir.path(), |csv| {
            let second = csv.iter().position(|&b| b == b'\n').unwrap() + 1;
            csv.splice(second..second, b"1,2\n".iter().copied());
        });
        assert!(!offers_head(&bad_head));
        let err = sample_with(&bad_head, false, true).expect_err("a bad row is an error");
        assert!(err.to_string().contains("CHARTEVENTS.csv:2:"), "{err}");
        let (_, report) = sample_with(&bad_head, true, true).unwrap();
        assert!(report.contains("bad: 1"), "{report}");
    }

    #[test]
    fn the_budget_is_a_share_of_the_sampling_time() {
        // A sampling expected to take 1 s: 5% of it is 50 ms.
        assert!(within_budget(0.049, 0.05, 1.0));
        assert!(!within_budget(0.051, 0.05, 1.0));
        assert!(!within_budget(1e-9, 0.0, 1.0));
    }
}
