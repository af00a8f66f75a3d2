//! Feature rows for the forest methods, built from the grid one item at a time.
//!
//! Two feature sets:
//!
//! - [`FeatureSet::Medlens`], exactly as MedLens: over the bins within `window` hours, the
//!   observed values' max, min, mean and max - min, plus the bin's position modulo 24. In
//!   training the window includes the target bin itself, which it never does at prediction time
//!   (the bin is missing then): the model learns "the answer is between min and max" from data
//!   where the answer is always in the window. Kept as is so the study can be reproduced.
//! - [`FeatureSet::Ours`]: the same window statistics *without* the bin itself (training then
//!   matches prediction), how many observations the window holds, the nearest observed values
//!   before and after with their distances in hours, the linear interpolation between them, the
//!   hour of day, and the values of the most correlated other items in the same bin
//!   (cross-vital features, as missForest uses: blood pressures predict each other).
//!
//! Rows are built straight into column-major order, the layout the forest trains on.

use super::series::Neighbour;
use crate::forest::Dataset;
use crate::grid::GridShape;

/// Which features to build.
#[derive(Clone, Debug)]
pub enum FeatureSet {
    /// MedLens's five features (target bin inside its own training window).
    Medlens { window: usize },
    /// Ours: window without the bin, neighbours, interpolation, hour of day, partner items.
    Ours { window: usize, partners: Vec<usize> },
}

impl FeatureSet {
    /// Number of feature columns.
    pub fn width(&self) -> usize {
        match self {
            FeatureSet::Medlens { .. } => 5,
            FeatureSet::Ours { partners, .. } => OURS_BASE + partners.len(),
        }
    }

    /// Whether the forest predicts bin `hour` of a series: when the window holds an
    /// observation (MedLens's rule, kept for ours: far from every observation the best guess is
    /// the nearest value, which carrying along gives without a forest's cost).
    pub fn can_predict(&self, series: &[f32], hour: usize) -> bool {
        let (lo, hi) = bounds(hour, self.window(), series.len());
        series[lo..hi].iter().any(|v| !v.is_nan())
    }

    /// Calls `predict(hour)` on every missing bin of `series` the forest predicts (those
    /// [`FeatureSet::can_predict`] accepts), in order.
    ///
    /// One pass with the nearest observations on either side, rather than a scan of the window
    /// per bin: a mostly empty series of 720 bins cost 49 reads a bin that way, 6% of a run.
    pub fn for_each_predictable(&self, series: &[f32], mut predict: impl FnMut(usize)) {
        let window = self.window();
        let len = series.len();
        let next_observed = |from: usize| (from..len).find(|&k| !series[k].is_nan()).unwrap_or(len);
        let mut previous: Option<usize> = None;
        let mut next = next_observed(0);
        for hour in 0..len {
            if next < hour {
                next = next_observed(hour);
            }
            if next == hour {
                previous = Some(hour);
                continue;
            }
            let near_previous = previous.is_some_and(|p| hour - p <= window);
            let near_next = next < len && next - hour <= window;
            if near_previous || near_next {
                predict(hour);
            }
        }
    }

    fn window(&self) -> usize {
        match self {
            FeatureSet::Medlens { window } | FeatureSet::Ours { window, .. } => *window,
        }
    }
}

/// Columns of [`FeatureSet::Ours`] before the partner items.
const OURS_BASE: usize = 11;

/// The window [h - w, h + w] clipped to the series.
fn bounds(hour: usize, window: usize, len: usize) -> (usize, usize) {
    (hour.saturating_sub(window), (hour + window + 1).min(len))
}

/// Where to read the grid and what the bins' clock hours are.
#[derive(Clone, Copy)]
pub struct GridContext<'a> {
    pub values: &'a [f32],
    pub shape: GridShape,
    /// Hour of day (0-23) of bin 0, per admission (from the axes' window ends).
    pub first_bin_hour: &'a [u8],
    /// One item's block read from elsewhere: the block with held-out bins hidden, when `auto`
    /// scores its candidates.
    pub replaced: Option<(usize, &'a [f32])>,
}

impl<'a> GridContext<'a> {
    /// The series of `item` for `admission`.
    pub fn series(&self, item: usize, admission: usize) -> &'a [f32] {
        let hours = self.shape.hours;
        match self.replaced {
            Some((replaced, block)) if replaced == item => {
                &block[admission * hours..(admission + 1) * hours]
            }
            _ => {
                let start = self.shape.index(item, admission, 0);
                &self.values[start..start + hours]
            }
        }
    }

    /// The same grid with `item`'s block read from `block`.
    pub fn with_block(self, item: usize, block: &'a [f32]) -> Self {
        GridContext { replaced: Some((item, block)), ..self }
    }
}

/// A bin of an item: (admission, hour).
pub type Bin = (u32, u32);

/// Builds the feature rows of `item` at `bins` (in the given order), column-major.
pub fn build(ctx: &GridContext<'_>, item: usize, set: &FeatureSet, bins: &[Bin]) -> Dataset {
    let width = set.width();
    let n = bins.len();
    let mut columns = vec![f32::NAN; width * n];
    let mut row = vec![f32::NAN; width];
    let mut cached: Option<(u32, Vec<Neighbour>, Vec<Neighbour>)> = None;
    for (r, &(admission, hour)) in bins.iter().enumerate() {
        let series = ctx.series(item, admission as usize);
        let hour = hour as usize;
        match set {
            FeatureSet::Medlens { window } => medlens_row(series, hour, *window, &mut row),
            FeatureSet::Ours { window, partners } => {
                // Bins come grouped by admission: neighbours are computed once per series.
                if cached.as_ref().map(|c| c.0) != Some(admission) {
                    let (before, after) = super::series::neighbours(series);
                    cached = Some((admission, before, after));
                }
                let (_, before, after) = cached.as_ref().expect("just set");
                ours_row(series, hour, *window, before[hour], after[hour], &mut row);
                row[10] =
                    f32::from((ctx.first_bin_hour[admission as usize] as usize + hour) as u8 % 24);
                for (k, &other) in partners.iter().enumerate() {
                    row[OURS_BASE + k] = ctx.series(other, admission as usize)[hour];
                }
            }
        }
        for (j, &v) in row.iter().enumerate() {
            columns[j * n + r] = v;
        }
    }
    Dataset::new(n, width, columns)
}

/// MedLens: max, min, mean, max - min of the observed values in the window (bin included),
/// and the position modulo 24.
fn medlens_row(series: &[f32], hour: usize, window: usize, row: &mut [f32]) {
    let (lo, hi) = bounds(hour, window, series.len());
    let stats = WindowStats::over(series[lo..hi].iter().copied());
    row[..4].copy_from_slice(&stats.features());
    row[4] = (hour % 24) as f32;
}

/// Ours: window statistics without the bin, count, neighbours, interpolation.
fn ours_row(
    series: &[f32],
    hour: usize,
    window: usize,
    before: Neighbour,
    after: Neighbour,
    row: &mut [f32],
) {
    let (lo, hi) = bounds(hour, window, series.len());
    let others = series[lo..hour].iter().chain(&series[hour + 1..hi]).copied();
    let stats = WindowStats::over(others);
    row[..4].copy_from_slice(&stats.features());
    row[4] = stats.count as f32;
    let (prev, prev_dist) = before.map_or((f32::NAN, f32::NAN), |(v, d)| (v, d as f32));
    let (next, next_dist) = after.map_or((f32::NAN, f32::NAN), |(v, d)| (v, d as f32));
    row[5] = prev;
    row[6] = prev_dist;
    row[7] = next;
    row[8] = next_dist;
    row[9] = match (before, after) {
        (Some((a, da)), Some((b, db))) => a + (b - a) * (da as f32 / (da + db) as f32),
        (Some((a, _)), None) => a,
        (None, Some((b, _))) => b,
        (None, None) => f32::NAN,
    };
}

/// Max, min and mean of the observed values of a window.
struct WindowStats {
    max: f32,
    min: f32,
    sum: f64,
    count: usize,
}

impl WindowStats {
    fn over(values: impl Iterator<Item = f32>) -> Self {
        let mut s = WindowStats { max: f32::NEG_INFINITY, min: f32::INFINITY, sum: 0.0, count: 0 };
        for v in values.filter(|v| !v.is_nan()) {
            s.max = s.max.max(v);
            s.min = s.min.min(v);
            s.sum += f64::from(v);
            s.count += 1;
        }
        s
    }

    /// [max, min, mean, max - min], NaN when the window holds no observation.
    fn features(&self) -> [f32; 4] {
        if self.count == 0 {
            return [f32::NAN; 4];
        }
        [self.max, self.min, (self.sum / self.count as f64) as f32, self.max - self.min]
    }
}

/// The positions of the observed (non-NaN) values of `block`, in order.
pub fn observed_positions(block: &[f32]) -> Vec<usize> {
    (0..block.len()).filter(|&at| !block[at].is_nan()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    const N: f32 = f32::NAN;

    #[test]
    fn medlens_window_includes_the_target_and_ours_excludes_it() {
        let series = [1.0, N, 10.0, N, 4.0];
        let mut row = vec![0.0; 5];
        medlens_row(&series, 2, 2, &mut row);
        assert_eq!(row, vec![10.0, 1.0, 5.0, 9.0, 2.0]);
        let (before, after) = crate::impute::series::neighbours(&series);
        let mut row = vec![0.0; 11];
        ours_row(&series, 2, 2, before[2], after[2], &mut row);
        assert_eq!(&row[..10], &[4.0, 1.0, 2.5, 3.0, 2.0, 1.0, 2.0, 4.0, 2.0, 2.5]);
    }

    #[test]
    fn predictable_bins_are_the_missing_ones_can_predict_accepts() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for case in 0..200 {
            let len = 1 + case % 60;
            let density = [0.0, 0.02, 0.1, 0.5, 1.0][case % 5];
            let series: Vec<f32> =
                (0..len).map(|h| if rng.gen_bool(density) { h as f32 } else { N }).collect();
            for window in [0, 1, 3, 12] {
                for set in [
                    FeatureSet::Medlens { window },
                    FeatureSet::Ours { window, partners: Vec::new() },
                ] {
                    let expected: Vec<usize> = (0..len)
                        .filter(|&h| series[h].is_nan() && set.can_predict(&series, h))
                        .collect();
                    let mut got = Vec::new();
                    set.for_each_predictable(&series, |h| got.push(h));
                    assert_eq!(got, expected, "{series:?} window {window}");
                }
            }
        }
    }
}
