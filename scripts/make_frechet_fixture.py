"""Writes the Fréchet distance fixture of `crates/generate/tests/frechet.rs`: pairs of small
feature sets with different means and correlated covariances, their means and covariances
(numpy), and the squared Fréchet distance ("FID") computed the two usual ways in float64.

    /work/venv/bin/python scripts/make_frechet_fixture.py
    # -> crates/generate/tests/fixtures/frechet.json

Seeded and deterministic (numpy default_rng(29)). Needs numpy, scipy and mpmath (2.4.6, 1.17.1
and 1.3.0 used; mpmath comes with torch's sympy).

Every feature is rounded to 3 decimals and written as Python's shortest repr, so the JSON
parser on the Rust side reads back the very doubles numpy used (serde_json's
`float_roundtrip`). Everything else is computed from those rounded features.

Cases:
- `full`: n = 200 and n = 150, dim 16, both covariances of full rank;
- `rank_deficient`: n = 12 and n = 10, dim 16, so both covariances are singular (rank 11 and
  9): the case where `sqrtm` of Σ1 Σ2 picks up imaginary round-off and tiny negative
  eigenvalues, as FID on few samples of wide features does.

Three references:
- `fid_sqrtm`, pytorch-fid's `calculate_frechet_distance`: `scipy.linalg.sqrtm(sigma1 @
  sigma2)`, its real part, `diff @ diff + tr(sigma1) + tr(sigma2) - 2 tr(covmean)` (without
  pytorch-fid's eps offset, which it adds only when sqrtm returns non-finite values);
- `fid_eigvals`, torchmetrics' `_compute_fid`: the eigenvalues of sigma1 @ sigma2, their
  (complex, principal) square roots, the sum of the real parts;
- `fid_exact`: the same distance in 50-digit arithmetic (mpmath) from the rounded features,
  by the symmetric route (S = sqrt(Σ1), the eigenvalues of S Σ2 S): free of float64
  round-off, so it tells how far each float64 formula is off (sqrtm, on the singular case,
  by about 1e-9 relative).

File format: {"cases": [{"name", "dim", "a": SET, "b": SET, "fid_sqrtm", "fid_eigvals"}]}
(`fid_exact` too) with SET = {"features": [[dim numbers] * n], "mean": [dim], "cov": [[dim] * dim]}; `cov` is
`np.cov(features, rowvar=False)` (n - 1 normalisation).
"""
import json
import os

import mpmath
import numpy as np
import scipy.linalg

DIM = 16
OUT = os.path.join(
    os.path.dirname(__file__), "..", "crates", "generate", "tests", "fixtures", "frechet.json"
)


def draw(rng, n, mean, mix):
    """n rows of `mean + z @ mix` (z standard normal), rounded to 3 decimals."""
    z = rng.standard_normal((n, DIM))
    return np.round(mean + z @ mix, 3)


def fid_sqrtm(mu1, s1, mu2, s2):
    """pytorch-fid's formula (scipy's sqrtm of the product, real part)."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid_eigvals(mu1, s1, mu2, s2):
    """torchmetrics' formula (sum of the real parts of the square roots of the eigenvalues)."""
    ev = np.linalg.eigvals(s1 @ s2).astype(np.complex128)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.sqrt(ev).real.sum())


def fid_exact(a, b, digits=50):
    """The squared distance in `digits`-digit arithmetic: means and n - 1 covariances from the
    (exactly representable) features, then tr sqrt(S Σ2 S) with S = sqrt(Σ1), both by
    symmetric eigendecompositions."""
    mpmath.mp.dps = digits

    def mp_stats(x):
        n = len(x)
        rows = [[mpmath.mpf(float(v)) for v in row] for row in x]
        mu = [mpmath.fsum(r[j] for r in rows) / n for j in range(DIM)]
        c = [[r[j] - mu[j] for j in range(DIM)] for r in rows]
        cov = mpmath.matrix(DIM, DIM)
        for i in range(DIM):
            for j in range(i, DIM):
                cov[i, j] = cov[j, i] = mpmath.fsum(r[i] * r[j] for r in c) / (n - 1)
        return mu, cov

    (mu1, s1), (mu2, s2) = mp_stats(a), mp_stats(b)
    e, q = mpmath.eigsy(s1)
    root = mpmath.diag([mpmath.sqrt(max(v, 0)) for v in e])
    s = q * root * q.T
    m = s * s2 * s
    m = (m + m.T) / 2
    ev, _ = mpmath.eigsy(m)
    tr_sqrt = mpmath.fsum(mpmath.sqrt(max(v, 0)) for v in ev)
    diff = mpmath.fsum((x - y) ** 2 for x, y in zip(mu1, mu2))
    tr = mpmath.fsum(s1[i, i] + s2[i, i] for i in range(DIM))
    return float(diff + tr - 2 * tr_sqrt)


def stats(x):
    return x.mean(axis=0), np.cov(x, rowvar=False)


def as_set(x):
    mu, cov = stats(x)
    return {
        "features": [[float(v) for v in row] for row in x],
        "mean": [float(v) for v in mu],
        "cov": [[float(v) for v in row] for row in cov],
    }


def case(rng, name, n1, n2):
    mean1 = rng.normal(0.0, 1.0, DIM)
    mean2 = mean1 + rng.normal(0.0, 0.5, DIM)
    # Correlated covariances: a random mixing matrix, and a perturbed, rescaled copy of it.
    mix1 = rng.normal(0.0, 1.0, (DIM, DIM)) / np.sqrt(DIM)
    mix2 = 0.8 * mix1 + rng.normal(0.0, 0.6, (DIM, DIM)) / np.sqrt(DIM)
    a, b = draw(rng, n1, mean1, mix1), draw(rng, n2, mean2, mix2)
    (mu1, s1), (mu2, s2) = stats(a), stats(b)
    d_sqrtm, d_eig = fid_sqrtm(mu1, s1, mu2, s2), fid_eigvals(mu1, s1, mu2, s2)
    d_exact = fid_exact(a, b)
    print(f"{name}: n = {n1}, {n2}; fid exact {d_exact!r}, relative error: sqrtm "
          f"{abs(d_sqrtm - d_exact) / d_exact:.2e}, eigvals {abs(d_eig - d_exact) / d_exact:.2e}")
    return {
        "name": name,
        "dim": DIM,
        "a": as_set(a),
        "b": as_set(b),
        "fid_sqrtm": d_sqrtm,
        "fid_eigvals": d_eig,
        "fid_exact": d_exact,
    }


def main():
    rng = np.random.default_rng(29)
    cases = [case(rng, "full", 200, 150), case(rng, "rank_deficient", 12, 10)]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
