//! Ingest + hourly sampling throughput, in MB of CSV per second.
//!
//! One generated MIMIC-III export, plain and gzip, sampled into an in-memory grid on 1 thread and
//! on every core: the figures behind the foundation issue's targets (400 MB/s per core on plain
//! CSV, 1.8x from 1 to 2 threads). `MEDIMPUTE_BENCH_SUBJECTS` sets the export's size.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use indicatif::ProgressBar;
use medimpute::backend::{BackendKind, BackendSpec, Executor};
use medimpute::generate::{generate, ExportFormat, GenerateConfig};
use medimpute::grid::SampledGridHome;
use medimpute::items::ItemSet;
use medimpute::sampling::{sample_to_grid, Plan, SampleInputs, SampleOptions};
use std::path::Path;
use std::time::Duration;

fn export(dir: &Path, gzip: bool) -> SampleInputs {
    let subjects =
        std::env::var("MEDIMPUTE_BENCH_SUBJECTS").ok().and_then(|s| s.parse().ok()).unwrap_or(1500);
    let config = GenerateConfig { subjects, seed: 1, format: ExportFormat::Mimic3, gzip };
    generate(&config, dir).expect("generate the bench export");
    let ext = if gzip { ".csv.gz" } else { ".csv" };
    SampleInputs {
        admissions: dir.join(format!("ADMISSIONS{ext}")),
        events: vec![dir.join(format!("CHARTEVENTS{ext}")), dir.join(format!("LABEVENTS{ext}"))],
    }
}

fn bench_sampling(c: &mut Criterion) {
    let options = SampleOptions {
        items: ItemSet::MedlensNumerical.item_ids(),
        hours: 720,
        skip_bad_rows: false,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let plain_dir = tempfile::tempdir().unwrap();
    let gzip_dir = tempfile::tempdir().unwrap();
    for (label, dir) in [("plain", plain_dir.path()), ("gzip", gzip_dir.path())] {
        let inputs = export(dir, label == "gzip");
        // Where a shared grid would go (threads keep theirs on the heap).
        let out = dir.join("grid.npy");
        // Throughput counts the bytes every contender must parse: the decompressed CSV.
        let mut exec =
            Executor::start(BackendSpec { kind: BackendKind::Threads, workers: 0, pin: false })
                .unwrap();
        let hidden = ProgressBar::hidden();
        // The admissions are read in every call, as a run reads them.
        let sample = |exec: &mut Executor| {
            let plan = Plan::new(&inputs, &options).unwrap();
            let home = SampledGridHome::Memory;
            sample_to_grid(&plan, &inputs, &options, None, exec, &hidden, &out, home).unwrap()
        };
        let (_, _, report) = sample(&mut exec);
        let mut group = c.benchmark_group(format!("sample_{label}"));
        group.throughput(Throughput::Bytes(report.csv_bytes));
        group.sample_size(10).measurement_time(Duration::from_secs(10));
        for threads in [1, cores] {
            let spec = BackendSpec { kind: BackendKind::Threads, workers: threads, pin: false };
            let mut exec = Executor::start(spec).unwrap();
            group.bench_function(format!("{threads}_threads"), |b| b.iter(|| sample(&mut exec)));
        }
        group.finish();
    }
}

criterion_group!(benches, bench_sampling);
criterion_main!(benches);
