"""The analytic baseline: random-phase Gaussian noise with the measured cross-spectra.

What simulations use today (NuRadioMC's data-driven ``channelGenericNoiseAdder``), done
properly: the per-channel mean power spectrum *and* the cross-spectral (coherence)
matrix between channels, so correlated channels stay correlated. Fitted in one pass.
Gaussian and stationary by construction: no lines switching on and off, no impulses,
no block offsets. Every learned model must beat it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import NoiseModel, TraceLayout, register_model
from .spectral import SpectralSampler, estimate_cross_spectrum

__all__ = ["BaselineConfig", "BaselineModel"]


@dataclass
class BaselineConfig:
    """Options of the baseline.

    Parameters
    ----------
    spectrum : {"mean", "robust"}
        ``"mean"``: mean cross-spectrum (matches the average power, lines included);
        ``"robust"``: median-based power (the Gaussian floor without intermittent lines).
    cross_channel : bool
        Keep the cross-channel coherence (False: channels independent).
    """

    spectrum: str = "mean"
    cross_channel: bool = True


@register_model("baseline")
class BaselineModel(NoiseModel):
    """Random-phase Gaussian noise with the data's cross-spectral matrix.

    Examples
    --------
    >>> layout = TraceLayout((0, 1), 256, 3.2e9)
    >>> model = BaselineModel(BaselineConfig(), layout)
    >>> model.initialize(torch.randn(100, 2, 256))
    >>> model.generate(3, torch.Generator().manual_seed(0)).shape
    torch.Size([3, 2, 256])
    """

    Config = BaselineConfig

    def __init__(self, config: BaselineConfig, layout: TraceLayout) -> None:
        super().__init__(config, layout)
        if config.spectrum not in ("mean", "robust"):
            raise ValueError(f"spectrum must be 'mean' or 'robust', got {config.spectrum!r}")
        self.sampler = SpectralSampler(layout.n_channels, layout.n_samples)

    def initialize(self, data: torch.Tensor) -> None:
        spectrum = estimate_cross_spectrum(data, robust=self.config.spectrum == "robust")
        if not self.config.cross_channel:
            spectrum = torch.diag_embed(torch.diagonal(spectrum, dim1=-2, dim2=-1))
        self.sampler.set_spectrum(spectrum)

    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.sampler(n, generator)
