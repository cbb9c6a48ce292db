"""A learned random envelope: non-stationary Gaussian noise whose per-event spectral and
temporal modulation is drawn from a distribution fitted to the data.

Recorded noise changes from event to event in ways no list of components anticipates:
the gain of the signal chain drifts, the spectrum changes shape with temperature,
galactic noise follows the sky, wind and man-made bursts raise the power in some bands
for part of a trace. This component captures all of them with one general description:
each event's background is the stationary Gaussian noise of
:class:`~rnognoise.models.physics.Background`, multiplied

- in frequency by a per-event, per-channel gain, one per band of ``n_bands`` bands of
  the passband (the event's band powers; equal bands, or, on request, edges moved where
  two parts of a band vary unlike each other from event to event,
  :func:`adapt_band_edges`), and
- in time by a smooth per-event, per-channel envelope over ``n_windows`` windows, of unit
  mean power (the event's non-stationarity: bursts, changing RMS within the trace).

The per-event log gains ``s`` (``C * (n_bands + n_windows)`` numbers) are measured on the
training events as log band powers and log window powers. Their distribution is the
distribution of the true envelopes convolved with the sampling noise of the power
estimates, which is measured by applying the same estimator to stationary Gaussian noise
drawn from the fitted background. Only the directions in which the data vary more than
that noise are modelled (generalised eigenvectors of the data and noise covariances
whose eigenvalue exceeds the Marchenko-Pastur edge), and there a Gaussian mixture is
fitted (number of components by BIC), then deconvolved by subtracting the noise
covariance from every mixture component. A mixture component is a latent per-event
"noise class" (quiet, bursty, loud); rare classes get their own component.

Without any of this structure in the data no direction passes the edge and the
component switches itself off: the model stays the stationary Gaussian.

References
----------
V. A. Marchenko, L. A. Pastur, "Distribution of eigenvalues for some sets of random
matrices", Math. USSR-Sbornik 1, 457 (1967).
G. Schwarz, "Estimating the dimension of a model", Ann. Statist. 6, 461 (1978) (BIC).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from .spectral import OUTLIER_POWER

__all__ = ["EDGE_SIGNIFICANCE", "MAX_REMOVED_LINES", "OUTLIER_LEVEL", "Envelope",
           "adapt_band_edges", "envelope_features", "quinn_offset", "sinusoid_spectrum"]

#: Bins of a band above this multiple of the band's Gaussian mean power (its median /
#: ln 2) do not count in its level: the threshold of the background's coherence
#: (:data:`~rnognoise.models.spectral.OUTLIER_POWER`, probability e^-10 for a Gaussian bin).
OUTLIER_LEVEL = OUTLIER_POWER


def _band_edges(lo: int, hi: int, n_bands: int) -> np.ndarray:
    """Bin edges of ``n_bands`` equal bands covering bins ``lo..hi-1``."""
    return np.unique(np.round(np.linspace(lo, hi, n_bands + 1)).astype(np.int64))


def _band_membership(edges: np.ndarray, n_points: int) -> torch.Tensor:
    """``(len(edges) - 1, n_points)`` ones where a point lies in a band ``edges[b] ..
    edges[b + 1] - 1`` (points before the first band in the first, after the last in the
    last), zeros elsewhere."""
    band = np.clip(np.searchsorted(edges, np.arange(n_points), side="right") - 1,
                   0, len(edges) - 2)
    member = np.zeros((len(edges) - 1, n_points), dtype=np.float32)
    member[band, np.arange(n_points)] = 1.0
    return torch.from_numpy(member)


def _interpolation_matrix(centres: np.ndarray, n_points: int) -> torch.Tensor:
    """``(len(centres), n_points)`` weights of piecewise-linear interpolation of values at
    ``centres`` onto ``0..n_points-1`` (constant beyond the first and last centre)."""
    k = len(centres)
    grid = np.arange(n_points, dtype=np.float64)
    weights = np.zeros((k, n_points))
    if k == 1:
        weights[0] = 1.0
        return torch.from_numpy(weights).float()
    for j in range(k):
        unit = np.zeros(k)
        unit[j] = 1.0
        weights[j] = np.interp(grid, centres, unit)
    return torch.from_numpy(weights).float()


#: Strongest lines per event and channel removed before the band levels are taken.
MAX_REMOVED_LINES = 8
#: Significance, in standard errors, of the difference between the event-to-event
#: variations of two parts of a band that moves a band edge (:func:`adapt_band_edges`).
EDGE_SIGNIFICANCE = 5.0
#: The most unlike, in standard errors, two adjacent bands may vary and still be merged
#: to make room for a split (1.0 moved the same edges on the sets measured but one).
MERGE_SIGNIFICANCE = 2.5
#: Fewest bins in a band made by a split.
MIN_BAND_BINS = 4


class _BandPowers:
    """Per-event log median powers of any run of bins ``lo..hi-1`` ``(n, C)``, without
    the bins outside ``keep`` (known lines), of the first ``max_events`` events.

    The median, not the mean: a feature covering most of the run moves it, a narrow one
    (a carrier not taken for a line, a known line's leakage beyond its masked bins) does
    not, and the lines are the lines' to describe."""

    def __init__(self, traces: torch.Tensor, keep: torch.Tensor, max_events: int = 1000,
                 chunk: int = 256) -> None:
        traces = traces[:max_events]
        self.keep = keep
        self.power = torch.cat([torch.fft.rfft(traces[lo:lo + chunk].double(), dim=-1)
                                .abs().square().float()
                                for lo in range(0, traces.shape[0], chunk)])

    def log_power(self, lo: int, hi: int) -> torch.Tensor:
        sel = self.power[..., lo:hi][..., self.keep[lo:hi]]
        return sel.median(-1).values.clamp_min(1e-30).log()

    def bins(self, lo: int, hi: int) -> float:
        return float(self.keep[lo:hi].sum())


def _unlike(data: _BandPowers, noise: _BandPowers, lo: int, mid: int, hi: int) -> float:
    """How differently bins ``lo..mid-1`` and ``mid..hi-1`` vary from event to event, in
    standard errors: the variance of the difference of their log powers in the data
    beyond that in stationary noise (the estimator's own), summed over the channels."""
    if min(data.bins(lo, mid), data.bins(mid, hi)) < 2:
        return 0.0
    var_d = (data.log_power(lo, mid) - data.log_power(mid, hi)).double().var(0)
    var_n = (noise.log_power(lo, mid) - noise.log_power(mid, hi)).double().var(0)
    n, m = data.power.shape[0], noise.power.shape[0]
    se = (2.0 * var_d.square() / (n - 1) + 2.0 * var_n.square() / (m - 1)).sum().sqrt()
    return float((var_d - var_n).sum() / se.clamp_min(1e-30))


def adapt_band_edges(data: torch.Tensor, noise: torch.Tensor, edges: np.ndarray,
                     keep: torch.Tensor, significance: float = EDGE_SIGNIFICANCE,
                     min_bins: int = MIN_BAND_BINS) -> np.ndarray:
    """Band edges where the data's event-to-event variation changes, as many as given.

    Equal bands miss a feature narrower than a band whose power changes from event to
    event on its own (pickup or a burst confined to a few tens of MHz at the edge of the
    passband): the band's gain is an average of the feature and the noise beside it, and
    the drawn envelope spreads the feature's variation over the band (a pickup band
    drawn with two thirds of its spread in log power). Starting from ``edges``, the
    band whose two halves vary most unlike each other (:func:`_unlike`, beyond
    ``significance`` standard errors) is split, and the two adjacent bands that vary most
    alike (below :data:`MERGE_SIGNIFICANCE`) are merged to keep the number of bands; this
    repeats while both exist. Data whose bands vary alike (a gain, a smooth tilt) keep
    equal bands.

    Parameters
    ----------
    data : torch.Tensor
        Training traces ``(n, C, T)``.
    noise : torch.Tensor
        Stationary Gaussian traces ``(m, C, T)`` of the same spectrum (the estimator's
        own scatter).
    edges : numpy.ndarray
        Initial bin edges (``B + 1``, increasing).
    keep : torch.Tensor
        ``(F,)`` bool, bins that count (False at known lines).
    significance, min_bins : float, int
        Threshold of a split (of a merge: :data:`MERGE_SIGNIFICANCE`) and fewest bins of
        a split's halves.
    """
    keep = keep.to(data.device)
    d, r = _BandPowers(data, keep), _BandPowers(noise, keep)
    known: dict[tuple[int, int, int], float] = {}

    def unlike(lo: int, mid: int, hi: int) -> float:
        if (lo, mid, hi) not in known:          # most bands outlive a move: computed once
            known[lo, mid, hi] = _unlike(d, r, lo, mid, hi)
        return known[lo, mid, hi]

    out = [int(e) for e in edges]
    for _ in range(2 * len(out)):
        splits = [(unlike(lo, (lo + hi) // 2, hi), i)
                  for i, (lo, hi) in enumerate(itertools.pairwise(out)) if hi - lo >= 2 * min_bins]
        if not splits:
            break
        z_split, i = max(splits)
        if z_split < significance:
            break
        merges = [(unlike(out[j], out[j + 1], out[j + 2]), j)
                  for j in range(len(out) - 2) if i not in (j, j + 1)]
        if not merges:
            break
        z_merge, j = min(merges)
        if z_merge >= MERGE_SIGNIFICANCE:
            break
        mid = (out[i] + out[i + 1]) // 2
        del out[j + 1]
        out = sorted([*out, mid])
    return np.asarray(out, dtype=np.int64)


def quinn_offset(spec: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """Offset in bins, in ``[-0.5, 0.5]``, of a sinusoid's frequency from its loudest rfft
    bin, from the complex spectrum of an unwindowed trace (B. G. Quinn, "Estimating
    frequency by interpolation using Fourier coefficients", IEEE Trans. Signal Process.
    42, 1264 (1994), the first estimator).

    Parameters
    ----------
    spec : torch.Tensor
        ``(m, F)`` complex spectra.
    peak : torch.Tensor
        ``(m,)`` loudest bin of each (not the first or last bin).
    """
    rows = torch.arange(spec.shape[0], device=spec.device)
    centre = spec[rows, peak]
    safe = torch.where(centre.abs() > 0, centre, torch.ones_like(centre))
    a_lo = (spec[rows, peak - 1] / safe).real
    a_hi = (spec[rows, peak + 1] / safe).real
    d_lo = a_lo / (1.0 - a_lo)
    d_hi = -a_hi / (1.0 - a_hi)
    offset = torch.where((d_lo > 0) & (d_hi > 0), d_hi, d_lo)
    return torch.nan_to_num(offset, nan=0.0).clamp(-0.5, 0.5)


def sinusoid_spectrum(peak_value: torch.Tensor, frequency: torch.Tensor, n_samples: int,
                      n_freq: int) -> torch.Tensor:
    """rfft ``(m, F)`` of sinusoids of frequency ``frequency`` (in bins, ``(m,)``) whose
    transform at their nearest bin is ``peak_value`` ``(m,)`` (the positive-frequency
    part: the Dirichlet kernel ``1 / (1 - exp(2 pi i (f0 - k) / T))``, up to a constant)."""
    k = torch.arange(n_freq, dtype=torch.float64, device=frequency.device)
    nearest = torch.round(frequency)
    # a sinusoid exactly on a bin has no leakage: keep the kernel's ratios finite
    f0 = torch.where((frequency - nearest).abs() < 1e-6, nearest + 1e-6, frequency)

    def kernel(bins: torch.Tensor) -> torch.Tensor:
        phase = 2.0 * math.pi * (f0[:, None] - bins) / n_samples
        return 1.0 / (1.0 - torch.polar(torch.ones_like(phase), phase))

    return peak_value[:, None] * kernel(k[None]) / kernel(nearest[:, None])


def _remove_lines(spec: torch.Tensor, level: torch.Tensor, n_samples: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Spectra ``(n, C, F)`` with the strongest lines of each event and channel subtracted,
    and ``(n, C, F)`` True at the bins the subtraction leaves unreliable (each line's
    loudest bin and the two beside it).

    A line is a local maximum of the power above :data:`OUTLIER_LEVEL` times the Gaussian
    level ``level (n, C, F)`` (at most :data:`MAX_REMOVED_LINES` per event and channel);
    its frequency between the bins (:func:`quinn_offset`) gives its leakage into every
    other bin, which is subtracted.
    """
    power = spec.abs().square()
    n_freq = power.shape[-1]
    ratio = power / level.clamp_min(1e-300)
    local_max = torch.zeros_like(ratio, dtype=torch.bool)
    local_max[..., 1:-1] = (ratio[..., 1:-1] >= ratio[..., :-2]) & (ratio[..., 1:-1] >= ratio[..., 2:])
    score = torch.where(local_max & (ratio > OUTLIER_LEVEL), ratio, torch.zeros_like(ratio))
    top, peak = score.topk(min(MAX_REMOVED_LINES, n_freq), dim=-1)          # (n, C, M)
    event, channel, slot = torch.nonzero(top > 0, as_tuple=True)
    unreliable = torch.zeros_like(local_max)
    if event.numel() == 0:
        return spec, unreliable
    bins = peak[event, channel, slot]
    rows = spec[event, channel]                                              # (m, F)
    freq = bins.double() + quinn_offset(rows, bins)
    lines = sinusoid_spectrum(rows[torch.arange(len(bins)), bins], freq, n_samples, n_freq)
    clean = spec.clone()
    clean.index_put_((event, channel), -lines, accumulate=True)
    for shift in (-1, 0, 1):
        unreliable[event, channel, (bins + shift).clamp(0, n_freq - 1)] = True
    return clean, unreliable


def envelope_features(data: torch.Tensor, band_edges: torch.Tensor, band_mask: torch.Tensor,
                      window_edges: torch.Tensor) -> torch.Tensor:
    """Per-event log band levels and relative log window powers ``(n, C * (B + W))``.

    A band's level is the mean power of its bins after the event's lines are subtracted
    (:func:`_remove_lines`: a line's leakage reaches far beyond its own bins, as
    ``1 / (pi dk)^2`` in an unwindowed transform, and the generated lines leak the same
    way, so a level that kept it counted a carrier's power twice), without the bins the
    subtraction leaves unreliable and without the outliers left (bins above
    :data:`OUTLIER_LEVEL` times the mean power the band's median implies). Gaussian bins
    are all kept.

    Parameters
    ----------
    data : torch.Tensor
        Traces ``(n, C, T)``.
    band_edges : torch.Tensor
        ``B + 1`` rfft bin edges of the bands.
    band_mask : torch.Tensor
        ``(F,)`` bool, bins that count (False for bins of known lines).
    window_edges : torch.Tensor
        ``W + 1`` sample edges of the windows.
    """
    n, _, t = data.shape
    x = data.double()
    spec = torch.fft.rfft(x, dim=-1)                                     # (n, C, F)
    power = spec.abs().square()
    n_bands = len(band_edges) - 1
    # each bin's Gaussian level: its band's median / ln 2 (bins outside the bands: none)
    level = torch.full_like(power, math.inf)
    for b in range(n_bands):
        lo, hi = int(band_edges[b]), int(band_edges[b + 1])
        keep = band_mask[lo:hi]
        sel = power[..., lo:hi][..., keep] if bool(keep.any()) else power[..., lo:hi]
        level[..., lo:hi] = sel.median(-1, keepdim=True).values / math.log(2.0)
    clean, unreliable = _remove_lines(spec, level, t)
    power = clean.abs().square()
    bands = []
    for b in range(n_bands):
        lo, hi = int(band_edges[b]), int(band_edges[b + 1])
        keep = band_mask[lo:hi] & ~unreliable[..., lo:hi]                # (n, C, bins)
        keep = torch.where(keep.any(-1, keepdim=True), keep, band_mask[lo:hi].expand_as(keep))
        sel = power[..., lo:hi]
        # the level of what is left: the mean over the kept bins below OUTLIER_LEVEL
        # times the mean power the kept bins' median implies (a Gaussian bin exceeds it
        # with probability e^-10)
        masked = torch.where(keep, sel, torch.full_like(sel, math.nan))
        median = masked.nanmedian(-1, keepdim=True).values / math.log(2.0)
        inlier = (keep & (sel <= OUTLIER_LEVEL * median)).to(sel.dtype)
        mean = (sel * inlier).sum(-1) / inlier.sum(-1).clamp_min(1.0)
        bands.append(mean.clamp_min(1e-30).log())
    windows = []
    for w in range(len(window_edges) - 1):
        lo, hi = int(window_edges[w]), int(window_edges[w + 1])
        windows.append(x[..., lo:hi].square().mean(-1).clamp_min(1e-30).log())
    wlog = torch.stack(windows, -1)                                      # (n, C, W)
    wlog = wlog - wlog.mean(-1, keepdim=True)   # shape only: the bands carry the power
    feats = torch.cat([torch.stack(bands, -1), wlog], -1)                # (n, C, B + W)
    return feats.reshape(n, -1)


class Envelope(nn.Module):
    """Random per-event spectral gains and time envelope (see the module docstring).

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    n_bands : int
        Frequency bands over the passband.
    n_windows : int
        Time windows per trace.
    max_dims : int
        Largest number of modelled directions.
    max_mixture : int
        Largest number of Gaussian mixture components.
    adapt_bands : bool
        Move the band edges where the data vary unlike (:func:`adapt_band_edges`; off by
        default: measured better on some held-out sets and worse on others,
        docs/benchmarks.md).
    """

    def __init__(self, n_channels: int, n_samples: int, n_bands: int = 16, n_windows: int = 16,
                 max_dims: int = 24, max_mixture: int = 6, adapt_bands: bool = False) -> None:
        super().__init__()
        self.adapt_bands = adapt_bands
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.n_bands = n_bands
        self.n_windows = min(n_windows, max(1, n_samples // 16))
        self.max_dims = max_dims
        self.max_mixture = max_mixture
        n_freq = n_samples // 2 + 1
        d = n_channels * (n_bands + self.n_windows)
        self.register_buffer("active", torch.zeros(()))
        self.register_buffer("band_edges", torch.zeros(n_bands + 1, dtype=torch.long))
        self.register_buffer("band_mask", torch.ones(n_freq, dtype=torch.bool))
        #: ``(B, F)`` the map from band amplitudes to bin gains: each band's bins (files
        #: made before store a linear interpolation between the band centres here)
        self.register_buffer("band_interp", torch.zeros(n_bands, n_freq))
        self.register_buffer("window_interp", torch.zeros(self.n_windows, n_samples))
        self.register_buffer("window_edges", torch.zeros(self.n_windows + 1, dtype=torch.long))
        # mixture in the modelled directions: weights (M,), means (M, K), factors (M, K, K),
        # and the map back to log gains (K, D); unused rows stay zero
        self.register_buffer("weights", torch.zeros(max_mixture))
        self.register_buffer("means", torch.zeros(max_mixture, max_dims))
        self.register_buffer("factors", torch.zeros(max_mixture, max_dims, max_dims))
        self.register_buffer("basis", torch.zeros(max_dims, d))
        # the map from features to the modelled directions, where the estimator's own
        # noise has unit covariance: y = (features - feature_mean) @ projection
        self.register_buffer("feature_mean", torch.zeros(d))
        self.register_buffer("projection", torch.zeros(d, max_dims))
        #: Optional learned sampler of ``y`` replacing the mixture: a module with
        #: ``sample(n, generator) -> (n, max_dims)`` (see :mod:`rnognoise.models.vae`).
        self.sampler: nn.Module | None = None
        #: Draw with ``sampler`` (when set) rather than the mixture.
        self.use_sampler = True

    @property
    def n_dims(self) -> int:
        """Modelled directions (0 when the component is off)."""
        return int((self.basis.abs().sum(-1) > 0).sum())

    # -- fitting ---------------------------------------------------------------------
    def initialize(self, data: torch.Tensor, reference: torch.Tensor,
                   line_bins: torch.Tensor | None = None, *, seed: int = 0) -> dict[str, float]:
        """Fit the envelope distribution.

        Parameters
        ----------
        data : torch.Tensor
            Training traces ``(n, C, T)`` (normalised, block offsets removed).
        reference : torch.Tensor
            Stationary Gaussian traces ``(m, C, T)`` drawn from the fitted background, the
            measurement of the estimator's own noise.
        line_bins : torch.Tensor, optional
            rfft bins of known lines, left out of the band powers.
        seed : int
            Seed of the mixture fit.

        Returns
        -------
        dict
            ``dims`` (modelled directions) and ``mixture`` (components).
        """
        from sklearn.mixture import GaussianMixture

        n, t = data.shape[0], data.shape[2]
        spec = torch.fft.rfft(reference.double(), dim=-1).abs().square().mean((0, 1))
        passband = torch.nonzero(spec >= 1e-3 * spec.max()).flatten()
        lo, hi = int(passband.min()), int(passband.max()) + 1
        edges = _band_edges(lo, hi, self.n_bands)
        if len(edges) != self.n_bands + 1:
            self.active.zero_()
            return {"dims": 0, "mixture": 0}
        self.band_edges.copy_(torch.from_numpy(edges))
        mask = torch.ones_like(self.band_mask)
        if line_bins is not None and line_bins.numel():
            for b in line_bins.tolist():
                mask[max(b - 3, 0):b + 4] = False
        self.band_mask.copy_(mask)
        if self.adapt_bands:
            edges = adapt_band_edges(data, reference, edges, mask)
            self.band_edges.copy_(torch.from_numpy(edges))
        # each band's gain over its own bins: the band level it was measured as. Gains
        # interpolated linearly between band centres (files made before) average a band
        # with its neighbours: a band whose power varies alone was drawn narrower than
        # measured, most at its edges (common-mode pickup at 60 MHz, 0.6-0.8 of its
        # spread in log power between the band's centre and edge)
        self.band_interp.copy_(_band_membership(edges, spec.numel()))
        w_edges = np.round(np.linspace(0, t, self.n_windows + 1)).astype(np.int64)
        self.window_edges.copy_(torch.from_numpy(w_edges))
        self.window_interp.copy_(_interpolation_matrix(0.5 * (w_edges[:-1] + w_edges[1:] - 1), t))

        feats = self._features(data)                                     # (n, D)
        noise = self._features(reference)                                # (m, D)
        mu_e = noise.mean(0)
        cov_e = torch.cov(noise.T)
        ridge = 1e-6 * float(torch.diagonal(cov_e).mean())
        cov_e = cov_e + ridge * torch.eye(noise.shape[1], dtype=noise.dtype)
        d = feats - mu_e
        cov_d = torch.cov(d.T)
        # generalised eigenproblem cov_d v = lam cov_e v via the noise whitening
        evals_e, evecs_e = torch.linalg.eigh(cov_e)
        whiten = evecs_e / evals_e.clamp_min(1e-12).sqrt()              # (D, D): W^T cov_e W = I
        lam, u = torch.linalg.eigh(whiten.T @ cov_d @ whiten)
        lam, u = lam.flip(0), u.flip(1)
        dim = feats.shape[1]
        edge = (1.0 + math.sqrt(dim / n) + math.sqrt(dim / noise.shape[0])) ** 2
        k_max = int(min(self.max_dims, max(0, n // 8)))
        k = int(min(k_max, int((lam > 1.1 * edge).sum())))
        self.weights.zero_()
        self.means.zero_()
        self.factors.zero_()
        self.basis.zero_()
        self.projection.zero_()
        self.feature_mean.copy_(mu_e.float())
        if k == 0:
            self.active.zero_()
            return {"dims": 0, "mixture": 0}
        proj = whiten @ u[:, :k]                                         # (D, K): y = d @ proj
        y = (d @ proj).numpy()
        # d = y @ back: the whitened coordinates u y mapped back through the inverse of
        # the whitening, W^-T = cov_e W (W^T cov_e W = I). The pseudo-inverse of ``proj``
        # (the shortest d with these coordinates) is that only for isotropic noise; with
        # unequal or correlated noise of the features it shrank the drawn directions (a
        # drawn envelope measured back with slopes 0.65-0.82)
        back = (cov_e @ proj).T                                          # (K, D)
        best, best_bic = None, math.inf
        m_max = int(max(1, min(self.max_mixture, n // (5 * (k + 1)))))
        for m in range(1, m_max + 1):
            gmm = GaussianMixture(m, covariance_type="full", reg_covar=1e-3, random_state=seed,
                                  max_iter=200, n_init=1).fit(y)
            bic = gmm.bic(y)
            if bic < best_bic:
                best, best_bic = gmm, bic
        assert best is not None
        for j in range(best.n_components):
            cov = torch.from_numpy(best.covariances_[j]) - torch.eye(k, dtype=torch.float64)
            ev, vec = torch.linalg.eigh(0.5 * (cov + cov.T))
            factor = vec * ev.clamp_min(0).sqrt()
            self.factors[j, :k, :k] = factor.float()
            self.means[j, :k] = torch.from_numpy(best.means_[j]).float()
            self.weights[j] = float(best.weights_[j])
        self.basis[:k] = back.float()
        self.projection[:, :k] = proj.float()
        self.active.fill_(1.0)
        return {"dims": k, "mixture": int(best.n_components)}

    def coordinates(self, data: torch.Tensor) -> torch.Tensor:
        """Events' envelope in the modelled directions ``(n, max_dims)`` (unit noise
        covariance; unmodelled directions zero), from traces ``(n, C, T)``."""
        return ((self._features(data) - self.feature_mean.double())
                @ self.projection.double()).float()

    def _features(self, data: torch.Tensor) -> torch.Tensor:
        out = [envelope_features(data[lo:lo + 512], self.band_edges, self.band_mask,
                                 self.window_edges) for lo in range(0, data.shape[0], 512)]
        return torch.cat(out)

    # -- sampling ----------------------------------------------------------------------
    def draw(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-event log power gains: bands ``(n, C, B)`` and windows ``(n, C, W)``."""
        if self.sampler is not None and self.use_sampler:
            y = self.sampler.sample(n, generator)
            basis = self.basis
        else:
            dev = self.basis.device
            u = torch.rand(n, generator=generator, device=dev)
            comp = torch.searchsorted(torch.cumsum(self.weights, 0).contiguous(),
                                      u * self.weights.sum()).clamp_max(self.max_mixture - 1)
            z = torch.randn(n, self.max_dims, generator=generator, device=dev)
            k = self.n_dims  # the modelled directions; the rest of the buffers is zero
            y = self.means[comp, :k] + torch.einsum("nkj,nj->nk", self.factors[comp, :k, :k],
                                                    z[:, :k])
            basis = self.basis[:k]
        s = (y @ basis).reshape(n, self.n_channels, self.n_bands + self.n_windows)
        return s[..., :self.n_bands], s[..., self.n_bands:]

    def measured_bands(self, data: torch.Tensor) -> torch.Tensor:
        """Band log powers ``(n, C, B)`` of traces ``(n, C, T)`` relative to the stationary
        background's: the quantity :meth:`draw` draws, as measured (with the estimator's
        noise)."""
        feats = self._features(data) - self.feature_mean.double()
        return feats.reshape(data.shape[0], self.n_channels, -1)[..., :self.n_bands].float()

    def spectral_gain(self, band_log_power: torch.Tensor) -> torch.Tensor:
        """Amplitude gains ``(n, C, F)`` from band log powers ``(n, C, B)``: each band's
        amplitude ``exp(s / 2)`` over its bins (:meth:`band_amplitudes` ``@``
        :attr:`band_interp`; in files made before, interpolated linearly between the
        band centres)."""
        return self.band_amplitudes(band_log_power) @ self.band_interp

    def band_amplitudes(self, band_log_power: torch.Tensor) -> torch.Tensor:
        """Band amplitudes ``exp(s / 2)`` ``(n, C, B)``; the spectral gain is
        ``band_amplitudes(s) @ band_interp``."""
        return torch.exp(0.5 * band_log_power)

    def time_gain(self, window_log_power: torch.Tensor) -> torch.Tensor:
        """Amplitude envelope ``(n, C, T)`` of unit mean power from window log powers
        ``(n, C, W)``: the window amplitudes interpolated linearly over time
        (:meth:`window_amplitudes` ``@`` :attr:`window_interp`)."""
        return self.window_amplitudes(window_log_power) @ self.window_interp

    def window_amplitudes(self, window_log_power: torch.Tensor) -> torch.Tensor:
        """Window amplitudes ``(n, C, W)`` whose linear interpolation over time has unit
        mean power, normalised with the exact mean square of the interpolant (a
        ``W x W`` quadratic form)."""
        amp = torch.exp(0.5 * (window_log_power - window_log_power.amax(-1, keepdim=True)))
        gram = self.window_interp @ self.window_interp.T / self.window_interp.shape[-1]
        power = torch.einsum("ncw,wv,ncv->nc", amp, gram, amp).clamp_min(1e-30)
        return amp * power.rsqrt()[..., None]

    @property
    def has_time_variation(self) -> bool:
        """Whether any modelled direction changes the time envelope."""
        d = self.n_channels * (self.n_bands + self.n_windows)
        per = self.basis.reshape(self.max_dims, self.n_channels, -1)[..., self.n_bands:]
        return d > 0 and bool(per.abs().amax() > 0)
