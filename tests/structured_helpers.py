"""Helpers shared by the tests of the structured generator's parts: a shaped Gaussian
background, a ``wgan-gp`` model initialised by moments with chosen parts, its samples."""

from __future__ import annotations

import numpy as np
import torch

from rnognoise.io import TraceSet
from rnognoise.train import prepare_model

FS = 3.2e9
#: The parts every helper model leaves out unless asked (lines, impulses, offsets).
PLAIN = {"max_lines": 0, "impulses": False, "block": 0}


def shaped_background(n: int, rng: np.random.Generator, channels: int = 2,
                      n_samples: int = 512) -> np.ndarray:
    """Unit-variance Gaussian noise with a 400 MHz-centred band and a 5 % floor."""
    spec = np.fft.rfft(rng.standard_normal((n, channels, n_samples)), axis=-1)
    f = np.fft.rfftfreq(n_samples, 1 / FS)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.5e8) ** 2) + 0.05
    x = np.fft.irfft(spec, n=n_samples, axis=-1)
    return x / x.std()


def initialised_model(data: np.ndarray, **options):
    """A ``wgan-gp`` model without lines, impulses or offsets (unless ``options`` ask),
    initialised by moments on ``data`` ``(n, C, T)``."""
    data = np.asarray(data, np.float32)
    traces = TraceSet(data, FS, list(range(data.shape[1])))
    model = prepare_model(traces, "wgan-gp", {**PLAIN, **options})
    with torch.no_grad():
        model.initialize(torch.from_numpy(data))
    return model


def generate(model, n: int, seed: int = 3) -> np.ndarray:
    """``n`` events of ``model`` (no autograd)."""
    with torch.no_grad():
        return model.generate(n, torch.Generator().manual_seed(seed)).numpy()
