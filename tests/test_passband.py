"""The analysis band of recorded spectra whose largest power sits at DC."""

from __future__ import annotations

import numpy as np

from rnognoise.metrics.spectra import find_passband


def test_baseline_offsets_at_dc_do_not_move_the_band():
    f = np.linspace(0, 1.6e9, 129)                  # 12.5 MHz bins
    band = np.where((f >= 100e6) & (f <= 600e6), 1.0, 1e-4)
    psd = band.copy()
    psd[0] = 50.0                                   # per-trace baseline drift
    psd[1] = 5.0
    assert find_passband(f, psd) == find_passband(f, band) == (100e6, 600e6)
    # with the floor at 0 Hz the offsets win, as before
    assert find_passband(f, psd, min_hz=0.0) == (0.0, 12.5e6)
