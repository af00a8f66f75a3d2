//! Imputation: every missing bin of a sampled grid gets a value, and the report says how.
//!
//! Methods ([`Method`]): `locf`, `linear`, `rf-medlens` (the MedLens study's method, reproduced
//! exactly), `rf` (ours: features that match between training and prediction, neighbours,
//! cross-vital partners) and `auto` (per item, the candidate that scores best on held-out bins).
//!
//! The work is a plan of independent tasks run in three stages ([`plan`]): prepare each item's
//! training rows, train every (item, tree) pair, then predict and fill each item's block. Tasks
//! read the immutable source grid and write disjoint destination blocks, and each tree's random
//! stream depends only on (seed, item, tree): the output is byte-identical whatever runs which
//! task, on how many threads.

pub mod evaluate;
pub mod features;
pub mod partners;
pub mod plan;
pub mod profile;
pub mod remote;
pub mod series;

use std::fmt;
use std::str::FromStr;

/// How missing bins are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Last observation carried forward (and the first carried backward).
    Locf,
    /// Linear interpolation in time between the nearest observations.
    Linear,
    /// MedLens: random forest on window max/min/mean/range and position, 100 trees.
    RfMedlens,
    /// Ours: random forest on leak-free window features, neighbours, interpolation, hour of day
    /// and correlated items.
    Rf,
    /// Per item, the best of `locf`, `linear` and `rf` on held-out observed bins.
    Auto,
}

impl Method {
    /// Every method, in the order reports list them.
    pub const ALL: [Method; 5] =
        [Method::Locf, Method::Linear, Method::RfMedlens, Method::Rf, Method::Auto];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Locf => "locf",
            Method::Linear => "linear",
            Method::RfMedlens => "rf-medlens",
            Method::Rf => "rf",
            Method::Auto => "auto",
        }
    }

    /// Whether the method's features include other items' values (cross-vital partners), which
    /// are chosen on the grid's [`partners::PairTable`].
    pub fn uses_partners(self) -> bool {
        matches!(self, Method::Rf | Method::Auto)
    }

    /// Whether the method trains a forest.
    pub fn uses_forest(self) -> bool {
        matches!(self, Method::RfMedlens | Method::Rf | Method::Auto)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| {
            format!("unknown method '{s}' (known: locf, linear, rf-medlens, rf, auto)")
        })
    }
}

/// What bins no method could reach (a series without any usable observation) become.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FillEmpty {
    /// Stay NaN: downstream code decides.
    Nan,
    /// 0, as MedLens does (a heart rate of 0 is not a value: use only to reproduce the study).
    Zero,
    /// The item's mean over all observed bins.
    Mean,
}

impl FromStr for FillEmpty {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "nan" => Ok(FillEmpty::Nan),
            "zero" => Ok(FillEmpty::Zero),
            "mean" => Ok(FillEmpty::Mean),
            _ => Err(format!("unknown fill '{s}' (known: nan, zero, mean)")),
        }
    }
}

/// Options of an imputation run.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ImputeOptions {
    pub method: Method,
    /// Trees per forest; `None` takes the method's default ([`plan::default_trees`]).
    pub trees: Option<usize>,
    /// Half-width of the feature window in hours; `None` takes the method's default
    /// ([`plan::default_window`]: MedLens's 12, or 24 for ours).
    pub window: Option<usize>,
    pub seed: u64,
    /// At most this many training rows per item (a seeded random subset beyond).
    pub max_train: usize,
    pub fill_empty: FillEmpty,
    /// `auto`: share of observed bins held out to score the candidates.
    pub validation_fraction: f64,
    /// `rf`: how many correlated items serve as cross-vital features.
    pub partners: usize,
}

impl Default for ImputeOptions {
    fn default() -> Self {
        ImputeOptions {
            method: Method::Auto,
            trees: None,
            window: None,
            seed: 0,
            max_train: 20_000,
            fill_empty: FillEmpty::Mean,
            validation_fraction: 0.1,
            partners: 4,
        }
    }
}

/// What happened to one item.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ItemReport {
    pub item_id: u32,
    /// The method that filled the item (for `auto`, the winner).
    pub method: Option<Method>,
    pub observed: u64,
    /// Bins filled by the method itself.
    pub imputed: u64,
    /// Bins the forest could not reach, filled by carrying values along the series (rf-medlens).
    pub carried: u64,
    /// Bins of series with no usable observation, filled by `--fill-empty`.
    pub filled_empty: u64,
    /// `auto`: each candidate's RMSE on the held-out bins.
    pub validation: Vec<(Method, f64)>,
}

/// The outcome of an imputation run.
#[derive(Clone, Debug, Default)]
pub struct ImputeReport {
    pub items: Vec<ItemReport>,
    pub prepare: std::time::Duration,
    pub train: std::time::Duration,
    pub predict: std::time::Duration,
}

impl ImputeReport {
    /// Bins imputed per method over all items (method, imputed, carried, filled).
    pub fn per_method(&self) -> Vec<(Method, u64, u64, u64)> {
        let mut out: Vec<(Method, u64, u64, u64)> = Vec::new();
        for item in &self.items {
            let Some(m) = item.method else { continue };
            match out.iter_mut().find(|e| e.0 == m) {
                Some(e) => {
                    e.1 += item.imputed;
                    e.2 += item.carried;
                    e.3 += item.filled_empty;
                }
                None => out.push((m, item.imputed, item.carried, item.filled_empty)),
            }
        }
        out
    }
}
