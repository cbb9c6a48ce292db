"""Transients (a general part): known-answer fits, the off switch, sampling contract."""

from __future__ import annotations

import torch
from scipy.stats import ks_2samp

from rnognoise.models.transients import Transients

FS, T, C = 3.2e9, 2048, 4


def coloured(n: int, gen: torch.Generator) -> torch.Tensor:
    """Stationary coloured Gaussian noise with unit RMS per channel."""
    f = torch.fft.rfftfreq(T, 1 / FS)
    shape = torch.exp(-(((f - 350e6) / 250e6) ** 2)) + 0.1
    z = torch.randn(n, C, f.numel(), 2, generator=gen)
    x = torch.fft.irfft(torch.view_as_complex(z) * shape, n=T)
    return (x / x.pow(2).mean((0, 2), keepdim=True).sqrt()).float()


def with_bursts(x: torch.Tensor, frac: float, gen: torch.Generator, length: int = 64,
                amp: float = 4.0, band_hz: tuple[float, float] = (200e6, 400e6)
                ) -> torch.Tensor:
    """In a fraction ``frac`` of events, a Gaussian burst in ``band_hz`` (Hann window of
    ``length`` samples, RMS ``amp`` before the window) on 2 random channels."""
    x = x.clone()
    f = torch.fft.rfftfreq(length, 1 / FS)
    band = ((f >= band_hz[0]) & (f <= band_hz[1])).float()
    hann = torch.hann_window(length, periodic=False)
    for e in torch.nonzero(torch.rand(x.shape[0], generator=gen) < frac)[:, 0].tolist():
        pos = int(torch.randint(0, T - length, (1,), generator=gen))
        for ch in torch.randperm(C, generator=gen)[:2].tolist():
            z = torch.randn(f.numel(), 2, generator=gen)
            b = torch.fft.irfft(torch.view_as_complex(z) * band, n=length)
            x[e, ch, pos:pos + length] += b / b.pow(2).mean().sqrt() * amp * hann
    return x


def with_pulses(x: torch.Tensor, frac: float, gen: torch.Generator, peak: float = 8.0
                ) -> torch.Tensor:
    """In a fraction ``frac`` of events, one band-limited pulse (Gaussian spectrum at
    250 +- 60 MHz, about 5 ns wide at half maximum) with peak ``peak`` on all channels at a
    random position."""
    x = x.clone()
    f = torch.fft.rfftfreq(T, 1 / FS)
    p = torch.roll(torch.fft.irfft(torch.exp(-(((f - 250e6) / 60e6) ** 2)), n=T), T // 2)
    seg = peak * (p / p.abs().max())[T // 2 - 48:T // 2 + 48]
    for e in torch.nonzero(torch.rand(x.shape[0], generator=gen) < frac)[:, 0].tolist():
        pos = int(torch.randint(0, T - seg.numel(), (1,), generator=gen))
        x[e, :, pos:pos + seg.numel()] += seg
    return x


def with_impulses(x: torch.Tensor, frac: float, gen: torch.Generator, median: float = 5.0,
                  spread: float = 0.3) -> torch.Tensor:
    """In a fraction ``frac`` of events, a broadband impulse (a bipolar pulse of a few
    samples, 100-800 MHz) on all channels, arriving 0-20 samples later on each successive
    channel, with a log-normal peak amplitude (``median`` x the channel RMS, log spread
    ``spread``) per event."""
    x = x.clone()
    f = torch.fft.rfftfreq(T, 1 / FS)
    band = ((f > 100e6) & (f < 800e6)).float()
    p = torch.roll(torch.fft.irfft(band, n=T), T // 2)
    seg = (p / p.abs().max())[T // 2 - 24:T // 2 + 24]
    for e in torch.nonzero(torch.rand(x.shape[0], generator=gen) < frac)[:, 0].tolist():
        amp = median * float(torch.exp(spread * torch.randn((), generator=gen)))
        step = int(torch.randint(0, 21, (), generator=gen))
        pos = int(torch.randint(0, T - seg.numel() - 3 * step, (), generator=gen))
        for ch in range(C):
            x[e, ch, pos + ch * step:pos + ch * step + seg.numel()] += amp * seg
    return x


def window_max(x: torch.Tensor) -> torch.Tensor:
    """Largest 32-sample window power per event (hop 16, all channels)."""
    return x.unfold(-1, 32, 16).pow(2).sum(-1).amax((1, 2))


def kurtosis(x: torch.Tensor) -> torch.Tensor:
    """Largest per-channel kurtosis per event."""
    x = x - x.mean(-1, keepdim=True)
    return (x.pow(4).mean(-1) / x.pow(2).mean(-1).square()).amax(-1)


def fitted(n: int = 500) -> tuple[Transients, dict, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    data = with_bursts(coloured(n, gen), 0.2, gen)
    model = coloured(2 * n, gen)
    part = Transients(C, T, FS)
    return part, part.fit(data, model), data, model


def test_bursts_recovered_and_calibrated():
    part, info, data, model = fitted()
    assert info["active"] == 1 and info["p_value"] < 1e-6
    main = int(part.rate.argmax())
    edges = part.band_edges[int(part.spectrum[main].argmax()):][:2]
    assert list(edges) == [200e6, 400e6]                      # the burst's band
    assert 0.15 < float(part.rate.sum()) < 0.3                 # 20 % of events
    fresh = coloured(2 * data.shape[0], torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = part.apply(fresh.clone(), torch.Generator().manual_seed(3))
    thr = torch.quantile(window_max(model), 0.99)
    frac_data = float((window_max(data) > thr).double().mean())
    frac_out = float((window_max(out) > thr).double().mean())
    frac_model = float((window_max(fresh) > thr).double().mean())
    assert frac_data > 0.15 and frac_model < 0.03
    assert abs(frac_out - frac_data) < 0.04
    assert (ks_2samp(kurtosis(data), kurtosis(out)).statistic
            < 0.5 * ks_2samp(kurtosis(data), kurtosis(fresh)).statistic)


def test_rare_strong_pulses():
    """2 % of events carry an 8-sigma pulse: too rare to stand out among the model's 1 %
    false alarms, found at a higher threshold; the samples then have the data's rate of
    events with a peak above 6 sigma."""
    gen = torch.Generator().manual_seed(1)
    data = with_pulses(coloured(1500, gen), 0.02, gen)
    part = Transients(C, T, FS)
    info = part.fit(data, coloured(3000, gen))
    assert info["active"] == 1 and info["p_value"] < 1e-4 and info["level"] < 0.01
    fresh = coloured(3000, torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = part.apply(fresh.clone(), torch.Generator().manual_seed(3))

    def strong(x: torch.Tensor) -> float:
        return float((x.abs().amax((1, 2)) > 6).double().mean())

    assert strong(fresh) < 0.1 * strong(data)
    assert 1 / 1.5 < strong(out) / strong(data) < 1.5


def test_weak_broadband_impulses():
    """3 % of events carry a broadband impulse on all channels with a median peak of
    5 sigma: diluted over eight bands and a 32-sample frame the band statistic misses them,
    the time-domain peak statistic finds them, and the samples then have the data's rate of
    events with a sample above 5 and 6 sigma."""
    gen = torch.Generator().manual_seed(2)
    data = with_impulses(coloured(1500, gen), 0.03, gen)
    part = Transients(C, T, FS)
    info = part.fit(data, coloured(3000, gen))
    assert info["active"] == 1 and info["p_value"] < 1e-3
    assert info["n_tests"] == 18        # two frame lengths x three detectors x three levels
    assert info["window"] == 32
    fresh = coloured(3000, torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = part.apply(fresh.clone(), torch.Generator().manual_seed(3))

    def above(x: torch.Tensor, s: float) -> float:
        return float((x.abs().amax((1, 2)) > s).double().mean())

    for s in (5.0, 6.0):
        assert above(fresh, s) < 0.3 * above(data, s)
        assert 1 / 1.5 < above(out, s) / above(data, s) < 1.5, s


def window_power_max(x: torch.Tensor, length: int = 128) -> torch.Tensor:
    """Largest mean square over ``length``-sample windows (hop half of it), per event."""
    return x.square().unfold(-1, length, length // 2).mean(-1).amax((1, 2))


def test_long_weak_bursts_are_seen_in_long_frames():
    """10 % of the events carry a 120 ns burst of 1.2 noise RMS (before its window) on two
    channels: within the noise's scatter in a 32-sample frame, clear in a 128-sample one.
    The part takes the long frame, and the samples have most of the data's rate of events
    whose power over 40 ns exceeds the model's 1 % level (the short frame alone finds a
    fifth of it)."""
    gen = torch.Generator().manual_seed(4)
    data = with_bursts(coloured(1500, gen), 0.1, gen, length=384, amp=1.2)
    model = coloured(3000, gen)
    fresh = coloured(3000, torch.Generator().manual_seed(7))
    thr = torch.quantile(window_power_max(model), 0.99)

    def rate(x: torch.Tensor) -> float:
        return float((window_power_max(x) > thr).double().mean())

    out = {}
    for windows in ((32, 128), (32,)):
        part = Transients(C, T, FS, windows=windows)
        info = part.fit(data, model)
        with torch.no_grad():
            out[windows] = (info, rate(part.apply(fresh.clone(), torch.Generator().manual_seed(3))))
    info, got = out[(32, 128)]
    assert info["active"] == 1 and info["window"] == 128
    assert rate(data) > 0.06 and rate(fresh) < 0.02
    assert 0.6 < got / rate(data) < 1.3                        # 0.72 when written
    assert out[(32,)][1] < 0.3 * rate(data)                    # 0.21


def test_burst_spectrum_finer_than_a_band():
    """Bursts of 260-320 MHz lie within one 200 MHz band of the frames' band powers: the
    drawn bursts put their power where the data's are (per bin of the frame), not over the
    whole band."""
    gen = torch.Generator().manual_seed(5)
    data = with_bursts(coloured(1500, gen), 0.1, gen, length=384, amp=2.0,
                       band_hz=(260e6, 320e6))
    part = Transients(C, T, FS)
    info = part.fit(data, coloured(3000, gen))
    assert info["active"] == 1
    fresh = coloured(2000, torch.Generator().manual_seed(7))
    with torch.no_grad():
        added = part.apply(fresh.clone(), torch.Generator().manual_seed(3)) - fresh
    power = torch.fft.rfft(added.double(), dim=-1).abs().square().sum((0, 1))
    f = torch.fft.rfftfreq(T, 1 / FS)
    inside = float(power[(f > 220e6) & (f < 360e6)].sum() / power.sum())
    assert inside > 0.8, inside

    for n, m in ((50, 1000), (3000, 4000)):
        gen = torch.Generator().manual_seed(n)
        part = Transients(C, T, FS)
        info = part.fit(coloured(n, gen), coloured(m, gen))
        assert info["active"] == 0 and not part.is_active, (n, info)
        assert info["n_levels"] == (2 if n == 50 else 3)        # 1e-4 needs enough model
        x = torch.randn(3, C, T)
        assert part.apply(x, gen) is x


def test_sampling_contract():
    part, _, _, _ = fitted(200)
    assert part.is_active
    x = torch.randn(64, C, T)
    a = part.apply(x.clone(), torch.Generator().manual_seed(5))
    b = part.apply(x.clone(), torch.Generator().manual_seed(5))
    c = part.apply(x.clone(), torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a != x).any(-1).any(-1).sum() > 3                 # some events carry one
    # autograd: a new tensor, gradient one, input untouched
    xg = x.clone().requires_grad_(True)
    out = part.apply(xg, torch.Generator().manual_seed(5))
    out.square().sum().backward()
    assert torch.equal(xg.detach(), x) and torch.allclose(out.detach(), a)
    assert torch.allclose(xg.grad, 2 * a)
    # the state round-trips through fixed-shape buffers
    fresh = Transients(C, T, FS)
    shapes = {k: v.shape for k, v in fresh.state_dict().items()}
    assert shapes == {k: v.shape for k, v in part.state_dict().items()}
    fresh.load_state_dict(part.state_dict())
    assert torch.equal(fresh.apply(x.clone(), torch.Generator().manual_seed(5)), a)
    # inactive: identity, no draws
    gen = torch.Generator().manual_seed(9)
    state = gen.get_state()
    assert Transients(C, T, FS).apply(x, gen) is x
    assert torch.equal(gen.get_state(), state)


def test_energies_stay_within_the_recorded_range():
    """Bursts whose amplitudes spread over 1.5 decades (many barely above the noise):
    the class's log-energy spread is bounded, and no drawn burst is beyond the
    loudest recorded one (the standard deviation of the log energies had reached 4.3
    e-folds on such data: draws 10^5 times the median energy)."""
    from rnognoise.models.transients import MAX_LOG_ENERGY_STD

    gen = torch.Generator().manual_seed(4)
    clean = coloured(800, gen)
    data = clean.clone()
    for e in range(0, 800, 5):                     # 20 % of events, amplitude 0.5-16 RMS
        amp = float(torch.exp(torch.empty(()).uniform_(-0.7, 2.8, generator=gen)))
        data[e:e + 1] = with_bursts(clean[e:e + 1], 1.0, gen, amp=amp)
    part = Transients(C, T, FS)
    info = part.fit(data, coloured(1600, gen))
    assert info["active"] == 1
    assert float(part.log_energy_std.max()) <= MAX_LOG_ENERGY_STD
    with torch.no_grad():
        out = part.apply(coloured(4000, torch.Generator().manual_seed(8)),
                         torch.Generator().manual_seed(9))
    # no drawn burst has a sample beyond the loudest recorded in the class (plus the
    # noise it lands on): a loud energy drawn with a short duration had peaked at 1.84x
    # the data's largest sample, and 2.6x its largest window power
    assert float(out.abs().max()) < 1.25 * float(data.abs().max())
    assert float(window_max(out).max()) < 1.5 * float(window_max(data).max())
