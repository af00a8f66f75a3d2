//! `--backend auto` imputes a few items completely while it profiles, and the run keeps them.
//! Whatever backend then runs the rest (threads, or worker processes given only the items left),
//! the output and the per-item report are those of a plain serial run.

mod common;

use common::*;
use medimpute::backend::{BackendKind, BackendSpec, Executor, ProfilePool};
use medimpute::impute::profile;
use medimpute::impute::{ImputeOptions, Method};
use medimpute::pipeline::{first_bin_hours, impute_file, SourceGrid};
use std::path::Path;

fn sampled_demo(dir: &Path) -> SourceGrid {
    let (adm, events) = demo_export();
    let grid = dir.join("grid.npy");
    let mut args = sample_args(&adm, &events, &grid);
    args.extend(["--hours".into(), "96".into()]);
    let output = medimpute().args(&args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    SourceGrid::open(&grid).unwrap()
}

#[test]
fn items_imputed_by_the_profile_are_kept_and_change_nothing() {
    // Worker processes are this crate's binary, not the test harness.
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    let dir = tempfile::tempdir().unwrap();
    let source = sampled_demo(dir.path());
    let spec = |kind, workers| BackendSpec { kind, workers, pin: false };
    for method in [Method::Auto, Method::RfMedlens, Method::Locf] {
        let options = ImputeOptions { method, trees: Some(6), ..ImputeOptions::default() };
        let reference = dir.path().join("serial.npy");
        let mut serial = Executor::start(spec(BackendKind::Serial, 1)).unwrap();
        let (expected, _) =
            impute_file(&source, &reference, &options, &mut serial, Default::default()).unwrap();

        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        let grid = &source.grid;
        // Each item's observed bins, as `run` hands them over from sampling.
        let counts: Vec<u64> = grid
            .values()
            .chunks(grid.shape().item_block_len())
            .map(|b| b.iter().filter(|v| !v.is_nan()).count() as u64)
            .collect();
        let mut profiled_items = Vec::new();
        // Counting the observed bins itself on threads, given them on pipe.
        for (kind, workers, given) in
            [(BackendKind::Threads, 2, None), (BackendKind::Pipe, 2, Some(counts.as_slice()))]
        {
            let hours = first_bin_hours(&source.axes).unwrap();
            let (stage, profiled) = profile::profile(
                grid.values(),
                grid.shape(),
                &hours,
                &options,
                given,
                &ProfilePool::new(&pool, false),
            )
            .unwrap();
            // With a forest, one item per profiling thread; without, one on the caller's.
            let profiled_count = if method.uses_forest() { 2 } else { 1 };
            assert_eq!(
                profiled.items.len(),
                profiled_count,
                "{method}: items imputed by the profile"
            );
            assert_eq!(profiled.pairs.is_some(), method.uses_partners(), "{method}: pair table");
            profiled_items.push(profiled.items.iter().map(|f| f.item).collect::<Vec<_>>());
            assert!(stage.kept > std::time::Duration::ZERO, "{method}: the kept work is counted");
            assert!(stage.kept <= stage.profiling);
            if !method.uses_forest() {
                // One item on the caller's thread counts at the run's parallelism, 2 threads.
                assert!(stage.kept * 2 <= stage.profiling, "{method}: kept {:?}", stage.kept);
            }
            let out = dir.path().join(format!("{method}-{kind:?}.npy"));
            let mut exec = Executor::start(spec(kind, workers)).unwrap();
            let (report, _) = impute_file(&source, &out, &options, &mut exec, profiled).unwrap();
            assert!(
                std::fs::read(&out).unwrap() == std::fs::read(&reference).unwrap(),
                "{method} on {kind:?} with kept items differs from serial"
            );
            assert_eq!(report.items, expected.items, "{method} on {kind:?}: per-item report");
        }
        assert_eq!(
            profiled_items[0], profiled_items[1],
            "{method}: the same items, counted or given"
        );
    }
}

#[test]
fn records_parsed_by_the_sampling_profile_are_kept_on_every_backend() {
    use medimpute::grid::SampledGridHome;
    use medimpute::sampling::{profile as sample_profile, sample_to_grid};
    use medimpute::sampling::{Plan, SampleInputs, SampleOptions};
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    let dir = tempfile::tempdir().unwrap();
    let (admissions, _) = demo_export();
    let inputs = SampleInputs { admissions, events: plain_demo_events(dir.path()) };
    let options = SampleOptions {
        items: medimpute::items::ItemSet::MedlensNumerical.item_ids(),
        hours: 96,
        skip_bad_rows: false,
    };
    let plan = Plan::new(&inputs, &options).unwrap();
    let spec = |kind, workers| BackendSpec { kind, workers, pin: false };
    let hidden = indicatif::ProgressBar::hidden();
    let sample = |kind, head, name: &str| {
        let mut exec =
            Executor::start(spec(kind, if kind == BackendKind::Serial { 1 } else { 2 })).unwrap();
        let out = dir.path().join(name);
        let (grid, _, report) = sample_to_grid(
            &plan,
            &inputs,
            &options,
            head,
            &mut exec,
            &hidden,
            &out,
            SampledGridHome::Memory,
        )
        .unwrap();
        (bytemuck::cast_slice::<f32, u8>(grid.values()).to_vec(), report)
    };
    let (expected, expected_report) = sample(BackendKind::Serial, None, "serial.npy");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    for kind in [BackendKind::Threads, BackendKind::Pipe, BackendKind::Shm] {
        let mut head = None;
        let stage = sample_profile::profile_into(&plan, &inputs, &mut head)(&ProfilePool::new(
            &pool, false,
        ))
        .unwrap();
        assert!(head.is_some(), "a plain table's good records are kept");
        assert!(stage.kept > std::time::Duration::ZERO && stage.kept <= stage.profiling);
        let (bytes, report) = sample(kind, head, &format!("{kind:?}.npy"));
        assert!(bytes == expected, "{kind:?} with the profile's head differs from serial");
        assert_eq!(report.rows, expected_report.rows, "{kind:?}: rows counted once each");
        assert_eq!(report.observed_per_item, expected_report.observed_per_item, "{kind:?}");
    }
}
