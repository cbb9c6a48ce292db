"""The general parts inside the structured generator: with a named component left out
while the data keep its feature, the general parts take over (leave-one-out in small);
on stationary Gaussian data they stay inert; component selection does not try them then."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise.selection import select_components
from tests.structured_helpers import FS, initialised_model
from tests.structured_helpers import generate as _generate
from tests.structured_helpers import shaped_background as _background

T = 512
GENERAL_OFF = {"modes": False, "transients": False, "marginals": False, "transfer": False}


def _model(data: np.ndarray, **options):
    return initialised_model(data, **{"envelope": False, **options})


def test_block_offsets_without_a_block_component_are_learned_by_the_modes():
    rng = np.random.default_rng(0)
    n, block = 800, 64
    x = _background(n, rng)
    x += np.repeat(0.3 * rng.standard_normal((n, 2, T // block)), block, axis=-1)
    x = x.astype(np.float32)

    def block_mean_variance(traces: np.ndarray) -> float:
        return float(traces.reshape(len(traces), 2, T // block, block).mean(-1).var(0).mean())

    real = block_mean_variance(x)
    model = _model(x)
    assert model.generator.modes.is_active
    assert "modes" not in model.inert_components()
    learned = block_mean_variance(_generate(model, 2000))
    nothing = block_mean_variance(_generate(_model(x, **GENERAL_OFF), 2000))
    # the offsets' variance (0.09) dominates the block means; without the modes the model
    # has only the background's share; the modes recover most of the difference (the
    # weakest block directions do not pass their test on 400 events)
    assert nothing < 0.6 * real
    assert learned - nothing > 0.5 * (real - nothing)
    assert learned < 1.1 * real


def test_a_cw_line_without_a_line_component_is_learned_by_the_marginals():
    rng = np.random.default_rng(1)
    n = 800
    x = _background(n, rng)
    k = 64  # a bin centre: 400 MHz
    t = np.arange(T)
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    x[:, :1] += 0.5 * np.cos(2 * np.pi * k * t / T + phase[:, :1])
    x = x.astype(np.float32)

    def spread(traces: np.ndarray) -> float:
        """Coefficient of variation of |X|^2 at the line's bin (1 for Gaussian noise)."""
        p = np.abs(np.fft.rfft(traces[:, 0], axis=-1)[:, k]) ** 2
        return float(p.std() / p.mean())

    model = _model(x)
    found = model.component_details()["marginals"]
    assert model.generator.marginals.is_active and found["n_bins"] >= 1
    assert abs(found["strongest_hz"] - k * FS / T) < 2 * FS / T
    assert spread(_generate(model, 2000)) == pytest.approx(spread(x), abs=0.15)
    assert spread(_generate(_model(x, **GENERAL_OFF), 2000)) > spread(x) + 0.3


def test_pulses_without_an_impulse_component_are_learned_by_the_transients():
    rng = np.random.default_rng(2)
    n = 800
    x = _background(n, rng)
    hit = np.flatnonzero(rng.random(n) < 0.2)
    t = np.arange(T)
    for i in hit:
        c = rng.uniform(60, T - 60)
        pulse = 5 * np.exp(-0.5 * ((t - c) / 6) ** 2) * np.cos(2 * np.pi * 3e8 * (t - c) / FS)
        x[i] += pulse
    x = x.astype(np.float32)

    def loud_fraction(traces: np.ndarray) -> float:
        return float((np.abs(traces).max(axis=(1, 2)) > 4.5).mean())

    model = _model(x)
    assert model.generator.transients.is_active
    real, learned = loud_fraction(x), loud_fraction(_generate(model, 4000))
    nothing = loud_fraction(_generate(_model(x, **GENERAL_OFF), 4000))
    assert abs(learned - real) < 0.5 * abs(nothing - real)


def test_stationary_data_leave_every_general_part_inert_and_untried():
    rng = np.random.default_rng(3)
    x = _background(600, rng).astype(np.float32)
    # with the named block component on, the trace offsets give the model the data's DC
    # power (without it the model has none, which the modes then supply)
    model = _model(x, block=128)
    assert set(model.inert_components()) == {"modes", "transients", "marginals", "transfer"}
    plain = _model(x, block=128, **GENERAL_OFF)
    np.testing.assert_array_equal(_generate(model, 50), _generate(plain, 50))
    train, val = torch.from_numpy(x[:500]), torch.from_numpy(x[500:])
    enabled = set(model.components())
    choice = select_components(model, train, val, FS, seed=0)
    # the first round tries switching off each named component, and no inert part
    named = enabled - {"modes", "transients", "marginals", "transfer"}
    first_round = [enabled - set(t["components"]) for t in choice.trials[1:1 + len(named)]]
    assert set().union(*first_round) == named


def test_a_mapped_bin_with_a_zero_coefficient_has_finite_gradients():
    from rnognoise.models.marginals import SpectralMarginals

    rng = np.random.default_rng(4)
    model = _background(600, rng)
    model -= model.mean(-1, keepdims=True)                 # no DC at all in the model
    data = _background(600, rng) + 0.5 * rng.standard_normal((600, 2, 1))  # trace offsets
    part = SpectralMarginals(2, T, FS)
    part.fit(torch.from_numpy(data.astype(np.float32)), torch.from_numpy(model.astype(np.float32)))
    assert part.is_active and 0 in part.bins[:int(part.n_bins)].tolist()
    for sparse in (True, False):
        part.sparse_factor = 2.0 if sparse else 0.0
        # a generated background has exactly no DC where its spectrum has none
        x = torch.zeros(8, 2, T, requires_grad=True)
        part.apply(x, torch.Generator().manual_seed(0)).square().sum().backward()
        assert bool(torch.isfinite(x.grad).all())


def test_selection_drops_a_component_only_when_the_score_clearly_improves(monkeypatch):
    import rnognoise.selection as selection

    class Fake:
        norm_scale = torch.ones(1)

        def __init__(self) -> None:
            self.enabled = ["a", "b", "c"]

        def components(self) -> list[str]:
            return list(self.enabled)

        def set_components(self, enabled, data) -> None:
            self.enabled = list(enabled)

        def generate(self, n, generator):
            return torch.zeros(n, 1, 8)

    # what each component adds to the score (lower is better): c clearly harms; b harms by
    # no more than the scatter of a held-out score, a not at all
    penalty = {"a": 0.0, "b": 0.03, "c": 0.3}
    model = Fake()
    monkeypatch.setattr(selection, "validation_score", lambda real, gen, fs, seed=0: 1.0 + sum(
        penalty[k] for k in model.enabled))
    data = torch.zeros(10, 1, 8)
    choice = select_components(model, data, data, FS, seed=0)
    assert choice.dropped == ["c"] and choice.kept == ["a", "b"]
    assert model.enabled == ["a", "b"]


def test_the_chosen_components_alone_make_the_model():
    """The state after switching components depends on the components chosen, not on the
    trials before: each choice starts from the initial fit (the power match and the general
    parts used to start from whatever the last trial had left, so that the selection's
    final model differed with the order of its trials)."""
    rng = np.random.default_rng(5)
    n, block = 600, 64
    x = _background(n, rng)
    x += np.repeat(0.3 * rng.standard_normal((n, 2, T // block)), block, axis=-1)
    x[::20, :, 200:232] += 4.0 * rng.standard_normal((n // 20 + (n % 20 > 0), 2, 32))
    data = torch.from_numpy(x.astype(np.float32))
    model = _model(x, block=128, impulses=True)
    everything = model.components()
    assert {"blocks", "impulses"} <= set(everything)
    model.set_components(everything, data)
    direct = {k: v.clone() for k, v in model.state_dict().items()}
    for trial in ([c for c in everything if c != "blocks"], [c for c in everything
                                                             if c != "impulses"]):
        model.set_components(trial, data)
        assert any(not torch.equal(direct[k], v) for k, v in model.state_dict().items())
    model.set_components(everything, data)
    for k, v in model.state_dict().items():
        assert torch.equal(direct[k], v), k
