"""How RNO-G ROOT files are laid out, and the low-level uproot helpers that find things in them.

Shared by the reader (:mod:`rnognoise.io.root_read`) and the writer
(:mod:`rnognoise.io.root_write`): tree and branch names as mattak and ROOT write them,
trigger flags and their mattak type names, and small functions that open a file, find a
tree, index its leaf branches by bare member name and give the sample branch a native-order
numpy interpretation. Every failure is a one-line :class:`~rnognoise.errors.DataFileError`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import uproot

from ..errors import ConfigError, DataFileError

__all__ = [
    "ADC_BRANCH",
    "CHANNEL_IDS_BRANCH",
    "COMBINED_TREE_NAME",
    "DAQSTATUS_TREE_NAMES",
    "HEADER_TREE_NAMES",
    "RATE_BRANCH",
    "SAMPLES_BRANCH",
    "TRIGGER_FLAGS",
    "TRIGGER_SELECTIONS",
    "WAVEFORM_TREE_NAMES",
    "WHICH_RADIANT_BRANCH",
    "Branches",
    "basket_starts",
    "find_tree",
    "open_root_file",
    "read_scalar",
    "sample_interpretation",
    "select_trigger",
    "short_message",
    "tree_keys",
    "trigger_types",
]

#: Tree (and, in ``combined`` trees, top-level branch) names of the waveforms, as mattak reads them.
WAVEFORM_TREE_NAMES: tuple[str, ...] = ("waveforms", "wfs", "wf", "waveform")
#: Tree (and top-level branch) names of the event headers, as mattak reads them.
HEADER_TREE_NAMES: tuple[str, ...] = ("header", "hdr", "hd", "hds", "headers")
#: Top-level branch names of the DAQ status in ``combined`` trees (not read; never matched
#: as waveform or header quantities).
DAQSTATUS_TREE_NAMES: tuple[str, ...] = ("daqstatus", "ds", "status")
#: Name of the tree in ``combined.root`` files and in files written by ``write_root``.
COMBINED_TREE_NAME = "combined"
#: Boolean trigger flags of ``mattak::TriggerInfo``, read as ``trigger_info.<flag>`` or
#: ``<flag>``. Old headers (2021-2022) lack ``which_radiant_trigger``; newer ones add it and
#: ``which_lt_trigger``; ``surface_trigger`` (old) and ``didaq_trigger`` (new) name no
#: mattak type and are not used.
TRIGGER_FLAGS: tuple[str, ...] = ("force_trigger", "rf_trigger", "lt_trigger", "radiant_trigger",
                                  "pps_trigger", "ext_trigger")
#: Accepted ``trigger=`` values (case-insensitive) and the ``trigger_type`` values they keep;
#: ``"all"`` keeps every event and ``"RF"`` every event with the ``rf_trigger`` flag set
#: (or, without that flag, every LT and RADIANT event).
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

#: Sample branch (mattak: ``radiant_data[24][2048]``, int16 pedestal-subtracted ADC counts).
SAMPLES_BRANCH = "radiant_data"
#: Sampling-rate branch in MHz (``mattak::IWaveforms/radiant_sampling_rate``; absent in
#: files written before it existed).
RATE_BRANCH = "radiant_sampling_rate"
#: Channel ids per event (written by ``write_root``).
CHANNEL_IDS_BRANCH = "channel_ids"
#: Volts per ADC count (written by ``write_root``).
ADC_BRANCH = "adc_to_volts"
#: Which RADIANT trigger fired (0, 1; -1 when unknown).
WHICH_RADIANT_BRANCH = "which_radiant_trigger"

_LEAF_DTYPES = {"TLeafB": "i1", "TLeafS": "i2", "TLeafI": "i4", "TLeafL": "i8",
                "TLeafF": "f4", "TLeafD": "f8"}


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


def select_trigger(path: str | Path, trigger: str, n_events: int, types: np.ndarray | None,
                   rf: np.ndarray | None = None) -> np.ndarray:
    """Entry numbers of the events that pass ``trigger`` (see :data:`TRIGGER_SELECTIONS`).

    Parameters
    ----------
    path : str or pathlib.Path
        The file, for messages.
    trigger : str
        ``"all"``, ``"RF"`` or a key of :data:`TRIGGER_SELECTIONS`, case-insensitive.
    n_events : int
        Number of events in the file.
    types : numpy.ndarray, optional
        ``trigger_type`` of every event; None when the file has no trigger information
        (every event is taken).
    rf : numpy.ndarray, optional
        The ``rf_trigger`` flags; default: the LT and RADIANT events.

    Raises
    ------
    ConfigError
        An unknown ``trigger``.
    DataFileError
        No event passes; the message counts the events of each type in the file.
    """
    key = str(trigger).upper()
    if key not in ("ALL", "RF") and key not in TRIGGER_SELECTIONS:
        raise ConfigError(f"unknown trigger selection {trigger!r} (expected 'all', 'RF' "
                          f"or one of {sorted(TRIGGER_SELECTIONS)}, case-insensitive)")
    if key == "ALL" or types is None:
        return np.arange(n_events, dtype=np.int64)
    if key == "RF":
        mask = rf if rf is not None else np.isin(
            types, TRIGGER_SELECTIONS["RADIANT"] + TRIGGER_SELECTIONS["LT"])
    else:
        mask = np.isin(types, TRIGGER_SELECTIONS[key])
    if not mask.any():
        names, counts = np.unique(np.asarray(types, dtype=str), return_counts=True)
        mix = ", ".join(f"{name} {int(n)}" + (" (no trigger flag set)" if name == "UNKNOWN"
                                              else "") for name, n in zip(names, counts, strict=True))
        wanted = "FORCE" if key == "FORCED" else key
        raise DataFileError(path, f"no {wanted!r} trigger events: 0 of {n_events} (trigger "
                            f"types in the file: {mix}); use trigger='all' / --trigger all to "
                            "take every event, or select one of those types")
    return np.flatnonzero(mask).astype(np.int64)


def short_message(exc: BaseException) -> str:
    """uproot's message on one line, without the file name it repeats."""
    lines = [line.strip().rstrip(",") for line in str(exc).strip().splitlines()]
    lines = [line for line in lines
             if line and not line.startswith(("for file path", "in file", "in object"))]
    return " ".join(lines)[:200] if lines else type(exc).__name__


def open_root_file(path: Path) -> Any:
    if not path.exists():
        raise DataFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataFileError(path, "is empty (0 bytes)")
    try:
        # memory-mapped local reads: no I/O thread round trips per basket
        return uproot.open(path, array_cache=None, handler=uproot.source.file.MemmapSource)
    except Exception as exc:  # uproot raises many types on foreign or damaged files
        raise DataFileError(path, f"cannot be opened as ROOT (not a ROOT file, or truncated? "
                            f"{short_message(exc)})") from None


def find_tree(file: Any, path: Path, names: tuple[str, ...], what: str) -> tuple[Any, str] | None:
    """The first tree among ``names`` in ``file``, or None."""
    try:
        classes = file.classnames(recursive=False, cycle=False)
    except Exception as exc:
        raise DataFileError(path, f"cannot list the ROOT directory (truncated? {short_message(exc)})"
                            ) from None
    for name in names:
        if classes.get(name, "").startswith("TTree") or classes.get(name) == "TNtuple":
            try:
                return file[name], name
            except Exception as exc:
                raise DataFileError(path, f"cannot read the {what} tree {name!r} (truncated? "
                                    f"{short_message(exc)})") from None
    return None


def tree_keys(file: Any) -> list[str]:
    try:
        return sorted(file.keys(recursive=False, cycle=False))
    except Exception:
        return []


def _normalise(component: str) -> str:
    """``trigger_info.force_trigger`` -> ``force_trigger``; ``radiant_data[24][2048]`` ->
    ``radiant_data``."""
    return re.sub(r"\[.*$", "", component).rsplit(".", 1)[-1]


class Branches:
    """Leaf branches of one tree, by normalised name and by top-level group.

    Leaves under a ``daqstatus`` (``ds``, ``status``) group are kept apart and never
    matched. ``unsplit`` lists leaves that hold a whole mattak object (``waveforms``,
    ``header``, ``trigger_info`` written without splitting), a layout this reader cannot
    decode.
    """

    def __init__(self, tree: Any, path: Path, tree_name: str) -> None:
        self.tree = tree
        self.path = path
        self.tree_name = tree_name
        self.num_entries = int(tree.num_entries)
        self.groups: dict[str | None, dict[str, Any]] = {}
        self.unsplit: list[str] = []
        groups = set(WAVEFORM_TREE_NAMES) | set(HEADER_TREE_NAMES) | set(DAQSTATUS_TREE_NAMES)
        objects = groups | {"trigger_info"}
        try:
            items = tree.items(recursive=True, full_paths=True)
        except Exception as exc:
            raise DataFileError(path, f"cannot list the branches of tree {tree_name!r} "
                                f"({short_message(exc)})") from None
        for key, branch in items:
            if len(branch.branches):
                continue
            parts = key.split("/")
            if _normalise(parts[-1]) in objects:
                self.unsplit.append(key)
                continue
            group = parts[0] if len(parts) > 1 and parts[0] in groups else None
            if group in DAQSTATUS_TREE_NAMES:
                group = "daqstatus"
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
        """Bare names of the leaves that can be matched (DAQ status left out)."""
        return sorted({n for g, group in self.groups.items() if g != "daqstatus"
                       for n in group})


def read_scalar(branch: Any, path: Path, name: str, entry_start: int | None = None,
                 entry_stop: int | None = None) -> np.ndarray:
    try:
        values = branch.array(entry_start=entry_start, entry_stop=entry_stop, library="np")
    except Exception as exc:
        raise DataFileError(path, f"cannot read branch {name!r} (truncated or damaged file? "
                            f"{short_message(exc)})") from None
    values = np.asarray(values)
    if values.dtype == object or (values.ndim != 1 and name != CHANNEL_IDS_BRANCH):
        raise DataFileError(path, f"branch {name!r} must hold one number per event, "
                            f"got shape {values.shape[1:]} per event")
    return values


def sample_interpretation(branch: Any, path: Path) -> Any:
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


def basket_starts(branch: Any, n_events: int) -> np.ndarray:
    """First entry of every basket of ``branch``, then ``n_events``."""
    try:
        starts = np.asarray(branch.entry_offsets, dtype=np.int64)
    except Exception:
        starts = np.empty(0, dtype=np.int64)
    if starts.size < 2 or starts[0] != 0 or starts[-1] != n_events or (np.diff(starts) <= 0).any():
        return np.array([0, n_events], dtype=np.int64)  # unknown: treat as one basket
    return starts

