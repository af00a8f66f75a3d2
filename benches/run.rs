//! End to end `run` on the `data/demo` export per backend: what a user of each backend waits
//! for, worker start-up and data movement included, side by side in one run.
//!
//! Every backend runs at every core (`serial` on one); the outputs are byte-identical, so the
//! only difference measured is how the tasks were executed.

use criterion::{criterion_group, criterion_main, Criterion};
use indicatif::ProgressBar;
use medimpute::backend::{available_cores, BackendKind, BackendSpec, Executor};
use medimpute::grid::SampledGridHome;
use medimpute::impute::ImputeOptions;
use medimpute::items::ItemSet;
use medimpute::pipeline::{export_tables, run_job};
use medimpute::sampling::{Plan, SampleOptions};
use std::path::Path;
use std::time::Duration;

fn bench_run(c: &mut Criterion) {
    // Worker processes are the medimpute binary, not this bench executable.
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    let inputs = export_tables(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo")).unwrap();
    let sample = SampleOptions {
        items: ItemSet::MedlensNumerical.item_ids(),
        hours: 720,
        skip_bad_rows: false,
    };
    let impute = ImputeOptions::default();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("imputed.npy");
    let mut group = c.benchmark_group("run_demo");
    group.sample_size(10).measurement_time(Duration::from_secs(30));
    for kind in BackendKind::CONCRETE {
        let workers = if kind == BackendKind::Serial { 1 } else { available_cores() };
        group.bench_function(format!("{kind}_{workers}"), |b| {
            b.iter(|| {
                let mut exec = Executor::start(BackendSpec { kind, workers, pin: false }).unwrap();
                let hidden = ProgressBar::hidden();
                run_job(
                    &Plan::new(&inputs, &sample).unwrap(),
                    &inputs,
                    &sample,
                    None,
                    &impute,
                    &out,
                    SampledGridHome::Auto,
                    &mut exec,
                    &hidden,
                    |_| ProgressBar::hidden(),
                    |_, _, _, _, _| Ok(Default::default()),
                )
                .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_run);
criterion_main!(benches);
