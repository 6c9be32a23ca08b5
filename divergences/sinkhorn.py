"""The debiased Sinkhorn divergence between two sample sets, through GeomLoss.

Entropic optimal transport smooths the exact transport problem by a
temperature ε = blur^p; its debiased form is a divergence that interpolates
between the exact Wasserstein cost (blur → 0) and the energy distance-like
MMD (blur → ∞), with gradients everywhere. The solver is GeomLoss's
``SamplesLoss`` (log-domain Sinkhorn with ε-scaling and the debiased
symmetric updates of Feydy et al. 2019), chosen over POT's Sinkhorn by a
measurement on this project's problems: see ``benchmarks/sinkhorn.py`` and
the benchmark page.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from divergences._backend import (
    ArrayLike,
    TorchBackend,
    bounding_box,
    largest_step,
    standardise,
    times_power_of_two,
)
from divergences._memory import refuse_beyond_memory
from divergences._validation import as_samples, backend_for, check_real, check_same_dimension

__all__ = ["sinkhorn_divergence"]

#: From this temperature on, relative to the samples' extent to the power p (the
#: largest half-width of their bounding box), the divergence is computed as its limit
#: blur -> infinity: the solver's softmins compute C / eps next to 1 and lose the
#: digits of C (float32 off by 1e-3 at 1e4, 0 at 1e8; float64 0 at 1e199), while the
#: limit is within about 0.2 / ratio of the value (measured: see the Notes).
LIMIT_FROM_FLOAT64, LIMIT_FROM_FLOAT32 = 1e4, 1e3

#: Bytes per entry of the (n + m) x (n + m) pairwise table that GeomLoss's tensorized
#: backend holds at once: the three cost matrices and the softmin temporaries, float64.
BYTES_PER_PAIR = 48

#: Powers of two kept this far inside the working dtype's exponent range let autograd
#: chain the rescalings as they are (upstream gradients and the solver's gradient, of
#: order 1/n, have room); beyond, the two factors are merged (see _in_sample_units).
_GRADIENT_HEADROOM = 32


def _check_memory(n: int, m: int, memory_limit: float | None) -> None:
    needed = BYTES_PER_PAIR * (n + m) ** 2
    refuse_beyond_memory(
        needed,
        memory_limit,
        lambda limit, origin: (
            f"a Sinkhorn divergence between {n} and {m} samples needs about "
            f"{needed / 1e9:.2f} GB (the pairwise cost matrices), more than the "
            f"{limit / 1e9:.2f} GB allowed ({origin}). Subsample, raise memory_limit (in "
            "bytes), or use wasserstein_dual or sliced_wasserstein."
        ),
    )


def check_options(blur: Any, p: Any, scaling: Any) -> tuple[float, int, float]:
    """``blur``, ``p`` and ``scaling`` checked; a ValueError or TypeError names the bad one."""
    blur = check_real(blur, "blur", minimum=0.0)
    if not blur > 0:
        raise ValueError(f"blur must be positive; got {blur}")
    if isinstance(p, bool) or p not in (1, 2):
        raise ValueError(f"p must be 1 or 2; got {p!r}")
    scaling = check_real(scaling, "scaling", minimum=0.0)
    if not 0 < scaling < 1:
        raise ValueError(f"scaling must lie strictly between 0 and 1; got {scaling}")
    return blur, int(p), scaling


def sinkhorn_divergence(
    x: ArrayLike,
    y: ArrayLike,
    *,
    blur: float = 0.05,
    p: int = 1,
    scaling: float = 0.95,
    memory_limit: float | None = None,
) -> Any:
    r"""The debiased Sinkhorn divergence :math:`S_\varepsilon` between two sample sets.

    .. math::

        S_\varepsilon(P, Q) = \mathrm{OT}_\varepsilon(P, Q)
        - \tfrac12 \mathrm{OT}_\varepsilon(P, P) - \tfrac12 \mathrm{OT}_\varepsilon(Q, Q),

    where :math:`\mathrm{OT}_\varepsilon(P, Q) = \min_{\gamma \in \Pi(P, Q)}
    \int c \, d\gamma + \varepsilon\, \mathrm{KL}(\gamma \,\|\, P \otimes Q)`
    with the cost :math:`c(x, y) = \|x - y\|` for ``p = 1`` and
    :math:`\|x - y\|^2 / 2` for ``p = 2``, and the temperature
    :math:`\varepsilon = \mathrm{blur}^p`. :math:`S_\varepsilon \ge 0`, with
    equality only for P = Q; it tends to :math:`W_1` (``p = 1``) or
    :math:`W_2^2 / 2` (``p = 2``) as ``blur`` → 0, and to an MMD as ``blur`` → ∞.

    Parameters
    ----------
    x : (n, d) or (n,) array-like or torch.Tensor
        Samples of P (uniform weights); a 1-D array means ``d = 1``.
    y : (m, d) or (m,) array-like or torch.Tensor
        Samples of Q, same ``d``.
    blur : float, default 0.05
        The length scale :math:`\varepsilon^{1/p}` below which the divergence
        no longer resolves the geometry, in the units of the samples; > 0.
    p : {1, 2}, default 1
        The cost's exponent.
    scaling : float, default 0.95
        GeomLoss's ε-scaling ratio in (0, 1): the temperature is lowered by
        this factor per iteration from the data's diameter down to
        :math:`\varepsilon`, and the last iterate is not run to convergence.
        Nearer 1 is more accurate and slower. Measured against a converged
        log-domain Sinkhorn (two Gaussians a unit apart, 256 samples a side,
        ``benchmarks/sinkhorn.py``): at blur 0.05, 0.95 is 0.95% low, 0.9 4.1%,
        GeomLoss's own default 0.5 25%; at blur 0.5, 0.04%, 0.14% and 0.9%.
        :class:`~divergences.losses.SinkhornLoss` defaults to 0.5 instead: a
        loss is called and differentiated at every training step, and needs
        speed and a gradient's direction more than the value's last digits,
        while this function measures (the generators benchmark page, the
        Sinkhorn solver, gives the time of each setting).
    memory_limit : float, optional
        Bytes the solver may use; by default half the available memory.

    Returns
    -------
    float or torch.Tensor
        :math:`S_\varepsilon`. For tensors, a 0-dim tensor in their dtype, on
        their device, with autograd to both sets.

    Raises
    ------
    ValueError
        On NaN or inf, empty samples, sets of different dimension, tensors on
        different devices, ``blur <= 0``, ``p`` other than 1 or 2, ``scaling``
        outside (0, 1); where the divergence is positive but not a normal number
        of the output dtype (beyond its largest number, or below its smallest
        normal one, where it would keep fewer digits: ``p = 2`` squares the
        scale, so float64 samples at 1e155 or 1e-200 are refused, float32 ones
        from about 1e19 or 1e-19); and where the temperature ``blur^p`` is so
        small against the samples' costs that the solver's quotients
        :math:`C / \varepsilon` would overflow the working dtype (below about
        1e-307 times the largest cost in float64, 1e-37 in float32).
    TypeError
        If an input is not an array of real numbers.
    ProblemTooLargeError
        If the ``(n + m)^2`` pairwise tables would need more memory than
        allowed (about 48 bytes each), decided from the shapes before any
        computation.

    Notes
    -----
    **Scale.** The samples are translated and scaled together by a power of
    two first (exactly, in steps that stay inside the dtype), and ``blur``
    with them, and the costs are computed from coordinate differences, so
    :math:`S` is homogeneous of degree ``p`` in the samples and ``blur``
    together in floating point too: ``sinkhorn_divergence(s*x, s*y,
    blur=s*b, p=p)`` is ``s**p * sinkhorn_divergence(x, y, blur=b, p=p)`` to
    1e-9 relative in float64 (float32: to its rounding) wherever both are
    representable, and a ``ValueError`` (never an inf, a 0 or a drifted
    value) where the result is not. The gradient follows: in the samples it
    is :math:`s^{p-1}` times the unit-scale one, finite wherever that number
    is representable (at scales where the chain of factors :math:`2^{pk}`
    and :math:`2^{-k}` would leave the working dtype, they are merged into
    one). The gradient is first-order only: the costs' backward (torch's
    ``cdist``) has no derivative, so a second derivative raises an error
    rather than give a number.

    **Equal sets.** Where all the points of both sets are one point, or
    ``x`` and ``y`` hold the same samples, the divergence is exactly 0 with a
    zero gradient (its minimum), without calling the solver.

    **Dtypes.** numpy inputs compute in float64; float32 and float64 tensors
    in their own dtype, float16 and bfloat16 in float32, with the result (and
    the check above) in their own dtype.

    **Large blur.** As blur → ∞ the divergence tends to half the MMD with
    the kernel :math:`-C` (Feydy et al. 2019): half the energy distance
    (:func:`~divergences.energy_distance`) for ``p = 1``,
    :math:`\|\bar x - \bar y\|^2 / 2` for ``p = 2``, within about
    :math:`0.2\,(\mathrm{extent}^p / \varepsilon)` relative. From
    :math:`\varepsilon` = 10^4 times the samples' extent to the power p (10^3 in
    float32; the extent is the largest half-width of their bounding box) that
    limit is returned, with its gradient: there the solver's softmins
    round the cost away against ε (float32 is 0.2% off at 10^5 and returns 0
    from 10^8; float64 returns 0 for data at 10^-200 with the default blur).

    **Gradient on disjoint supports.** For P on the segment
    :math:`\{0\} \times [0, 1]` and Q its translate by θ, the gradient in θ
    tends to :math:`\operatorname{sign}\theta` (``p = 1``) as ``blur`` → 0,
    like W1's; at a positive blur it bends smoothly to 0 for :math:`|\theta|`
    below about ``blur``. It never vanishes at θ ≠ 0.

    Cost: :math:`O((n + m)^2 d)` per iteration, about
    :math:`\log(\mathrm{diameter} / \mathrm{blur}) / (1 - \mathrm{scaling})`
    iterations, on the tensors' device (numpy inputs run in float64 on the CPU).

    References
    ----------
    Feydy, J., Séjourné, T., Vialard, F.-X., Amari, S., Trouvé, A. and Peyré, G.
    (2019). Interpolating between optimal transport and MMD using Sinkhorn
    divergences. *AISTATS*.

    Examples
    --------
    >>> import numpy as np
    >>> import divergences as dv
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(size=(400, 1))
    >>> round(dv.sinkhorn_divergence(x, x + 2.0, blur=0.01), 2)  # W1 = 2
    2.0
    >>> dv.sinkhorn_divergence(x, x, blur=0.01)
    0.0
    """
    import torch

    blur, p, scaling = check_options(blur, p, scaling)
    if memory_limit is not None:
        memory_limit = check_real(memory_limit, "memory_limit", minimum=0.0)
    given = backend_for(x=x, y=y)
    # numpy in: float64 tensors on the CPU, and a float back
    backend = (
        given
        if isinstance(given, TorchBackend)
        else TorchBackend(torch.float64, torch.device("cpu"))
    )
    samples_x = as_samples(x, "x", backend)
    samples_y = as_samples(y, "y", backend)
    check_same_dimension(samples_x, samples_y)
    n, m = samples_x.shape[0], samples_y.shape[0]
    _check_memory(n, m, memory_limit)
    # GeomLoss works in float32 or float64; half precision is computed in float32.
    working = torch.float64 if backend.dtype == torch.float64 else torch.float32
    inputs = [samples_x.to(working), samples_y.to(working)]
    (scaled_x, scaled_y), exponent = standardise(inputs, backend.with_dtype(working))
    scaled_x, scaled_y = (
        _in_solver_units(scaled, original, exponent, p)
        for scaled, original in zip((scaled_x, scaled_y), inputs, strict=True)
    )
    value = _standardised_divergence(
        scaled_x, scaled_y, exponent, backend, blur, p, scaling, working
    )
    value = _in_sample_units(value, exponent, p, backend.output_dtype)
    if not isinstance(given, TorchBackend):
        return float(value)
    return backend.to_output(value)


#: Bytes of GeomLoss's tables per batch of splits in :func:`split_divergences`.
_SPLIT_BATCH_BYTES = 1 << 28


def split_divergences(
    pooled: np.ndarray, masks: np.ndarray, *, blur: float = 0.05, p: int = 1, scaling: float = 0.95
) -> np.ndarray:
    """The Sinkhorn divergence of each split of one pooled sample, many splits per solve.

    ``pooled`` is (N, d) float64, ``masks`` (b, N) boolean with the same number of
    True (first set) per row. Row i's value is ``sinkhorn_divergence(pooled[masks[i]],
    pooled[~masks[i]], ...)`` to the last bit: both sets of any split have the pooled
    sample's bounding box, hence the same standardisation and GeomLoss the same
    ε schedule, and the splits run as GeomLoss's batch axis, in batches of about
    256 MiB of tables. No autograd (for permutation tests).
    """
    import torch

    blur, p, scaling = check_options(blur, p, scaling)
    count = pooled.shape[0]
    sizes = masks.sum(axis=1)
    n = int(sizes[0])
    if not np.all(sizes == n):
        raise ValueError("every row of masks must hold the same number of True entries")
    backend = TorchBackend(torch.float64, torch.device("cpu"))
    (scaled,), exponent = standardise([torch.from_numpy(pooled)], backend)
    batch = max(1, _SPLIT_BATCH_BYTES // (BYTES_PER_PAIR * count**2))
    values = []
    with torch.no_grad():
        for start in range(0, masks.shape[0], batch):
            rows = masks[start : start + batch]
            first = torch.from_numpy(np.nonzero(rows)[1].reshape(len(rows), n))
            second = torch.from_numpy(np.nonzero(~rows)[1].reshape(len(rows), count - n))
            value = _standardised_divergence(
                scaled[first], scaled[second], exponent, backend, blur, p, scaling, torch.float64
            )
            values.append(value.numpy())
    result = np.concatenate(values)
    for number in result[result > 0]:
        _check_representable(float(number), p * exponent, p, torch.float64)
    return np.ldexp(result, p * exponent)


def _standardised_divergence(
    x: Any, y: Any, exponent: int, backend: Any, blur: float, p: int, scaling: float, working: Any
) -> Any:
    """S between sets standardised together (units of ``2**exponent``): (n, d) and (m, d)
    tensors give a scalar, (B, n, d) and (B, m, d) batches B values (GeomLoss's batch
    axis, with the diameter, and so the ε schedule, of all the batch's points)."""
    low, high = bounding_box([x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])], backend)
    half_width = float(np.max(high / 2 - low / 2))  # in (1/2, 1], or 0
    # P = Q (one Dirac for both, or the same samples): S = 0 is its minimum, so the
    # gradient is 0 too. GeomLoss cannot take the first (its schedule starts at the
    # log of a zero diameter).
    zero = 0.0 * (x.sum(dim=(-2, -1)) + y.sum(dim=(-2, -1))) + 0.0  # + 0.0: never -0.0
    if half_width == 0:
        return zero
    if x.shape == y.shape:
        same = (x == y).flatten(-2).all(dim=-1)
    else:
        same = _torch().zeros_like(zero, dtype=_torch().bool)
    if bool(same.all()):
        return zero
    # eps / extent^p (log2), from logarithms: eps and the extent themselves can leave
    # the float range where their ratio does not
    temperature = p * (math.log2(blur) - exponent - math.log2(half_width))
    limit_from = LIMIT_FROM_FLOAT64 if working == _torch().float64 else LIMIT_FROM_FLOAT32
    # the same floor, relative to extent^p: the solver works in units of 2^exponent
    floor = _smallest_temperature(float(np.linalg.norm(high - low)), p, working)
    floor -= p * math.log2(half_width)
    if temperature >= math.log2(limit_from):
        if x.dim() == 2:
            return _large_blur_limit(x, y, p)
        return _torch().stack([_large_blur_limit(a, b, p) for a, b in zip(x, y, strict=True)])
    if temperature < floor:
        extent = math.ldexp(half_width, exponent)
        raise ValueError(_unresolvable_blur(blur, p, temperature, floor, extent, working))
    from geomloss import SamplesLoss

    loss = SamplesLoss(
        "sinkhorn",
        p=p,
        blur=math.ldexp(blur, -exponent),
        scaling=scaling,
        debias=True,
        cost=_COSTS[p],
        backend="tensorized",
    )
    value = loss(x.contiguous(), y.contiguous())
    # debiasing cancels exactly at P = Q, up to rounding of either sign
    return _torch().where(same, zero, _torch().clamp(value, min=0.0))


def _exact_distances(x: Any, y: Any) -> Any:
    """|x_i - y_j| from the coordinate differences, for GeomLoss's (B, N, D) batches.

    GeomLoss's own cost takes the square root of the matrix-product form
    |x|^2 + |y|^2 - 2 x.y clamped at 1e-8: distances below 1e-4 (in the units the
    solver sees) become 1e-4 and the rest carry the form's rounding, which does not
    scale with the data, so the divergence of s x and s y drifted from s times that
    of x and y by 5e-5. From the differences the cost scales with the samples to the
    last bit, and its gradient is 0 (not NaN) where two points coincide.
    """
    return _torch().cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist")


def _half_squared_distances(x: Any, y: Any) -> Any:
    """|x_i - y_j|^2 / 2 from the coordinate differences (see :func:`_exact_distances`)."""
    return _exact_distances(x, y).square() / 2


#: GeomLoss's cost for each p: |x - y| and |x - y|^2 / 2, computed from differences.
_COSTS = {1: _exact_distances, 2: _half_squared_distances}


def _torch() -> Any:
    import torch

    return torch


def _safe_for_autograd(exponent: int, p: int, dtype: Any) -> bool:
    """Whether the factors 2^(p k) (output) and 2^-k (input) keep the gradients that
    autograd chains through them inside ``dtype``'s range, with headroom."""
    room = largest_step(_torch().zeros((), dtype=dtype)) - _GRADIENT_HEADROOM
    return abs(p * exponent) <= room and abs(exponent) <= room


def _in_solver_units(scaled: Any, original: Any, exponent: int, p: int) -> Any:
    """The standardised samples, with a gradient autograd can carry back to ``original``.

    The divergence is 2^(p k) S(x / 2^k), so its gradient in x is 2^((p - 1) k) times
    the solver's gradient. Chained as autograd would, the upstream gradient is first
    multiplied by 2^(p k) and later by 2^-k, and the first factor leaves the range of
    float32 at p = 1 for data beyond 2^127 (at p = 2 beyond 2^64) where the gradient
    itself does not. There the samples carry the merged factor instead, and the output
    passes its gradient through unchanged (:func:`_in_sample_units`).
    """
    if not original.requires_grad or _safe_for_autograd(exponent, p, scaled.dtype):
        return scaled
    return _scaled_gradient().apply(scaled.detach(), original, (p - 1) * exponent)


def _in_sample_units(value: Any, exponent: int, p: int, output_dtype: Any) -> Any:
    """``value * 2^(p k)``, the divergence in the samples' units; a ValueError where it
    is positive but not a normal number of ``output_dtype``."""
    number = float(value.detach())
    if number > 0:
        _check_representable(number, p * exponent, p, output_dtype)
    if not value.requires_grad or _safe_for_autograd(exponent, p, value.dtype):
        return times_power_of_two(value, p * exponent)
    # the samples carry the whole factor of the gradient (see _in_solver_units)
    return _scaled_gradient().apply(times_power_of_two(value.detach(), p * exponent), value, 0)


def _check_representable(number: float, shift: int, p: int, dtype: Any) -> None:
    """Refuse ``number * 2**shift`` where ``dtype`` holds it only as inf, 0 or a
    subnormal number (which keeps fewer digits than the dtype's precision)."""
    info = _torch().finfo(dtype)
    mantissa, power = math.frexp(number)
    log2_value = math.log2(mantissa) + power + shift
    dtype_name = str(dtype).replace("torch.", "")
    advice = "rescale the samples" + (
        "" if dtype_name == "float64" else ", or pass float64 tensors"
    )
    where = "the cost |x - y|^2 / 2 squares their scale; " if p == 2 else ""
    if log2_value > math.log2(float(info.max)):
        raise ValueError(
            f"the Sinkhorn divergence of these samples (about 2^{log2_value:.0f}) exceeds "
            f"the range of {dtype_name} (largest {float(info.max):.4g}); {where}{advice}"
        )
    if log2_value < math.log2(float(info.tiny)):
        raise ValueError(
            f"the Sinkhorn divergence of these samples (about 2^{log2_value:.0f}) is below "
            f"the smallest normal {dtype_name} number ({float(info.tiny):.4g}), where it "
            f"would lose its digits; {where}{advice}"
        )


def _smallest_temperature(diameter: float, p: int, dtype: Any) -> float:
    """log2 of the smallest temperature the solver resolves in ``dtype``, in its units.

    Its softmins compute ``-eps * logsumexp(g / eps - C / eps)`` with costs up to
    ``diameter^p / p`` (GeomLoss's diameter: that of the samples' bounding box) and
    potentials of the same size: the quotients must stay below the dtype's largest
    number, with room for their sum, and ``eps`` itself a normal number.
    """
    info = _torch().finfo(dtype)
    largest_cost = p * math.log2(diameter) - math.log2(p)
    return max(math.log2(float(info.tiny)), largest_cost + 2 - math.log2(float(info.max)))


def _unresolvable_blur(
    blur: float, p: int, temperature: float, floor: float, extent: float, working: Any
) -> str:
    """The error for a temperature too small for the working dtype at the samples' scale."""
    dtype_name = str(working).replace("torch.", "")
    advice = "increase blur" + ("" if dtype_name == "float64" else ", or pass float64 tensors")
    return (
        f"blur = {blur:.4g} is too small for samples of extent {extent:.4g} (the largest "
        f"half-width of their bounding box) in {dtype_name}: the temperature blur^{p} is "
        f"2^{temperature:.0f} times extent^{p}, below 2^{floor:.0f}, the smallest at which the "
        f"solver's softmins (which divide the costs by it) stay finite; {advice}"
    )


@functools.cache
def _scaled_gradient() -> Any:
    """The autograd function behind :func:`_in_solver_units` (defined on first use, so
    that importing the module does not import torch)."""
    import torch

    class ScaledGradient(torch.autograd.Function):
        """``value`` (computed outside autograd) as a function of ``source`` whose
        Jacobian is ``2**exponent`` times the identity."""

        @staticmethod
        def forward(value: Any, source: Any, exponent: int) -> Any:
            return value.view_as(value)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.exponent = inputs[2]

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, grad: Any) -> tuple[Any, ...]:
            # once_differentiable: a second derivative would see each sample's factor
            # twice and the output's never, so it is an error rather than a wrong number
            return None, times_power_of_two(grad, ctx.exponent), None

    return ScaledGradient


def _large_blur_limit(x: Any, y: Any, p: int) -> Any:
    """The Sinkhorn divergence's limit as blur -> infinity, half the MMD with the kernel -C
    (Feydy et al. 2019, Theorem 1): half the energy distance for p = 1, and
    |mean x - mean y|^2 / 2 for p = 2 (the cost |x - y|^2 / 2), with autograd."""
    if p == 2:
        return 0.5 * (x.mean(dim=0) - y.mean(dim=0)).square().sum()
    from divergences.energy import energy_distance

    return 0.5 * energy_distance(x, y)
