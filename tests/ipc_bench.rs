//! `medimpute bench ipc` end to end: both transports measured at every size, the reports
//! written, and no shared-memory segment of the run left behind.

mod common;

use std::path::Path;

/// `/dev/shm` entries of the run with process id `pid`.
fn segments_of(pid: u32) -> Vec<String> {
    let prefix = format!("medimpute-{pid}-");
    std::fs::read_dir("/dev/shm")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|name| name.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bench_ipc_measures_both_transports_writes_reports_and_leaves_no_segments() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let child = common::medimpute()
        .args(["bench", "ipc", "--sizes", "4K,1M", "--repeats", "2", "--out-dir"])
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    let text = common::text(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("| size | read | memcpy | pipe | shm |"), "{text}");

    let markdown = std::fs::read_to_string(out.join("ipc.md")).unwrap();
    assert!(markdown.contains("| 4 KiB |") && markdown.contains("| 1 MiB |"), "{markdown}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("ipc.json")).unwrap()).unwrap();
    let sizes = json["sizes"].as_array().unwrap();
    let bytes: Vec<u64> = sizes.iter().map(|s| s["bytes"].as_u64().unwrap()).collect();
    assert_eq!(bytes, [4096, 1 << 20]);
    for size in sizes {
        for transport in ["pipe", "shm", "memcpy"] {
            let t = &size[transport];
            assert_eq!(t["samples_s"].as_array().unwrap().len(), 2, "{transport}: {size}");
            for key in ["median_s", "min_s"] {
                assert!(t[key].as_f64().unwrap() > 0.0, "{transport} {key}: {size}");
            }
        }
        assert!(size["pipe_over_shm"].as_f64().unwrap() > 0.0);
    }
    // The pipe carried every byte (warm-up round included); shm only names.
    assert_eq!(json["pipe_bytes_sent"].as_u64().unwrap(), 3 * (4096 + (1 << 20)));
    assert_eq!(json["shm_bytes_sent"].as_u64().unwrap(), 0);

    let leftovers = segments_of(pid);
    assert!(leftovers.is_empty(), "segments left in /dev/shm: {leftovers:?}");
    assert!(common::partial_files(Path::new(&out)).is_empty());
}
