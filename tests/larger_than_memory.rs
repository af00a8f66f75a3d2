//! Grids larger than the memory a run may fill: `run --sampled-grid disk` keeps the sampled grid
//! in a scratch file beside the output (pages the kernel can write back and drop) with the
//! same bytes out on every backend, and `auto` (the default) goes there by itself when the
//! grid would not fit in the room it can read, here a data-segment limit (`ulimit -d`) set on
//! the child. The cgroup case, a real export larger than the memory allowed, is measured with
//! `tools/under_memory_limit.sh` (docs/RESULTS.md, section 6): it needs root.

mod common;

use common::*;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Scratch files of ours left in `dir` (`.medimpute-<pid>-<n>.shared`).
fn scratch_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".medimpute-"))
        .collect()
}

/// The imputed grid and its observed mask, as bytes.
fn outputs(out: &Path) -> (Vec<u8>, Vec<u8>) {
    let mask = medimpute::pipeline::observed_path(out);
    (std::fs::read(out).unwrap(), std::fs::read(mask).unwrap())
}

/// `run` on the demo export, small enough for CI (8 trees, 96 hours) with every stage.
fn run_demo(backend: &str, home: &str, out: &Path) -> Output {
    let out = out.display().to_string();
    let args = ["run", "--backend", backend, "--workers", "2", "--trees", "8", "--hours", "96"];
    run(&[&args[..], &["--sampled-grid", home, "--out", &out]].concat())
}

#[test]
fn the_sampled_grid_on_disk_changes_nothing_but_where_it_waits() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.npy");
    let output = run_demo("serial", "memory", &reference);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("kept 3.9 MB in memory (--sampled-grid memory)"),
        "{}",
        text(&output)
    );
    let expected = outputs(&reference);
    for backend in ["serial", "threads", "pipe", "shm"] {
        let out = dir.path().join(format!("{backend}.npy"));
        let output = run_demo(backend, "disk", &out);
        assert!(output.status.success(), "{backend}: {}", text(&output));
        assert!(
            text(&output).contains("in a scratch file beside the output (--sampled-grid disk)"),
            "{backend}: {}",
            text(&output)
        );
        assert!(outputs(&out) == expected, "{backend}: the output differs from serial in memory");
        assert_eq!(scratch_files(dir.path()), Vec::<PathBuf>::new(), "{backend}: left behind");
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Runs `medimpute args...` with its data segment limited to `bytes` (`ulimit -d`).
fn run_with_data_limit(bytes: u64, args: &[&str]) -> Output {
    let mut command = medimpute();
    command.args(args);
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.output().expect("medimpute runs")
}

#[test]
fn under_a_memory_limit_smaller_than_the_grid_auto_keeps_it_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export");
    let export_arg = export.display().to_string();
    let generated = run(&["generate", "--subjects", "400", "--seed", "3", "--out", &export_arg]);
    assert!(generated.status.success(), "{}", text(&generated));
    let job = |out: &Path| -> Vec<String> {
        let out = out.display().to_string();
        ["run", "--export", &export_arg, "--method", "linear", "--backend", "threads"]
            .iter()
            .chain(&["--workers", "2", "--out", &out])
            .map(|s| s.to_string())
            .collect()
    };

    let free = dir.path().join("free.npy");
    let output = run(&strs(&job(&free)));
    assert!(output.status.success(), "{}", text(&output));
    let expected = outputs(&free);
    let grid_bytes = expected.0.len() as u64;
    assert!(grid_bytes > 100_000_000, "the grid ({grid_bytes} bytes) should dwarf the rest");

    // Nine tenths of the grid: it cannot be held in memory, and the run needs far less besides.
    let limit = grid_bytes / 10 * 9;
    let limited = dir.path().join("limited.npy");
    let output = run_with_data_limit(limit, &strs(&job(&limited)));
    assert!(output.status.success(), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("in a scratch file beside the output (more than half of"), "{said}");
    assert!(said.contains("its data-segment limit (ulimit -d)"), "{said}");
    assert!(outputs(&limited) == expected, "the output differs from the run without a limit");

    // The limit bites: told to keep the grid in memory, the run stops with a clear error and
    // leaves nothing at the destination.
    let forced = dir.path().join("forced.npy");
    let mut forced_job = job(&forced);
    forced_job.extend(["--sampled-grid".to_string(), "memory".to_string()]);
    let output = run_with_data_limit(limit, &strs(&forced_job));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let said = text(&output);
    assert!(said.contains("cannot hold the sampled grid"), "{said}");
    assert!(said.contains("--sampled-grid disk"), "{said}");
    assert!(!forced.exists());
    assert!(partial_files(dir.path()).is_empty(), "{:?}", partial_files(dir.path()));
    assert_eq!(scratch_files(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn ctrl_c_while_the_grid_is_on_disk_removes_its_scratch_file() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "ADMISSIONS.csv",
        "SUBJECT_ID,HADM_ID,DISCHTIME,HOSPITAL_EXPIRE_FLAG\n7,101,2101-01-10 10:30:00,0\n",
    );
    // A FIFO for events: the run is certainly under way (its grid made, blocked on input) once
    // the test's open for writing returns.
    let fifo = dir.path().join("CHARTEVENTS.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.path().join("imputed.npy");
    let mut child = medimpute()
        .args(["run", "--export", &dir.path().display().to_string(), "--backend", "threads"])
        .args(["--sampled-grid", "disk", "--out", &out.display().to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer
        .write_all(b"SUBJECT_ID,ITEMID,CHARTTIME,VALUENUM\n7,211,2101-01-10 10:00:00,80\n")
        .unwrap();
    writer.flush().unwrap();
    assert_eq!(scratch_files(dir.path()).len(), 1, "the grid waits in a scratch file");

    let pid = child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "medimpute did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(writer);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", text(&output));
    assert_eq!(scratch_files(dir.path()), Vec::<PathBuf>::new());
    assert!(!out.exists());
}
