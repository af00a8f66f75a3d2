//! `evaluate`: hide a random share of the observed bins, impute, and score each method on them.
//!
//! Scores per item: RMSE, MAE, and RMSE divided by the item's standard deviation (so that items
//! of different units can be averaged: 1.0 is as good as guessing the mean). The overall figure
//! is the mean over items of that ratio.

use super::features::observed_positions;
use super::plan::{all_items, impute, rmse, rng_for, PURPOSE_EVALUATE};
use super::{ImputeOptions, Method};
use crate::grid::{GridShape, SliceBlocks};
use rand::seq::index::sample;
use rayon::prelude::*;
use std::time::{Duration, Instant};

/// One item's score under one method.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ItemScore {
    pub item_id: u32,
    /// Hidden bins scored.
    pub hidden: usize,
    pub rmse: f64,
    pub mae: f64,
    /// RMSE / standard deviation of the item's observed values.
    pub rmse_over_sd: f64,
}

/// One method's scores.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MethodScore {
    pub method: Method,
    pub items: Vec<ItemScore>,
    /// Means over items with hidden bins and a non-zero standard deviation.
    pub mean_rmse: f64,
    pub mean_mae: f64,
    pub mean_rmse_over_sd: f64,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Hides `fraction` of each item's observed bins (seeded), imputes with every method in
/// `methods`, and scores the hidden bins.
pub fn evaluate(
    values: &[f32],
    shape: GridShape,
    first_bin_hour: &[u8],
    item_ids: &[u32],
    fraction: f64,
    methods: &[Method],
    base: &ImputeOptions,
) -> Vec<MethodScore> {
    let block = shape.item_block_len().max(1);
    let mut masked = values.to_vec();
    let hidden: Vec<Vec<usize>> = masked
        .par_chunks_mut(block)
        .enumerate()
        .map(|(i, block)| hide(block, i, fraction, base.seed))
        .collect();
    let sds: Vec<f64> = values.chunks(block).map(std_dev).collect();
    let mut dest = vec![0.0f32; values.len()];
    let all = all_items(shape);
    methods
        .iter()
        .map(|&method| {
            let options = ImputeOptions { method, ..base.clone() };
            let start = Instant::now();
            let blocks = SliceBlocks::new(&mut dest, block);
            impute(&masked, &blocks, shape, first_bin_hour, item_ids, &options, &all, None)
                .expect("blocks in memory take every write");
            let elapsed = start.elapsed();
            let items: Vec<ItemScore> = hidden
                .iter()
                .enumerate()
                .filter(|(_, h)| !h.is_empty())
                .map(|(i, h)| {
                    let at = |k: &usize| i * block + k;
                    let guess: Vec<f32> = h.iter().map(|k| dest[at(k)]).collect();
                    let truth: Vec<f32> = h.iter().map(|k| values[at(k)]).collect();
                    let r = rmse(&guess, &truth);
                    let mae = guess
                        .iter()
                        .zip(&truth)
                        .map(|(g, t)| f64::from((g - t).abs()))
                        .sum::<f64>()
                        / truth.len() as f64;
                    ItemScore {
                        item_id: item_ids[i],
                        hidden: h.len(),
                        rmse: r,
                        mae,
                        rmse_over_sd: if sds[i] > 0.0 { r / sds[i] } else { f64::NAN },
                    }
                })
                .collect();
            let scored: Vec<&ItemScore> =
                items.iter().filter(|s| s.rmse_over_sd.is_finite()).collect();
            let mean = |f: fn(&ItemScore) -> f64| {
                scored.iter().map(|s| f(s)).sum::<f64>() / scored.len().max(1) as f64
            };
            MethodScore {
                method,
                mean_rmse: mean(|s| s.rmse),
                mean_mae: mean(|s| s.mae),
                mean_rmse_over_sd: mean(|s| s.rmse_over_sd),
                items,
                elapsed,
            }
        })
        .collect()
}

/// Hides a seeded share of a block's observed bins; returns their offsets, ascending.
fn hide(block: &mut [f32], item: usize, fraction: f64, seed: u64) -> Vec<usize> {
    let observed = observed_positions(block);
    let n = (observed.len() as f64 * fraction).round() as usize;
    let mut rng = rng_for(seed, item, PURPOSE_EVALUATE);
    let mut picked: Vec<usize> = sample(&mut rng, observed.len(), n.min(observed.len()))
        .into_iter()
        .map(|k| observed[k])
        .collect();
    picked.sort_unstable();
    for &k in &picked {
        block[k] = f32::NAN;
    }
    picked
}

/// Population standard deviation of the observed values.
fn std_dev(values: &[f32]) -> f64 {
    let obs: Vec<f64> = values.iter().filter(|v| !v.is_nan()).map(|&v| f64::from(v)).collect();
    if obs.len() < 2 {
        return 0.0;
    }
    let mean = obs.iter().sum::<f64>() / obs.len() as f64;
    (obs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / obs.len() as f64).sqrt()
}
