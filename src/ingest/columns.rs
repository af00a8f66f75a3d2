//! Finding columns by name in a header, in any order and either case.
//!
//! MIMIC-III writes `"SUBJECT_ID"`, MIMIC-IV `subject_id`; both name the same column, and
//! both carry extra columns that the engine ignores.

use crate::error::{Error, Result};
use std::cell::RefCell;
use std::path::Path;

thread_local! {
    /// A CSV reader with the csv crate's defaults (`,`, `"`, any line break), built once per
    /// thread and reset between headers: building one (its state machine) took 18 us on this
    /// VM warm, 25-37 us in a traced `run` job, which read four or five headers until session
    /// 18 (the admissions' twice).
    /// (Not cloned from one built once: csv-core 0.1.13's `Dfa::clone` copies its transitions
    /// but not its byte classes, and the clone reads every byte as a record's end.)
    static CSV_READER: RefCell<csv_core::Reader> = RefCell::new(csv_core::Reader::new());
}

/// The names of a header's fields, unquoted and upper-cased.
pub struct Header {
    names: Vec<String>,
}

impl Header {
    /// Parses a header record (raw bytes, possibly quoted, possibly ending in a line break).
    ///
    /// A header without a quote is split at its commas, as the CSV reader would split it:
    /// the first header a thread parses builds that thread's reader, and on the sampling
    /// profile's critical path (the calling thread's first header) that took 37 us (median of
    /// 40 runs) of a 5.5 ms job. MIMIC-IV's headers and the generator's have no quotes.
    pub fn parse(bytes: &[u8]) -> Self {
        if !bytes.contains(&b'"') {
            // The reader drops a byte-order mark at the input's start.
            let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
            let breaks = |b: &u8| *b == b'\n' || *b == b'\r';
            let start = bytes.iter().position(|b| !breaks(b)).unwrap_or(bytes.len());
            let record = &bytes[start..];
            let record = &record[..record.iter().position(breaks).unwrap_or(record.len())];
            if record.is_empty() {
                return Header::from_fields([]);
            }
            return Header::from_fields(record.split(|&b| b == b','));
        }
        // Sized to the input, which no record outgrows: one call reads it, a second (with no
        // input left) ends it.
        let mut fields = vec![0u8; bytes.len()];
        let mut ends = vec![0usize; bytes.len() + 1];
        let count = CSV_READER.with_borrow_mut(|reader| {
            reader.reset();
            let (mut read, mut written, mut count) = (0, 0, 0);
            loop {
                let (result, nin, nout, nend) =
                    reader.read_record(&bytes[read..], &mut fields[written..], &mut ends[count..]);
                (read, written, count) = (read + nin, written + nout, count + nend);
                match result {
                    csv_core::ReadRecordResult::InputEmpty => continue,
                    csv_core::ReadRecordResult::Record => return count,
                    csv_core::ReadRecordResult::End => return 0,
                    full => unreachable!("buffers sized to the input are never full: {full:?}"),
                }
            }
        });
        let starts = std::iter::once(0).chain(ends[..count].iter().copied());
        Header::from_fields(starts.zip(&ends[..count]).map(|(start, &end)| &fields[start..end]))
    }

    /// The header of already split fields (unquoted).
    pub fn from_fields<'a>(fields: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let names = fields
            .into_iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_ascii_uppercase())
            .collect();
        Header { names }
    }

    /// Number of fields every row must have.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the header has no field.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of the column `name` (upper case), or a missing-column error naming `path`.
    pub fn require(&self, name: &'static str, path: &Path) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| Error::MissingColumn {
            path: path.to_path_buf(),
            column: name,
            found: self.names.join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_mimic3_and_mimic4_names_alike() {
        let path = Path::new("t.csv");
        let m3 = Header::parse(b"\"ROW_ID\",\"SUBJECT_ID\",\"ITEMID\"\r\n");
        let m4 = Header::parse(b"itemid,subject_id\n");
        assert_eq!(m3.require("SUBJECT_ID", path).unwrap(), 1);
        assert_eq!(m4.require("SUBJECT_ID", path).unwrap(), 1);
        assert_eq!(m4.require("ITEMID", path).unwrap(), 0);
        let err = m4.require("VALUENUM", path).unwrap_err().to_string();
        assert!(err.contains("t.csv:1") && err.contains("VALUENUM"), "{err}");
    }

    #[test]
    fn parses_as_the_csv_crate_does() {
        let cases: [&[u8]; 16] = [
            b"a,b,c\n",
            b"\xef\xbb\xbf\r\na,b\n",
            b"\r\n\ra,b\r\nc,d\r\n",
            b"a\rb",
            b"\n\n",
            b" spaced , names ,\t\n",
            b",,,",
            b"\xef\xbb\xbfsubject_id,itemid\n",
            b"a,b,c",
            b"\"A\",\" b \",\"c,d\"\r\n",
            b"\"x\"\"y\",z\n",
            b"\n\nitemid,subject_id\n",
            b"only",
            b"a,,b,\n",
            b"",
            b"\"unterminated,b\n",
        ];
        for bytes in cases {
            let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
            let expected: Vec<String> = reader
                .byte_records()
                .next()
                .and_then(|r| r.ok())
                .map(|r| {
                    r.iter()
                        .map(|f| String::from_utf8_lossy(f).trim().to_ascii_uppercase())
                        .collect()
                })
                .unwrap_or_default();
            let ours = Header::parse(bytes);
            assert_eq!(ours.names, expected, "{:?}", String::from_utf8_lossy(bytes));
        }
        assert!(Header::parse(b"").is_empty());
        assert_eq!(Header::parse(b"a,b,c\nd,e\n").len(), 3, "the first record only");
    }
}
