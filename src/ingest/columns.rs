//! Finding columns by name in a header, in any order and either case.
//!
//! MIMIC-III writes `"SUBJECT_ID"`, MIMIC-IV `subject_id`; both name the same column, and
//! both carry extra columns that the engine ignores.

use crate::error::{Error, Result};
use std::path::Path;

/// The names of a header's fields, unquoted and upper-cased.
pub struct Header {
    names: Vec<String>,
}

impl Header {
    /// Parses a header record (raw bytes, possibly quoted, possibly ending in a line break).
    pub fn parse(bytes: &[u8]) -> Self {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
        let names = reader
            .byte_records()
            .next()
            .and_then(|r| r.ok())
            .map(|record| {
                record
                    .iter()
                    .map(|f| String::from_utf8_lossy(f).trim().to_ascii_uppercase())
                    .collect()
            })
            .unwrap_or_default();
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
}
