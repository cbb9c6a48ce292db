"""Metrics of unconditional and class-conditional image generators.

- :func:`nearest_neighbour_distances` / :func:`memorisation_check` — is each generated
  image a copy of a training image? Its distance to the nearest training image is
  compared with the distances between training images and their nearest *other*
  training image.
- :func:`diversity` — mode collapse: mean pairwise distance of the samples relative to
  that of the training images.
- :class:`SmallCNN` / :func:`train_classifier` — a small convolutional classifier trained
  on the data at hand (a few epochs, inside the evaluation). Its features and class
  probabilities replace the Inception network of the usual scores, which is not
  available offline and not meaningful on 28x28 grey images:
- :func:`frechet_distance` / :func:`classifier_frechet_distance` — the *classifier
  Fréchet distance* (CFD): the Fréchet distance of Gaussians fitted to the classifier's
  penultimate-layer features. It is the FID construction with a different network, so
  its values are **not** comparable to published FIDs.
- :func:`classifier_score` — the Inception-Score construction,
  ``exp(E_x KL(p(y|x) || p(y)))``, with the small classifier; between 1 and the number of
  classes.
- :func:`class_coverage` — how many classes the samples reach, and how evenly.

Where Inception weights are available locally, ``torch-fidelity`` or ``pytorch-fid`` give
the standard FID/IS on RGB-upscaled images instead.

Distances between images are root-mean-square pixel differences (images in [0, 1]).

References
----------
M. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", arXiv:1706.08500 (FID). T. Salimans et al., "Improved Techniques for
Training GANs", arXiv:1606.03498 (Inception Score).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import nn

from rnognoise.errors import ConfigError

__all__ = [
    "ClassifierResult",
    "SmallCNN",
    "class_coverage",
    "classifier_features",
    "classifier_frechet_distance",
    "classifier_probabilities",
    "classifier_score",
    "diversity",
    "evaluate_generator",
    "evaluate_samples",
    "frechet_distance",
    "memorisation_check",
    "nearest_neighbour_distances",
    "train_classifier",
]


def _flat(images: Any) -> torch.Tensor:
    t = images.detach().cpu() if torch.is_tensor(images) else torch.from_numpy(
        np.ascontiguousarray(images))
    return t.float().flatten(1)


def nearest_neighbour_distances(samples: Any, reference: Any, *, exclude_self: bool = False,
                                chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """RMS pixel distance of each sample to its nearest reference image.

    Parameters
    ----------
    samples, reference : array or torch.Tensor
        Images ``(N, ...)`` and ``(M, ...)`` of the same shape per image.
    exclude_self : bool
        ``samples`` *is* ``reference``: skip the trivial match of each image with itself
        (by index), giving the training-to-training nearest distances.
    chunk : int
        Samples processed at a time (memory).

    Returns
    -------
    distance : numpy.ndarray
        ``(N,)`` RMS distance to the nearest reference image.
    index : numpy.ndarray
        ``(N,)`` index of that reference image.
    """
    a, b = _flat(samples), _flat(reference)
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"image sizes differ: {a.shape[1]} vs {b.shape[1]} pixels")
    dim = a.shape[1]
    dists, idx = [], []
    b_sq = (b * b).sum(1)
    for start in range(0, len(a), chunk):
        part = a[start:start + chunk]
        d2 = (part * part).sum(1, keepdim=True) - 2.0 * part @ b.T + b_sq[None]
        if exclude_self:
            rows = torch.arange(len(part))
            d2[rows, rows + start] = float("inf")
        best, where = d2.clamp_min(0.0).min(dim=1)
        dists.append((best / dim).sqrt())
        idx.append(where)
    return torch.cat(dists).numpy(), torch.cat(idx).numpy()


def memorisation_check(samples: Any, train: Any, *, max_reference: int = 2000,
                       seed: int = 0) -> dict[str, float]:
    """Are generated images copies of training images?

    The nearest-training-image distance of each sample is compared with the distance of
    training images to their nearest *other* training image (a subset of at most
    ``max_reference`` training images, so both are measured against the same set). A
    sample closer to a training image than half the 5th percentile of the
    training-to-training distances counts as a copy.

    Parameters
    ----------
    samples, train : array or torch.Tensor
        Generated and training images, values in [0, 1].
    max_reference : int
        Training images used as the reference set.
    seed : int
        Seed of the choice of reference images.

    Returns
    -------
    dict
        ``nn_sample_median`` and ``nn_train_median`` (RMS distances), their ratio
        ``nn_ratio`` (about 1 for a generator that generalises, near 0 for one that
        copies), ``copy_threshold``, ``copy_fraction`` and ``memorised`` (copy fraction
        above 5 %).
    """
    train_t = _flat(train)
    if len(train_t) > max_reference:
        pick = np.random.default_rng(seed).choice(len(train_t), max_reference, replace=False)
        train_t = train_t[torch.from_numpy(np.sort(pick))]
    d_train, _ = nearest_neighbour_distances(train_t, train_t, exclude_self=True)
    d_sample, _ = nearest_neighbour_distances(samples, train_t)
    threshold = 0.5 * float(np.percentile(d_train, 5))
    copy_fraction = float(np.mean(d_sample <= threshold))
    med_train = float(np.median(d_train))
    med_sample = float(np.median(d_sample))
    return {
        "nn_sample_median": med_sample,
        "nn_train_median": med_train,
        "nn_ratio": med_sample / med_train if med_train > 0 else float("nan"),
        "copy_threshold": threshold,
        "copy_fraction": copy_fraction,
        "memorised": bool(copy_fraction > 0.05),
    }


def diversity(samples: Any, train: Any, *, n_pairs: int = 5000, seed: int = 0) -> dict[str, float]:
    """Mode collapse check: mean RMS distance between random pairs, samples vs training.

    Returns
    -------
    dict
        ``pairwise_samples``, ``pairwise_train`` and ``diversity_ratio`` (their ratio; about
        1 when the samples vary as much as the data, near 0 under mode collapse).
    """
    rng = np.random.default_rng(seed)

    def mean_pair(x: torch.Tensor) -> float:
        if len(x) < 2:
            return float("nan")
        i = rng.integers(len(x), size=n_pairs)
        j = (i + rng.integers(1, len(x), size=n_pairs)) % len(x)
        return float(((x[i] - x[j]) ** 2).mean(1).sqrt().mean())

    ps, pt = mean_pair(_flat(samples)), mean_pair(_flat(train))
    return {"pairwise_samples": ps, "pairwise_train": pt,
            "diversity_ratio": ps / pt if pt > 0 else float("nan")}


# -- the evaluation classifier -----------------------------------------------------------
class SmallCNN(nn.Module):
    """Two strided conv layers and a 128-unit feature layer; the network of CFD and the score.

    Parameters
    ----------
    n_classes : int
        Output classes.
    in_channels : int
        Image channels.
    width : int
        Channels of the first convolution (the second has twice as many).

    Images of any size are pooled to 7x7 after the two stride-2 convolutions (28x28 input
    needs no pooling).
    """

    def __init__(self, n_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(7), nn.Flatten(),
            nn.Linear(2 * width * 49, 128), nn.ReLU(),
        )
        self.head = nn.Linear(128, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, 128)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, n_classes)``."""
        return self.head(self.body(x))


@dataclass
class ClassifierResult:
    """A trained :class:`SmallCNN` and its accuracy on held-out images."""

    model: SmallCNN
    val_accuracy: float
    n_train: int
    n_val: int


def _as_tensor(images: Any) -> torch.Tensor:
    t = images.detach().cpu() if torch.is_tensor(images) else torch.from_numpy(
        np.ascontiguousarray(images))
    t = t.float()
    return t[:, None] if t.dim() == 3 else t


def train_classifier(images: Any, labels: Any, *, n_classes: int | None = None,
                     epochs: int = 8, batch_size: int = 64, lr: float = 2e-3,
                     val_fraction: float = 0.2, max_train: int = 10000,
                     seed: int = 0) -> ClassifierResult:
    """Train a :class:`SmallCNN` quickly on labelled images; report held-out accuracy.

    Parameters
    ----------
    images : array or torch.Tensor
        ``(N, C, H, W)`` in [0, 1].
    labels : array or torch.Tensor
        ``(N,)`` integer classes.
    n_classes : int, optional
        Number of classes (default: largest label + 1).
    epochs : int
        Passes over the training part.
    batch_size : int
        Batch size.
    lr : float
        Adam learning rate.
    val_fraction : float
        Share of images held out for the accuracy.
    max_train : int
        Use at most this many training images (time).
    seed : int
        Seed of the split, the weights and the batch order.
    """
    x = _as_tensor(images)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(x) != len(y) or len(x) < 10:
        raise ConfigError(f"need at least 10 labelled images, got {len(x)} images and "
                          f"{len(y)} labels")
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    rng = np.random.default_rng(seed)
    order = torch.from_numpy(rng.permutation(len(x)))
    n_val = max(1, int(round(val_fraction * len(x))))
    val, train = order[:n_val], order[n_val:n_val + max_train]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallCNN(n_classes, x.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = train[torch.randperm(len(train), generator=gen)]
        for start in range(0, len(perm), batch_size):
            b = perm[start:start + batch_size]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[val[s:s + 1024]]).argmax(1)
                          for s in range(0, len(val), 1024)])
    acc = float((pred == y[val]).float().mean())
    return ClassifierResult(model, acc, len(train), n_val)


@torch.no_grad()
def classifier_features(model: SmallCNN, images: Any, *, chunk: int = 1024) -> np.ndarray:
    """Penultimate-layer features ``(N, 128)`` of ``images`` (in [0, 1])."""
    model.eval()
    x = _as_tensor(images)
    return torch.cat([model.features(x[s:s + chunk]) for s in range(0, len(x), chunk)]).numpy()


@torch.no_grad()
def classifier_probabilities(model: SmallCNN, images: Any, *, chunk: int = 1024) -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` of ``images`` (in [0, 1])."""
    model.eval()
    x = _as_tensor(images)
    return torch.cat([F.softmax(model(x[s:s + chunk]), dim=1)
                      for s in range(0, len(x), chunk)]).numpy()


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted to two feature sets.

    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, the squared 2-Wasserstein
    distance of the two Gaussians.

    Parameters
    ----------
    features_a, features_b : numpy.ndarray
        ``(N, D)`` and ``(M, D)`` feature vectors.

    Returns
    -------
    float
        The distance (0 for identical sets, up to round-off; clipped at 0).
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ConfigError(f"feature arrays must be (N, D) with equal D, got {a.shape}, {b.shape}")
    if min(len(a), len(b)) < a.shape[1]:
        warnings.warn(f"Fréchet distance from {min(len(a), len(b))} samples of {a.shape[1]} "
                      "features: covariances are rank-deficient, expect a biased value",
                      RuntimeWarning, stacklevel=2)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr((S_a S_b)^(1/2)) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)), a symmetric
    # positive semi-definite matrix: stable also for the singular covariances of ReLU features.
    w, v = linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    inner = linalg.eigvalsh(root_a @ cov_b @ root_a)
    tr_covmean = float(np.sqrt(np.clip(inner, 0.0, None)).sum())
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                  - 2.0 * tr_covmean)
    return max(value, 0.0)


def classifier_frechet_distance(model: SmallCNN, images_a: Any, images_b: Any) -> float:
    """Classifier Fréchet distance (CFD) between two image sets, with :class:`SmallCNN`."""
    return frechet_distance(classifier_features(model, images_a),
                            classifier_features(model, images_b))


def classifier_score(probabilities: np.ndarray, *, splits: int = 1) -> tuple[float, float]:
    """Inception-Score construction with the small classifier.

    Parameters
    ----------
    probabilities : numpy.ndarray
        ``(N, n_classes)`` class probabilities of generated images.
    splits : int
        Number of disjoint parts the score is computed on (spread = uncertainty).

    Returns
    -------
    mean, std : float
        ``exp(E_x KL(p(y|x) || p(y)))`` averaged over the splits, and its spread (0 when
        ``splits == 1``). 1 when every image gets the same prediction; the number of
        classes when predictions are confident and classes equally frequent.
    """
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    scores = []
    for part in np.array_split(p, splits):
        marginal = part.mean(0, keepdims=True)
        kl = (part * (np.log(part) - np.log(marginal))).sum(1).mean()
        scores.append(float(np.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def class_coverage(probabilities: np.ndarray, n_classes: int | None = None, *,
                   min_share: float = 0.02) -> dict[str, Any]:
    """Which classes the classifier assigns to generated images, and how evenly.

    Returns
    -------
    dict
        ``class_histogram`` (share of samples per predicted class), ``classes_covered``
        (classes with at least ``min_share`` of the samples), ``coverage`` (that count over
        ``n_classes``) and ``class_kl_from_uniform`` (0 when perfectly balanced).
    """
    p = np.asarray(probabilities)
    n_classes = p.shape[1] if n_classes is None else n_classes
    hist = np.bincount(p.argmax(1), minlength=n_classes)[:n_classes] / max(len(p), 1)
    covered = int((hist >= min_share).sum())
    nz = hist[hist > 0]
    kl = float((nz * np.log(nz * n_classes)).sum())
    return {"class_histogram": hist.round(4).tolist(), "classes_covered": covered,
            "coverage": covered / n_classes, "class_kl_from_uniform": kl}


def evaluate_samples(samples: Any, train_images: Any, *, classifier: ClassifierResult,
                     reference_images: Any | None = None, sample_labels: Any | None = None,
                     seed: int = 0) -> dict[str, Any]:
    """All generative metrics of one set of samples, as a JSON-ready dict.

    Parameters
    ----------
    samples : array or torch.Tensor
        Generated images ``(N, C, H, W)`` in [0, 1].
    train_images : array or torch.Tensor
        The training images (memorisation and diversity reference).
    classifier : ClassifierResult
        From :func:`train_classifier` on the same kind of data.
    reference_images : array or torch.Tensor, optional
        Real images the CFD is computed against (default: ``train_images``); also gives
        ``cfd_real_vs_train``, the value two real sets reach, as a floor for comparison.
    sample_labels : array, optional
        Intended classes of class-conditional samples: adds ``conditional_accuracy``, the
        share the classifier assigns to the intended class.
    seed : int
        Seed of the random subsets.
    """
    reference = train_images if reference_images is None else reference_images
    model = classifier.model
    probs = classifier_probabilities(model, samples)
    score, score_std = classifier_score(probs, splits=5 if len(probs) >= 500 else 1)
    real_probs = classifier_probabilities(model, reference)
    real_score, _ = classifier_score(real_probs)
    out: dict[str, Any] = {
        "n_samples": len(probs),
        "classifier_val_accuracy": classifier.val_accuracy,
        "cfd": classifier_frechet_distance(model, samples, reference),
        "classifier_score": score,
        "classifier_score_std": score_std,
        "classifier_score_real": real_score,
        **class_coverage(probs),
        **memorisation_check(samples, train_images, seed=seed),
        **diversity(samples, train_images, seed=seed),
    }
    if reference_images is not None:
        n = min(len(probs), len(_flat(train_images)))
        out["cfd_real_vs_train"] = classifier_frechet_distance(
            model, _as_tensor(train_images)[:n], reference)
    if sample_labels is not None:
        wanted = np.asarray(sample_labels)
        out["conditional_accuracy"] = float((probs.argmax(1) == wanted).mean())
    return out


def evaluate_generator(samples: Any, train_images: Any, train_labels: Any, *,
                       n_classes: int | None = None, reference_images: Any | None = None,
                       sample_labels: Any | None = None, classifier_epochs: int = 8,
                       seed: int = 0) -> dict[str, Any]:
    """Train the evaluation classifier on the training data, then :func:`evaluate_samples`.

    Parameters
    ----------
    samples : array or torch.Tensor
        Generated images ``(N, C, H, W)`` in [0, 1].
    train_images, train_labels : array or torch.Tensor
        Labelled training images (the classifier's data and the memorisation reference).
    n_classes : int, optional
        Number of classes.
    reference_images : array or torch.Tensor, optional
        Held-out real images for the CFD (e.g. the test split).
    sample_labels : array, optional
        Intended classes of class-conditional samples.
    classifier_epochs : int
        Training epochs of the classifier.
    seed : int
        Seed of the classifier and the random subsets.
    """
    classifier = train_classifier(train_images, train_labels, n_classes=n_classes,
                                  epochs=classifier_epochs, seed=seed)
    return evaluate_samples(samples, train_images, classifier=classifier,
                            reference_images=reference_images, sample_labels=sample_labels,
                            seed=seed)
