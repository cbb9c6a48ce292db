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


def test_a_cw_line_above_the_noise_does_not_become_the_band():
    # a carrier in a quarter of the events at twice the noise RMS: in the mean PSD of
    # 12.5 MHz bins it stands 20 dB above the band (a set built with NuRadioMC's tools
    # had its band found as 137-162 MHz, around its 151 MHz carrier)
    f = np.linspace(0, 1.6e9, 129)
    band = np.where((f >= 90e6) & (f <= 720e6), 1.0, 1e-4)
    for line in (12, 32, 56):                       # 150, 400, 700 MHz
        psd = band.copy()
        psd[line] = 100.0
        psd[line + 1] = 20.0                        # a line between two bins
        assert find_passband(f, psd) == find_passband(f, band) == (100e6, 712.5e6)
    # a broad bump inside the band is band, not a line
    bump = band * np.where((f > 200e6) & (f < 300e6), 30.0, 1.0)
    assert find_passband(f, bump) == (212.5e6, 287.5e6)
