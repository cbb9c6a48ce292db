"""The validation score used to keep the best weights during training.

A cheap, scalar "lower is better" distance between held-out real traces and generated
traces: the sum of a spectral term (mean |dB| of the Welch PSD ratio in the passband)
and distribution terms that a Gaussian model cannot fake (amplitude values, per-event
peak-to-RMS, per-event RMS, 128-sample block means), each a 1-Wasserstein distance in
units of the real spread.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

from .dsp import welch_psd

__all__ = ["validation_score"]


def _w1(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    return float(wasserstein_distance(a.ravel(), b.ravel()) / max(scale, 1e-12))


def validation_score(real: np.ndarray, generated: np.ndarray, sampling_rate: float,
                     *, block: int = 128) -> float:
    """Scalar distance between ``real`` and ``generated`` traces ``(n, C, T)``; lower is better.

    Parameters
    ----------
    real, generated : numpy.ndarray
        Traces (any consistent units) of the same layout.
    sampling_rate : float
        Hz.
    block : int
        Digitizer block length in samples.
    """
    _, p_real = welch_psd(real, sampling_rate)
    _, p_gen = welch_psd(generated, sampling_rate)
    mean_real, mean_gen = p_real.mean(0), p_gen.mean(0)  # (C, F)
    band = mean_real >= mean_real.max(axis=-1, keepdims=True) * 0.1
    ratio_db = 10 * np.log10((mean_gen[band] + 1e-30) / (mean_real[band] + 1e-30))
    score = float(np.mean(np.abs(ratio_db)))
    rms_r = np.sqrt((real ** 2).mean(-1))  # (n, C)
    rms_g = np.sqrt((generated ** 2).mean(-1))
    sigma = rms_r.mean(0)
    peak_r = np.abs(real).max(-1) / sigma
    peak_g = np.abs(generated).max(-1) / sigma
    for c in range(real.shape[1]):
        score += _w1(real[:, c], generated[:, c], sigma[c])
        score += _w1(peak_r[:, c], peak_g[:, c], peak_r[:, c].std())
        score += _w1(rms_r[:, c], rms_g[:, c], rms_r[:, c].std())
        if real.shape[-1] % block == 0:
            br = real[:, c].reshape(real.shape[0], -1, block).mean(-1)
            bg = generated[:, c].reshape(generated.shape[0], -1, block).mean(-1)
            score += _w1(br.std(-1), bg.std(-1), br.std(-1).std() + 1e-12)
    return score
