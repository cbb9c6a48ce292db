"""WGAN-GP generating cosmic-ray air-shower footprints on a 9x9 ground-detector array.

After Erdmann, Geiger, Glombitza and Schmidt (2018), who generated the signal footprints of
air showers in a grid of ground stations with a Wasserstein GAN. Their data set is not
public; by default this pipeline trains on footprints from the toy simulator of
:mod:`pipelines.airshower_sim` (NKG-like lateral distribution, Poisson fluctuations,
trigger threshold, saturation), or on ``.npz`` footprint files given with ``--data-dir``.

Training (Gulrajani et al. 2017): critic without batch norm, gradient penalty with
lambda = 10 (:func:`rnognoise.core.losses.gradient_penalty`), ``n_critic = 5`` critic
updates per generator update, Adam with learning rate 1e-4 and betas (0, 0.9), batch 64.
The networks see ``log10(1 + S) / log10(1 + S_max)`` mapped to [-1, 1]; generated
footprints are transformed back to VEM and stations below the trigger threshold are set
to zero, as the detector would.

Evaluation on held-out footprints: 1-D Wasserstein distances of physics observables
(log10 total signal, number of triggered stations, log10 largest signal, saturated
stations) between generated and real footprints, next to the same distances between two
independent real samples (the floor a perfect generator reaches); mean footprint
profile; memorisation and diversity checks.

References
----------
M. Erdmann, L. Geiger, J. Glombitza, D. Schmidt, Comput. Softw. Big Sci. 2 (2018) 4,
arXiv:1802.03325. M. Erdmann, J. Glombitza, D. Walz, Astropart. Phys. 97 (2018) 46,
arXiv:1708.00647. I. Gulrajani et al., "Improved Training of Wasserstein GANs",
arXiv:1704.00028.

Example
-------
``python -m pipelines.airshower_wgan --smoke``
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import wasserstein_distance
from torch import nn

from rnognoise.core import (
    gradient_penalty,
    wasserstein_critic_loss,
    wasserstein_generator_loss,
)
from rnognoise.errors import ConfigError, DataFileError
from rnognoise.logs import get_logger, log_event

from .airshower_sim import Footprints, ShowerSimulator, load_footprints_dir
from .batches import batch_indices, step_generator, total_steps
from .cli import build_parser, run_main
from .evaluation.generative import diversity, memorisation_check
from .run import (
    Grid,
    ignore_data_dir_with_smoke,
    open_run,
    run_training,
    training_summary,
    write_outputs,
)

__all__ = [
    "FootprintCritic",
    "FootprintGenerator",
    "SignalTransform",
    "footprint_observables",
    "main",
    "observable_distances",
    "run",
]

NAME = "airshower_wgan"
GRID = 9
_log = get_logger(f"pipelines.{NAME}")


class SignalTransform:
    """``x = 2 log10(1 + S) / log10(1 + s_max) - 1`` and back; ``S`` in VEM.

    Parameters
    ----------
    s_max : float, VEM
        Largest signal (the station saturation); maps to +1.
    threshold : float, VEM
        Trigger threshold: decoded signals below it become 0.
    """

    def __init__(self, s_max: float, threshold: float) -> None:
        if not s_max > 0:
            raise ConfigError(f"largest signal must be positive, got {s_max}")
        self.s_max = float(s_max)
        self.threshold = float(threshold)
        self._scale = math.log10(1.0 + self.s_max)

    def encode(self, signals: np.ndarray) -> np.ndarray:
        """Signals (VEM) -> network values in [-1, 1]."""
        return (2.0 * np.log10(1.0 + np.asarray(signals)) / self._scale - 1.0).astype(np.float32)

    def decode(self, x: np.ndarray) -> np.ndarray:
        """Network values -> signals (VEM), capped at ``s_max``, zero below the threshold."""
        s = 10.0 ** ((np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0) + 1.0) / 2.0
                     * self._scale) - 1.0
        s = np.minimum(s, self.s_max)
        return np.where(s >= self.threshold, s, 0.0).astype(np.float32)


class FootprintGenerator(nn.Module):
    """Latent vector -> 9x9 footprint: dense layer to 3x3 maps, x3 upsampling, 3x3 convolutions.

    Parameters
    ----------
    latent_dim : int
        Size of the Gaussian latent vector.
    width : int
        Feature maps of the last hidden layer (the first has ``4 * width``).
    """

    def __init__(self, latent_dim: int = 64, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        w4, w2 = 4 * width, 2 * width
        self.fc = nn.Sequential(nn.Linear(latent_dim, w4 * 9), nn.BatchNorm1d(w4 * 9), nn.ReLU())
        self.conv = nn.Sequential(
            nn.Upsample(scale_factor=3, mode="nearest"),
            nn.Conv2d(w4, w2, 3, 1, 1), nn.BatchNorm2d(w2), nn.ReLU(),
            nn.Conv2d(w2, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 1, 3, 1, 1), nn.Tanh())
        self._w4 = w4

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z).view(-1, self._w4, 3, 3))


class FootprintCritic(nn.Module):
    """9x9 footprint -> Wasserstein critic score; no batch norm (it breaks the penalty).

    Parameters
    ----------
    width : int
        Feature maps of the first layer (then ``2 * width`` and ``4 * width``).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.LeakyReLU(0.2),  # 9 -> 5
            nn.Flatten(), nn.Linear(4 * width * 25, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def footprint_observables(signals: np.ndarray, saturation: float) -> dict[str, np.ndarray]:
    """Per-footprint observables of signals in VEM, ``(n, 9, 9)`` -> dict of ``(n,)`` arrays.

    ``log10_total`` (log10 of 1 + summed signal), ``n_triggered`` (stations with signal),
    ``log10_max`` (log10 of 1 + largest signal), ``n_saturated`` (stations at
    ``saturation`` within 0.1 %).
    """
    s = np.asarray(signals, dtype=np.float64).reshape(len(signals), -1)
    return {
        "log10_total": np.log10(1.0 + s.sum(1)),
        "n_triggered": (s > 0).sum(1).astype(np.float64),
        "log10_max": np.log10(1.0 + s.max(1)),
        "n_saturated": (s >= 0.999 * saturation).sum(1).astype(np.float64),
    }


def observable_distances(a: np.ndarray, b: np.ndarray, saturation: float) -> dict[str, float]:
    """1-D Wasserstein distance of each observable of :func:`footprint_observables`."""
    oa, ob = footprint_observables(a, saturation), footprint_observables(b, saturation)
    return {k: float(wasserstein_distance(oa[k], ob[k])) for k in oa}


def _radial_profile(signals: np.ndarray) -> np.ndarray:
    """Mean signal (VEM) vs grid distance (in spacings, bins 0..6) from the hottest station."""
    n = len(signals)
    flat = signals.reshape(n, -1)
    hot = flat.argmax(1)
    rows, cols = np.divmod(np.arange(GRID * GRID), GRID)
    hr, hc = np.divmod(hot, GRID)
    dist = np.sqrt((rows[None] - hr[:, None]) ** 2 + (cols[None] - hc[:, None]) ** 2)
    bins = np.minimum(np.rint(dist).astype(int), 6)
    return np.array([flat[bins == k].mean() if (bins == k).any() else 0.0 for k in range(7)])


def _load(args: argparse.Namespace) -> tuple[Footprints, float, float]:
    if args.data_dir is None:
        n = args.n_showers or (2000 if args.smoke else 20000)
        sim = ShowerSimulator()
        log_event(_log, "no --data-dir: using the embedded footprint simulator",
                  showers=n, seed=args.seed)
        return sim.simulate(n, seed=args.seed), sim.saturation, sim.threshold
    data = load_footprints_dir(args.data_dir)
    if data.signals.shape[1:] != (GRID, GRID):
        raise DataFileError(args.data_dir, f"footprints must be {GRID}x{GRID} stations, got "
                            f"{data.signals.shape[1]}x{data.signals.shape[2]}")
    positive = data.signals[data.signals > 0]
    if positive.size == 0:
        raise DataFileError(args.data_dir, "all signals are zero")
    log_event(_log, "footprints loaded", path=args.data_dir, showers=len(data))
    return data, float(positive.max()), float(positive.min())


def _to_unit(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32)[:, None] + 1.0) / 2.0


@torch.no_grad()
def _generate(gen: FootprintGenerator, n: int, seed: int) -> np.ndarray:
    was_training = gen.training
    gen.eval()
    z = torch.randn(n, gen.latent_dim, generator=torch.Generator().manual_seed(seed))
    out = gen(z)[:, 0].numpy()
    gen.train(was_training)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train and evaluate; write samples, loss curves, metrics and checkpoints to ``--out``."""
    ignore_data_dir_with_smoke(args)
    if args.n_critic < 1:
        raise ConfigError(f"--n-critic must be at least 1, got {args.n_critic}")
    out = open_run(args)
    data, s_max, threshold = _load(args)
    transform = SignalTransform(s_max, threshold)
    x_all = transform.encode(data.signals)
    n_test = max(1, min(2000, len(x_all) // 10))
    order = np.random.default_rng([args.seed, 7]).permutation(len(x_all))
    test_idx, train_idx = order[:n_test], order[n_test:]
    if len(train_idx) < 2:
        raise DataFileError(args.data_dir or "simulator", "need at least 3 footprints")
    x_train = torch.from_numpy(x_all[train_idx][:, None])
    width = args.width or (16 if args.smoke else 64)
    gen = FootprintGenerator(args.latent_dim, width)
    critic = FootprintCritic(width)
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.0, 0.9))
    opt_c = torch.optim.Adam(critic.parameters(), lr=args.lr, betas=(0.0, 0.9))
    # one step = n_critic critic batches + 1 generator batch; an epoch = one pass of the critic
    steps, epochs = total_steps(args, math.ceil(len(x_train) / args.n_critic))
    bs = args.batch_size

    def step(i: int) -> dict[str, float]:
        noise = step_generator(args.seed, i)
        for j in range(args.n_critic):
            real = x_train[torch.from_numpy(
                batch_indices(len(x_train), bs, args.seed, i * args.n_critic + j))]
            z = torch.randn(len(real), args.latent_dim, generator=noise)
            with torch.no_grad():
                fake = gen(z)
            loss_w = wasserstein_critic_loss(critic(real), critic(fake))
            penalty = gradient_penalty(critic, real, fake, weight=args.gp_weight)
            opt_c.zero_grad(set_to_none=True)
            (loss_w + penalty).backward()
            opt_c.step()
        z = torch.randn(bs, args.latent_dim, generator=noise)
        loss_g = wasserstein_generator_loss(critic(gen(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return {"critic": loss_w.item(), "gp": penalty.item(), "generator": loss_g.item(),
                "wasserstein_estimate": -loss_w.item()}

    val_real = transform.decode(x_all[test_idx])

    def evaluate(i: int) -> float:
        fake = transform.decode(_generate(gen, len(val_real), args.seed + 99))
        oa = footprint_observables(val_real, s_max)
        dist = observable_distances(fake, val_real, s_max)
        return float(np.mean([dist[k] / (oa[k].std() + 1e-9) for k in dist]))

    log_event(_log, "training", train=len(x_train), test=n_test, steps=steps, epochs=epochs,
              n_critic=args.n_critic, width=width)
    result = run_training(args, out, steps, modules={"generator": gen, "critic": critic},
                          optimizers={"generator": opt_g, "critic": opt_c}, step_fn=step,
                          eval_fn=evaluate, eval_every=max(1, steps // 10))

    fake_x = _generate(gen, n_test, args.seed + 12345)
    fake = transform.decode(fake_x)
    real_test = val_real
    reference = transform.decode(x_all[train_idx[:n_test]])  # independent real sample
    dist_fake = observable_distances(fake, real_test, s_max)
    dist_ref = observable_distances(reference, real_test, s_max)
    obs_fake = footprint_observables(fake, s_max)
    obs_real = footprint_observables(real_test, s_max)
    metrics: dict[str, Any] = {
        "pipeline": NAME,
        "data": data.attrs.get("source", "embedded simulator"),
        "n_train": len(x_train), "n_test": n_test,
        **training_summary(result, epochs=epochs, best=True),
        "width": width, "n_critic": args.n_critic, "gp_weight": args.gp_weight,
        "saturation_vem": s_max, "threshold_vem": threshold,
        "w1_generated_vs_real": dist_fake,
        "w1_real_vs_real": dist_ref,
        "mean_generated": {k: float(v.mean()) for k, v in obs_fake.items()},
        "mean_real": {k: float(v.mean()) for k, v in obs_real.items()},
        "radial_profile_generated_vem": _radial_profile(fake),
        "radial_profile_real_vem": _radial_profile(real_test),
        "memorisation": memorisation_check(_to_unit(fake_x), _to_unit(x_all[train_idx]),
                                           seed=args.seed),
        "diversity": diversity(_to_unit(fake_x), _to_unit(x_all[train_idx]), seed=args.seed),
    }
    show = 32
    return write_outputs(args, out, result, {
        "samples.png": Grid(_to_unit(transform.encode(fake[:show])), 8, scale=6),
        "real.png": Grid(_to_unit(transform.encode(real_test[:show])), 8, scale=6),
    }, metrics)


def build_cli() -> argparse.ArgumentParser:
    """The command-line parser (shared options plus the WGAN-GP settings)."""
    parser = build_parser(NAME, __doc__, epochs=100, smoke_epochs=10, batch_size=64)
    parser.add_argument("--n-critic", type=int, default=5,
                        help="critic updates per generator update (default 5)")
    parser.add_argument("--gp-weight", type=float, default=10.0,
                        help="gradient penalty weight lambda (default 10)")
    parser.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (1e-4)")
    parser.add_argument("--latent-dim", type=int, default=64, help="latent size (default 64)")
    parser.add_argument("--width", type=int, default=None,
                        help="network width (default 64, 16 with --smoke)")
    parser.add_argument("--n-showers", type=int, default=None,
                        help="simulated showers without --data-dir (20000, 2000 with --smoke)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    return run_main(NAME, build_cli(), run, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
