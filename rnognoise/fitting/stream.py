"""placeholder"""
from __future__ import annotations


def should_stream(path, opts):  # noqa: ANN001, ANN201
    return False


def load_streamed(path, opts):  # noqa: ANN001, ANN201
    raise NotImplementedError
