"""RNO-G ROOT files: the public names of the reader, the writer and the layout constants.

- :class:`RootSource` (:mod:`rnognoise.io.root_read`) reads mattak run directories,
  ``combined.root``/``waveforms.root`` files and flat trees;
- :func:`write_root` (:mod:`rnognoise.io.root_write`) writes the flat layout;
- tree, branch and trigger names (:mod:`rnognoise.io.root_layout`).

The layouts are documented in ``data_specs/rnog_root.md``.
"""

from __future__ import annotations

from .root_layout import (
    COMBINED_TREE_NAME,
    HEADER_TREE_NAMES,
    TRIGGER_FLAGS,
    TRIGGER_SELECTIONS,
    WAVEFORM_TREE_NAMES,
    trigger_types,
)
from .root_read import RootSource
from .root_write import write_root

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
