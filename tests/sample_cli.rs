//! `medimpute sample` end to end: MedLens bin semantics, both MIMIC layouts, gzip, bad input.

mod common;

use common::*;
use std::path::Path;

const ADMISSIONS_M3: &str = "\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"ADMITTIME\",\"DISCHTIME\",\"DIAGNOSIS\",\"HOSPITAL_EXPIRE_FLAG\"\n\
1,7,101,\"2101-01-01 00:00:00\",\"2101-01-10 10:30:00\",\"CHEST PAIN, R/O MI\",0\n\
2,7,102,\"2101-01-11 00:00:00\",\"2101-01-12 08:00:00\",\"SEPSIS\",1\n\
3,9,103,\"2102-01-01 00:00:00\",\"2102-01-02 00:00:00\",\"FALL, \"\"DIZZY\"\"\",0\n";

/// Events covering every bin edge; hours = 48 in these tests.
const EVENTS_M3: &str = "\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"ITEMID\",\"CHARTTIME\",\"VALUE\",\"VALUENUM\",\"VALUEUOM\"\n\
1,7,101,211,\"2101-01-10 10:00:00\",\"80\",80,\"bpm\"\n\
2,7,101,211,\"2101-01-10 10:00:01\",\"90\",90,\"bpm\"\n\
3,7,101,211,\"2101-01-10 10:30:00\",\"100\",100,\"bpm\"\n\
4,7,102,211,\"2101-01-12 08:00:00\",\"70\",70,\"bpm\"\n\
5,7,,211,\"2101-01-12 08:00:01\",\"60\",60,\"bpm\"\n\
6,7,102,211,\"2101-01-10 10:30:01\",\"50\",50,\"bpm\"\n\
7,7,101,211,\"2101-01-07 10:00:00\",\"40\",40,\"bpm\"\n\
8,9,103,211,\"2102-01-01 23:59:59\",\"Sinus, regular\",,\"\"\n\
9,9,103,618,\"2102-01-01 23:15:00\",\"18\",18,\"insp/min\"\n\
10,9,103,618,\"2102-01-01 23:45:00\",\"21\",21,\"insp/min\"\n\
11,9,103,999,\"2102-01-01 23:45:00\",\"5\",5,\"\"\n\
12,10,104,211,\"2102-01-01 23:45:00\",\"5\",5,\"\"\n";

fn sample(
    dir: &Path,
    admissions: &Path,
    events: &[std::path::PathBuf],
    extra: &[&str],
) -> std::process::Output {
    let out = dir.join("grid.npy");
    let mut args = sample_args(admissions, events, &out);
    args.extend(["--items", "211,618", "--hours", "48"].map(String::from));
    args.extend(extra.iter().map(|s| s.to_string()));
    medimpute().args(&args).output().unwrap()
}

#[test]
fn bins_follow_medlens_semantics_at_every_edge() {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
    let ev = write(dir.path(), "CHARTEVENTS.csv", EVENTS_M3);
    let output = sample(dir.path(), &adm, &[ev], &[]);
    assert!(output.status.success(), "{}", text(&output));
    let (grid, axes) = read_grid(&dir.path().join("grid.npy"));
    assert_eq!(grid.shape().items, 2);
    assert_eq!(grid.shape().admissions, 3);
    assert_eq!(axes.items, vec![211, 618]);
    assert_eq!(axes.admissions[0].window_end, "2101-01-10 11:00:00");
    assert_eq!(axes.admissions[1].window_end, "2101-01-12 08:00:00", "DISCHTIME on the hour");
    assert_eq!(axes.admissions[1].hospital_expire_flag, 1);

    let hr0 = grid.series(0, 0);
    assert_eq!(hr0[46], 80.0, "an event exactly at 10:00 lands in the 10:00 bin");
    assert_eq!(hr0[47], 95.0, "10:00:01 and 10:30 land in the 11:00 bin: mean of 90 and 100");
    assert!(hr0[..46].iter().all(|v| v.is_nan()), "40 at 2101-01-07 10:00 is before the window");
    let hr1 = grid.series(0, 1);
    assert_eq!(hr1[47], 70.0, "an event at a DISCHTIME on the hour is the last bin");
    assert_eq!(
        hr1[2], 50.0,
        "just after the previous DISCHTIME: next admission, 45 h before its end"
    );
    assert_eq!(hr1.iter().filter(|v| !v.is_nan()).count(), 2);
    let rr2 = grid.series(1, 2);
    assert_eq!(rr2[47], 19.5, "two events in one bin average");
    assert!(grid.series(0, 2).iter().all(|v| v.is_nan()), "empty VALUENUM is skipped");

    let report = text(&output);
    let counts = [
        ("rows used", 7),
        ("skipped, empty VALUENUM", 1),
        ("skipped, item not selected", 1),
        ("skipped, no admission", 2),
        ("skipped, outside the window", 1),
        ("skipped, malformed", 0),
    ];
    for (label, expected) in counts {
        assert_eq!(reported_count(&report, label), expected, "{label} in:\n{report}");
    }
    assert!(report.contains("sampled 12 rows"), "{report}");
}

/// The count the summary prints after `label`.
fn reported_count(report: &str, label: &str) -> u64 {
    let line =
        report.lines().find(|l| l.trim_start().starts_with(label)).expect("label in summary");
    line[line.find(label).unwrap() + label.len()..].trim().replace(',', "").parse().unwrap()
}

#[test]
fn mimic4_lowercase_gzip_tables_give_the_same_grid_as_mimic3_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
    let ev = write(dir.path(), "CHARTEVENTS.csv", EVENTS_M3);
    assert!(sample(dir.path(), &adm, &[ev], &[]).status.success());
    let reference = std::fs::read(dir.path().join("grid.npy")).unwrap();

    let dir4 = tempfile::tempdir().unwrap();
    let adm4 = write(
        dir4.path(),
        "admissions.csv.gz",
        "hadm_id,subject_id,dischtime,admittime,hospital_expire_flag,race\n\
         101,7,2101-01-10 10:30:00,2101-01-01 00:00:00,0,WHITE\n\
         103,9,2102-01-02 00:00:00,2102-01-01 00:00:00,0,\"ASIAN, CHINESE\"\n\
         102,7,2101-01-12 08:00:00,2101-01-11 00:00:00,1,WHITE\n",
    );
    // The same events in MIMIC-IV's column order, split over two tables, CRLF line ends.
    let mut chart =
        String::from("subject_id,hadm_id,stay_id,charttime,itemid,value,valuenum,warning\r\n");
    let mut lab =
        String::from("labevent_id,subject_id,hadm_id,itemid,charttime,value,valuenum,comments\n");
    for (i, line) in EVENTS_M3.lines().skip(1).enumerate() {
        let f: Vec<&str> = split_quoted(line);
        let (subject, hadm, item, time, value, num) = (f[1], f[2], f[3], f[4], f[5], f[6]);
        if i % 2 == 0 {
            let time = time.trim_matches('"');
            chart.push_str(&format!("{subject},{hadm},1,{time},{item},{value},{num},0\r\n"));
        } else {
            lab.push_str(&format!(
                "{i},{subject},{hadm},{item},{time},{value},{num},\"note, \"\"x\"\"\"\n"
            ));
        }
    }
    let ev4 = vec![
        write(dir4.path(), "chartevents.csv.gz", &chart),
        write(dir4.path(), "labevents.csv", &lab),
    ];
    let output = sample(dir4.path(), &adm4, &ev4, &[]);
    assert!(output.status.success(), "{}\n{chart}", text(&output));
    assert_eq!(std::fs::read(dir4.path().join("grid.npy")).unwrap(), reference);
}

/// Splits a CSV line at commas outside quotes, keeping the quotes (enough for these fixtures).
fn split_quoted(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                fields.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(&line[start..]);
    fields
}

fn assert_fails_cleanly(dir: &Path, output: &std::process::Output, needles: &[&str]) {
    let message = text(output);
    assert_eq!(output.status.code(), Some(2), "{message}");
    for needle in needles {
        assert!(message.contains(needle), "missing '{needle}' in: {message}");
    }
    assert!(!dir.join("grid.npy").exists(), "no grid after a failure");
    assert!(!dir.join("grid.npy.axes.json").exists(), "no axes after a failure");
    assert!(partial_files(dir).is_empty(), "temporary files left: {:?}", partial_files(dir));
}

#[test]
fn each_kind_of_bad_input_names_file_and_line_exits_2_and_leaves_nothing() {
    let cases: [(&str, &[&str]); 5] = [
        ("2,7,,211,\"2101-01-10 10:00:00\",\"80\",80\n", &["expected 8 fields", "found 7"]),
        ("2,7,,211,\"2101-01-10 25:00:00\",\"80\",80,\"\"\n", &["CHARTTIME", "25:00:00"]),
        ("2,7,,211,\"2101-01-10 10:00:00\",\"80\",8O,\"\"\n", &["VALUENUM", "'8O'"]),
        ("2,7,,2l1,\"2101-01-10 10:00:00\",\"80\",80,\"\"\n", &["ITEMID"]),
        ("2,7,,211,\"2101-01-10 10:00:00\",\"80,80,\"\"\n", &["never closed"]),
    ];
    for (row, needles) in cases {
        let dir = tempfile::tempdir().unwrap();
        let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
        let events = format!(
            "\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"ITEMID\",\"CHARTTIME\",\"VALUE\",\"VALUENUM\",\"VALUEUOM\"\n\
             1,7,,211,\"2101-01-10 10:00:00\",\"80\",80,\"\"\n{row}"
        );
        let ev = write(dir.path(), "CHARTEVENTS.csv", &events);
        let output = sample(dir.path(), &adm, &[ev], &[]);
        let mut all = needles.to_vec();
        all.push("CHARTEVENTS.csv:3:");
        assert_fails_cleanly(dir.path(), &output, &all);
    }
}

#[test]
fn missing_files_columns_and_duplicate_admissions_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
    let ev = write(dir.path(), "CHARTEVENTS.csv", EVENTS_M3);
    let missing = dir.path().join("NOPE.csv");
    let output = sample(dir.path(), &adm, &[ev.clone(), missing], &[]);
    assert_fails_cleanly(dir.path(), &output, &["NOPE.csv", "No such file"]);

    let no_value = write(
        dir.path(),
        "E2.csv",
        "SUBJECT_ID,ITEMID,CHARTTIME,VALUE\n7,211,2101-01-10 10:00:00,3\n",
    );
    let output = sample(dir.path(), &adm, &[no_value], &[]);
    assert_fails_cleanly(dir.path(), &output, &["E2.csv:1", "missing column VALUENUM"]);

    let dup = write(
        dir.path(),
        "A2.csv",
        &format!(
            "{ADMISSIONS_M3}4,7,105,\"2101-01-01 00:00:00\",\"2101-01-12 08:00:00\",\"X\",0\n"
        ),
    );
    let output = sample(dir.path(), &dup, std::slice::from_ref(&ev), &[]);
    assert_fails_cleanly(dir.path(), &output, &["A2.csv:5", "duplicate admission", "line 3"]);

    let empty = write(dir.path(), "EMPTY.csv", "");
    let output = sample(dir.path(), &adm, &[empty], &[]);
    assert_fails_cleanly(dir.path(), &output, &["EMPTY.csv", "empty file"]);
}

#[test]
fn skip_bad_rows_reports_count_and_first_lines_and_keeps_the_good_rows() {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
    let mut events = EVENTS_M3.to_string();
    for _ in 0..7 {
        events.push_str("99,7,101,211,\"not a time\",\"1\",1,\"\"\n");
    }
    let ev = write(dir.path(), "CHARTEVENTS.csv", &events);
    let output = sample(dir.path(), &adm, &[ev], &["--skip-bad-rows"]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert_eq!(reported_count(&report, "skipped, malformed"), 7, "{report}");
    for line in 14..=18 {
        assert!(report.contains(&format!("CHARTEVENTS.csv:{line}:")), "line {line} in {report}");
    }
    assert!(report.contains("and 2 more"), "{report}");
    let (grid, _) = read_grid(&dir.path().join("grid.npy"));
    assert_eq!(grid.series(0, 0)[47], 95.0);
}

#[test]
fn numpy_reads_the_grid_as_is() {
    let dir = tempfile::tempdir().unwrap();
    let adm = write(dir.path(), "ADMISSIONS.csv", ADMISSIONS_M3);
    let ev = write(dir.path(), "CHARTEVENTS.csv", EVENTS_M3);
    assert!(sample(dir.path(), &adm, &[ev], &[]).status.success());
    let script = "import sys, json, numpy as np\n\
        g = np.load(sys.argv[1], mmap_mode='r')\n\
        axes = json.load(open(sys.argv[1] + '.axes.json'))\n\
        assert g.dtype == np.dtype('<f4') and g.flags['C_CONTIGUOUS'], g.dtype\n\
        assert list(g.shape) == axes['shape'] == [2, 3, 48], g.shape\n\
        assert g[0, 0, 47] == 95.0 and g[1, 2, 47] == 19.5\n\
        print(int(np.isnan(g).sum()))\n";
    let output = std::process::Command::new("python3")
        .args(["-c", script, &dir.path().join("grid.npy").display().to_string()])
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), (2 * 3 * 48 - 5).to_string());
}

#[test]
fn generate_refuses_impossible_sizes_as_usage_errors_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export");
    for subjects in ["0", "2000000"] {
        let output =
            run(&["generate", "--subjects", subjects, "--out", &out.display().to_string()]);
        assert_eq!(output.status.code(), Some(2), "{subjects}: {}", text(&output));
        assert!(!out.exists(), "{subjects}: nothing written");
    }
}
