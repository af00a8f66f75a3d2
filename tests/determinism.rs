//! Parallelism changes nothing but the time: the grid is byte-identical whatever the number of
//! threads, and whether the tables are plain, gzip or piped.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn sample_bytes(admissions: &Path, events: &[PathBuf], workers: usize, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("grid-{workers}.npy"));
    let mut args = sample_args(admissions, events, &out);
    args.extend(["--workers".to_string(), workers.to_string()]);
    let output = medimpute().args(args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    std::fs::read(out).unwrap()
}

#[test]
fn grid_is_byte_identical_for_1_2_and_3_threads_on_the_demo_export() {
    let dir = tempfile::tempdir().unwrap();
    let (admissions, events) = demo_export();
    let one = sample_bytes(&admissions, &events, 1, dir.path());
    for workers in [2, 3] {
        assert!(
            one == sample_bytes(&admissions, &events, workers, dir.path()),
            "{workers} threads"
        );
    }
}

#[test]
fn plain_gzip_and_piped_tables_of_a_multi_piece_export_give_one_grid() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    let gz = dir.path().join("gz");
    for (out, extra) in [(&plain, None), (&gz, Some("--gz"))] {
        let mut args = vec!["generate", "--subjects", "300", "--seed", "5", "--out"];
        let out = out.display().to_string();
        args.push(&out);
        args.extend(extra);
        let output = run(&args);
        assert!(output.status.success(), "{}", text(&output));
    }
    let tables = |d: &Path, ext: &str| {
        (
            d.join(format!("ADMISSIONS{ext}")),
            vec![d.join(format!("CHARTEVENTS{ext}")), d.join(format!("LABEVENTS{ext}"))],
        )
    };
    let (adm, events) = tables(&plain, ".csv");
    let size = std::fs::metadata(&events[0]).unwrap().len();
    assert!(size > 4 << 20, "CHARTEVENTS must span several 1 MiB pieces, is {size} bytes");
    let reference = sample_bytes(&adm, &events, 1, dir.path());
    assert!(reference == sample_bytes(&adm, &events, 3, dir.path()), "plain, 3 threads");
    let (adm_gz, events_gz) = tables(&gz, ".csv.gz");
    assert!(reference == sample_bytes(&adm_gz, &events_gz, 2, dir.path()), "gzip");

    // The same bytes through a pipe (process substitution is how users stream big exports).
    let fifo = dir.path().join("chart.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let source = events[0].clone();
    let feeder = std::thread::spawn({
        let fifo = fifo.clone();
        move || {
            std::io::copy(
                &mut std::fs::File::open(source).unwrap(),
                &mut std::fs::File::create(fifo).unwrap(),
            )
        }
    });
    let piped = sample_bytes(&adm, &[fifo, events[1].clone()], 2, dir.path());
    feeder.join().unwrap().unwrap();
    assert!(reference == piped, "piped");
}
