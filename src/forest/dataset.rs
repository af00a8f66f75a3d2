//! The feature matrix the forest trains on and predicts from.

/// A column-major `f32` matrix: feature `j`'s values are `columns[j * n_rows..(j + 1) * n_rows]`.
///
/// Column-major because training reads one feature at a time (sorting, binning) and because the
/// imputation step builds its window features one feature at a time. `NaN` marks a missing value;
/// the forest treats it as smaller than every number (see the [module docs](super)).
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    n_rows: usize,
    n_features: usize,
    columns: Vec<f32>,
}

impl Dataset {
    /// Wraps `columns`, laid out as described on [`Dataset`].
    ///
    /// # Panics
    /// If `columns.len() != n_rows * n_features`, or if `n_rows` does not fit in a `u32` (trees
    /// index rows with 32 bits to halve the memory traffic of training).
    pub fn new(n_rows: usize, n_features: usize, columns: Vec<f32>) -> Dataset {
        assert_eq!(
            Some(columns.len()),
            n_rows.checked_mul(n_features),
            "a {n_rows} x {n_features} dataset needs {n_rows} * {n_features} values"
        );
        assert!(
            u32::try_from(n_rows).is_ok(),
            "{n_rows} rows: at most u32::MAX rows are supported"
        );
        Dataset { n_rows, n_features, columns }
    }

    /// Builds a dataset from row-major rows (tests and small inputs).
    ///
    /// # Panics
    /// If the rows have different lengths.
    pub fn from_rows(rows: &[Vec<f32>]) -> Dataset {
        let n_features = rows.first().map_or(0, Vec::len);
        assert!(rows.iter().all(|r| r.len() == n_features), "rows of different lengths");
        let mut columns = Vec::with_capacity(rows.len() * n_features);
        for j in 0..n_features {
            columns.extend(rows.iter().map(|r| r[j]));
        }
        Dataset::new(rows.len(), n_features, columns)
    }

    /// Feature `j`'s values, one per row.
    pub fn column(&self, j: usize) -> &[f32] {
        &self.columns[j * self.n_rows..(j + 1) * self.n_rows]
    }

    /// Row `r`'s value of feature `j`.
    pub fn get(&self, r: usize, j: usize) -> f32 {
        self.columns[j * self.n_rows + r]
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }
}

/// The value a split compares: `NaN` (missing) becomes `-inf`, below every number.
///
/// A split sends `x` right iff `x > threshold`, which is false for `NaN`, so at prediction time a
/// missing value goes left without a branch of its own; training must order it the same way.
#[inline]
pub(crate) fn split_key(x: f32) -> f32 {
    if x.is_nan() {
        f32::NEG_INFINITY
    } else {
        x
    }
}

/// An order-preserving `u32` image of [`split_key`]: `a < b` as floats iff `bits(a) < bits(b)`
/// (except that `-0.0` sorts just before `0.0`, harmless since both fall on one side of a split).
#[inline]
pub(crate) fn ordered_bits(x: f32) -> u32 {
    let b = split_key(x).to_bits();
    if b >> 31 == 1 {
        !b
    } else {
        b | 0x8000_0000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_rows_is_column_major() {
        let d = Dataset::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]);
        assert_eq!((d.n_rows(), d.n_features()), (3, 2));
        assert_eq!(d.column(0), &[1.0, 3.0, 5.0]);
        assert_eq!(d.column(1), &[2.0, 4.0, 6.0]);
        assert_eq!(d.get(2, 1), 6.0);
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn new_checks_the_shape() {
        Dataset::new(3, 2, vec![0.0; 5]);
    }

    #[test]
    fn ordered_bits_orders_like_split_keys() {
        let xs = [f32::NAN, f32::NEG_INFINITY, -3.5, -1e-30, -0.0, 0.0, 1e-30, 2.0, f32::INFINITY];
        for w in xs.windows(2) {
            assert!(ordered_bits(w[0]) <= ordered_bits(w[1]), "{} {}", w[0], w[1]);
            assert!(split_key(w[0]) <= split_key(w[1]));
        }
        assert_eq!(ordered_bits(f32::NAN), ordered_bits(f32::NEG_INFINITY));
    }
}
