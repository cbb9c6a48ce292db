"""Generate the bad-input corpus: damaged, foreign and inconsistent trace and model files.

Usage::

    python tests/data/bad/make_corpus.py OUT_DIR

Writes one file (or run directory) per case into ``OUT_DIR`` plus three valid files
(``good.h5``, ``good.root``, ``good.safetensors``) that the fuzz tests mutate, and prints
the cases. The tests call :func:`build_corpus` on a temporary folder instead of keeping
the files in the repository.

Every :class:`Case` names the reading path (``hdf5``, ``root`` or ``model``), the file,
and a regular expression the one-line error message must match.
"""

from __future__ import annotations

import json
import pickle
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import torch
import uproot
from safetensors import safe_open
from safetensors.torch import save_file

from rnognoise.io import TraceSet, write_traces
from rnognoise.train import FitOptions, fit

__all__ = ["Case", "build_corpus", "main"]

RATE = 3.2e9


@dataclass(frozen=True)
class Case:
    """One bad input.

    Attributes
    ----------
    name : str
        Identifier (also the file stem).
    kind : {"hdf5", "root", "model"}
        Which reader it targets.
    path : pathlib.Path
        The file or run directory.
    expected : str
        Regular expression the error message must match.
    marker : pathlib.Path, optional
        A file that must never come to exist (unpickling would create it).
    """

    name: str
    kind: str
    path: Path
    expected: str
    marker: Path | None = None


# -- valid inputs ----------------------------------------------------------------------------

def good_traceset(n_events: int = 64, n_channels: int = 2, n_samples: int = 128) -> TraceSet:
    """Small white noise in volts with FORCE triggers (ADC-representable values)."""
    rng = np.random.default_rng(7)
    counts = np.rint(20 * rng.standard_normal((n_events, n_channels, n_samples)))
    traces = (counts * (2.5 / 4095)).astype(np.float32)
    events = pd.DataFrame({"event_number": np.arange(n_events),
                           "trigger_type": np.full(n_events, "FORCE", dtype=object)})
    return TraceSet(traces, RATE, np.arange(n_channels), events)


# -- HDF5 ------------------------------------------------------------------------------------

def _h5(path: Path, traces: Any = None, *, root_attrs: dict[str, Any] | None = None,
        traces_attrs: dict[str, Any] | None = None, datasets: dict[str, Any] | None = None,
        chunks: Any = None, rate: Any = RATE) -> Path:
    with h5py.File(path, "w") as f:
        if rate is not None:
            f.attrs["sampling_rate"] = rate
        for key, value in (root_attrs or {}).items():
            f.attrs[key] = value
        if traces is not None:
            dset = f.create_dataset("traces", data=traces, chunks=chunks)
            for key, value in (traces_attrs or {}).items():
                dset.attrs[key] = value
        for key, value in (datasets or {}).items():
            f.create_dataset(key, data=value)
    return path


def _z(*shape: int, dtype: Any = np.float32) -> np.ndarray:
    return (0.01 * np.random.default_rng(1).standard_normal(shape)).astype(dtype)


def _hdf5_cases(d: Path, good: Path) -> list[Case]:
    raw = good.read_bytes()
    cases: list[Case] = []

    def add(name: str, build: Callable[[Path], Any], expected: str) -> None:
        path = d / f"{name}.h5"
        build(path)
        cases.append(Case(name, "hdf5", path, expected))

    add("h5_zero_length", lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)")
    add("h5_truncated_half", lambda p: p.write_bytes(raw[: len(raw) // 2]),
        r"cannot be opened as HDF5|truncated|damaged")
    add("h5_truncated_tail", lambda p: p.write_bytes(raw[:-4096]),
        r"cannot be opened as HDF5|truncated|damaged")
    add("h5_wrong_magic", lambda p: p.write_bytes(b"\x89HDX\r\n\x1a\n" + raw[8:]),
        "neither an HDF5 nor a ROOT file")
    add("h5_magic_then_garbage",
        lambda p: p.write_bytes(raw[:8] + np.random.default_rng(3).bytes(4000)),
        "cannot be opened as HDF5")
    add("h5_csv_text", lambda p: p.write_text("event,channel,sample\n1,2,3\n"),
        "neither an HDF5 nor a ROOT file")
    add("h5_strings", lambda p: _h5(p, np.array([[[b"a", b"b"]]])), "unsupported sample type")
    add("h5_complex", lambda p: _h5(p, np.zeros((2, 1, 8), np.complex64)),
        "unsupported sample type complex64")
    add("h5_bool", lambda p: _h5(p, np.zeros((2, 1, 8), bool)), "unsupported sample type bool")
    add("h5_ints_without_adc", lambda p: _h5(p, np.zeros((2, 1, 8), np.int16)),
        r"need units='ADC'")
    add("h5_adc_without_factor",
        lambda p: _h5(p, np.zeros((2, 1, 8), np.int16), root_attrs={"units": "ADC"}),
        "no positive adc_to_volts")
    add("h5_adc_factor_text",
        lambda p: _h5(p, np.zeros((2, 1, 8), np.int16),
                      root_attrs={"units": "ADC", "adc_to_volts": "lots"}),
        "no positive adc_to_volts")
    add("h5_adc_factor_overflow",
        lambda p: _h5(p, np.ones((2, 1, 8), np.int32),
                      root_attrs={"units": "ADC", "adc_to_volts": 1e300}),
        "overflows float32")
    add("h5_rank2", lambda p: _h5(p, _z(3, 8)), r"2 dimensions \(3, 8\), expected 3")
    add("h5_rank4", lambda p: _h5(p, _z(2, 1, 2, 8)), "4 dimensions")
    add("h5_scalar", lambda p: _h5(p, np.float32(1.0)), "0 dimensions")
    add("h5_zero_events", lambda p: _h5(p, _z(0, 2, 8)), "holds zero events")
    add("h5_zero_channels", lambda p: _h5(p, _z(2, 0, 8)), "holds zero channels")
    add("h5_zero_samples", lambda p: _h5(p, _z(2, 2, 0)), "holds zero samples")
    add("h5_nan", lambda p: _h5(p, np.where(np.arange(16).reshape(2, 1, 8) == 5, np.nan,
                                            _z(2, 1, 8))),
        r"contains \d+ NaN/inf samples")
    add("h5_inf", lambda p: _h5(p, np.full((2, 1, 8), np.inf, np.float32)),
        r"contains \d+ NaN/inf samples")

    def huge_chunked(p: Path) -> None:
        with h5py.File(p, "w") as f:
            f.attrs["sampling_rate"] = RATE
            dset = f.create_dataset("traces", shape=(10**9, 4, 2048), dtype=np.float32,
                                    chunks=(1, 4, 2048))
            dset[0] = 0.01
    add("h5_huge_shape_tiny_data", huge_chunked, r"only 1 of 1000000000 chunks hold data")

    def huge_contiguous(p: Path) -> None:
        _h5(p, _z(256, 4, 256))
        data = p.read_bytes()
        p.write_bytes(data[: len(data) - 200_000])
    add("h5_contiguous_truncated", huge_contiguous, "truncated file")

    def unwritten(p: Path) -> None:
        with h5py.File(p, "w") as f:
            f.attrs["sampling_rate"] = RATE
            f.create_dataset("traces", shape=(1000, 4, 256), dtype=np.float32)
    add("h5_declared_never_written", unwritten, r"stores 0 bytes")
    add("h5_no_traces", lambda p: _h5(p, None, datasets={"waveforms": _z(2, 1, 8)}),
        r"no '/traces' dataset")

    def traces_group(p: Path) -> None:
        with h5py.File(p, "w") as f:
            f.attrs["sampling_rate"] = RATE
            f.create_group("traces")
    add("h5_traces_is_group", traces_group, "is a group, not a dataset")
    add("h5_no_sampling_rate", lambda p: _h5(p, _z(2, 1, 8), rate=None),
        "no 'sampling_rate' attribute")
    add("h5_rate_text", lambda p: _h5(p, _z(2, 1, 8), rate="fast"),
        "'sampling_rate' must be one positive number")
    add("h5_rate_zero", lambda p: _h5(p, _z(2, 1, 8), rate=0.0), "one positive number")
    add("h5_rate_negative", lambda p: _h5(p, _z(2, 1, 8), rate=-3.2e9), "one positive number")
    add("h5_rate_nan", lambda p: _h5(p, _z(2, 1, 8), rate=np.nan), "one positive number")
    add("h5_rate_two_values", lambda p: _h5(p, _z(2, 1, 8), rate=[3.2e9, 2.4e9]),
        "one positive number")
    add("h5_rate_contradictory",
        lambda p: _h5(p, _z(2, 1, 8), traces_attrs={"sampling_rate": 2.4e9}),
        r"contradictory 'sampling_rate': 3200000000\.0 on '/' but 2400000000\.0 on '/traces'")
    add("h5_units_unknown", lambda p: _h5(p, _z(2, 1, 8), root_attrs={"units": "furlong"}),
        "unknown units 'furlong'")
    add("h5_units_contradictory",
        lambda p: _h5(p, _z(2, 1, 8), root_attrs={"units": "V"}, traces_attrs={"units": "mV"}),
        "contradictory 'units'")
    add("h5_channels_too_many",
        lambda p: _h5(p, _z(2, 2, 8), root_attrs={"channels": [1, 2, 3]}),
        "'channels' lists 3 ids but /traces has 2 channels")
    add("h5_channels_duplicated",
        lambda p: _h5(p, _z(2, 3, 8), root_attrs={"channels": [4, 4, 5]}),
        r"'channels' repeats an id: \[4, 4, 5\]")
    add("h5_channels_float",
        lambda p: _h5(p, _z(2, 2, 8), root_attrs={"channels": [0.5, 1.5]}),
        "'channels' must be integer ids")
    add("h5_channels_contradictory",
        lambda p: _h5(p, _z(2, 2, 8), root_attrs={"channels": [0, 1]},
                      traces_attrs={"channels": [1, 2]}),
        "contradictory 'channels'")
    add("h5_event_metadata_length",
        lambda p: _h5(p, _z(2, 1, 8), datasets={"events/event_number": np.arange(3)}),
        "'/events/event_number' has 3 entries for 2 events")
    add("h5_event_metadata_2d",
        lambda p: _h5(p, _z(2, 1, 8), datasets={"events/event_number": np.zeros((2, 2))}),
        "must be a 1-D dataset")
    add("h5_events_not_group",
        lambda p: _h5(p, _z(2, 1, 8), datasets={"events": np.arange(2)}),
        "'/events' must be a group")
    add("h5_event_metadata_compound",
        lambda p: _h5(p, _z(2, 1, 8), datasets={
            "events/event_number": np.zeros(2, dtype=[("a", "i4"), ("b", "f4")])}),
        "unsupported type")
    add("h5_no_forced_events",
        lambda p: _h5(p, _z(2, 1, 8), datasets={
            "events/trigger_type": np.array([b"LT", b"LT"])}),
        r"no 'FORCE' trigger events .*--trigger all")
    return cases


# -- ROOT ------------------------------------------------------------------------------------

def _tree(path: Path, branches: dict[str, Any], name: str = "combined") -> Path:
    with uproot.recreate(path) as f:
        types = {k: np.dtype((v.dtype, v.shape[1:])) for k, v in branches.items()}
        tree = f.mktree(name, types)
        if branches and len(next(iter(branches.values()))):
            tree.extend(branches)
    return path


def _counts(n: int, c: int = 2, t: int = 64) -> np.ndarray:
    return np.random.default_rng(2).integers(-50, 50, (n, c, t)).astype(np.int16)


def _flat(path: Path, counts: np.ndarray, **extra: Any) -> Path:
    n = counts.shape[0]
    branches = {"radiant_data": counts, "radiant_sampling_rate": np.full(n, 3200.0)}
    branches.update(extra)
    return _tree(path, branches)


def _root_cases(d: Path, good: Path) -> list[Case]:
    raw = good.read_bytes()
    cases: list[Case] = []

    def add(name: str, build: Callable[[Path], Any], expected: str, suffix: str = ".root",
            ) -> None:
        path = d / f"{name}{suffix}"
        built = build(path)
        cases.append(Case(name, "root", built if isinstance(built, Path) else path, expected))

    add("root_zero_length", lambda p: p.write_bytes(b""), r"is empty \(0 bytes\)")
    add("root_magic_then_garbage", lambda p: p.write_bytes(b"root" + b"\x00garbage" * 40),
        "cannot be opened as ROOT")
    add("root_truncated_half", lambda p: p.write_bytes(raw[: len(raw) // 2]),
        "truncated|cannot be opened as ROOT")
    add("root_truncated_header", lambda p: p.write_bytes(raw[:200]),
        "truncated|cannot be opened as ROOT")
    add("root_no_tree", lambda p: _tree(p, {"a": np.arange(3)}, name="other"),
        "no waveform tree")
    add("root_no_samples", lambda p: _tree(p, {"radiant_sampling_rate": np.full(2, 3200.0)}),
        "no 'radiant_data' branch")

    def rate_not_a_number(p: Path) -> Path:  # no rate branch; runinfo.txt rate unreadable
        (p / "aux").mkdir(parents=True)
        (p / "aux" / "runinfo.txt").write_text("station = 21\nradiant-samplerate = fast\n")
        _tree(p / "combined.root", {"radiant_data": _counts(2)})
        return p
    add("root_runinfo_rate_not_a_number", rate_not_a_number,
        r"runinfo.txt: radiant-samplerate = 'fast' is not a positive number of MHz", suffix="")

    def no_headers(p: Path) -> Path:
        p.mkdir()
        _flat(p / "waveforms.root", _counts(2))
        return p
    add("root_run_dir_without_headers", no_headers, "waveforms.root but no headers.root",
        suffix="")
    add("root_unsplit_waveforms",
        lambda p: _tree(p, {"waveforms": np.zeros((2, 4), np.uint32),
                            "radiant_sampling_rate": np.full(2, 3200.0)}),
        r"unknown branch layout: \['waveforms'\]")
    add("root_samples_1d", lambda p: _flat(p, np.zeros((2, 64), np.int16)),
        r"per-event shape \(64,\)")
    add("root_samples_3d", lambda p: _flat(p, np.zeros((2, 2, 2, 16), np.int16)),
        r"per-event shape \(2, 2, 16\)")
    add("root_zero_events", lambda p: _flat(p, np.zeros((0, 2, 64), np.int16)), "zero events")
    add("root_rate_zero", lambda p: _flat(p, _counts(2), radiant_sampling_rate=np.zeros(2)),
        "must be positive")
    add("root_rate_varies",
        lambda p: _flat(p, _counts(2), radiant_sampling_rate=np.array([3200.0, 2400.0])),
        "varies within the file")
    add("root_rate_nan",
        lambda p: _flat(p, _counts(2), radiant_sampling_rate=np.full(2, np.nan)),
        "must be positive")
    add("root_channel_ids_wrong_size",
        lambda p: _flat(p, _counts(2, 3), channel_ids=np.zeros((2, 2), np.int32)),
        "'channel_ids' must hold 3")
    add("root_channel_ids_duplicated",
        lambda p: _flat(p, _counts(2, 2), channel_ids=np.zeros((2, 2), np.int32)),
        "'channel_ids' repeats an id")
    add("root_adc_factor_negative",
        lambda p: _flat(p, _counts(2), adc_to_volts=np.full(2, -1.0)),
        "'adc_to_volts' must hold one positive value")
    add("root_float_samples_nan",
        lambda p: _flat(p, np.full((2, 2, 16), np.nan, np.float32)),
        r"contains \d+ NaN/inf samples")
    add("root_no_forced_events",
        lambda p: _flat(p, _counts(3), force_trigger=np.zeros(3, bool),
                        lt_trigger=np.ones(3, bool)),
        r"no 'FORCE' trigger events")
    add("root_metadata_per_event_array",
        lambda p: _flat(p, _counts(2), event_number=np.zeros((2, 3), np.int64)),
        "must hold one number per event")

    def jagged(p: Path) -> Path:
        import awkward as ak

        with uproot.recreate(p) as f:
            tree = f.mktree("combined", {"radiant_data": "var * int16",
                                         "radiant_sampling_rate": "float64"})
            tree.extend({"radiant_data": ak.Array([[1, 2, 3], [4]]),
                         "radiant_sampling_rate": np.full(2, 3200.0)})
        return p
    add("root_jagged_samples", jagged, "variable-length")

    def rntuple(p: Path) -> Path:
        with uproot.recreate(p) as f:
            f["combined"] = {"radiant_data": _counts(2), "radiant_sampling_rate":
                             np.full(2, 3200.0)}
        return p
    add("root_rntuple_not_ttree", rntuple, r"no waveform tree .*found \['combined'\]")

    def empty_dir(p: Path) -> Path:
        p.mkdir()
        return p
    add("root_empty_run_dir", empty_dir, "neither waveforms.root nor combined.root", suffix="")

    def mismatch(p: Path) -> Path:
        p.mkdir()
        n = 3
        _tree(p / "waveforms.root", {"radiant_data": _counts(n),
                                     "radiant_sampling_rate": np.full(n, 3200.0),
                                     "event_number": np.arange(n, dtype=np.int64)},
              name="waveforms")
        _tree(p / "headers.root", {"event_number": np.array([7, 8], np.int64),
                                   "force_trigger": np.ones(2, bool)}, name="header")
        return p
    add("root_header_waveform_mismatch", mismatch, "header/waveform mismatch", suffix="")

    def no_header_tree(p: Path) -> Path:
        p.mkdir()
        _flat(p / "waveforms.root", _counts(2))
        _tree(p / "headers.root", {"x": np.arange(2)}, name="other")
        return p
    add("root_headers_without_header_tree", no_header_tree, "no header tree", suffix="")
    return cases


# -- model files -----------------------------------------------------------------------------

class _Marker:
    """Unpickling this object creates ``path`` (proof that a loader unpickled it)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (open, (self.path, "w"))


def _load_parts(good: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    with safe_open(str(good), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        doc = json.loads(handle.metadata()["rnognoise_model"])
    return tensors, doc


def _raw_safetensors(path: Path, header: Any, data: bytes = b"") -> None:
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _model_cases(d: Path, good: Path) -> list[Case]:
    raw = good.read_bytes()
    tensors, doc = _load_parts(good)
    cases: list[Case] = []

    def add(name: str, build: Callable[[Path], Any], expected: str,
            marker: Path | None = None) -> None:
        path = d / f"{name}.safetensors"
        build(path)
        cases.append(Case(name, "model", path, expected, marker))

    def variant(new_doc: Any = None, new_tensors: dict[str, torch.Tensor] | None = None,
                ) -> Callable[[Path], None]:
        def build(p: Path) -> None:
            meta = doc if new_doc is None else new_doc
            text = meta if isinstance(meta, str) else json.dumps(meta)
            save_file(new_tensors if new_tensors is not None else tensors, str(p),
                      metadata={"rnognoise_model": text})
        return build

    def edit(**changes: Any) -> dict[str, Any]:
        new = json.loads(json.dumps(doc))
        for key, value in changes.items():
            if value is _DROP:
                new.pop(key, None)
            else:
                new[key] = value
        return new

    add("model_missing", lambda p: None, "no such file")
    add("model_zero_length", lambda p: p.write_bytes(b""), "too short to be a model file")
    add("model_text", lambda p: p.write_text("a noise model, honestly\n" * 4),
        "not an rnognoise model file")
    add("model_truncated_half", lambda p: p.write_bytes(raw[: len(raw) // 2]),
        "truncated|damaged")
    add("model_truncated_header", lambda p: p.write_bytes(raw[:40]), "truncated|not an rnognoise model file")
    add("model_header_length_huge", lambda p: p.write_bytes(struct.pack("<Q", 2**62) + raw[8:]),
        "length field is invalid")
    add("model_header_deeply_nested", lambda p: _raw_safetensors(p, b"[" * 200_000),
        "header is not JSON")
    add("model_header_not_object", lambda p: _raw_safetensors(p, [1, 2, 3]),
        "not a JSON object")
    add("model_metadata_is_list", lambda p: _raw_safetensors(p, {"__metadata__": [1]}),
        "without rnognoise model metadata")
    add("model_metadata_value_not_string",
        lambda p: _raw_safetensors(p, {"__metadata__": {"rnognoise_model": {"a": 1}}}),
        "not a JSON string")
    marker_pickle = d / "UNPICKLED_model_pickle"
    add("model_pickle", lambda p: p.write_bytes(pickle.dumps(_Marker(marker_pickle))),
        "not an rnognoise model file", marker_pickle)
    marker_torch = d / "UNPICKLED_model_torch_save"
    add("model_torch_save",
        lambda p: torch.save({"state": _Marker(marker_torch), "w": torch.zeros(3)}, p),
        "not an rnognoise model file", marker_torch)
    add("model_foreign_safetensors", lambda p: save_file({"w": torch.zeros(3)}, str(p)),
        "without rnognoise model metadata")
    add("model_metadata_not_json", variant("{not json"), "model metadata is not valid JSON")
    add("model_wrong_format", variant(edit(format="someone-else")),
        "does not declare format 'rnognoise-model'")
    add("model_future_version", variant(edit(format_version=99)),
        "format version 99 is not supported")
    add("model_missing_layout", variant(edit(layout=_DROP)), "lacks 'layout'")
    add("model_missing_kind", variant(edit(kind=_DROP)), "lacks 'kind'")
    add("model_kind_not_string", variant(edit(kind=["baseline"])), "'kind' must be a string")
    add("model_unknown_kind", variant(edit(kind="transformer-xxl")),
        "cannot rebuild the model .*transformer-xxl")
    add("model_config_not_object", variant(edit(config=[1, 2])), "'config' must be a JSON")
    add("model_config_unknown_option", variant(edit(config={"depth": 9})),
        r"cannot rebuild the model .*unknown option")
    add("model_units_millivolts", variant(edit(units="mV")), "units 'mV' are not 'V'")
    layout = doc["layout"]
    add("model_layout_huge_samples",
        variant(edit(layout={**layout, "n_samples": 10**12})), "invalid 'layout'")
    add("model_layout_rate_inf",
        variant(edit(layout={**layout, "sampling_rate": float("inf")})), "invalid 'layout'")
    add("model_layout_duplicate_channels",
        variant(edit(layout={**layout, "channels": [0, 0]})), "invalid 'layout'")
    add("model_layout_float_channels",
        variant(edit(layout={**layout, "channels": [0.5, 1.5]})), "invalid 'layout'")
    add("model_layout_contradicts_tensors",
        variant(edit(layout={**layout, "channels": [0, 1, 2]})), "has shape")
    key = next(k for k, v in tensors.items() if v.ndim >= 2)
    add("model_tensor_wrong_shape",
        variant(new_tensors={**tensors, key: torch.zeros(3, 3)}), f"tensor '{key}' has shape")
    add("model_tensor_wrong_dtype",
        variant(new_tensors={**tensors, key: tensors[key].double()}), "has dtype F64")
    add("model_tensor_missing",
        variant(new_tensors={k: v for k, v in tensors.items() if k != key}), "missing")
    add("model_tensor_unexpected",
        variant(new_tensors={**tensors, "extra.weight": torch.zeros(2)}), "unexpected")
    add("model_tensor_nan",
        variant(new_tensors={**tensors, "norm_scale": torch.full_like(tensors["norm_scale"],
                                                                      float("nan"))}),
        "holds NaN/inf")
    add("model_output_overflows",
        variant(new_tensors={**tensors, "norm_scale": torch.full_like(tensors["norm_scale"],
                                                                      3e38)}),
        "generates NaN/inf samples")

    def offsets_beyond(p: Path) -> None:
        header = {"w": {"dtype": "F32", "shape": [10**6], "data_offsets": [0, 4 * 10**6]},
                  "__metadata__": {"rnognoise_model": json.dumps(doc)}}
        _raw_safetensors(p, header, b"\x00" * 64)
    add("model_offsets_beyond_file", offsets_beyond, "beyond the end of the file")
    return cases


class _Drop:
    pass


_DROP = _Drop()


# -- all ------------------------------------------------------------------------------------

def build_corpus(folder: str | Path) -> tuple[list[Case], dict[str, Path]]:
    """Write every case and the valid files into ``folder``.

    Returns
    -------
    cases : list of Case
    good : dict
        ``{"hdf5": good.h5, "root": good.root, "model": good.safetensors}``.
    """
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    ts = good_traceset()
    good = {"hdf5": d / "good.h5", "root": d / "good.root", "model": d / "good.safetensors"}
    write_traces(good["hdf5"], ts, force=True)
    write_traces(good["root"], ts, force=True)
    if good["model"].exists():
        good["model"].unlink()
    fit(ts, good["model"], FitOptions(model="baseline", quiet=True, device="cpu"))
    bad = d / "bad"
    bad.mkdir(exist_ok=True)
    cases = _hdf5_cases(bad, good["hdf5"]) + _root_cases(bad, good["root"]) + \
        _model_cases(bad, good["model"])
    return cases, good


def main(argv: list[str] | None = None) -> int:
    """Write the corpus into the folder given on the command line and list it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python tests/data/bad/make_corpus.py OUT_DIR", file=sys.stderr)
        return 2
    cases, _ = build_corpus(args[0])
    for case in cases:
        print(f"{case.kind:6s} {case.name:40s} {case.path}")
    print(f"{len(cases)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
