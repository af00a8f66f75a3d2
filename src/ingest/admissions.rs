//! Reading the ADMISSIONS table: one row per hospital stay.
//!
//! The table is small (58,976 rows in MIMIC-III), so it goes through the `csv` crate, which
//! also unescapes the quoted free-text columns MIMIC puts beside the ones used here.

use super::columns::Header;
use super::events::parse_u64;
use super::source::open_reader;
use crate::error::{BadRow, Error, Result, RowError};
use crate::timestamp::{format_timestamp, parse_timestamp, Timestamp};
use std::path::Path;

/// One admission as read from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    pub subject_id: u64,
    pub hadm_id: u64,
    pub dischtime: Timestamp,
    pub hospital_expire_flag: u8,
    /// Line in the file, for error messages.
    pub line: u64,
}

/// Reads every admission, sorted by (SUBJECT_ID, DISCHTIME), the grid's admission order.
/// A second admission with the same (SUBJECT_ID, DISCHTIME) is an error: the windows
/// (previous DISCHTIME, DISCHTIME] would be ambiguous.
pub fn read_admissions(path: &Path) -> Result<Vec<Admission>> {
    let reader = open_reader(path)?;
    let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader);
    let mut records = csv.byte_records();
    let header_record = match records.next() {
        None => return Err(Error::EmptyTable { path: path.to_path_buf() }),
        Some(r) => r.map_err(|e| csv_error(path, e))?,
    };
    let header = Header::from_fields(&header_record);
    let subject = header.require("SUBJECT_ID", path)?;
    let hadm = header.require("HADM_ID", path)?;
    let disch = header.require("DISCHTIME", path)?;
    let flag = header.require("HOSPITAL_EXPIRE_FLAG", path)?;

    let mut admissions = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let bad = |error| Error::BadRow(BadRow { path: path.to_path_buf(), line, error });
        if record.len() != header.len() {
            return Err(bad(RowError::FieldCount { expected: header.len(), found: record.len() }));
        }
        let number = |i: usize, column| {
            parse_u64(&record[i]).ok_or_else(|| bad(RowError::number(column, &record[i])))
        };
        let dischtime = parse_timestamp(&record[disch])
            .ok_or_else(|| bad(RowError::timestamp("DISCHTIME", &record[disch])))?;
        let flag_value = number(flag, "HOSPITAL_EXPIRE_FLAG")?;
        if flag_value > 1 {
            return Err(bad(RowError::number("HOSPITAL_EXPIRE_FLAG", &record[flag])));
        }
        admissions.push(Admission {
            subject_id: number(subject, "SUBJECT_ID")?,
            hadm_id: number(hadm, "HADM_ID")?,
            dischtime,
            hospital_expire_flag: flag_value as u8,
            line,
        });
    }
    admissions.sort_by_key(|a| (a.subject_id, a.dischtime, a.line));
    if let Some(pair) = admissions
        .windows(2)
        .find(|w| (w[0].subject_id, w[0].dischtime) == (w[1].subject_id, w[1].dischtime))
    {
        return Err(Error::BadRow(BadRow {
            path: path.to_path_buf(),
            line: pair[1].line,
            error: RowError::DuplicateAdmission {
                subject_id: pair[1].subject_id,
                dischtime: format_timestamp(pair[1].dischtime),
                first_line: pair[0].line,
            },
        }));
    }
    Ok(admissions)
}

fn csv_error(path: &Path, error: csv::Error) -> Error {
    let line = error.position().map_or(0, |p| p.line());
    match error.into_kind() {
        csv::ErrorKind::Io(e) => Error::input(path, e),
        _ => Error::BadRow(BadRow {
            path: path.to_path_buf(),
            line,
            error: RowError::UnterminatedQuote,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Admission>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ADMISSIONS.csv");
        std::fs::write(&path, text).unwrap();
        read_admissions(&path)
    }

    #[test]
    fn sorts_by_subject_then_discharge_and_ignores_extra_columns() {
        let admissions = read(
            "\"ROW_ID\",\"SUBJECT_ID\",\"HADM_ID\",\"DISCHTIME\",\"DIAGNOSIS\",\"HOSPITAL_EXPIRE_FLAG\"\n\
             1,7,101,\"2101-10-20 19:10:00\",\"CHEST PAIN, R/O MI\",0\n\
             2,3,102,\"2105-01-01 00:00:00\",\"SEPSIS\",1\n\
             3,7,103,\"2100-01-01 08:00:00\",\"FALL, \"\"DIZZY\"\"\",0\n",
        )
        .unwrap();
        let order: Vec<u64> = admissions.iter().map(|a| a.hadm_id).collect();
        assert_eq!(order, vec![102, 103, 101]);
        assert_eq!(admissions[0].hospital_expire_flag, 1);
        assert_eq!(admissions[2].line, 2);
    }

    #[test]
    fn duplicate_discharge_of_one_subject_is_an_error_naming_both_lines() {
        let err = read(
            "subject_id,hadm_id,dischtime,hospital_expire_flag\n\
             7,101,2101-10-20 19:10:00,0\n\
             8,102,2101-10-20 19:10:00,0\n\
             7,103,2101-10-20 19:10:00,0\n",
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.contains("ADMISSIONS.csv:4") && text.contains("line 2"), "{text}");
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let base =
            "subject_id,hadm_id,dischtime,hospital_expire_flag\n7,101,2101-10-20 19:10:00,0\n";
        for (row, needle) in [
            ("7,102,2101-13-20 19:10:00,0", "not a timestamp"),
            ("7,102,2101-10-21 19:10:00", "expected 4 fields"),
            ("x,102,2101-10-21 19:10:00,0", "SUBJECT_ID"),
            ("7,102,2101-10-21 19:10:00,2", "HOSPITAL_EXPIRE_FLAG"),
        ] {
            let err = read(&format!("{base}{row}\n")).unwrap_err().to_string();
            assert!(err.contains("ADMISSIONS.csv:3:") && err.contains(needle), "{err}");
        }
        let err = read("subject_id,hadm_id,hospital_expire_flag\n").unwrap_err().to_string();
        assert!(err.contains("missing column DISCHTIME"), "{err}");
    }
}
