"""Reader of RNO-G ROOT files (the ``mattak`` layouts and a flat layout), via uproot.

Accepted inputs (details in ``data_specs/rnog_root.md``):

- a run directory ``station{S}/run{R}/`` holding ``waveforms.root`` + ``headers.root``
  (preferred, as ``mattak`` does) or ``combined.root``;
- a ``combined.root`` file (tree ``combined`` with ``waveforms``, ``header`` and possibly
  ``daqstatus`` branches, split as ROOT writes mattak's classes);
- a ``waveforms.root`` file (its sibling ``headers.root`` is used when present);
- a flat tree as written by :func:`~rnognoise.io.root_write.write_root` or by any uproot
  script (``radiant_data`` of shape ``(n_events, n_channels, n_samples)``,
  ``radiant_sampling_rate`` in MHz, trigger flags as plain branches).

Branches are matched by their bare member name: the part after the last ``/`` and the last
``.``, without array dimensions (``trigger_info/trigger_info.force_trigger`` ->
``force_trigger``, ``radiant_data[24][2048]`` -> ``radiant_data``). Samples are
pedestal-subtracted ADC counts, converted to volts with the ``adc_to_volts`` argument, else
an ``adc_to_volts`` branch, else :data:`rnognoise.units.ADC_TO_VOLTS_RNOG`. Files without
a sampling-rate branch take the rate as :mod:`rnognoise.io.rate` says.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataFileError
from ..units import ADC_TO_VOLTS_RNOG
from .rate import resolve_sampling_rate, runinfo_candidates
from .root_layout import (
    ADC_BRANCH,
    CHANNEL_IDS_BRANCH,
    COMBINED_TREE_NAME,
    HEADER_TREE_NAMES,
    RATE_BRANCH,
    SAMPLES_BRANCH,
    TRIGGER_FLAGS,
    WAVEFORM_TREE_NAMES,
    WHICH_RADIANT_BRANCH,
    Branches,
    basket_starts,
    find_tree,
    open_root_file,
    read_scalar,
    sample_interpretation,
    select_trigger,
    short_message,
    tree_keys,
    trigger_types,
)
from .traceset import TraceSet

__all__ = ["RootSource"]

# Metadata branches -> TraceSet.events columns.
_META_COLUMNS = {"event_number": "event_number", "run_number": "run_number",
                 "station_number": "station", "readout_time": "readout_time"}
# Largest block of raw samples held in memory at once while reading.
_WINDOW_BYTES = 8 * 2**20


class RootSource:
    """Open an RNO-G ROOT file or run directory and read events from it in blocks.

    Parameters
    ----------
    path : str or os.PathLike
        Run directory, ``combined.root``, ``waveforms.root`` or a flat ROOT file.
    trigger : str
        ``"forced"`` (default; noise-only events), ``"all"``, or one of ``"LT"``,
        ``"RADIANT"`` (any RADIANT trigger), ``"RADIANT0"``, ``"RADIANT1"``, ``"RADIANTX"``,
        ``"PPS"``, ``"EXT"``, ``"UNKNOWN"`` (no flag set), ``"RF"`` (``rf_trigger`` flag);
        case-insensitive. Without trigger information in the file every event is taken.
    adc_to_volts : float, optional
        Volts per ADC count; default: the file's ``adc_to_volts`` branch (written by
        ``write_root``), else :data:`rnognoise.units.ADC_TO_VOLTS_RNOG` (2.5 V / 4095).
    sampling_rate : float, optional
        Sampling rate in Hz for files without a ``radiant_sampling_rate`` branch (default:
        the run's ``aux/runinfo.txt``, else 3.2 GHz with a
        :class:`~rnognoise.errors.SamplingRateWarning`); it must agree with the branch of a
        file that has one.

    Raises
    ------
    DataFileError
        If the file or directory does not follow the layout; the message names it and the
        problem.
    ConfigError
        For an unknown ``trigger``, a non-positive ``adc_to_volts`` or ``sampling_rate``.

    Examples
    --------
    >>> with RootSource("station11/run1000") as src:  # doctest: +SKIP
    ...     ts = src.read_events(src.event_index[:10])
    """

    format = "root"

    def __init__(self, path: str | os.PathLike[str], *, trigger: str = "forced",
                 adc_to_volts: float | None = None, sampling_rate: float | None = None,
                 ) -> None:
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
        self._rf: np.ndarray | None = None  # rf_trigger flags, when the file has them
        try:
            self._open(Path(self.path), trigger, adc_to_volts, sampling_rate)
        except Exception:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _open(self, path: Path, trigger: str, adc_to_volts: float | None,
              sampling_rate: float | None) -> None:
        wf_path, hd_path, self.layout = self._locate(path)
        wf_file = open_root_file(wf_path)
        self._files.append(wf_file)
        names = (COMBINED_TREE_NAME, *WAVEFORM_TREE_NAMES)
        found = find_tree(wf_file, wf_path, names, "waveform")
        if found is None:
            raise DataFileError(wf_path, f"no waveform tree (looked for {list(names)}; found "
                                f"{tree_keys(wf_file)})")
        wf = Branches(found[0], wf_path, found[1])
        self._wf_path = wf_path
        hd: Branches | None = None
        if hd_path is not None:
            hd_file = open_root_file(hd_path)
            self._files.append(hd_file)
            found = find_tree(hd_file, hd_path, HEADER_TREE_NAMES, "header")
            if found is None:
                raise DataFileError(hd_path, f"no header tree (looked for "
                                    f"{list(HEADER_TREE_NAMES)}; found {tree_keys(hd_file)})")
            hd = Branches(found[0], hd_path, found[1])
        self.files = [os.fspath(wf_path)] + ([os.fspath(hd_path)] if hd_path else [])
        self.trees = [wf.tree_name] + ([hd.tree_name] if hd else [])

        samples = wf.find(SAMPLES_BRANCH, ("wf", ""))
        if samples is None and wf.unsplit:
            raise DataFileError(wf_path, f"unknown branch layout: {wf.unsplit} hold whole "
                                "mattak objects (written unsplit); rnognoise reads the split "
                                f"layout, e.g. 'waveforms/{SAMPLES_BRANCH}[24][2048]' "
                                f"(branches found: {wf.names()})")
        if samples is None:
            raise DataFileError(wf_path, f"tree {wf.tree_name!r} has no '{SAMPLES_BRANCH}' branch "
                                f"(expected '{SAMPLES_BRANCH}' or '{SAMPLES_BRANCH}[24][2048]'; branches: "
                                f"{wf.names()})")
        self._interp = sample_interpretation(samples, wf_path)
        self._samples = samples
        n_channels, n_samples = self._interp.inner_shape
        if n_channels == 0 or n_samples == 0:
            raise DataFileError(wf_path, f"'{SAMPLES_BRANCH}' has per-event shape "
                                f"{(n_channels, n_samples)}; expected e.g. (24, 2048)")
        n_events = int(samples.num_entries)
        if n_events == 0:
            raise DataFileError(wf_path, f"tree {wf.tree_name!r} holds zero events")
        self.n_samples = int(n_samples)
        self.n_events_total = n_events
        self.stored_dtype = str(self._interp.to_dtype.base)
        self._event_bytes = int(self._interp.from_dtype.itemsize)
        self._basket_starts = basket_starts(samples, n_events)
        self.channels = self._read_channels(wf, wf_path, int(n_channels))
        self.adc_to_volts, self._adc_source = self._read_factor(wf, wf_path, adc_to_volts)
        self.events, self._has_triggers = self._read_metadata(wf, hd, n_events)
        self.event_index = select_trigger(
            self.path, trigger, n_events,
            self.events["trigger_type"].to_numpy() if self._has_triggers else None,
            self._rf)
        # after the selection: a file refused for its triggers gives no rate warning first
        self.sampling_rate, self._rate_source = self._read_rate(wf, wf_path, path,
                                                                sampling_rate)

    def _locate(self, path: Path) -> tuple[Path, Path | None, str]:
        """Waveform file, header file (or None) and a description of the layout."""
        if path.is_dir():
            waveforms, headers, combined = (path / "waveforms.root", path / "headers.root",
                                            path / "combined.root")
            if waveforms.is_file() and headers.is_file():
                return waveforms, headers, "run directory (waveforms.root + headers.root)"
            if combined.is_file():  # mattak's fallback when the full run is incomplete
                return combined, None, "run directory (combined.root)"
            if waveforms.is_file():
                raise DataFileError(path, "run directory has waveforms.root but no headers.root "
                                    "(event numbers, times and trigger flags are there); "
                                    "add it, or read waveforms.root itself to take every "
                                    "event without them")
            raise DataFileError(path, "run directory holds neither waveforms.root nor "
                                "combined.root")
        if not path.exists():
            raise DataFileError(path, "no such file or directory")
        sibling = path.parent / "headers.root"
        if path.name == "waveforms.root" and sibling.is_file():
            return path, sibling, "waveforms.root + headers.root beside it"
        return path, None, "single file"

    def _read_rate(self, wf: Branches, path: Path, given: Path, override: float | None,
                   ) -> tuple[float, str]:
        """Rate in Hz and its source: the branch, the argument, runinfo.txt or assumed."""
        branch = wf.find(RATE_BRANCH, ("wf", ""))
        file_rate = None
        if branch is not None:
            rates = np.unique(read_scalar(branch, path, RATE_BRANCH).astype(np.float64))
            if rates.size != 1:
                shown = ", ".join(f"{r:g}" for r in rates[:6])
                raise DataFileError(path, f"'{RATE_BRANCH}' varies within the file ({shown} "
                                    "MHz); split the file by sampling rate")
            mhz = float(rates[0])
            if not np.isfinite(mhz) or mhz <= 0:
                raise DataFileError(path, f"'{RATE_BRANCH}' is {mhz:g} MHz; it must be positive")
            file_rate = mhz * 1e6
        return resolve_sampling_rate(
            path if branch is not None else given, file_rate, override,
            what=f"'{RATE_BRANCH}' branch", runinfo=runinfo_candidates(given))

    def _read_channels(self, wf: Branches, path: Path, n_channels: int) -> np.ndarray:
        branch = wf.find(CHANNEL_IDS_BRANCH, ("wf", ""))
        if branch is None:
            return np.arange(n_channels, dtype=np.int64)
        ids = read_scalar(branch, path, CHANNEL_IDS_BRANCH, 0, 1).reshape(-1)
        if ids.dtype.kind not in "iu" or ids.size != n_channels:
            raise DataFileError(path, f"'{CHANNEL_IDS_BRANCH}' must hold {n_channels} integer ids "
                                f"per event, got {ids.size} of type {ids.dtype}")
        if np.unique(ids).size != ids.size:
            raise DataFileError(path, f"'{CHANNEL_IDS_BRANCH}' repeats an id: {ids.tolist()}")
        return ids.astype(np.int64)

    def _read_factor(self, wf: Branches, path: Path, override: float | None,
                     ) -> tuple[float, str]:
        if override is not None:
            return float(override), "argument"
        branch = wf.find(ADC_BRANCH, ("wf", ""))
        if branch is None:
            return ADC_TO_VOLTS_RNOG, "default 2.5 V / 4095"
        values = np.unique(read_scalar(branch, path, ADC_BRANCH).astype(np.float64))
        if values.size != 1 or not np.isfinite(values[0]) or values[0] <= 0:
            raise DataFileError(path, f"'{ADC_BRANCH}' must hold one positive value, found "
                                f"{values[:5].tolist()}")
        return float(values[0]), f"'{ADC_BRANCH}' branch"

    def _read_metadata(self, wf: Branches, hd: Branches | None, n_events: int,
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
            values = read_scalar(branch, header.path, name)
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
        unsplit = [k for k in header.unsplit if k.rsplit("/", 1)[-1] == "trigger_info"]
        if not flags and unsplit:
            raise DataFileError(header.path, f"unknown trigger flag layout: {unsplit} holds "
                                "mattak::TriggerInfo unsplit; rnognoise reads split flags "
                                "such as 'header/trigger_info/trigger_info.force_trigger'")
        if flags:
            which = column(WHICH_RADIANT_BRANCH)
            types = trigger_types(flags, which, n_events)
            columns["trigger_type"] = types
            self._rf = flags.get("rf_trigger")
        return pd.DataFrame(columns, index=pd.RangeIndex(n_events)), bool(flags)

    def _align(self, wf: Branches, hd: Branches, n_events: int) -> np.ndarray | None:
        """Header rows of the waveform entries (None when they correspond one to one)."""
        wf_branch = wf.find("event_number", ("wf", ""))
        hd_branch = hd.find("event_number", ("hd", ""))
        wf_numbers = None if wf_branch is None else read_scalar(wf_branch, wf.path,
                                                                 "event_number")
        hd_numbers = None if hd_branch is None else read_scalar(hd_branch, hd.path,
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
                                f"or damaged file? {short_message(exc)})") from None

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
            "sampling_rate_source": self._rate_source,
        }
        for column in ("station", "run_number"):
            if column in self.events:
                out[column if column == "station" else "run"] = sorted(
                    int(v) for v in self.events[column].unique())
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

