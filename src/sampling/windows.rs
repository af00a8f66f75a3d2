//! Which admission and which hourly bin an event falls into (MedLens semantics).
//!
//! A subject's event belongs to the admission whose window (previous DISCHTIME, DISCHTIME]
//! holds its CHARTTIME; the first window is open to the left, and events after the last
//! discharge belong to none. Each admission has `hours` bins ending at DISCHTIME rounded up to
//! the hour; the bin labelled t holds t - 1h < CHARTTIME <= t.

use crate::ingest::Admission;
use crate::timestamp::{ceil_hour, Timestamp, HOUR};
use rustc_hash::FxHashMap;

/// Where an event goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Bin `hour` (0 = oldest) of admission `admission` (index along the grid's second axis).
    Bin { admission: usize, hour: usize },
    /// The subject has no admission, or the event is after the subject's last discharge.
    NoAdmission,
    /// The event belongs to an admission but precedes its first bin.
    OutsideWindow,
}

/// The admissions' windows, indexed by subject.
pub struct AdmissionWindows {
    by_subject: FxHashMap<u64, (u32, u32)>,
    dischtimes: Vec<Timestamp>,
    window_ends: Vec<Timestamp>,
    hours: i64,
}

impl AdmissionWindows {
    /// `admissions` must be sorted by (subject_id, dischtime), as `read_admissions` returns
    /// them; their order is the grid's admission axis.
    pub fn new(admissions: &[Admission], hours: usize) -> Self {
        let mut by_subject: FxHashMap<u64, (u32, u32)> = FxHashMap::default();
        for (i, a) in admissions.iter().enumerate() {
            by_subject.entry(a.subject_id).or_insert((i as u32, 0)).1 += 1;
        }
        AdmissionWindows {
            by_subject,
            dischtimes: admissions.iter().map(|a| a.dischtime).collect(),
            window_ends: admissions.iter().map(|a| ceil_hour(a.dischtime)).collect(),
            hours: hours as i64,
        }
    }

    /// The label of admission `i`'s last bin.
    pub fn window_end(&self, i: usize) -> Timestamp {
        self.window_ends[i]
    }

    /// Places an event of `subject_id` at `charttime`.
    #[inline]
    pub fn place(&self, subject_id: u64, charttime: Timestamp) -> Placement {
        let Some(&(start, len)) = self.by_subject.get(&subject_id) else {
            return Placement::NoAdmission;
        };
        let range = start as usize..(start + len) as usize;
        let k = range.start + self.dischtimes[range.clone()].partition_point(|&d| d < charttime);
        if k == range.end {
            return Placement::NoAdmission;
        }
        let hours_back = (self.window_ends[k] - ceil_hour(charttime)) / HOUR;
        if hours_back >= self.hours {
            return Placement::OutsideWindow;
        }
        Placement::Bin { admission: k, hour: (self.hours - 1 - hours_back) as usize }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_timestamp;

    fn ts(text: &str) -> Timestamp {
        parse_timestamp(text.as_bytes()).unwrap()
    }

    fn windows(hours: usize) -> AdmissionWindows {
        let adm = |subject_id, hadm_id, disch: &str| Admission {
            subject_id,
            hadm_id,
            dischtime: ts(disch),
            hospital_expire_flag: 0,
            line: 0,
        };
        AdmissionWindows::new(
            &[
                adm(1, 10, "2101-01-10 10:30:00"),
                adm(1, 11, "2101-03-01 08:00:00"),
                adm(2, 20, "2102-05-05 05:05:05"),
            ],
            hours,
        )
    }

    #[test]
    fn bins_are_closed_right_and_labelled_right() {
        let w = windows(720);
        // DISCHTIME 10:30 → window ends at 11:00 (bin 719).
        assert_eq!(
            w.place(1, ts("2101-01-10 10:30:00")),
            Placement::Bin { admission: 0, hour: 719 }
        );
        assert_eq!(
            w.place(1, ts("2101-01-10 10:00:01")),
            Placement::Bin { admission: 0, hour: 719 }
        );
        assert_eq!(
            w.place(1, ts("2101-01-10 10:00:00")),
            Placement::Bin { admission: 0, hour: 718 }
        );
        assert_eq!(
            w.place(1, ts("2101-01-10 09:00:01")),
            Placement::Bin { admission: 0, hour: 718 }
        );
    }

    #[test]
    fn discharge_on_the_hour_ends_the_window_there() {
        let w = windows(720);
        assert_eq!(w.window_end(1), ts("2101-03-01 08:00:00"));
        assert_eq!(
            w.place(1, ts("2101-03-01 08:00:00")),
            Placement::Bin { admission: 1, hour: 719 }
        );
        assert_eq!(
            w.place(1, ts("2101-03-01 07:59:59")),
            Placement::Bin { admission: 1, hour: 719 }
        );
    }

    #[test]
    fn an_event_at_the_previous_discharge_belongs_to_the_previous_admission() {
        let w = windows(24 * 60);
        assert!(matches!(
            w.place(1, ts("2101-01-10 10:30:00")),
            Placement::Bin { admission: 0, .. }
        ));
        assert!(matches!(
            w.place(1, ts("2101-01-10 10:30:01")),
            Placement::Bin { admission: 1, .. }
        ));
    }

    #[test]
    fn events_after_the_last_discharge_or_of_unknown_subjects_have_no_admission() {
        let w = windows(720);
        assert_eq!(w.place(1, ts("2101-03-01 08:00:01")), Placement::NoAdmission);
        assert_eq!(w.place(3, ts("2101-03-01 08:00:00")), Placement::NoAdmission);
    }

    #[test]
    fn events_before_the_first_bin_are_outside_the_window() {
        let w = windows(24);
        // Window of admission 2: bins labelled 2102-05-04 07:00 .. 2102-05-05 06:00.
        assert_eq!(w.place(2, ts("2102-05-04 06:00:01")), Placement::Bin { admission: 2, hour: 0 });
        assert_eq!(w.place(2, ts("2102-05-04 06:00:00")), Placement::OutsideWindow);
        // The first admission's window is open to the left: old events still land, or not.
        assert_eq!(w.place(1, ts("2090-01-01 00:00:00")), Placement::OutsideWindow);
    }
}
