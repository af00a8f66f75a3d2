//! Rows printed in each MIMIC release's CSV dialect.
//!
//! MIMIC-III (exported from PostgreSQL) quotes its upper-case headers and every non-empty string
//! and timestamp, never numbers; MIMIC-IV (exported with pandas-like writers) has bare lower-case
//! headers and quotes a field only when it holds a comma, a quote or a line break. Quotes inside
//! quoted fields are doubled in both. Empty fields are empty, never `""`.
//!
//! Numbers are formatted by hand from fixed-point values: this runs for every row, and `format!`
//! would spend most of the generator's time here.

use std::io::Write;

use super::cohort::{Admission, System};
use super::records::{ChartGroup, ChartRow, Flag, LabDraw, LabRow, Reading};
use super::ExportFormat;
use crate::timestamp::{format_timestamp, Timestamp};

/// The three tables of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Table {
    Admissions,
    ChartEvents,
    LabEvents,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Admissions, Table::ChartEvents, Table::LabEvents];

    /// The file name MIMIC uses, without `.gz`.
    pub fn file_name(self, format: ExportFormat) -> &'static str {
        match (format, self) {
            (ExportFormat::Mimic3, Table::Admissions) => "ADMISSIONS.csv",
            (ExportFormat::Mimic3, Table::ChartEvents) => "CHARTEVENTS.csv",
            (ExportFormat::Mimic3, Table::LabEvents) => "LABEVENTS.csv",
            (ExportFormat::Mimic4, Table::Admissions) => "admissions.csv",
            (ExportFormat::Mimic4, Table::ChartEvents) => "chartevents.csv",
            (ExportFormat::Mimic4, Table::LabEvents) => "labevents.csv",
        }
    }

    #[rustfmt::skip]
    fn columns(self, format: ExportFormat) -> &'static [&'static str] {
        match (format, self) {
            (ExportFormat::Mimic3, Table::Admissions) => &[
                "ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME",
                "ADMISSION_TYPE", "ADMISSION_LOCATION", "DISCHARGE_LOCATION", "INSURANCE",
                "LANGUAGE", "RELIGION", "MARITAL_STATUS", "ETHNICITY", "EDREGTIME", "EDOUTTIME",
                "DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG", "HAS_CHARTEVENTS_DATA",
            ],
            (ExportFormat::Mimic3, Table::ChartEvents) => &[
                "ROW_ID", "SUBJECT_ID", "HADM_ID", "ICUSTAY_ID", "ITEMID", "CHARTTIME",
                "STORETIME", "CGID", "VALUE", "VALUENUM", "VALUEUOM", "WARNING", "ERROR",
                "RESULTSTATUS", "STOPPED",
            ],
            (ExportFormat::Mimic3, Table::LabEvents) => &[
                "ROW_ID", "SUBJECT_ID", "HADM_ID", "ITEMID", "CHARTTIME", "VALUE", "VALUENUM",
                "VALUEUOM", "FLAG",
            ],
            (ExportFormat::Mimic4, Table::Admissions) => &[
                "subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
                "admit_provider_id", "admission_location", "discharge_location", "insurance",
                "language", "marital_status", "race", "edregtime", "edouttime",
                "hospital_expire_flag",
            ],
            (ExportFormat::Mimic4, Table::ChartEvents) => &[
                "subject_id", "hadm_id", "stay_id", "caregiver_id", "charttime", "storetime",
                "itemid", "value", "valuenum", "valueuom", "warning",
            ],
            (ExportFormat::Mimic4, Table::LabEvents) => &[
                "labevent_id", "subject_id", "hadm_id", "specimen_id", "itemid",
                "order_provider_id", "charttime", "storetime", "value", "valuenum", "valueuom",
                "ref_range_lower", "ref_range_upper", "flag", "priority", "comments",
            ],
        }
    }

    /// The header line, quoted as the release quotes it.
    pub fn header(self, format: ExportFormat) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = Line::new(&mut out, format);
        for column in self.columns(format) {
            line.text(column);
        }
        line.end();
        out
    }
}

/// One CSV line being written: fields are appended left to right, separated by commas.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    quote_all_text: bool,
    fields: usize,
}

impl<'a> Line<'a> {
    fn new(out: &'a mut Vec<u8>, format: ExportFormat) -> Self {
        Line { out, quote_all_text: format == ExportFormat::Mimic3, fields: 0 }
    }

    fn next_field(&mut self) -> &mut Vec<u8> {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
        self.out
    }

    fn empty(&mut self) {
        self.next_field();
    }

    fn int(&mut self, value: u64) {
        push_u64(self.next_field(), value);
    }

    fn opt_int(&mut self, value: Option<u64>) {
        match value {
            Some(value) => self.int(value),
            None => self.empty(),
        }
    }

    /// A string field: MIMIC-III quotes it whenever it is not empty, MIMIC-IV only when needed.
    fn text(&mut self, text: &str) {
        let quote = !text.is_empty()
            && (self.quote_all_text
                || text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')));
        let out = self.next_field();
        if !quote {
            out.extend_from_slice(text.as_bytes());
            return;
        }
        out.push(b'"');
        for (index, part) in text.split('"').enumerate() {
            if index > 0 {
                out.extend_from_slice(b"\"\"");
            }
            out.extend_from_slice(part.as_bytes());
        }
        out.push(b'"');
    }

    fn opt_time(&mut self, time: Option<Timestamp>) {
        match time {
            Some(time) => self.text(&format_timestamp(time)),
            None => self.empty(),
        }
    }

    /// A number where the release stores text (VALUE): quoted in MIMIC-III.
    fn number_as_text(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let quote = self.quote_all_text;
        let out = self.next_field();
        if quote {
            out.push(b'"');
        }
        write(out);
        if quote {
            out.push(b'"');
        }
    }

    /// The VALUE column: the reading as text; lab results keep their decimals (`padded`).
    fn value(&mut self, reading: Reading, padded: bool) {
        match reading {
            Reading::Fixed { scaled, decimals } => {
                self.number_as_text(|out| push_fixed(out, scaled, decimals, padded));
            }
            Reading::Exact(value) => self.number_as_text(|out| push_f64(out, value)),
            Reading::Coded { text, .. } | Reading::Text(text) => self.text(text),
        }
    }

    /// The VALUENUM column: the reading's number, empty for text.
    fn value_number(&mut self, reading: Reading) {
        match reading {
            Reading::Fixed { scaled, decimals } => {
                push_fixed(self.next_field(), scaled, decimals, false)
            }
            Reading::Exact(value) => push_f64(self.next_field(), value),
            Reading::Coded { score, .. } => self.int(u64::from(score)),
            Reading::Text(_) => self.empty(),
        }
    }

    fn end(self) {
        self.out.push(b'\n');
    }
}

/// Appends the decimal digits of `value`.
fn push_u64(out: &mut Vec<u8>, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Appends `scaled / 10^decimals`; without `padded`, trailing zeros and a bare point are dropped
/// (`98.6`, `120`), as MIMIC prints VALUENUM.
fn push_fixed(out: &mut Vec<u8>, scaled: i64, decimals: u8, padded: bool) {
    if scaled < 0 {
        out.push(b'-');
    }
    let divisor = 10u64.pow(u32::from(decimals));
    let magnitude = scaled.unsigned_abs();
    push_u64(out, magnitude / divisor);
    let (mut fraction, mut places) = (magnitude % divisor, decimals);
    while !padded && places > 0 && fraction % 10 == 0 {
        fraction /= 10;
        places -= 1;
    }
    if places > 0 {
        out.push(b'.');
        for place in (0..places).rev() {
            out.push(b'0' + (fraction / 10u64.pow(u32::from(place)) % 10) as u8);
        }
    }
}

/// Appends the shortest text that reads back as `value`.
fn push_f64(out: &mut Vec<u8>, value: f64) {
    write!(out, "{value}").expect("writing to a Vec cannot fail");
}

/// Writes one ADMISSIONS row.
pub(super) fn admission_row(
    out: &mut Vec<u8>,
    format: ExportFormat,
    row_id: u64,
    subject_id: u32,
    admission: &Admission,
) {
    let a = admission;
    let mut line = Line::new(out, format);
    if format == ExportFormat::Mimic3 {
        line.int(row_id);
    }
    line.int(subject_id.into());
    line.int(a.hadm_id.into());
    line.opt_time(Some(a.admit));
    line.opt_time(Some(a.disch));
    line.opt_time(a.died.then_some(a.disch));
    line.text(a.text.admission_type);
    if format == ExportFormat::Mimic4 {
        line.text(std::str::from_utf8(&a.provider).expect("provider ids are ASCII"));
    }
    line.text(a.text.admission_location);
    line.text(a.text.discharge_location);
    line.text(a.text.insurance);
    line.text(a.text.language);
    if format == ExportFormat::Mimic3 {
        line.text(a.text.religion);
    }
    line.text(a.text.marital_status);
    line.text(a.text.ethnicity);
    line.opt_time(a.emergency_department.map(|(registered, _)| registered));
    line.opt_time(a.emergency_department.map(|(_, out)| out));
    if format == ExportFormat::Mimic3 {
        line.text(a.text.diagnosis);
    }
    line.int(a.died.into());
    if format == ExportFormat::Mimic3 {
        line.int(a.icu_stay.is_some().into());
    }
    line.end();
}

/// Where a group of rows belongs: the ids every row of it repeats.
#[derive(Clone, Copy, Debug)]
pub(super) struct Owner {
    pub subject_id: u32,
    pub hadm_id: Option<u32>,
    pub stay_id: Option<u32>,
}

/// Writes the rows of one charting action by `system`; MIMIC-III numbers them from
/// `first_row_id`.
pub(super) fn chart_group(
    out: &mut Vec<u8>,
    format: ExportFormat,
    first_row_id: u64,
    owner: Owner,
    system: System,
    group: &ChartGroup,
    rows: &[ChartRow],
) {
    let charttime = format_timestamp(group.charttime);
    let storetime = format_timestamp(group.storetime);
    for (row_id, row) in (first_row_id..).zip(rows) {
        let mut line = Line::new(out, format);
        if format == ExportFormat::Mimic3 {
            line.int(row_id);
        }
        line.int(owner.subject_id.into());
        line.opt_int(owner.hadm_id.map(u64::from));
        line.opt_int(owner.stay_id.map(u64::from));
        match format {
            ExportFormat::Mimic3 => {
                line.int(row.item.id.into());
                line.text(&charttime);
                line.text(&storetime);
                line.int(group.caregiver.into());
            }
            ExportFormat::Mimic4 => {
                line.int(group.caregiver.into());
                line.text(&charttime);
                line.text(&storetime);
                line.int(row.item.id.into());
            }
        }
        line.value(row.reading, false);
        line.value_number(row.reading);
        line.text(unit(row.item.unit, format));
        match (format, system) {
            (ExportFormat::Mimic4, _) => line.int((row.flag == Flag::Warning).into()),
            (ExportFormat::Mimic3, System::MetaVision) => {
                line.int((row.flag == Flag::Warning).into());
                line.int((row.flag == Flag::Error).into());
                line.empty();
                line.empty();
            }
            (ExportFormat::Mimic3, System::CareVue) => {
                line.empty();
                line.empty();
                line.text("Manual");
                line.text(if row.flag == Flag::Stopped { "D/C'd" } else { "NotStopd" });
            }
        }
        line.end();
    }
}

/// MIMIC-III lost the degree sign of MetaVision's units on export (`?F`); MIMIC-IV kept it.
fn unit(unit: &'static str, format: ExportFormat) -> &'static str {
    match (format, unit) {
        (ExportFormat::Mimic3, "°F") => "?F",
        _ => unit,
    }
}

/// Writes the results of one specimen; rows are numbered from `first_row_id` (MIMIC-III ROW_ID,
/// MIMIC-IV labevent_id).
pub(super) fn lab_draw(
    out: &mut Vec<u8>,
    format: ExportFormat,
    first_row_id: u64,
    owner: Owner,
    specimen_id: u32,
    draw: &LabDraw,
    rows: &[LabRow],
) {
    let charttime = format_timestamp(draw.charttime);
    let storetime = format_timestamp(draw.storetime);
    for (row_id, row) in (first_row_id..).zip(rows) {
        let abnormal = match (row.reading, row.test.normal) {
            (Reading::Fixed { scaled, decimals }, Some((low, high))) => {
                let value = scaled as f64 / 10f64.powi(i32::from(decimals));
                value < low || value > high
            }
            _ => false,
        };
        let flag = if abnormal { "abnormal" } else { "" };
        let mut line = Line::new(out, format);
        line.int(row_id);
        line.int(owner.subject_id.into());
        line.opt_int(owner.hadm_id.map(u64::from));
        if format == ExportFormat::Mimic4 {
            line.int(specimen_id.into());
        }
        line.int(row.test.id.into());
        if format == ExportFormat::Mimic4 {
            line.text(
                draw.provider.as_ref().map_or("", |id| std::str::from_utf8(id).expect("ASCII")),
            );
        }
        line.text(&charttime);
        if format == ExportFormat::Mimic4 {
            line.text(&storetime);
        }
        line.value(row.reading, true);
        line.value_number(row.reading);
        line.text(row.test.unit);
        if format == ExportFormat::Mimic4 {
            let decimals = row.test.decimals;
            for bound in
                [row.test.normal.map(|(low, _)| low), row.test.normal.map(|(_, high)| high)]
            {
                match bound.map(|bound| Reading::fixed(bound, decimals)) {
                    Some(reading) => line.value_number(reading),
                    None => line.empty(),
                }
            }
        }
        line.text(flag);
        if format == ExportFormat::Mimic4 {
            line.text(draw.priority);
            line.text(row.comment);
        }
        line.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(scaled: i64, decimals: u8, padded: bool) -> String {
        let mut out = Vec::new();
        push_fixed(&mut out, scaled, decimals, padded);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fixed_point_prints_like_mimic() {
        assert_eq!(fixed(986, 1, false), "98.6");
        assert_eq!(fixed(990, 1, false), "99");
        assert_eq!(fixed(990, 1, true), "99.0");
        assert_eq!(fixed(735, 2, false), "7.35");
        assert_eq!(fixed(705, 2, true), "7.05");
        assert_eq!(fixed(-3, 1, false), "-0.3");
        assert_eq!(fixed(0, 2, false), "0");
        assert_eq!(fixed(120, 0, true), "120");
    }

    #[test]
    fn quoting_follows_each_release() {
        let mut out = Vec::new();
        let mut line = Line::new(&mut out, ExportFormat::Mimic3);
        line.text("CHEST PAIN, R/O MI");
        line.text("");
        line.text("FOUND \"DOWN\"");
        line.int(7);
        line.end();
        assert_eq!(out, b"\"CHEST PAIN, R/O MI\",,\"FOUND \"\"DOWN\"\"\",7\n");
        let mut out = Vec::new();
        let mut line = Line::new(&mut out, ExportFormat::Mimic4);
        line.text("Siderails up x2");
        line.text("a, b");
        line.end();
        assert_eq!(out, b"Siderails up x2,\"a, b\"\n");
    }
}
