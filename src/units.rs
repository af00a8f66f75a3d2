//! Durations as people read them in summaries: `9.06 s`, `2.43 ms`, `85 µs`.
//!
//! A run's summary and `--explain` report times from microseconds (a small job's profile) to
//! minutes (a large export's forest). At a fixed two decimals of a second the small ones all
//! read `0.00 s`; here each time keeps three significant digits in the unit that shows them.

use std::fmt;

/// Seconds, displayed in `s`, `ms` or `µs` with about three significant digits. Width and
/// alignment apply to the whole text (`{:>9}`), so that columns line up.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl fmt::Display for Seconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let text = if !s.is_finite() {
            "-".to_string()
        } else if s == 0.0 {
            "0 s".to_string()
        } else {
            let (value, unit) = match s.abs() {
                a if a >= 1.0 => (s, "s"),
                a if a >= 1e-3 => (s * 1e3, "ms"),
                _ => (s * 1e6, "µs"),
            };
            let decimals = match value.abs() {
                v if v >= 99.95 => 0,
                v if v >= 9.995 => 1,
                _ => 2,
            };
            format!("{value:.decimals$} {unit}")
        };
        f.pad(&text)
    }
}

impl From<std::time::Duration> for Seconds {
    fn from(d: std::time::Duration) -> Seconds {
        Seconds(d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_time_in_the_unit_that_shows_it() {
        let shown = |s: f64| Seconds(s).to_string();
        assert_eq!(shown(9.0634), "9.06 s");
        assert_eq!(shown(65.569), "65.6 s");
        assert_eq!(shown(612.4), "612 s");
        assert_eq!(shown(0.00243), "2.43 ms");
        assert_eq!(shown(0.0312), "31.2 ms");
        assert_eq!(shown(0.2119), "212 ms");
        assert_eq!(shown(0.000085), "85.0 µs");
        assert_eq!(shown(0.0000004), "0.40 µs");
        assert_eq!(shown(0.0), "0 s");
        assert_eq!(shown(f64::NAN), "-");
        // Rounding up to the next unit's size stays in the smaller unit's widest form.
        assert_eq!(shown(0.0009996), "1000 µs");
        assert_eq!(shown(0.99996), "1000 ms");
    }

    #[test]
    fn width_applies_to_the_whole_text() {
        assert_eq!(format!("{:>9}|", Seconds(0.00243)), "  2.43 ms|");
        assert_eq!(format!("{:<9}|", Seconds(1.5)), "1.50 s   |");
    }
}
