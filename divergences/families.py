"""Seeded samples from the families whose divergences :mod:`divergences.closed_form` knows.

Random numbers are always drawn by NumPy from ``numpy.random.default_rng(seed)``
and then moved to the parameters' backend, so one seed gives the same samples
as numpy arrays or as torch tensors on any device. With torch parameters the
samples are a differentiable function of them (reparameterisation), so
gradients of any estimate flow back to ``theta``, the mean or the covariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from divergences._backend import ArrayLike, Result, psd_factor
from divergences._validation import (
    as_array,
    as_covariance,
    as_vector,
    backend_for,
    check_count,
    check_finite,
    check_seed,
)

__all__ = ["gaussian_samples", "segment_samples"]


def segment_samples(theta: ArrayLike, n: int, *, seed: int | None = None) -> Result:
    r"""Samples of :math:`Q_\theta`, uniform on the vertical segment at :math:`x = \theta`.

    Each sample is :math:`(\theta, u)` with :math:`u \sim U[0, 1)`;
    ``theta = 0`` gives :math:`P`. This is the disjoint-segments family of
    :func:`divergences.closed_form.segments`.

    Parameters
    ----------
    theta : float or 0-d torch.Tensor
        The horizontal position of the segment. A tensor (with
        ``requires_grad=True``) makes the samples differentiable in it:
        :math:`\partial x_i / \partial \theta = (1, 0)`.
    n : int
        Number of samples, ``>= 1``.
    seed : int, optional
        Seed for the uniform heights; ``None`` draws fresh entropy.

    Returns
    -------
    (n, 2) numpy.ndarray or torch.Tensor
        The samples, a tensor on ``theta``'s device and dtype if ``theta`` is one.

    Raises
    ------
    ValueError
        If ``theta`` is not a finite scalar, ``n < 1`` or ``seed < 0``.
    TypeError
        If ``theta`` is not a number, or ``n`` or ``seed`` not an integer.

    References
    ----------
    .. [1] M. Arjovsky, S. Chintala and L. Bottou, "Wasserstein GAN", ICML 2017,
       Example 1.

    Examples
    --------
    >>> from divergences.families import segment_samples
    >>> segment_samples(0.5, 3, seed=0)
    array([[0.5       , 0.63696169],
           [0.5       , 0.26978671],
           [0.5       , 0.04097352]])
    """
    n = check_count(n, "n")
    seed = check_seed(seed)
    backend = backend_for(theta=theta)
    offset = as_array(theta, "theta", backend)
    if offset.ndim != 0 and tuple(offset.shape) != (1,):
        raise ValueError(f"theta must be a scalar; got shape {tuple(offset.shape)}")
    check_finite(offset, "theta", backend)
    heights = backend.from_numpy(np.random.default_rng(seed).uniform(size=n))
    positions = backend.reshape(offset, ()) * backend.from_numpy(np.ones(n))
    return backend.to_output(backend.stack([positions, heights], axis=1))


def gaussian_samples(
    mean: ArrayLike, cov: ArrayLike, n: int, *, seed: int | None = None
) -> Result:
    r"""Samples of the normal distribution :math:`\mathcal N(\mu, \Sigma)`.

    Drawn as :math:`x = \mu + L z` with :math:`z \sim \mathcal N(0, I)` and
    :math:`L L^\top = \Sigma`, so they are differentiable in ``mean`` and
    ``cov`` when those are tensors.

    Parameters
    ----------
    mean : (d,) array-like or torch.Tensor
        The mean; a scalar means ``d = 1``.
    cov : (d, d) array-like or torch.Tensor
        A symmetric positive semi-definite covariance; a scalar is a variance
        when ``d = 1``.
    n : int
        Number of samples, ``>= 1``.
    seed : int, optional
        Seed for the standard normal draws; ``None`` draws fresh entropy.

    Returns
    -------
    (n, d) numpy.ndarray or torch.Tensor
        The samples.

    Raises
    ------
    ValueError
        On NaN or inf, a covariance of the wrong shape or not symmetric positive
        semi-definite, ``n < 1`` or ``seed < 0``.
    TypeError
        If ``mean`` or ``cov`` are not arrays of real numbers, or ``n`` or
        ``seed`` not an integer.

    Examples
    --------
    >>> from divergences.families import gaussian_samples
    >>> x = gaussian_samples([0.0, 5.0], [[1.0, 0.0], [0.0, 4.0]], 100_000, seed=0)
    >>> x.shape
    (100000, 2)
    >>> bool(abs(x[:, 1].std() - 2.0) < 0.02)
    True
    """
    n = check_count(n, "n")
    seed = check_seed(seed)
    backend = backend_for(mean=mean, cov=cov)
    mu = as_vector(mean, "mean", backend)
    dim = int(mu.shape[0])
    sigma = as_covariance(cov, "cov", backend, dim, definite=False)
    standard = backend.from_numpy(np.random.default_rng(seed).standard_normal((n, dim)))
    factor: Any = psd_factor(sigma, backend)
    return backend.to_output(mu + standard @ backend.transpose(factor))
