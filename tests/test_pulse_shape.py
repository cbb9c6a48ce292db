"""A pulse's shape learned from noisy recordings: its phase (dispersion), each pulse's
rotation, and pulses drawn back with the recorded excursions."""

from __future__ import annotations

import math

import numpy as np
import torch

from rnognoise.io import TraceSet
from rnognoise.models.pulse_shape import (
    align_pulses,
    pulse_phase,
    rotate,
    rotated_peak,
    shape_similarity,
)
from rnognoise.train import prepare_model

T = 512
FS = 3.2e9


def _dispersed_pulse() -> np.ndarray:
    """A band-limited pulse (200-400 MHz) whose group delay changes by 8 ns over its band:
    it rings, with negative and positive excursions of similar size."""
    f = np.fft.rfftfreq(T, 1 / FS)
    amplitude = np.exp(-0.5 * ((f - 3e8) / 1e8) ** 2)
    phase = 2 * np.pi * 0.5 * 8e-9 / 2e8 * (f - 3e8) ** 2
    pulse = np.fft.irfft(amplitude * np.exp(1j * phase), n=T)
    return pulse / np.abs(pulse).max()


def _opposite_lobe(x: np.ndarray, half: int = 16) -> float:
    """The smaller of the largest positive and negative excursions within ``half``
    samples of the peak, over the larger."""
    i = int(np.abs(x).argmax())
    seg = x[max(i - half, 0):i + half + 1]
    return float(min(seg.max(), -seg.min()) / np.abs(seg).max())


def test_alignment_recovers_shift_and_rotation_of_a_clean_pulse():
    pulse = _dispersed_pulse()
    reference = torch.from_numpy(np.fft.rfft(pulse))
    shifted = [np.roll(pulse, 7), -np.roll(pulse, -3)]
    spectra = torch.from_numpy(np.fft.rfft(np.stack(shifted), axis=-1))
    shift, rotation = align_pulses(spectra, reference, T, 32)
    assert np.allclose(shift.numpy(), [7, -3], atol=0.05)
    assert abs(rotation[0]) < 0.05
    assert abs(abs(float(rotation[1])) - math.pi) < 0.05


def test_the_phase_of_dispersed_pulses_is_learned_through_noise():
    """Forty pulses of 4-10 noise RMS with random polarity and arrival: the learned shape
    matches the true one (a zero-phase shape with the same spectrum does not), and the
    rotations tell the polarities apart."""
    rng = np.random.default_rng(3)
    pulse = _dispersed_pulse()
    f = np.fft.rfftfreq(T, 1 / FS)
    amplitude = np.abs(np.fft.rfft(pulse))
    m = 40
    polarity = rng.choice([-1.0, 1.0], m)
    noise = np.fft.irfft(np.fft.rfft(rng.standard_normal((m, T)), axis=-1)
                         * (np.exp(-0.5 * ((f - 3e8) / 1.5e8) ** 2) + 0.05), n=T, axis=-1)
    noise /= noise.std()
    x = np.stack([polarity[i] * rng.uniform(4, 10) * np.roll(pulse, rng.integers(-5, 6))
                  for i in range(m)]) + noise
    # each recorded pulse centred on its largest excursion, as the impulses do
    x = np.stack([np.roll(row, -int(np.abs(row).argmax())) for row in x])
    phase, rotation = pulse_phase(torch.from_numpy(np.fft.rfft(x, axis=-1)),
                                  torch.from_numpy(amplitude), T, 32)
    learned = np.fft.irfft(amplitude * np.exp(1j * phase.numpy()), n=T)
    zero_phase = np.fft.irfft(amplitude, n=T)

    def match(shape: np.ndarray) -> float:
        """Correlation with the true pulse, aligned on it."""
        return float(shape_similarity(torch.from_numpy(np.fft.rfft(shape))[None],
                                      torch.from_numpy(np.fft.rfft(pulse)), T, 64)[0])

    assert match(learned) > 0.97
    assert match(zero_phase) < 0.9
    # rotations: the polarities, up to one overall sign (the typical shape's)
    same = np.cos(rotation.numpy()) > 0
    agree = max((same == (polarity > 0)).mean(), (same == (polarity < 0)).mean())
    assert agree >= 0.95
    assert _opposite_lobe(learned) > 0.75 * _opposite_lobe(pulse)


def test_a_rotated_shapes_peak():
    pulse = _dispersed_pulse()
    template = torch.from_numpy(np.fft.rfft(np.stack([pulse, 0.5 * pulse]))).to(torch.complex64)
    angles = torch.tensor([[0.0, math.pi], [math.pi / 2, 1.0]])
    got = rotated_peak(template, angles, T)
    for i in range(2):
        for c in range(2):
            want = np.abs(np.fft.irfft(rotate(template[c], angles[i, c]).numpy(), n=T)).max()
            assert abs(float(got[i, c]) - want) < 1e-4 * want


def test_drawn_pulses_have_the_recorded_excursions():
    """Noise with dispersed pulses in two channels: the impulse component's drawn pulses
    swing as far negative as positive like the recorded ones, in both polarities."""
    rng = np.random.default_rng(5)
    n = 3000
    pulse = _dispersed_pulse()
    f = np.fft.rfftfreq(T, 1 / FS)
    x = np.fft.irfft(np.fft.rfft(rng.standard_normal((n, 2, T)), axis=-1)
                     * (np.exp(-0.5 * ((f - 3e8) / 1.5e8) ** 2) + 0.05), n=T, axis=-1)
    x /= x.std()
    events = np.nonzero(rng.random(n) < 0.08)[0]
    for e in events:
        peak = rng.uniform(6.0, 14.0) * rng.choice([-1.0, 1.0])
        at = rng.integers(-T // 3, T // 3)
        x[e] += peak * np.roll(pulse, at)[None]
    x = x.astype(np.float32)
    model = prepare_model(TraceSet(x, FS, [0, 1]), "wgan-gp",
                          {"max_lines": 0, "block": 0, "envelope": False, "modes": False,
                           "transients": False, "marginals": False, "transfer": False})
    with torch.no_grad():
        model.initialize(torch.from_numpy(x))
    impulses = model.generator.impulses
    assert bool(impulses.shape_recorded > 0)
    impulses.logit.data.fill_(5.0)                        # a pulse in every event
    with torch.no_grad():
        _, drawn = impulses.draw_traces(400, torch.Generator().manual_seed(2))
    drawn = drawn.numpy()[:, 0]
    lobes = np.array([_opposite_lobe(p) for p in drawn])
    recorded = np.array([_opposite_lobe(x[e, 0]) for e in events])
    assert abs(np.median(lobes) - np.median(recorded)) < 0.1
    assert np.median(lobes) > 0.8 * _opposite_lobe(pulse)
    # both polarities (the largest excursion positive in some pulses, negative in others)
    signs = np.sign(drawn[np.arange(len(drawn)), np.abs(drawn).argmax(-1)])
    assert 0.3 < (signs > 0).mean() < 0.7
