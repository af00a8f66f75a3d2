//! Exports are read back with the `csv` crate and checked for the properties the engine and its
//! benchmarks rely on: exact layouts, parseable values, consistent admissions, MIMIC's quirks,
//! and physiologically plausible structure.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::sync::{Mutex, OnceLock};

use flate2::read::GzDecoder;

use super::*;
use crate::items::{MEDLENS_CHART, MEDLENS_LAB};
use crate::timestamp::{parse_timestamp, Timestamp, HOUR};

const SUBJECTS: usize = 60;

fn config(format: ExportFormat, seed: u64, gzip: bool) -> GenerateConfig {
    GenerateConfig { subjects: SUBJECTS, seed, format, gzip }
}

/// The three files of an export, in memory, with the summary.
struct Export {
    admissions: Rows,
    chart: Rows,
    labs: Rows,
    bytes: [Vec<u8>; 3],
    summary: GenerateSummary,
}

/// Generates a plain export into a fresh directory and reads the files back.
fn export(config: &GenerateConfig) -> Export {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(config, dir.path()).unwrap();
    let bytes = [0, 1, 2].map(|i| fs::read(&summary.files[i]).unwrap());
    Export {
        admissions: Rows::parse(&bytes[0]),
        chart: Rows::parse(&bytes[1]),
        labs: Rows::parse(&bytes[2]),
        bytes,
        summary,
    }
}

/// One plain export per format, shared by the tests that only read it.
fn shared(format: ExportFormat) -> &'static Export {
    static MIMIC3: OnceLock<Export> = OnceLock::new();
    static MIMIC4: OnceLock<Export> = OnceLock::new();
    let cell = match format {
        ExportFormat::Mimic3 => &MIMIC3,
        ExportFormat::Mimic4 => &MIMIC4,
    };
    cell.get_or_init(|| export(&config(format, 11, false)))
}

const FORMATS: [ExportFormat; 2] = [ExportFormat::Mimic3, ExportFormat::Mimic4];

/// A CSV table read back: header and records, columns found by case-insensitive name.
struct Rows {
    header: Vec<String>,
    records: Vec<csv::StringRecord>,
}

impl Rows {
    fn parse(bytes: &[u8]) -> Rows {
        let mut reader = csv::Reader::from_reader(bytes);
        let header = reader.headers().unwrap().iter().map(str::to_string).collect();
        let records = reader.records().map(Result::unwrap).collect();
        Rows { header, records }
    }

    fn column(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .unwrap_or_else(|| panic!("no column {name}"))
    }

    fn strings<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        let column = self.column(name);
        self.records.iter().map(move |record| &record[column])
    }

    fn ints(&self, name: &str) -> Vec<Option<u64>> {
        self.strings(name).map(|s| (!s.is_empty()).then(|| s.parse().unwrap())).collect()
    }

    fn times(&self, name: &str) -> Vec<Option<Timestamp>> {
        self.strings(name)
            .map(|s| {
                (!s.is_empty()).then(|| {
                    parse_timestamp(s.as_bytes()).unwrap_or_else(|| panic!("bad time {s}"))
                })
            })
            .collect()
    }

    fn numbers(&self, name: &str) -> Vec<Option<f64>> {
        self.strings(name).map(|s| (!s.is_empty()).then(|| s.parse().unwrap())).collect()
    }
}

/// Each subject's admissions as (admit, discharge, hadm_id), sorted by admission time.
fn stays_by_subject(admissions: &Rows) -> BTreeMap<u64, Vec<(Timestamp, Timestamp, u64)>> {
    let mut by_subject: BTreeMap<u64, Vec<_>> = BTreeMap::new();
    let (subjects, hadms) = (admissions.ints("subject_id"), admissions.ints("hadm_id"));
    let (admits, dischs) = (admissions.times("admittime"), admissions.times("dischtime"));
    for i in 0..admissions.records.len() {
        by_subject.entry(subjects[i].unwrap()).or_default().push((
            admits[i].unwrap(),
            dischs[i].unwrap(),
            hadms[i].unwrap(),
        ));
    }
    for stays in by_subject.values_mut() {
        stays.sort_unstable();
    }
    by_subject
}

#[test]
fn same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    for format in FORMATS {
        let again = export(&config(format, 11, false));
        let other = export(&config(format, 12, false));
        assert_eq!(shared(format).bytes, again.bytes, "{format}");
        for table in 0..3 {
            assert_ne!(shared(format).bytes[table], other.bytes[table], "{format} table {table}");
        }
    }
}

#[test]
fn headers_match_the_release_layouts() {
    let mimic3 = shared(ExportFormat::Mimic3);
    let first_line = |bytes: &[u8]| {
        String::from_utf8(bytes.split(|&b| b == b'\n').next().unwrap().to_vec()).unwrap()
    };
    assert!(first_line(&mimic3.bytes[0])
        .starts_with("\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"ADMITTIME\""));
    assert_eq!(
        first_line(&mimic3.bytes[1]),
        "\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"ICUSTAY_ID\",\"ITEMID\",\"CHARTTIME\",\"STORETIME\",\"CGID\",\
         \"VALUE\",\"VALUENUM\",\"VALUEUOM\",\"WARNING\",\"ERROR\",\"RESULTSTATUS\",\"STOPPED\""
    );
    assert_eq!(
        mimic3.labs.header,
        [
            "ROW_ID",
            "SUBJECT_ID",
            "HADM_ID",
            "ITEMID",
            "CHARTTIME",
            "VALUE",
            "VALUENUM",
            "VALUEUOM",
            "FLAG"
        ]
    );
    assert_eq!(mimic3.admissions.header.len(), 19);
    assert_eq!(
        mimic3.admissions.header[16..],
        ["DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG", "HAS_CHARTEVENTS_DATA"]
    );

    let mimic4 = shared(ExportFormat::Mimic4);
    assert_eq!(
        first_line(&mimic4.bytes[0]),
        "subject_id,hadm_id,admittime,dischtime,deathtime,admission_type,admit_provider_id,\
         admission_location,discharge_location,insurance,language,marital_status,race,edregtime,\
         edouttime,hospital_expire_flag"
    );
    assert_eq!(
        first_line(&mimic4.bytes[1]),
        "subject_id,hadm_id,stay_id,caregiver_id,charttime,storetime,itemid,value,valuenum,valueuom,warning"
    );
    assert_eq!(
        first_line(&mimic4.bytes[2]),
        "labevent_id,subject_id,hadm_id,specimen_id,itemid,order_provider_id,charttime,storetime,value,\
         valuenum,valueuom,ref_range_lower,ref_range_upper,flag,priority,comments"
    );
}

#[test]
fn every_row_has_the_header_field_count_and_mimic3_quotes_strings_only() {
    for format in FORMATS {
        let export = shared(format);
        for rows in [&export.admissions, &export.chart, &export.labs] {
            assert!(rows.records.iter().all(|r| r.len() == rows.header.len()), "{format}");
        }
    }
    let chart = &shared(ExportFormat::Mimic3).bytes[1];
    let line = chart.split(|&b| b == b'\n').nth(1).unwrap();
    let line = String::from_utf8(line.to_vec()).unwrap();
    let fields: Vec<&str> = line.split(',').collect();
    assert!(!fields[0].starts_with('"') && fields[5].starts_with('"'), "{line}");
}

#[test]
fn selected_values_are_numbers_and_times_parse() {
    let selected: HashSet<u64> =
        MEDLENS_CHART.iter().chain(&MEDLENS_LAB).map(|&id| u64::from(id)).collect();
    for format in FORMATS {
        let export = shared(format);
        for rows in [&export.chart, &export.labs] {
            let times = rows.times("charttime");
            assert!(times.iter().all(Option::is_some), "{format}: empty charttime");
            let items = rows.ints("itemid");
            let values = rows.strings("valuenum");
            for (item, value) in items.iter().zip(values) {
                if selected.contains(&item.unwrap()) && !value.is_empty() {
                    assert!(
                        value.parse::<f64>().is_ok_and(f64::is_finite),
                        "{format}: item {item:?} value {value}"
                    );
                }
            }
        }
        let admissions = &export.admissions;
        for column in ["admittime", "dischtime", "deathtime", "edregtime", "edouttime"] {
            admissions.times(column);
        }
    }
}

#[test]
fn ids_are_unique_in_range_and_row_ids_ascend() {
    for format in FORMATS {
        let export = shared(format);
        let hadms = export.admissions.ints("hadm_id");
        let subjects = export.admissions.ints("subject_id");
        assert_eq!(
            hadms.iter().collect::<HashSet<_>>().len(),
            hadms.len(),
            "{format}: duplicate hadm_id"
        );
        assert_eq!(export.summary.admissions, hadms.len());
        let (subject_range, hadm_range) = match format {
            ExportFormat::Mimic3 => (1..=100_000, 100_000..=199_999),
            ExportFormat::Mimic4 => (10_000_000..=19_999_999, 20_000_000..=29_999_999),
        };
        assert!(subjects.iter().all(|s| subject_range.contains(&s.unwrap())), "{format}");
        assert!(hadms.iter().all(|h| hadm_range.contains(&h.unwrap())), "{format}");
        let row_ids =
            export.labs.ints(if format == ExportFormat::Mimic3 { "row_id" } else { "labevent_id" });
        assert!(row_ids.windows(2).all(|w| w[0].unwrap() + 1 == w[1].unwrap()), "{format}");
        assert_eq!(export.summary.lab_rows, row_ids.len() as u64);
        assert_eq!(export.summary.chart_rows, export.chart.records.len() as u64);
    }
}

#[test]
fn admissions_of_a_subject_never_overlap_and_discharge_at_distinct_times() {
    for format in FORMATS {
        let stays = stays_by_subject(&shared(format).admissions);
        assert_eq!(stays.len(), SUBJECTS);
        for (subject, stays) in &stays {
            for pair in stays.windows(2) {
                assert!(
                    pair[0].1 < pair[1].0,
                    "{format}: subject {subject} has overlapping admissions"
                );
            }
            assert!(stays.iter().all(|(admit, disch, _)| admit < disch));
        }
        assert!(stays.values().any(|s| s.len() > 1), "{format}: nobody is readmitted");
    }
}

#[test]
fn some_events_fall_after_the_last_discharge_or_are_text() {
    for format in FORMATS {
        let export = shared(format);
        let last_discharge: HashMap<u64, Timestamp> = stays_by_subject(&export.admissions)
            .into_iter()
            .map(|(subject, stays)| (subject, stays.last().unwrap().1))
            .collect();
        for (name, rows) in [("chart", &export.chart), ("lab", &export.labs)] {
            let subjects = rows.ints("subject_id");
            let times = rows.times("charttime");
            let after = subjects
                .iter()
                .zip(&times)
                .filter(|(s, t)| t.unwrap() > last_discharge[&s.unwrap()])
                .count();
            let share = after as f64 / rows.records.len() as f64;
            assert!(
                (0.002..0.15).contains(&share),
                "{format} {name}: {share} after the last discharge"
            );
            let text = rows.strings("valuenum").filter(|v| v.is_empty()).count();
            assert!(text > 0, "{format} {name}: no text rows");
        }
        let outpatient = export.labs.ints("hadm_id").iter().filter(|h| h.is_none()).count();
        assert!(outpatient > 0, "{format}: no outpatient labs");
    }
}

#[test]
fn free_text_fields_hold_commas_and_quotes() {
    let diagnoses: Vec<&str> =
        shared(ExportFormat::Mimic3).admissions.strings("diagnosis").collect();
    assert!(diagnoses.iter().filter(|d| d.contains(',')).count() * 5 > diagnoses.len());
    assert!(diagnoses.iter().any(|d| d.contains('"')));
    let comments: Vec<&str> = shared(ExportFormat::Mimic4).labs.strings("comments").collect();
    assert!(comments.iter().any(|c| c.contains(',')) && comments.iter().any(|c| c.contains('"')));
}

#[test]
fn item_ids_follow_each_release() {
    let mimic3 = shared(ExportFormat::Mimic3);
    let chart_items: HashSet<u64> = mimic3.chart.ints("itemid").into_iter().flatten().collect();
    for id in MEDLENS_CHART {
        assert!(chart_items.contains(&u64::from(id)), "chart item {id} never charted");
    }
    assert!(
        chart_items.iter().any(|&id| id < 220_000) && chart_items.iter().any(|&id| id >= 220_000)
    );
    let mimic4 = shared(ExportFormat::Mimic4);
    assert!(
        mimic4.chart.ints("itemid").iter().all(|id| id.unwrap() >= 220_000),
        "CareVue id in MIMIC-IV"
    );
    for export in [mimic3, mimic4] {
        let lab_items: HashSet<u64> = export.labs.ints("itemid").into_iter().flatten().collect();
        assert!(MEDLENS_LAB.iter().all(|&id| lab_items.contains(&u64::from(id))));
    }
}

#[test]
fn rows_are_in_no_time_order_and_many_are_not_selected() {
    let selected: HashSet<u64> = MEDLENS_CHART.iter().map(|&id| u64::from(id)).collect();
    for format in FORMATS {
        let chart = &shared(format).chart;
        let times = chart.times("charttime");
        assert!(
            times.windows(2).filter(|w| w[0] > w[1]).count() * 10 > times.len() / 10,
            "{format}: sorted"
        );
        let items = chart.ints("itemid");
        let other = items.iter().filter(|id| !selected.contains(&id.unwrap())).count();
        assert!(
            other * 4 > items.len(),
            "{format}: only {other} of {} rows unselected",
            items.len()
        );
    }
}

/// Per admission, per hourly bin (MedLens's right-closed hours), per item: the mean value.
fn hourly_means(chart: &Rows, items: &[u64]) -> HashMap<(u64, Timestamp, u64), f64> {
    let mut sums: HashMap<(u64, Timestamp, u64), (f64, f64)> = HashMap::new();
    let (hadms, times, ids, values) = (
        chart.ints("hadm_id"),
        chart.times("charttime"),
        chart.ints("itemid"),
        chart.numbers("valuenum"),
    );
    for i in 0..chart.records.len() {
        let (Some(id), Some(value)) = (ids[i], values[i]) else {
            continue;
        };
        if items.contains(&id) {
            let bin = crate::timestamp::ceil_hour(times[i].unwrap());
            let sum = sums.entry((hadms[i].unwrap(), bin, id)).or_default();
            *sum = (sum.0 + value, sum.1 + 1.0);
        }
    }
    sums.into_iter().map(|(key, (sum, count))| (key, sum / count)).collect()
}

/// Pearson correlation of paired samples.
fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) =
        (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let cov: f64 = pairs.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let vx: f64 = pairs.iter().map(|(x, _)| (x - mx).powi(2)).sum();
    let vy: f64 = pairs.iter().map(|(_, y)| (y - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn systolic_and_diastolic_move_together_within_admissions() {
    let sites: [(ExportFormat, u64, u64); 4] = [
        (ExportFormat::Mimic3, 455, 8441),
        (ExportFormat::Mimic3, 51, 8368),
        (ExportFormat::Mimic4, 220179, 220180),
        (ExportFormat::Mimic4, 220050, 220051),
    ];
    for (format, systolic, diastolic) in sites {
        let means = hourly_means(&shared(format).chart, &[systolic, diastolic]);
        let mut by_admission: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
        for (&(hadm, bin, item), &value) in &means {
            if item == systolic {
                if let Some(&dia) = means.get(&(hadm, bin, diastolic)) {
                    by_admission.entry(hadm).or_default().push((value, dia));
                }
            }
        }
        // Centre each admission on its own means: the correlation asked for is within admissions.
        let centred: Vec<(f64, f64)> = by_admission
            .values()
            .filter(|pairs| pairs.len() >= 10)
            .flat_map(|pairs| {
                let n = pairs.len() as f64;
                let (ms, md) = (
                    pairs.iter().map(|p| p.0).sum::<f64>() / n,
                    pairs.iter().map(|p| p.1).sum::<f64>() / n,
                );
                pairs.iter().map(move |(s, d)| (s - ms, d - md))
            })
            .collect();
        assert!(centred.len() > 500, "{format} {systolic}: only {} hours", centred.len());
        let r = correlation(&centred);
        assert!(r > 0.5, "{format} {systolic}/{diastolic}: within-admission correlation {r}");
    }
}

#[test]
fn mean_pressure_is_a_third_of_systolic_plus_two_diastolic() {
    for (format, items) in
        [(ExportFormat::Mimic3, [455, 8441, 456]), (ExportFormat::Mimic4, [220050, 220051, 220052])]
    {
        let chart = &shared(format).chart;
        let (stays, times, ids, values) = (
            chart.strings("hadm_id"),
            chart.times("charttime"),
            chart.ints("itemid"),
            chart.numbers("valuenum"),
        );
        let mut sets: HashMap<(&str, Timestamp), [Option<f64>; 3]> = HashMap::new();
        for (((stay, time), id), value) in stays.zip(times).zip(ids).zip(values) {
            if let (Some(slot), Some(value)) = (items.iter().position(|&i| Some(i) == id), value) {
                sets.entry((stay, time.unwrap())).or_default()[slot] = Some(value);
            }
        }
        let errors: Vec<f64> = sets
            .values()
            .filter_map(|set| Some((set[2]? - (set[0]? + 2.0 * set[1]?) / 3.0).abs()))
            .collect();
        assert!(errors.len() > 300, "{format}: {} complete sets", errors.len());
        let mean = errors.iter().sum::<f64>() / errors.len() as f64;
        let wide = errors.iter().filter(|&&e| e > 5.0).count();
        assert!(
            mean < 1.5 && wide * 100 <= errors.len(),
            "{format}: mean error {mean}, {wide} beyond 5 mmHg"
        );
    }
}

#[test]
fn core_vitals_fill_most_icu_hours_while_most_bins_stay_empty() {
    for (format, heart_rate) in
        [(ExportFormat::Mimic3, [211, 220045]), (ExportFormat::Mimic4, [220045, 220045])]
    {
        let chart = &shared(format).chart;
        let means = hourly_means(chart, &heart_rate);
        let mut hours: HashMap<u64, Vec<Timestamp>> = HashMap::new();
        for &(hadm, bin, _) in means.keys() {
            hours.entry(hadm).or_default().push(bin);
        }
        let mut filled_shares = Vec::new();
        for bins in hours.values_mut() {
            bins.sort_unstable();
            bins.dedup();
            let span = (bins[bins.len() - 1] - bins[0]) / HOUR + 1;
            filled_shares.push(bins.len() as f64 / span as f64);
            assert!(bins.len() < 720 || span > 720);
        }
        filled_shares.sort_by(f64::total_cmp);
        let median = filled_shares[filled_shares.len() / 2];
        assert!(median > 0.6, "{format}: heart rate in only {median} of charted hours");
        let total: usize = hours.values().map(Vec::len).sum();
        assert!((total as f64) < 0.3 * 720.0 * hours.len() as f64, "{format}: bins too full");
    }
}

/// The files of a small export as written, compressed or not.
fn small_export_files(format: ExportFormat, gzip: bool) -> (Vec<String>, Vec<Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    let summary =
        generate(&GenerateConfig { subjects: 15, ..config(format, 2, gzip) }, dir.path()).unwrap();
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let sizes: u64 = summary.files.iter().map(|f| fs::metadata(f).unwrap().len()).sum();
    assert_eq!(summary.bytes_written, sizes);
    (names, summary.files.iter().map(|f| fs::read(f).unwrap()).collect())
}

#[test]
fn gzip_output_is_the_plain_output_compressed_reproducibly() {
    for format in FORMATS {
        let (names, plain) = small_export_files(format, false);
        let (gz_names, gz) = small_export_files(format, true);
        assert_eq!(
            gz,
            small_export_files(format, true).1,
            "{format}: gzip bytes differ between runs"
        );
        for (name, gz_name) in names.iter().zip(&gz_names) {
            assert_eq!(format!("{name}.gz"), *gz_name);
        }
        for (plain, gz) in plain.iter().zip(&gz) {
            let mut text = Vec::new();
            GzDecoder::new(&gz[..]).read_to_end(&mut text).unwrap();
            assert_eq!(&text, plain, "{format}");
        }
    }
}

#[test]
fn only_the_final_files_are_left_and_progress_reaches_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let done = Mutex::new(Vec::new());
    let subjects = 2 * BATCH_SUBJECTS + 5;
    let config = GenerateConfig { subjects, ..config(ExportFormat::Mimic4, 3, false) };
    generate_with_progress(&config, dir.path(), &|n| done.lock().unwrap().push(n)).unwrap();
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["admissions.csv", "chartevents.csv", "labevents.csv"]);
    let done = done.into_inner().unwrap();
    assert!(done.windows(2).all(|w| w[0] < w[1]) && done.last() == Some(&subjects), "{done:?}");
}

#[test]
fn an_empty_export_has_headers_only() {
    let dir = tempfile::tempdir().unwrap();
    let summary = generate(
        &GenerateConfig { subjects: 0, ..config(ExportFormat::Mimic3, 1, false) },
        dir.path(),
    )
    .unwrap();
    assert_eq!((summary.admissions, summary.chart_rows, summary.lab_rows), (0, 0, 0));
    let admissions = fs::read_to_string(&summary.files[0]).unwrap();
    assert_eq!(admissions.lines().count(), 1);
}

#[test]
fn formats_parse_and_print_and_oversized_exports_are_refused() {
    for format in FORMATS {
        assert_eq!(format.to_string().parse::<ExportFormat>(), Ok(format));
    }
    assert!("mimic5".parse::<ExportFormat>().is_err());
    let dir = tempfile::tempdir().unwrap();
    let huge =
        GenerateConfig { subjects: MAX_SUBJECTS + 1, ..config(ExportFormat::Mimic3, 1, false) };
    assert_eq!(generate(&huge, dir.path()).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}
