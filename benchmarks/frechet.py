"""Agreement and speed of dv.frechet_distance against pytorch-fid's sqrtm formula.

Question: on well-conditioned features (more samples than features) does our
Fréchet distance (singular values of a product of factors) give the reference value, pytorch-fid's
``|mu_x - mu_y|^2 + tr(S_x + S_y - 2 sqrtm(S_x S_y).real)``, to 1e-6 relative,
and at what cost against it? And where the covariances are singular (n < d,
features on a subspace, dead units), what does each give: ours (checked against
the nuclear norm of ``A B^T`` from an SVD, which needs no threshold), sqrtm's
value with the size of the imaginary part it returns, and how much ours moves
under a permutation of the samples and under float32 features. And where the
covariances span many decades, how close is each to a closed form or to the
formula in 60-digit arithmetic (mpmath)?

Both sides run in the same process on the same seeded features, one BLAS
thread (set below before numpy loads; the machine is shared, and the load
average before and after is recorded). Times are medians of ``--repeats``
calls after one warm-up; the reference time includes ``numpy.cov``, as
pytorch-fid computes it from features.

Run: ``python benchmarks/frechet.py`` (writes benchmarks/results/frechet.json).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from _common import median_time, write_json  # noqa: E402
from scipy.linalg import sqrtm  # noqa: E402

import divergences as dv  # noqa: E402

WELL_CONDITIONED = [(64, 500), (64, 2000), (64, 10000), (2048, 3000), (2048, 10000)]


def reference(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """pytorch-fid's value from features, and the matrix square root it takes."""
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    gap = x.mean(axis=0) - y.mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # singular products warn; the value is what we record
        root = sqrtm(sx @ sy)
    return float(gap @ gap + np.trace(sx) + np.trace(sy) - 2 * np.trace(root).real), root


def svd_reference(x: np.ndarray, y: np.ndarray) -> float:
    """The trace term as the nuclear norm of ``A B^T`` (centred, scaled samples)."""
    a = (x - x.mean(axis=0)) / np.sqrt(len(x) - 1)
    b = (y - y.mean(axis=0)) / np.sqrt(len(y) - 1)
    gap = x.mean(axis=0) - y.mean(axis=0)
    nuclear = np.linalg.svd(a @ b.T, compute_uv=False).sum()
    return float(gap @ gap + (a * a).sum() + (b * b).sum() - 2 * nuclear)


def features(rng: np.random.Generator, n: int, m: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlated, non-negative (post-ReLU-like) features of two different laws."""
    mixing = np.eye(d) + rng.normal(size=(d, d)) / (4 * np.sqrt(d))
    x = np.abs(rng.normal(size=(n, d)) @ mixing)
    y = np.abs(rng.standard_t(6, size=(m, d)) @ mixing) * 1.1 + 0.05
    return x, y


def well_conditioned(repeats: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for d, n in WELL_CONDITIONED:
        x, y = features(rng, n, n, d)
        ours = dv.frechet_distance(x, y)
        theirs, root = reference(x, y)
        ours_time = median_time(lambda x=x, y=y: dv.frechet_distance(x, y), repeats=repeats)
        theirs_time = median_time(lambda x=x, y=y: reference(x, y), repeats=repeats)
        rows.append(
            {
                "d": d,
                "n": n,
                "ours": ours,
                "reference": theirs,
                "relative_difference": abs(ours - theirs) / abs(theirs),
                "sqrtm_imaginary_max": float(np.abs(np.imag(root)).max()),
                "ours_seconds": ours_time,
                "reference_seconds": theirs_time,
                "speedup": theirs_time / ours_time,
            }
        )
        print(rows[-1], flush=True)
    return rows


def singular_cases(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Singular covariances; sqrtm goes complex on some and happens to stay real on others
    (the record says which)."""
    low_rank, wide_low_rank = rng.normal(size=(12, 64)), rng.normal(size=(256, 2048))
    return {
        "n=40 < d=64": features(rng, 40, 55, 64),
        "n=500 < d=2048": features(rng, 500, 500, 2048),
        "n=2000 < d=2048": features(rng, 2000, 2000, 2048),
        "n=2000, d=64, both on one 12-dim subspace": (
            np.abs(rng.normal(size=(2000, 12)) @ low_rank),
            np.abs(rng.normal(size=(2000, 12)) @ low_rank) * 1.2,
        ),
        "n=2000, d=64, x on a 12-dim subspace, y with 16 dead units": (
            rng.normal(size=(2000, 12)) @ low_rank,
            np.hstack([features(rng, 1500, 1500, 48)[1], np.zeros((1500, 16))]),
        ),
        "n=3000, d=2048, x on a 256-dim subspace, y with 512 dead units": (
            rng.normal(size=(3000, 256)) @ wide_low_rank / 16,
            np.hstack([features(rng, 3000, 3000, 1536)[1], np.zeros((3000, 512))]),
        ),
    }


def singular(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for name, (x, y) in singular_cases(rng).items():
        ours = dv.frechet_distance(x, y)
        theirs, root = reference(x, y)
        svd = svd_reference(x, y)
        permuted = dv.frechet_distance(x[rng.permutation(len(x))], y[rng.permutation(len(y))])
        single = dv.frechet_distance(x.astype(np.float32), y.astype(np.float32))
        rows.append(
            {
                "case": name,
                "ours": ours,
                "svd_reference": svd,
                "relative_difference_svd": abs(ours - svd) / abs(svd),
                "sqrtm_value_real_part": theirs,
                "sqrtm_finite": bool(np.all(np.isfinite(root))),
                "sqrtm_complex": bool(np.iscomplexobj(root)),
                "sqrtm_imaginary_max": float(np.nanmax(np.abs(np.imag(root)))),
                "sqrtm_trace_imaginary": float(np.imag(np.trace(root))),
                "relative_change_permutation": abs(permuted - ours) / ours,
                "relative_change_float32": abs(single - ours) / ours,
            }
        )
        print(rows[-1], flush=True)
    return rows


def high_precision(x: np.ndarray, y: np.ndarray, digits: int = 60) -> float:
    """The formula in mpmath at ``digits`` digits: the moments summed exactly enough, the
    symmetric roots from ``eigsy``."""
    import mpmath as mp

    (n, d), m = x.shape, y.shape[0]
    with mp.workdps(digits):

        def moments(z: np.ndarray, rows: int) -> tuple[list, Any]:
            values = mp.matrix(z.tolist())
            mean = [mp.fsum(values[r, j] for r in range(rows)) / rows for j in range(d)]
            cov = mp.matrix(d, d)
            for i in range(d):
                for j in range(i, d):
                    total = mp.fsum(
                        (values[r, i] - mean[i]) * (values[r, j] - mean[j]) for r in range(rows)
                    )
                    cov[i, j] = cov[j, i] = total / (rows - 1)
            return mean, cov

        (mean_x, cov_x), (mean_y, cov_y) = moments(x, n), moments(y, m)
        values, vectors = mp.eigsy(cov_x)
        root = vectors * mp.diag([mp.sqrt(max(v, 0)) for v in values]) * vectors.T
        middle, _ = mp.eigsy(root * cov_y * root)
        gap = mp.fsum((p - q) ** 2 for p, q in zip(mean_x, mean_y, strict=True))
        traces = mp.fsum(cov_x[i, i] + cov_y[i, i] for i in range(d))
        return float(gap + traces - 2 * mp.fsum(mp.sqrt(max(v, 0)) for v in middle))


def spectrum_pair(
    rng: np.random.Generator, n: int, d: int, decades: float
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance eigenvalues from 1e2 down over ``decades`` decades in a random basis;
    the second set 1% wider and moved by 1e-3."""
    spectrum = np.logspace(2, 2 - decades, d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    x = rng.normal(size=(n, d)) * np.sqrt(spectrum) @ basis.T
    y = (rng.normal(size=(n, d)) * np.sqrt(spectrum) * 1.01) @ basis.T + 1e-3
    return x, y


def ill_conditioned(rng: np.random.Generator) -> list[dict[str, Any]]:
    """Covariances over many decades, against a closed form or 60-digit arithmetic."""
    wide = rng.normal(size=(200, 5))
    wide[:, 0] *= 1e4
    moved = wide.copy()
    moved[:, 1] += 0.1
    cases = [
        ("one feature of spread 1e4 beside four of 1; the copy moved by 0.1", wide, moved, 0.01),
        ("d=12, n=150, eigenvalues over 10 decades", *spectrum_pair(rng, 150, 12, 10), None),
        ("d=32, n=300, eigenvalues over 12 decades", *spectrum_pair(rng, 300, 32, 12), None),
    ]
    rows = []
    for name, x, y, truth in cases:
        exact = truth if truth is not None else high_precision(x, y)
        ours = dv.frechet_distance(x, y)
        theirs, _ = reference(x, y)
        rows.append(
            {
                "case": name,
                "reference": exact,
                "reference_kind": "closed form" if truth is not None else "mpmath, 60 digits",
                "ours": ours,
                "ours_relative_error": abs(ours - exact) / exact,
                "sqrtm_value_real_part": theirs,
                "sqrtm_relative_error": abs(theirs - exact) / exact,
            }
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    before = os.getloadavg()[0]
    rows = well_conditioned(args.repeats, rng)
    degenerate = singular(rng)
    narrow = ill_conditioned(rng)
    path = write_json(
        "frechet",
        {
            "threads": int(os.environ["OMP_NUM_THREADS"]),
            "load": [before, os.getloadavg()[0]],
            "repeats": args.repeats,
            "well_conditioned": rows,
            "singular": degenerate,
            "ill_conditioned": narrow,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
