"""Helpers shared by the metric modules: input checks, bootstrap, uncertainties, warnings."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

__all__ = [
    "SmallSampleWarning",
    "as_traces",
    "binomial_rate",
    "bootstrap_weights",
    "rate_ratio",
    "warn_small",
    "wasserstein_sorted",
    "wasserstein_with_uncertainty",
    "wilson_interval",
]

#: Fewest events above a threshold (in either set, scaled to the real size) for a rate
#: ratio to be judged at all.
MIN_RATE_COUNT = 3


class SmallSampleWarning(RuntimeWarning):
    """A metric was computed on too few events to mean much."""


def warn_small(n: int, minimum: int, what: str) -> bool:
    """Warn (and return True) when ``n`` is below ``minimum`` for the quantity ``what``."""
    if n < minimum:
        warnings.warn(f"{what}: {n} events is too few to mean much (want >= {minimum})",
                      SmallSampleWarning, stacklevel=3)
        return True
    return False


def as_traces(traces: np.ndarray) -> np.ndarray:
    """Return ``traces`` as a float array of shape ``(n_events, n_channels, n_samples)``."""
    arr = np.asarray(traces)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    if arr.ndim != 3:
        raise ValueError(f"traces must have shape (n_events, n_channels, n_samples), "
                         f"got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def bootstrap_weights(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multinomial bootstrap weights ``(n_boot, n)`` that sum to 1 per replicate.

    ``weights @ x`` gives the bootstrap replicates of the mean of the rows of ``x``
    in one matrix product.
    """
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    return counts / n


def binomial_rate(k: np.ndarray | int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rate ``k / n`` and its binomial standard error.

    The error uses the Laplace estimate ``(k + 1) / (n + 2)`` inside ``sqrt(p (1 - p) / n)``
    so that zero or all counts still get a non-zero uncertainty (about ``1 / n``).
    """
    k = np.asarray(k, dtype=np.float64)
    p = k / n
    p_l = (k + 1.0) / (n + 2.0)
    return p, np.sqrt(p_l * (1.0 - p_l) / n)


def wilson_interval(k: np.ndarray | int, n: int, z: float = 1.96,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial rate ``k / n`` (``z = 1.96``: 95 %).

    E. B. Wilson, J. Am. Stat. Assoc. 22 (1927) 209.
    """
    k = np.asarray(k, dtype=np.float64)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.maximum(centre - half, 0.0), np.minimum(centre + half, 1.0)


def rate_ratio(k_real: int, n_real: int, k_gen: int, n_gen: int,
               ) -> tuple[float, float, float, tuple[float, float], tuple[float, float]]:
    """Rate ratio generated / real of two binomial counts, on a log scale.

    Returns ``(ln_ratio, se, ratio, real_95, generated_95)``: ``ln((k_g/n_g) / (k_r/n_r))``
    with 0.5 added to each count, its delta-method standard error
    ``sqrt((1 - p_r)/k_r + (1 - p_g)/k_g)`` (independent samples of any sizes), the plain
    ratio and the two Wilson 95 % intervals. ``ln_ratio`` and ``se`` are NaN when fewer
    than :data:`MIN_RATE_COUNT` events are expected above the threshold in both sets
    (the generated count scaled to the real size): nothing there to compare.
    """
    real_95 = tuple(float(v) for v in wilson_interval(k_real, n_real))
    gen_95 = tuple(float(v) for v in wilson_interval(k_gen, n_gen))
    ratio = (k_gen / n_gen) / (k_real / n_real) if k_real > 0 else float("inf") \
        if k_gen > 0 else float("nan")
    if k_real < MIN_RATE_COUNT and k_gen * n_real / n_gen < MIN_RATE_COUNT:
        return float("nan"), float("nan"), ratio, real_95, gen_95
    kr, kg = k_real + 0.5, k_gen + 0.5
    pr, pg = kr / (n_real + 1.0), kg / (n_gen + 1.0)
    ln = float(np.log(pg / pr))
    se = float(np.sqrt(max(1 - pr, 0.0) / kr + max(1 - pg, 0.0) / kg))
    return ln, se, float(ratio), real_95, gen_95


def wasserstein_with_uncertainty(a: np.ndarray, b: np.ndarray, *, n_boot: int = 30,
                                 rng: np.random.Generator) -> tuple[float, float]:
    """1-Wasserstein distance of two 1-D samples and its bootstrap standard error.

    Non-finite values are dropped. Returns ``(nan, nan)`` when either sample is empty.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return float("nan"), float("nan")
    value = float(stats.wasserstein_distance(a, b))
    if n_boot < 2:
        return value, float("nan")
    boot_a = np.sort(a[rng.integers(0, a.size, (n_boot, a.size))], axis=-1)
    boot_b = np.sort(b[rng.integers(0, b.size, (n_boot, b.size))], axis=-1)
    return value, float(wasserstein_sorted(boot_a, boot_b).std(ddof=1))


def wasserstein_sorted(a_sorted: np.ndarray, b_sorted: np.ndarray) -> np.ndarray:
    """Exact 1-Wasserstein distance of empirical distributions given sorted samples.

    ``W1 = integral_0^1 |F_a^-1(u) - F_b^-1(u)| du``, evaluated on the union of the
    steps of both quantile functions; vectorised over leading axes (bootstrap replicates).
    """
    na, nb = a_sorted.shape[-1], b_sorted.shape[-1]
    u = np.unique(np.concatenate([np.arange(1, na + 1) / na, np.arange(1, nb + 1) / nb]))
    du = np.diff(u, prepend=0.0)
    ia = np.clip(np.ceil(u * na - 1e-9).astype(np.int64) - 1, 0, na - 1)
    ib = np.clip(np.ceil(u * nb - 1e-9).astype(np.int64) - 1, 0, nb - 1)
    return np.sum(du * np.abs(a_sorted[..., ia] - b_sorted[..., ib]), axis=-1)
