"""The shared training core: losses with known values, checkpoints, the loop."""

from __future__ import annotations

import json

import pytest
import torch

from rnognoise.core import (
    LoopConfig,
    TrainingLoop,
    gaussian_kl,
    gradient_penalty,
    load_state,
    save_state,
    wasserstein_critic_loss,
)
from rnognoise.errors import DataFileError, TrainingDivergedError


def test_gradient_penalty_of_a_unit_slope_linear_critic_is_zero():
    w = torch.zeros(1, 8)
    w[0, 0] = 1.0  # ||grad|| = 1 everywhere

    def critic(x):
        return x.flatten(1) @ w.T

    real, fake = torch.randn(16, 2, 4), torch.randn(16, 2, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-6)
    w[0, 0] = 3.0  # ||grad|| = 3 -> (3-1)^2 * 10 = 40
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(40.0, rel=1e-5)


def test_known_loss_values():
    assert wasserstein_critic_loss(torch.tensor([2.0]), torch.tensor([0.5])).item() == -1.5
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0
    # KL(N(1,1)||N(0,1)) = 0.5 per dimension
    assert gaussian_kl(torch.ones(2, 4), torch.zeros(2, 4)).item() == pytest.approx(2.0)


def _toy():
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(64, 3)
    y = x.sum(1, keepdim=True)

    def step(i):
        g = torch.Generator().manual_seed(i)
        idx = torch.randint(0, 64, (16,), generator=g)
        loss = (net(x[idx]) - y[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    return net, opt, step, lambda i: (net(x) - y).pow(2).mean().item()


def test_checkpoint_round_trip_restores_weights_and_optimizer(tmp_path):
    net, opt, step, _ = _toy()
    for i in range(5):
        step(i)
    save_state(tmp_path / "c.safetensors", modules={"net": net}, optimizers={"opt": opt},
               extra={"step": 5})
    net2, opt2, _, _ = _toy()
    extra = load_state(tmp_path / "c.safetensors", modules={"net": net2},
                       optimizers={"opt": opt2})
    assert extra == {"step": 5}
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(opt.state_dict()["state"][0]["exp_avg"],
                       opt2.state_dict()["state"][0]["exp_avg"])


def test_checkpoint_of_other_module_is_a_clear_error(tmp_path):
    net, _, _, _ = _toy()
    save_state(tmp_path / "c.safetensors", modules={"net": net})
    with pytest.raises(DataFileError, match="do not fit module 'net'"):
        load_state(tmp_path / "c.safetensors", modules={"net": torch.nn.Linear(2, 2)})
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 20)
    with pytest.raises(DataFileError, match=r"junk\.safetensors"):
        load_state(tmp_path / "junk.safetensors", modules={"net": net})


def test_interrupted_and_resumed_run_equals_uninterrupted_run(tmp_path):
    net_a, opt_a, step_a, _ = _toy()
    TrainingLoop(LoopConfig(max_steps=40, quiet=True), modules={"net": net_a},
                 optimizers={"opt": opt_a}, step_fn=step_a).run()

    net_b, opt_b, step_b, _ = _toy()
    cfg = LoopConfig(max_steps=25, quiet=True, checkpoint_dir=str(tmp_path / "ck"),
                     log_path=str(tmp_path / "log.jsonl"), log_every=5)
    TrainingLoop(cfg, modules={"net": net_b}, optimizers={"opt": opt_b}, step_fn=step_b).run()
    net_c, opt_c, step_c, _ = _toy()  # fresh process: new objects
    cfg.max_steps, cfg.resume = 40, True
    result = TrainingLoop(cfg, modules={"net": net_c}, optimizers={"opt": opt_c},
                          step_fn=step_c).run()
    assert result.steps == 40
    for a, c in zip(net_a.parameters(), net_c.parameters(), strict=True):
        torch.testing.assert_close(a, c)
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(5, 45, 5))


def test_keep_best_restores_the_lowest_validation_score(tmp_path):
    net, opt, step, _ = _toy()
    scores = iter([5.0, 1.0, 3.0, 4.0, 9.0])
    snapshots = {}

    def evaluate(i):
        snapshots[i] = [p.detach().clone() for p in net.parameters()]
        return next(scores)

    cfg = LoopConfig(max_steps=40, eval_every=10, quiet=True,
                     checkpoint_dir=str(tmp_path / "ck"))
    result = TrainingLoop(cfg, modules={"net": net}, optimizers={"opt": opt}, step_fn=step,
                          eval_fn=evaluate).run()
    assert (result.best_step, result.best_score) == (20, 1.0)
    for p, q in zip(net.parameters(), snapshots[20], strict=True):
        assert torch.equal(p, q)
    assert (tmp_path / "ck" / "best.safetensors").exists()


def test_divergence_is_reported_with_the_step(tmp_path):
    net, opt, step, _ = _toy()

    def bad_step(i):
        out = step(i)
        return {"loss": float("nan")} if i == 7 else out

    cfg = LoopConfig(max_steps=20, quiet=True, checkpoint_dir=str(tmp_path / "ck"),
                     checkpoint_every=5)
    with pytest.raises(TrainingDivergedError, match=r"step 7 .*last good checkpoint.*step 5"):
        TrainingLoop(cfg, modules={"net": net}, optimizers={"opt": opt}, step_fn=bad_step).run()


def test_time_budget_stops_training():
    net, opt, step, _ = _toy()
    result = TrainingLoop(LoopConfig(max_steps=10**9, max_minutes=0.01, quiet=True),
                          modules={"net": net}, optimizers={"opt": opt}, step_fn=step).run()
    assert result.stopped_by == "time"
    assert 0 < result.steps < 10**9
