"""Cross-channel structure: maximum normalised cross-correlation per pair; zero-lag matrix."""

from __future__ import annotations

import numpy as np

from ._common import as_traces, bootstrap_weights

__all__ = [
    "channel_pairs",
    "correlation_difference",
    "correlation_matrix",
    "max_normalised_xcorr",
    "zero_lag_products",
]


def channel_pairs(n_channels: int, *, max_all: int = 8) -> list[tuple[int, int]]:
    """Channel-row pairs compared: all pairs up to ``max_all`` channels, else neighbours."""
    if n_channels <= max_all:
        return [(i, j) for i in range(n_channels) for j in range(i + 1, n_channels)]
    return [(i, i + 1) for i in range(n_channels - 1)]


def max_normalised_xcorr(traces: np.ndarray, sampling_rate: float,
                         pairs: list[tuple[int, int]], *, max_lag: float = 20e-9,
                         chunk: int = 256, return_lag: bool = False,
                         ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Per event and pair, ``max |c(tau)|`` over ``|tau| <= max_lag``.

    ``c(tau) = sum_t x_i(t) x_j(t + tau) / sqrt(sum x_i^2 sum x_j^2)`` (no mean removal,
    zero padding), so ``|c| <= 1``.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n_events, n_channels, n_samples)`` in volts.
    sampling_rate : float, Hz
        Sampling rate.
    pairs : list of (int, int)
        Channel rows to correlate.
    max_lag : float, s
        Lag window half-width.

    return_lag : bool
        Also return the lag (s) of the maximum.

    Returns
    -------
    numpy.ndarray
        ``(n_events, n_pairs)``; with ``return_lag`` also the lags, s, same shape
        (positive: channel ``i`` later than channel ``j``).
    """
    x = as_traces(traces)
    n_ev, _, n = x.shape
    out = np.empty((n_ev, len(pairs)))
    lags = np.zeros((n_ev, len(pairs)))
    if not pairs:
        return (out, lags) if return_lag else out
    lag = max(0, min(n - 1, int(round(max_lag * sampling_rate))))
    n_fft = 1 << int(np.ceil(np.log2(2 * n)))
    first = np.array([p[0] for p in pairs])
    second = np.array([p[1] for p in pairs])
    # cross[k] = sum_t x_i(t) x_j(t - k): a peak at k > 0 means channel i is later by k
    lag_axis = np.concatenate([np.arange(lag + 1), np.arange(-lag, 0)]).astype(np.float64)
    for lo in range(0, n_ev, chunk):
        block = x[lo:lo + chunk].astype(np.float64)
        spec = np.fft.rfft(block, n=n_fft, axis=-1)
        energy = np.sum(block * block, axis=-1)
        cross = np.fft.irfft(spec[:, first] * np.conj(spec[:, second]), n=n_fft, axis=-1)
        window = np.concatenate([cross[..., :lag + 1], cross[..., n_fft - lag:]], axis=-1)
        norm = np.sqrt(energy[:, first] * energy[:, second])
        arg = np.abs(window).argmax(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lo:lo + chunk] = np.take_along_axis(np.abs(window), arg[..., None],
                                                    axis=-1)[..., 0] / norm
        lags[lo:lo + chunk] = lag_axis[arg] / sampling_rate
    return (out, lags) if return_lag else out


def zero_lag_products(traces: np.ndarray) -> np.ndarray:
    """Per-event sums of products ``sum_t x_i x_j``: ``(n_events, n_channels, n_channels)``."""
    x = as_traces(traces).astype(np.float64)
    return np.einsum("eit,ejt->eij", x, x, optimize=True)


def correlation_matrix(products: np.ndarray) -> np.ndarray:
    """Zero-lag correlation matrix from summed products ``(..., n_channels, n_channels)``."""
    diag = np.sqrt(np.diagonal(products, axis1=-2, axis2=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return products / (diag[..., :, None] * diag[..., None, :])


def correlation_difference(products_a: np.ndarray, products_x: np.ndarray, *,
                           n_boot: int = 30, seed: int = 0) -> tuple[float, float]:
    """Largest off-diagonal ``|C_x - C_a|`` of the zero-lag correlation matrices.

    Parameters
    ----------
    products_a, products_x : numpy.ndarray
        Per-event products from :func:`zero_lag_products`.

    Returns
    -------
    (value, uncertainty)
        Bootstrap (over events) standard error; NaN for a single channel.
    """
    n_ch = products_a.shape[-1]
    if n_ch < 2:
        return float("nan"), float("nan")
    iu = np.triu_indices(n_ch, 1)

    def stat(pa: np.ndarray, px: np.ndarray) -> np.ndarray:
        diff = correlation_matrix(px) - correlation_matrix(pa)
        return np.abs(diff[..., iu[0], iu[1]]).max(axis=-1)

    value = float(stat(products_a.sum(0), products_x.sum(0)))
    rng = np.random.default_rng(seed)
    shape = products_a.shape[1:]
    ba = (bootstrap_weights(len(products_a), n_boot, rng) @
          products_a.reshape(len(products_a), -1)).reshape((n_boot, *shape))
    bx = (bootstrap_weights(len(products_x), n_boot, rng) @
          products_x.reshape(len(products_x), -1)).reshape((n_boot, *shape))
    return value, float(stat(ba, bx).std(ddof=1))
