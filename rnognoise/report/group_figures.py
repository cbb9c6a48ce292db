"""Figures of a full station: a per-channel scoreboard and one figure per channel group.

Instead of 24 per-channel figures in a row, a report of more than
:data:`~rnognoise.report.grouped.GROUPED_ABOVE` channels shows

- the *scoreboard*: every per-channel metric (rows) against every channel (columns,
  ordered by RNO-G group), coloured by result, with the excess over the centre in units of
  the pass tolerance written in each cell (1 = at the pass limit);
- per channel group: the mean spectra of its channels (real and generated), their
  generated/real ratio per channel, the pooled sample-value and peak-to-RMS histograms
  with the per-channel 5 sigma rates; followed by the full figure of the group's worst
  channel (:func:`rnognoise.report.figures.channel_figure`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..conditions import group_channels
from ..metrics.fidelity import FidelityReport
from .figures import GEN_COLOR, REAL_COLOR, VERDICT_COLORS
from .grouped import group_label

__all__ = ["group_figure", "scoreboard_figure", "station_xcorr_figure"]

_CODES = {"n/a": 0, "pass": 1, "warn": 2, "fail": 3}


def scoreboard_figure(report: FidelityReport) -> Figure:
    """Result of every per-channel row: metrics x channels, channels grouped by RNO-G group
    (a metric with several rows per channel, e.g. one per line, shows the worst)."""
    groups = group_channels(report.channels)
    order = [c for chans in groups.values() for c in chans]
    names: list[str] = []
    for r in report.rows:
        if r.channel is not None and r.name not in names:
            names.append(r.name)
    code = np.full((len(names), len(order)), np.nan)
    excess = np.full_like(code, np.nan)
    col = {c: j for j, c in enumerate(order)}
    for r in report.rows:  # several rows of a cell (one per line): the worst is shown
        if r.channel is None or r.channel not in col:
            continue
        i, j = names.index(r.name), col[r.channel]
        rank = (_CODES.get(r.verdict, 0), r.excess if r.excess == r.excess else -1.0)
        if np.isnan(code[i, j]) or rank > (code[i, j], np.nan_to_num(excess[i, j], nan=-1.0)):
            code[i, j] = rank[0]
            excess[i, j] = r.excess
    fig, ax = plt.subplots(figsize=(max(8.0, 0.5 * len(order) + 4.5),
                                    0.42 * len(names) + 2.2))
    fig.subplots_adjust(left=0.25, right=0.98, top=1 - 1.2 / (0.42 * len(names) + 2.2),
                        bottom=0.5 / (0.42 * len(names) + 2.2))
    cmap = ListedColormap([VERDICT_COLORS[k] for k in _CODES])
    ax.imshow(np.ma.masked_invalid(code), cmap=cmap, vmin=-0.5, vmax=3.5, aspect="auto",
              interpolation="nearest")
    for (i, j), v in np.ndenumerate(excess):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.1f}" if v < 10 else f"{v:.0f}", ha="center", va="center",
                    fontsize=8, color="white")
    ax.set_yticks(range(len(names)), names)
    ax.set_xticks(range(len(order)), [str(c) for c in order])
    ax.set_xlabel("channel")
    ax.grid(False)
    start = 0
    for g, chans in groups.items():
        if start:
            ax.axvline(start - 0.5, color="white", lw=4)
        ax.text(start + (len(chans) - 1) / 2, -0.7, group_label(g), ha="center", va="bottom",
                fontsize=11, weight="bold")
        start += len(chans)
    ax.set_title("Every per-channel row: result (colour) and excess over the centre in "
                 "units of the pass tolerance (1 = pass limit)", fontsize=12, pad=26)
    return fig


def _db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(np.asarray(x, float), 1e-300) * 1e6)


def group_figure(report: FidelityReport, name: str, channels: list[int]) -> Figure:
    """Spectra, spectral ratio per channel, pooled amplitude and peak-to-RMS of one group."""
    d = report.details
    idx = [report.channels.index(c) for c in channels]
    fig, axes = plt.subplots(2, 2, figsize=(15, 9.5))
    fig.subplots_adjust(left=0.06, right=0.98, top=0.9, bottom=0.07, hspace=0.3, wspace=0.2)
    sig = np.asarray(d["sigma_volts"], float)[idx] * 1e3
    fig.suptitle(f"{group_label(name)}: channels {', '.join(map(str, channels))} (real RMS "
                 f"{sig.min():.3g}-{sig.max():.3g} mV)", fontsize=15, weight="bold")
    psd = d["psd"]
    f = np.asarray(psd["frequencies_hz"]) / 1e6
    real = _db(np.asarray(psd["real_mean"])[idx])
    gen = _db(np.asarray(psd["generated_mean"])[idx])
    ax = axes[0, 0]
    for k in range(len(idx)):
        ax.plot(f, real[k], color=REAL_COLOR, lw=1.0, alpha=0.8,
                label="real (one line per channel)" if k == 0 else None)
        ax.plot(f, gen[k], color=GEN_COLOR, lw=1.0, ls="--", alpha=0.8,
                label="generated" if k == 0 else None)
    lo, hi = np.asarray(report.band) / 1e6
    top = float(np.nanmax(real[np.isfinite(real)])) if np.isfinite(real).any() else 0.0
    ax.set_ylim(top - 60, top + 8)
    ax.set_xlim(f[0], f[-1])
    ax.set_title("Mean power spectral density (Welch)")
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("PSD (dB re V²/MHz)")
    ax.legend(loc="lower center")
    ax = axes[0, 1]
    cmap = plt.get_cmap("tab10")
    for k, c in enumerate(channels):
        ax.plot(f, gen[k] - real[k], color=cmap(k % 10), lw=1.1, label=f"ch {c}")
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_ylim(-3, 3)
    ax.set_xlim(f[0], f[-1])
    ax.set_title("Generated / real PSD per channel")
    ax.set_xlabel("frequency (MHz)")
    ax.set_ylabel("dB")
    ax.legend(ncol=min(5, len(channels)), fontsize=9, loc="lower center")
    for a in axes[0]:
        a.axvspan(lo, hi, color="0.85", alpha=0.35, lw=0, zorder=0)
    h = d["amplitude_hist"]
    edges = np.asarray(h["edges_sigma"], float)
    ax = axes[1, 0]
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(h[key], float)[idx].sum(axis=0)
        dens = counts / max(counts.sum(), 1) / np.diff(edges)
        ax.step(0.5 * (edges[1:] + edges[:-1]), np.where(dens > 0, dens, np.nan), where="mid",
                color=color, lw=1.5, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("voltage / channel RMS (±10; outer bins hold overflow)")
    ax.set_ylabel("density")
    ax.set_title("Sample values, pooled over the group's channels")
    ax.legend()
    p = d["peak_to_rms"]
    ax = axes[1, 1]
    pe = np.asarray(p["edges"], float)
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(p[key], float)[idx].sum(axis=0)
        ax.stairs(counts / max(counts.sum(), 1), pe, color=color, lw=1.5, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("peak / RMS of the trace")
    ax.set_ylabel("fraction of channel-events")
    ax.set_title("Peak-to-RMS per event, pooled")
    thr = list(p["thresholds_sigma"])
    i5 = thr.index(5) if 5 in thr else len(thr) // 2
    lines = [f"ch {c}: {p['real_rate'][i5][i]:.2%} / {p['generated_rate'][i5][i]:.2%}"
             for c, i in zip(channels, idx, strict=True)]
    ax.text(0.97, 0.97, f"events above {thr[i5]:g}σ (real / gen)\n" + "\n".join(lines),
            transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"fc": "white", "ec": "0.7"})
    ax.legend(loc="lower left")
    return fig


def station_xcorr_figure(report: FidelityReport) -> Figure | None:
    """Cross-channel structure of a full station: the real zero-lag correlation matrix,
    generated minus real, and the per-pair rows (max cross-correlation distance) as bars,
    channels ordered by RNO-G group."""
    d = report.details
    if "correlation" not in d:
        return None
    groups = group_channels(report.channels)
    order = [c for chans in groups.values() for c in chans]
    idx = [report.channels.index(c) for c in order]
    real = np.asarray(d["correlation"]["real"], float)[np.ix_(idx, idx)]
    diff = np.asarray(d["correlation"]["generated"], float)[np.ix_(idx, idx)] - real
    fig = plt.figure(figsize=(19, 7.5))
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.3], left=0.04, right=0.98, top=0.86,
                          bottom=0.12, wspace=0.25)
    bounds = np.cumsum([len(c) for c in groups.values()])[:-1] - 0.5
    for k, (mat, title, cmap, lim) in enumerate((
            (real, "real zero-lag correlation", "RdBu_r", 1.0),
            (diff, "generated − real", "RdBu_r",
             max(0.05, float(np.nanmax(np.abs(diff))) if diff.size else 0.05)))):
        ax = fig.add_subplot(gs[0, k])
        im = ax.imshow(mat, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks(range(len(order)), [str(c) for c in order], fontsize=8)
        ax.set_yticks(range(len(order)), [str(c) for c in order], fontsize=8)
        for b in bounds:
            ax.axvline(b, color="k", lw=1)
            ax.axhline(b, color="k", lw=1)
        ax.grid(False)
        ax.set_title(title)
        fig.colorbar(im, ax=ax, shrink=0.8)
    ax = fig.add_subplot(gs[0, 2])
    rows = [r for r in report.rows if r.name == "xcorr_max_w1" and r.pair is not None]
    if rows:
        ex = [r.excess if r.excess == r.excess else 0.0 for r in rows]
        ax.bar(range(len(rows)), ex, color=[VERDICT_COLORS.get(r.verdict, "#888") for r in rows])
        ax.axhline(1.0, color="0.3", ls="--", lw=1, label="pass limit")
        ax.set_xticks(range(len(rows)), [f"{r.pair[0]}-{r.pair[1]}" for r in rows],
                      rotation=90, fontsize=8)
        ax.legend()
    ax.set_xlabel("channel pair")
    ax.set_ylabel("excess over centre / pass tolerance")
    ax.set_title("max |cross-correlation| (±20 ns) distance per pair")
    fig.suptitle("Cross-channel correlation (channels ordered by group; lines: group "
                 "boundaries)", fontsize=15, weight="bold")
    return fig
