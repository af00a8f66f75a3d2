//! Synthetic MIMIC-III and MIMIC-IV exports (ADMISSIONS, CHARTEVENTS, LABEVENTS) that look and
//! behave like the real tables, for tests and benchmarks: MIMIC itself needs credentialed access.
//!
//! How the pieces fit:
//! - `cohort` plans subject and admission ids (unique across the export) and lays stays out in
//!   time;
//! - `physiology` evolves a latent state per admission from which vitals and labs are read;
//! - `charting` decides when the ICU charts what, with MIMIC's gaps and irregular times, using
//!   the item ids of `catalog`; `labs` draws blood;
//! - `records` holds the result, `render` prints it in each release's CSV dialect.
//!
//! Output depends on the configuration only. Each subject draws from its own ChaCha8 stream keyed
//! by (seed, subject index), so subjects are simulated in parallel; they are then written in
//! fixed batches whose rows are shuffled by a stream of the batch's own, so neither thread count
//! nor timing can change a byte.

mod catalog;
mod charting;
mod cohort;
mod gzip;
mod labs;
mod physiology;
mod records;
mod render;
#[cfg(test)]
mod tests;
mod writer;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::thread;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use tempfile::NamedTempFile;

use cohort::{Cohort, SubjectSlot, MAX_SUBJECTS};
use records::{ChartLog, LabLog, SubjectRecord};
use render::{Owner, Table};
use writer::{Chunk, Sink};

/// Which MIMIC release's layout to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Upper-case quoted headers, ROW_IDs, CareVue and MetaVision item ids mixed.
    Mimic3,
    /// Lower-case headers, minimal quoting, MetaVision item ids only.
    Mimic4,
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExportFormat::Mimic3 => "mimic3",
            ExportFormat::Mimic4 => "mimic4",
        })
    }
}

impl FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mimic3" => Ok(ExportFormat::Mimic3),
            "mimic4" => Ok(ExportFormat::Mimic4),
            other => Err(format!("unknown export format '{other}' (known: mimic3, mimic4)")),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenerateConfig {
    pub subjects: usize,
    pub seed: u64,
    pub format: ExportFormat,
    /// Write `.csv.gz` instead of `.csv`.
    pub gzip: bool,
}

/// What was generated.
#[derive(Clone, Debug, Default)]
pub struct GenerateSummary {
    pub subjects: usize,
    pub admissions: usize,
    pub chart_rows: u64,
    pub lab_rows: u64,
    /// The files written, ADMISSIONS first, then CHARTEVENTS and LABEVENTS.
    pub files: Vec<PathBuf>,
    /// Their total size on disk (compressed when gzip).
    pub bytes_written: u64,
}

/// Writes an export of `config.subjects` subjects into `out_dir` (created if missing).
pub fn generate(config: &GenerateConfig, out_dir: &Path) -> io::Result<GenerateSummary> {
    generate_with_progress(config, out_dir, &|_| {})
}

/// Same, but calls `progress(subjects_done)` now and then so the CLI can draw a bar.
///
/// Each table is written under a hidden temporary name and renamed once all three are complete,
/// so an interrupted run never leaves a truncated table under a final name.
pub fn generate_with_progress(
    config: &GenerateConfig,
    out_dir: &Path,
    progress: &(dyn Fn(usize) + Sync),
) -> io::Result<GenerateSummary> {
    if config.subjects > MAX_SUBJECTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("at most {MAX_SUBJECTS} subjects can be generated, {} asked", config.subjects),
        ));
    }
    fs::create_dir_all(out_dir)?;
    let names = Table::ALL.map(|table| file_name(config, table));
    let staged =
        names.iter().map(|name| writer::stage(out_dir, name)).collect::<io::Result<Vec<_>>>()?;
    let mut summary = write_tables(config, &staged, progress)?;
    for (file, name) in staged.into_iter().zip(&names) {
        summary.bytes_written += file.as_file().metadata()?.len();
        let target = out_dir.join(name);
        file.persist(&target).map_err(|e| e.error)?;
        summary.files.push(target);
    }
    Ok(summary)
}

/// The table's file name: MIMIC's, with `.gz` appended when compressed.
fn file_name(config: &GenerateConfig, table: Table) -> String {
    let name = table.file_name(config.format);
    if config.gzip {
        format!("{name}.gz")
    } else {
        name.to_string()
    }
}

/// Subjects simulated and written together. The batch is also the scope of the row shuffle, so
/// it is a constant: a size depending on the thread count would change the output.
const BATCH_SUBJECTS: usize = 128;

/// Charting actions or specimens rendered per parallel task.
const GROUPS_PER_TASK: usize = 2048;

/// The independent random streams, one family per purpose.
#[derive(Clone, Copy, Debug)]
enum Stream {
    Cohort,
    Subject,
    Shuffle,
}

/// The random stream for (`seed`, `purpose`, `index`): the key comes from the seed and the
/// purpose, the index picks one of ChaCha's 2^64 independent streams under that key.
fn stream(seed: u64, purpose: Stream, index: u64) -> ChaCha8Rng {
    let mut state = seed ^ (purpose as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut key = [0u8; 32];
    for chunk in key.chunks_exact_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(index);
    rng
}

/// SplitMix64: spreads a 64-bit seed into well-mixed key words.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Simulates one subject from its own stream: admissions, then chart events, then labs.
fn simulate_subject(cohort: &Cohort, slot: &SubjectSlot, seed: u64) -> SubjectRecord {
    let mut rng = stream(seed, Stream::Subject, slot.index);
    let admissions = cohort.admissions(slot, &mut rng);
    let mut chart = ChartLog::default();
    for (index, admission) in admissions.iter().enumerate() {
        charting::chart_stay(&mut rng, admission, index, &mut chart);
    }
    let mut labs = LabLog::default();
    labs::draw_labs(&mut rng, &admissions, &mut labs);
    SubjectRecord { subject_id: slot.subject_id, admissions, chart, labs }
}

/// Runs the three table writers on threads of their own, so disk writes overlap simulation,
/// and feeds them batch after batch.
fn write_tables(
    config: &GenerateConfig,
    staged: &[NamedTempFile],
    progress: &(dyn Fn(usize) + Sync),
) -> io::Result<GenerateSummary> {
    let files =
        staged.iter().map(|file| file.as_file().try_clone()).collect::<io::Result<Vec<_>>>()?;
    thread::scope(|scope| {
        let sinks: Vec<Sink> =
            files.into_iter().map(|file| Sink::spawn(scope, file, config.gzip)).collect();
        let produced = produce(config, &sinks, progress);
        // A writer's own error explains a failed send better than the send does.
        for sink in sinks {
            sink.finish()?;
        }
        produced
    })
}

/// Simulates, renders and encodes the export batch by batch, sending each table's chunks to its
/// sink.
fn produce(
    config: &GenerateConfig,
    sinks: &[Sink],
    progress: &(dyn Fn(usize) + Sync),
) -> io::Result<GenerateSummary> {
    let cohort = Cohort::plan(config.format, config.subjects, config.seed);
    for (sink, table) in sinks.iter().zip(Table::ALL) {
        sink.send(vec![Chunk::encode(table.header(config.format), config.gzip)])?;
    }
    let mut summary = GenerateSummary { subjects: config.subjects, ..GenerateSummary::default() };
    let mut numbering = Numbering::default();
    for (batch, slots) in cohort.slots.chunks(BATCH_SUBJECTS).enumerate() {
        let subjects: Vec<SubjectRecord> =
            slots.par_iter().map(|slot| simulate_subject(&cohort, slot, config.seed)).collect();
        let mut rng = stream(config.seed, Stream::Shuffle, batch as u64);
        let rendered =
            Batch { cohort: &cohort, subjects: &subjects }.render(&mut rng, &mut numbering);
        for (sink, texts) in sinks.iter().zip(rendered) {
            sink.send(
                texts.into_par_iter().map(|text| Chunk::encode(text, config.gzip)).collect(),
            )?;
        }
        summary.admissions += subjects.iter().map(|s| s.admissions.len()).sum::<usize>();
        progress(batch * BATCH_SUBJECTS + slots.len());
    }
    summary.chart_rows = numbering.chart_rows;
    summary.lab_rows = numbering.lab_rows;
    Ok(summary)
}

/// Running counts across batches: row ids ascend in file order, as MIMIC's do.
#[derive(Debug, Default)]
struct Numbering {
    admission_rows: u64,
    chart_rows: u64,
    lab_rows: u64,
    specimens: u64,
}

/// Simulated subjects waiting to be written.
struct Batch<'a> {
    cohort: &'a Cohort,
    subjects: &'a [SubjectRecord],
}

/// A row group's place in a batch: which subject, which group of it.
type GroupRef = (usize, usize);

impl Batch<'_> {
    /// The batch's bytes for each table. Within each table, the order of admissions, charting
    /// actions and specimens is shuffled across the batch's subjects, as MIMIC's files are in no
    /// time order; rows of one action stay together, as MIMIC stores them.
    fn render(&self, rng: &mut ChaCha8Rng, numbering: &mut Numbering) -> [Vec<Vec<u8>>; 3] {
        let admissions = self.shuffled(rng, |s| s.admissions.len());
        let groups = self.shuffled(rng, |s| s.chart.groups.len());
        let draws = self.shuffled(rng, |s| s.labs.draws.len());
        [
            vec![self.render_admissions(&admissions, numbering)],
            self.render_chart(&groups, numbering),
            self.render_labs(&draws, numbering),
        ]
    }

    /// All (subject, item) pairs of the batch in random order, `count` items per subject.
    fn shuffled(
        &self,
        rng: &mut ChaCha8Rng,
        count: impl Fn(&SubjectRecord) -> usize,
    ) -> Vec<GroupRef> {
        let mut refs: Vec<GroupRef> = self
            .subjects
            .iter()
            .enumerate()
            .flat_map(|(subject, record)| (0..count(record)).map(move |item| (subject, item)))
            .collect();
        refs.shuffle(rng);
        refs
    }

    fn render_admissions(&self, order: &[GroupRef], numbering: &mut Numbering) -> Vec<u8> {
        let mut out = Vec::new();
        for &(subject, index) in order {
            numbering.admission_rows += 1;
            let record = &self.subjects[subject];
            let admission = &record.admissions[index];
            render::admission_row(
                &mut out,
                self.cohort.format,
                numbering.admission_rows,
                record.subject_id,
                admission,
            );
        }
        out
    }

    /// The ids repeated by every row of a subject's group: the admission's, if any.
    fn owner(&self, subject: usize, admission: Option<usize>) -> Owner {
        let record = &self.subjects[subject];
        let admission = admission.map(|index| &record.admissions[index]);
        Owner {
            subject_id: record.subject_id,
            hadm_id: admission.map(|a| a.hadm_id),
            stay_id: admission.and_then(|a| a.icu_stay).map(|stay| stay.stay_id),
        }
    }

    fn render_chart(&self, order: &[GroupRef], numbering: &mut Numbering) -> Vec<Vec<u8>> {
        let sizes = order.iter().map(|&(s, g)| self.subjects[s].chart.groups[g].rows.len() as u64);
        let first_ids = first_row_ids(&mut numbering.chart_rows, sizes);
        render_in_parallel(order.len(), |out, position| {
            let (subject, group) = order[position];
            let chart = &self.subjects[subject].chart;
            let group = &chart.groups[group];
            let rows = &chart.rows[group.rows.clone()];
            let owner = self.owner(subject, Some(group.admission));
            let system = self.subjects[subject].admissions[group.admission].system;
            let format = self.cohort.format;
            render::chart_group(out, format, first_ids[position], owner, system, group, rows);
        })
    }

    fn render_labs(&self, order: &[GroupRef], numbering: &mut Numbering) -> Vec<Vec<u8>> {
        let sizes = order.iter().map(|&(s, d)| self.subjects[s].labs.draws[d].rows.len() as u64);
        let first_ids = first_row_ids(&mut numbering.lab_rows, sizes);
        let first_specimen = numbering.specimens;
        numbering.specimens += order.len() as u64;
        render_in_parallel(order.len(), |out, position| {
            let (subject, draw) = order[position];
            let labs = &self.subjects[subject].labs;
            let draw = &labs.draws[draw];
            let rows = &labs.rows[draw.rows.clone()];
            let owner = self.owner(subject, draw.admission);
            // Specimens are numbered in file order: unique, and independent of the task split.
            let specimen_id = self.cohort.specimen_id(first_specimen + position as u64);
            render::lab_draw(
                out,
                self.cohort.format,
                first_ids[position],
                owner,
                specimen_id,
                draw,
                rows,
            );
        })
    }
}

/// The id of each group's first row when groups of `sizes` rows follow each other from
/// `*next_id + 1`; advances `*next_id` past them.
fn first_row_ids(next_id: &mut u64, sizes: impl Iterator<Item = u64>) -> Vec<u64> {
    sizes
        .map(|size| {
            let first = *next_id + 1;
            *next_id += size;
            first
        })
        .collect()
}

/// Calls `render(out, position)` for positions `0..count` in parallel tasks of
/// [`GROUPS_PER_TASK`] consecutive positions, returning the tasks' bytes in position order.
fn render_in_parallel(count: usize, render: impl Fn(&mut Vec<u8>, usize) + Sync) -> Vec<Vec<u8>> {
    (0..count.div_ceil(GROUPS_PER_TASK))
        .into_par_iter()
        .map(|task| {
            // About what a task's rows take, to spare the copies of a growing buffer.
            let mut out = Vec::with_capacity(GROUPS_PER_TASK * 512);
            for position in task * GROUPS_PER_TASK..((task + 1) * GROUPS_PER_TASK).min(count) {
                render(&mut out, position);
            }
            out
        })
        .collect()
}
