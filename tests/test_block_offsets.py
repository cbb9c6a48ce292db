"""The digitizer's block offsets: spreads recovered from traces that carry them."""

from __future__ import annotations

import torch

from rnognoise.models.physics import BlockOffsets


def _stats(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel: the spread of the trace means and of the block means about them."""
    n, c, t = x.shape
    trace = x.mean(-1)
    blocks = x.reshape(n, c, t // block, block).mean(-1) - trace[..., None]
    return trace.std(0), blocks.std((0, 2))


def test_block_and_trace_offsets_are_recovered_and_reproduced():
    """Sixteen blocks of 128 samples, block offsets of spread 0.3 and 0.5 and trace
    offsets of 0.1 and 0 on unit white noise: the spreads are found, and traces drawn
    from them with the background have the data's trace and block means."""
    gen = torch.Generator().manual_seed(0)
    n, c, t, block = 3000, 2, 2048, 128
    sigma, sigma_event = torch.tensor([0.3, 0.5]), torch.tensor([0.1, 0.0])
    offsets = (torch.randn(n, c, t // block, generator=gen) * sigma[:, None]
               + torch.randn(n, c, 1, generator=gen) * sigma_event[:, None])
    data = torch.randn(n, c, t, generator=gen) + offsets.repeat_interleave(block, -1)
    background = torch.randn(n, c, t, generator=gen)
    blocks = BlockOffsets(c, t, block)
    blocks.initialize(data, background)
    torch.testing.assert_close(blocks.log_sigma.detach().exp(), sigma, rtol=0.015, atol=0)
    assert abs(float(blocks.log_sigma_event.detach().exp()[0]) - 0.1) < 0.01
    assert float(blocks.log_sigma_event.detach().exp()[1]) < 0.03  # none in the data
    with torch.no_grad():
        drawn = torch.randn(n, c, t, generator=gen) + blocks(n, gen)
    for seen, made in zip(_stats(data, block), _stats(drawn, block), strict=True):
        torch.testing.assert_close(made, seen, rtol=0.03, atol=0)
