r"""Pairs of distributions whose :math:`W_1` is known exactly, drawn by seed.

Estimators of :math:`W_1` are judged here on problems that none of their
choices was made on: each family has parameters, and :func:`draw_problem`
draws a member from a seed, so a benchmark can choose its defaults on some
seeds and report on others.

* :class:`ConesProblem`, the construction of the published W1 benchmark
  (Korotin, Kolesov and Burnaev, NeurIPS 2022): a base law on a box, a
  1-Lipschitz potential that is the minimum of cones, and a map that moves each
  point down its cone's ray. The potential falls by exactly the length of each
  move, so the map is an optimal transport plan and :math:`W_1` is the mean
  length of a move, known by Monte Carlo to any precision.
* :class:`EmbeddedProblem`: two one-dimensional laws placed along a random
  direction of :math:`\mathbb R^d`, with the same noise in the orthogonal
  complement; :math:`W_1` is the one-dimensional :math:`W_1` of the two laws,
  :math:`\int |F_P - F_Q|`, by quadrature.

Every sampler returns float64 numpy arrays from
``numpy.random.default_rng(seed)``; the paper's cones are drawn with torch's
seeded generator, as the paper draws them, so ``ConesProblem(d, n)`` with the
default seed is the paper's pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from divergences._backend import NumpyBackend, is_tensor
from divergences._validation import (
    ArgumentError,
    as_array,
    check_count,
    check_finite,
    check_option,
    check_real,
    check_seed,
    torch_seed,
)

__all__ = [
    "FAMILIES",
    "LAWS",
    "ConesProblem",
    "EmbeddedProblem",
    "Estimate",
    "draw_problem",
]

# Work arrays of the cones' loops hold (rows, cones) numbers: at most about this many.
_WORK = 1 << 21
# The widest box of ConesProblem: its apexes, drawn in float32 as the paper's, overflow
# from about 3.4e38.
_WIDEST = 1e30


def _rows(cones: int) -> int:
    return max(64, _WORK // cones)


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo value with its standard error."""

    value: float
    stderr: float


def _check_samples(n: Any) -> int:
    return check_count(n, "n")


@dataclass(frozen=True)
class ConesProblem:
    r"""The min-of-cones pair of the published W1 benchmark.

    :math:`P` is a base law on the box :math:`[-s, s]^D`. The potential is

    .. math::

        u(x) = \min_k \|x - a_k\| + b_k,

    with apexes :math:`a_k \sim U[-s, s]^D` and offsets
    :math:`b_k \sim 0.1\,N(0, 1)`, :math:`k = 1..N`. A point :math:`x` of
    cone :math:`k`'s region moves along the ray from :math:`a_k` through
    :math:`x`: with :math:`e` the point where the ray leaves the box or cone
    :math:`k`'s region and :math:`t = \|x - a_k\| / \|e - a_k\|`,

    .. math::

        T(x) = a_k + t^{\mathrm{deg}} (e - a_k),

    and :math:`Q = T_\# P`. Along the ray :math:`u` has slope 1, so
    :math:`u(x) - u(T(x)) = \|x - T(x)\|`: the coupling :math:`(x, T(x))` is
    optimal and

    .. math::

        W_1(P, Q) = \mathbb E_P \|x - T(x)\| = \mathbb E_P u - \mathbb E_Q u.

    Parameters
    ----------
    dim : int
        :math:`D`, the dimension.
    cones : int
        :math:`N`, the number of cones.
    seed : int, default 987
        Seed of the apexes and offsets, drawn as the paper draws them
        (``torch.manual_seed(seed)`` before each of the two draws); 987 gives the
        paper's pairs.
    degree : float, default 8
        :math:`\mathrm{deg} \ge 1`: how strongly the moves pull towards the apexes.
    half_width : float, default 2.5
        :math:`s`, half the side of the box; at most :math:`10^{30}` (the
        apexes are drawn in float32, as the paper draws them).
    base : {"uniform", "normal"}, default "uniform"
        :math:`P`: uniform on the box, or each coordinate a normal of standard
        deviation :math:`s / 2` truncated to :math:`[-s, s]`.

    References
    ----------
    .. [1] A. Korotin, A. Kolesov and E. Burnaev, "Kantorovich strikes back!
       Wasserstein GANs are not optimal transport?", NeurIPS 2022 Datasets and
       Benchmarks.

    Examples
    --------
    >>> from divergences.problems import ConesProblem
    >>> problem = ConesProblem(2, 4)
    >>> x, y = problem.sample_p(1000, seed=0), problem.sample_q(1000, seed=1)
    >>> x.shape, bool(abs(y).max() <= 2.5)
    ((1000, 2), True)
    >>> round(problem.wasserstein(samples=200_000, seed=0).value, 2)
    0.92
    """

    dim: int
    cones: int
    seed: int = 987
    degree: float = 8.0
    half_width: float = 2.5
    base: str = "uniform"
    apexes: np.ndarray = field(init=False, repr=False, compare=False)
    offsets: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", check_count(self.dim, "dim"))
        object.__setattr__(self, "cones", check_count(self.cones, "cones"))
        seed = check_seed(self.seed)
        if seed is None:
            raise TypeError("seed must be an integer (the cones are drawn from it); got None")
        degree = check_real(self.degree, "degree")
        if not degree >= 1:
            raise ValueError(f"degree must be at least 1; got {degree}")
        half_width = check_real(self.half_width, "half_width")
        if not 0 < half_width <= _WIDEST:
            raise ValueError(
                f"half_width must be positive and at most {_WIDEST:g} (the apexes are drawn "
                f"in float32, as the paper draws them); got {half_width}"
            )
        object.__setattr__(self, "degree", degree)
        object.__setattr__(self, "half_width", half_width)
        object.__setattr__(self, "base", check_option(self.base, "base", ("uniform", "normal")))
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed(seed))
            apexes = half_width * (2 * torch.rand(self.cones, self.dim) - 1)
            torch.manual_seed(torch_seed(seed))
            offsets = 0.1 * torch.randn(self.cones)
        object.__setattr__(self, "apexes", apexes.double().numpy())
        object.__setattr__(self, "offsets", offsets.double().numpy())

    def _points(self, x: Any, *, in_box: bool = False) -> np.ndarray:
        """``x`` as (n, D) float64 points, checked (and inside the box where ``in_box``)."""
        if is_tensor(x):
            x = x.detach().cpu().numpy()
        points = np.asarray(as_array(x, "x", NumpyBackend()), dtype=np.float64)
        if points.ndim == 1 and self.dim == 1:
            points = points.reshape(-1, 1)
        if points.ndim != 2 or points.shape[1] != self.dim:
            shape = points.shape
            raise ArgumentError("x", f"must be points of shape (n, {self.dim}); got {shape}")
        check_finite(points, "x", NumpyBackend())
        if in_box and bool((np.abs(points) > self.half_width).any()):
            raise ArgumentError(
                "x", f"must be points of the box [-{self.half_width:g}, {self.half_width:g}]^D"
            )
        return points

    def potential(self, x: np.ndarray) -> np.ndarray:
        """:math:`u(x) = \\min_k \\|x - a_k\\| + b_k` at each row of ``x`` (n, D)."""
        x = self._points(x)
        if x.shape[0] == 0:
            return np.zeros(0)
        rows = _rows(self.cones)
        return np.concatenate(
            [self._potential(x[i : i + rows]) for i in range(0, x.shape[0], rows)]
        )

    def _potential(self, x: np.ndarray) -> np.ndarray:
        # the cone chosen by the Gram form, its distance computed exactly: a near-tie
        # between cones is one of rounding, which moves the minimum by no more than that
        k = (np.sqrt(_square_distances(x, self.apexes)) + self.offsets).argmin(axis=1)
        return np.linalg.norm(x - self.apexes[k], axis=1) + self.offsets[k]

    def sample_p(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` samples of :math:`P`, (n, D) float64."""
        return self._base(_check_samples(n), np.random.default_rng(check_seed(seed)))

    def sample_q(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` samples of :math:`Q = T_\\# P`, (n, D) float64 (fresh base samples, moved)."""
        return self.transport(self.sample_p(n, seed=seed))

    def sample_plan(self, n: int, *, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` pairs :math:`(x, T(x))` of the optimal plan."""
        x = self.sample_p(n, seed=seed)
        return x, self.transport(x)

    def transport(self, x: np.ndarray) -> np.ndarray:
        """:math:`T(x)` for each row of ``x`` (n, D), points of the box."""
        x = self._points(x, in_box=True)
        if x.shape[0] == 0:
            return np.zeros((0, self.dim))
        rows = _rows(self.cones)
        return np.concatenate(
            [self._transport(x[i : i + rows]) for i in range(0, x.shape[0], rows)]
        )

    def wasserstein(self, *, samples: int = 10**6, seed: int | None = 0) -> Estimate:
        r""":math:`W_1(P, Q) = \mathbb E_P \|x - T(x)\|` by Monte Carlo in float64.

        Each chunk checks the identity :math:`u(x) - u(T(x)) = \|x - T(x)\|`
        that makes the plan optimal; a violation beyond rounding raises
        ``RuntimeError``.

        Parameters
        ----------
        samples : int, default 10**6
            Points of :math:`P` drawn.
        seed : int, optional
            Seed of those points.

        Returns
        -------
        Estimate
            The mean move and its standard error.
        """
        samples = check_count(samples, "samples", minimum=2)
        rng = np.random.default_rng(check_seed(seed))
        total = squares = 0.0
        done = 0
        chunk = _rows(self.cones)
        while done < samples:
            x = self._base(min(chunk, samples - done), rng)
            moved = self.transport(x)
            lengths = np.linalg.norm(x - moved, axis=1)
            drop = self.potential(x) - self.potential(moved)
            scale = 1.0 + np.abs(self.potential(x))
            worst = float(np.max(np.abs(drop - lengths) / scale))
            if not worst <= 1e-9:  # NaN included
                raise RuntimeError(
                    f"the potential does not fall by the length of a move (off by {worst:.2e}); "
                    "the construction is broken"
                )
            total += float(lengths.sum())
            squares += float(np.square(lengths).sum())
            done += x.shape[0]
        mean = total / done
        variance = max(squares / done - mean * mean, 0.0) * done / (done - 1)
        return Estimate(mean, math.sqrt(variance / done))

    def _base(self, n: int, rng: np.random.Generator) -> np.ndarray:
        s = self.half_width
        if self.base == "uniform":
            return rng.uniform(-s, s, size=(n, self.dim))
        from scipy import stats

        # a normal of sd s/2 truncated to [-s, s] in each coordinate, by its quantiles
        return stats.truncnorm.ppf(rng.uniform(size=(n, self.dim)), -2.0, 2.0, scale=s / 2)

    def _transport(self, x: np.ndarray) -> np.ndarray:
        s, apexes, offsets = self.half_width, self.apexes, self.offsets
        rows = np.arange(x.shape[0])
        squares = _square_distances(x, apexes)  # (n, N)
        k = (np.sqrt(squares) + offsets).argmin(axis=1)
        radial = x - apexes[k]
        length = np.linalg.norm(radial, axis=1)  # exact, not from the Gram form
        m = length + offsets[k]
        # a point at its apex stays there
        v = radial / np.where(length > 0, length, 1.0)[:, None]
        # leaving the box along v
        with np.errstate(divide="ignore", invalid="ignore"):
            steps = (np.sign(v) * s - x) / v
        exit_box = np.where(np.abs(v) > 0, np.clip(steps, 0.0, None), np.inf).min(axis=1)
        # leaving cone k's region, where ||x + r v - a_j|| + b_j = m + r:
        # r = (||x - a_j||^2 - c^2) / (2 (c - <x - a_j, v>)) with c = m - b_j
        c = m[:, None] - offsets[None, :]
        along = np.einsum("nd,nd->n", x, v)[:, None] - v @ apexes.T
        denominator = 2.0 * (c - along)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (squares - c * c) / denominator
        valid = (denominator > 0) & (r > 0) & (r > -c)
        valid[rows, k] = False
        exit_cone = np.where(valid, r, np.inf).min(axis=1)
        reach = np.minimum(exit_box, exit_cone)
        t = length / (length + reach)
        moved = apexes[k] + (t**self.degree * (length + reach))[:, None] * v
        return np.where((length > 0)[:, None], moved, x)


def _square_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances (n, N) by the Gram form (for choosing among the cones)."""
    gram = x @ centres.T
    squares = np.einsum("nd,nd->n", x, x)[:, None] - 2.0 * gram + np.square(centres).sum(axis=1)
    return np.clip(squares, 0.0, None)


# One-dimensional laws: a name, its parameters, and scipy's frozen law (or a mixture).
def _normal(location: float, scale: float) -> Any:
    from scipy import stats

    return stats.norm(location, scale)


def _laplace(location: float, scale: float) -> Any:
    from scipy import stats

    return stats.laplace(location, scale / math.sqrt(2.0))  # standard deviation `scale`


def _uniform(location: float, scale: float) -> Any:
    from scipy import stats

    half = scale * math.sqrt(3.0)
    return stats.uniform(location - half, 2 * half)


def _skewed(location: float, scale: float) -> Any:
    from scipy import stats

    # a gamma of shape 2, moved and scaled to mean `location`, sd `scale`; right-skewed
    shape = 2.0
    return stats.gamma(shape, loc=location - scale * math.sqrt(shape), scale=scale / math.sqrt(2))


@dataclass(frozen=True)
class _Mixture:
    """An even mixture of two normals at location ± 0.8 scale, of sd 0.6 scale (sd = scale)."""

    location: float
    scale: float

    @property
    def parts(self) -> list[Any]:
        from scipy import stats

        return [
            stats.norm(self.location + sign * 0.8 * self.scale, 0.6 * self.scale)
            for sign in (-1.0, 1.0)
        ]

    def cdf(self, t: Any) -> Any:
        return 0.5 * sum(part.cdf(t) for part in self.parts)

    def ppf(self, u: Any) -> Any:
        from scipy import optimize

        low, high = self.location - 12 * self.scale, self.location + 12 * self.scale
        return optimize.brentq(lambda t: self.cdf(t) - u, low, high, xtol=1e-14 * self.scale)

    def rvs(self, size: int, random_state: np.random.Generator) -> np.ndarray:
        side = random_state.integers(2, size=size)
        centre = self.location + np.where(side == 1, 0.8, -0.8) * self.scale
        return centre + 0.6 * self.scale * random_state.standard_normal(size)


#: The one-dimensional laws of :class:`EmbeddedProblem`, by name: each a factory of
#: (location, scale), where scale is the standard deviation.
LAWS: dict[str, Callable[[float, float], Any]] = {
    "normal": _normal,
    "laplace": _laplace,
    "uniform": _uniform,
    "skewed": _skewed,
    "mixture": _Mixture,
}


@dataclass(frozen=True)
class EmbeddedProblem:
    r"""Two one-dimensional laws along a random direction, the same noise across it.

    With :math:`R` a random rotation of :math:`\mathbb R^d` (from ``seed``),

    .. math::

        x = R\,(z, \xi), \qquad z \sim \mu_P \text{ or } \mu_Q, \qquad
        \xi \sim N(0, \sigma^2 I_{d-1}),

    so :math:`P` and :math:`Q` differ only along the first column of
    :math:`R`. Then :math:`W_1(P, Q) = W_1(\mu_P, \mu_Q) = \int |F_P - F_Q|`:
    the potential :math:`\phi(\langle r_1, x\rangle)`, with :math:`\phi` the
    one-dimensional optimal potential, is 1-Lipschitz and attains it, and the
    coupling that keeps :math:`\xi` and pairs :math:`z` by quantiles costs it.

    Parameters
    ----------
    dim : int
        :math:`d`.
    law_p, law_q : tuple of (str, float, float)
        ``(name, location, scale)`` of each one-dimensional law, ``name`` one of
        :data:`LAWS` and ``scale`` its standard deviation.
    noise : float, default 1
        :math:`\sigma`, the standard deviation of the noise across the direction.
    seed : int, default 0
        Seed of the rotation.

    Examples
    --------
    >>> from divergences.problems import EmbeddedProblem
    >>> problem = EmbeddedProblem(8, ("normal", 0.0, 1.0), ("normal", 2.0, 1.0))
    >>> round(problem.wasserstein().value, 6)  # a translate by 2
    2.0
    """

    dim: int
    law_p: tuple[str, float, float]
    law_q: tuple[str, float, float]
    noise: float = 1.0
    seed: int = 0
    rotation: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", check_count(self.dim, "dim"))
        for name in ("law_p", "law_q"):
            object.__setattr__(self, name, _check_law(getattr(self, name), name))
        noise = check_real(self.noise, "noise")
        if not noise >= 0:
            raise ValueError(f"noise must be 0 or positive; got {noise}")
        object.__setattr__(self, "noise", noise)
        seed = check_seed(self.seed)
        if seed is None:
            raise TypeError("seed must be an integer (the direction is drawn from it); got None")
        gaussian = np.random.default_rng(seed).standard_normal((self.dim, self.dim))
        rotation, triangle = np.linalg.qr(gaussian)
        rotation *= np.sign(np.diag(triangle))  # Haar-distributed
        object.__setattr__(self, "rotation", rotation)

    @property
    def direction(self) -> np.ndarray:
        """The unit vector along which :math:`P` and :math:`Q` differ."""
        return self.rotation[:, 0].copy()

    def sample_p(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` samples of :math:`P`, (n, d) float64."""
        return self._sample(self.law_p, _check_samples(n), seed)

    def sample_q(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """``n`` samples of :math:`Q`, (n, d) float64."""
        return self._sample(self.law_q, _check_samples(n), seed)

    def wasserstein(self) -> Estimate:
        r""":math:`\int |F_P(t) - F_Q(t)|\,dt` by adaptive quadrature (error as its stderr)."""
        from scipy import integrate

        law_p, law_q = (_law(spec) for spec in (self.law_p, self.law_q))
        low = min(float(law.ppf(1e-15)) for law in (law_p, law_q))
        high = max(float(law.ppf(1 - 1e-15)) for law in (law_p, law_q))
        points = sorted({spec[1] for spec in (self.law_p, self.law_q)})
        value, error = integrate.quad(
            lambda t: abs(float(law_p.cdf(t)) - float(law_q.cdf(t))),
            low,
            high,
            points=points,
            limit=500,
            epsabs=1e-12,
            epsrel=1e-10,
        )
        return Estimate(value, error)

    def _sample(self, spec: tuple[str, float, float], n: int, seed: int | None) -> np.ndarray:
        rng = np.random.default_rng(check_seed(seed))
        z = np.asarray(_law(spec).rvs(size=n, random_state=rng), dtype=np.float64)
        rest = self.noise * rng.standard_normal((n, self.dim - 1))
        return np.column_stack([z, rest]) @ self.rotation.T


def _check_law(spec: Any, name: str) -> tuple[str, float, float]:
    if not isinstance(spec, (tuple, list)) or len(spec) != 3:
        raise TypeError(f"{name} must be a tuple (law, location, scale); got {spec!r}")
    law = check_option(spec[0], f"{name}[0]", LAWS)
    location = check_real(spec[1], f"{name}[1]")
    scale = check_real(spec[2], f"{name}[2]")
    if not scale > 0:
        raise ValueError(f"{name}[2] (the scale) must be positive; got {scale}")
    return law, location, scale


def _law(spec: tuple[str, float, float]) -> Any:
    name, location, scale = spec
    return LAWS[name](location, scale)


def _draw_cones(rng: np.random.Generator, dim: int) -> ConesProblem:
    return ConesProblem(
        dim,
        int(rng.choice([4, 16, 64, 256])),
        seed=int(rng.integers(10**6)),
        degree=float(rng.choice([2.0, 4.0, 8.0])),
        half_width=float(rng.uniform(1.0, 4.0)),
        base=str(rng.choice(["uniform", "normal"])),
    )


def _draw_embedded(rng: np.random.Generator, dim: int) -> EmbeddedProblem:
    names = list(LAWS)
    first, second = (str(name) for name in rng.choice(names, size=2))
    # the two laws differ in location, in scale, or in shape only
    shift = float(rng.choice([0.0, rng.uniform(0.3, 2.0)]))
    ratio = float(np.exp(rng.uniform(-0.7, 0.7)))
    return EmbeddedProblem(
        dim,
        (first, 0.0, 1.0),
        (second, shift, ratio),
        noise=float(rng.uniform(0.5, 2.0)),
        seed=int(rng.integers(10**6)),
    )


#: The families :func:`draw_problem` draws from.
FAMILIES: dict[str, Callable[[np.random.Generator, int], Any]] = {
    "cones": _draw_cones,
    "embedded": _draw_embedded,
}


def draw_problem(family: str, dim: int, *, seed: int) -> ConesProblem | EmbeddedProblem:
    """A member of ``family`` in ``dim`` dimensions, drawn from ``seed``.

    ``"cones"``: a :class:`ConesProblem` with 4 to 256 cones, degree 2, 4 or 8,
    a box of half-width 1 to 4 and a uniform or truncated normal base;
    ``"embedded"``: an :class:`EmbeddedProblem` between two laws of
    :data:`LAWS` that differ in location, scale and shape, with noise of
    standard deviation 0.5 to 2 across the direction.

    Examples
    --------
    >>> from divergences.problems import draw_problem
    >>> draw_problem("cones", 8, seed=3) == draw_problem("cones", 8, seed=3)
    True
    """
    family = check_option(family, "family", FAMILIES)
    dim = check_count(dim, "dim")
    seed_value = check_seed(seed)
    if seed_value is None:
        raise TypeError("seed must be an integer; got None")
    return FAMILIES[family](np.random.default_rng([seed_value, dim]), dim)
