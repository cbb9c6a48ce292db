"""``vae``: a variational autoencoder of each event's noise state, decoded through the
structured noise generator.

An event is the structured generator's noise (:mod:`~rnognoise.models.structured`:
stationary background, block offsets, lines, impulses) modulated by a per-event
envelope: spectral gains and a time envelope (:mod:`~rnognoise.models.envelope`). The
VAE models the distribution of that envelope, the part of the noise that differs from
event to event, with a latent vector ``z``:

- data: each training event's envelope coordinates ``y`` (its log band and window
  powers in the directions where events vary beyond the estimator's own noise; there the
  estimator noise is standard normal, measured on stationary Gaussian noise) and, with
  ``line_state``, its power at each CW line (:meth:`Lines.event_log_power
  <rnognoise.models.lines.Lines.event_log_power>`, in units of its scatter on the
  stationary Gaussian noise, so that its measurement noise is standard normal too);
- likelihood: ``y | z ~ N(f(z), I + diag(v))``: the identity is the known measurement
  noise, ``v`` the event-to-event scatter the decoder ``f`` does not explain, so the
  decoder learns the *true* envelopes (a deconvolution), not their noisy estimates;
- sampling: ``z`` from the latent prior, envelope ``f(z) + sqrt(v) eps``, then the structured
  generator draws the traces (the lines with their own gates and amplitudes: the line
  coordinates are modelled so that the latent state knows an event's carriers, and the
  envelope's band levels do not: the carriers are subtracted from them).

The latent prior is the aggregate posterior: the mixture of the posteriors of up to 4096
training events (the VampPrior with the training events as pseudo-inputs; Tomczak and
Welling 2018), taken again before every held-out evaluation of the training, so that every
candidate of keep-the-best carries its own. Drawn from ``N(0, I)``, the decoder met latent
states that no event has: on the embedded default the held-out C2ST AUC went from 0.507
after the ELBO pretraining to 0.563 after 600 more steps (0.518 with a Gaussian mixture
fitted to the posterior draws, the prior of files written before this one; older files
keep ``N(0, I)``).

A trace-level VAE decoder has to learn thermal noise sample by sample and comes out too
smooth; this one spends its capacity on what varies between events, and its latent
space is a map of the noise classes (quiet, loud, bursty; :meth:`VAEModel.encode`).

References
----------
D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114.
RNO-G collaboration, noise classification with a VAE, arXiv:2309.16401.
P. Ghosh et al., "From Variational to Deterministic Autoencoders", arXiv:1903.12436
(ex-post density estimation of the latent space).
J. M. Tomczak, M. Welling, "VAE with a VampPrior", arXiv:1705.07120.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.losses import gaussian_kl
from .base import NoiseModel, TraceLayout, TrainingPlan, register_model
from .structured import PhysicsGenerator

__all__ = ["EnvelopeVAE", "VAEConfig", "VAEModel"]


@dataclass
class VAEConfig:
    """Hyper-parameters of ``vae``.

    Parameters
    ----------
    latent_dim : int
        Size of the latent vector.
    width : int
        Hidden width of encoder and decoder (two hidden layers each).
    beta : float
        Weight of the KL term (1: the ELBO).
    lr : float
        Adam learning rate.
    pretrain_steps : int
        ELBO steps on all training events at initialisation and after the component
        selection (so that the initial model, a candidate of the keep-the-best
        selection, already has a fitted VAE). During the selection itself the envelope
        draws from its Gaussian mixture.
    max_lines, impulses, block, envelope_bands, envelope_windows, envelope_adapt, modes,
    transients, marginals, transfer, fixed_pattern, select_components
        The structured generator, as for ``wgan-gp``
        (:class:`~rnognoise.models.wgan_gp.WGANGPConfig`).
    line_state : bool
        The latent state models each event's power at the CW lines as well as its
        envelope (files written before this option: without).
    """

    latent_dim: int = 4
    width: int = 64
    beta: float = 1.0
    lr: float = 3e-3
    pretrain_steps: int = 2000
    max_lines: int = 8
    impulses: bool = True
    block: int = 128
    envelope_bands: int = 16
    envelope_windows: int = 16
    envelope_adapt: bool = False
    modes: bool = True
    transients: bool = True
    marginals: bool = True
    transfer: bool = True
    fixed_pattern: bool = True
    select_components: bool = True
    line_state: bool = True

    @property
    def envelope(self) -> bool:
        """The VAE models the envelope: always on."""
        return True


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU(),
                         nn.Linear(width, n_out))


class EnvelopeVAE(nn.Module):
    """Encoder, decoder and residual scatter over envelope coordinates.

    Parameters
    ----------
    dims : int
        Coordinates of an event's state: the envelope's ``max_dims`` first, then any
        others (line powers); unmodelled ones are masked.
    latent_dim, width : int
        Latent size and hidden width.
    envelope_dims : int, optional
        The envelope's coordinates, the first ones, which :meth:`sample` returns
        (default: all).
    """

    def __init__(self, dims: int, latent_dim: int, width: int,
                 envelope_dims: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.envelope_dims = dims if envelope_dims is None else envelope_dims
        self.encoder = _mlp(dims, width, 2 * latent_dim)
        self.decoder = _mlp(latent_dim, width, dims)
        self.log_scatter = nn.Parameter(torch.full((dims,), -2.0))
        self.register_buffer("mask", torch.zeros(dims))
        #: 1 once fitted: files written before the encoder was stored load without it
        #: (the latent map is then not available)
        self.register_buffer("encoder_fitted", torch.tensor(0.0))
        # the latent prior: the aggregate posterior, a mixture of the posteriors (means,
        # log variances) of up to ``posterior_events`` training events
        p = self.posterior_events
        self.register_buffer("posterior_count", torch.tensor(0.0))
        self.register_buffer("posterior_means", torch.zeros(p, latent_dim))
        self.register_buffer("posterior_logvars", torch.zeros(p, latent_dim))
        # files written before it: a Gaussian mixture (weights, means, Cholesky factors)
        # fitted to one draw of each posterior, or N(0, I) (older still)
        m = self.prior_components
        self.register_buffer("prior_fitted", torch.tensor(0.0))
        self.register_buffer("prior_weights", torch.zeros(m))
        self.register_buffer("prior_means", torch.zeros(m, latent_dim))
        self.register_buffer("prior_factors", torch.zeros(m, latent_dim, latent_dim))
        # the coordinates' standardisation (centre, spread; measurement variance 1 in the
        # raw coordinates, ``spread**-2`` in standardised ones) and their training range,
        # which the draws do not leave; ``scaled`` 0: files written before, raw
        # coordinates and no range
        self.register_buffer("scaled", torch.tensor(0.0))
        self.register_buffer("centre", torch.zeros(dims))
        self.register_buffer("spread", torch.ones(dims))
        self.register_buffer("low", torch.zeros(dims))
        self.register_buffer("high", torch.zeros(dims))
        # each coordinate's variance beyond the unit measurement variance on events drawn
        # without the envelope (the estimator's own excess and what the structured
        # generator's other parts add), in units of the measurement variance (0 in files
        # written before it)
        self.register_buffer("extra_variance", torch.zeros(dims))

    #: Components of the Gaussian-mixture prior of files written before the aggregate
    #: posterior.
    prior_components: int = 6
    #: Most training events whose posteriors make the latent prior.
    posterior_events: int = 4096

    def reset(self, mask: torch.Tensor, y: torch.Tensor,
              extra_variance: torch.Tensor | None = None) -> None:
        """Fresh weights for modelled coordinates ``mask`` and training coordinates ``y``
        ``(n, dims)``; ``extra_variance`` ``(dims,)``: each coordinate's variance beyond the
        unit measurement variance on events drawn without the envelope, in units of the
        measurement variance, deconvolved with it (:meth:`noise_variance`; default none).

        The coordinates are standardised with their mean and standard deviation (a class
        of loud events lies a hundred measurement-noise units from the rest: raw, it
        saturated the networks' inputs and the scatter's range). The decoder starts
        constant at the median and the scatter at the bulk's deconvolved variance (from
        the median absolute deviation, less the measurement variance ``spread**-2``),
        i.e. as a diagonal Gaussian envelope of the bulk of the events (Adam moves a
        log-variance by about the learning rate per step: started far off, it would take
        thousands of steps to get there). Draws stay within the coordinates' training
        range widened by one unit of measurement noise.
        """
        for module in (*self.encoder, *self.decoder):
            if isinstance(module, nn.Linear):
                module.reset_parameters()
        if len(y) >= 2:
            centre, spread = y.mean(0), y.std(0).clamp_min(1e-3)
            low, high = y.amin(0) - 1.0, y.amax(0) + 1.0
        else:
            centre, spread = torch.zeros_like(mask), torch.ones_like(mask)
            low, high = torch.full_like(mask, -1e6), torch.full_like(mask, 1e6)
        self.centre.copy_(centre * mask)
        self.spread.copy_(torch.where(mask > 0, spread, torch.ones_like(spread)))
        self.low.copy_(low * mask)
        self.high.copy_(high * mask)
        self.scaled.fill_(1.0)
        self.extra_variance.copy_(torch.zeros_like(mask) if extra_variance is None
                                  else extra_variance.clamp_min(0.0) * mask)
        noise = self.noise_variance()
        if len(y) >= 2:
            # the bulk of the events (median and median absolute deviation): a rare
            # distant class moves the mean and inflates the variance, not the bulk
            median = y.median(0).values
            mad = (y - median).abs().median(0).values
            start = self.standardize(median)
            bulk = (1.4826 * mad / self.spread).square()
        else:
            start, bulk = torch.zeros_like(mask), torch.ones_like(mask)
        last = self.decoder[-1]
        nn.init.zeros_(last.weight)
        last.bias.data.copy_(start * mask)
        scatter = torch.minimum((bulk - noise).clamp_min(1e-3 * noise), torch.ones_like(noise))
        self.log_scatter.data.copy_(scatter.log() * mask)
        self.mask.copy_(mask)
        self.encoder_fitted.fill_(1.0)
        self.prior_fitted.zero_()
        self.posterior_count.zero_()

    def noise_variance(self) -> torch.Tensor:
        """Variance ``(dims,)`` of each coordinate, as the networks see it, that the decoder
        leaves out: the measurement's, and its excess on events drawn without the
        envelope (:attr:`extra_variance`)."""
        unit = self.spread.square().reciprocal() if bool(self.scaled > 0) \
            else torch.ones_like(self.spread)
        return unit * (1.0 + self.extra_variance)

    def standardize(self, y: torch.Tensor) -> torch.Tensor:
        """Coordinates ``y`` as the networks see them (standardised; raw in older files)."""
        return (y - self.centre) / self.spread if bool(self.scaled > 0) else y

    def encode(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log variance ``(n, latent_dim)`` of coordinates ``y``."""
        mu, logvar = self.encoder(self.standardize(y) * self.mask).chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 4.0)

    def negative_elbo(self, y: torch.Tensor, generator: torch.Generator, beta: float = 1.0,
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean negative ELBO per event and its reconstruction and KL parts."""
        mu, logvar = self.encode(y)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + eps * (0.5 * logvar).exp()
        var = self.noise_variance() + self.log_scatter.clamp(-12.0, 4.0).exp()
        resid = (self.standardize(y) - self.decoder(z)) * self.mask
        recon = 0.5 * ((resid.square() / var + var.log()) * self.mask).sum(-1).mean()
        kl = gaussian_kl(mu, logvar)
        return recon + beta * kl, recon, kl

    def pretrain(self, mask: torch.Tensor, y: torch.Tensor, steps: int, *, lr: float = 3e-3,
                 beta: float = 1.0, seed: int = 11,
                 extra_variance: torch.Tensor | None = None) -> None:
        """Fit afresh to state coordinates ``y`` ``(n, dims)`` (modelled coordinates
        ``mask``): :meth:`reset` (with ``extra_variance``), ``steps`` ELBO steps on random
        batches of up to 256 events, then the latent prior (:meth:`fit_prior`)."""
        self.reset(mask, y, extra_variance)
        gen = torch.Generator(device=y.device).manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        # the rate decays to zero (a cosine): at a constant rate the last step's noise
        # left the decoded bulk of the events 0.4 measurement-noise units off its mean
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        with torch.enable_grad():
            for _ in range(steps):
                idx = torch.randint(0, len(y), (min(256, len(y)),), generator=gen,
                                    device=y.device)
                loss = self.negative_elbo(y[idx], gen, beta)[0]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
        self.fit_prior(y)

    def fit_prior(self, y: torch.Tensor) -> int:
        """Make the latent prior the aggregate posterior of state coordinates ``y``
        ``(n, dims)``: the mixture of the posteriors of up to :attr:`posterior_events`
        of them (evenly spaced), each ``N(mu(y), diag(sigma(y)**2))`` (the VampPrior with
        the training events as its pseudo-inputs). Returns the number of posteriors (0:
        too few events, the prior stays as it was).

        A Gaussian mixture of 1-6 components fitted to one draw of each posterior, used
        before, smeared a class of 3 % of the events five times louder over the latent
        states between it and the bulk: its drawn envelopes spread 6-10 times as wide as
        the class's (the decoder is steep between the two), and the power calibration
        made up the class's shortfall on every event.
        """
        if len(y) < 10 * self.latent_dim:
            return 0
        pick = torch.linspace(0, len(y) - 1, min(len(y), self.posterior_events),
                              device=y.device).round().long()
        with torch.no_grad():
            mu, logvar = self.encode(y[pick])
        k = len(pick)
        self.posterior_means.zero_()
        self.posterior_logvars.zero_()
        self.posterior_means[:k] = mu
        self.posterior_logvars[:k] = logvar
        self.posterior_count.fill_(float(k))
        return k

    def draw_latent(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Latent states ``(n, latent_dim)`` from the prior (the aggregate posterior; in
        older files the fitted Gaussian mixture, or ``N(0, I)``)."""
        dev = self.mask.device
        z = torch.randn(n, self.latent_dim, generator=generator, device=dev)
        count = int(self.posterior_count)
        if count > 0:
            i = torch.randint(0, count, (n,), generator=generator, device=dev)
            return self.posterior_means[i] + (0.5 * self.posterior_logvars[i]).exp() * z
        if not bool(self.prior_fitted > 0):
            return z
        u = torch.rand(n, generator=generator, device=dev)
        cum = torch.cumsum(self.prior_weights, 0).contiguous()
        comp = torch.searchsorted(cum, u * cum[-1]).clamp_max(self.prior_components - 1)
        return self.prior_means[comp] + torch.einsum("nij,nj->ni", self.prior_factors[comp], z)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Envelope coordinates ``(n, envelope_dims)`` of new events (without measurement
        noise)."""
        dev = self.mask.device
        d = self.envelope_dims
        z = self.draw_latent(n, generator)
        eps = torch.randn(n, d, generator=generator, device=dev)
        scatter = (0.5 * self.log_scatter[:d].clamp(-12.0, 4.0)).exp()
        u = self.decoder(z)[:, :d] + scatter * eps
        if bool(self.scaled > 0):
            u = torch.minimum(torch.maximum(self.centre[:d] + self.spread[:d] * u,
                                            self.low[:d]), self.high[:d])
        return u * self.mask[:d]


@register_model("vae")
class VAEModel(NoiseModel):
    """VAE of the per-event noise state over the structured generator (module docstring)."""

    Config = VAEConfig
    #: Files written before ``line_state`` or ``fixed_pattern`` existed have neither.
    older_file_options: ClassVar[dict[str, Any]] = {"line_state": False,
                                                    "fixed_pattern": False}
    learned = True

    def __init__(self, config: VAEConfig, layout: TraceLayout) -> None:
        super().__init__(config, layout)
        self.generator = PhysicsGenerator(config, layout)
        envelope = self.generator.envelope
        n_lines = config.max_lines if config.line_state else 0
        envelope.sampler = EnvelopeVAE(envelope.max_dims + n_lines, config.latent_dim,
                                       config.width, envelope_dims=envelope.max_dims)
        # each line's power on stationary Gaussian noise: mean and scatter, the unit of
        # its coordinate
        self.register_buffer("line_offset", torch.zeros(n_lines))
        self.register_buffer("line_scale", torch.ones(n_lines))
        self._pending: torch.Tensor | None = None  # data to retrain the VAE on
        #: the pretraining's states, where the latent prior's refits begin
        self._prior_states: torch.Tensor | None = None

    @property
    def vae(self) -> EnvelopeVAE:
        """The envelope VAE."""
        sampler = self.generator.envelope.sampler
        assert isinstance(sampler, EnvelopeVAE)
        return sampler

    # -- fitting ---------------------------------------------------------------------
    def initialize(self, data: torch.Tensor) -> None:
        self.generator.initialize(data)
        self._pretrain(data)

    def components(self) -> list[str]:
        return [c for c in self.generator.components if c != "envelope"]

    def set_components(self, enabled: list[str], data: torch.Tensor) -> None:
        # the envelope is refitted: until the VAE is retrained on it (before training
        # starts), the envelope draws from its mixture, which is what the VAE learns
        self.generator.set_components([*enabled, "envelope"], data)
        self.generator.envelope.use_sampler = False
        self._pending = data

    def inert_components(self) -> list[str]:
        return [c for c in self.generator.inert_components if c != "envelope"]

    def component_details(self) -> dict[str, Any]:
        return self.generator.general_info

    def state_coordinates(self, data: torch.Tensor) -> torch.Tensor:
        """Each event's state ``(m, dims)``: envelope coordinates, then (with
        ``line_state``) the standardised line powers, of the events the envelope
        describes (:meth:`PhysicsGenerator.described_events
        <rnognoise.models.structured.PhysicsGenerator.described_events>`)."""
        return self._state(self.generator.described_events(data))

    def state_rows(self, data: torch.Tensor) -> torch.Tensor:
        """:meth:`state_coordinates` with one row per event of ``data`` ``(n, dims)``:
        NaN for the events the envelope does not describe (the training's rows: a batch
        of them holds the same events whether the rows were measured all at once or
        batch by batch)."""
        clean, keep = self.generator.described_mask(data)
        rows = clean.new_full((clean.shape[0], self.vae.mask.numel()), float("nan"))
        if bool(keep.any()):
            rows[keep] = self._state(clean[keep])
        return rows

    def _state(self, clean: torch.Tensor) -> torch.Tensor:
        """The state coordinates of events ``clean`` (block offsets removed)."""
        y = self.generator.envelope.coordinates(clean)
        if self.line_offset.numel() == 0:
            return y
        lines = self.generator.lines.event_log_power(clean)
        return torch.cat([y, (lines - self.line_offset) / self.line_scale], -1)

    def _line_reference(self) -> torch.Tensor:
        """Mask ``(max_lines,)`` of the lines in the state, after measuring each line's
        power on stationary Gaussian noise from the fitted background (mean and
        scatter: :attr:`line_offset`, :attr:`line_scale`)."""
        lines = self.generator.lines
        on = (lines.active > 0).float() if self.generator.is_on("lines") else \
            torch.zeros_like(lines.active)
        self.line_offset.zero_()
        self.line_scale.fill_(1.0)
        if not bool(on.any()):
            return on
        gen = torch.Generator(device=on.device).manual_seed(4321)
        reference = lines.event_log_power(self.generator.background.sampler(2000, gen))
        self.line_offset.copy_(reference.mean(0) * on)
        self.line_scale.copy_(torch.where(on > 0, reference.std(0).clamp_min(1e-3),
                                          torch.ones_like(on)))
        return on

    def _pretrain(self, data: torch.Tensor) -> None:
        envelope = self.generator.envelope
        envelope.use_sampler = True
        self._pending = None
        mask = (envelope.basis.abs().sum(-1) > 0).float()
        if self.line_offset.numel():
            mask = torch.cat([mask, self._line_reference()])
        y = self.state_coordinates(data)
        y = self._widened(y, y[:, :envelope.max_dims].mean(0))
        self._prior_states = None
        if not bool(mask.any()) or len(y) < 2:
            self.vae.reset(mask, y[:0])
            return
        self.vae.pretrain(mask, y, self.config.pretrain_steps, lr=self.config.lr,
                          beta=self.config.beta, extra_variance=self._added_variance(mask))
        self._prior_states = y[:self.prior_events]

    def _added_variance(self, mask: torch.Tensor) -> torch.Tensor:
        """The variance ``(dims,)`` that the VAE leaves out of its draws beyond the
        measurement's unit, for modelled coordinates ``mask``: the envelope's
        (:meth:`PhysicsGenerator.envelope_excess_variance
        <rnognoise.models.structured.PhysicsGenerator.envelope_excess_variance>`); none for
        the line coordinates (the lines draw their own).

        Modelled by the VAE as well, that variation was drawn twice: on the
        ``unmodelled`` set the leading burst direction was measured 5.0 wide on generated
        events, against the data's 3.9 and the VAE's draws' 3.9 (4.05 with the other
        parts switched off).
        """
        extra = torch.zeros_like(mask)
        k = self.generator.envelope.max_dims
        if bool(mask[:k].any()):
            extra[:k] = self.generator.envelope_excess_variance() * mask[:k]
        return extra

    def _widened(self, y: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
        """State coordinates ``y`` with the envelope's widened about ``centre``: behind a
        compressing range map the envelope's draws are wider than the data's coordinates
        (:attr:`PhysicsGenerator.event_spread_widening
        <rnognoise.models.structured.PhysicsGenerator.event_spread_widening>`)."""
        widen = self.generator.event_spread_widening
        if widen == 1.0 or len(y) == 0:
            return y
        k = centre.numel()
        return torch.cat([centre + widen * (y[:, :k] - centre), y[:, k:]], -1)

    def encode(self, data: torch.Tensor) -> torch.Tensor:
        """Latent means ``(n, latent_dim)`` of normalised events ``(n, C, T)`` (every event:
        fixed pattern and block offsets removed, none left out): a map of the noise classes.

        Raises
        ------
        ValueError
            For a model whose file predates the stored encoder (refit it).
        """
        if not bool(self.vae.encoder_fitted > 0):
            raise ValueError("this VAE has no fitted encoder (a file of an older design: "
                             "refit it for the latent map)")
        data = self.generator.pattern.remove(data)
        clean = self.generator.blocks.remove(data) if self.generator.is_on("blocks") else data
        with torch.no_grad():
            return self.vae.encode(self._state(clean))[0]

    def spectral_correction(self) -> torch.Tensor | None:
        return self.generator.background.log_gain_correction

    # -- sampling --------------------------------------------------------------------
    def generate(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.generator(n, generator)

    # -- training --------------------------------------------------------------------
    #: Most recent training events whose states the latent prior is refitted to.
    prior_events: int = 4096

    def training_plan(self, *, lr: float | None = None, batch_size: int = 64) -> TrainingPlan:
        if self._pending is not None:
            # the pretraining ends the initialisation, which runs on the CPU (the events
            # of the component selection are there); the plan trains where the model is
            device = self.norm_scale.device
            self.cpu()
            with torch.no_grad():
                self._pretrain(self._pending.cpu())
            self.to(device)
        opt = torch.optim.Adam(self.vae.parameters(), lr=lr or self.config.lr)
        gen = torch.Generator(device=self.norm_scale.device)
        # the states of the latest batches, which the latent prior is refitted to, begun
        # with the pretraining's: refitted to one batch, the prior of a short fit was a
        # mixture of 64 events' draws (a 3 % class of loud events drawn as 30 %)
        recent: list[torch.Tensor] = []
        if self._prior_states is not None:
            recent.append(self._prior_states.to(self.norm_scale.device))
        k = self.generator.envelope.max_dims

        def step(index: int, batch_fn: Callable[[int, int], torch.Tensor]) -> dict[str, float]:
            gen.manual_seed(7919 * index + 3)
            y = batch_fn(index, 0)  # rows of ``state_rows``
            y = y[~y.isnan().any(-1)]  # the events the envelope describes
            y = self._widened(y, self.vae.centre[:k] if bool(self.vae.scaled > 0)
                              else y[:, :k].mean(0))
            recent.append(y)
            while sum(len(r) for r in recent) - len(recent[0]) >= self.prior_events:
                recent.pop(0)
            if len(y) < 2 or not bool(self.vae.mask.any()):
                return {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
            loss, recon, kl = self.vae.negative_elbo(y, gen, self.config.beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": loss.item(), "reconstruction": recon.item(), "kl": kl.item()}

        def before_eval() -> None:
            states = sum(len(r) for r in recent)
            if bool(self.vae.mask.any()) and states >= min(self.prior_events, 1024):
                self.vae.fit_prior(torch.cat(recent))

        return TrainingPlan(modules={"vae": self.vae}, optimizers={"vae": opt}, step_fn=step,
                            before_eval=before_eval, event_rows=self.state_rows)
