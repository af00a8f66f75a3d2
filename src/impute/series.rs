//! Per-series gap filling: last observation carried forward, and linear interpolation.
//!
//! Both work on one (item, admission) series of hourly bins, `NaN` = missing, in place. Leading
//! gaps (before the first observation) take the first observation and trailing gaps the last:
//! no extrapolation of trends, which on vital signs overshoots. A series without any observation
//! is left as it is for the `--fill-empty` policy.

/// `locf`: carries each observation forward; bins before the first take the first (NOCB).
pub fn locf(series: &mut [f32]) {
    let Some(first) = series.iter().position(|v| !v.is_nan()) else { return };
    let head = series[first];
    series[..first].fill(head);
    let mut last = head;
    for v in &mut series[first..] {
        if v.is_nan() {
            *v = last;
        } else {
            last = *v;
        }
    }
}

/// `linear`: interpolates linearly in time between the nearest observations on either side.
pub fn linear(series: &mut [f32]) {
    let Some(first) = series.iter().position(|v| !v.is_nan()) else { return };
    let head = series[first];
    series[..first].fill(head);
    let mut prev = first;
    for h in first + 1..series.len() {
        if series[h].is_nan() {
            continue;
        }
        if h > prev + 1 {
            let (a, b) = (series[prev], series[h]);
            let span = (h - prev) as f32;
            for (step, v) in series[prev + 1..h].iter_mut().enumerate() {
                *v = a + (b - a) * ((step + 1) as f32 / span);
            }
        }
        prev = h;
    }
    let tail = series[prev];
    series[prev + 1..].fill(tail);
}

/// The nearest observation on one side of a bin: (value, distance in bins).
pub type Neighbour = Option<(f32, usize)>;

/// Nearest observation before and after each bin; `None` where there is none. The bin itself
/// is not its own neighbour: this is what the `rf` features see for an observed bin in training
/// and for a missing bin at prediction alike.
pub fn neighbours(series: &[f32]) -> (Vec<Neighbour>, Vec<Neighbour>) {
    let n = series.len();
    let mut before = vec![None; n];
    let mut last: Option<usize> = None;
    for h in 0..n {
        before[h] = last.map(|p| (series[p], h - p));
        if !series[h].is_nan() {
            last = Some(h);
        }
    }
    let mut after = vec![None; n];
    let mut next: Option<usize> = None;
    for h in (0..n).rev() {
        after[h] = next.map(|q| (series[q], q - h));
        if !series[h].is_nan() {
            next = Some(h);
        }
    }
    (before, after)
}

#[cfg(test)]
mod tests {
    use super::*;
    const N: f32 = f32::NAN;

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
    }

    #[test]
    fn locf_carries_forward_and_backfills_the_head() {
        let mut s = [N, N, 1.0, N, 3.0, N];
        locf(&mut s);
        assert!(same(&s, &[1.0, 1.0, 1.0, 1.0, 3.0, 3.0]));
        let mut empty = [N, N];
        locf(&mut empty);
        assert!(same(&empty, &[N, N]));
    }

    #[test]
    fn linear_interpolates_between_and_holds_at_the_ends() {
        let mut s = [N, 2.0, N, N, 8.0, N];
        linear(&mut s);
        assert!(same(&s, &[2.0, 2.0, 4.0, 6.0, 8.0, 8.0]));
        let mut one = [N, 5.0, N];
        linear(&mut one);
        assert!(same(&one, &[5.0, 5.0, 5.0]));
    }

    #[test]
    fn neighbours_exclude_the_bin_itself() {
        let (before, after) = neighbours(&[1.0, N, 3.0]);
        assert_eq!(before, vec![None, Some((1.0, 1)), Some((1.0, 2))]);
        assert_eq!(after, vec![Some((3.0, 2)), Some((3.0, 1)), None]);
    }
}
