//! Ingest: reading MIMIC-III and MIMIC-IV tables, plain or gzip, as fast as the disk allows.
//!
//! - [`source`] opens a table (memory map for plain files, a stream for gzip);
//! - [`pieces`] cuts it into pieces of whole records for parallel parsing;
//! - [`csv_split`] walks a piece's records once, reading only the fields used, without copying;
//! - [`structural`] finds the separators, quotes and line breaks of 64 bytes at a time;
//! - [`columns`] finds columns by name in either MIMIC's case;
//! - [`events`] turns event rows into (item, subject, time, value);
//! - [`admissions`] reads the ADMISSIONS table.

pub mod admissions;
pub mod columns;
pub mod csv_split;
pub mod events;
pub mod pieces;
pub mod source;
pub mod structural;

pub use admissions::{read_admissions, Admission};
pub use events::{EventColumns, EventRow, RowFilter};
