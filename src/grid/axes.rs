//! `<grid>.axes.json`: what each index of the grid stands for.
//!
//! The grid is bare numbers; the axes file says which item each row block is and which
//! admission each series belongs to, so downstream code never has to re-derive the ordering.

use crate::error::{Error, Result};
use crate::timestamp::{format_timestamp, Timestamp};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One admission along the grid's second axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionAxis {
    pub subject_id: u64,
    pub hadm_id: u64,
    /// `DISCHTIME` as in the export.
    pub dischtime: String,
    /// The label of the last bin: `DISCHTIME` rounded up to the hour.
    pub window_end: String,
    pub hospital_expire_flag: u8,
}

/// The axes of a grid, written beside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axes {
    /// Format tag, so a reader can tell this file from other JSON.
    pub format: String,
    /// The grid's shape `[items, admissions, hours]`.
    pub shape: [usize; 3],
    pub hours: usize,
    /// Item ids along the first axis.
    pub items: Vec<u32>,
    /// Admissions along the second axis, ordered by (subject_id, dischtime).
    pub admissions: Vec<AdmissionAxis>,
}

impl Axes {
    /// The tag in [`Axes::format`].
    pub const FORMAT: &'static str = "medimpute-grid-axes/1";

    /// Builds the axes from item ids and admissions given as
    /// `(subject_id, hadm_id, dischtime, window_end, hospital_expire_flag)`.
    pub fn new(
        items: Vec<u32>,
        hours: usize,
        admissions: impl IntoIterator<Item = (u64, u64, Timestamp, Timestamp, u8)>,
    ) -> Self {
        let admissions: Vec<AdmissionAxis> = admissions
            .into_iter()
            .map(|(subject_id, hadm_id, disch, end, flag)| AdmissionAxis {
                subject_id,
                hadm_id,
                dischtime: format_timestamp(disch),
                window_end: format_timestamp(end),
                hospital_expire_flag: flag,
            })
            .collect();
        Axes {
            format: Self::FORMAT.to_string(),
            shape: [items.len(), admissions.len(), hours],
            hours,
            items,
            admissions,
        }
    }

    /// Where the axes of the grid at `grid_path` live: `<grid_path>.axes.json`.
    pub fn path_for(grid_path: &Path) -> PathBuf {
        crate::output::sibling(grid_path, ".axes.json")
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("axes serialize")
    }

    /// Reads the axes file of a grid.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, e))?;
        let axes: Axes = serde_json::from_str(&text)
            .map_err(|e| Error::BadGrid { path: path.to_path_buf(), reason: e.to_string() })?;
        if axes.format != Self::FORMAT {
            return Err(Error::BadGrid {
                path: path.to_path_buf(),
                reason: format!("unknown axes format '{}'", axes.format),
            });
        }
        Ok(axes)
    }
}
