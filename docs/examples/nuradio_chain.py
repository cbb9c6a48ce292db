"""A NuRadioReco module chain with learned noise beside NuRadioMC's generic noise.

1. "Recorded" forced triggers: RNO-G-like noise from :func:`rnognoise.simulate.simulate_noise`
   (4 deep channels, 2048 samples at 3.2 GS/s), half to fit a model, half held out.
2. Fit the analytic baseline (seconds; a learned model file is used the same way).
3. Simulated events (empty traces standing in for the detector simulation's output) go
   through two chains: NuRadioMC's ``channelGenericNoiseAdder`` (band-limited Rayleigh
   noise with the recorded RMS per channel) and rnognoise's ``noiseAdder``.
4. Each chain's noise is compared with the held-out recordings by
   :func:`rnognoise.metrics.compare`, and the learned noise is drawn once more at
   2.4 GS/s with 4096 samples (resampling and stitching).

Run with NuRadioMC installed (``pip install 'rnognoise[nuradio]'``)::

    python docs/examples/nuradio_chain.py --events 1000
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import scipy.signal
from NuRadioReco.framework.channel import Channel
from NuRadioReco.framework.event import Event
from NuRadioReco.framework.station import Station
from NuRadioReco.modules.channelGenericNoiseAdder import channelGenericNoiseAdder
from NuRadioReco.utilities import units

from rnognoise.io import TraceSet
from rnognoise.metrics import compare
from rnognoise.nuradio import noiseAdder
from rnognoise.simulate import simulate_noise
from rnognoise.train import FitOptions, fit

STATION = 11


def make_event(event_id: int, channel_ids: list[int], n_samples: int, rate: float) -> Event:
    """An event whose station has empty traces (``rate`` in NuRadioReco units)."""
    event = Event(1, event_id)
    station = Station(STATION)
    for cid in channel_ids:
        channel = Channel(cid)
        channel.set_trace(np.zeros(n_samples), rate)
        station.add_channel(channel)
    event.set_station(station)
    return event


def run_chain(modules: list[tuple[object, dict]], n_events: int, channel_ids: list[int],
              n_samples: int, rate: float) -> TraceSet:
    """Run ``(module, run kwargs)`` on fresh events; return the traces as a TraceSet (Hz)."""
    traces = np.empty((n_events, len(channel_ids), n_samples), np.float32)
    for i in range(n_events):
        event = make_event(i, channel_ids, n_samples, rate)
        station = event.get_station(STATION)
        for module, kwargs in modules:
            module.run(event, station, None, **kwargs)
        traces[i] = [station.get_channel(c).get_trace() / units.V for c in channel_ids]
    return TraceSet(traces, rate / units.Hz, channel_ids)


KEY_METRICS = ("psd_max_abs_db", "psd_geodesic", "rms_rel_diff", "kurtosis_diff",
               "line_occupancy_diff", "block_spread_w1", "xcorr_max_w1", "c2st_auc")


def print_summary(reports: dict) -> None:
    """Verdicts, pass/warn/fail counts per metric group and the worst row of key metrics."""
    names = list(reports)
    print(f"\n{'vs held-out recordings':26s}" + "".join(f"{n:>26s}" for n in names))
    print(f"{'verdict (score)':26s}" + "".join(
        f"{r.verdict.upper() + f' ({r.score():.2f})':>26s}" for r in reports.values()))
    groups = dict.fromkeys(row.group for r in reports.values() for row in r.rows)
    for group in groups:
        cells = []
        for r in reports.values():
            verdicts = [row.verdict for row in r.rows if row.group == group]
            cells.append("/".join(str(verdicts.count(v)) for v in ("pass", "warn", "fail")))
        print(f"{group + ' pass/warn/fail':26s}" + "".join(f"{c:>26s}" for c in cells))
    print("worst value (real-vs-real reference):")
    for metric in KEY_METRICS:
        cells = []
        for r in reports.values():
            rows = [row for row in r.rows_named(metric) if np.isfinite(row.value)]
            if not rows:
                cells.append("n/a")
                continue
            worst = max(rows, key=lambda row: row.value - row.reference)
            cells.append(f"{worst.value:.3g} ({worst.reference:.3g}) {worst.verdict}")
        print(f"  {metric:24s}" + "".join(f"{c:>26s}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000, help="events per set")
    parser.add_argument("--out", type=Path, default=None, help="directory for the model file")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="rnognoise-nuradio-"))

    recorded = simulate_noise(2 * args.events, seed=1)
    train, held_out = recorded.split(0.5, seed=2)
    model_path = out / "baseline.safetensors"
    fit(train, model_path, FitOptions(model="baseline", quiet=True, device="cpu"))
    channel_ids = recorded.channels.tolist()
    rms = dict(zip(channel_ids, train.traces.std(axis=(0, 2)).tolist(), strict=True))
    rate = recorded.sampling_rate * units.Hz  # 3.2 GHz in NuRadioReco units
    print(f"recorded noise: {recorded.n_events} events, channels {channel_ids}, "
          f"{recorded.n_samples} samples at {rate / units.GHz:g} GHz, RMS "
          + ", ".join(f"{v / units.mV:.2f}" for v in rms.values()) + " mV")

    generic = channelGenericNoiseAdder()
    generic.begin(seed=3)
    generic_set = run_chain(
        [(generic, {"amplitude": {c: v * units.V for c, v in rms.items()},
                    "min_freq": 100 * units.MHz, "max_freq": 700 * units.MHz,
                    "type": "rayleigh"})],
        args.events, channel_ids, recorded.n_samples, rate)

    learned = noiseAdder()
    learned.begin(model_path, seed=3)
    learned_set = run_chain([(learned, {})], args.events, channel_ids, recorded.n_samples,
                            rate)

    reports = {name: compare(held_out, noise, seed=0) for name, noise in
               (("generic", generic_set), ("rnognoise", learned_set))}
    for name, report in reports.items():
        report.to_json(out / f"report_{name}.json")
    print_summary(reports)
    print(f"full reports: {out}/report_generic.json, {out}/report_rnognoise.json")

    # Another sampling rate and trace length in the same chain: 2.4 GS/s, 4096 samples.
    other_rate, other_len = 2.4 * units.GHz, 4096
    other = run_chain([(learned, {})], args.events // 2, channel_ids, other_len, other_rate)
    learned.end()
    f_ref, p_ref = scipy.signal.welch(held_out.traces, held_out.sampling_rate, nperseg=128,
                                      axis=-1)
    f_new, p_new = scipy.signal.welch(other.traces, other.sampling_rate, nperseg=96, axis=-1)
    p_ref, p_new = p_ref.mean(0)[:, f_ref <= f_new[-1]], p_new.mean(0)
    band = (f_new >= 150e6) & (f_new <= 600e6)
    ratio = 10 * np.log10(p_new[:, band] / p_ref[:, band])
    print(f"\n=== rnognoise noiseAdder at {other_rate / units.GHz:g} GHz, {other_len} samples "
          f"({other_len / other_rate / units.ns:.0f} ns) ===")
    print("RMS ratio to recordings per channel: "
          + ", ".join(f"{r:.3f}" for r in other.traces.std(axis=(0, 2))
                      / held_out.traces.std(axis=(0, 2))))
    print(f"PSD ratio 150-600 MHz: mean {ratio.mean():+.3f} dB, max |.| {np.abs(ratio).max():.3f} dB")


if __name__ == "__main__":
    main()
