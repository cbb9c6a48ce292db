"""Exception types raised by rnognoise.

Every error a user can cause (a bad file, a bad argument) is a subclass of
:class:`RnognoiseError`. Its message is one line that names the file (where there
is one) and the problem, so that the command-line interface can print it as is and
exit with status 2.
"""

from __future__ import annotations

import os

__all__ = [
    "ConfigError",
    "DataFileError",
    "ModelFileError",
    "NonFiniteOutputError",
    "OutputExistsError",
    "PhysicalEnvelopeWarning",
    "RnognoiseError",
    "RnognoiseWarning",
    "SamplingRateWarning",
    "TrainingDivergedError",
    "UnphysicalOutputError",
]


class RnognoiseError(Exception):
    """Base class of all errors rnognoise raises on bad input."""


class DataFileError(RnognoiseError, ValueError):
    """A trace file is missing, unreadable, or not in a supported layout.

    Parameters
    ----------
    path : str or os.PathLike
        The offending file.
    problem : str
        What is wrong with it, as a short phrase.
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ModelFileError(DataFileError):
    """A model file is missing, damaged, foreign, or inconsistent."""


class OutputExistsError(RnognoiseError, FileExistsError):
    """An output file exists and overwriting it was not requested."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: already exists (pass force=True to overwrite)")


class ConfigError(RnognoiseError, ValueError):
    """An argument or configuration value is invalid."""


class NonFiniteOutputError(ModelFileError, FloatingPointError):
    """A model produced NaN/inf samples: the model file is unusable."""


class TrainingDivergedError(RnognoiseError, FloatingPointError):
    """Training produced a non-finite loss; the last good checkpoint is kept."""


class PoorFitError(RnognoiseError):
    """A fitted model scores worse than the spectrum-matched baseline on held-out events
    (not saved without ``force``)."""


class RnognoiseWarning(UserWarning):
    """Base class of the warnings rnognoise issues about its input (one line each)."""


class SamplingRateWarning(RnognoiseWarning):
    """A trace file carries no sampling rate; an assumed rate is used (the message says which)."""


class UnphysicalOutputError(ModelFileError):
    """Sampled noise left the physical envelope of the model's training data."""


class PhysicalEnvelopeWarning(RnognoiseWarning):
    """Sampled noise left the physical envelope of the model's training data (RMS or peak
    per channel), or resampling to a lower rate removed much of the model's band."""
