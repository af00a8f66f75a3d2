//! What simulation produces and rendering prints: one subject's admissions, chart events and lab
//! events, as compact structs independent of the output format.
//!
//! Rows come in groups, one group per charting action or blood draw, because that is how MIMIC
//! stores them (one entry time, one caregiver, one specimen) and because groups, not single rows,
//! are what gets shuffled: a file in no time order whose neighbouring rows still look like real
//! charting (and still compress well).

use std::ops::Range;

use super::cohort::Admission;
use crate::timestamp::Timestamp;

/// A charted or measured value as MIMIC stores it: text in VALUE, the number (if any) in VALUENUM.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Reading {
    /// `scaled / 10^decimals`, as typed or measured. Chart VALUE and VALUENUM both print it
    /// without trailing zeros (`98.6`, `120`); lab VALUE keeps the test's decimals (`2.0`).
    Fixed { scaled: i64, decimals: u8 },
    /// A number at full double precision: CareVue's float32 values (`98.5999984741211`) and
    /// calculated items such as Temperature C (calc).
    Exact(f64),
    /// A coded score: words in VALUE, the score in VALUENUM, as MIMIC charts GCS components
    /// (`"Spontaneously"`, 4).
    Coded { text: &'static str, score: u8 },
    /// Text only, VALUENUM empty: rows any numeric pipeline must skip.
    Text(&'static str),
}

impl Reading {
    /// `value` rounded to `decimals` places.
    pub fn fixed(value: f64, decimals: u8) -> Self {
        let scaled = (value * 10f64.powi(i32::from(decimals))).round() as i64;
        Reading::Fixed { scaled, decimals }
    }
}

/// A chart item: its `ITEMID` and unit of measure (empty when MIMIC has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Item {
    pub id: u32,
    pub unit: &'static str,
}

/// How a chart row is flagged: MetaVision's WARNING and ERROR columns, CareVue's STOPPED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Flag {
    None,
    /// Outside the alarm limits (MetaVision WARNING = 1).
    Warning,
    /// Marked as entered in error (MetaVision ERROR = 1, MIMIC-III only).
    Error,
    /// A discontinued entry (CareVue STOPPED = `D/C'd`).
    Stopped,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct ChartRow {
    pub item: Item,
    pub reading: Reading,
    pub flag: Flag,
}

/// One charting action: rows entered together, with one chart time, store time and caregiver.
#[derive(Clone, Debug)]
pub(super) struct ChartGroup {
    /// Index into the subject's admissions.
    pub admission: usize,
    pub charttime: Timestamp,
    pub storetime: Timestamp,
    pub caregiver: u32,
    pub rows: Range<usize>,
}

/// A lab test: `ITEMID`, unit, printed decimals and normal range (`None` for text results).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LabTest {
    pub id: u32,
    pub unit: &'static str,
    pub decimals: u8,
    pub normal: Option<(f64, f64)>,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct LabRow {
    pub test: &'static LabTest,
    pub reading: Reading,
    /// The lab's remark (MIMIC-IV `comments`), empty when none.
    pub comment: &'static str,
}

/// One specimen: results drawn together, at one chart time.
#[derive(Clone, Debug)]
pub(super) struct LabDraw {
    /// Index into the subject's admissions, `None` for outpatient draws (empty HADM_ID).
    pub admission: Option<usize>,
    pub charttime: Timestamp,
    pub storetime: Timestamp,
    /// MIMIC-IV `priority`: `ROUTINE`, `STAT` or empty.
    pub priority: &'static str,
    /// MIMIC-IV `order_provider_id`, often unknown.
    pub provider: Option<[u8; 6]>,
    pub rows: Range<usize>,
}

/// Chart events of one subject, grouped by charting action.
#[derive(Debug, Default)]
pub(super) struct ChartLog {
    pub groups: Vec<ChartGroup>,
    pub rows: Vec<ChartRow>,
    open: usize,
}

impl ChartLog {
    /// Adds a row to the group being built.
    pub fn push(&mut self, item: Item, reading: Reading, flag: Flag) {
        self.rows.push(ChartRow { item, reading, flag });
    }

    /// Closes the group being built with the rows pushed since the last close (none: no group).
    pub fn close(
        &mut self,
        admission: usize,
        charttime: Timestamp,
        storetime: Timestamp,
        caregiver: u32,
    ) {
        let rows = self.open..self.rows.len();
        self.open = self.rows.len();
        if !rows.is_empty() {
            self.groups.push(ChartGroup { admission, charttime, storetime, caregiver, rows });
        }
    }
}

/// Lab events of one subject, grouped by specimen.
#[derive(Debug, Default)]
pub(super) struct LabLog {
    pub draws: Vec<LabDraw>,
    pub rows: Vec<LabRow>,
}

/// Everything one subject contributes to the three tables.
#[derive(Debug)]
pub(super) struct SubjectRecord {
    pub subject_id: u32,
    pub admissions: Vec<Admission>,
    pub chart: ChartLog,
    pub labs: LabLog,
}
