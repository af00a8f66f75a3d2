//! Over `shm`, the trees a fill task reads live in result segments. They are removed as soon as
//! their item is filled: shared memory (and every worker's mappings) then holds the trees of
//! the items still to fill, not of every item until the job ends.

mod common;

use common::*;
use medimpute::backend::{BackendKind, BackendSpec, Executor};
use medimpute::impute::{ImputeOptions, Method};
use medimpute::pipeline::{impute_file, SourceGrid};

/// This process's result segments in /dev/shm (workers name theirs after the coordinator).
fn result_segments() -> usize {
    let prefix = format!("medimpute-{}-r", std::process::id());
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .count()
}

#[test]
fn spent_trees_leave_shared_memory_while_the_pool_lives_and_the_output_is_unchanged() {
    // Worker processes are this crate's binary, not the test harness.
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    let dir = tempfile::tempdir().unwrap();
    let (adm, events) = demo_export();
    let grid = dir.path().join("grid.npy");
    let mut args = sample_args(&adm, &events, &grid);
    args.extend(["--item-set".into(), "medlens-top5".into(), "--hours".into(), "96".into()]);
    let output = medimpute().args(&args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let source = SourceGrid::open(&grid).unwrap();
    let items = source.grid.shape().items;

    let options = ImputeOptions { method: Method::Rf, trees: Some(8), ..ImputeOptions::default() };
    let spec = |kind, workers| BackendSpec { kind, workers, pin: false };
    let mut threads = Executor::start(spec(BackendKind::Threads, 2)).unwrap();
    let expected = dir.path().join("threads.npy");
    impute_file(&source, &expected, &options, &mut threads, Default::default()).unwrap();

    let mut shm = Executor::start(spec(BackendKind::Shm, 2)).unwrap();
    let out = dir.path().join("shm.npy");
    let (report, _) = impute_file(&source, &out, &options, &mut shm, Default::default()).unwrap();
    let trained = report.items.iter().filter(|i| i.method == Some(Method::Rf)).count();
    assert!(trained > 0, "no item was imputed by a forest: nothing tested");
    // What is left while the pool lives: at most each item's prepared set, no tree (there were
    // 8 per forest trained).
    let left = result_segments();
    assert!(left <= items, "{left} result segments left for {items} items");
    drop(shm);
    assert_eq!(result_segments(), 0, "the pool removes the rest when it stops");
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&expected).unwrap());
}
