"""Physical units and unit conversions.

rnognoise stores traces in volts, times in seconds and frequencies in hertz. All
conversions from other units happen here, in one place.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ADC_TO_VOLTS_RNOG", "SUPPORTED_UNITS", "to_volts"]

#: Linear ADC-count-to-volt factor of the RNO-G RADIANT digitizer as used by
#: NuRadioReco's RNO-G reader: 2.5 V full range over 2**12 - 1 counts (about 0.61 mV).
ADC_TO_VOLTS_RNOG: float = 2.5 / 4095.0

#: Units accepted for stored traces and their factor to volts (``ADC`` needs a factor).
SUPPORTED_UNITS: dict[str, float | None] = {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "ADC": None}


def to_volts(values: np.ndarray, units: str, adc_to_volts: float | None = None) -> np.ndarray:
    """Convert an array of samples to volts, as float32.

    Parameters
    ----------
    values : numpy.ndarray
        Samples in ``units``.
    units : str
        One of ``"V"``, ``"mV"``, ``"uV"`` or ``"ADC"``.
    adc_to_volts : float, optional
        Volts per ADC count; required when ``units == "ADC"``.

    Returns
    -------
    numpy.ndarray
        float32 array in volts (a new array unless already float32 volts).

    Raises
    ------
    ValueError
        For unknown units or ADC counts without a positive factor.
    """
    if units not in SUPPORTED_UNITS:
        raise ValueError(f"unknown units {units!r} (expected one of {sorted(SUPPORTED_UNITS)})")
    factor = SUPPORTED_UNITS[units]
    if factor is None:
        if adc_to_volts is None or not np.isfinite(adc_to_volts) or adc_to_volts <= 0:
            raise ValueError("units 'ADC' need a positive finite adc_to_volts factor")
        factor = float(adc_to_volts)
    out = np.asarray(values, dtype=np.float32)
    if factor != 1.0:
        out = out * np.float32(factor)
    return out
