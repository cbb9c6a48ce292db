"""Figures of a validation report (matplotlib ``Agg``): per channel, cross-channel,
trigger rates, memorisation distances and band power per condition."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..conditions import LST
from ..metrics.conditional import ConditionalReport
from ..metrics.fidelity import FidelityReport

__all__ = ["GEN_COLOR", "REAL_COLOR", "STYLE", "VERDICT_COLORS", "condition_figure",
           "make_figures", "png_base64"]

REAL_COLOR = "#1f4e9c"
GEN_COLOR = "#d9541e"
VERDICT_COLORS = {"pass": "#2e8b3d", "warn": "#d99a00", "fail": "#c0392b", "n/a": "#888888"}

STYLE = {
    "font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "legend.fontsize": 10,
    "xtick.labelsize": 11, "ytick.labelsize": 11, "axes.grid": True, "grid.alpha": 0.3,
    "figure.dpi": 100,
}


def _mhz(f: np.ndarray) -> np.ndarray:
    return np.asarray(f) / 1e6


def _channel_figure(report: FidelityReport, c: int) -> Figure:
    d = report.details
    ch = report.channels[c]
    sigma_mv = float(d["sigma_volts"][c]) * 1e3
    fig = plt.figure(figsize=(15, 10))
    fig.suptitle(f"Channel {ch}  (real RMS {sigma_mv:.2f} mV)", fontsize=15, weight="bold")
    outer = fig.add_gridspec(2, 1, height_ratios=[1.05, 1], hspace=0.3, left=0.06,
                             right=0.98, top=0.93, bottom=0.06)
    gs = outer[0].subgridspec(4, 3, hspace=0.08, wspace=0.28)
    gs2 = outer[1].subgridspec(2, 3, hspace=0.45, wspace=0.28)
    top = bottom = fig
    ax_psd = top.add_subplot(gs[:3, 0])
    ax_ratio = top.add_subplot(gs[3, 0], sharex=ax_psd)
    psd = d["psd"]
    f = _mhz(psd["frequencies_hz"])
    to_db = 10 * np.log10(np.maximum(np.asarray(psd["real_mean"])[c], 1e-300) * 1e6)
    gen_db = 10 * np.log10(np.maximum(np.asarray(psd["generated_mean"])[c], 1e-300) * 1e6)
    for key, color, label, mean_db in (("real", REAL_COLOR, "real", to_db),
                                       ("generated", GEN_COLOR, "generated", gen_db)):
        q = np.asarray(psd[f"{key}_quantiles"])[:, c]
        ax_psd.fill_between(f, 10 * np.log10(np.maximum(q[0], 1e-300) * 1e6),
                            10 * np.log10(np.maximum(q[2], 1e-300) * 1e6), color=color,
                            alpha=0.2, lw=0, label=f"{label} 15-85 %")
        ax_psd.plot(f, mean_db, color=color, lw=1.6, label=f"{label} mean")
    lo, hi = _mhz(report.band)
    for ax in (ax_psd, ax_ratio):
        ax.axvspan(lo, hi, color="0.85", alpha=0.35, lw=0, zorder=0)
    ax_psd.set_ylabel("PSD (dB re V²/MHz)")
    ax_psd.set_title("Power spectral density (Welch)")
    finite = to_db[np.isfinite(to_db)]
    if finite.size:
        ax_psd.set_ylim(finite.max() - 60, finite.max() + 8)
    ax_psd.legend(loc="lower center", ncol=2)
    plt.setp(ax_psd.get_xticklabels(), visible=False)
    ratio = gen_db - to_db
    ax_ratio.plot(f, ratio, color="k", lw=1.2)
    ax_ratio.axhline(0, color="0.4", lw=0.8)
    ax_ratio.set_ylim(-3, 3)
    ax_ratio.set_xlabel("frequency (MHz)")
    ax_ratio.set_ylabel("gen/real (dB)")
    ax_ratio.set_xlim(f[0], f[-1])

    ax_amp = top.add_subplot(gs[:, 1])
    h = d["amplitude_hist"]
    edges = np.asarray(h["edges_sigma"]) * sigma_mv
    centres = 0.5 * (edges[1:] + edges[:-1])
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(h[key])[c].astype(float)
        dens = counts / max(counts.sum(), 1) / np.diff(edges)
        ax_amp.step(centres, np.where(dens > 0, dens, np.nan), where="mid", color=color,
                    lw=1.5, label=key)
    ax_amp.set_yscale("log")
    ax_amp.set_xlabel("voltage (mV)")
    ax_amp.set_ylabel("density (1/mV)")
    ax_amp.set_title("Sample values (±10 RMS; outer bins hold overflow)")
    ax_amp.legend()

    ax_pk = top.add_subplot(gs[:, 2])
    p = d["peak_to_rms"]
    pe = np.asarray(p["edges"])
    for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
        counts = np.asarray(p[key])[c].astype(float)
        ax_pk.stairs(counts / max(counts.sum(), 1), pe, color=color, lw=1.5, label=key)
    ax_pk.set_yscale("log")
    ax_pk.set_xlabel("peak / RMS of the trace")
    ax_pk.set_ylabel("fraction of events")
    ax_pk.set_title("Peak-to-RMS per event")
    n_r = report.sizes.get("real", 0)
    n_g = report.sizes.get("generated_used", 0)
    rates = [f"{t:.0f}σ: {p['real_rate'][i][c]:.2%} ({round(p['real_rate'][i][c] * n_r)}/{n_r})"
             f" / {p['generated_rate'][i][c]:.2%}" for i, t in enumerate(p["thresholds_sigma"])]
    ax_pk.text(0.97, 0.97, f"events above (real / gen of {n_g})\n" + "\n".join(rates),
               transform=ax_pk.transAxes, ha="right", va="top", fontsize=10,
               bbox={"fc": "white", "ec": "0.7"})
    ax_pk.legend(loc="lower left")

    ax_bl = bottom.add_subplot(gs2[:, 0])
    if "block_spread" in d:
        b = d["block_spread"]
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            counts = np.asarray(b[key])[c].astype(float)
            ax_bl.stairs(counts / max(counts.sum(), 1), np.asarray(b["edges"]), color=color,
                         lw=1.5, label=key)
        ax_bl.legend()
    ax_bl.set_xlabel("std of 128-sample block means / real RMS")
    ax_bl.set_ylabel("fraction of events")
    ax_bl.set_title("Digitizer block structure")
    ex = d.get("examples", {})
    for row, key, color in ((0, "real", REAL_COLOR), (1, "generated", GEN_COLOR)):
        traces = np.asarray(ex.get(key, np.zeros((0, 1, 1))))
        for col in range(2):
            ax = bottom.add_subplot(gs2[row, 1 + col])
            if col < len(traces):
                t_ns = np.arange(traces.shape[-1]) / report.sampling_rate * 1e9
                ax.plot(t_ns, traces[col, c] * 1e3, color=color, lw=0.7)
                ax.set_xlim(t_ns[0], t_ns[-1])
            ax.set_title(f"{key} event {col + 1}", fontsize=11)
            ax.set_ylim(-6 * sigma_mv, 6 * sigma_mv)
            if row == 1:
                ax.set_xlabel("time (ns)")
            if col == 0:
                ax.set_ylabel("voltage (mV)")
    return fig


def _xcorr_figure(report: FidelityReport) -> Figure | None:
    d = report.details
    if "xcorr" not in d:
        return None
    x = d["xcorr"]
    pairs = x["pairs"]
    n = len(pairs)
    ncol = min(n, 4) + 1
    nrow = int(np.ceil(n / (ncol - 1)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.4 * nrow + 0.8),
                             squeeze=False, gridspec_kw={"wspace": 0.3, "hspace": 0.45})
    fig.subplots_adjust(left=0.06, right=0.97, top=1 - 0.75 / (3.4 * nrow + 0.8),
                        bottom=0.55 / (3.4 * nrow + 0.8) + 0.08)
    edges = np.asarray(x["edges"])
    for k, (i, j) in enumerate(pairs):
        ax = axes[k // (ncol - 1), k % (ncol - 1)]
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            counts = np.asarray(x[key])[k].astype(float)
            ax.stairs(counts / max(counts.sum(), 1), edges, color=color, lw=1.5, label=key)
        ax.set_title(f"ch {i} × ch {j}")
        ax.set_xlabel("max |normalised xcorr|, ±20 ns")
        if k % (ncol - 1) == 0:
            ax.set_ylabel("fraction of events")
    axes[0, 0].legend()
    for k in range(n, nrow * (ncol - 1)):
        axes[k // (ncol - 1), k % (ncol - 1)].axis("off")
    corr = d["correlation"]
    diff = np.asarray(corr["generated"]) - np.asarray(corr["real"])
    ax = axes[0, -1]
    lim = max(0.05, float(np.nanmax(np.abs(diff))))
    im = ax.imshow(diff, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ticks = range(len(report.channels))
    ax.set_xticks(ticks, report.channels)
    ax.set_yticks(ticks, report.channels)
    ax.set_title("zero-lag corr.: gen − real")
    ax.grid(False)
    fig.colorbar(im, ax=ax, shrink=0.8)
    for r in range(1, nrow):
        axes[r, -1].axis("off")
    fig.suptitle("Cross-channel correlation", fontsize=15, weight="bold")
    return fig


def _trigger_figure(report: FidelityReport) -> Figure | None:
    t = report.details.get("trigger")
    if not t:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.86, bottom=0.12, wspace=0.22)
    titles = {"highlow": ("High/low trigger, 2 of N channels in 20 ns", "threshold (× RMS)"),
              "power": ("Power-integration trigger (10 ns, any channel)",
                        "threshold (× mean power)")}
    n_min = min(report.sizes.get("real", 1), report.sizes.get("generated_used", 1))
    for ax, (kind, (title, xlabel)) in zip(axes, titles.items(), strict=True):
        c = t[kind]
        thr = np.asarray(c["thresholds"])
        for key, color in (("real", REAL_COLOR), ("generated", GEN_COLOR)):
            rate = np.asarray(c[f"{key}_rate"], float)
            ax.plot(thr, np.where(rate > 0, rate, np.nan), color=color, lw=1.6,
                    label=f"{key} (max {c[f'{key}_max']:.3g})")
            ax.fill_between(thr, np.maximum(np.asarray(c[f"{key}_lo"], float), 1e-7),
                            np.asarray(c[f"{key}_hi"], float), color=color, alpha=0.2, lw=0)
        for x in c.get("judged_thresholds", []):
            ax.axvline(x, color="0.4", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1e-6, 0.3 / max(n_min, 1)))
        ax.set_xlabel(xlabel + "; dotted: judged thresholds")
        ax.set_ylabel("fraction of events triggering (Wilson 95 %)")
        ax.set_title(title)
        ax.legend()
    fig.suptitle("Noise trigger rates", fontsize=15, weight="bold")
    return fig


def _memorisation_figure(report: FidelityReport) -> Figure | None:
    m = report.details.get("memorisation_distances")
    if not m:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.88, bottom=0.14)
    gen, held = np.asarray(m["generated"]), np.asarray(m["heldout"])
    both = np.concatenate([gen, held])
    edges = np.linspace(0.0, max(float(both.max()), 1e-9) * 1.05, 61)
    for values, color, label in ((held, REAL_COLOR, m["heldout_label"]),
                                 (gen, GEN_COLOR, "generated")):
        counts = np.histogram(values, edges)[0].astype(float)
        ax.stairs(counts / max(counts.sum(), 1), edges, color=color, lw=1.6, label=label)
    ax.axvline(m["cut"], color="0.3", ls="--", lw=1, label="held-out 5 % point")
    ax.set_xlabel("distance to the nearest training event (embedding units)")
    ax.set_ylabel("fraction of events")
    ax.set_title("Memorisation: nearest-training-event distances")
    ax.legend()
    return fig


def make_figures(report: FidelityReport) -> list[tuple[str, Figure]]:
    """All report figures as ``(title, figure)``: per channel (or, above
    :data:`~rnognoise.report.grouped.GROUPED_ABOVE` channels, a scoreboard and one figure
    per RNO-G channel group with its worst channel), cross-channel, triggers,
    memorisation and, for a VAE, its latent map."""
    from .grouped import GROUPED_ABOVE

    with plt.rc_context(STYLE):
        figs: list[tuple[str, Figure]] = []
        if len(report.channels) <= GROUPED_ABOVE:
            for c, ch in enumerate(report.channels):
                figs.append((f"Channel {ch}", _channel_figure(report, c)))
        else:
            figs += _grouped_figures(report)
        xf = _xcorr_figure(report) if len(report.channels) <= GROUPED_ABOVE else None
        if len(report.channels) > GROUPED_ABOVE:
            from .group_figures import station_xcorr_figure

            xf = station_xcorr_figure(report)
        if xf is not None:
            figs.append(("Cross-channel correlation", xf))
        tf = _trigger_figure(report)
        if tf is not None:
            figs.append(("Trigger rates", tf))
        mf = _memorisation_figure(report)
        if mf is not None:
            figs.append(("Memorisation", mf))
        if report.details.get("latent"):
            from .latent import latent_figure

            figs.append(("VAE latent space", latent_figure(report.details["latent"])))
    return figs


def _grouped_figures(report: FidelityReport) -> list[tuple[str, Figure]]:
    from ..conditions import group_channels
    from .group_figures import group_figure, scoreboard_figure
    from .grouped import group_label, worst_channel

    figs = [("Every channel at a glance", scoreboard_figure(report))]
    for name, chans in group_channels(report.channels).items():
        label = group_label(name)
        figs.append((f"{label} (channels {', '.join(map(str, chans))})",
                     group_figure(report, name, chans)))
        worst = worst_channel(report, chans)
        figs.append((f"Channel {worst}: the worst of the {label} group",
                     _channel_figure(report, report.channels.index(worst))))
    return figs


def condition_figure(cond: ConditionalReport) -> Figure | None:
    """Band power per group, real vs generated, and the generated/real ratio per channel.

    Top: the band power averaged over each group's channels (mV², standard errors of the
    mean over events); for a single ``lst`` condition a line versus the LST bin centre,
    with the bins shaded by verdict. Bottom: ``10 log10(generated / real)`` band power per
    channel and group. None when no group was compared.
    """
    groups = cond.evaluated
    if not groups:
        return None
    n = len(groups)
    labels = [g.label for g in groups]
    single_lst = cond.by == [LST]
    chans = cond.channels
    with plt.rc_context(STYLE):
        fig, (ax_p, ax_r) = plt.subplots(
            2, 1, figsize=(max(9.0, 0.75 * n + 4.0), 5.0 + max(3.0, 0.3 * len(chans) + 1.5)),
            height_ratios=[5.0, max(3.0, 0.3 * len(chans) + 1.5)], layout="constrained")
        x = (np.array([0.5 * (g.values[LST][0] + g.values[LST][1]) for g in groups])
             if single_lst else np.arange(n, dtype=float))
        for key, color, marker in (("real", REAL_COLOR, "o"), ("generated", GEN_COLOR, "s")):
            y = np.array([_nan(g.band_power_mean.get(key)) for g in groups]) * 1e6
            err = np.array([_nan(g.band_power_mean.get(f"{key}_err")) for g in groups]) * 1e6
            ax_p.errorbar(x, y, yerr=np.nan_to_num(err), color=color, marker=marker, ms=6,
                          ls="-" if single_lst else "none", capsize=3, lw=1.5, label=key)
        lo, hi = cond.band[0] / 1e6, cond.band[1] / 1e6
        ax_p.set_title(f"Band power {lo:.0f}-{hi:.0f} MHz per group")
        ax_p.set_ylabel("mean over channels (mV²)")
        if single_lst:
            for g in groups:
                ax_p.axvspan(g.values[LST][0], g.values[LST][1], lw=0, alpha=0.12,
                             color=VERDICT_COLORS.get(g.verdict, "#888"))
            ax_p.set_xlim(0.0, 24.0)
            ax_p.set_xticks(np.arange(0, 25, 3))
            ax_p.set_xlabel("local sidereal time (h); shading: verdict of the bin")
        else:
            ax_p.set_xticks(x, labels, rotation=30, ha="right")
            ax_p.set_xlim(-0.6, n - 0.4)
            for tick, g in zip(ax_p.get_xticklabels(), groups, strict=True):
                tick.set_color(VERDICT_COLORS.get(g.verdict, "#888"))
        ax_p.legend()
        ratio = np.full((len(chans), n), np.nan)
        for j, g in enumerate(groups):
            for c, r in zip(g.channels, g.band_power.get("ratio_db", []), strict=False):
                ratio[chans.index(c), j] = _nan(r)
        finite = ratio[np.isfinite(ratio)]
        lim = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
        im = ax_r.imshow(ratio, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                         interpolation="nearest")
        if ratio.size <= 400:
            for (i, j), v in np.ndenumerate(ratio):
                if np.isfinite(v):
                    ax_r.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=8,
                              color="white" if abs(v) > 0.6 * lim else "black")
        ax_r.set_yticks(range(len(chans)), [f"ch {c}" for c in chans])
        ax_r.set_xticks(range(n), labels, rotation=30, ha="right")
        ax_r.grid(False)
        ax_r.set_title("Generated / real band power per channel (dB)")
        fig.colorbar(im, ax=ax_r, label="dB")
        fig.suptitle(f"Per condition: {', '.join(cond.by)}", fontsize=15, weight="bold")
    return fig


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def png_base64(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


