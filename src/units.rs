//! Durations as people read them in summaries: `9.06 s`, `2.43 ms`, `85.0 µs`.
//!
//! A run's summary and `--explain` report times from microseconds (a small job's profile) to
//! minutes (a large export's forest). At a fixed two decimals of a second the small ones all
//! read `0.00 s`; here each time keeps three significant digits in the unit that shows them.
//! `bench ipc`'s tables use the same unit and digits.

use std::fmt;

/// Seconds, displayed in `s`, `ms`, `µs` or `ns` with three significant digits. Width and
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
            let (scale, unit) = time_unit(s.abs());
            format!("{} {unit}", three_digits(s * scale))
        };
        f.pad(&text)
    }
}

/// The unit that puts `seconds` in [1, 1000), and the factor from seconds to it.
pub fn time_unit(seconds: f64) -> (f64, &'static str) {
    match seconds {
        s if s < 1e-6 => (1e9, "ns"),
        s if s < 1e-3 => (1e6, "µs"),
        s if s < 1.0 => (1e3, "ms"),
        _ => (1.0, "s"),
    }
}

/// `x` with three significant digits, for `x` below 1000 (a value that rounds up to the next
/// power of ten takes that power's form: `9.996` is `10.0`). Below 1 (a minimum shown in its
/// median's unit), three decimals.
pub fn three_digits(x: f64) -> String {
    match x.abs() {
        a if a < 0.9995 => format!("{x:.3}"),
        a if a < 9.995 => format!("{x:.2}"),
        a if a < 99.95 => format!("{x:.1}"),
        _ => format!("{x:.0}"),
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
        assert_eq!(shown(0.0000004), "400 ns");
        assert_eq!(shown(0.0), "0 s");
        assert_eq!(shown(f64::NAN), "-");
        // Rounding up to the next unit's size stays in the smaller unit's widest form.
        assert_eq!(shown(0.0009996), "1000 µs");
        assert_eq!(shown(0.99996), "1000 ms");
    }

    #[test]
    fn three_digits_whatever_the_rounding() {
        assert_eq!(three_digits(0.998), "0.998");
        assert_eq!(three_digits(0.9996), "1.00");
        assert_eq!(three_digits(9.996), "10.0");
        assert_eq!(three_digits(99.96), "100");
        assert_eq!(three_digits(12.34), "12.3");
    }

    #[test]
    fn width_applies_to_the_whole_text() {
        assert_eq!(format!("{:>9}|", Seconds(0.00243)), "  2.43 ms|");
        assert_eq!(format!("{:<9}|", Seconds(1.5)), "1.50 s   |");
    }
}
