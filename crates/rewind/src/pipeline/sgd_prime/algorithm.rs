//! Algorithms 2 and 3 on the grid: GD per batch after a perturbation, and SGD′ around it.

use super::*;
use crate::grid::GridError;

/// One GD call of SGD′: the batch, W_{i,j}, its perturbation and every inner model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdCall {
    /// Epoch i, from 1.
    pub epoch: usize,
    /// Batch j within the epoch, from 1.
    pub step: usize,
    /// B_{i,j} in permutation order.
    pub batch: Vec<usize>,
    /// W_{i,j}: the model before the call (before its perturbation).
    pub w: Vec<i64>,
    /// z: the perturbation's ℓ values.
    pub z: Vec<i64>,
    /// The model before each inner step; the first is ψ_z(W_{i,j}). Its length is T_{i,j}.
    pub inner: Vec<Vec<i64>>,
    /// Whether the call met δ (otherwise it stopped after T steps).
    pub reached: bool,
}

impl GdCall {
    /// T_{i,j}, the GD steps this call took.
    pub fn gd_steps(&self) -> usize {
        self.inner.len()
    }
}

/// Everything Algorithm 3 did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SgdPrimeRun {
    /// Every GD call, in run order.
    pub calls: Vec<GdCall>,
    /// The model SGD′ returned, or the model after its last epoch.
    pub final_model: Vec<i64>,
    /// Every epoch's permutation that was started.
    pub permutations: Vec<Vec<usize>>,
    /// `Some((epoch, j))` when SGD′ returned before batch j of that epoch.
    pub stopped_at: Option<(usize, usize)>,
    /// acc(W_{i,j}, x) before every call, for every example (line 6's check).
    pub correct: Vec<Vec<bool>>,
}

impl SgdPrimeRun {
    /// The model after call `k` (W_{i,j+1}).
    pub fn after(&self, k: usize) -> &[i64] {
        self.calls.get(k + 1).map_or(&self.final_model, |c| &c.w)
    }

    /// The run as Algorithm 1 sees it: one "step" per GD call, W_{i,j} before it. This is the
    /// view the accuracy discrepancy and the batch code of Lemma 3.1 work on.
    pub fn outer(&self) -> Trajectory {
        Trajectory {
            steps: self
                .calls
                .iter()
                .map(|c| LoggedStep {
                    epoch: c.epoch,
                    step: c.step,
                    batch: c.batch.clone(),
                    w: c.w.clone(),
                })
                .collect(),
            final_model: self.final_model.clone(),
            permutations: self.permutations.clone(),
            stopped_at: self.stopped_at,
            correct: self.correct.clone(),
        }
    }

    /// Call `k`'s inner GD steps as a trajectory of their own, from ψ_z(W_{i,j}) to W_{i,j+1}.
    pub fn inner(&self, k: usize) -> Trajectory {
        let c = &self.calls[k];
        Trajectory {
            steps: c
                .inner
                .iter()
                .map(|w| LoggedStep {
                    epoch: c.epoch,
                    step: c.step,
                    batch: c.batch.clone(),
                    w: w.clone(),
                })
                .collect(),
            final_model: self.after(k).to_vec(),
            permutations: Vec::new(),
            stopped_at: None,
            correct: Vec::new(),
        }
    }

    /// Σ T_{i,j}: every inner step of the run.
    pub fn inner_steps(&self) -> usize {
        self.calls.iter().map(GdCall::gd_steps).sum()
    }

    /// Where call `k`'s inner steps start in the run's order of inner steps.
    pub fn offsets(&self) -> Vec<usize> {
        self.calls
            .iter()
            .scan(0, |acc, c| {
                let at = *acc;
                *acc += c.gd_steps();
                Some(at)
            })
            .collect()
    }
}

/// What one GD call returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GdResult {
    /// The model GD returned.
    pub model: Vec<i64>,
    /// The model before each of its steps, ψ_z(W) first.
    pub inner: Vec<Vec<i64>>,
    /// Whether it met its target (otherwise it stopped after T steps).
    pub reached: bool,
}

/// A call walked back: W_{i,j} and the model before each inner step.
pub type WalkedCall = (Vec<i64>, Vec<Vec<i64>>);

/// Algorithm 2, GD(W, Y, δ) with the perturbation z already drawn: ψ_z(W), then full-batch
/// steps on `batch` until acc ≥ `target` or `max_steps` steps. Returns the final model, the
/// model before each step, and whether the target was met.
pub fn gd(
    f: &StepFunction,
    w: &[i64],
    batch: &[usize],
    target: &BigRational,
    max_steps: usize,
    perturbation: &Perturbation,
    z: &[i64],
) -> Result<GdResult, Error> {
    let blame = |e: Error| blame_perturbation(e, perturbation, f.data().grid.frac_bits());
    let mut v = perturbation.apply(w, z).map_err(blame)?;
    let mut inner = Vec::new();
    loop {
        let correct = f.correct_many(&v, batch).map_err(blame)?;
        let reached = meets(correct.iter().filter(|&&c| c).count(), batch.len(), target);
        if reached || inner.len() >= max_steps {
            return Ok(GdResult {
                model: v,
                inner,
                reached,
            });
        }
        let next = f.step(&v, batch).map_err(blame)?;
        inner.push(std::mem::replace(&mut v, next));
    }
}

/// An overflow inside GD after a perturbation that moves weights by 1 or more (2^(m−1+s) ulps
/// ≥ 2^p) is the perturbation's doing: the advice names its flags, not the grid's.
pub(crate) fn blame_perturbation(e: Error, p: &Perturbation, frac_bits: u32) -> Error {
    let reach = (p.bits + p.shift).saturating_sub(1);
    match e {
        Error::Grid(GridError::Overflow { what, approx })
            if !p.is_identity() && reach >= frac_bits =>
        {
            Error::Config(format!(
                "{what} overflows the grid's i64 range (value ≈ {approx}) after the perturbation moved each weight by up to 2^{} \
                 (--perturbation-bits {} and --perturbation-scale {} at --frac-bits {frac_bits}); lower --perturbation-bits or --perturbation-scale",
                i64::from(reach) - i64::from(frac_bits),
                p.bits,
                p.shift
            ))
        }
        e => e,
    }
}

/// Whether a decoded GD call is what Algorithm 2 does: from W = `w`, ψ_z(W) is `inner[0]`, each
/// inner model steps to the next (the last to `next`), the target is not met before any of
/// them, and GD stops where it did (target met, or `max_steps` steps). The work is bounded by
/// the decoded steps, not by T.
pub fn replays(
    f: &StepFunction,
    p: &SgdPrimeConfig,
    w: &[i64],
    batch: &[usize],
    z: &[i64],
    inner: &[Vec<i64>],
    next: &[i64],
) -> Result<bool, Error> {
    let delta = p.batch_target();
    let reached = |v: &[i64]| -> Result<bool, Error> {
        let correct = f.correct_many(v, batch)?;
        Ok(meets(
            correct.iter().filter(|&&c| c).count(),
            batch.len(),
            &delta,
        ))
    };
    if inner.len() > p.max_gd_steps {
        return Ok(false);
    }
    let mut v = p.perturbation.apply(w, z)?;
    for logged in inner {
        if v != *logged || reached(&v)? {
            return Ok(false);
        }
        v = f.step(&v, batch)?;
    }
    Ok(v == next && (inner.len() == p.max_gd_steps || reached(&v)?))
}

/// Algorithm 3, SGD′, from `init`: per epoch a permutation (the same stream as Algorithm 1)
/// cut into batches, a stop check before every batch, and one GD call per batch with a fresh z
/// from the perturbation stream.
pub fn run(
    f: &StepFunction,
    cfg: &SgdConfig,
    p: &SgdPrimeConfig,
    init: Vec<i64>,
) -> Result<SgdPrimeRun, Error> {
    let mut perms = stream(cfg.seed, Stream::Permutation);
    let mut zs = stream(cfg.seed, Stream::Perturbation);
    let (delta, stop) = (p.batch_target(), p.stop_target());
    let all: Vec<usize> = (0..cfg.n_used).collect();
    let mut out = SgdPrimeRun {
        calls: Vec::new(),
        final_model: Vec::new(),
        permutations: Vec::new(),
        stopped_at: None,
        correct: Vec::new(),
    };
    let mut w = init;
    'epochs: for epoch in 1..=cfg.epochs {
        let perm = permutation(&mut perms, cfg.n_used);
        for (j, batch) in perm.chunks(cfg.batch).enumerate() {
            let correct = f.correct_many(&w, &all)?;
            let c = correct.iter().filter(|&&c| c).count();
            if cfg.stop_at_full_accuracy && meets(c, all.len(), &stop) {
                out.stopped_at = Some((epoch, j + 1));
                out.permutations.push(perm.clone());
                break 'epochs;
            }
            out.correct.push(correct);
            let z = p.perturbation.draw(&mut zs);
            let GdResult {
                model: next,
                inner,
                reached,
            } = gd(f, &w, batch, &delta, p.max_gd_steps, &p.perturbation, &z)?;
            out.calls.push(GdCall {
                epoch,
                step: j + 1,
                batch: batch.to_vec(),
                w,
                z,
                inner,
                reached,
            });
            w = next;
        }
        out.permutations.push(perm);
    }
    out.final_model = w;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overflow() -> Error {
        Error::Grid(GridError::Overflow {
            what: "a dot product",
            approx: "1e19".into(),
        })
    }

    #[test]
    fn an_overflow_after_a_large_perturbation_names_the_perturbation_flags() {
        let big = Perturbation::new(2, 32, 30).unwrap();
        let msg = blame_perturbation(overflow(), &big, 32).to_string();
        assert!(
            msg.contains("lower --perturbation-bits or --perturbation-scale"),
            "{msg}"
        );
        assert!(!msg.contains("lower --frac-bits"), "{msg}");
        // A perturbation far below one unit leaves the grid's advice as it was.
        let small = Perturbation::new(2, 4, 0).unwrap();
        let msg = blame_perturbation(overflow(), &small, 32).to_string();
        assert!(msg.contains("lower --frac-bits"), "{msg}");
    }
}
