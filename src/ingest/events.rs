//! Parsing event rows (CHARTEVENTS, LABEVENTS) into the four values sampling needs.
//!
//! Work per row is ordered cheapest-rejection-first: most CHARTEVENTS rows are items MedLens
//! does not select, so the item id is read before anything else and the rest of such a row is
//! never parsed. A row is validated as far as it is used: field count always, then the item id,
//! then value, subject and time for the rows that reach the grid.

use super::columns::Header;
use super::csv_split::unquote;
use super::csv_split::{scan_records, ScannedRecord};
use crate::error::{Result, RowError};
use crate::items::ItemIndex;
use crate::timestamp::{parse_timestamp, Timestamp};
use std::ops::ControlFlow;
use std::path::Path;

/// Where the used columns of an events table are.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct EventColumns {
    pub subject: usize,
    pub item: usize,
    pub charttime: usize,
    pub valuenum: usize,
    /// Fields every row must have.
    pub width: usize,
}

impl EventColumns {
    /// Finds the columns in a header, or names the missing one.
    pub fn find(header: &Header, path: &Path) -> Result<Self> {
        Ok(EventColumns {
            subject: header.require("SUBJECT_ID", path)?,
            item: header.require("ITEMID", path)?,
            charttime: header.require("CHARTTIME", path)?,
            valuenum: header.require("VALUENUM", path)?,
            width: header.len(),
        })
    }
}

/// A row that passed the item and value filters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EventRow {
    /// The item's row in the grid.
    pub item_slot: usize,
    pub subject_id: u64,
    pub charttime: Timestamp,
    pub value: f64,
}

/// What became of a row before it reached the admission lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowFilter {
    /// The row's item is not in the selected set.
    ItemNotSelected,
    /// VALUENUM is empty (a text value such as "Sinus Rhythm").
    EmptyValue,
}

/// Parses an unsigned integer field (possibly quoted, e.g. `"36"`).
#[inline]
pub fn parse_u64(field: &[u8]) -> Option<u64> {
    let digits = unquote(field);
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then(|| acc * 10 + u64::from(d))
    })
}

/// Parses a floating-point field; MIMIC writes plain decimals (`98.6`, `7.35`, `-2`, `1e-3`).
#[inline]
pub fn parse_f64(field: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(unquote(field)).ok()?.trim();
    let value: f64 = text.parse().ok()?;
    value.is_finite().then_some(value)
}

/// One record's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum ParsedRow {
    /// A row of a selected item with a value.
    Event(EventRow),
    /// A well-formed row the grid does not use.
    Filtered(RowFilter),
    /// A malformed row.
    Malformed(RowError),
}

/// Parses every record of `data` (starting at `first_line`) and hands each to `visit` with its
/// line number; `visit` returns `ControlFlow::Break` to stop early.
///
/// Each record is scanned once ([`scan_records`]) and only the fields used are located in it:
/// the item id on every row, the rest on the rows of selected items.
pub fn parse_events(
    data: &[u8],
    first_line: u64,
    columns: &EventColumns,
    items: &ItemIndex,
    mut visit: impl FnMut(u64, ParsedRow) -> ControlFlow<()>,
) {
    scan_records(data, first_line, |record| {
        let (line, row) = match record {
            Ok(record) => {
                let row = match parse_row(data, record, columns, items) {
                    Ok(Ok(event)) => ParsedRow::Event(event),
                    Ok(Err(filter)) => ParsedRow::Filtered(filter),
                    Err(error) => ParsedRow::Malformed(error),
                };
                (record.line, row)
            }
            Err((line, error)) => (line, ParsedRow::Malformed(error)),
        };
        visit(line, row)
    });
}

#[inline]
fn parse_row(
    data: &[u8],
    record: &ScannedRecord<'_>,
    columns: &EventColumns,
    items: &ItemIndex,
) -> Result<Result<EventRow, RowFilter>, RowError> {
    if record.fields != columns.width {
        return Err(RowError::FieldCount { expected: columns.width, found: record.fields });
    }
    let field = |k: usize| record.field_bytes(data, k);
    let item = field(columns.item);
    let item_id = parse_u64(item).ok_or_else(|| RowError::number("ITEMID", item))?;
    let Some(item_slot) = items.slot(item_id) else {
        return Ok(Err(RowFilter::ItemNotSelected));
    };
    let valuenum = unquote(field(columns.valuenum));
    if valuenum.is_empty() {
        return Ok(Err(RowFilter::EmptyValue));
    }
    let value = parse_f64(valuenum).ok_or_else(|| RowError::number("VALUENUM", valuenum))?;
    let subject = field(columns.subject);
    let subject_id = parse_u64(subject).ok_or_else(|| RowError::number("SUBJECT_ID", subject))?;
    let time = unquote(field(columns.charttime));
    let charttime = parse_timestamp(time).ok_or_else(|| RowError::timestamp("CHARTTIME", time))?;
    Ok(Ok(EventRow { item_slot, subject_id, charttime, value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Parsed = (Vec<(EventRow, u64)>, Vec<RowFilter>, Vec<(u64, RowError)>);

    fn parse(text: &str, items: &[u32]) -> Parsed {
        let header_end = text.find('\n').unwrap() + 1;
        let header = Header::parse(&text.as_bytes()[..header_end]);
        let columns = EventColumns::find(&header, Path::new("e.csv")).unwrap();
        let index = ItemIndex::new(items.to_vec());
        let (mut rows, mut filtered, mut bad) = (vec![], vec![], vec![]);
        parse_events(&text.as_bytes()[header_end..], 2, &columns, &index, |line, row| {
            match row {
                ParsedRow::Event(event) => rows.push((event, line)),
                ParsedRow::Filtered(filter) => filtered.push(filter),
                ParsedRow::Malformed(error) => bad.push((line, error)),
            }
            ControlFlow::Continue(())
        });
        (rows, filtered, bad)
    }

    #[test]
    fn reads_mimic3_rows_with_quoted_fields() {
        let text = "\"ROW_ID\",\"SUBJECT_ID\",\"ITEMID\",\"CHARTTIME\",\"VALUE\",\"VALUENUM\"\n\
                    1,36,211,\"2134-05-12 12:00:00\",\"86, regular\",86\n\
                    2,36,999,\"2134-05-12 12:00:00\",\"x\",1\n\
                    3,36,211,\"2134-05-12 13:00:00\",\"Sinus Rhythm\",\n";
        let (rows, filtered, bad) = parse(text, &[211]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0.value, 86.0);
        assert_eq!(rows[0].0.subject_id, 36);
        assert_eq!(rows[0].1, 2);
        assert_eq!(filtered, vec![RowFilter::ItemNotSelected, RowFilter::EmptyValue]);
        assert!(bad.is_empty());
    }

    #[test]
    fn reports_each_kind_of_malformed_row_with_its_line() {
        let text = "subject_id,itemid,charttime,valuenum\n\
                    1,211,2134-05-12 12:00:00\n\
                    1,21x,2134-05-12 12:00:00,3\n\
                    1,211,2134-05-12 12:00,3\n\
                    1,211,2134-05-12 12:00:00,abc\n\
                    -1,211,2134-05-12 12:00:00,3\n";
        let (rows, _, bad) = parse(text, &[211]);
        assert!(rows.is_empty());
        let lines: Vec<u64> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6]);
        assert!(matches!(bad[0].1, RowError::FieldCount { expected: 4, found: 3 }));
        assert!(matches!(bad[1].1, RowError::Number { column: "ITEMID", .. }));
        assert!(matches!(bad[2].1, RowError::Timestamp { .. }));
        assert!(matches!(bad[3].1, RowError::Number { column: "VALUENUM", .. }));
        assert!(matches!(bad[4].1, RowError::Number { column: "SUBJECT_ID", .. }));
    }

    #[test]
    fn number_parsing_edges() {
        assert_eq!(parse_u64(b"\"42\""), Some(42));
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(parse_f64(b"7.35"), Some(7.35));
        assert_eq!(parse_f64(b"-2"), Some(-2.0));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b"inf"), None);
    }
}
