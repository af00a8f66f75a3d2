//! Sampling on worker processes: each piece of an events table is parsed and placed into bins
//! by a worker; the coordinator keeps the results in file order, as threads do, and sums them
//! into bins on as many threads as there are workers once every piece is back.
//!
//! Over `pipe` a piece's bytes go to the worker over its stdin; over `shm` the worker maps
//! them itself: from the table file (plain tables are mapped, so the piece is already in the
//! page cache) or, for gzip and piped tables, from a segment the batch is inflated into. The
//! parsed events come back over stdout, or in a segment the worker creates, which the
//! coordinator maps and copies the events from.

use super::accumulate::EncodedEvents;
use super::{parse_piece, ParsedPiece, Plan, RowCounts, SampleOptions};
use crate::backend::region::shared_region;
use crate::backend::worker::{Blobs, TaskResult, WorkerJob};
use crate::backend::{Completion, Payload, ProcessPool, Region, RemoteTask, Transport};
use crate::error::{Error, Result, RowError};
use crate::grid::{ByteStorage, GridShape, SharedBytes};
use crate::ingest::events::EventColumns;
use crate::ingest::pieces::Piece;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};

/// The job's settings: workers read the admissions table themselves to place events.
#[derive(Serialize, Deserialize)]
pub struct SampleJob {
    pub admissions: PathBuf,
    pub options: SampleOptions,
}

#[derive(Serialize, Deserialize)]
struct ParseTask {
    columns: EventColumns,
    first_line: u64,
}

#[derive(Serialize, Deserialize)]
struct ParseMeta {
    rows: RowCounts,
    bad: Vec<(u64, String)>,
    fatal: Option<(u64, String)>,
}

/// Starts a sampling job on `pool`.
pub fn setup(pool: &mut ProcessPool, admissions: &Path, options: &SampleOptions) -> Result<()> {
    let job = SampleJob { admissions: admissions.to_path_buf(), options: options.clone() };
    pool.setup(json!(crate::jobs::JobSpec::Sample(job)))
}

/// Parses a batch of pieces of `table` on the pool, handing each result to `commit` in piece
/// order as soon as it and all before it are back. The events are read where they arrived (a
/// pipe's buffer, or the worker's segment, mapped when their turn comes) and appended once to
/// the accumulator's lists; no intermediate copy.
pub(super) fn parse_batch(
    pool: &mut ProcessPool,
    pieces: &[Piece<'_>],
    columns: &EventColumns,
    table: &Path,
    shape: GridShape,
    mut commit: impl FnMut(
        std::result::Result<ParsedPiece<EncodedEvents<'_>>, (u64, RowError)>,
    ) -> Result<()>,
) -> Result<()> {
    let shm = pool.transport() == Transport::Shm;
    // Stream pieces over shm: one copy of the batch into a segment the workers map.
    let staged = if shm && pieces.iter().any(|p| p.file_offset.is_none()) {
        let total = pieces.iter().map(|p| p.bytes.len()).sum();
        let mut segment = SharedBytes::create(total)?;
        let mut at = 0;
        for piece in pieces {
            segment.bytes_mut()[at..at + piece.bytes.len()].copy_from_slice(piece.bytes);
            at += piece.bytes.len();
        }
        Some(segment)
    } else {
        None
    };
    let mut staged_at = 0u64;
    let tasks: Vec<RemoteTask<'_>> = pieces
        .iter()
        .enumerate()
        .map(|(k, piece)| {
            let len = piece.bytes.len() as u64;
            let payload = match (&staged, piece.file_offset) {
                (_, Some(offset)) if shm => {
                    Payload::Region(Region { path: table.to_path_buf(), offset, len })
                }
                (Some(segment), _) => {
                    staged_at += len;
                    Payload::Region(shared_region(segment, staged_at - len, len))
                }
                _ => Payload::Bytes(piece.bytes),
            };
            RemoteTask {
                spec: json!(ParseTask { columns: *columns, first_line: piece.first_line }),
                inputs: Vec::new(),
                scratch: vec![("piece".to_string(), payload)],
                output: None,
                affinity: k as u64,
            }
        })
        .collect();
    // Results back before their turn wait here, as they came (a segment stays a segment).
    let mut waiting: Vec<Option<(ParseMeta, Completion)>> =
        (0..pieces.len()).map(|_| None).collect();
    let mut next = 0;
    pool.run(&tasks, |k, done| {
        let meta: ParseMeta = serde_json::from_value(done.meta.clone())
            .map_err(|e| Error::Workers(format!("bad parse result: {e}")))?;
        waiting[k] = Some((meta, done));
        while let Some((meta, done)) = waiting.get_mut(next).and_then(Option::take) {
            match meta.fatal {
                Some((line, message)) => commit(Err((line, RowError::Reported(message))))?,
                None => done.read(|bytes| {
                    let events = EncodedEvents::parse(bytes, shape)
                        .map_err(|e| Error::Workers(format!("bad parse result: {e}")))?;
                    let bad =
                        meta.bad.into_iter().map(|(l, m)| (l, RowError::Reported(m))).collect();
                    commit(Ok(ParsedPiece { by_item: events, rows: meta.rows, bad }))
                })??,
            }
            // Consumed: its segment can go now rather than at the end of the job.
            done.discard();
            next += 1;
        }
        Ok(())
    })?;
    drop(staged);
    debug_assert_eq!(next, pieces.len(), "every piece committed");
    Ok(())
}

/// The worker half: the admissions read once per job, then one piece per task.
pub struct SampleWorker {
    plan: Plan,
    skip_bad_rows: bool,
}

impl SampleWorker {
    pub fn new(job: SampleJob) -> std::result::Result<Self, String> {
        let plan =
            Plan::for_admissions(&job.admissions, &job.options).map_err(|e| e.to_string())?;
        Ok(SampleWorker { plan, skip_bad_rows: job.options.skip_bad_rows })
    }
}

impl WorkerJob for SampleWorker {
    fn run(
        &mut self,
        spec: &serde_json::Value,
        blobs: &mut Blobs,
        _output: Option<&mut [u8]>,
    ) -> std::result::Result<TaskResult, String> {
        let task: ParseTask = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
        let piece =
            Piece { bytes: blobs.get("piece")?, first_line: task.first_line, file_offset: None };
        let parsed = parse_piece(&piece, &task.columns, &self.plan, self.skip_bad_rows);
        let (meta, bytes) = match parsed {
            Err((line, error)) => {
                let meta = ParseMeta {
                    rows: RowCounts::default(),
                    bad: Vec::new(),
                    fatal: Some((line, error.to_string())),
                };
                (meta, Vec::new())
            }
            Ok(piece) => {
                let bad = piece.bad.iter().map(|(l, e)| (*l, e.to_string())).collect();
                let meta = ParseMeta { rows: piece.rows, bad, fatal: None };
                (meta, EncodedEvents::encode(&piece.by_item))
            }
        };
        Ok(TaskResult { meta: json!(meta), bytes })
    }
}
