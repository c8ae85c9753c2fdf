//! Balanced factors of square matrices by an f64 SVD (burn-linalg's host SVD: Golub-Kahan
//! bidiagonalization and LAPACK's implicitly shifted QR, deterministic on every backend).
//!
//! `A = U S Vᵀ` gives `L = U diag(√S)` and `R = diag(√S) Vᵀ` with `L R = A`; the first `k`
//! columns of `L` and rows of `R` multiply to A's best rank-`k` approximation (Eckart-Young).

use burn::prelude::*;
use burn::tensor::DType;

/// QR sweeps per singular value before the SVD gives up (LAPACK's `dbdsqr` uses 6 per value;
/// generous, since the matrices here are well conditioned).
const SWEEPS: usize = 60;

/// The balanced factors of one `n x n` matrix, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Factors {
    pub n: usize,
    /// `L = U diag(√S)`, `[n, n]`.
    pub left: Vec<f64>,
    /// `R = diag(√S) Vᵀ`, `[n, n]`.
    pub right: Vec<f64>,
}

/// The balanced factors of each of `mats`, every one `n x n` row-major, in one batched f64 SVD
/// on `device`.
pub fn balanced_factors(mats: &[Vec<f64>], n: usize, device: &Device) -> Vec<Factors> {
    let b = mats.len();
    if b == 0 {
        return Vec::new();
    }
    let flat: Vec<f64> = mats
        .iter()
        .flat_map(|m| {
            assert_eq!(m.len(), n * n, "every matrix is n x n");
            m.iter().copied()
        })
        .collect();
    let a = Tensor::<3>::from_data(TensorData::new(flat, [b, n, n]), (device, DType::F64));
    let (u, s, vt) = burn_linalg::svd::<3, 2>(a, SWEEPS);
    let host = |t: TensorData| t.convert::<f64>().try_into_vec::<f64>().expect("f64 data");
    let (u, s, vt) = (
        host(u.into_data()),
        host(s.into_data()),
        host(vt.into_data()),
    );
    (0..b)
        .map(|i| {
            let (u, s, vt) = (
                &u[i * n * n..(i + 1) * n * n],
                &s[i * n..(i + 1) * n],
                &vt[i * n * n..(i + 1) * n * n],
            );
            let root: Vec<f64> = s.iter().map(|v| v.max(0.0).sqrt()).collect();
            let mut left = vec![0.0; n * n];
            let mut right = vec![0.0; n * n];
            for r in 0..n {
                for c in 0..n {
                    left[r * n + c] = u[r * n + c] * root[c];
                    right[r * n + c] = root[r] * vt[r * n + c];
                }
            }
            Factors { n, left, right }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[n, k] x [k, n]` of the first `k` columns of `l` and rows of `r`.
    fn product(f: &Factors, k: usize) -> Vec<f64> {
        let n = f.n;
        let mut out = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|t| f.left[i * n + t] * f.right[t * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn factors_multiply_back_and_truncate_to_the_leading_singular_value() {
        // [[3, 0], [4, 5]]: singular values sqrt(45) and sqrt(5) (sum of squares 50, product 15)
        let a = vec![3.0, 0.0, 4.0, 5.0];
        let f = &balanced_factors(std::slice::from_ref(&a), 2, &Device::default())[0];
        for (x, y) in product(f, 2).iter().zip(&a) {
            assert!((x - y).abs() < 1e-12, "{x} vs {y}");
        }
        // the rank-1 part has Frobenius norm sqrt(45), the residual sqrt(5)
        let p1 = product(f, 1);
        let norm2 = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        let resid: Vec<f64> = a.iter().zip(&p1).map(|(x, y)| x - y).collect();
        assert!((norm2(&p1) - 45.0).abs() < 1e-10);
        assert!((norm2(&resid) - 5.0).abs() < 1e-10);
    }
}
