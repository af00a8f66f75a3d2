//! Ctrl-C and SIGTERM during a run: exit 130, nothing at the destination, no temporary files.
//!
//! The events table is a FIFO the test keeps open, so the run is certainly in progress (blocked
//! on input) when the signal arrives: no timing guesswork.

mod common;

use common::*;
use std::io::Write;
use std::time::{Duration, Instant};

fn interrupt_with(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(
        dir.path(),
        "ADMISSIONS.csv",
        "SUBJECT_ID,HADM_ID,DISCHTIME,HOSPITAL_EXPIRE_FLAG\n7,101,2101-01-10 10:30:00,0\n",
    );
    let fifo = dir.path().join("CHARTEVENTS.csv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let out = dir.path().join("grid.npy");
    let mut child = medimpute()
        .args(sample_args(&adm, std::slice::from_ref(&fifo), &out))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the FIFO for writing waits until medimpute opens it for reading: from then on the
    // run is in progress, blocked on input until the test says more.
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writer.write_all(b"SUBJECT_ID,ITEMID,CHARTTIME,VALUENUM\n").unwrap();
    for _ in 0..1000 {
        writer.write_all(b"7,211,2101-01-10 10:00:00,80\n").unwrap();
    }
    writer.flush().unwrap();

    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "medimpute did not stop after {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(writer);
    let output = child.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(130), "{}", text(&output));
    assert!(text(&output).contains("interrupted"), "{}", text(&output));
    assert!(!out.exists());
    assert!(!dir.path().join("grid.npy.axes.json").exists());
    assert!(partial_files(dir.path()).is_empty(), "{:?}", partial_files(dir.path()));
}

#[test]
fn sigint_stops_the_run_and_removes_temporary_files() {
    interrupt_with("-INT");
}

#[test]
fn sigterm_stops_the_run_and_removes_temporary_files() {
    interrupt_with("-TERM");
}
