//! Helpers shared by the integration tests: run the binary, write small exports, read grids.
#![allow(dead_code)]

use medimpute::grid::{Axes, Grid, HeapBytes};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `medimpute` binary built for these tests.
pub fn medimpute() -> Command {
    Command::new(env!("CARGO_BIN_EXE_medimpute"))
}

/// Runs `medimpute` with `args`, returning its output.
pub fn run(args: &[&str]) -> Output {
    medimpute().args(args).output().expect("medimpute runs")
}

/// stdout and stderr as one string, for assertions and failure messages.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes `content` to `dir/name`, gzip-compressed when the name ends in `.gz`.
pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    if name.ends_with(".gz") {
        use std::io::Write;
        let file = std::fs::File::create(&path).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        gz.write_all(content.as_bytes()).unwrap();
        gz.finish().unwrap();
    } else {
        std::fs::write(&path, content).unwrap();
    }
    path
}

/// Reads a grid file and its axes.
pub fn read_grid(path: &Path) -> (Grid<HeapBytes>, Axes) {
    (Grid::read(path).unwrap(), Axes::read(&Axes::path_for(path)).unwrap())
}

/// Files in `dir` whose names end in `.partial` (temporary outputs left behind).
pub fn partial_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect()
}

/// The small export committed in `data/`.
pub fn demo_export() -> (PathBuf, Vec<PathBuf>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    (
        dir.join("ADMISSIONS.csv.gz"),
        vec![dir.join("CHARTEVENTS.csv.gz"), dir.join("LABEVENTS.csv.gz")],
    )
}

/// The demo's events tables inflated into plain CSV files in `dir` (plain tables take other
/// paths: mapped by shm workers, a head the sampling profile can hand to the run).
pub fn plain_demo_events(dir: &Path) -> Vec<PathBuf> {
    use std::io::Read;
    let (_, events) = demo_export();
    events
        .iter()
        .map(|gz| {
            let mut csv = Vec::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap())
                .read_to_end(&mut csv)
                .unwrap();
            let name = gz.file_name().unwrap().to_str().unwrap().trim_end_matches(".gz");
            let path = dir.join(name);
            std::fs::write(&path, csv).unwrap();
            path
        })
        .collect()
}

/// Arguments for `sample` over an export with `--events` repeated.
pub fn sample_args(admissions: &Path, events: &[PathBuf], out: &Path) -> Vec<String> {
    let mut args = vec![
        "sample".to_string(),
        "--admissions".into(),
        admissions.display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ];
    for e in events {
        args.push("--events".into());
        args.push(e.display().to_string());
    }
    args
}
