"""Multi-process training on the CPU (gloo, 2 ranks): gradient averaging, files, resume."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from rnognoise.core.loop import DistributedComm, LoopConfig, TrainingLoop
from rnognoise.io import TraceSet
from rnognoise.train import FitOptions, fit

T = 256
GLOBAL_BATCH = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _entry(rank: int, world: int, port: int, fn, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


# -- exactness of the gradient averaging on a deterministic problem ---------------------------
def _regression(rank: int, world: int, comm: DistributedComm | None) -> torch.Tensor:
    torch.manual_seed(0)
    x = torch.randn(64, 5, dtype=torch.float64)
    y = x @ torch.arange(1.0, 6.0, dtype=torch.float64)[:, None] + 0.1
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    net = net.double()
    if rank:  # rank 1 starts from other weights: the loop must broadcast rank 0's
        for p in net.parameters():
            p.data.normal_()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    local = GLOBAL_BATCH // world

    def step(i: int) -> dict[str, float]:
        idx = torch.randint(0, 64, (GLOBAL_BATCH,), generator=torch.Generator().manual_seed(i))
        idx = idx[rank * local:(rank + 1) * local]
        loss = (net(x[idx]) - y[idx]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    TrainingLoop(LoopConfig(max_steps=25, quiet=True), modules={"net": net},
                 optimizers={"opt": opt}, step_fn=step, comm=comm).run()
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def _regression_rank(rank: int, world: int, out: str) -> None:
    torch.save(_regression(rank, world, DistributedComm(torch.device("cpu"))),
               f"{out}.rank{rank}.pt")


# -- fit() on two ranks: only rank 0 writes, weights agree, resume continues -------------------
def _data(n_events: int = 96) -> TraceSet:
    rng = np.random.default_rng(0)
    spec = np.fft.rfft(rng.standard_normal((n_events, 2, T)), axis=-1)
    f = np.fft.rfftfreq(T, 1 / 3.2e9)
    spec *= np.exp(-0.5 * ((f - 4e8) / 1.2e8) ** 2)
    x = np.fft.irfft(spec, n=T, axis=-1)
    x *= np.exp(0.3 * rng.standard_normal((n_events, 1, 1)))  # per-event gain: the VAE's task
    return TraceSet((0.01 * x / x.std()).astype(np.float32), 3.2e9, [0, 1])


def _fit_rank(rank: int, world: int, folder: str) -> None:
    _regression_rank(rank, world, f"{folder}/regression")
    options = {"vae": {"width": 4, "latent_dim": 4},
               "wgan-gp": {"critic_width": 4, "residual_width": 4, "n_critic": 2,
                           "max_lines": 2}}
    for kind, steps, resume in (("vae", 3, False), ("wgan-gp", 2, False), ("vae", 5, True)):
        out = f"{folder}/{kind}.safetensors"
        result = fit(_data(), out, FitOptions(
            model=kind, steps=steps, batch_size=GLOBAL_BATCH, model_options=options[kind],
            eval_every=0, checkpoint_every=2, quiet=True, device="cpu", resume=resume,
            distributed=True, val_fraction=0.0))  # no keep-the-best: the last weights
        assert (result.model_path is not None) == (rank == 0)
        assert result.provenance["world_size"] == world
        tag = f"{kind}{'.resumed' if resume else ''}"
        torch.save(result.model.export_state(), f"{folder}/{tag}.rank{rank}.pt")
        Path(f"{folder}/{tag}.rank{rank}.json").write_text(json.dumps(result.loop.steps))
    # a conditional model: every cell trained by both ranks, written once
    data = _data(160)
    data.events["station"] = np.where(np.arange(data.n_events) % 2 == 0, 11, 12)
    out = f"{folder}/conditional.safetensors"
    result = fit(data, out, FitOptions(
        model="wgan-gp", conditions=["station"], steps=2, batch_size=GLOBAL_BATCH,
        model_options=options["wgan-gp"], eval_every=0, checkpoint_every=2, quiet=True,
        device="cpu", distributed=True, force=True))  # 2 steps: the held-out check may say poor
    assert (result.model_path is not None) == (rank == 0)
    torch.save(result.model.export_state(), f"{folder}/conditional.rank{rank}.pt")
    steps = [c["groups"][0]["train_steps"] for c in result.provenance["cells"]]
    Path(f"{folder}/conditional.rank{rank}.json").write_text(json.dumps(steps))


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2-rank gloo job: the regression, a vae fit, a wgan-gp fit and a vae resume."""
    folder = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    mp.spawn(_entry, args=(2, port, _fit_rank, (str(folder),)), nprocs=2, join=True)
    return folder


def test_two_ranks_equal_one_rank_for_the_same_global_batch(two_rank_run):
    """A mean loss over equal per-rank slices: averaged gradients are the global gradient,
    so 2 ranks reproduce 1 rank step by step (Adam included), up to rounding."""
    one = _regression(0, 1, None)
    two_a = torch.load(two_rank_run / "regression.rank0.pt")
    two_b = torch.load(two_rank_run / "regression.rank1.pt")
    torch.testing.assert_close(two_a, two_b, rtol=0, atol=0)  # ranks stay identical
    torch.testing.assert_close(two_a, one, rtol=1e-9, atol=1e-10)
    untrained = torch.cat([p.detach().reshape(-1) for p in _untrained()])
    assert (one - untrained).abs().max() > 0.1


def _untrained() -> list[torch.Tensor]:
    torch.manual_seed(0)
    torch.randn(64, 5)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return list(net.double().parameters())


@pytest.mark.parametrize("kind", ["vae", "wgan-gp", "vae.resumed"])
def test_fit_on_two_ranks_writes_once_keeps_ranks_equal_and_resumes(two_rank_run, kind):
    name = kind.split(".")[0]
    out = two_rank_run / f"{name}.safetensors"
    assert out.exists() and (Path(f"{out}.ckpt") / "last.safetensors").exists()
    a = torch.load(two_rank_run / f"{kind}.rank0.pt")
    b = torch.load(two_rank_run / f"{kind}.rank1.pt")
    assert a.keys() == b.keys()
    for key in a:  # the gradient penalty's double backward is averaged too (wgan-gp)
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    log = [json.loads(line) for line in
           (Path(f"{out}.ckpt") / "losses.jsonl").read_text().splitlines()]
    assert log and all(np.isfinite(v) for r in log for v in r.values())
    steps = [json.loads((two_rank_run / f"{kind}.rank{r}.json").read_text()) for r in (0, 1)]
    assert steps == ([5, 5] if kind.endswith("resumed") else [3, 3] if name == "vae" else [2, 2])
    if kind == "vae.resumed":  # resumed from step 3: the weights moved on
        first = torch.load(two_rank_run / "vae.rank0.pt")
        assert any(not torch.equal(first[k], a[k]) for k in a)


def test_conditional_fit_on_two_ranks(two_rank_run):
    out = two_rank_run / "conditional.safetensors"
    assert out.exists()
    for cell in ("station=11", "station=12"):
        assert (Path(f"{out}.ckpt") / cell / "last.safetensors").exists()
    a = torch.load(two_rank_run / "conditional.rank0.pt")
    b = torch.load(two_rank_run / "conditional.rank1.pt")
    assert a.keys() == b.keys() and any(k.startswith("submodels.1.") for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)
    for rank in (0, 1):
        assert json.loads((two_rank_run / f"conditional.rank{rank}.json").read_text()) == [2, 2]


def test_fit_distributed_without_torchrun_is_a_clear_error(monkeypatch):
    from rnognoise.errors import ConfigError

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ConfigError, match="torchrun"):
        fit(_data(), None, FitOptions(model="vae", steps=1, distributed=True, quiet=True))
