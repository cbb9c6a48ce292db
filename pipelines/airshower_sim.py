"""Toy simulator of cosmic-ray air-shower footprints on a 9x9 ground array, and ``.npz`` I/O.

The data sets of Erdmann, Glombitza and Walz (2018) and Erdmann, Geiger, Glombitza and
Schmidt (2018) are not public, so the ``airshower_wgan`` pipeline trains on footprints
from this simulator (or on any footprint file in the documented ``.npz`` layout).

The model, per shower:

- energy ``E`` log-uniform in ``[e_min, e_max]`` (eV), zenith angle ``theta`` from the
  ``sin(theta) cos(theta)`` distribution of an isotropic flux on a flat array (up to
  ``max_zenith``), azimuth uniform, core uniform over the central cell of the grid;
- a Cartesian 9x9 grid of ground stations, ``spacing`` metres apart;
- the expected signal (in VEM, vertical-equivalent muons) of a station at distance ``r``
  from the shower axis, measured in the shower plane, follows an NKG-like lateral
  distribution function (the form used in surface-detector reconstructions)

  ``S(r) = S1000 * (r / 1000 m)^beta * ((r + 700 m) / 1700 m)^beta``,

  with ``beta = -2.3 + 0.6 (sec(theta) - 1)`` (inclined showers are flatter), ``r`` clipped
  below at ``r_min`` and ``S1000 = s_ref * (E / 1 EeV)^0.97 * a(theta)`` with an
  attenuation ``a(theta) = 1 + 0.92 x - 1.13 x^2``, ``x = cos^2(theta) - cos^2(38 deg)``;
- the observed signal is Poisson distributed around ``S`` (particle-counting
  fluctuations) times a Gaussian detector resolution, set to zero below the trigger
  ``threshold`` and capped at ``saturation``;
- arrival times of a plane front plus a parabolic curvature of radius ``curvature``
  (seconds, relative to the arrival of the core), zero for untriggered stations.

The parameter values give footprints of the right look (a handful of triggered stations
at 1 EeV, tens at 100 EeV, saturated stations near the core of energetic showers); they
are chosen for plausibility and are not a fit to any observatory's data.

``.npz`` layout (:func:`save_footprints` / :func:`load_footprints`):

========== =============== ==========================================================
key        shape           meaning
========== =============== ==========================================================
signals    (n, 9, 9)       station signals, VEM, >= 0 (required)
times      (n, 9, 9)       arrival times, seconds (optional)
energy     (n,)            primary energy, eV (optional)
zenith     (n,)            zenith angle, radians (optional)
azimuth    (n,)            azimuth angle, radians (optional)
core       (n, 2)          core position (x, y), metres from the grid centre (optional)
========== =============== ==========================================================

References
----------
M. Erdmann, J. Glombitza, D. Walz, "A deep learning-based reconstruction of cosmic
ray-induced air showers", Astropart. Phys. 97 (2018) 46, arXiv:1708.00647.
M. Erdmann, L. Geiger, J. Glombitza, D. Schmidt, "Generating and refining particle detector
simulations using the Wasserstein distance in adversarial networks", Comput. Softw. Big Sci.
2 (2018) 4, arXiv:1802.03325.
K. Kamata, J. Nishimura, Prog. Theor. Phys. Suppl. 6 (1958) 93; K. Greisen, Ann. Rev. Nucl.
Sci. 10 (1960) 63 (the NKG lateral distribution).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnognoise.errors import ConfigError, DataFileError
from rnognoise.fileutil import atomic_output

__all__ = [
    "FOOTPRINT_KEYS",
    "Footprints",
    "ShowerSimulator",
    "expected_signal",
    "load_footprints",
    "load_footprints_dir",
    "save_footprints",
    "station_positions",
]

#: Keys of a footprint ``.npz`` file: required first, then optional ones.
FOOTPRINT_KEYS = ("signals", "times", "energy", "zenith", "azimuth", "core")

_C = 299_792_458.0  # speed of light, m/s
_EEV = 1e18


def station_positions(n: int = 9, spacing: float = 1500.0) -> np.ndarray:
    """Positions of an ``n`` x ``n`` Cartesian grid of stations centred on the origin.

    Parameters
    ----------
    n : int
        Stations per side.
    spacing : float, m
        Distance between neighbouring stations.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, n, 2)``: ``[row, column] -> (x, y)`` in metres; rows run along y.
    """
    offsets = (np.arange(n) - (n - 1) / 2.0) * spacing
    xx, yy = np.meshgrid(offsets, offsets)
    return np.stack([xx, yy], axis=-1)


def _shower_axis(zenith: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(zenith) * np.cos(azimuth), np.sin(zenith) * np.sin(azimuth),
                     np.cos(zenith)], axis=-1)


def expected_signal(distance: np.ndarray, energy: float | np.ndarray,
                    zenith: float | np.ndarray = 0.0, *, s_ref: float = 5.2,
                    r_min: float = 100.0) -> np.ndarray:
    """Mean station signal of the NKG-like lateral distribution, in VEM.

    Parameters
    ----------
    distance : array_like, m
        Distance from the shower axis in the shower plane.
    energy : float or array_like, eV
        Primary energy.
    zenith : float or array_like, rad
        Zenith angle of the shower axis.
    s_ref : float, VEM
        Signal at 1000 m of a 1 EeV shower at 38 degrees zenith.
    r_min : float, m
        Distances below this are clipped (the function diverges on the axis).

    Returns
    -------
    numpy.ndarray
        Expected signal, broadcast over the inputs.
    """
    r = np.maximum(np.asarray(distance, dtype=np.float64), r_min)
    zen = np.asarray(zenith, dtype=np.float64)
    x = np.cos(zen) ** 2 - np.cos(np.deg2rad(38.0)) ** 2
    attenuation = np.clip(1.0 + 0.92 * x - 1.13 * x * x, 0.05, None)
    s1000 = s_ref * (np.asarray(energy, dtype=np.float64) / _EEV) ** 0.97 * attenuation
    beta = -2.3 + 0.6 * (1.0 / np.cos(zen) - 1.0)
    return s1000 * (r / 1000.0) ** beta * ((r + 700.0) / 1700.0) ** beta


@dataclass
class Footprints:
    """A set of air-shower footprints.

    Parameters
    ----------
    signals : numpy.ndarray
        float32 ``(n, 9, 9)`` station signals in VEM (0: station not triggered).
    times : numpy.ndarray, optional
        float32 ``(n, 9, 9)`` arrival times in seconds relative to the core (0 if untriggered).
    energy : numpy.ndarray, optional
        ``(n,)`` primary energies in eV.
    zenith, azimuth : numpy.ndarray, optional
        ``(n,)`` arrival direction in radians.
    core : numpy.ndarray, optional
        ``(n, 2)`` core positions in metres from the grid centre.
    attrs : dict
        Provenance (simulator settings or source file).
    """

    signals: np.ndarray
    times: np.ndarray | None = None
    energy: np.ndarray | None = None
    zenith: np.ndarray | None = None
    azimuth: np.ndarray | None = None
    core: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays that are set, by their ``.npz`` key."""
        return {k: getattr(self, k) for k in FOOTPRINT_KEYS if getattr(self, k) is not None}


@dataclass
class ShowerSimulator:
    """Footprint simulator; see the module docstring for the model.

    Parameters
    ----------
    n_stations : int
        Stations per side of the square grid.
    spacing : float, m
        Station spacing.
    e_min, e_max : float, eV
        Energy range (log-uniform).
    max_zenith : float, rad
        Largest zenith angle.
    s_ref : float, VEM
        Signal at 1000 m of a 1 EeV shower at 38 degrees.
    resolution : float
        Relative Gaussian detector resolution applied on top of the Poisson fluctuation.
    threshold : float, VEM
        Stations with a smaller signal are not triggered (signal and time 0).
    saturation : float, VEM
        Largest signal a station can record.
    curvature : float, m
        Radius of curvature of the shower front.

    Examples
    --------
    >>> fp = ShowerSimulator().simulate(4, seed=1)
    >>> fp.signals.shape, bool((fp.signals <= 1000.0).all())
    ((4, 9, 9), True)
    """

    n_stations: int = 9
    spacing: float = 1500.0
    e_min: float = 1e18
    e_max: float = 1e20
    max_zenith: float = float(np.deg2rad(60.0))
    s_ref: float = 5.2
    resolution: float = 0.1
    threshold: float = 3.0
    saturation: float = 1000.0
    curvature: float = 10_000.0

    def __post_init__(self) -> None:
        if not 0 < self.e_min <= self.e_max:
            raise ConfigError(f"energy range must satisfy 0 < e_min <= e_max, got "
                              f"{self.e_min:g}..{self.e_max:g} eV")
        if not 0 <= self.max_zenith < np.pi / 2:
            raise ConfigError(f"max_zenith must be in [0, pi/2), got {self.max_zenith}")
        if self.n_stations < 2 or self.spacing <= 0:
            raise ConfigError("need n_stations >= 2 and spacing > 0")
        if not 0 <= self.threshold < self.saturation:
            raise ConfigError("need 0 <= threshold < saturation")

    def sample_parameters(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw ``n`` showers' energy (eV), zenith, azimuth (rad) and core (m)."""
        log_e = rng.uniform(np.log10(self.e_min), np.log10(self.e_max), n)
        # isotropic flux through a flat surface: p(cos^2 theta) uniform
        cos2_min = np.cos(self.max_zenith) ** 2
        zenith = np.arccos(np.sqrt(rng.uniform(cos2_min, 1.0, n)))
        azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
        core = rng.uniform(-0.5, 0.5, (n, 2)) * self.spacing
        return {"energy": 10.0 ** log_e, "zenith": zenith, "azimuth": azimuth, "core": core}

    def footprint(self, energy: np.ndarray, zenith: np.ndarray, azimuth: np.ndarray,
                  core: np.ndarray, rng: np.random.Generator | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Signals (VEM) and times (s) of given showers; expected values when ``rng`` is None.

        Parameters
        ----------
        energy : array_like, eV
            Shape ``(n,)``.
        zenith, azimuth : array_like, rad
            Shape ``(n,)``.
        core : array_like, m
            Shape ``(n, 2)``.
        rng : numpy.random.Generator, optional
            Source of the fluctuations; None gives the expected signal (no fluctuation,
            no trigger threshold, but the saturation cap).

        Returns
        -------
        signals, times : numpy.ndarray
            float32 arrays of shape ``(n, n_stations, n_stations)``.
        """
        energy = np.atleast_1d(np.asarray(energy, dtype=np.float64))
        zenith = np.atleast_1d(np.asarray(zenith, dtype=np.float64))
        azimuth = np.atleast_1d(np.asarray(azimuth, dtype=np.float64))
        core = np.asarray(core, dtype=np.float64).reshape(-1, 2)
        pos = station_positions(self.n_stations, self.spacing)  # (k, k, 2)
        axis = _shower_axis(zenith, azimuth)  # (n, 3)
        d = np.zeros((len(energy), self.n_stations, self.n_stations, 3))
        d[..., :2] = pos[None] - core[:, None, None, :]
        along = np.einsum("nijk,nk->nij", d, axis)  # distance along the axis (upwards)
        perp = np.sqrt(np.maximum((d ** 2).sum(-1) - along ** 2, 0.0))
        mean = expected_signal(perp, energy[:, None, None], zenith[:, None, None],
                               s_ref=self.s_ref)
        times = (-along + perp ** 2 / (2.0 * self.curvature)) / _C
        if rng is None:
            signals = np.minimum(mean, self.saturation)
            return signals.astype(np.float32), times.astype(np.float32)
        counts = rng.poisson(np.minimum(mean, 1e12)).astype(np.float64)
        signals = counts * np.clip(1.0 + self.resolution * rng.standard_normal(mean.shape),
                                   0.0, None)
        signals = np.minimum(signals, self.saturation)
        triggered = signals >= self.threshold
        signals = np.where(triggered, signals, 0.0)
        times = np.where(triggered, times + 10e-9 * rng.standard_normal(times.shape), 0.0)
        return signals.astype(np.float32), times.astype(np.float32)

    def simulate(self, n: int, *, seed: int = 0) -> Footprints:
        """Simulate ``n`` showers with random parameters (reproducible from ``seed``)."""
        if n < 1:
            raise ConfigError(f"number of showers must be positive, got {n}")
        rng = np.random.default_rng(seed)
        params = self.sample_parameters(n, rng)
        signals, times = self.footprint(**params, rng=rng)
        attrs = {"simulator": "ShowerSimulator", "seed": seed,
                 **{k: getattr(self, k) for k in self.__dataclass_fields__}}
        return Footprints(signals, times, params["energy"], params["zenith"],
                          params["azimuth"], params["core"], attrs)


def save_footprints(path: str | os.PathLike[str], footprints: Footprints, *,
                    force: bool = False) -> Path:
    """Write footprints to a compressed ``.npz`` file (atomically).

    Raises
    ------
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    """
    with atomic_output(path, force=force) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **footprints.arrays())
    return Path(path)


def load_footprints(path: str | os.PathLike[str]) -> Footprints:
    """Read a footprint ``.npz`` file (layout in the module docstring).

    Raises
    ------
    DataFileError
        If the file is missing or unreadable, lacks ``signals``, has unknown keys, or an
        array of the wrong shape, non-finite or negative signals.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "no such file (expected a .npz with key 'signals')")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataFileError(path, f"not a readable .npz file ({exc})") from None
    unknown = sorted(set(arrays) - set(FOOTPRINT_KEYS))
    if unknown:
        raise DataFileError(path, f"unknown key(s) {unknown}; allowed: {list(FOOTPRINT_KEYS)}")
    if "signals" not in arrays:
        raise DataFileError(path, f"missing key 'signals' (found {sorted(arrays)})")
    signals = arrays["signals"]
    if signals.ndim != 3 or signals.shape[0] < 1 or signals.shape[1] != signals.shape[2]:
        raise DataFileError(path, f"'signals' must have shape (n, k, k), got {signals.shape}")
    if not np.issubdtype(signals.dtype, np.number):
        raise DataFileError(path, f"'signals' must be numeric, got dtype {signals.dtype}")
    if not np.isfinite(signals).all() or (signals < 0).any():
        raise DataFileError(path, "'signals' must be finite and >= 0 (VEM)")
    n = signals.shape[0]
    expected = {"times": signals.shape, "energy": (n,), "zenith": (n,), "azimuth": (n,),
                "core": (n, 2)}
    for key, shape in expected.items():
        if key in arrays and arrays[key].shape != shape:
            raise DataFileError(path, f"{key!r} must have shape {shape}, got {arrays[key].shape}")
    out = {k: arrays[k].astype(np.float32 if k in ("signals", "times") else np.float64)
           for k in arrays}
    return Footprints(**out, attrs={"source": os.fspath(path)})


def load_footprints_dir(path: str | os.PathLike[str]) -> Footprints:
    """Load one ``.npz`` file, or every ``*.npz`` in a folder, concatenated.

    Raises
    ------
    DataFileError
        If the folder holds no ``.npz`` file, or the files disagree in grid size or keys.
    """
    path = Path(path)
    if path.is_file():
        return load_footprints(path)
    if not path.is_dir():
        raise DataFileError(path, "no such file or folder (expected *.npz footprint files)")
    files = sorted(path.glob("*.npz"))
    if not files:
        raise DataFileError(path, "expected files: *.npz with key 'signals' of shape (n, 9, 9)")
    parts = [load_footprints(f) for f in files]
    keys = set(parts[0].arrays())
    for f, p in zip(files, parts, strict=True):
        if set(p.arrays()) != keys:
            raise DataFileError(f, f"keys {sorted(p.arrays())} differ from {sorted(keys)} "
                                f"in {files[0].name}")
        if p.signals.shape[1:] != parts[0].signals.shape[1:]:
            raise DataFileError(f, f"grid {p.signals.shape[1:]} differs from "
                                f"{parts[0].signals.shape[1:]} in {files[0].name}")
    merged = {k: np.concatenate([p.arrays()[k] for p in parts]) for k in keys}
    return Footprints(**merged, attrs={"source": os.fspath(path), "files": len(files)})
