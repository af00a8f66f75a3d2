//! The imputation plan on worker processes: the same three stages as [`super::plan`], with
//! each task's inputs and results moved by the pool's transport.
//!
//! | stage | task | inputs | result |
//! |---|---|---|---|
//! | prepare | item i | the grid (item i and its partner candidates) | training sets and folds |
//! | train | tree k of set f of item i | item i's prepared sets | the tree |
//! | fill | item i | item i's prepared sets, its trees, its and its partners' blocks | its block |
//!
//! Over `pipe` the grid goes to a worker item block by item block, as tasks need them, and each
//! result comes back over stdout; over `shm` the worker maps the source grid, writes its block
//! of the destination in place, and results that later tasks need (prepared sets, trees) sit in
//! segments that are passed on by name. The tasks' code is the plan's own: results are
//! byte-identical to `serial` and `threads`.

use super::features::{Bin, FeatureSet, GridContext};
use super::partners::PairTable;
use super::plan::{self, Fold, Prepared};
use super::{ImputeOptions, ImputeReport, ItemReport};
use crate::backend::worker::{Blobs, TaskResult, WorkerJob};
use crate::backend::{Completion, Payload, ProcessPool, Region, RemoteTask, Transport};
use crate::error::{Error, Result};
use crate::forest::{Dataset, Forest, Trainer, Tree};
use crate::grid::{ByteStorage, GridShape, HeapBytes, ItemBlocks};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;
use std::time::Instant;

/// The job's settings, sent to every worker once.
#[derive(Serialize, Deserialize)]
pub struct ImputeJob {
    pub shape: [usize; 3],
    pub options: ImputeOptions,
    pub first_bin_hour: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
enum Task {
    Prepare { item: usize },
    Train { item: usize, fit: usize, tree: usize },
    Fill { item: usize, partners: Vec<usize>, trees: usize, fits: usize },
}

#[derive(Serialize, Deserialize)]
struct PrepareMeta {
    fits: usize,
    partners: Vec<usize>,
}

/// The source grid as the coordinator holds it: its values, and the shared region they are in
/// (a mapped file or a segment), which `shm` requires.
pub struct SharedGrid<'a> {
    pub values: &'a [f32],
    pub region: Option<Region>,
}

fn block_id(j: usize) -> String {
    format!("block/{j}")
}

fn shape_of(s: [usize; 3]) -> GridShape {
    GridShape { items: s[0], admissions: s[1], hours: s[2] }
}

/// Runs the plan for the items `todo` on `pool` (see [`plan::impute`]). `dest_region`,
/// required over `shm`, is where `dest`'s blocks lie in a file the workers map and write in
/// place; over pipes the blocks come back to this process, which hands them to `dest`.
#[allow(clippy::too_many_arguments)]
pub fn impute(
    pool: &mut ProcessPool,
    source: SharedGrid<'_>,
    dest: &dyn ItemBlocks,
    dest_region: Option<Region>,
    shape: GridShape,
    first_bin_hour: &[u8],
    item_ids: &[u32],
    options: &ImputeOptions,
    todo: &[usize],
) -> Result<ImputeReport> {
    let shm = pool.transport() == Transport::Shm;
    if shm && (source.region.is_none() || dest_region.is_none()) {
        return Err(Error::Workers("the shm backend needs grids in shared regions".into()));
    }
    let mut report = ImputeReport::default();
    if shape.is_empty() || todo.is_empty() {
        return Ok(report);
    }
    let job = ImputeJob {
        shape: [shape.items, shape.admissions, shape.hours],
        options: options.clone(),
        first_bin_hour: first_bin_hour.to_vec(),
    };
    pool.setup(json!(crate::jobs::JobSpec::Impute(job)))?;
    let block_bytes = shape.item_block_len() * 4;
    let source_bytes: &[u8] = bytemuck::cast_slice(source.values);
    // An item's grid inputs: over shm the whole grid by name, over pipes the blocks it reads.
    let grid_inputs = |items: &mut dyn Iterator<Item = usize>| -> Vec<(String, Payload<'_>)> {
        match &source.region {
            Some(region) if shm => vec![("grid".to_string(), Payload::Region(region.clone()))],
            _ => items
                .map(|j| {
                    let bytes = &source_bytes[j * block_bytes..(j + 1) * block_bytes];
                    (block_id(j), Payload::Bytes(bytes))
                })
                .collect(),
        }
    };
    let uses_partners = options.method.uses_partners();

    // Stage 1: prepare each item (task j: item todo[j]).
    let start = Instant::now();
    let tasks: Vec<RemoteTask<'_>> = todo
        .iter()
        .map(|&i| RemoteTask {
            spec: json!(Task::Prepare { item: i }),
            inputs: if uses_partners {
                grid_inputs(&mut (0..shape.items))
            } else {
                grid_inputs(&mut std::iter::once(i))
            },
            scratch: Vec::new(),
            output: None,
            affinity: i as u64,
        })
        .collect();
    let mut prepared: Vec<Option<(PrepareMeta, Completion)>> = todo.iter().map(|_| None).collect();
    pool.run(&tasks, |j, done| {
        let meta = serde_json::from_value(done.meta.clone())
            .map_err(|e| Error::Workers(format!("bad prepare result: {e}")))?;
        prepared[j] = Some((meta, done));
        Ok(())
    })?;
    let prepared: Vec<(PrepareMeta, Completion)> =
        prepared.into_iter().map(|p| p.expect("every task completed")).collect();
    report.prepare = start.elapsed();

    // Stage 2: every tree of every training set.
    let start = Instant::now();
    let trees = options.trees.unwrap_or_else(|| plan::default_trees(options.method));
    let mut tasks = Vec::new();
    let mut tree_slots = Vec::new();
    for (j, (meta, done)) in prepared.iter().enumerate() {
        let i = todo[j];
        for f in 0..meta.fits {
            for k in 0..trees {
                tree_slots.push((j, f, k));
                tasks.push(RemoteTask {
                    spec: json!(Task::Train { item: i, fit: f, tree: k }),
                    inputs: vec![(format!("prepared/{i}"), done.as_payload())],
                    scratch: Vec::new(),
                    output: None,
                    affinity: (i * (plan::CV_FOLDS + 1) + f) as u64,
                });
            }
        }
    }
    let mut grown: Vec<Option<Completion>> = (0..tasks.len()).map(|_| None).collect();
    pool.run(&tasks, |t, done| {
        grown[t] = Some(done);
        Ok(())
    })?;
    drop(tasks);
    let grown: Vec<Completion> =
        grown.into_iter().map(|g| g.expect("every task completed")).collect();
    report.train = start.elapsed();

    // Stage 3: fill each item's block.
    let start = Instant::now();
    let mut first_tree = vec![0usize; todo.len() + 1];
    for &(j, _, _) in &tree_slots {
        first_tree[j + 1] += 1;
    }
    for j in 0..todo.len() {
        first_tree[j + 1] += first_tree[j];
    }
    let tasks: Vec<RemoteTask<'_>> = prepared
        .iter()
        .enumerate()
        .map(|(j, (meta, done))| {
            let i = todo[j];
            let mut inputs =
                grid_inputs(&mut std::iter::once(i).chain(meta.partners.iter().copied()));
            inputs.push((format!("prepared/{i}"), done.as_payload()));
            // The trees serve this task alone: dropped by the worker after it (a worker that
            // kept every tree it was sent would map thousands of segments by the end).
            let scratch = (first_tree[j]..first_tree[j + 1])
                .map(|t| {
                    let (_, f, k) = tree_slots[t];
                    (format!("tree/{i}/{f}/{k}"), grown[t].as_payload())
                })
                .collect();
            let output = dest_region.as_ref().filter(|_| shm).map(|region| Region {
                offset: region.offset + (i * block_bytes) as u64,
                len: block_bytes as u64,
                ..region.clone()
            });
            RemoteTask {
                spec: json!(Task::Fill {
                    item: i,
                    partners: meta.partners.clone(),
                    trees,
                    fits: meta.fits
                }),
                inputs,
                scratch,
                output,
                affinity: i as u64,
            }
        })
        .collect();
    let mut items: Vec<Option<ItemReport>> = vec![None; todo.len()];
    pool.run(&tasks, |j, done| {
        let i = todo[j];
        let mut item: ItemReport = serde_json::from_value(done.meta.clone())
            .map_err(|e| Error::Workers(format!("bad fill result: {e}")))?;
        if !shm {
            let bytes = done.bytes()?;
            if bytes.len() != block_bytes {
                return Err(Error::Workers(format!(
                    "item {i}: {} bytes back, expected {block_bytes}",
                    bytes.len()
                )));
            }
            dest.put(i, &bytes)?;
        }
        item.item_id = item_ids[i];
        items[j] = Some(item);
        // Its trees are spent: their segments go now, not when the job ends, so that shared
        // memory holds the trees of the items still to fill, not of every item.
        grown[first_tree[j]..first_tree[j + 1]].iter().for_each(Completion::discard);
        Ok(())
    })?;
    report.items = items.into_iter().map(|i| i.expect("every task completed")).collect();
    report.predict = start.elapsed();
    Ok(report)
}

/// The worker half.
pub struct ImputeWorker {
    shape: GridShape,
    options: ImputeOptions,
    first_bin_hour: Vec<u8>,
    /// Over pipes: the blocks received so far, in place in a grid-sized buffer whose other
    /// pages are never touched (so never resident).
    replica: Option<(HeapBytes, Vec<bool>)>,
    /// Recent trainers by (item, fit): consecutive trees of one set reuse its sorted columns.
    trainers: VecDeque<((usize, usize), Trainer)>,
    /// The source grid's pair table for the partners' search, built by the first prepare task
    /// of the job that needs it (each worker builds its own: one pass over the grid, against
    /// a read of most of the grid per item without it).
    pairs: Option<PairTable>,
}

/// Trainers kept per worker: enough for the sets a worker alternates between, bounded so that
/// memory does not grow with the number of items.
const TRAINERS_KEPT: usize = 4;

impl ImputeWorker {
    pub fn new(job: ImputeJob) -> Self {
        ImputeWorker {
            shape: shape_of(job.shape),
            options: job.options,
            first_bin_hour: job.first_bin_hour,
            replica: None,
            trainers: VecDeque::new(),
            pairs: None,
        }
    }

    /// Over pipes, copies blocks `needed` into the replica as they arrive.
    fn load_blocks(&mut self, blobs: &mut Blobs, needed: &[usize]) -> Result<(), String> {
        if blobs.has("grid") {
            return Ok(());
        }
        let shape = self.shape;
        let (buffer, have) = self
            .replica
            .get_or_insert_with(|| (HeapBytes::zeroed(shape.len() * 4), vec![false; shape.items]));
        let block = shape.item_block_len() * 4;
        for &j in needed {
            if have[j] {
                continue;
            }
            let bytes =
                blobs.take(&block_id(j)).ok_or_else(|| format!("block {j} was never sent"))?;
            if bytes.len() != block {
                return Err(format!("block {j}: {} bytes, expected {block}", bytes.len()));
            }
            buffer.bytes_mut()[j * block..(j + 1) * block].copy_from_slice(&bytes);
            have[j] = true;
        }
        Ok(())
    }

    /// The grid context the plan's tasks read, over `values` (from [`ImputeWorker::values`]).
    fn context<'b>(&'b self, values: &'b [f32]) -> GridContext<'b> {
        GridContext {
            values,
            shape: self.shape,
            first_bin_hour: &self.first_bin_hour,
            replaced: None,
        }
    }

    /// The source grid: mapped whole (shm), or the replica (pipe; only loaded blocks are set).
    fn values<'b>(&'b self, blobs: &'b Blobs) -> Result<&'b [f32], String> {
        let bytes = match (&self.replica, blobs.has("grid")) {
            (_, true) => blobs.get("grid")?,
            (Some((buffer, _)), false) => buffer.bytes(),
            (None, false) => return Err("no grid was sent".into()),
        };
        if bytes.len() != self.shape.len() * 4 {
            return Err(format!(
                "grid of {} bytes, expected {}",
                bytes.len(),
                self.shape.len() * 4
            ));
        }
        bytemuck::try_cast_slice(bytes).map_err(|e| format!("grid region: {e}"))
    }
}

impl WorkerJob for ImputeWorker {
    fn run(
        &mut self,
        spec: &serde_json::Value,
        blobs: &mut Blobs,
        output: Option<&mut [u8]>,
    ) -> Result<TaskResult, String> {
        let task: Task = serde_json::from_value(spec.clone()).map_err(|e| e.to_string())?;
        let (shape, options) = (self.shape, self.options.clone());
        match task {
            Task::Prepare { item } => {
                let needed: Vec<usize> = if options.method.uses_partners() {
                    (0..shape.items).collect()
                } else {
                    vec![item]
                };
                self.load_blocks(blobs, &needed)?;
                if self.pairs.is_none() {
                    let built = PairTable::for_method(self.values(blobs)?, shape, options.method);
                    self.pairs = built;
                }
                let values = self.values(blobs)?;
                let ctx = self.context(values);
                let prep = plan::prepare(&ctx, self.pairs.as_ref(), item, &options);
                let partners = match &prep.set {
                    Some(FeatureSet::Ours { partners, .. }) => partners.clone(),
                    _ => Vec::new(),
                };
                let meta = json!(PrepareMeta { fits: prep.fits.len(), partners });
                Ok(TaskResult { meta, bytes: encode_prepared(&prep) })
            }
            Task::Train { item, fit, tree } => {
                let trees = options.trees.unwrap_or_else(|| plan::default_trees(options.method));
                let params = plan::forest_params(options.method, trees);
                let key = (item, fit);
                if !self.trainers.iter().any(|(k, _)| *k == key) {
                    let bytes = blobs.get(&format!("prepared/{item}"))?;
                    let (data, targets) = decode_fit(bytes, fit)?;
                    if self.trainers.len() == TRAINERS_KEPT {
                        self.trainers.pop_front();
                    }
                    self.trainers.push_back((key, Trainer::new(&data, &targets, &params)));
                }
                let trainer = &self.trainers.iter().find(|(k, _)| *k == key).expect("just added").1;
                let grown = trainer.fit_tree(plan::tree_seed(options.seed, item, fit, tree));
                Ok(TaskResult { meta: serde_json::Value::Null, bytes: grown.to_bytes() })
            }
            Task::Fill { item, partners, trees, fits } => {
                let mut forests = Vec::with_capacity(fits);
                for f in 0..fits {
                    let grown = (0..trees)
                        .map(|k| {
                            Tree::from_bytes(blobs.get(&format!("tree/{item}/{f}/{k}"))?)
                                .map_err(|e| format!("tree {item}/{f}/{k}: {e}"))
                        })
                        .collect::<Result<Vec<Tree>, String>>()?;
                    forests.push(Forest::from_trees(grown));
                }
                let needed: Vec<usize> = std::iter::once(item).chain(partners).collect();
                self.load_blocks(blobs, &needed)?;
                let values = self.values(blobs)?;
                let ctx = self.context(values);
                let prep = decode_prepared(
                    blobs.get(&format!("prepared/{item}"))?,
                    shape.item_block_len(),
                    shape.hours,
                )?;
                let block_len = shape.item_block_len();
                match output {
                    Some(region) => {
                        let block: &mut [f32] = bytemuck::try_cast_slice_mut(region)
                            .map_err(|e| format!("output region: {e}"))?;
                        if block.len() != block_len {
                            return Err(format!(
                                "output region of {} values, expected {block_len}",
                                block.len()
                            ));
                        }
                        let report = plan::fill(&ctx, item, block, &prep, &forests, &options);
                        Ok(TaskResult { meta: json!(report), bytes: Vec::new() })
                    }
                    None => {
                        let mut block = vec![0f32; block_len];
                        let report = plan::fill(&ctx, item, &mut block, &prep, &forests, &options);
                        Ok(TaskResult {
                            meta: json!(report),
                            bytes: bytemuck::cast_slice(&block).to_vec(),
                        })
                    }
                }
            }
        }
    }
}

// A prepared item in bytes: raw little-endian arrays behind a few counts. Folds are their
// hidden bins: the filling worker hides them in its copy of the item's block from the source
// grid, which it has anyway.
//
//   b"MIPR"  set: u32 (0 none, 1 medlens, 2 ours)  window: u32  n_partners: u32  partners: u32..
//   n_fits: u32, then per fit: rows: u32, width: u32, columns: f32[rows*width], targets: f32[rows]
//   n_folds: u32, then per fold: n: u32, (admission: u32, hour: u32, value: f32) x n

const PREPARED_MAGIC: &[u8; 4] = b"MIPR";

fn encode_prepared(prep: &Prepared) -> Vec<u8> {
    let mut out = Vec::new();
    let put = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
    out.extend_from_slice(PREPARED_MAGIC);
    match &prep.set {
        None => [0, 0, 0].iter().for_each(|&v| put(&mut out, v)),
        Some(FeatureSet::Medlens { window }) => {
            [1, *window as u32, 0].iter().for_each(|&v| put(&mut out, v))
        }
        Some(FeatureSet::Ours { window, partners }) => {
            [2, *window as u32, partners.len() as u32].iter().for_each(|&v| put(&mut out, v));
            partners.iter().for_each(|&p| put(&mut out, p as u32));
        }
    }
    put(&mut out, prep.fits.len() as u32);
    for (data, targets) in &prep.fits {
        put(&mut out, data.n_rows() as u32);
        put(&mut out, data.n_features() as u32);
        for j in 0..data.n_features() {
            out.extend_from_slice(bytemuck::cast_slice(data.column(j)));
        }
        out.extend_from_slice(bytemuck::cast_slice(targets));
    }
    put(&mut out, prep.folds.len() as u32);
    for fold in &prep.folds {
        put(&mut out, fold.bins.len() as u32);
        for &((a, h), v) in &fold.bins {
            put(&mut out, a);
            put(&mut out, h);
            put(&mut out, v.to_bits());
        }
    }
    out
}

/// Reads the encoding above, checking every length against the bytes there are.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| "prepared item truncated".to_string())?;
        let part = &self.bytes[self.at..end];
        self.at = end;
        Ok(part)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("prepared item: bad length")?)?;
        Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4"))).collect())
    }
}

fn read_header(bytes: &[u8]) -> Result<(Reader<'_>, Option<FeatureSet>), String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != PREPARED_MAGIC {
        return Err("not a prepared item".into());
    }
    let (kind, window, n_partners) = (r.u32()?, r.u32()? as usize, r.u32()? as usize);
    let partners =
        (0..n_partners).map(|_| r.u32().map(|p| p as usize)).collect::<Result<Vec<_>, _>>()?;
    let set = match kind {
        0 => None,
        1 => Some(FeatureSet::Medlens { window }),
        2 => Some(FeatureSet::Ours { window, partners }),
        k => return Err(format!("prepared item: unknown feature set {k}")),
    };
    Ok((r, set))
}

fn read_fit(r: &mut Reader<'_>) -> Result<(Dataset, Vec<f32>), String> {
    let (rows, width) = (r.u32()? as usize, r.u32()? as usize);
    let columns = r.f32s(rows.checked_mul(width).ok_or("prepared item: bad shape")?)?;
    Ok((Dataset::new(rows, width, columns), r.f32s(rows)?))
}

/// Training set `fit` alone (what a tree task needs).
fn decode_fit(bytes: &[u8], fit: usize) -> Result<(Dataset, Vec<f32>), String> {
    let (mut r, _) = read_header(bytes)?;
    let fits = r.u32()? as usize;
    if fit >= fits {
        return Err(format!("training set {fit} of {fits}"));
    }
    for _ in 0..fit {
        let (rows, width) = (r.u32()? as usize, r.u32()? as usize);
        let floats = rows.checked_mul(width + 1).ok_or("prepared item: bad shape")?;
        r.take(floats.checked_mul(4).ok_or("prepared item: bad shape")?)?;
    }
    read_fit(&mut r)
}

/// What a fill task needs of a prepared item: its feature set and folds (whose bins must lie
/// in a block of `block_len` values). The training sets are skipped, not copied: filling never
/// reads them.
fn decode_prepared(bytes: &[u8], block_len: usize, hours: usize) -> Result<Prepared, String> {
    let (mut r, set) = read_header(bytes)?;
    for _ in 0..r.u32()? {
        let (rows, width) = (r.u32()? as usize, r.u32()? as usize);
        let floats = rows.checked_mul(width + 1).ok_or("prepared item: bad shape")?;
        r.take(floats.checked_mul(4).ok_or("prepared item: bad shape")?)?;
    }
    let fits = Vec::new();
    let mut folds = Vec::new();
    for _ in 0..r.u32()? {
        let n = r.u32()? as usize;
        let mut bins: Vec<(Bin, f32)> = Vec::with_capacity(n.min(block_len));
        for _ in 0..n {
            let (a, h, v) = (r.u32()?, r.u32()?, f32::from_bits(r.u32()?));
            if h as usize >= hours || a as usize * hours + h as usize >= block_len {
                return Err("prepared item: fold bin outside the block".into());
            }
            bins.push(((a, h), v));
        }
        folds.push(Fold { bins });
    }
    if r.at != bytes.len() {
        return Err("prepared item: trailing bytes".into());
    }
    Ok(Prepared { set, fits, folds })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::impute::Method;

    /// A prepared item from a small grid with a pattern the forest can learn.
    fn prepared() -> (GridShape, Prepared) {
        let shape = GridShape { items: 2, admissions: 4, hours: 48 };
        let values: Vec<f32> =
            (0..shape.len()).map(|k| if k % 3 == 0 { (k % 97) as f32 } else { f32::NAN }).collect();
        let hours = vec![0u8; shape.admissions];
        let ctx = GridContext { values: &values, shape, first_bin_hour: &hours, replaced: None };
        let options = ImputeOptions { method: Method::Auto, ..ImputeOptions::default() };
        let pairs = PairTable::for_method(&values, shape, options.method);
        let prep = plan::prepare(&ctx, pairs.as_ref(), 1, &options);
        assert!(prep.fits.len() > 1 && !prep.folds.is_empty(), "cross-validated: folds and fits");
        (shape, prep)
    }

    #[test]
    fn prepared_items_round_trip_through_bytes() {
        let (shape, prep) = prepared();
        let bytes = encode_prepared(&prep);
        for (f, (data, targets)) in prep.fits.iter().enumerate() {
            let (d, t) = decode_fit(&bytes, f).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
            assert_eq!((d.n_rows(), d.n_features()), (data.n_rows(), data.n_features()));
            for j in 0..d.n_features() {
                assert_eq!(bits(d.column(j)), bits(data.column(j)), "set {f}, column {j}");
            }
            assert_eq!(bits(&t), bits(targets));
        }
        assert!(decode_fit(&bytes, prep.fits.len()).is_err(), "no such training set");
        let back = decode_prepared(&bytes, shape.item_block_len(), shape.hours).unwrap();
        assert_eq!(back.folds.len(), prep.folds.len());
        for (a, b) in back.folds.iter().zip(&prep.folds) {
            assert_eq!(a.bins, b.bins);
        }
        assert!(matches!(
            (&back.set, &prep.set),
            (Some(FeatureSet::Ours { window: a, partners: p }), Some(FeatureSet::Ours { window: b, partners: q }))
                if a == b && p == q
        ));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_errors_not_panics() {
        let (shape, prep) = prepared();
        let bytes = encode_prepared(&prep);
        let block = shape.item_block_len();
        for cut in [0, 3, 10, 40, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_prepared(&bytes[..cut], block, shape.hours).is_err(), "cut at {cut}");
        }
        for cut in [0, 3, 10, 40] {
            assert!(decode_fit(&bytes[..cut], 0).is_err(), "cut at {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_prepared(&trailing, block, shape.hours).is_err());
        assert!(decode_prepared(b"MIFT not a prepared item", block, shape.hours).is_err());
        // A fold bin pointing outside the block.
        let far = encode_prepared(&Prepared {
            set: None,
            fits: Vec::new(),
            folds: vec![Fold { bins: vec![((99, 0), 1.0)] }],
        });
        assert!(decode_prepared(&far, block, shape.hours).is_err());
        // An hour past the series, which would land in the next admission's series.
        let late = encode_prepared(&Prepared {
            set: None,
            fits: Vec::new(),
            folds: vec![Fold { bins: vec![((0, shape.hours as u32), 1.0)] }],
        });
        assert!(decode_prepared(&late, block, shape.hours).is_err());
    }
}
