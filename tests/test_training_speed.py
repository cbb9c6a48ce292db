"""The fast adversarial step: critic statistics with known answers, per-event scores, the
lazy / sub-batch gradient penalty schedule, and (slow) the speed-up of a training step."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

import rnognoise.models.wgan_gp as wgan_gp
from rnognoise.errors import ConfigError
from rnognoise.models.nets import SpectralCritic, event_statistics
from rnognoise.simulate import SimulationConfig, simulate_noise
from rnognoise.train import prepare_model


def test_event_statistics_of_a_single_spike_have_closed_form_values():
    t, block, amp = 1024, 128, 3.0
    x = torch.zeros(1, 1, t)
    x[0, 0, 300] = amp
    s = event_statistics(x, block=block)[0].tolist()
    nb = t // block
    assert s[0] == pytest.approx(math.log(amp / math.sqrt(t)), rel=1e-5)  # log RMS
    assert s[1] == pytest.approx(math.sqrt(t), rel=1e-5)                  # peak / RMS
    assert s[2] == pytest.approx(t, rel=1e-4)                             # kurtosis
    # block means: one block at amp/128, the others 0 -> unbiased std amp/128/sqrt(nb)
    assert s[3] == pytest.approx(math.log(amp / block / math.sqrt(nb) + 1e-6), rel=1e-4)
    assert s[4] == pytest.approx(math.sqrt(t) / nb, rel=1e-5)            # mean block peak


def test_event_statistics_follow_the_per_event_gain_and_nothing_else():
    base = torch.from_numpy(np.random.default_rng(0).standard_normal((1, 2, 2048))).float()
    gains = torch.tensor([0.5, 1.0, 3.0])
    s = event_statistics(base * gains[:, None, None])
    # log RMS moves by exactly log(gain) in every channel
    torch.testing.assert_close(s[:, :2] - s[1, :2], gains.log()[:, None].expand(3, 2),
                               atol=1e-5, rtol=0)
    # peak/RMS, kurtosis, block spread (up to its 1e-6 floor) and block peaks: scale-free
    torch.testing.assert_close(s[:, 2:6], s[1:2, 2:6].expand(3, 4), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(s[:, 8:], s[1:2, 8:].expand(3, 2), atol=1e-4, rtol=1e-4)
    # white Gaussian noise: kurtosis near 3
    assert s[1, 4:6].tolist() == pytest.approx([3.0, 3.0], abs=0.3)


def test_critic_scores_each_event_on_its_own():
    """Real and fake go through one critic call: no score may depend on the batch."""
    torch.manual_seed(0)
    critic = SpectralCritic(4, 2048, width=8)
    a, b = torch.randn(5, 4, 2048), 2 * torch.randn(3, 4, 2048)
    both = critic(torch.cat([a, b]))
    torch.testing.assert_close(both[:5], critic(a), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[5:], critic(b), atol=1e-5, rtol=1e-5)


def _plan_with_recorded_penalties(monkeypatch, **options):
    data = simulate_noise(32, config=SimulationConfig(n_samples=256), seed=0)
    norm = torch.from_numpy((data.traces - data.traces.mean(axis=(0, 2), keepdims=True))
                            / data.traces.std(axis=(0, 2), keepdims=True)).float()
    torch.manual_seed(0)
    model = prepare_model(data, "wgan-gp", {"critic_width": 4, **options})
    with torch.no_grad():
        model.initialize(norm)
    calls: list[tuple[int, float]] = []
    original = wgan_gp.gradient_penalty

    def recording(critic, real, fake, *args, weight=10.0):
        calls.append((real.shape[0], weight))
        return original(critic, real, fake, *args, weight=weight)

    monkeypatch.setattr(wgan_gp, "gradient_penalty", recording)
    plan = model.training_plan(batch_size=16)
    return plan, (lambda step, k: norm[(7 * step + 3 * k + torch.arange(16)) % 32]), calls


def test_lazy_penalty_runs_every_kth_critic_step_with_k_times_the_weight(monkeypatch):
    plan, batch_fn, calls = _plan_with_recorded_penalties(
        monkeypatch, n_critic=3, gp_every=2, gp_batch=8, gp_weight=10.0)
    losses = [plan.step_fn(step, batch_fn) for step in range(3)]
    # critic steps 0..8 over the run; the penalty on 0, 2, 4, 6, 8, on 8 pairs, weight 20
    assert calls == [(8, 20.0)] * 5
    assert all(math.isfinite(v) for row in losses for v in row.values())
    assert plan.batches_per_step == 3


def test_eager_full_batch_penalty_is_still_available(monkeypatch):
    plan, batch_fn, calls = _plan_with_recorded_penalties(
        monkeypatch, n_critic=2, gp_every=1, gp_batch=0)
    plan.step_fn(0, batch_fn)
    assert calls == [(16, 10.0), (16, 10.0)]


@pytest.mark.parametrize("bad", [{"gp_every": 0}, {"gp_batch": -1}])
def test_bad_penalty_schedule_is_a_config_error(bad):
    data = simulate_noise(8, config=SimulationConfig(n_samples=256), seed=0)
    model = prepare_model(data, "wgan-gp", {"critic_width": 4, **bad})
    with pytest.raises(ConfigError, match="gp_every"):
        model.training_plan()


@pytest.mark.slow
def test_default_step_is_at_least_twice_as_fast_as_the_eager_five_critic_step():
    """Same process, same data, interleaved: the default schedule against the textbook one
    (n_critic 5, penalty on every critic step on the whole batch)."""
    data = simulate_noise(128, seed=0)
    norm = torch.from_numpy((data.traces - data.traces.mean(axis=(0, 2), keepdims=True))
                            / data.traces.std(axis=(0, 2), keepdims=True)).float()

    def batch_fn(step, k):
        gen = torch.Generator().manual_seed(131 * step + k)
        return norm[torch.randint(0, 128, (64,), generator=gen)]

    plans = {}
    for name, opts in {"default": {}, "eager": {"n_critic": 5, "gp_every": 1,
                                                "gp_batch": 0}}.items():
        torch.manual_seed(0)
        model = prepare_model(data, "wgan-gp", opts)
        with torch.no_grad():
            model.initialize(norm)
        plans[name] = model.training_plan(batch_size=64)
        plans[name].step_fn(0, batch_fn)
    best = {name: math.inf for name in plans}
    for rep in range(3):
        for name, plan in plans.items():
            t0 = time.process_time()  # CPU time: robust against other jobs' load
            plan.step_fn(rep + 1, batch_fn)
            best[name] = min(best[name], time.process_time() - t0)
    assert best["eager"] / best["default"] > 2.0, best
