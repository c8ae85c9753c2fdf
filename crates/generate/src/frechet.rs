//! The Fréchet distance between two feature sets, each summarised by its mean and covariance
//! (the distance between the Gaussians of those moments), all in f64.
//!
//! [`frechet_distance`] returns the **squared** distance
//!
//! ```text
//! d² = ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1 Σ2),
//! ```
//!
//! the number pytorch-fid and torchmetrics report as "FID" (computed here on the judge's
//! features rather than Inception's). [`FeatureStats`] holds one set's moments: the mean and
//! the covariance with the n − 1 normalisation (`np.cov(rowvar=False)`, pytorch-fid's).
//!
//! # How tr √(Σ1 Σ2) is computed
//!
//! Σ1 Σ2 is not symmetric, and its square root is the one expensive, fragile part of the
//! formula: pytorch-fid takes `scipy.linalg.sqrtm` (a complex Schur decomposition, whose real
//! part it keeps), torchmetrics the sum of the real parts of the square roots of the
//! eigenvalues of Σ1 Σ2 (a general, non-symmetric eigenproblem). Here only symmetric
//! eigenproblems are solved:
//!
//! 1. S = √Σ1 from the self-adjoint eigendecomposition Σ1 = U Λ Uᵀ: S = U √Λ Uᵀ;
//! 2. M = S Σ2 S, symmetric positive semi-definite (made exactly symmetric, (M + Mᵀ)/2);
//! 3. tr √M = Σᵢ √λᵢ over the eigenvalues of M (a second self-adjoint problem).
//!
//! The result is torchmetrics' number: Σ1 Σ2 = S (S Σ2) and M = (S Σ2) S have the same
//! eigenvalues (AB and BA always do), and those of M are real and non-negative, so
//! Σᵢ √λᵢ(M) is the sum of the (real) square roots of the eigenvalues of Σ1 Σ2. Symmetric
//! eigensolvers are backward stable and give real eigenvalues, where a general solver returns
//! complex pairs whose imaginary parts must be thrown away.
//!
//! Singular covariances are the rule, not the exception: fewer samples than dimensions, dead
//! features, and a LayerNorm before the pooled features (its outputs satisfy one linear
//! constraint, so Σ has rank at most d − 1). Their zero eigenvalues come out of any float64
//! solver as round-off of size ε · ‖Σ‖, positive or negative, whose square roots (≈ 1e-8 ·
//! √‖Σ‖) would enter the trace. Both steps therefore take every eigenvalue at or below the
//! solver's resolution, d · ε · max |λ| (numpy's `matrix_rank` tolerance), as 0, negative
//! ones included. On the committed fixture's singular case this puts the distance within
//! 2e-15 of a 50-digit computation, where pytorch-fid's and torchmetrics' float64 formulas
//! are both about 1e-8 off (on full-rank covariances all three agree to 1e-13).
//!
//! Covariances are read as (Σ + Σᵀ)/2 (exactly symmetric already when they come from
//! [`FeatureStats::from_features`]). The eigendecompositions are faer's
//! (`Mat::self_adjoint_eigen`, `Mat::self_adjoint_eigenvalues`).

use faer::{Mat, MatRef, Side};
use serde::{Deserialize, Serialize};

/// Why a distance or a set's moments could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrechetError {
    /// Fewer than two feature vectors: no covariance.
    #[error("the covariance of a feature set needs at least 2 samples, got {count}")]
    TooFewSamples { count: usize },
    #[error("the feature dimension must be positive (got 0)")]
    ZeroDimension,
    /// A feature buffer whose length is not a whole number of rows.
    #[error("{len} feature values are not a whole number of rows of {dim}")]
    Rows { len: usize, dim: usize },
    /// Two feature sets of different widths.
    #[error("feature dimensions differ: {a} and {b}")]
    DimensionMismatch { a: usize, b: usize },
    /// A [`FeatureStats`] whose fields disagree (e.g. one built by hand or read from a file).
    #[error("inconsistent feature statistics: {0}")]
    Stats(String),
    #[error("{0} is not finite")]
    NonFinite(String),
    /// A symmetric eigensolver that did not converge (faer's `EvdError`).
    #[error("the eigendecomposition of {what} did not converge")]
    Decomposition { what: &'static str },
}

/// The mean and covariance of a set of feature vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// `[d]`.
    pub mean: Vec<f64>,
    /// `[d, d]` row-major, with the n − 1 normalisation.
    pub cov: Vec<f64>,
    /// The feature dimension d.
    pub dim: usize,
    /// The number of feature vectors n.
    pub count: usize,
}

impl FeatureStats {
    /// The moments of `features` `[n, dim]` (row-major): the mean, then the covariance from
    /// the centred rows, Σ = Σₖ (xₖ − μ)(xₖ − μ)ᵀ / (n − 1), in f64. Needs n >= 2 and finite
    /// values.
    pub fn from_features(features: &[f64], dim: usize) -> Result<Self, FrechetError> {
        if dim == 0 {
            return Err(FrechetError::ZeroDimension);
        }
        if !features.len().is_multiple_of(dim) {
            return Err(FrechetError::Rows {
                len: features.len(),
                dim,
            });
        }
        let count = features.len() / dim;
        if count < 2 {
            return Err(FrechetError::TooFewSamples { count });
        }
        if let Some(i) = features.iter().position(|v| !v.is_finite()) {
            return Err(FrechetError::NonFinite(format!(
                "feature {} of row {} ({})",
                i % dim,
                i / dim,
                features[i]
            )));
        }
        let mean = mean_of_rows(features, dim, count);
        let cov = covariance(features, &mean, count);
        let stats = FeatureStats {
            mean,
            cov,
            dim,
            count,
        };
        stats.check()?;
        Ok(stats)
    }

    /// Checks that the fields agree (`mean` `[dim]`, `cov` `[dim, dim]`, dim > 0) and that
    /// every value is finite.
    pub fn check(&self) -> Result<(), FrechetError> {
        let d = self.dim;
        if d == 0 {
            return Err(FrechetError::ZeroDimension);
        }
        if self.mean.len() != d || self.cov.len() != d * d {
            return Err(FrechetError::Stats(format!(
                "dim {d} needs a mean of {d} and a covariance of {} values, got {} and {}",
                d * d,
                self.mean.len(),
                self.cov.len()
            )));
        }
        if let Some(i) = self.mean.iter().position(|v| !v.is_finite()) {
            return Err(FrechetError::NonFinite(format!("mean entry {i}")));
        }
        if let Some(i) = self.cov.iter().position(|v| !v.is_finite()) {
            return Err(FrechetError::NonFinite(format!(
                "covariance entry ({}, {})",
                i / d,
                i % d
            )));
        }
        Ok(())
    }

    /// The covariance as a faer matrix, read as (Σ + Σᵀ)/2.
    fn cov_matrix(&self) -> Mat<f64> {
        let (c, d) = (&self.cov, self.dim);
        Mat::from_fn(d, d, |i, j| 0.5 * (c[i * d + j] + c[j * d + i]))
    }

    /// tr Σ.
    fn trace(&self) -> f64 {
        (0..self.dim).map(|i| self.cov[i * self.dim + i]).sum()
    }
}

/// The column means of `features` `[count, dim]`.
fn mean_of_rows(features: &[f64], dim: usize, count: usize) -> Vec<f64> {
    let mut mean = vec![0.0; dim];
    for row in features.chunks_exact(dim) {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x;
        }
    }
    let n = count as f64;
    mean.iter_mut().for_each(|m| *m /= n);
    mean
}

/// Σₖ (xₖ − μ)(xₖ − μ)ᵀ / (count − 1), `[dim, dim]` row-major: the upper triangle
/// accumulated from the centred rows, then mirrored (exactly symmetric).
fn covariance(features: &[f64], mean: &[f64], count: usize) -> Vec<f64> {
    let d = mean.len();
    let mut cov = vec![0.0; d * d];
    let mut centred = vec![0.0; d];
    for row in features.chunks_exact(d) {
        for ((c, &x), &m) in centred.iter_mut().zip(row).zip(mean) {
            *c = x - m;
        }
        for (i, &ci) in centred.iter().enumerate() {
            let upper = &mut cov[i * d + i..(i + 1) * d];
            for (o, &cj) in upper.iter_mut().zip(&centred[i..]) {
                *o += ci * cj;
            }
        }
    }
    let scale = 1.0 / (count - 1) as f64;
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] * scale;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    cov
}

/// The squared Fréchet distance between the Gaussians of `a` and `b`:
/// ‖μ1 − μ2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1 Σ2) (what pytorch-fid and torchmetrics call FID;
/// see the [module docs](self) for how the square root is taken).
///
/// Symmetric in its arguments up to round-off. Round-off can leave the sum a hair below 0 for
/// (nearly) identical sets; since d² >= 0 it is clamped there. Fails when the dimensions
/// differ, a set's fields disagree or hold non-finite values, or an eigensolver does not
/// converge.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> Result<f64, FrechetError> {
    a.check()?;
    b.check()?;
    if a.dim != b.dim {
        return Err(FrechetError::DimensionMismatch { a: a.dim, b: b.dim });
    }
    let mean_term: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let cross = trace_sqrt_product(a.cov_matrix().as_ref(), b.cov_matrix().as_ref())?;
    let d2 = mean_term + a.trace() + b.trace() - 2.0 * cross;
    if !d2.is_finite() {
        return Err(FrechetError::NonFinite("the distance".to_string()));
    }
    Ok(d2.max(0.0))
}

/// tr √(Σ1 Σ2) for symmetric positive semi-definite `s1`, `s2` `[d, d]`: Σᵢ √λᵢ over the
/// eigenvalues of M = √Σ1 Σ2 √Σ1 (which are those of Σ1 Σ2), those below the solver's
/// resolution taken as 0 ([`resolved_roots`]).
fn trace_sqrt_product(s1: MatRef<'_, f64>, s2: MatRef<'_, f64>) -> Result<f64, FrechetError> {
    let root = psd_sqrt(s1)?;
    let m = &root * s2 * &root;
    let m = Mat::from_fn(m.nrows(), m.ncols(), |i, j| 0.5 * (m[(i, j)] + m[(j, i)]));
    let eigenvalues =
        m.self_adjoint_eigenvalues(Side::Lower)
            .map_err(|_| FrechetError::Decomposition {
                what: "√Σ1 Σ2 √Σ1"
            })?;
    Ok(resolved_roots(&eigenvalues).sum())
}

/// √λ for each eigenvalue λ of a symmetric positive semi-definite `[d, d]` matrix, with those
/// at or below the eigensolver's resolution, d · ε · max |λ| (numpy's `matrix_rank`
/// tolerance), taken as 0: round-off of a zero eigenvalue, negative or not, adds nothing.
fn resolved_roots(eigenvalues: &[f64]) -> impl Iterator<Item = f64> + '_ {
    let top = eigenvalues.iter().fold(0.0f64, |m, l| m.max(l.abs()));
    let floor = eigenvalues.len() as f64 * f64::EPSILON * top;
    eigenvalues
        .iter()
        .map(move |&l| if l > floor { l.sqrt() } else { 0.0 })
}

/// √Σ = U √Λ Uᵀ for a symmetric positive semi-definite `s` `[d, d]`, with the eigenvalues
/// below the solver's resolution taken as 0 ([`resolved_roots`]).
fn psd_sqrt(s: MatRef<'_, f64>) -> Result<Mat<f64>, FrechetError> {
    let eigen = s
        .self_adjoint_eigen(Side::Lower)
        .map_err(|_| FrechetError::Decomposition { what: "Σ1" })?;
    let u = eigen.U();
    let values: Vec<f64> = eigen.S().column_vector().iter().copied().collect();
    let roots: Vec<f64> = resolved_roots(&values).collect();
    let scaled = Mat::from_fn(u.nrows(), u.ncols(), |i, j| u[(i, j)] * roots[j]);
    Ok(&scaled * u.transpose())
}
