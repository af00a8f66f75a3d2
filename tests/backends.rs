//! Execution backends: the same output from every backend and worker count, and the faults a
//! user can hit with worker processes (a killed worker, garbage on a pipe, Ctrl-C, a segment
//! left by a crashed run), each leaving no process, no `/dev/shm` segment and no scratch file
//! behind.

mod common;

use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A `run` on the demo export, kept small enough for CI (forests of 8 trees, 96 hours) while
/// still exercising every stage: sampling, preparing, training, cross-validated filling.
fn run_args(backend: &str, workers: usize, out: &Path) -> Vec<String> {
    [
        "run",
        "--backend",
        backend,
        "--workers",
        &workers.to_string(),
        "--trees",
        "8",
        "--hours",
        "96",
        "--out",
        &out.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_job(backend: &str, workers: usize, out: &Path, fault: Option<&str>) -> Output {
    let mut command = medimpute();
    command.args(run_args(backend, workers, out));
    if let Some(fault) = fault {
        command.env("MEDIMPUTE_WORKER_FAULT", fault);
    }
    command.output().expect("medimpute runs")
}

/// Shared bytes created by process `pid`: segments in /dev/shm, and scratch files in `dir`
/// (the output's directory, where a shared grid goes when segments get no huge pages).
fn shared_of(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let named = |dir: &Path, prefix: &str| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
            .map(|e| e.path())
            .collect()
    };
    let mut found = named(Path::new("/dev/shm"), &format!("medimpute-{pid}-"));
    found.extend(named(dir, &format!(".medimpute-{pid}-")));
    found
}

/// The child processes of `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; it is gone once reaped, which its parent's exit does.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn reference(dir: &Path) -> Vec<u8> {
    let out = dir.join("serial.npy");
    let output = run_job("serial", 1, &out, None);
    assert!(output.status.success(), "{}", text(&output));
    std::fs::read(&out).unwrap()
}

#[test]
fn every_backend_and_worker_count_writes_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let expected_mask = std::fs::read(dir.path().join("serial.npy.observed.npy")).unwrap();
    for backend in ["threads", "pipe", "shm"] {
        for workers in 1..=3 {
            let out = dir.path().join(format!("{backend}{workers}.npy"));
            let output = run_job(backend, workers, &out, None);
            assert!(output.status.success(), "{backend} x{workers}: {}", text(&output));
            assert!(
                std::fs::read(&out).unwrap() == expected,
                "{backend} x{workers}: the grid differs from serial's"
            );
            let mask =
                std::fs::read(dir.path().join(format!("{backend}{workers}.npy.observed.npy")));
            assert!(mask.unwrap() == expected_mask, "{backend} x{workers}: the mask differs");
        }
    }
}

#[test]
fn plain_tables_are_mapped_by_shm_workers_with_the_same_result() {
    // Plain files take the other shm path: workers map pieces of the table file itself.
    let dir = tempfile::tempdir().unwrap();
    let (adm, _) = demo_export();
    let plain = plain_demo_events(dir.path());
    same_bytes_on_workers_as_serial(dir.path(), |out| sample_args(&adm, &plain, out));
}

/// Runs `args(out)` with `--backend serial`, `pipe` and `shm` (2 workers), each into its own
/// output, and checks that both process backends wrote serial's bytes.
fn same_bytes_on_workers_as_serial(dir: &Path, args: impl Fn(&Path) -> Vec<String>) {
    let mut outputs = Vec::new();
    for backend in ["serial", "pipe", "shm"] {
        let out = dir.join(format!("{backend}.npy"));
        let mut args = args(&out);
        args.extend(["--backend".into(), backend.into(), "--workers".into(), "2".into()]);
        let output = medimpute().args(&args).output().unwrap();
        assert!(output.status.success(), "{backend}: {}", text(&output));
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(outputs[1] == outputs[0], "pipe differs from serial");
    assert!(outputs[2] == outputs[0], "shm differs from serial");
}

#[test]
fn a_worker_killed_mid_run_has_its_task_rerun_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    for backend in ["pipe", "shm"] {
        // Worker 0 kills itself (SIGKILL) on receiving its third task.
        let out = dir.path().join(format!("{backend}.npy"));
        let output = run_job(backend, 2, &out, Some("die:3:0"));
        assert!(output.status.success(), "{backend}: {}", text(&output));
        assert!(text(&output).contains("replacing it"), "{backend}: {}", text(&output));
        assert!(std::fs::read(&out).unwrap() == expected, "{backend}: output differs");
    }
}

#[test]
fn a_worker_killed_from_outside_is_replaced_and_the_output_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let out = dir.path().join("pipe.npy");
    let child = medimpute()
        .args(run_args("pipe", 2, &out))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let victim = wait_for_children(&child, 2).into_iter().next().expect("workers start");
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains(&format!("worker {victim} failed")), "{}", text(&output));
    // SIGKILL is what the kernel's out-of-memory killer sends: the user is told which it was.
    assert!(text(&output).contains("killed by SIGKILL"), "{}", text(&output));
    assert!(std::fs::read(&out).unwrap() == expected, "output differs after a kill");
}

fn wait_for_children(child: &Child, n: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = children_of(child.id());
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "no {n} workers appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn workers_that_keep_dying_fail_the_run_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    for backend in ["pipe", "shm"] {
        let out = dir.path().join(format!("{backend}.npy"));
        let child = medimpute()
            .args(run_args(backend, 2, &out))
            .env("MEDIMPUTE_WORKER_FAULT", "die:1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{backend}: {}", text(&output));
        assert!(text(&output).contains("worker processes failed"), "{}", text(&output));
        assert!(!out.exists(), "{backend}: no output after a failed run");
        assert!(partial_files(dir.path()).is_empty());
        let left = shared_of(pid, dir.path());
        assert!(left.is_empty(), "{backend}: shared bytes left: {left:?}");
    }
}

#[test]
fn garbage_or_truncated_frames_are_detected_and_the_task_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    for (fault, symptom) in [
        ("garbage:2:0", "bad magic"),
        ("truncate:2:1", "truncated"),
        ("misanswer:3:0", "not the one it was given"),
    ] {
        let out = dir.path().join("pipe.npy");
        let start = Instant::now();
        let output = run_job("pipe", 2, &out, Some(fault));
        assert!(output.status.success(), "{fault}: {}", text(&output));
        assert!(text(&output).contains(symptom), "{fault}: {}", text(&output));
        assert!(std::fs::read(&out).unwrap() == expected, "{fault}: output differs");
        // The garbage-writing worker stays alive with its pipe open; the run must not wait
        // for it (its fault sleeps for 10 minutes).
        assert!(start.elapsed() < Duration::from_secs(60), "{fault}: the run waited");
    }
}

/// Starts `run` on a FIFO the test holds open, so the run is certainly in progress with its
/// workers up (and, for shm, its grid segment created: `run` keeps the sampled grid in one for
/// the imputation's workers) when the signal comes.
fn interrupt_with(signal: &str, backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(
        dir.path(),
        "ADMISSIONS.csv",
        "SUBJECT_ID,HADM_ID,DISCHTIME,HOSPITAL_EXPIRE_FLAG\n7,101,2101-01-10 10:30:00,0\n",
    );
    let fifo = dir.path().join("CHARTEVENTS.csv");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.path().join("grid.npy");
    let mut args = sample_args(&adm, std::slice::from_ref(&fifo), &out);
    args[0] = "run".into();
    args.extend(["--backend".into(), backend.into(), "--workers".into(), "2".into()]);
    let child =
        medimpute().args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer.write_all(b"SUBJECT_ID,ITEMID,CHARTTIME,VALUENUM\n").unwrap();
    for _ in 0..1000 {
        writer.write_all(b"7,211,2101-01-10 10:00:00,80\n").unwrap();
    }
    writer.flush().unwrap();
    let workers = wait_for_children(&child, 2);
    if backend == "shm" {
        assert!(!shared_of(child.id(), dir.path()).is_empty(), "the shared grid exists mid-run");
    }
    let pid = child.id();
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
    let output = wait_with_deadline(child, Duration::from_secs(20));
    drop(writer);
    assert_eq!(output.status.code(), Some(130), "{signal} {backend}: {}", text(&output));
    assert!(!out.exists());
    assert!(partial_files(dir.path()).is_empty());
    let left = shared_of(pid, dir.path());
    assert!(left.is_empty(), "shared bytes left: {left:?}");
    for worker in workers {
        assert!(!alive(worker), "{signal} {backend}: worker {worker} outlived its coordinator");
    }
}

fn wait_with_deadline(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the coordinator did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn sigint_ends_workers_and_removes_segments() {
    interrupt_with("-INT", "shm");
    interrupt_with("-INT", "pipe");
}

#[test]
fn sigterm_ends_workers_and_removes_segments() {
    interrupt_with("-TERM", "shm");
}

#[test]
fn a_segment_left_by_a_crashed_run_does_not_break_the_next() {
    // pids on Linux stay below 2^22: this owner cannot be alive.
    let stale = Path::new("/dev/shm")
        .join(format!("medimpute-{}-r9-1", 4_190_000 + std::process::id() % 1000));
    std::fs::write(&stale, vec![7u8; 4096]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shm.npy");
    let output = run_job("shm", 2, &out, None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(out.exists());
    assert!(!stale.exists(), "the stale segment was removed");
}

#[test]
fn a_shared_grid_file_left_by_a_crashed_run_is_removed_by_the_next_run_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let dead = 4_190_000 + std::process::id() % 1000;
    let stale = dir.path().join(format!(".medimpute-{dead}-0.shared"));
    std::fs::write(&stale, vec![7u8; 4096]).unwrap();
    let kept = dir.path().join(".medimpute-notes.shared");
    std::fs::write(&kept, b"not a scratch file of ours").unwrap();
    let out = dir.path().join("shm.npy");
    let output = run_job("shm", 2, &out, None);
    assert!(output.status.success(), "{}", text(&output));
    assert!(out.exists());
    if medimpute::grid::shmem_gets_huge_pages() {
        // The grid went to a segment: nothing here to sweep, and nothing swept.
        assert!(stale.exists());
    } else {
        assert!(!stale.exists(), "the stale scratch file was removed");
    }
    assert!(kept.exists(), "a file whose name carries no pid is left alone");
    let scratch: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".shared") && *p != kept)
        .collect();
    assert!(scratch.is_empty(), "the run removed its own scratch file: {scratch:?}");
}

#[test]
fn impute_on_workers_maps_the_input_grid_file_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let (adm, events) = demo_export();
    let grid = dir.path().join("grid.npy");
    let mut args = sample_args(&adm, &events, &grid);
    args.extend(["--hours".into(), "96".into()]);
    let output = medimpute().args(&args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    same_bytes_on_workers_as_serial(dir.path(), |out| {
        ["impute", "--grid", grid.to_str().unwrap(), "--out", out.to_str().unwrap(), "--trees", "8"]
            .map(String::from)
            .to_vec()
    });
}

#[test]
fn auto_explains_its_choice_and_changes_nothing_but_the_time() {
    let dir = tempfile::tempdir().unwrap();
    let expected = reference(dir.path());
    let out = dir.path().join("auto.npy");
    let mut args = run_args("auto", 0, &out);
    args.push("--explain".into());
    let output = medimpute().args(&args).output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let all = text(&output);
    for stage in ["stage sample", "stage impute"] {
        assert!(all.contains(stage), "--explain describes {stage}: {all}");
    }
    assert!(all.contains("<- chosen") && all.contains("shm x1"), "every candidate listed: {all}");
    assert!(all.contains("auto: impute on") && all.contains("predicted"), "{all}");
    assert!(std::fs::read(&out).unwrap() == expected, "auto's output differs from serial's");
}
