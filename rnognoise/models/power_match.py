"""Matching a model's power spectrum to the data's through its background's spectral
correction.

The structured generator's Gaussian background has a per-channel, per-bin log-amplitude
correction (:class:`~rnognoise.models.physics.Background`). Other parts add power of their
own (lines, pulses, the general parts' maps), so the correction that puts the model's
spectrum where the data have it is found by a few rounds of measurement: draw events,
compare their power with the data's, move the correction by half the log ratio (an
amplitude), repeat. Used when the model is built (bin by bin, before the general parts
are fitted) and at the end of a fit (:meth:`NoiseModel.calibrate_power
<rnognoise.models.base.NoiseModel.calibrate_power>`, in bands, after training).

The level matched in a bin is the **median over events** of its power by default: what
only some events carry (intermittent lines, bursts, pulses) is then not given to every
event's background, which a classifier of per-event band powers sees at once (moment fits
of the out-of-vocabulary set, docs/benchmarks.md: C2ST AUC 0.655 matching the mean, 0.617
matching the median); the mean over events is the other choice (``statistic="mean"``).
The median of an exponentially distributed power scatters 1.44 times as much as its
mean, which the fine match at the end of a fit cannot afford: there the level is the
**trimmed mean** (``statistic="trimmed"``), each bin's power summed over the events but
the tenth in which it is largest (on the ``interleave`` set the per-event log band powers
of four channels in four bands came out 0.58 % (RMS) from the training data's after a
median match, 0.37 % after one more, 0.22 % after a trimmed one and 0.18 % after a mean
one; the baseline, the data's mean spectrum, 0.2 %).

The trimmed mean still counts what a rare class of loud events adds wherever those events
are not among the loudest tenth: on the ``storm`` set (8 % of the events carry wind noise
of 1.5-3 times the chain's RMS, red, so that at high frequencies it adds little) two sets
of 2000 drawn events, the same model, left typical events 1.5 % apart in power, the
class's share of the draws deciding (held-out C2ST AUC of a fitted VAE 0.628 and 0.699
after calibrating with either). The fine match now takes the **median over events of
each event's band power** (``statistic="band_median"``): the median of a sum of 16
bins' powers scatters about a quarter as much as one bin's, and a class of fewer than
half the events moves it only by its share (the same two calibrations: 0.627 and 0.628).

Not all of a model's power scales with its background: lines, pulses, the maps of the
general parts (a nonlinear transfer curve spreads in-band power over every frequency)
and the digitizer's rounding add power of their own. A step that assumed all of it
scales fell short wherever they matter (outside the passband a round removed a third of
the excess it aimed at: +0.3 to +0.5 dB left after three rounds). From the second round
on, each band's step uses the part of its power that the previous step actually moved
(a secant step; the same events are drawn every round, so the difference is the step's
effect, not sampling noise).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["band_edges", "match_power_spectrum"]


def band_edges(n_freq: int, band_bins: int) -> np.ndarray:
    """Edges of bands of about ``band_bins`` frequency bins covering bins ``1..n_freq-1``
    (the DC bin is left out), int64."""
    n_bands = max(1, round((n_freq - 1) / max(1, band_bins)))
    return np.unique(np.linspace(1, n_freq, n_bands + 1).round().astype(np.int64))


def _powers(traces: torch.Tensor) -> torch.Tensor:
    """``|rfft|^2`` of traces ``(n, C, T)`` (computed in float64), float32 ``(n, C, F)``."""
    return torch.fft.rfft(traces.double(), dim=-1).abs().square().float()


def _band_sums(power: torch.Tensor, edges: np.ndarray) -> torch.Tensor:
    """``power`` ``(C, F)`` summed in the bands ``edges[i]:edges[i + 1]``, ``(C, B)``."""
    cum = torch.nn.functional.pad(power.cumsum(-1), (1, 0))
    idx = torch.as_tensor(edges, device=power.device)
    return cum[..., idx[1:]] - cum[..., idx[:-1]]


#: The share of events, in each bin the largest, that the ``trimmed`` level leaves out.
TRIMMED_FRACTION = 0.1


def _levels(power: torch.Tensor, edges: np.ndarray, statistic: str
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Band levels ``(C, B)`` (the ``statistic`` over events of each bin's power, summed
    in bands), each channel's mean power without DC ``(C,)`` and that mean's relative
    variance (the squared standard error over the mean squared, ``(C,)``), float64."""
    if statistic == "median":
        level = power.median(dim=0).values.double()
    elif statistic == "mean":
        level = power.double().mean(0)
    elif statistic == "band_median":
        per_event = _band_sums(power.double(), edges)                           # (n, C, B)
        level = per_event.median(dim=0).values
    elif statistic == "trimmed":
        n = power.shape[0]
        keep = max(1, math.ceil((1.0 - TRIMMED_FRACTION) * n))
        cut = power.kthvalue(keep, dim=0, keepdim=True).values
        level = torch.where(power <= cut, power, 0.0).sum(0, dtype=torch.float64) / n
    else:
        raise ValueError("statistic must be 'median', 'band_median', 'trimmed' or 'mean', "
                         f"got {statistic!r}")
    total = power[..., 1:].double().sum(-1)                                   # (n, C)
    mean = total.mean(0)
    rel_var = total.var(0) / max(total.shape[0], 1) / mean.square().clamp_min(1e-300)
    return (level if statistic == "band_median" else _band_sums(level, edges)), mean, rel_var


def _newton_ratio(target: torch.Tensor, seen: torch.Tensor, model: torch.Tensor
                  ) -> torch.Tensor:
    """Factor on the model's power that moves what is seen (the model's power plus what
    is added after it) to ``target``: ``1 + (target - seen) / model``, at least 1e-3
    (``target / model`` when nothing is added)."""
    return (1.0 + (target - seen) / model.clamp_min(1e-300)).clamp_min(1e-3)


#: Smallest power step (``|factor - 1|``) from which the next round measures the part of
#: a band's power that scales with the background (smaller steps: the model's power is
#: taken as that part).
SECANT_MIN_STEP = 0.05


def _scaling_part(model: torch.Tensor, seen: torch.Tensor, last_seen: torch.Tensor | None,
                  last_factor: torch.Tensor | None) -> torch.Tensor:
    """The part of each band's seen power that scales with the background's correction:
    ``(seen - last_seen) / (1 - 1 / last_factor)`` where the last round changed the power
    by ``last_factor`` (at least :data:`SECANT_MIN_STEP` away from 1), else ``model``
    (the model's power before anything is added after it); kept within
    ``[0.2, 1] x model`` (a band whose power moved against its step, through what
    else the step changed, keeps a fifth: a step at most five times the plain one)."""
    if last_seen is None or last_factor is None:
        return model
    moved = (last_factor - 1.0).abs() >= SECANT_MIN_STEP
    measured = (seen - last_seen) / (1.0 - 1.0 / torch.where(moved, last_factor, 2.0))
    measured = torch.minimum(measured.clamp_min(0.2 * model), model)
    return torch.where(moved, measured, model)


#: Standard errors by which the model's and the data's mean powers must differ for the
#: last round of :func:`match_power_spectrum` (``total``) to move the model. On a set
#: whose carrier, in a quarter of the events, holds most of their power (NuRadioMC-built,
#: 2000 events), the mean of the model's draws scattered by 3-4 %: two fits whose draws
#: differed only in their random numbers came out with typical events 4.5 % louder than
#: the data's in one and 0.5 % in the other (held-out C2ST AUC 0.65 against 0.52).
TOTAL_SIGNIFICANCE = 2.0
#: Standard errors at which the last round takes its whole step; between
#: :data:`TOTAL_SIGNIFICANCE` and this it takes a share rising linearly from none. A step
#: taken whole at the threshold or not at all moved a channel whose difference lay just
#: beyond it by the whole difference and left the others (common-mode pickup of a
#: log-normal amplitude, four like channels: one channel's typical power 4 % below the
#: others' after one calibration, at one with them after another of the same model).
TOTAL_FULL_SIGNIFICANCE = 3.0


def match_power_spectrum(correction: torch.Tensor, data: torch.Tensor,
                         draw: Callable[[int, torch.Generator], torch.Tensor], *,
                         n_events: int = 2000, rounds: int = 2, band_bins: int = 1,
                         statistic: str = "median", total: bool = False,
                         max_step: float = 1.0, seed: int = 0, batch: int = 256,
                         recorded: Callable[[torch.Tensor], torch.Tensor] | None = None
                         ) -> torch.Tensor:
    """Move ``correction`` in place so that the model's power spectrum matches the data's.

    Parameters
    ----------
    correction : torch.Tensor
        The background's log-amplitude correction ``(C, F)``, changed in place.
    data : torch.Tensor
        Normalised training traces ``(n, C, T)`` (at most ``n_events`` of them are used,
        evenly spaced).
    draw : callable
        ``draw(n, generator)`` returns ``n`` of the model's events ``(n, C, T)``.
    n_events : int
        Events drawn each round.
    rounds : int
        Rounds of the band-by-band match.
    band_bins : int
        Width of the bands in frequency bins (1: bin by bin). Each band's step is
        interpolated linearly between band centres; the DC bin is not changed.
    statistic : {"median", "band_median", "trimmed", "mean"}
        Level of a bin: the median, the trimmed mean (the events' powers summed without
        the :data:`TRIMMED_FRACTION` largest, over all events) or the mean over events of
        its power; or of a band, ``band_median``: the median over events of each event's
        power in the band.
    total : bool
        Add a last round that matches each channel's mean power without DC (one factor
        over all bins but DC), where the model's and the data's means differ by more than
        :data:`TOTAL_SIGNIFICANCE` standard errors (of the means over their events): by a
        share of the difference that rises linearly to all of it at
        :data:`TOTAL_FULL_SIGNIFICANCE`, so that the result is continuous in the data.
    max_step : float
        Largest change of the log amplitude per round.
    seed : int
        Seed of every round's draw (the same events each round).
    batch : int
        Events drawn at a time.
    recorded : callable, optional
        ``recorded(events)``: the model's drawn events as its samples hold them (the
        digitizer's rounding adds white noise of its own). The recorded power is matched
        to the data's, with Newton steps for power added after the correction: the
        background's level moves by the difference of the data's and the recorded
        level, not by their ratio. (Subtracting the rounding noise's level from the
        data's median is wrong where some events carry more: with a carrier's leakage in
        a third of the events, a bin's median is not the sum of its parts' medians, and
        the model got 1.5 times the rounding noise in the events without the carrier.)

    Returns
    -------
    torch.Tensor
        Per channel, the ratio of the data's to the model's RMS (without DC) before the
        first round ``(C,)``.
    """
    device = correction.device
    n_freq = correction.shape[-1]
    edges = band_edges(n_freq, band_bins)
    centres = 0.5 * (edges[:-1] + edges[1:] - 1)
    bins = np.arange(n_freq, dtype=np.float64)
    stride = max(1, len(data) // max(1, n_events))
    subset = data[::stride][:n_events]
    target, target_total, target_var = _levels(torch.cat([_powers(subset[a:a + batch].to(device))
                                              for a in range(0, len(subset), batch)]),
                                   edges, statistic)
    first: torch.Tensor | None = None
    last_seen: torch.Tensor | None = None
    last_factor: torch.Tensor | None = None
    for r in range(rounds + int(total)):
        gen = torch.Generator(device=device).manual_seed(seed)
        pre, post = [], []
        with torch.no_grad():
            for a in range(0, n_events, batch):
                x = draw(min(batch, n_events - a), gen)
                pre.append(_powers(x))
                if recorded is not None:
                    post.append(_powers(recorded(x)))
        model, model_total, model_var = _levels(torch.cat(pre), edges, statistic)
        seen, seen_total, seen_var = (model, model_total, model_var) if recorded is None \
            else _levels(torch.cat(post), edges, statistic)
        del pre, post
        if first is None:
            first = (target_total / seen_total.clamp_min(1e-300)).sqrt()
        if r == rounds:
            # only a difference the two means resolve: where some events carry much
            # more power than the others, the mean of 2000 events scatters by several
            # per cent, and a step by that scatter moved every event's power with it
            log_ratio = _newton_ratio(target_total, seen_total, model_total).log()
            z = log_ratio.abs() / (target_var + seen_var).sqrt().clamp_min(1e-30)
            share = ((z - TOTAL_SIGNIFICANCE)
                     / (TOTAL_FULL_SIGNIFICANCE - TOTAL_SIGNIFICANCE)).clamp(0.0, 1.0)
            steps = 0.5 * (share * log_ratio)[:, None].expand(-1, len(centres))
        else:
            fillable = model > 1e-12 * float(model.max())  # bins the model cannot fill
            scaling = _scaling_part(model, seen, last_seen, last_factor)
            steps = torch.where(fillable, 0.5 * _newton_ratio(target, seen, scaling).log(), 0.0)
        steps = steps.clamp(-max_step, max_step)
        if r < rounds:
            last_seen, last_factor = seen, (2.0 * steps).exp()
        steps = steps.cpu().numpy()
        per_bin = np.stack([np.interp(bins, centres, s) for s in steps])
        per_bin[:, 0] = 0.0
        with torch.no_grad():
            correction.add_(torch.from_numpy(per_bin).to(correction))
    assert first is not None
    return first.float()

