//! Hourly sampling: events of any number of tables into one grid of bin means.
//!
//! The pipeline per events table: [`pieces`](crate::ingest::pieces) cuts it into pieces of
//! whole records; a batch of pieces is parsed in parallel, each piece placing its rows into
//! bins ([`windows`]) and grouping them by item; then the batch's events are kept, in file
//! order ([`accumulate`]). Once every table is read they are summed into bin means, item by
//! item, and the grid is written from them: to its file (`sample`) or into memory (`run`).
//! Memory is the events placed and one batch of input, whatever the size of the export, and
//! never more than dense planes of the grid would take.

pub mod accumulate;
pub mod profile;
pub mod remote;
pub mod windows;

pub use profile::ParsedHead;
pub use windows::{AdmissionWindows, Placement};

use crate::backend::{BackendKind, Executor, ProcessPool};
use crate::cancel;
use crate::error::{BadRow, Error, Result, RowError};
use crate::grid::{Axes, Grid, GridShape, MemoryBytes, SampledGridHome};
use crate::ingest::events::{parse_events, EventColumns, ParsedRow, RowFilter};
use crate::ingest::pieces::{read_pieces, read_pieces_from, Piece, PieceSink};
use crate::ingest::{columns::Header, read_admissions, Admission};
use crate::items::ItemIndex;
use accumulate::{Accumulator, BinEvent};
use indicatif::ProgressBar;
use rayon::prelude::*;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The export files to sample.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SampleInputs {
    pub admissions: PathBuf,
    /// CHARTEVENTS, LABEVENTS, ... in any number; each is read in turn.
    pub events: Vec<PathBuf>,
}

/// How to sample.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SampleOptions {
    /// Item ids, in grid order.
    pub items: Vec<u32>,
    /// Bins per admission (720 = 30 days).
    pub hours: usize,
    /// Skip malformed rows (and report them) instead of stopping at the first.
    pub skip_bad_rows: bool,
}

/// What happened to the rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowCounts {
    /// Data rows read (header excluded, blank lines excluded).
    pub read: u64,
    /// Rows that reached a bin.
    pub used: u64,
    pub empty_value: u64,
    pub item_not_selected: u64,
    pub no_admission: u64,
    pub outside_window: u64,
    /// Malformed rows skipped under `--skip-bad-rows`.
    pub bad: u64,
}

impl RowCounts {
    fn merge(&mut self, other: &RowCounts) {
        self.read += other.read;
        self.used += other.used;
        self.empty_value += other.empty_value;
        self.item_not_selected += other.item_not_selected;
        self.no_admission += other.no_admission;
        self.outside_window += other.outside_window;
        self.bad += other.bad;
    }
}

/// How many skipped bad rows are listed by line in the report.
pub const BAD_ROWS_LISTED: usize = 5;

/// The outcome of a sampling run.
#[derive(Clone, Debug)]
pub struct SampleReport {
    pub rows: RowCounts,
    /// The first [`BAD_ROWS_LISTED`] malformed rows skipped, in file order.
    pub first_bad_rows: Vec<BadRow>,
    pub shape: GridShape,
    /// Bins with at least one event, per item (the imputation's profile picks and scales its
    /// items by them).
    pub observed_per_item: Vec<u64>,
    /// Event bytes after decompression (what was parsed).
    pub csv_bytes: u64,
    /// Event bytes on disk.
    pub disk_bytes: u64,
    /// Where the grid was kept and why, for a job that keeps it between its stages
    /// ([`sample_to_grid`]); `None` when it went straight to its file.
    pub grid_home: Option<String>,
    pub elapsed: Duration,
}

impl SampleReport {
    /// Bins with at least one event.
    pub fn bins_observed(&self) -> u64 {
        self.observed_per_item.iter().sum()
    }
}

/// Admissions and windows, read once and shared by sampling and the axes file.
///
/// Built by the caller, once per job: `--backend auto` profiles sampling on the same plan the
/// run then samples with, rather than reading the admissions twice.
pub struct Plan {
    pub admissions: Vec<Admission>,
    pub windows: AdmissionWindows,
    pub items: ItemIndex,
    pub shape: GridShape,
    /// Time taken to read the admissions and build the plan: part of the sampling stage's
    /// time in its report.
    pub read_time: Duration,
}

impl Plan {
    /// Reads the admissions table and checks the options.
    pub fn new(inputs: &SampleInputs, options: &SampleOptions) -> Result<Self> {
        if options.hours == 0 {
            return Err(Error::Usage("--hours must be at least 1".into()));
        }
        if options.items.is_empty() {
            return Err(Error::Usage("no item selected".into()));
        }
        if inputs.events.is_empty() {
            return Err(Error::Usage("at least one events table is needed".into()));
        }
        Self::for_admissions(&inputs.admissions, options)
    }

    /// Reads the admissions table alone (what a worker process needs to place events).
    pub fn for_admissions(admissions: &Path, options: &SampleOptions) -> Result<Self> {
        let start = Instant::now();
        let admissions = read_admissions(admissions)?;
        let windows = AdmissionWindows::new(&admissions, options.hours);
        let items = ItemIndex::new(options.items.clone());
        let shape =
            GridShape { items: items.len(), admissions: admissions.len(), hours: options.hours };
        Ok(Plan { admissions, windows, items, shape, read_time: start.elapsed() })
    }

    /// The grid's axes.
    pub fn axes(&self) -> Axes {
        Axes::new(
            self.items.ids().to_vec(),
            self.shape.hours,
            self.admissions.iter().enumerate().map(|(i, a)| {
                let end = self.windows.window_end(i);
                (a.subject_id, a.hadm_id, a.dischtime, end, a.hospital_expire_flag)
            }),
        )
    }
}

/// Samples an export into a grid file at `out` (and `<out>.axes.json`), atomically, by `plan`
/// (`Plan::new(inputs, options)`), keeping the records `head` holds parsed already.
///
/// The grid is never held in memory: the events' means are gathered sparsely
/// ([`accumulate`]) and the file is written from them front to back, NaN between, in windows
/// filled on every thread ([`write_staged_in_parts`](crate::output::write_staged_in_parts)).
/// Memory is the events placed (or, for an export dense enough, the dense planes), not the
/// grid.
pub fn sample_to_file(
    plan: &Plan,
    inputs: &SampleInputs,
    options: &SampleOptions,
    out: &Path,
    head: Option<ParsedHead>,
    exec: &mut Executor,
    progress: &ProgressBar,
) -> Result<SampleReport> {
    let start = Instant::now();
    let accumulator = Accumulator::new(plan.shape);
    let (accumulator, mut report) =
        parse_tables(plan, inputs, options, head, accumulator, exec, progress)?;
    let bins = exec.install_wide(|| accumulator.finish())?;
    report.observed_per_item = bins.observed().to_vec();
    let header = crate::grid::npy_header(&plan.shape);
    let threads = exec.spec().workers;
    let staged_grid = crate::output::write_staged_in_parts(
        out,
        &header,
        plan.shape.data_bytes(),
        threads,
        |at, part| bins.fill(at / 4, bytemuck::cast_slice_mut(part)),
    )?;
    drop(bins);
    let axes_path = Axes::path_for(out);
    let staged_axes = crate::output::write_staged(&axes_path, plan.axes().to_json().as_bytes())?;
    cancel::check()?;
    crate::output::persist(staged_axes, &axes_path)?;
    crate::output::persist(staged_grid, out)?;
    report.elapsed = plan.read_time + start.elapsed();
    Ok(report)
}

/// Samples an export into a grid kept for the rest of a job whose output is `out`, with its
/// axes, on `exec`, by `plan`. `home` says where the grid lives: in memory, or in a scratch
/// file beside `out` for a grid larger than the memory this process may fill (the kernel then
/// pages it to disk). The records `head` holds are kept, not parsed again. Over `shm` the grid
/// is in shared bytes, which the imputation's workers then map
/// ([`SharedBytes::for_grid`](crate::grid::SharedBytes::for_grid)).
#[allow(clippy::too_many_arguments)]
pub fn sample_to_grid(
    plan: &Plan,
    inputs: &SampleInputs,
    options: &SampleOptions,
    head: Option<ParsedHead>,
    exec: &mut Executor,
    progress: &ProgressBar,
    out: &Path,
    home: SampledGridHome,
) -> Result<(Grid<MemoryBytes>, Axes, SampleReport)> {
    // The stage's time includes reading the admissions (the plan's) and allocating the grid (a
    // shared segment's pages are all backed up front, see `grid::shared`).
    let start = Instant::now();
    let shared = exec.spec().kind == BackendKind::Shm;
    let len = plan.shape.npy_bytes();
    let (in_memory, why) = home.decide(len);
    let storage = MemoryBytes::for_sampled_grid(len, in_memory, shared, out)?;
    let grid_home = format!("{} {} ({why})", crate::memory::human(len as u64), storage.describe());
    let mut grid = Grid::create(storage, plan.shape);
    let accumulator = Accumulator::with_target(grid.values_mut(), plan.shape);
    let (accumulator, mut report) =
        parse_tables(plan, inputs, options, head, accumulator, exec, progress)?;
    report.observed_per_item = exec.install_wide(|| accumulator.finish().into_target())?;
    report.grid_home = Some(grid_home);
    report.elapsed = plan.read_time + start.elapsed();
    cancel::check()?;
    Ok((grid, plan.axes(), report))
}

/// Parses every events table into `accumulator` on `exec` (pieces parsed on its threads or
/// worker processes). The caller sums the bins after, on as many threads as `exec` has
/// workers ([`Executor::install_wide`]).
fn parse_tables<'g>(
    plan: &Plan,
    inputs: &SampleInputs,
    options: &SampleOptions,
    head: Option<ParsedHead>,
    accumulator: Accumulator<'g>,
    exec: &mut Executor,
    progress: &ProgressBar,
) -> Result<(Accumulator<'g>, SampleReport)> {
    let skip = options.skip_bad_rows;
    let parsed = match exec.processes() {
        None => {
            let sampler = Sampler::new(plan, accumulator, skip, progress, None);
            exec.install(|| sample_into(inputs, head, sampler))?
        }
        Some((pool, coordinator)) => {
            remote::setup(pool, &inputs.admissions, options)?;
            let sampler = Sampler::new(plan, accumulator, skip, progress, Some(pool));
            coordinator.install(|| sample_into(inputs, head, sampler))?
        }
    };
    cancel::check()?;
    Ok(parsed)
}

/// Parses every events table into `sink`'s accumulator, but for the records `head` holds
/// parsed: pieces are parsed on its process pool's workers when it has one, else on the
/// current rayon pool.
fn sample_into<'g>(
    inputs: &SampleInputs,
    mut head: Option<ParsedHead>,
    mut sink: Sampler<'_, 'g>,
) -> Result<(Accumulator<'g>, SampleReport)> {
    let start = Instant::now();
    let disk_sizes = inputs
        .events
        .iter()
        .map(|path| Ok(std::fs::metadata(path).map_err(|e| Error::input(path, e))?.len()))
        .collect::<Result<Vec<u64>>>()?;
    let disk_total = disk_sizes.iter().sum();
    sink.progress.set_length(disk_total);
    let mut csv_bytes = 0;
    for (table, (path, size)) in inputs.events.iter().zip(&disk_sizes).enumerate() {
        sink.path = path.clone();
        sink.columns = None;
        csv_bytes += match head.take_if(|head| head.table == table) {
            Some(head) => {
                // On threads the head's pieces join the first batch's add (see
                // `Sampler::add`); over worker processes pieces are added one by one as they
                // come back anyway, and the head's go first.
                sink.waiting = head.pieces;
                if sink.pool.is_some() {
                    sink.add(Vec::new())?;
                }
                let read = read_pieces_from(path, &mut sink, head.resume)?;
                // The head was the whole table: no batch came to take its pieces along.
                sink.add(Vec::new())?;
                read
            }
            None => read_pieces(path, &mut sink)?,
        };
        sink.progress_base += size;
    }
    let Sampler { accumulator, rows, first_bad_rows, plan, .. } = sink;
    let report = SampleReport {
        rows,
        first_bad_rows,
        shape: plan.shape,
        observed_per_item: Vec::new(),
        csv_bytes,
        disk_bytes: disk_total,
        grid_home: None,
        elapsed: start.elapsed(),
    };
    Ok((accumulator, report))
}

/// Receives the pieces of one events table after another.
struct Sampler<'a, 'g> {
    plan: &'a Plan,
    accumulator: Accumulator<'g>,
    skip_bad_rows: bool,
    path: PathBuf,
    columns: Option<EventColumns>,
    rows: RowCounts,
    first_bad_rows: Vec<BadRow>,
    progress: &'a ProgressBar,
    progress_base: u64,
    pool: Option<&'a mut ProcessPool>,
    /// The sampling profile's pieces of the table being read (its first records), added with
    /// the table's first batch (see [`Sampler::add`]).
    waiting: Vec<ParsedPiece>,
}

/// One parsed piece: its events grouped by item, its row counts, its first bad rows.
struct ParsedPiece<E = Vec<Vec<BinEvent>>> {
    by_item: E,
    rows: RowCounts,
    bad: Vec<(u64, RowError)>,
}

impl PieceSink for Sampler<'_, '_> {
    fn header(&mut self, header: &[u8]) -> Result<()> {
        self.columns = Some(EventColumns::find(&Header::parse(header), &self.path)?);
        Ok(())
    }

    fn batch(&mut self, pieces: &[Piece<'_>], consumed: u64) -> Result<()> {
        cancel::check()?;
        let columns = self.columns.expect("header comes before pieces");
        let (plan, skip) = (self.plan, self.skip_bad_rows);
        match self.pool.take() {
            None => {
                let parsed: Vec<_> = pieces
                    .par_iter()
                    .map(|piece| parse_piece(piece, &columns, plan, skip))
                    .collect();
                self.add(parsed)?;
            }
            Some(pool) => {
                // Each piece is added as soon as it and every piece before it are back, while
                // the workers parse the rest: the coordinator's one thread is not a pause.
                let path = self.path.clone();
                let result = remote::parse_batch(pool, pieces, &columns, &path, plan.shape, |r| {
                    let piece = self.check(r)?;
                    self.accumulator.add(&[piece.by_item]);
                    Ok(())
                });
                self.pool = Some(pool);
                result?;
            }
        }
        self.progress.set_position(self.progress_base + consumed);
        Ok(())
    }
}

impl<'a, 'g> Sampler<'a, 'g> {
    fn new(
        plan: &'a Plan,
        accumulator: Accumulator<'g>,
        skip_bad_rows: bool,
        progress: &'a ProgressBar,
        pool: Option<&'a mut ProcessPool>,
    ) -> Self {
        Sampler {
            plan,
            accumulator,
            skip_bad_rows,
            path: PathBuf::new(),
            columns: None,
            rows: RowCounts::default(),
            first_bad_rows: Vec::new(),
            progress,
            progress_base: 0,
            pool,
            waiting: Vec::new(),
        }
    }

    /// Counts and adds a batch of parsed pieces, in file order, after the sampling profile's
    /// pieces of the table if they still wait; a malformed row is the error.
    ///
    /// The profile's pieces join the table's first batch rather than being added on their own
    /// before it. Added on their own, they made the add of the first batch take twice as long
    /// on a 30-subject export of 77 items (0.71-1.10 ms against 0.34-0.55 ms, medians of 21-61
    /// runs in five traces, its events held per item): most of what `auto`'s sampling lost to
    /// `threads`' there beyond its profile. Joined, the two adds differed by 0.03 ms.
    fn add(
        &mut self,
        parsed: Vec<std::result::Result<ParsedPiece, (u64, RowError)>>,
    ) -> Result<()> {
        let waiting = std::mem::take(&mut self.waiting);
        if waiting.is_empty() && parsed.is_empty() {
            return Ok(());
        }
        let mut good = Vec::with_capacity(waiting.len() + parsed.len());
        for result in waiting.into_iter().map(Ok).chain(parsed) {
            good.push(self.check(result)?);
        }
        let batches: Vec<&[Vec<BinEvent>]> = good.iter().map(|p| p.by_item.as_slice()).collect();
        self.accumulator.add(&batches);
        Ok(())
    }

    /// A parsed piece's rows and skipped bad rows, counted; a malformed row is the error.
    fn check<E>(
        &mut self,
        parsed: std::result::Result<ParsedPiece<E>, (u64, RowError)>,
    ) -> Result<ParsedPiece<E>> {
        let piece = parsed.map_err(|(line, error)| self.bad_row(line, error))?;
        self.rows.merge(&piece.rows);
        for (line, error) in &piece.bad {
            if self.first_bad_rows.len() < BAD_ROWS_LISTED {
                self.first_bad_rows.push(self.bad_row(*line, error.clone()));
            }
        }
        Ok(piece)
    }

    fn bad_row(&self, line: u64, error: RowError) -> BadRow {
        BadRow { path: self.path.clone(), line, error }
    }
}

/// Parses one piece; a malformed row is returned as the error unless `skip_bad_rows`.
fn parse_piece(
    piece: &Piece<'_>,
    columns: &EventColumns,
    plan: &Plan,
    skip_bad_rows: bool,
) -> std::result::Result<ParsedPiece, (u64, RowError)> {
    let hours = plan.shape.hours;
    let mut out = ParsedPiece {
        by_item: vec![Vec::new(); plan.shape.items],
        rows: RowCounts::default(),
        bad: Vec::new(),
    };
    let mut fatal = None;
    parse_events(piece.bytes, piece.first_line, columns, &plan.items, |line, row| {
        let rows = &mut out.rows;
        rows.read += 1;
        match row {
            ParsedRow::Event(event) => {
                match plan.windows.place(event.subject_id, event.charttime) {
                    Placement::Bin { admission, hour } => {
                        rows.used += 1;
                        let offset = (admission * hours + hour) as u64;
                        let value = event.value as f32;
                        out.by_item[event.item_slot].push(BinEvent { offset, value });
                    }
                    Placement::NoAdmission => rows.no_admission += 1,
                    Placement::OutsideWindow => rows.outside_window += 1,
                }
            }
            ParsedRow::Filtered(RowFilter::ItemNotSelected) => rows.item_not_selected += 1,
            ParsedRow::Filtered(RowFilter::EmptyValue) => rows.empty_value += 1,
            ParsedRow::Malformed(error) if skip_bad_rows => {
                rows.bad += 1;
                if out.bad.len() < BAD_ROWS_LISTED {
                    out.bad.push((line, error));
                }
            }
            ParsedRow::Malformed(error) => {
                fatal = Some((line, error));
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    match fatal {
        Some(error) => Err(error),
        None => Ok(out),
    }
}
