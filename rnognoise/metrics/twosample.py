"""Two-sample tests on per-event features: classifier two-sample test and Frechet distance."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg, optimize

from ._common import SmallSampleWarning

__all__ = ["MIN_EVENTS_C2ST", "c2st", "fpd", "frechet_distance"]

#: Fewer events per class than this and the classifier test is not run.
MIN_EVENTS_C2ST: int = 100


def c2st(features_a: np.ndarray, features_b: np.ndarray, *, n_splits: int = 5, seed: int = 0,
         max_iter: int = 100, n_threads: int | None = 1) -> tuple[float, float, str]:
    """Classifier two-sample test: cross-validated ROC AUC of telling set A from set B.

    A scikit-learn ``HistGradientBoostingClassifier`` on standardised features, stratified
    k-fold cross-validation; AUC 0.5 means the sets cannot be told apart.

    Parameters
    ----------
    features_a, features_b : numpy.ndarray
        ``(n_events, n_features)`` of each set.
    n_splits : int
        Folds.
    seed : int
        Seed of the fold assignment and the classifier.
    max_iter : int
        Boosting iterations (early stopping on a 10 % validation split may stop sooner).
    n_threads : int or None
        OpenMP threads of the classifier (default 1: on a shared or small machine more
        threads oversubscribe the cores and run many times slower; None = all cores).

    Returns
    -------
    (auc, uncertainty, reason)
        Mean AUC over folds and its standard error (std over folds / sqrt(k)); with fewer
        than :data:`MIN_EVENTS_C2ST` events in a class, ``(nan, nan, reason)``.

    References
    ----------
    D. Lopez-Paz and M. Oquab, "Revisiting classifier two-sample tests", ICLR 2017,
    arXiv:1610.06545.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    n_min = min(len(features_a), len(features_b))
    if n_min < MIN_EVENTS_C2ST:
        return (float("nan"), float("nan"),
                f"too few events for a classifier test ({n_min} < {MIN_EVENTS_C2ST} per class)")
    x = np.concatenate([features_a, features_b]).astype(np.float64)
    y = np.concatenate([np.zeros(len(features_a)), np.ones(len(features_b))])
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    aucs = []
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        for train, test in folds.split(x, y):
            model = make_pipeline(StandardScaler(), HistGradientBoostingClassifier(
                max_iter=max_iter, early_stopping=True, n_iter_no_change=10,
                random_state=seed))
            model.fit(x[train], y[train])
            aucs.append(roc_auc_score(y[test], model.predict_proba(x[test])[:, 1]))
    aucs_arr = np.asarray(aucs)
    return float(aucs_arr.mean()), float(aucs_arr.std(ddof=1) / np.sqrt(n_splits)), ""


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to two feature samples.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``.
    """
    mu_a, mu_b = features_a.mean(0), features_b.mean(0)
    s_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    s_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    covmean = linalg.sqrtm(s_a @ s_b)
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2.0 * covmean))


def fpd(features_a: np.ndarray, features_b: np.ndarray, *, n_points: int = 6,
        n_batches: int = 8, min_fraction: float = 0.25, seed: int = 0,
        ) -> tuple[float, float]:
    """Frechet distance extrapolated to infinite sample size ("Frechet physics distance").

    Features are standardised with the mean and std of set A. At ``n_points`` batch
    sizes ``N`` between ``min_fraction`` of the smaller set and all of it, the distance
    is averaged over ``n_batches`` random draws (with replacement); a straight line in
    ``1/N`` is fitted and its intercept at ``1/N -> 0`` is the value, the fit's
    standard error the uncertainty (as JetNet's ``fpd``).

    Returns
    -------
    (value, uncertainty)

    References
    ----------
    R. Kansal et al., "Evaluating generative models in high energy physics",
    Phys. Rev. D 107 (2023) 076017, arXiv:2211.10295.
    """
    n_min = min(len(features_a), len(features_b))
    if n_min < 200:
        warnings.warn(f"Frechet distance: {n_min} events is too few to mean much "
                      "(want >= 200)", SmallSampleWarning, stacklevel=2)
    mean = features_a.mean(0)
    std = features_a.std(0)
    std = np.where(std > 0, std, 1.0)
    a = (features_a - mean) / std
    b = (features_b - mean) / std
    rng = np.random.default_rng(seed)
    sizes = np.unique((1.0 / np.linspace(1.0 / max(int(min_fraction * n_min), 10),
                                         1.0 / n_min, n_points)).astype(int))
    vals = []
    for n in sizes:
        reps = [frechet_distance(a[rng.integers(0, len(a), n)], b[rng.integers(0, len(b), n)])
                for _ in range(n_batches)]
        vals.append(np.mean(reps))
    inv = 1.0 / sizes
    if sizes.size < 2:
        return float(vals[0]), float("nan")
    params, cov = optimize.curve_fit(lambda t, c, m: c + m * t, inv, np.asarray(vals),
                                     bounds=([0, 0], [np.inf, np.inf]))
    return float(params[0]), float(np.sqrt(np.diag(cov)[0]))
