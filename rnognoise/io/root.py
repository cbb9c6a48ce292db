"""Reader and writer for RNO-G ROOT files (the ``mattak`` layout and a flat layout), via uproot.

Accepted inputs (details in ``data_specs/rnog_root.md``):

- a run directory ``station{S}/run{R}/`` holding ``waveforms.root`` + ``headers.root``
  (preferred, as ``mattak`` does) or ``combined.root``;
- a ``combined.root`` file (tree ``combined`` with ``waveforms`` and ``header`` branches);
- a ``waveforms.root`` file (its sibling ``headers.root`` is used when present);
- a flat tree as written by :func:`write_root` or by any uproot script (``radiant_data`` of
  shape ``(n_events, n_channels, n_samples)``, ``radiant_sampling_rate`` in MHz, trigger
  flags as plain branches).

Branches are matched by their bare member name: the part after the last ``/`` and the last
``.``, without array dimensions (``trigger_info/trigger_info.force_trigger`` ->
``force_trigger``, ``radiant_data[24][2048]`` -> ``radiant_data``). Samples are
pedestal-subtracted ADC counts, converted to volts with the ``adc_to_volts`` argument, else
an ``adc_to_volts`` branch, else :data:`rnognoise.units.ADC_TO_VOLTS_RNOG`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import uproot

from ..errors import ConfigError, DataFileError
from ..fileutil import atomic_output
from ..units import ADC_TO_VOLTS_RNOG
from .traceset import TraceSet

__all__ = [
    "COMBINED_TREE_NAME",
    "HEADER_TREE_NAMES",
    "TRIGGER_FLAGS",
    "TRIGGER_SELECTIONS",
    "WAVEFORM_TREE_NAMES",
    "RootSource",
    "trigger_types",
    "write_root",
]

#: Tree (and, in ``combined`` trees, top-level branch) names of the waveforms, as mattak reads them.
WAVEFORM_TREE_NAMES: tuple[str, ...] = ("waveforms", "wfs", "wf", "waveform")
#: Tree (and top-level branch) names of the event headers, as mattak reads them.
HEADER_TREE_NAMES: tuple[str, ...] = ("header", "hdr", "hd", "hds", "headers")
#: Name of the tree in ``combined.root`` files and in files written by :func:`write_root`.
COMBINED_TREE_NAME = "combined"
#: Boolean trigger flags of ``mattak::TriggerInfo``, read as ``trigger_info.<flag>`` or ``<flag>``.
TRIGGER_FLAGS: tuple[str, ...] = ("force_trigger", "rf_trigger", "lt_trigger", "radiant_trigger",
                                  "pps_trigger", "ext_trigger")
#: Accepted ``trigger=`` values (case-insensitive) and the ``trigger_type`` values they keep;
#: ``"all"`` keeps every event and ``"RF"`` every event with the ``rf_trigger`` flag set.
TRIGGER_SELECTIONS: dict[str, tuple[str, ...]] = {
    "FORCED": ("FORCE",),
    "FORCE": ("FORCE",),
    "LT": ("LT",),
    "RADIANT": ("RADIANT0", "RADIANT1", "RADIANTX"),
    "RADIANT0": ("RADIANT0",),
    "RADIANT1": ("RADIANT1",),
    "RADIANTX": ("RADIANTX",),
    "PPS": ("PPS",),
    "EXT": ("EXT",),
    "UNKNOWN": ("UNKNOWN",),
}

_SAMPLES = "radiant_data"
_RATE = "radiant_sampling_rate"
_CHANNEL_IDS = "channel_ids"
_ADC = "adc_to_volts"
_WHICH_RADIANT = "which_radiant_trigger"
# Metadata branches -> TraceSet.events columns.
_META_COLUMNS = {"event_number": "event_number", "run_number": "run_number",
                 "station_number": "station", "readout_time": "readout_time"}
# Largest block of raw samples held in memory at once while reading.
_WINDOW_BYTES = 8 * 2**20
# Raw sample bytes per basket written by write_root.
_BASKET_BYTES = 8 * 2**20
_LEAF_DTYPES = {"TLeafB": "i1", "TLeafS": "i2", "TLeafI": "i4", "TLeafL": "i8",
                "TLeafF": "f4", "TLeafD": "f8"}
_COMPRESSION = {"zlib": uproot.ZLIB, "lz4": uproot.LZ4, "zstd": uproot.ZSTD,
                "lzma": uproot.LZMA}


def trigger_types(flags: dict[str, np.ndarray], which_radiant: np.ndarray | None,
                  n_events: int) -> np.ndarray:
    """mattak trigger type names from the trigger flags, one per event.

    The precedence follows mattak's uproot backend: RADIANT (``RADIANT0``/``RADIANT1``, or
    ``RADIANTX`` when unknown which), then ``LT``, ``FORCE``, ``PPS``, ``EXT``, else ``UNKNOWN``.

    Parameters
    ----------
    flags : dict of str to numpy.ndarray
        Boolean arrays keyed by flag name (``force_trigger``, ...); missing flags count as false.
    which_radiant : numpy.ndarray, optional
        ``which_radiant_trigger`` (0, 1, or -1 for unknown).
    n_events : int
        Number of events.

    Returns
    -------
    numpy.ndarray
        Object array of strings.
    """
    out = np.full(n_events, "UNKNOWN", dtype=object)
    order = [("ext_trigger", "EXT"), ("pps_trigger", "PPS"), ("force_trigger", "FORCE"),
             ("lt_trigger", "LT")]
    for flag, name in order:  # lowest precedence first; later ones overwrite
        if flag in flags:
            out[np.asarray(flags[flag], bool)] = name
    if "radiant_trigger" in flags:
        radiant = np.asarray(flags["radiant_trigger"], bool)
        names = np.full(n_events, "RADIANTX", dtype=object)
        if which_radiant is not None:
            names[which_radiant == 0] = "RADIANT0"
            names[which_radiant == 1] = "RADIANT1"
        out[radiant] = names[radiant]
    return out


def _short(exc: BaseException) -> str:
    """uproot's message on one line, without the file name it repeats."""
    lines = [line.strip().rstrip(",") for line in str(exc).strip().splitlines()]
    lines = [line for line in lines
             if line and not line.startswith(("for file path", "in file", "in object"))]
    return " ".join(lines)[:200] if lines else type(exc).__name__


def _open_file(path: Path) -> Any:
    if not path.exists():
        raise DataFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataFileError(path, "is empty (0 bytes)")
    try:
        # memory-mapped local reads: no I/O thread round trips per basket
        return uproot.open(path, array_cache=None, handler=uproot.source.file.MemmapSource)
    except Exception as exc:  # uproot raises many types on foreign or damaged files
        raise DataFileError(path, f"cannot be opened as ROOT (not a ROOT file, or truncated? "
                            f"{_short(exc)})") from None


def _find_tree(file: Any, path: Path, names: tuple[str, ...], what: str) -> tuple[Any, str] | None:
    """The first tree among ``names`` in ``file``, or None."""
    try:
        classes = file.classnames(recursive=False, cycle=False)
    except Exception as exc:
        raise DataFileError(path, f"cannot list the ROOT directory (truncated? {_short(exc)})"
                            ) from None
    for name in names:
        if classes.get(name, "").startswith("TTree") or classes.get(name) == "TNtuple":
            try:
                return file[name], name
            except Exception as exc:
                raise DataFileError(path, f"cannot read the {what} tree {name!r} (truncated? "
                                    f"{_short(exc)})") from None
    return None


def _tree_keys(file: Any) -> list[str]:
    try:
        return sorted(file.keys(recursive=False, cycle=False))
    except Exception:
        return []


def _normalise(component: str) -> str:
    """``trigger_info.force_trigger`` -> ``force_trigger``; ``radiant_data[24][2048]`` ->
    ``radiant_data``."""
    return re.sub(r"\[.*$", "", component).rsplit(".", 1)[-1]


class _Branches:
    """Leaf branches of one tree, by normalised name and by top-level group."""

    def __init__(self, tree: Any, path: Path, tree_name: str) -> None:
        self.tree = tree
        self.path = path
        self.tree_name = tree_name
        self.num_entries = int(tree.num_entries)
        self.groups: dict[str | None, dict[str, Any]] = {}
        groups = set(WAVEFORM_TREE_NAMES) | set(HEADER_TREE_NAMES)
        try:
            items = tree.items(recursive=True, full_paths=True)
        except Exception as exc:
            raise DataFileError(path, f"cannot list the branches of tree {tree_name!r} "
                                f"({_short(exc)})") from None
        for key, branch in items:
            if len(branch.branches):
                continue
            parts = key.split("/")
            group = parts[0] if len(parts) > 1 and parts[0] in groups else None
            self.groups.setdefault(group, {}).setdefault(_normalise(parts[-1]), branch)

    def find(self, name: str, groups: tuple[str, ...]) -> Any | None:
        """The branch ``name`` in the first of ``groups`` ("wf", "hd", "" = top level)."""
        for group in groups:
            keys = (WAVEFORM_TREE_NAMES if group == "wf" else HEADER_TREE_NAMES
                    if group == "hd" else (None,))
            for key in keys:
                branch = self.groups.get(key, {}).get(name)
                if branch is not None:
                    return branch
        return None

    def names(self) -> list[str]:
        return sorted({n for group in self.groups.values() for n in group})


def _read_scalar(branch: Any, path: Path, name: str, entry_start: int | None = None,
                 entry_stop: int | None = None) -> np.ndarray:
    try:
        values = branch.array(entry_start=entry_start, entry_stop=entry_stop, library="np")
    except Exception as exc:
        raise DataFileError(path, f"cannot read branch {name!r} (truncated or damaged file? "
                            f"{_short(exc)})") from None
    values = np.asarray(values)
    if values.dtype == object or (values.ndim != 1 and name != _CHANNEL_IDS):
        raise DataFileError(path, f"branch {name!r} must hold one number per event, "
                            f"got shape {values.shape[1:]} per event")
    return values


def _sample_interpretation(branch: Any, path: Path) -> Any:
    """An ``AsDtype`` for the sample branch (ROOT's big-endian bytes to native order).

    Uses uproot's own interpretation when its per-event shape matches the leaf length, else
    the shape from the branch name (``radiant_data[24][2048]``): uproot writes such names
    with the dimensions repeated in the leaf title.
    """
    try:
        interp = branch.interpretation
    except Exception:
        interp = None
    leaves = branch.member("fLeaves") if "fLeaves" in branch.all_members else []
    leaf_len = int(leaves[0].member("fLen")) if len(leaves) == 1 else None
    if isinstance(interp, uproot.AsJagged) or type(interp).__name__ == "AsObjects":
        raise DataFileError(path, f"branch {branch.name!r} holds variable-length or object "
                            "data; expected a fixed (n_channels, n_samples) array per event")
    if isinstance(interp, uproot.AsDtype) and interp.from_dtype.names is None and (
            leaf_len is None or int(np.prod(interp.inner_shape)) == leaf_len):
        base, shape = interp.from_dtype.base, tuple(int(d) for d in interp.inner_shape)
    else:
        dims = tuple(int(d) for d in re.findall(r"\[(\d+)\]", branch.name))
        kind = _LEAF_DTYPES.get(leaves[0].classname) if len(leaves) == 1 else None
        if not dims or kind is None or leaf_len != int(np.prod(dims)):
            raise DataFileError(path, f"branch {branch.name!r} has an unsupported layout "
                                f"({interp!r}); expected int16 (n_channels, n_samples) per event")
        if leaves[0].member("fIsUnsigned"):
            kind = "u" + kind[1:]
        base, shape = np.dtype(">" + kind), dims
    if len(shape) != 2:
        raise DataFileError(path, f"branch {branch.name!r} has per-event shape {shape}; "
                            "expected (n_channels, n_samples), e.g. (24, 2048)")
    if base.kind not in "iuf":
        raise DataFileError(path, f"branch {branch.name!r} holds {base}, expected integer "
                            "ADC counts")
    return uproot.AsDtype(np.dtype((base, shape)), np.dtype((base.newbyteorder("="), shape)))


def _basket_starts(branch: Any, n_events: int) -> np.ndarray:
    """First entry of every basket of ``branch``, then ``n_events``."""
    try:
        starts = np.asarray(branch.entry_offsets, dtype=np.int64)
    except Exception:
        starts = np.empty(0, dtype=np.int64)
    if starts.size < 2 or starts[0] != 0 or starts[-1] != n_events or (np.diff(starts) <= 0).any():
        return np.array([0, n_events], dtype=np.int64)  # unknown: treat as one basket
    return starts


class RootSource:
    """Open an RNO-G ROOT file or run directory and read events from it in blocks.

    Parameters
    ----------
    path : str or os.PathLike
        Run directory, ``combined.root``, ``waveforms.root`` or a flat ROOT file.
    trigger : str
        ``"forced"`` (default; noise-only events), ``"all"``, or one of ``"LT"``,
        ``"RADIANT"`` (any RADIANT trigger), ``"RADIANT0"``, ``"RADIANT1"``, ``"RADIANTX"``,
        ``"PPS"``, ``"EXT"``, ``"UNKNOWN"``, ``"RF"`` (``rf_trigger`` flag); case-insensitive.
        Without trigger information in the file every event is taken.
    adc_to_volts : float, optional
        Volts per ADC count; default: the file's ``adc_to_volts`` branch (written by
        :func:`write_root`), else :data:`rnognoise.units.ADC_TO_VOLTS_RNOG` (2.5 V / 4095).

    Raises
    ------
    DataFileError
        If the file or directory does not follow the layout; the message names it and the
        problem.
    ConfigError
        For an unknown ``trigger`` or a non-positive ``adc_to_volts``.

    Examples
    --------
    >>> with RootSource("station11/run1000") as src:  # doctest: +SKIP
    ...     ts = src.read_events(src.event_index[:10])
    """

    format = "root"

    def __init__(self, path: str | os.PathLike[str], *, trigger: str = "forced",
                 adc_to_volts: float | None = None) -> None:
        self.path = os.fspath(path)
        if adc_to_volts is not None:
            try:
                factor = float(adc_to_volts)
            except (TypeError, ValueError):
                factor = float("nan")
            if not np.isfinite(factor) or factor <= 0:
                raise ConfigError(f"adc_to_volts must be a positive number of volts per ADC "
                                  f"count, got {adc_to_volts!r}")
        self._files: list[Any] = []
        self._cache: tuple[int, int, np.ndarray] | None = None
        try:
            self._open(Path(self.path), trigger, adc_to_volts)
        except Exception:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open(self, path: Path, trigger: str, adc_to_volts: float | None) -> None:
        wf_path, hd_path, self.layout = self._locate(path)
        wf_file = _open_file(wf_path)
        self._files.append(wf_file)
        names = (COMBINED_TREE_NAME, *WAVEFORM_TREE_NAMES)
        found = _find_tree(wf_file, wf_path, names, "waveform")
        if found is None:
            raise DataFileError(wf_path, f"no waveform tree (looked for {list(names)}; found "
                                f"{_tree_keys(wf_file)})")
        wf = _Branches(found[0], wf_path, found[1])
        self._wf_path = wf_path
        hd: _Branches | None = None
        if hd_path is not None:
            hd_file = _open_file(hd_path)
            self._files.append(hd_file)
            found = _find_tree(hd_file, hd_path, HEADER_TREE_NAMES, "header")
            if found is None:
                raise DataFileError(hd_path, f"no header tree (looked for "
                                    f"{list(HEADER_TREE_NAMES)}; found {_tree_keys(hd_file)})")
            hd = _Branches(found[0], hd_path, found[1])
        self.files = [os.fspath(wf_path)] + ([os.fspath(hd_path)] if hd_path else [])
        self.trees = [wf.tree_name] + ([hd.tree_name] if hd else [])

        samples = wf.find(_SAMPLES, ("wf", ""))
        if samples is None:
            raise DataFileError(wf_path, f"tree {wf.tree_name!r} has no '{_SAMPLES}' branch "
                                f"(expected '{_SAMPLES}' or '{_SAMPLES}[24][2048]'; branches: "
                                f"{wf.names()})")
        self._interp = _sample_interpretation(samples, wf_path)
        self._samples = samples
        n_channels, n_samples = self._interp.inner_shape
        if n_channels == 0 or n_samples == 0:
            raise DataFileError(wf_path, f"'{_SAMPLES}' has per-event shape "
                                f"{(n_channels, n_samples)}; expected e.g. (24, 2048)")
        n_events = int(samples.num_entries)
        if n_events == 0:
            raise DataFileError(wf_path, f"tree {wf.tree_name!r} holds zero events")
        self.n_samples = int(n_samples)
        self.n_events_total = n_events
        self.stored_dtype = str(self._interp.to_dtype.base)
        self._event_bytes = int(self._interp.from_dtype.itemsize)
        self._basket_starts = _basket_starts(samples, n_events)
        self.sampling_rate = self._read_rate(wf, wf_path)
        self.channels = self._read_channels(wf, wf_path, int(n_channels))
        self.adc_to_volts, self._adc_source = self._read_factor(wf, wf_path, adc_to_volts)
        self.events, self._has_triggers = self._read_metadata(wf, hd, n_events)
        self.event_index = self._select(trigger)

    def _locate(self, path: Path) -> tuple[Path, Path | None, str]:
        """Waveform file, header file (or None) and a description of the layout."""
        if path.is_dir():
            waveforms, headers, combined = (path / "waveforms.root", path / "headers.root",
                                            path / "combined.root")
            if waveforms.is_file():
                if headers.is_file():
                    return waveforms, headers, "run directory (waveforms.root + headers.root)"
                return waveforms, None, "run directory (waveforms.root, no headers.root)"
            if combined.is_file():
                return combined, None, "run directory (combined.root)"
            raise DataFileError(path, "run directory holds neither waveforms.root nor "
                                "combined.root")
        if not path.exists():
            raise DataFileError(path, "no such file or directory")
        sibling = path.parent / "headers.root"
        if path.name == "waveforms.root" and sibling.is_file():
            return path, sibling, "waveforms.root + headers.root beside it"
        return path, None, "single file"

    def _read_rate(self, wf: _Branches, path: Path) -> float:
        branch = wf.find(_RATE, ("wf", ""))
        if branch is None:
            raise DataFileError(path, f"no '{_RATE}' branch (MHz) in tree {wf.tree_name!r}; "
                                "the sampling rate must come from the file")
        rates = np.unique(_read_scalar(branch, path, _RATE).astype(np.float64))
        if rates.size != 1:
            shown = ", ".join(f"{r:g}" for r in rates[:6])
            raise DataFileError(path, f"'{_RATE}' varies within the file ({shown} MHz); "
                                "split the file by sampling rate")
        rate = float(rates[0])
        if not np.isfinite(rate) or rate <= 0:
            raise DataFileError(path, f"'{_RATE}' is {rate:g} MHz; it must be positive")
        return rate * 1e6

    def _read_channels(self, wf: _Branches, path: Path, n_channels: int) -> np.ndarray:
        branch = wf.find(_CHANNEL_IDS, ("wf", ""))
        if branch is None:
            return np.arange(n_channels, dtype=np.int64)
        ids = _read_scalar(branch, path, _CHANNEL_IDS, 0, 1).reshape(-1)
        if ids.dtype.kind not in "iu" or ids.size != n_channels:
            raise DataFileError(path, f"'{_CHANNEL_IDS}' must hold {n_channels} integer ids "
                                f"per event, got {ids.size} of type {ids.dtype}")
        if np.unique(ids).size != ids.size:
            raise DataFileError(path, f"'{_CHANNEL_IDS}' repeats an id: {ids.tolist()}")
        return ids.astype(np.int64)

    def _read_factor(self, wf: _Branches, path: Path, override: float | None,
                     ) -> tuple[float, str]:
        if override is not None:
            return float(override), "argument"
        branch = wf.find(_ADC, ("wf", ""))
        if branch is None:
            return ADC_TO_VOLTS_RNOG, "default 2.5 V / 4095"
        values = np.unique(_read_scalar(branch, path, _ADC).astype(np.float64))
        if values.size != 1 or not np.isfinite(values[0]) or values[0] <= 0:
            raise DataFileError(path, f"'{_ADC}' must hold one positive value, found "
                                f"{values[:5].tolist()}")
        return float(values[0]), f"'{_ADC}' branch"

    def _read_metadata(self, wf: _Branches, hd: _Branches | None, n_events: int,
                       ) -> tuple[pd.DataFrame, bool]:
        """Per-event metadata aligned with the waveform entries, and whether triggers exist."""
        if hd is None:
            header, hd_groups, rows = wf, ("hd", "", "wf"), None
        else:
            header, hd_groups = hd, ("hd", "")
            rows = self._align(wf, hd, n_events)
        n_header = header.num_entries

        def column(name: str) -> np.ndarray | None:
            branch = header.find(name, hd_groups)
            if branch is None:
                return None
            values = _read_scalar(branch, header.path, name)
            if values.size != n_header:
                raise DataFileError(header.path, f"branch {name!r} has {values.size} entries "
                                    f"for {n_header} events")
            return values if rows is None else values[rows]

        columns: dict[str, np.ndarray] = {}
        for branch_name, col in _META_COLUMNS.items():
            values = column(branch_name)
            if values is not None:
                columns[col] = values.astype(np.float64 if col == "readout_time" else np.int64)
        flags = {f: v.astype(bool) for f in TRIGGER_FLAGS if (v := column(f)) is not None}
        if flags:
            which = column(_WHICH_RADIANT)
            columns["trigger_type"] = trigger_types(flags, which, n_events)
            self._rf = flags.get("rf_trigger", np.zeros(n_events, bool))
        return pd.DataFrame(columns, index=pd.RangeIndex(n_events)), bool(flags)

    def _align(self, wf: _Branches, hd: _Branches, n_events: int) -> np.ndarray | None:
        """Header rows of the waveform entries (None when they correspond one to one)."""
        wf_branch = wf.find("event_number", ("wf", ""))
        hd_branch = hd.find("event_number", ("hd", ""))
        wf_numbers = None if wf_branch is None else _read_scalar(wf_branch, wf.path,
                                                                 "event_number")
        hd_numbers = None if hd_branch is None else _read_scalar(hd_branch, hd.path,
                                                                 "event_number")
        same_count = hd.num_entries == n_events
        if same_count and (wf_numbers is None or hd_numbers is None
                           or np.array_equal(wf_numbers, hd_numbers)):
            return None
        problem = (f"header/waveform mismatch: {hd.num_entries} header events in "
                   f"{os.fspath(hd.path)!r} for {n_events} waveform events")
        if wf_numbers is None or hd_numbers is None:
            raise DataFileError(wf.path, problem + " and no event_number to match them by")
        index = pd.Index(hd_numbers)
        if not index.is_unique:
            raise DataFileError(hd.path, "event_number repeats in the header tree")
        rows = index.get_indexer(wf_numbers)
        if (rows < 0).any():
            missing = int((rows < 0).sum())
            raise DataFileError(wf.path, problem + f"; {missing} waveform event numbers have "
                                "no header")
        return rows

    def _select(self, trigger: str) -> np.ndarray:
        key = str(trigger).upper()
        if key != "ALL" and key != "RF" and key not in TRIGGER_SELECTIONS:
            raise ConfigError(f"unknown trigger selection {trigger!r} (expected 'all', 'RF' "
                              f"or one of {sorted(TRIGGER_SELECTIONS)}, case-insensitive)")
        if key == "ALL" or not self._has_triggers:
            return np.arange(self.n_events_total, dtype=np.int64)
        if key == "RF":
            mask = self._rf
        else:
            mask = np.isin(self.events["trigger_type"].to_numpy(), TRIGGER_SELECTIONS[key])
        if not mask.any():
            present = sorted(set(self.events["trigger_type"]))
            wanted = "FORCE" if key == "FORCED" else key
            raise DataFileError(self.path, f"no {wanted!r} trigger events (trigger types "
                                f"present: {present}; use trigger='all' / --trigger all to "
                                "take every event)")
        return np.flatnonzero(mask).astype(np.int64)

    # -- reading -------------------------------------------------------------------------------

    @property
    def n_events(self) -> int:
        """Number of events after the trigger selection."""
        return int(self.event_index.size)

    def _read_block(self, lo: int, hi: int) -> np.ndarray:
        try:
            return self._samples.array(self._interp, entry_start=lo, entry_stop=hi,
                                       library="np")
        except Exception as exc:
            raise DataFileError(self._wf_path, f"cannot read events {lo}..{hi - 1} (truncated "
                                f"or damaged file? {_short(exc)})") from None

    def _next_block(self, indices: np.ndarray, baskets: np.ndarray, i0: int, span: int,
                    ) -> tuple[int, int, np.ndarray]:
        """Decoded samples for the wanted ``indices[i0:i1]``: ``(first entry, i1, raw)``.

        A block starts at the first wanted entry and runs over whole baskets that hold wanted
        entries and follow one another, up to ``span`` entries (at least one basket), so a
        basket without wanted entries is never decompressed. The block is kept: the next
        batch of a stream starts in it, and no basket is decompressed twice.
        """
        lo = int(indices[i0])
        if self._cache is not None:
            c_lo, c_hi, cached = self._cache
            if c_lo <= lo < c_hi:
                return c_lo, int(np.searchsorted(indices, c_hi, side="left")), cached
        starts = self._basket_starts
        last = int(baskets[i0])
        end = int(starts[last + 1])
        limit = max(end, lo + span)
        i1 = int(np.searchsorted(indices, end, side="left"))
        while i1 < indices.size and baskets[i1] == last + 1 and starts[last + 2] <= limit:
            last += 1
            end = int(starts[last + 1])
            i1 = int(np.searchsorted(indices, end, side="left"))
        raw = self._read_block(lo, end)
        self._cache = (lo, end, raw)
        return lo, i1, raw

    def read_events(self, file_indices: np.ndarray, channel_rows: np.ndarray | None = None,
                    ) -> TraceSet:
        """Read the given file event indices as a :class:`TraceSet` in volts.

        Only the baskets holding the requested events are decompressed, in blocks of about
        8 MiB of raw samples (or one basket, where baskets are larger), so memory stays
        bounded by the output size.

        Parameters
        ----------
        file_indices : numpy.ndarray
            Entry numbers in the file (e.g. from :attr:`event_index`); sorted is fastest.
        channel_rows : numpy.ndarray, optional
            Rows of the channel axis to keep (positions in :attr:`channels`).
        """
        indices = np.asarray(file_indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices[0] < 0 or indices[-1] >= self.n_events_total):
            raise DataFileError(self.path, f"event index out of range 0..{self.n_events_total - 1}")
        if indices.size > 1 and (np.diff(indices) <= 0).any():  # any order, repeats allowed
            unique, inverse = np.unique(indices, return_inverse=True)
            return self.read_events(unique, channel_rows)[inverse]
        rows = None if channel_rows is None else np.asarray(channel_rows, dtype=np.int64)
        channels = self.channels if rows is None else self.channels[rows]
        out = np.empty((indices.size, channels.size, self.n_samples), np.float32)
        factor = np.float32(self.adc_to_volts)
        span = max(1, _WINDOW_BYTES // self._event_bytes)
        baskets = np.searchsorted(self._basket_starts, indices, side="right") - 1
        done = 0
        while done < indices.size:
            first, stop, raw = self._next_block(indices, baskets, done, span)
            picked = indices[done:stop] - first
            if picked[-1] - picked[0] + 1 == picked.size:
                raw = raw[picked[0]:picked[-1] + 1]
            else:
                raw = raw[picked]
            if rows is not None:
                raw = raw[:, rows]
            np.multiply(raw, factor, out=out[done:stop], dtype=np.float32)
            done = stop
        events = self.events.iloc[indices].reset_index(drop=True)
        return TraceSet(out, self.sampling_rate, channels, events, "V", self.path,
                        {"format": self.format})

    def info(self) -> dict[str, Any]:
        """Facts about the file for ``rnognoise inspect``."""
        out: dict[str, Any] = {
            "format": self.format,
            "layout": self.layout,
            "files": self.files,
            "trees": self.trees,
            "n_events_in_file": self.n_events_total,
            "stored_dtype": self.stored_dtype,
            "stored_units": "ADC",
            "adc_to_volts": self.adc_to_volts,
            "adc_to_volts_source": self._adc_source,
        }
        if self._has_triggers:
            out["trigger_mix"] = {str(k): int(v) for k, v in
                                  self.events["trigger_type"].value_counts().items()}
        else:
            out["trigger_info"] = "none in the file: every event is taken"
        return out

    def close(self) -> None:
        """Close the files and drop the block cache."""
        for file in self._files:
            file.close()
        self._files = []
        self._cache = None

    def __enter__(self) -> RootSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- writing -----------------------------------------------------------------------------------

def _flags_from_types(types: np.ndarray) -> dict[str, np.ndarray]:
    types = np.asarray([str(t).upper() for t in types], dtype=object)
    radiant = np.array([t.startswith("RADIANT") for t in types], dtype=bool)
    lt = types == "LT"
    which = np.full(types.size, -1, dtype=np.int8)
    which[types == "RADIANT0"] = 0
    which[types == "RADIANT1"] = 1
    return {
        "force_trigger": types == "FORCE",
        "rf_trigger": radiant | lt,
        "lt_trigger": lt,
        "radiant_trigger": radiant,
        "pps_trigger": types == "PPS",
        "ext_trigger": types == "EXT",
        _WHICH_RADIANT: which,
    }


def write_root(path: str | os.PathLike[str], traceset: TraceSet, *, force: bool = False,
               adc_to_volts: float | None = None, run_number: int = 0, station: int = 0,
               compression: str | None = "zlib") -> None:
    """Write a :class:`TraceSet` as a flat RNO-G ROOT tree ``combined``, atomically.

    Branches (one entry per event): ``radiant_data`` (int16 ADC counts, rounded,
    ``(n_channels, n_samples)``), ``channel_ids`` (int32, the channel ids, same every
    event), ``adc_to_volts`` (V per count), ``radiant_sampling_rate`` (MHz, float64),
    ``event_number``, ``run_number``, ``station_number``, ``readout_time`` (UTC seconds),
    the trigger flags ``force_trigger``, ``rf_trigger``, ``lt_trigger``, ``radiant_trigger``,
    ``pps_trigger``, ``ext_trigger`` and ``which_radiant_trigger``, from the ``trigger_type``
    column (``FORCE`` where absent). Layout: ``data_specs/rnog_root.md``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file; an existing file is replaced only with ``force=True``.
    traceset : TraceSet
        Traces in volts.
    force : bool
        Overwrite an existing file.
    adc_to_volts : float, optional
        Volts per ADC count (default :data:`rnognoise.units.ADC_TO_VOLTS_RNOG`).
    run_number : int
        Run number stored when the metadata has no ``run_number`` column.
    station : int
        Station number stored when the metadata has no ``station`` column.
    compression : {"zlib", "lz4", "zstd", "lzma", None}
        Basket compression, level 1 (``lz4``/``zstd`` need their Python packages).

    Raises
    ------
    DataFileError
        If the traces hold NaN/inf.
    ConfigError
        If the traces exceed the int16 range at this ``adc_to_volts``, or for a bad
        ``adc_to_volts`` or ``compression``.
    OutputExistsError
        If ``path`` exists and ``force`` is false.
    """
    factor = float(ADC_TO_VOLTS_RNOG if adc_to_volts is None else adc_to_volts)
    if not np.isfinite(factor) or factor <= 0:
        raise ConfigError(f"adc_to_volts must be positive, got {adc_to_volts!r}")
    if compression is not None and compression not in _COMPRESSION:
        raise ConfigError(f"unknown compression {compression!r} (expected one of "
                          f"{sorted(_COMPRESSION)} or None)")
    traces = traceset.traces
    if not np.isfinite(traces).all():
        raise DataFileError(path, "traces hold NaN/inf samples; they cannot be stored as "
                            "ADC counts")
    peak = float(np.abs(traces).max()) / factor if traces.size else 0.0
    if peak > np.iinfo(np.int16).max:
        raise ConfigError(f"{path}: traces reach {peak:.0f} ADC counts at adc_to_volts="
                          f"{factor:g} V, beyond the int16 range; pass a larger adc_to_volts")
    n = traceset.n_events
    meta = traceset.events

    def col(name: str, default: Any, dtype: Any) -> np.ndarray:
        if name in meta:
            return meta[name].to_numpy().astype(dtype)
        return np.broadcast_to(np.asarray(default, dtype=dtype), (n,))

    branches: dict[str, np.ndarray] = {
        _CHANNEL_IDS: np.broadcast_to(traceset.channels.astype(np.int32),
                                      (n, traceset.n_channels)),
        _ADC: np.full(n, factor, dtype=np.float64),
        _RATE: np.full(n, traceset.sampling_rate / 1e6, dtype=np.float64),
        "event_number": col("event_number", 0, np.int64) if "event_number" in meta
        else np.arange(n, dtype=np.int64),
        "run_number": col("run_number", run_number, np.int64),
        "station_number": col("station", station, np.int64),
        "readout_time": col("readout_time", 0.0, np.float64),
        **_flags_from_types(meta["trigger_type"].to_numpy() if "trigger_type" in meta
                            else np.full(n, "FORCE", dtype=object)),
    }
    types: dict[str, Any] = {_SAMPLES: np.dtype((np.int16, (traceset.n_channels,
                                                            traceset.n_samples)))}
    types.update({k: (np.dtype((v.dtype, v.shape[1:])) if v.ndim > 1 else v.dtype)
                  for k, v in branches.items()})
    per_basket = max(1, _BASKET_BYTES // max(1, 2 * traceset.n_channels * traceset.n_samples))
    scale = np.float32(1.0 / factor)
    level = None if compression is None else _COMPRESSION[compression](1)
    with atomic_output(path, force=force) as tmp, \
            uproot.recreate(tmp, compression=level) as file:
        tree = file.mktree(COMBINED_TREE_NAME, types,
                           title="RNO-G traces (rnognoise flat layout)")
        for lo in range(0, n, per_basket):
            hi = min(n, lo + per_basket)
            chunk = {k: np.ascontiguousarray(v[lo:hi]) for k, v in branches.items()}
            chunk[_SAMPLES] = np.rint(traces[lo:hi] * scale).astype(np.int16)
            tree.extend(chunk)
