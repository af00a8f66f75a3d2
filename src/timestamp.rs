//! MIMIC timestamps (`2101-10-20 19:10:00`) as seconds since 1970-01-01 00:00:00, no time zone.
//!
//! MIMIC shifts dates into the 22nd century and stores wall-clock times without zones, so a plain
//! proleptic-Gregorian second count is exact and compares, subtracts and rounds with integers.
//! Parsing is hand-written because it runs once per event row: a general date library spends
//! most of its time on formats and zones this data never has.

/// Seconds since 1970-01-01 00:00:00 (may be negative; MIMIC's are far in the future).
pub type Timestamp = i64;

/// One hour in seconds.
pub const HOUR: Timestamp = 3600;

/// Days from 1970-01-01 to the given civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[inline]
fn digits(bytes: &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        value = value * 10 + u32::from(d);
    }
    Some(value)
}

/// Parses `YYYY-MM-DD HH:MM:SS`, also with `T` as separator, a fractional second (dropped:
/// MIMIC has none, but some re-exports add `.000`), or no time at all (midnight).
/// Returns `None` for anything else, including impossible dates such as `2101-02-30`.
#[inline]
pub fn parse_timestamp(text: &[u8]) -> Option<Timestamp> {
    if text.len() < 10 || text[4] != b'-' || text[7] != b'-' {
        return None;
    }
    let year = i64::from(digits(&text[0..4])?);
    let month = digits(&text[5..7])?;
    let day = digits(&text[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let (hour, minute, second) = match text.len() {
        10 => (0, 0, 0),
        n if n >= 19 => {
            if !(text[10] == b' ' || text[10] == b'T') || text[13] != b':' || text[16] != b':' {
                return None;
            }
            let rest = &text[19..];
            let fraction = |r: &[u8]| r[0] == b'.' && r[1..].iter().all(u8::is_ascii_digit);
            if !rest.is_empty() && !fraction(rest) {
                return None;
            }
            (digits(&text[11..13])?, digits(&text[14..16])?, digits(&text[17..19])?)
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

/// Formats as `YYYY-MM-DD HH:MM:SS`, the form MIMIC writes.
pub fn format_timestamp(ts: Timestamp) -> String {
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Rounds up to the next whole hour; a time already on the hour stays.
#[inline]
pub fn ceil_hour(ts: Timestamp) -> Timestamp {
    ts.div_euclid(HOUR) * HOUR + if ts.rem_euclid(HOUR) == 0 { 0 } else { HOUR }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mimic_dates() {
        for text in ["2101-10-20 19:10:00", "2104-02-29 00:00:59", "1970-01-01 00:00:00"] {
            let ts = parse_timestamp(text.as_bytes()).unwrap();
            assert_eq!(format_timestamp(ts), text);
        }
        assert_eq!(parse_timestamp(b"1970-01-01 01:00:00"), Some(3600));
        assert_eq!(parse_timestamp(b"1969-12-31 23:59:59"), Some(-1));
    }

    #[test]
    fn consecutive_days_are_86400_apart_across_month_and_leap_boundaries() {
        let a = parse_timestamp(b"2104-02-28 12:00:00").unwrap();
        let b = parse_timestamp(b"2104-02-29 12:00:00").unwrap();
        let c = parse_timestamp(b"2104-03-01 12:00:00").unwrap();
        assert_eq!((b - a, c - b), (86_400, 86_400));
    }

    #[test]
    fn accepts_the_variants_re_exports_produce() {
        let base = parse_timestamp(b"2101-10-20 19:10:00").unwrap();
        assert_eq!(parse_timestamp(b"2101-10-20T19:10:00"), Some(base));
        assert_eq!(parse_timestamp(b"2101-10-20 19:10:00.000"), Some(base));
        assert_eq!(parse_timestamp(b"2101-10-20"), Some(base - 19 * 3600 - 600));
    }

    #[test]
    fn rejects_malformed_and_impossible_times() {
        for bad in [
            "",
            "2101-10-20 19:10",
            "2101/10/20 19:10:00",
            "2101-13-01 00:00:00",
            "2101-02-29 00:00:00",
            "2101-10-20 24:00:00",
            "2101-10-20 19:60:00",
            "21O1-10-20 19:10:00",
            "2101-10-20 19:10:00x",
            "2101-10-20 19:10:00.5a",
        ] {
            assert_eq!(parse_timestamp(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn ceil_hour_keeps_whole_hours_and_rounds_the_rest_up() {
        let t = parse_timestamp(b"2101-10-20 10:00:00").unwrap();
        assert_eq!(ceil_hour(t), t);
        assert_eq!(ceil_hour(t + 1), t + HOUR);
        assert_eq!(ceil_hour(t - 1), t);
        assert_eq!(ceil_hour(-1), 0);
    }
}
