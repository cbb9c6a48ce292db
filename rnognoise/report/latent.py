"""The VAE's latent space as a map of noise classes (issue: "the VAE competes").

The ``vae`` model encodes each event's noise state (:meth:`VAEModel.encode`). A useful
latent space puts events of one kind of noise together, as the RNO-G VAE classification
study did by hand (arXiv:2309.16401). :func:`latent_map` encodes the real events, labels
each with a noise class and measures how well the class can be told from the latent
means with a k-nearest-neighbour classifier (5-fold cross-validated accuracy, against the
majority rate, the accuracy of always guessing the commonest class).

Classes come from the simulator's truth columns when the events carry them
(``truth_impulse``, ``truth_pulse_train``, ``truth_burst``, ``truth_cw_*``), otherwise from
the events themselves (:func:`derived_classes`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from scipy.stats import norm

from ..dsp import periodogram
from ..io import TraceSet

__all__ = ["derived_classes", "latent_figure", "latent_map", "noise_classes",
           "separation_line", "truth_classes"]

#: False-alarm probability per event of the derived impulsive and CW classes for Gaussian
#: noise (the "99.9 % Gaussian level").
FALSE_ALARM = 1e-3
#: Fraction of the loudest remaining events (mean log RMS over channels) called ``loud``.
LOUD_FRACTION = 0.05
#: Events encoded at most (a random subset beyond).
MAX_EVENTS = 5000
CLASS_COLORS = {"quiet": "#1f4e9c", "loud": "#7f7f7f", "cw": "#2e8b3d",
                "impulsive": "#d9541e", "burst": "#8e44ad"}


def truth_classes(events: Any) -> tuple[np.ndarray, str] | None:
    """Classes from the simulator's truth columns (impulsive > burst > cw > quiet), or None."""
    if events is None or not len(events):
        return None
    cols = list(events.columns)
    cw = [c for c in cols if c.startswith("truth_cw_")]
    if not ({"truth_impulse", "truth_burst", "truth_pulse_train"} & set(cols) or cw):
        return None
    n = len(events)

    def flag(name: str) -> np.ndarray:
        return (np.asarray(events[name]) > 0) if name in cols else np.zeros(n, bool)

    labels = np.full(n, "quiet", dtype=object)
    if cw:
        labels[np.any([np.asarray(events[c], bool) for c in cw], axis=0)] = "cw"
    labels[flag("truth_burst")] = "burst"
    labels[flag("truth_impulse") | flag("truth_pulse_train")] = "impulsive"
    return labels.astype(str), ("the simulator's truth columns (impulse or pulse train > "
                                "burst > any CW line > quiet)")


def derived_classes(traces: np.ndarray, sampling_rate: float,
                    band: tuple[float, float]) -> tuple[np.ndarray, str]:
    """Classes from the traces alone: impulsive, cw, loud or quiet (first that applies).

    - *impulsive*: some channel's peak exceeds the level a Gaussian trace of that
      channel's robust RMS (median over events) reaches with probability
      :data:`FALSE_ALARM` per event (over all channels and samples);
    - *cw*: some in-band periodogram bin exceeds the typical spectrum (median over events
      of that channel and bin) by the level exponential (Gaussian-noise) periodogram bins
      reach with probability :data:`FALSE_ALARM` per event;
    - *loud*: the top :data:`LOUD_FRACTION` of the other events by mean log RMS;
    - *quiet*: the rest.

    Parameters
    ----------
    traces : numpy.ndarray
        ``(n, C, T)`` volts.
    sampling_rate : float
        Hz.
    band : (float, float)
        Hz: the analysis band of the report, where lines are searched.
    """
    from scipy.ndimage import median_filter

    x = np.asarray(traces, np.float64)
    n, c, t = x.shape
    x = x - x.mean(axis=-1, keepdims=True)
    rms = np.sqrt(np.mean(x**2, axis=-1))  # (n, C)
    sigma = np.median(rms, axis=0)
    peak_level = norm.isf(FALSE_ALARM / (2 * c * t))
    impulsive = np.any(np.abs(x).max(axis=-1) > peak_level * sigma[None, :], axis=1)
    f, p = periodogram(x.astype(np.float32), sampling_rate)
    p = np.asarray(p, np.float64)
    inband = (np.asarray(f) >= band[0]) & (np.asarray(f) <= band[1])
    # the typical spectrum: median over events per channel and bin (median -> mean of an
    # exponential: / ln 2), lightly smoothed over 5 bins
    smooth = median_filter(np.median(p, axis=0), size=(1, 5), mode="nearest") / np.log(2)
    ratio = p[..., inband] / np.maximum(smooth[None, :, inband], 1e-300)
    cw_level = np.log(max(int(inband.sum()), 1) * c / FALSE_ALARM)
    cw = np.any(ratio.max(axis=-1) > cw_level, axis=1) & ~impulsive
    loudness = np.log(np.maximum(rms, 1e-30)).mean(axis=1)
    rest = ~impulsive & ~cw
    loud = np.zeros(n, bool)
    if rest.sum() >= 20:
        loud = rest & (loudness > np.quantile(loudness[rest], 1 - LOUD_FRACTION))
    labels = np.full(n, "quiet", dtype=object)
    labels[loud], labels[cw], labels[impulsive] = "loud", "cw", "impulsive"
    return labels.astype(str), (
        f"derived from the events: impulsive = peak above {peak_level:.2f} x the channel's "
        f"median RMS (Gaussian false alarm {FALSE_ALARM:g} per event); cw = an in-band "
        f"periodogram bin {cw_level:.1f} x above the median over events (same false-alarm"
        f" rate); loud = top {LOUD_FRACTION:.0%} of the rest by RMS; quiet otherwise")


def noise_classes(real: TraceSet, band: tuple[float, float]) -> tuple[np.ndarray, str]:
    """Truth classes when the events carry them, else :func:`derived_classes`."""
    truth = truth_classes(real.events)
    if truth is not None:
        return truth
    return derived_classes(real.traces, real.sampling_rate, band)


def _pca2(z: np.ndarray) -> tuple[np.ndarray, list[float], str]:
    zc = z - z.mean(axis=0)
    if z.shape[1] <= 2:
        var = zc.var(axis=0)
        frac = (var / max(var.sum(), 1e-30)).tolist()
        return z[:, :2], frac, "latent dimensions 1 and 2"
    _, s, vt = np.linalg.svd(zc, full_matrices=False)
    frac = (s**2 / max(float((s**2).sum()), 1e-30))[:2].tolist()
    return zc @ vt[:2].T, frac, "first two principal components of the latent means"


def _knn(z: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.neighbors import KNeighborsClassifier

    names, counts = np.unique(labels, return_counts=True)
    majority = float(counts.max() / counts.sum())
    out: dict[str, Any] = {"majority_rate": majority,
                           "majority_class": str(names[counts.argmax()])}
    folds = int(min(5, counts.min())) if names.size > 1 else 0
    if folds < 2:
        out.update(accuracy=None, balanced_accuracy=None,
                   note="fewer than 2 events in some class, or a single class: no test")
        return out
    k = int(min(10, max(1, len(z) // 20)))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    zs = (z - z.mean(axis=0)) / np.maximum(z.std(axis=0), 1e-12)
    pred = cross_val_predict(KNeighborsClassifier(k), zs, labels, cv=cv)
    recall = [float(np.mean(pred[labels == c] == c)) for c in names]
    out.update(accuracy=float(np.mean(pred == labels)), balanced_accuracy=float(np.mean(recall)),
               chance_balanced=1.0 / names.size, k=k, folds=folds,
               recall={str(c): r for c, r in zip(names, recall, strict=True)})
    return out


def latent_map(model: Any, real: TraceSet, band: tuple[float, float], *,
               seed: int = 0) -> dict[str, Any]:
    """Latent means of the real events, their classes and how well the latent space
    separates them.

    Parameters
    ----------
    model : VAEModel
        The loaded ``vae`` model (:meth:`encode`, ``norm_offset`` / ``norm_scale``).
    real : TraceSet
        Real events in volts, channels in the model's order.
    band : (float, float)
        Hz: analysis band (for the derived CW class).
    seed : int
        Subset and cross-validation seed.

    Returns
    -------
    dict
        ``x``, ``y`` (2-D coordinates), ``labels``, ``counts``, ``projection`` (what x, y
        are), ``variance_fraction``, ``class_rule``, ``latent_dim`` and the k-NN test
        (``accuracy``, ``majority_rate``, ``balanced_accuracy``, ``chance_balanced``,
        ``recall`` per class), computed on the full latent means.
    """
    import torch

    rng = np.random.default_rng(seed)
    idx = np.arange(real.n_events)
    if idx.size > MAX_EVENTS:
        idx = np.sort(rng.choice(idx, MAX_EVENTS, replace=False))
    sub = real[idx]
    labels, rule = noise_classes(sub, band)
    off = model.norm_offset.detach().cpu().numpy()[None, :, None]
    scale = model.norm_scale.detach().cpu().numpy()[None, :, None]
    norm_traces = torch.from_numpy(((sub.traces - off) / scale).astype(np.float32))
    with torch.no_grad():
        z = torch.cat([model.encode(norm_traces[i:i + 512])
                       for i in range(0, len(norm_traces), 512)]).cpu().numpy()
    xy, frac, projection = _pca2(z.astype(np.float64))
    names, counts = np.unique(labels, return_counts=True)
    return {"x": xy[:, 0].tolist(), "y": (xy[:, 1] if xy.shape[1] > 1 else 0 * xy[:, 0]).tolist(),
            "labels": labels.tolist(), "counts": dict(zip(names.tolist(), counts.tolist(),
                                                          strict=True)),
            "projection": projection, "variance_fraction": frac, "class_rule": rule,
            "latent_dim": int(z.shape[1]), "n_events": int(len(z)), **_knn(z, labels, seed)}


def separation_line(m: dict[str, Any]) -> str:
    """One line: k-NN accuracy of the class from the latent means against the majority rate."""
    if m.get("accuracy") is None:
        return f"class separation not measured: {m.get('note', '')}"
    return (f"k-NN ({m['k']} neighbours, {m['folds']}-fold) tells the class from the "
            f"{m['latent_dim']}-D latent means with accuracy {m['accuracy']:.1%} against a "
            f"majority rate of {m['majority_rate']:.1%} (balanced accuracy "
            f"{m['balanced_accuracy']:.1%} against chance {m['chance_balanced']:.1%})")


def latent_figure(m: dict[str, Any]) -> Figure:
    """Scatter of the real events' latent means coloured by noise class."""
    fig, ax = plt.subplots(figsize=(9, 7))
    fig.subplots_adjust(left=0.1, right=0.97, top=0.84, bottom=0.1)
    x, y, lab = np.asarray(m["x"]), np.asarray(m["y"]), np.asarray(m["labels"])
    order = sorted(m["counts"], key=lambda c: -m["counts"][c])  # rare classes drawn last
    for c in order:
        sel = lab == c
        ax.scatter(x[sel], y[sel], s=10 if m["counts"][c] > 200 else 22, alpha=0.7,
                   color=CLASS_COLORS.get(c, "#333"), label=f"{c} ({m['counts'][c]})",
                   edgecolors="none")
    frac = m.get("variance_fraction") or []
    pcs = [f" ({100 * v:.0f} % of the variance)" for v in frac[:2]] + ["", ""]
    ax.set_xlabel("latent 1" + pcs[0])
    ax.set_ylabel("latent 2" + pcs[1])
    ax.legend(title="noise class (events)", markerscale=2)
    line = ("class separation not measured" if m.get("accuracy") is None else
            f"k-NN class accuracy {m['accuracy']:.1%} vs majority rate {m['majority_rate']:.1%}"
            f"; balanced {m['balanced_accuracy']:.1%} vs chance {m['chance_balanced']:.1%}")
    ax.set_title(f"VAE latent means of {m['n_events']} real events\n({m['projection']})\n"
                 + line, fontsize=11)
    return fig
