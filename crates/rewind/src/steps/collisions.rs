//! Where finite-precision SGD stops being one-to-one: scan a window of the grid for a
//! two-parameter model, count the points whose image another point shares, and compare with
//! 1 − det(I − αH_B) (docs/design.md §3.3).
//!
//! The measured share is the fraction of points that are not the first (lexicographically
//! smallest) preimage of their image: Σ_images (k − 1) / points, the information the step
//! loses, whose density is 1 − det(I − αH_B). It is counted on the inner part of the window only,
//! where every other preimage of a point's image provably lies inside the window (within the
//! certified radius R = ⌊1/(1 − q_∞)⌋ + 1 ulps).

use crate::progress::Phase;
use crate::sgd::StepFunction;
use crate::steps::many_to_one::share_lost;
use crate::Error;
use rayon::prelude::*;
use std::collections::HashMap;

/// A square window of the grid, centre ± `half` ulps in each coordinate, with how many window
/// points share each point's image: what a collision figure draws.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    /// Centre of the window, raw grid integers.
    pub center: [i64; 2],
    /// The window's half side in ulps.
    pub half: i64,
    /// Per point (row-major, second coordinate outer), the points that share its image.
    pub multiplicity: &'a [u32],
}

impl Window<'_> {
    /// The window's side, 2·`half` + 1 points.
    pub fn side(&self) -> usize {
        (2 * self.half + 1) as usize
    }
}

/// The collision map of one batch's step over a square window of the grid.
#[derive(Debug, Clone, PartialEq)]
pub struct CollisionMap {
    /// Centre of the window, raw grid integers.
    pub center: [i64; 2],
    /// The window is centre ± `half` ulps in each coordinate.
    pub half: i64,
    /// For each point (row-major, second coordinate outer), how many window points share its
    /// image.
    pub multiplicity: Vec<u32>,
    /// Margin (ulps) excluded from the counts at each edge.
    pub margin: i64,
    /// Points counted (the inner window).
    pub inner_points: usize,
    /// Inner points that are not the first preimage of their image.
    pub merged_share: f64,
    /// Inner points whose image has at least two preimages.
    pub shared_share: f64,
    /// 1 − det(I − αH_B) at the centre, where the model has a closed-form Hessian.
    pub predicted: Option<f64>,
    /// q_∞ = α·max_k Σ_j sup|H_kj| (certified), where the model has a bound.
    pub q_inf: Option<f64>,
}

impl CollisionMap {
    /// The window's side, 2·`half` + 1 points.
    pub fn side(&self) -> usize {
        self.window().side()
    }

    /// The scanned window and its multiplicities, as `experiments::plot` draws them.
    pub fn window(&self) -> Window<'_> {
        Window {
            center: self.center,
            half: self.half,
            multiplicity: &self.multiplicity,
        }
    }

    /// The raw coordinates of point `i`.
    pub fn point(&self, i: usize) -> [i64; 2] {
        let side = self.side();
        [
            self.center[0] - self.half + (i % side) as i64,
            self.center[1] - self.half + (i / side) as i64,
        ]
    }
}

/// Scans the window `center ± half` for the step of `batch`.
pub fn scan(
    f: &StepFunction,
    batch: &[usize],
    center: [i64; 2],
    half: i64,
) -> Result<CollisionMap, Error> {
    if f.dim() != 2 {
        return Err(Error::Config(format!(
            "collisions needs a two-parameter model, this one has {}; use two features without a bias (e.g. --data synthetic --synthetic-features 2 --no-bias)",
            f.dim()
        )));
    }
    if !(4..=400).contains(&half) {
        return Err(Error::Config(format!(
            "--half-width {half} is out of range; use 4 to 400 ulps"
        )));
    }
    let alpha = f.alpha().to_f64();
    let q_inf = f
        .model()
        .bounds()
        .map(|b| b.row_bound(f.data(), batch, None).rows(&[1, 1]))
        .map(|rows| rows.iter().fold(0.0f64, |m, v| m.max(v * alpha)));
    let margin = match q_inf {
        Some(q) if q < 1.0 => (1.0 / (1.0 - q)).floor() as i64 + 1,
        _ => half / 4,
    };
    let side = (2 * half + 1) as usize;
    let grid_point = |i: usize| {
        [
            center[0] - half + (i % side) as i64,
            center[1] - half + (i / side) as i64,
        ]
    };
    f.progress().begin(Phase::Scan, (side * side) as u64);
    let images: Vec<Vec<i64>> = (0..side * side)
        .into_par_iter()
        .map(|i| {
            let image = f.step(&grid_point(i), batch);
            f.progress().advance(1);
            image
        })
        .collect::<Result<_, _>>()?;
    let mut first: HashMap<&[i64], usize> = HashMap::new();
    let mut count: HashMap<&[i64], u32> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        first.entry(img.as_slice()).or_insert(i);
        *count.entry(img.as_slice()).or_insert(0) += 1;
    }
    let multiplicity: Vec<u32> = images.iter().map(|img| count[img.as_slice()]).collect();
    let inner = |i: usize| {
        let (x, y) = ((i % side) as i64, (i / side) as i64);
        x >= margin && y >= margin && x < side as i64 - margin && y < side as i64 - margin
    };
    let inner_idx: Vec<usize> = (0..side * side).filter(|&i| inner(i)).collect();
    let merged = inner_idx
        .iter()
        .filter(|&&i| first[images[i].as_slice()] != i)
        .count();
    let shared = inner_idx.iter().filter(|&&i| multiplicity[i] > 1).count();
    let n = inner_idx.len().max(1) as f64;
    let p = f.data().grid.frac_bits();
    let w = crate::model::raw_to_f64(&center, p);
    let predicted = f
        .model()
        .hessian(&w, f.data(), batch)
        .and_then(|h| share_lost(&h, alpha, 2));
    Ok(CollisionMap {
        center,
        half,
        multiplicity,
        margin,
        inner_points: inner_idx.len(),
        merged_share: merged as f64 / n,
        shared_share: shared as f64 / n,
        predicted,
        q_inf,
    })
}
