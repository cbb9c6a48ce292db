"""Transients: short, localised excess power at random times (a general part).

What the model lacks in time-localised power (impulses, band-limited bursts, pulse
trains, glitches) is learned from the data without names:

1. **Short-time band powers.** Every trace is cut into Hann-windowed frames of
   ``window`` samples (hop ``window // 2``), for each frame length in ``windows`` (32
   and 128 samples: a short frame sees a pulse or a glitch above the noise of its few
   samples, a long one a burst of a hundred nanoseconds whose power per short frame
   stays within the noise's scatter); each frame's periodogram is summed into
   ``n_bands`` equal frequency bands. Three frame statistics (detectors) are tested:
   the largest band power relative to the model's mean power in that band and channel
   (narrow-band bursts), the frame's total power relative to the model's mean (broadband
   bursts) and the frame's largest squared sample relative to the model's mean square
   (short impulses, which the band statistic dilutes over all bands and the frame).
2. **Detection and test at several levels.** A threshold per channel is set on one half
   of the model's samples (the channels' per-trace maxima scaled by their medians and
   pooled) so that a fraction ``fa`` of model events exceed it in some channel, for each
   false-alarm fraction in ``false_alarms`` (1e-2, 1e-3, 1e-4) that the number of model
   samples supports (``fa`` times half the model samples at least 0.1). Where fewer than
   ten pooled maxima lie above a threshold, it is extrapolated from an exponential tail
   fitted to the largest 2 % (peaks over threshold; the maxima of band powers have
   Gumbel-type, i.e. exponential, tails). At each level the data's events above
   threshold are compared with the other half of the model's samples by Fisher's exact
   test (one-sided), for each detector and frame length; the smallest p, multiplied by
   the number of (frame length, detector, level) tests (Bonferroni), must be below
   ``p_value``. Since each threshold is fixed before the half it is tested
   against is seen, every level's test is exact whatever the threshold, the
   extrapolation included. Several levels are needed because rare strong transients
   (say 1-2 % of events) drown in the model's own 1 % of exceedances at a single low
   threshold, yet stand out clearly at a false-alarm fraction of 1e-4, while frequent
   weak ones are only seen at the low threshold.
   The part detects, describes and calibrates with the **most significant** frame
   length, detector and level (the larger false-alarm fraction on ties). That level has the largest excess over the
   model's exceedances relative to their fluctuation, hence the purest detected set: its
   occurrences are mostly transients rather than noise above threshold, which is what the
   classes and energies are learned from. The calibration (4.) runs the same detector on
   simulated events, so rates and energies are matched as selected; what lies below the
   chosen threshold is the fitted energy distribution's extrapolation. (The alternative,
   the lowest threshold at which the test is significant, sees more of the weak
   transients but, near the significance limit, mostly noise above threshold.)
3. **Description.** Frames above threshold, widened by ``margin`` frames on each side and
   merged over channels, make the occurrences. Each has an excess band-energy vector per
   channel (data minus the model's mean band power, summed over the occurrence), the set
   of channels that carry it and, per channel, its span (frames above threshold), its
   delay after the earliest channel and its largest squared sample. A Gaussian mixture on the log spectral shape and log span,
   with the number of classes chosen by BIC, gives up to ``max_classes`` classes; each
   class keeps its spectrum (per band, and per bin of the frames' periodogram: the
   occurrences' excess power per bin, each as a fraction of its own total, averaged over
   the class), a Poisson rate per event, a histogram of durations, a
   log-normal energy per channel, a table of channel patterns (which channels carry it
   together), a mean delay per channel and a fraction of coherent pulses (below).
4. **Calibration.** Detection is a selection: weak transients go unseen and noise adds to
   those seen. The rates and energies are therefore adjusted by simulation: the part is
   applied to the model's samples, the same detector is run on them, and the fraction of
   events above threshold (one factor on all rates), each class's mean log energy, its
   mean log peakedness (largest squared sample over energy; sets the fraction of pulses)
   and the mean detected span (a duration offset) are matched to the data's (a few
   fixed-point steps, i.e. indirect inference). Classes that the model's own samples show about as
   often as the data (noise above threshold) are dropped by a binomial test.
5. **Sampling.** Per event and class a Poisson number of transients; each gets a class, a
   uniform position, a duration from the histogram, a channel pattern and a log-normal
   energy; its waveform is Gaussian noise shaped to the class's per-bin spectrum (an
   inverse FFT of filtered complex normals over a short segment; bands of 200 MHz at a
   128-sample frame and 3.2 GHz put a burst's power where the data have none) or, with
   the class's pulse fraction, a pulse with that spectrum (all frequencies in phase, one random phase), times a Hann
   window of that duration, on each carrying channel after the class's delay.
   Only events that carry transients cost anything (a single ``index_add``).

References
----------
R. A. Fisher, "On the interpretation of chi-squared from contingency tables",
J. R. Stat. Soc. 85 (1922) 87 (the exact test).
G. Schwarz, "Estimating the dimension of a model", Ann. Stat. 6 (1978) 461 (BIC).
C. Gourieroux, A. Monfort, E. Renault, "Indirect inference", J. Appl. Econometrics 8
(1993) S85 (calibration by matching statistics of simulations).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import binomtest, hypergeom
from torch import nn

__all__ = ["DETECTORS", "ENERGY_SIGMAS", "Transients"]

#: Drawn log-energies stay within this many standard deviations of their class's mean.
ENERGY_SIGMAS = 2.5
#: Largest spread of a class's log-energy (a factor e per standard deviation); beyond
#: it, the standard deviation of the recorded occurrences' log energies is dominated by
#: occurrences with hardly any energy (it reached 4.3 e-folds on bursts the impulse
#: component had partly taken: draws 10^5 times the median energy).
MAX_LOG_ENERGY_STD = 1.0

#: ``log_energy_max`` of a class without a bound (finite: model files hold no inf).
NO_ENERGY_BOUND = 1e6

#: Frame statistics tested for excess events (see ``Transients._statistic``).
DETECTORS: tuple[str, ...] = ("band", "total", "peak")


class Transients(nn.Module):
    """Time-localised excess power at random times, learned as classes of bursts.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout.
    sampling_rate : float
        Samples per second (only used to report band frequencies).
    max_classes : int
        Largest number of transient classes.
    n_bands : int
        Frequency bands of the short-time spectra; must divide every ``window // 2``.
    windows : tuple of int
        Frame lengths in samples (hop ``window // 2``) tried by the fit, which keeps the
        one whose test is the most significant; the first is the frame of files made
        before the choice.
    max_duration : int
        Longest transient in samples.
    max_patterns : int
        Channel patterns kept per class.
    p_value : float
        Significance level of the detection test.
    false_alarms : tuple of float
        Detection levels: fractions of model events above the threshold in some channel.
    margin : int
        Frames added on each side of the frames above threshold: an occurrence's energy is
        summed over them, and occurrences closer than twice this merge.
    """

    def __init__(self, n_channels: int, n_samples: int, sampling_rate: float,
                 max_classes: int = 4, n_bands: int = 8, windows: tuple[int, ...] = (32, 128),
                 max_duration: int = 512, max_patterns: int = 16, p_value: float = 1e-3,
                 false_alarms: tuple[float, ...] = (1e-2, 1e-3, 1e-4), margin: int = 2) -> None:
        super().__init__()
        windows = tuple(w for w in windows if w <= n_samples) or (min(windows),)
        for window in windows:
            if (window // 2) % n_bands:
                raise ValueError(f"n_bands={n_bands} must divide window // 2 = {window // 2}")
        self.n_channels, self.n_samples = n_channels, n_samples
        self.sampling_rate = float(sampling_rate)
        self.windows, self.n_bands = windows, n_bands
        self.max_classes, self.max_patterns = max_classes, max_patterns
        self.max_duration = max(max(windows), min(max_duration, n_samples))
        #: the frame length in use (the fit's choice among ``windows``)
        self.register_buffer("frame", torch.tensor(windows[0], dtype=torch.long))
        # duration histograms in hops of the shortest frame hold every frame's
        slots = self.max_duration // (min(windows) // 2)
        self.margin = margin
        self.p_value = p_value
        self.false_alarms = tuple(sorted(false_alarms, reverse=True))
        k, c, b = max_classes, n_channels, n_bands
        self.register_buffer("active", torch.zeros(()))
        self.register_buffer("reference", torch.zeros(c, b))        # model mean band power
        self.register_buffer("power", torch.zeros(c))               # model mean square
        self.register_buffer("detector", torch.zeros((), dtype=torch.long))
        self.register_buffer("threshold", torch.zeros(c))           # frame statistic
        self.register_buffer("rate", torch.zeros(k))                # Poisson mean per event
        self.register_buffer("spectrum", torch.zeros(k, b))         # power fraction per band
        #: power fraction per bin of the frame's periodogram (the first ``window // 2 + 1``
        #: entries): the class spectrum at the frame's own resolution, which the draws
        #: follow; zero in files made before it (the band spectrum is drawn then)
        self.register_buffer("fine_spectrum", torch.zeros(k, max(windows) // 2 + 1))
        self.register_buffer("log_energy", torch.zeros(k))          # per channel, samples^2
        self.register_buffer("log_energy_std", torch.zeros(k))
        #: the loudest recorded occurrence's log energy (moved with the calibration of the
        #: mean): no drawn transient is louder (no bound in files made before it)
        self.register_buffer("log_energy_max", torch.full((k,), NO_ENERGY_BOUND))
        #: log of the largest squared sample recorded in a class's occurrences: no drawn
        #: transient has a sample beyond it (a loud energy drawn with a short duration
        #: would otherwise peak far above anything recorded)
        self.register_buffer("log_peak_max", torch.full((k,), NO_ENERGY_BOUND))
        self.register_buffer("duration_prob", torch.zeros(k, slots))
        self.register_buffer("patterns", torch.zeros(k, max_patterns, c))
        self.register_buffer("delay", torch.zeros(k, c))             # samples, per channel
        self.register_buffer("coherence", torch.zeros(k))           # fraction of pulses
        self.register_buffer("pattern_prob", torch.zeros(k, max_patterns))
        #: the model's mean power per frame bin ``(C, window // 2 + 1)`` while fitting (set
        #: with ``reference`` by :meth:`_set_reference`, before any occurrence is found)
        self._reference_bins: torch.Tensor | None = None

    @property
    def is_active(self) -> bool:
        """Whether the part changes the traces."""
        return bool(self.active > 0)

    @property
    def window(self) -> int:
        """Frame length in samples."""
        return int(self.frame)

    @property
    def hop(self) -> int:
        """Frame hop in samples (half a frame)."""
        return self.window // 2

    @property
    def n_durations(self) -> int:
        """Durations (in hops of the frame in use) a transient can take."""
        return self.max_duration // self.hop

    @property
    def band_edges(self) -> np.ndarray:
        """Band edges in Hz ``(n_bands + 1,)`` (bin centres of the frame spectra)."""
        per = self.hop // self.n_bands
        return np.arange(self.n_bands + 1) * per * self.sampling_rate / self.window

    # ------------------------------------------------------------------ features
    def _band_matrix(self, device: torch.device) -> torch.Tensor:
        n_bins = self.window // 2 + 1
        band = torch.clamp(torch.arange(n_bins) // (self.hop // self.n_bands),
                           max=self.n_bands - 1)
        return torch.nn.functional.one_hot(band, self.n_bands).float().to(device)

    def _band_power(self, x: torch.Tensor, *, bins: bool = False) -> torch.Tensor:
        """Band powers of the frames ``(n, C, n_frames, n_bands)``, float32; with
        ``bins``, the periodogram's bins instead ``(n, C, n_frames, window // 2 + 1)``."""
        hann = torch.hann_window(self.window, periodic=True, device=x.device)
        mat = None if bins else self._band_matrix(x.device)
        out = []
        step = max(1, (1 << 22) // max(1, x.shape[1] * x.shape[2]))
        for i in range(0, x.shape[0], step):
            frames = x[i:i + step].float().unfold(-1, self.window, self.hop) * hann
            spec = torch.fft.rfft(frames, dim=-1)
            power = spec.real.square() + spec.imag.square()
            out.append(power if mat is None else power @ mat)
        return torch.cat(out)

    def _set_reference(self, model: torch.Tensor) -> None:
        """The model's mean power per frame bin and per band, from its traces ``model``,
        for the frame length in use."""
        bins = self._band_power(model, bins=True).mean((0, 2)).clamp_min(1e-12)
        self._reference_bins = bins
        self.reference.copy_(bins @ self._band_matrix(bins.device))

    def _statistic(self, x: torch.Tensor, power: torch.Tensor | None = None,
                   detector: int | None = None) -> torch.Tensor:
        """Frame statistic ``(n, C, n_frames)`` of a detector (default: the chosen one).

        ``band``: the largest band power relative to the model's mean in that band;
        ``total``: the frame's total power relative to the model's mean; ``peak``: the
        frame's largest squared sample relative to the model's mean square. ``power`` are
        the band powers of ``x`` where already computed.
        """
        k = int(self.detector) if detector is None else detector
        if DETECTORS[k] == "peak":
            n, c, t = x.shape
            sq = x.detach().float().reshape(n * c, 1, t).square()
            peak = torch.nn.functional.max_pool1d(sq, self.window, self.hop)
            return peak.view(n, c, -1) / self.power[None, :, None]
        power = self._band_power(x) if power is None else power
        if DETECTORS[k] == "total":
            return power.sum(-1) / self.reference.sum(-1)[None, :, None]
        return (power / self.reference[None, :, None, :]).amax(-1)

    def _occurrences(self, x: torch.Tensor, stat: torch.Tensor, *, fine: bool = False
                     ) -> dict[str, np.ndarray]:
        """Transients in the events of ``x`` with a frame statistic ``stat`` above
        threshold; with ``fine``, also their excess per bin of the frames' periodogram
        (the description's; zeros otherwise).

        Returns
        -------
        dict
            ``event`` (r,), ``span`` (r,) frames, ``channels`` (r, C) bool, ``energy``
            (r, C, B) excess band energy summed over the occurrence (zero where a channel
            does not carry it), ``fine`` (r, window // 2 + 1) the same excess per bin of
            the frames' periodogram, summed over the carrying channels, ``peak`` (r, C)
            the largest squared sample in it, per channel ``span_c`` (r, C) frames above
            threshold (first to last) and ``offset`` (r, C) its first frame after the
            occurrence's earliest channel (zero where a channel does not carry it).
        """
        above = (stat > self.threshold[None, :, None]).cpu().numpy()      # (n, C, W)
        flagged = np.flatnonzero(above.any((1, 2)))
        c, b, nb = self.n_channels, self.n_bands, self.window // 2 + 1
        empty = {"event": np.zeros(0, np.int64), "span": np.zeros(0, np.int64),
                 "channels": np.zeros((0, c), bool), "energy": np.zeros((0, c, b)),
                 "fine": np.zeros((0, nb)),
                 "span_c": np.zeros((0, c), np.int64), "offset": np.zeros((0, c), np.int64),
                 "peak": np.zeros((0, c))}
        if flagged.size == 0:
            return empty
        a = above[flagged]                                                  # (f, C, W)
        nf, _, nw = a.shape
        u = a.any(1)
        dil = u.copy()
        for d in range(1, self.margin + 1):
            dil[:, d:] |= u[:, :-d]
            dil[:, :-d] |= u[:, d:]
        padded = np.concatenate([dil, np.zeros((nf, 1), bool)], 1).ravel()  # run breaks
        start = padded & ~np.concatenate([[False], padded[:-1]])
        label = (np.cumsum(start) - 1).reshape(nf, nw + 1)[:, :nw]
        label = np.where(dil, label, -1)
        n_runs = int(start.sum())
        ev_of = np.zeros(n_runs, np.int64)
        rows = np.repeat(np.arange(nf), nw).reshape(nf, nw)
        ev_of[label[dil]] = flagged[rows[dil]]
        widx = np.broadcast_to(np.arange(nw), (nf, nw))
        first = np.full(n_runs, nw, np.int64)
        last = np.full(n_runs, -1, np.int64)
        np.minimum.at(first, label[u], widx[u])
        np.maximum.at(last, label[u], widx[u])
        chans = np.zeros((n_runs, c), bool)
        first_c = np.full((n_runs, c), nw, np.int64)
        last_c = np.full((n_runs, c), -1, np.int64)
        for ch in range(c):
            hit = a[:, ch]
            chans[label[hit], ch] = True
            np.minimum.at(first_c[:, ch], label[hit], widx[hit])
            np.maximum.at(last_c[:, ch], label[hit], widx[hit])
        bins = self._band_power(x[torch.as_tensor(flagged, device=x.device)], bins=True)
        power = bins @ self._band_matrix(x.device)
        excess = (power - self.reference[None, :, None, :]).double().cpu().numpy()
        excess_bins = ((bins - self._reference_bins.to(x.device)[None, :, None, :]
                        ).double().cpu().numpy() if fine else None)
        del bins
        energy = np.zeros((n_runs, c, b))
        per_bin = np.zeros((n_runs, nb))
        lab = label[dil]
        for ch in range(c):
            np.add.at(energy[:, ch], lab, excess[:, ch][dil])
            if excess_bins is not None:
                per_channel = np.zeros((n_runs, nb))
                np.add.at(per_channel, lab, excess_bins[:, ch][dil])
                per_bin += per_channel * chans[:, ch, None]
        energy *= chans[:, :, None]
        peak = np.zeros((n_runs, c))
        frame_peak = self._statistic(x[torch.as_tensor(flagged, device=x.device)],
                                     detector=DETECTORS.index("peak"))
        frame_peak = (frame_peak * self.power[None, :, None]).double().cpu().numpy()
        for ch in range(c):
            np.maximum.at(peak[:, ch], lab, frame_peak[:, ch][dil])
        return {"event": ev_of, "span": last - first + 1, "channels": chans, "energy": energy,
                "fine": per_bin, "peak": peak * chans,
                "span_c": np.where(chans, last_c - first_c + 1, 0),
                "offset": np.where(chans, first_c - first_c.min(1, keepdims=True), 0)}

    def _features(self, occ: dict[str, np.ndarray]) -> np.ndarray:
        """Mixture features: log spectral shape and log span ``(r, B + 1)``."""
        spec = np.clip(occ["energy"].sum(1), 0, None)
        total = spec.sum(1, keepdims=True)
        shape = np.log(spec / np.maximum(total, 1e-12) + 0.02)
        return np.concatenate([shape, np.log(occ["span"])[:, None]], 1)

    def _energy_gain(self) -> float:
        """Excess frame band energy per unit of time-domain energy (Parseval, one-sided
        spectrum, frames overlapping by half)."""
        hann = torch.hann_window(self.window, periodic=True, dtype=torch.float64)
        return float(self.window / 2 * hann.square().sum() / self.hop)

    @staticmethod
    def _peakedness(occ: dict[str, np.ndarray], gain: float) -> np.ndarray:
        """Log of the largest squared sample over the excess energy per carrying channel
        ``(r, C)`` (nan where none): larger for a pulse than for a noise burst."""
        e = np.clip(occ["energy"].sum(2) / gain, 1e-3, None)
        return np.where(occ["channels"], np.log(np.clip(occ["peak"], 1e-6, None) / e), np.nan)

    @staticmethod
    def _log_energy(occ: dict[str, np.ndarray], gain: float) -> np.ndarray:
        """Log time-domain energy per carrying channel ``(r, C)`` (nan where none)."""
        e = occ["energy"].sum(2) / gain
        return np.where(occ["channels"], np.log(np.clip(e, 1e-3, None)), np.nan)

    @staticmethod
    def _tail_quantile(pooled: torch.Tensor, q: float) -> float:
        """Value exceeded by a fraction ``q`` of ``pooled`` (sorted, descending): the
        empirical quantile where at least ten values lie above it, else an exponential tail
        fitted to the largest 2 % (at least 20) and extrapolated (peaks over threshold)."""
        size = pooled.numel()
        if q * size >= 10 or size < 100:
            level = 1.0 - min(0.5, max(q, 5.0 / size))
            return float(torch.quantile(pooled, level))
        k = max(20, size // 50)
        u = pooled[k]
        beta = float((pooled[:k] - u).mean())
        return float(u) + beta * math.log(k / size / q)

    def _level_test(self, pooled: torch.Tensor, scale: torch.Tensor, fa: float,
                    peak_d: torch.Tensor, peak_m: torch.Tensor, m_a: int
                    ) -> tuple[float, torch.Tensor, int, int, float]:
        """Threshold per channel at the false-alarm fraction ``fa`` (set on half A of the
        model) and the one-sided Fisher test of the data's events above it against half
        B: ``(fa, threshold, k_data, k_model_b, log p)``."""
        thr = (self._tail_quantile(pooled, fa / self.n_channels) * scale).float()
        n, m_b = peak_d.shape[0], peak_m.shape[0] - m_a
        k_d = int((peak_d > thr).any(-1).sum())
        k_0 = int((peak_m[m_a:] > thr).any(-1).sum())
        if m_b <= 0 or k_d == 0:
            return fa, thr, k_d, k_0, 0.0
        # P(X >= k_d) for X hypergeometric: Fisher's exact test, alternative "greater"
        log_p = float(hypergeom.logsf(k_d - 1, n + m_b, k_d + k_0, n))
        return fa, thr, k_d, k_0, min(0.0, log_p)

    @staticmethod
    def _choose(tests: list[tuple[int, float, torch.Tensor, int, int, float, int]]) -> int:
        """Index of the most significant (detector, level, frame) test (on ties the larger
        false-alarm fraction, then the first detector, then the shorter frame)."""
        return min(range(len(tests)),
                   key=lambda i: (tests[i][5], -tests[i][1], tests[i][0], tests[i][6]))

    # ------------------------------------------------------------------ fit
    def fit(self, data: torch.Tensor, model: torch.Tensor, *, seed: int = 0
            ) -> dict[str, float]:
        """Fit what the data show in localised excess power and the model lacks.

        Parameters
        ----------
        data : torch.Tensor
            Normalised training traces ``(n, C, T)``.
        model : torch.Tensor
            Traces ``(m, C, T)`` from the current generator without this part.
        seed : int
            Seed of the mixture fit and of the calibration draws.

        Returns
        -------
        dict
            ``active``, ``p_value`` (Bonferroni-corrected over the ``n_tests`` tests:
            ``n_levels`` levels for each detector and frame length), ``detector`` (index
            into ``DETECTORS``), ``level`` (the false-alarm fraction) and ``window`` (the
            frame length, samples) used, ``data_rate``
            and ``model_rate`` (fractions of events above its threshold), ``n_classes``,
            ``rate_total`` (transients per event) and per class ``rate_k``,
            ``peak_band_k``, ``duration_k`` (mean, samples), ``pulses_k`` (fraction of
            coherent pulses).
        """
        self._clear()
        dev = self.reference.device
        data, model = data.detach().to(dev), model.detach().to(dev)
        n, m = data.shape[0], model.shape[0]
        ref_part = model[: min(m, 512)]
        self.power.copy_(ref_part.float().square().mean((0, 2)).clamp_min(1e-12))
        # thresholds on half A of the model, null rates on half B; every frame length,
        # detector and level is one test
        m_a = max(1, m // 2)
        levels = [fa for fa in self.false_alarms if fa * m_a >= 0.1] or [self.false_alarms[0]]
        tests = []
        for window in self.windows:
            self.frame.fill_(window)
            self._set_reference(ref_part)
            power_m, power_d = self._band_power(model), self._band_power(data)
            for k in range(len(DETECTORS)):
                peak_m = self._statistic(model, power_m, k).amax(-1)           # (m, C)
                peak_d = self._statistic(data, power_d, k).amax(-1)            # (n, C)
                scale = peak_m[:m_a].median(0).values.clamp_min(1e-12)
                pooled = (peak_m[:m_a] / scale).flatten().double().sort(descending=True).values
                tests += [(k, *self._level_test(pooled, scale, fa, peak_d, peak_m, m_a),
                           window) for fa in levels]
            del power_m, power_d
        best = self._choose(tests)
        det, fa, thr, k_d, _, log_p, window = tests[best]
        self.frame.fill_(window)
        self._set_reference(ref_part)
        self.detector.fill_(det)
        self.threshold.copy_(thr)
        p = min(1.0, len(tests) * math.exp(log_p))                       # Bonferroni
        stat_m, stat_d = self._statistic(model, detector=det), self._statistic(data, detector=det)
        hit_m = (stat_m.amax(-1) > thr).any(-1)
        info: dict[str, float] = {"active": 0, "p_value": p, "level": fa, "detector": det,
                                  "window": window, "n_levels": len(levels),
                                  "n_tests": len(tests),
                                  "data_rate": k_d / n,
                                  "model_rate": float(hit_m.double().mean()), "n_classes": 0,
                                  "rate_total": 0.0}
        if p >= self.p_value or k_d / n <= info["model_rate"]:
            return info
        occ = self._occurrences(data, stat_d, fine=True)
        if len(occ["event"]) < 3:
            return info
        labels, gmm = self._classes(occ, seed)
        self._describe(occ, labels, n)
        # classes the model has about as often (noise above threshold) are dropped
        occ_m = self._occurrences(model, stat_m)
        lab_m = gmm.predict(self._features(occ_m)) if len(occ_m["event"]) else labels[:0]
        for k in range(self.max_classes):
            n_d, n_m = int((labels == k).sum()), int((lab_m == k).sum())
            if n_d and binomtest(n_d, n_d + n_m, n / (n + m), "greater").pvalue > 1e-3:
                self.rate[k] = 0
        if not (self.rate > 0).any():
            self._clear()
            return info
        self.active.fill_(1.0)
        self._calibrate(occ, labels, gmm, n, model, k_d / n, seed)
        info["active"] = 1
        info["n_classes"] = int((self.rate > 0).sum())
        info["rate_total"] = float(self.rate.sum())
        durations = (torch.arange(1, self.n_durations + 1) * self.hop).float()
        for k in range(self.max_classes):
            if self.rate[k] > 0:
                info[f"rate_{k}"] = float(self.rate[k])
                info[f"peak_band_{k}"] = int(self.spectrum[k].argmax())
                info[f"duration_{k}"] = float(self.duration_prob[k, :self.n_durations].cpu()
                                              @ durations)
                info[f"pulses_{k}"] = float(self.coherence[k])
        return info

    def _clear(self) -> None:
        """Switch the part off and zero every class slot."""
        self.active.zero_()
        for name in ("rate", "spectrum", "fine_spectrum", "log_energy", "log_energy_std",
                     "duration_prob", "patterns", "pattern_prob", "delay", "coherence"):
            getattr(self, name).zero_()
        self.log_energy_max.fill_(NO_ENERGY_BOUND)
        self.log_peak_max.fill_(NO_ENERGY_BOUND)

    def _classes(self, occ: dict[str, np.ndarray], seed: int) -> tuple[np.ndarray, object]:
        """Mixture on the occurrences' features, the number of classes by BIC."""
        from sklearn.mixture import GaussianMixture

        feats = self._features(occ)
        best, best_bic = None, math.inf
        for k in range(1, min(self.max_classes, max(1, len(feats) // 30)) + 1):
            gmm = GaussianMixture(k, covariance_type="diag", reg_covar=0.05,
                                  random_state=seed, n_init=1).fit(feats)
            bic = gmm.bic(feats)
            if bic < best_bic:
                best, best_bic = gmm, bic
        return best.predict(feats), best

    @staticmethod
    def _spans(occ: dict[str, np.ndarray]) -> np.ndarray:
        """Detected spans (frames) of all carrying channels, flattened."""
        return occ["span_c"][occ["channels"]]

    def _durations(self, occ: dict[str, np.ndarray], labels: np.ndarray, offset: int
                   ) -> None:
        """Duration histograms from the channels' detected spans (frames) plus ``offset``
        frames."""
        self.duration_prob.zero_()
        frames = np.clip(self._spans(occ) + offset, 1, self.n_durations)
        lab = np.broadcast_to(labels[:, None], occ["channels"].shape)[occ["channels"]]
        for k in range(self.max_classes):
            if (lab == k).any():
                hist = np.bincount(frames[lab == k] - 1, minlength=self.n_durations)
                self.duration_prob[k, :len(hist)] = torch.as_tensor(hist / hist.sum())

    def _describe(self, occ: dict[str, np.ndarray], labels: np.ndarray, n: int) -> None:
        """Per class: spectrum, rate, durations, energy, channel patterns."""
        gain = self._energy_gain()
        log_e = self._log_energy(occ, gain)
        spec = np.clip(occ["energy"].sum(1), 0, None)
        spec = spec / np.maximum(spec.sum(1, keepdims=True), 1e-12)
        # per bin: each occurrence's excess as a fraction of its own, averaged before the
        # clip, so that the bins' noise averages out instead of adding a floor
        fine = occ["fine"] / np.maximum(occ["fine"].sum(1, keepdims=True), 1e-12)
        self._durations(occ, labels, 1)
        for k in range(self.max_classes):
            sel = labels == k
            if not sel.any():
                continue
            self.rate[k] = float(sel.sum()) / n
            self.coherence[k] = 0.5
            s = spec[sel].mean(0)
            self.spectrum[k] = torch.as_tensor(s / max(s.sum(), 1e-12))
            f = np.clip(fine[sel].mean(0), 0, None)
            f[0] = f[-1] = 0.0
            self.fine_spectrum[k].zero_()
            if f.sum() > 0:
                self.fine_spectrum[k, :f.size] = torch.as_tensor(f / f.sum())
            e = log_e[sel][occ["channels"][sel]]
            self.log_energy[k] = float(np.mean(e))
            self.log_energy_std[k] = min(float(np.std(e)) if e.size > 1 else 0.0,
                                         MAX_LOG_ENERGY_STD)
            self.log_energy_max[k] = float(np.max(e))
            self.log_peak_max[k] = float(np.log(max(float(occ["peak"][sel].max()), 1e-12)))
            carry = occ["channels"][sel]
            delay = (occ["offset"][sel] * carry).sum(0) / np.maximum(carry.sum(0), 1)
            self.delay[k] = torch.as_tensor(delay * self.hop, dtype=torch.float32)
            keys, counts = np.unique(carry, axis=0, return_counts=True)
            order = np.argsort(-counts, kind="stable")[: self.max_patterns]
            self.patterns[k, : len(order)] = torch.as_tensor(keys[order], dtype=torch.float32)
            self.pattern_prob[k, : len(order)] = torch.as_tensor(
                counts[order] / counts[order].sum(), dtype=torch.float32)

    def _calibrate(self, occ: dict[str, np.ndarray], labels: np.ndarray, gmm: object,
                   n: int, model: torch.Tensor, hit_rate: float, seed: int,
                   steps: int = 4) -> None:
        """Apply the part to the model's samples and run the detector on them; match the
        fraction of events above threshold (one factor on all rates: the classes' relative
        rates stay as detected, since similar classes are confused), each class's mean
        log energy and the mean detected span (a duration offset) to the data's."""
        gain = self._energy_gain()
        log_e = self._log_energy(occ, gain)
        peaked = self._peakedness(occ, gain)
        offset = 1
        gen = torch.Generator(device=model.device).manual_seed(seed + 1)
        for _ in range(steps):
            sim = self.apply(model.clone(), gen)
            stat = self._statistic(sim)
            got = float((stat.amax(-1) > self.threshold).any(-1).double().mean())
            self.rate *= float(np.clip(hit_rate / max(got, 1e-9), 0.25, 4.0))
            o = self._occurrences(sim, stat)
            if not len(o["event"]):
                continue
            lab = gmm.predict(self._features(o))
            le = self._log_energy(o, gain)
            pk = self._peakedness(o, gain)
            for k in range(self.max_classes):
                if self.rate[k] > 0 and (lab == k).any() and (labels == k).any():
                    d = np.nanmean(log_e[labels == k]) - np.nanmean(le[lab == k])
                    self.log_energy[k] += float(np.clip(d, -1.0, 1.0))
                    self.log_energy_max[k] += float(np.clip(d, -1.0, 1.0))
                    d = np.nanmean(peaked[labels == k]) - np.nanmean(pk[lab == k])
                    self.coherence[k] = float(np.clip(float(self.coherence[k]) + d, 0.0, 1.0))
            step = round(self._spans(occ).mean() - self._spans(o).mean())
            offset = int(np.clip(offset + step, 0, 4))
            self._durations(occ, labels, offset)
        # a class expected less than once in the data is noise the mixture picked up
        self.rate[self.rate * n < 1] = 0
        off = self.rate <= 0
        for buf in (self.spectrum, self.fine_spectrum, self.log_energy, self.log_energy_std,
                    self.duration_prob, self.patterns, self.pattern_prob, self.delay,
                    self.coherence):
            buf[off] = 0

    # ------------------------------------------------------------------ sampling
    def _filters(self, n_seg: int, device: torch.device) -> torch.Tensor:
        """Amplitude filters ``(K, n_seg // 2 + 1)`` giving unit-variance noise with each
        class's spectrum: the frame-bin spectrum, linearly interpolated, or the band
        spectrum where a class has none (files made before it)."""
        f = n_seg // 2 + 1
        bin_hz = torch.arange(f, device=device) * (self.window / n_seg)   # frame-bin units
        band = torch.clamp(torch.round(bin_hz).long() // (self.hop // self.n_bands),
                           max=self.n_bands - 1)
        count = torch.zeros(self.n_bands, device=device).index_add_(
            0, band[1:-1], torch.ones(f - 2, device=device)).clamp_min(1)
        power = (self.spectrum.to(device) / count).clamp_min(0)[:, band]     # (K, F)
        fine = self.fine_spectrum.to(device)[:, :self.window // 2 + 1].clamp_min(0)
        lo = bin_hz.floor().long().clamp(max=fine.shape[1] - 1)
        hi = (lo + 1).clamp(max=fine.shape[1] - 1)
        w = bin_hz - lo
        interpolated = fine[:, lo] * (1 - w) + fine[:, hi] * w
        has_fine = (fine.sum(-1, keepdim=True) > 0)
        amp = torch.where(has_fine, interpolated, power).sqrt()
        amp[:, 0] = 0
        amp[:, -1] = 0
        norm = (4 * amp.square().sum(-1, keepdim=True)).sqrt() / n_seg
        return amp / norm.clamp_min(1e-12)

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add transients to traces ``(n, C, T)``.

        Parameters
        ----------
        x : torch.Tensor
            Model traces; modified in place when autograd is off or ``x`` does not
            require grad.
        generator : torch.Generator
            Source of every random draw (on ``x.device``).

        Returns
        -------
        torch.Tensor
            The traces with the transients added.
        """
        if not self.is_active:
            return x
        dev = x.device
        n, c, t = x.shape
        rate = self.rate.to(dev)
        counts = torch.poisson(rate.expand(n, -1).contiguous(), generator=generator).long()
        total = int(counts.sum())
        if total == 0:
            return x
        flat_counts = counts.flatten()
        pair = torch.repeat_interleave(torch.arange(flat_counts.numel(), device=dev),
                                       flat_counts)
        event, cls = pair // rate.numel(), pair % rate.numel()
        last = int(torch.nonzero(self.duration_prob.sum(0) > 0).max()) + 1
        n_seg = 1 << max(1, math.ceil(math.log2(last * self.hop)))
        u = torch.rand(total, generator=generator, device=dev)
        dur = (torch.multinomial(self.duration_prob.to(dev)[cls], 1, generator=generator)[:, 0]
               + 1) * self.hop                                              # (M,)
        pat = torch.multinomial(self.pattern_prob.to(dev)[cls], 1, generator=generator)[:, 0]
        # log-normal energies truncated at ENERGY_SIGMAS standard deviations: a bounded
        # range, so that no drawn transient is far louder than any the data showed
        log_e = torch.minimum(
            self.log_energy.to(dev)[cls] + self.log_energy_std.to(dev)[cls]
            * torch.randn(total, generator=generator, device=dev).clamp(
                -ENERGY_SIGMAS, ENERGY_SIGMAS), self.log_energy_max.to(dev)[cls])
        pulse = torch.rand(total, generator=generator, device=dev) < self.coherence.to(dev)[cls]
        phase = 2 * math.pi * torch.rand(total, generator=generator, device=dev)
        f = n_seg // 2 + 1
        z = torch.view_as_complex(torch.randn(total, c, f, 2, generator=generator, device=dev))
        # a pulse: all frequencies in phase, centred in its window (energy n_seg, as the
        # noise's expected energy)
        turn = phase[:, None] - math.pi * dur[:, None] * torch.arange(f, device=dev) / n_seg
        z = torch.where(pulse[:, None, None], math.sqrt(2) * torch.polar(
            torch.ones_like(turn), turn)[:, None, :], z)
        spec = z * self._filters(n_seg, dev)[cls][:, None, :]
        wave = torch.fft.irfft(spec, n=n_seg, dim=-1)                     # (M, C, n_seg)
        ts = torch.arange(n_seg, device=dev, dtype=wave.dtype)
        durf = dur.to(wave.dtype)[:, None]
        win = torch.where(ts < durf, 0.5 - 0.5 * torch.cos(2 * math.pi * (ts + 0.5) / durf),
                          torch.zeros((), device=dev))
        amp = torch.exp(0.5 * log_e) / torch.sqrt(
            torch.where(pulse, float(n_seg), 0.375 * durf[:, 0]))
        chan = self.patterns.to(dev)[cls, pat]                             # (M, C)
        wave = wave * (win * amp[:, None])[:, None, :] * chan[:, :, None]
        # no sample beyond the loudest the class's recorded occurrences held
        top = wave.detach().square().amax((1, 2)).clamp_min(1e-30)
        wave = wave * torch.exp(0.5 * (self.log_peak_max.to(dev)[cls] - top.log())
                                ).clamp(max=1.0)[:, None, None]
        delay = torch.round(self.delay.to(dev)[cls] * chan).long()        # (M, C)
        room = (t - dur - delay.amax(-1) + 1).clamp_min(1)
        start = torch.floor(u * room).long()                               # (M,)
        pos = (start[:, None] + delay)[:, :, None] + ts.long()             # (M, C, n_seg)
        inside = pos < t
        idx = (event[:, None, None] * c + torch.arange(c, device=dev)[None, :, None]) * t \
            + pos.clamp(max=t - 1)
        vals = (wave * inside).to(x.dtype)
        if torch.is_grad_enabled() and x.requires_grad:
            return x.reshape(-1).index_add(0, idx.flatten(), vals.flatten()).view(n, c, t)
        out = x if x.is_contiguous() else x.contiguous()
        out.view(-1).index_add_(0, idx.flatten(), vals.flatten())
        return out
