"""The component selection's decision rule, on scores whose draws are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnognoise import selection


class _Switchable:
    """A model with switchable components whose generated 'events' carry the enabled set."""

    def __init__(self, names: list[str]) -> None:
        self.enabled = list(names)
        self.norm_scale = torch.ones(1)

    def components(self) -> list[str]:
        return list(self.enabled)

    def set_components(self, enabled: list[str], data: torch.Tensor) -> None:
        self.enabled = list(enabled)

    def inert_components(self) -> list[str]:
        return []


#: Training events of the fixture's fits (the held-out set has 4): the scores on them are
#: told apart by their number of events.
N_TRAIN = 6


@pytest.fixture
def scored(monkeypatch):
    """Score = 1 + sum of the effects of the switched-off components on each draw of the
    held-out events; on the training events, the effects in ``effects["train"]`` (default:
    each component's first draw)."""
    effects: dict[str, list[float]] = {"train": {}}
    model = _Switchable(["lucky", "useless", "useful"])

    def fake_generate(m, n, seed):
        return (tuple(m.enabled), seed - 99)

    def fake_score(real, generated, sampling_rate, *, seed=0):
        enabled, draw = generated
        off = [c for c in ("lucky", "useless", "useful") if c not in enabled]
        if len(real) == N_TRAIN:
            return 1.0 + sum(effects["train"].get(c, effects[c][0]) for c in off)
        return 1.0 + sum(effects[c][draw] for c in off)

    monkeypatch.setattr(selection, "_generate", fake_generate)
    monkeypatch.setattr(selection, "validation_score", fake_score)
    return model, effects


def test_a_removal_that_only_one_draw_favours_is_not_made(scored):
    model, effects = scored
    # switching 'lucky' off looks best on the screening draw only; 'useless' is better
    # gone on every draw; 'useful' is worse gone on every draw
    effects.update(lucky=[-0.5, 0.2, 0.1], useless=[-0.2, -0.2, -0.2], useful=[0.3, 0.3, 0.3])
    assert selection.SELECTION_DRAWS == 3
    choice = selection.select_components(model, torch.zeros(N_TRAIN, 1, 8), torch.zeros(4, 1, 8),
                                         1.0, seed=0)
    # the screening picks 'lucky', the confirmation (draws 1 and 2) refuses it, and the
    # search stops: nothing is dropped on one draw's luck
    assert choice.kept == ["lucky", "useless", "useful"] and choice.dropped == []
    confirmation = [t for t in choice.trials if "draws" in t]
    assert len(confirmation) == 1 and confirmation[0]["draws"] == [1, 2]
    assert confirmation[0]["score"] == pytest.approx(1.15)
    assert model.components() == ["lucky", "useless", "useful"]


def test_a_removal_that_every_draw_favours_is_made(scored):
    model, effects = scored
    effects.update(lucky=[0.1, 0.1, 0.1], useless=[-0.2, -0.15, -0.25], useful=[0.3, 0.3, 0.3])
    choice = selection.select_components(model, torch.zeros(N_TRAIN, 1, 8), torch.zeros(4, 1, 8),
                                         1.0, seed=0)
    assert choice.dropped == ["useless"] and choice.kept == ["lucky", "useful"]
    assert model.components() == ["lucky", "useful"]
    # second round: the current model's screening score is the confirmed model's draw 0
    second = [t for t in choice.trials if "draws" not in t and "on" not in t][1 + 3:]
    assert {frozenset(t["components"]) for t in second} == {frozenset({"useful"}),
                                                             frozenset({"lucky"})}
    assert np.isfinite([t["score"] for t in choice.trials]).all()


def test_a_removal_that_the_training_events_refuse_is_not_made(scored):
    """Every held-out draw favours the removal of 'useful', which the many more training
    events show to be needed (a rare structure the few held-out events hardly hold): it
    stays, and the check is recorded."""
    model, effects = scored
    effects.update(lucky=[0.1, 0.1, 0.1], useless=[0.2, 0.2, 0.2], useful=[-0.2, -0.2, -0.2])
    effects["train"]["useful"] = 0.15
    choice = selection.select_components(model, torch.zeros(N_TRAIN, 1, 8),
                                         torch.zeros(4, 1, 8), 1.0, seed=0)
    assert choice.dropped == [] and model.components() == ["lucky", "useless", "useful"]
    check = [t for t in choice.trials if t.get("on") == "training events"]
    assert len(check) == 1 and check[0]["components"] == ["lucky", "useless"]
    assert check[0]["score"] == pytest.approx(1.15)
    assert check[0]["against"] == pytest.approx(1.0)
    assert check[0]["n_events"] == N_TRAIN
    # the same held-out scores with training events that agree: the removal is made
    effects["train"]["useful"] = -0.05
    model.set_components(["lucky", "useless", "useful"], torch.zeros(1))
    choice = selection.select_components(model, torch.zeros(N_TRAIN, 1, 8),
                                         torch.zeros(4, 1, 8), 1.0, seed=0)
    assert choice.dropped == ["useful"]


#: Training events of the final check's tests (at least ``MIN_CHECK_EVENTS``).
CHECK_TRAIN = 80


class _Scored:
    """A generated 'event set' that carries the score it gets against any real set."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.norm_scale = torch.ones(1)


@pytest.fixture
def checked(monkeypatch):
    """Scores of the final check by model and real set: ``scores[(name, "held-out")]``
    and ``scores[(name, "training")]`` (the training events are told apart by their
    number, :data:`CHECK_TRAIN`)."""
    scores: dict[tuple[str, str], float] = {}

    class _Report:
        def __init__(self, value: float) -> None:
            self.value = value
            self.rows: list = []

        def score(self) -> float:
            return self.value

    def which(real):
        return "training" if len(real) == CHECK_TRAIN else "held-out"

    monkeypatch.setattr(selection, "_generate", lambda m, n, seed: m.name)
    monkeypatch.setattr(selection, "_report", lambda real, gen, fs, seed: _Report(
        scores[(gen, which(real))]))
    monkeypatch.setattr(selection, "validation_score", lambda real, gen, fs, *, seed=0:
                        scores[(gen, which(real))])
    return scores


def test_the_final_check_also_judges_on_training_events(checked):
    """A model as good as the baseline on the few held-out events but clearly worse on the
    many training events (which both were fitted on) is worse than the baseline; the
    scores of both sets are recorded."""
    model, baseline = _Scored("model"), _Scored("baseline")
    val, train = torch.zeros(60, 1, 8), torch.zeros(CHECK_TRAIN, 1, 8)
    checked.update({("model", "held-out"): 0.17, ("baseline", "held-out"): 0.166,
                    ("model", "training"): 0.45, ("baseline", "training"): 0.23})
    check = selection.heldout_check(model, baseline, val, 1.0, train=train)
    assert check.worse_than_baseline and check.conclusive
    assert check.n_events == 60 and check.n_train_events == CHECK_TRAIN
    assert check.train_model_score == pytest.approx(0.45)
    assert check.to_dict()["train_baseline_score"] == pytest.approx(0.23)
    # the same held-out scores, training events that agree: not worse
    checked[("model", "training")] = 0.3
    assert not selection.heldout_check(model, baseline, val, 1.0, train=train).worse_than_baseline
    # without training events, the held-out events alone decide, and nothing is recorded
    checked[("model", "training")] = 0.45
    alone = selection.heldout_check(model, baseline, val, 1.0)
    assert not alone.worse_than_baseline and alone.n_train_events == 0
    assert alone.to_dict()["train_model_score"] is None
    # worse on the held-out events alone is worse too
    checked[("model", "held-out")] = 0.3
    assert selection.heldout_check(model, baseline, val, 1.0, train=train).worse_than_baseline
    # but on fewer than MIN_CHECK_EVENTS held-out events, with training events that
    # disagree, the finding is inconclusive (saved with a warning)
    checked[("model", "training")] = 0.3
    few = selection.heldout_check(model, baseline, val[:20], 1.0, train=train)
    assert few.worse_than_baseline and not few.conclusive
    checked[("model", "training")] = 0.45
    assert selection.heldout_check(model, baseline, val[:20], 1.0, train=train).conclusive


def test_a_fit_worse_on_its_training_events_is_refused_with_their_scores(monkeypatch,
                                                                         tmp_path, caplog):
    """The fit refuses a model that the final check finds worse, naming the source and
    both sets' scores; with force it warns and keeps it."""
    from rnognoise.errors import PoorFitError
    from rnognoise.fitting import parts
    from rnognoise.fitting.options import FitOptions
    from rnognoise.io import TraceSet
    from rnognoise.train import fit

    worse = selection.HeldOutCheck(0.17, 0.166, 0.52, 0.51, 60, True, True, 0.45, 0.23, 1000)
    monkeypatch.setattr(parts, "heldout_check", lambda *a, **k: worse)
    data = TraceSet(np.random.default_rng(0).standard_normal((200, 2, 256)).astype(np.float32),
                    3.2e9, [0, 1])
    with pytest.raises(PoorFitError) as err:
        fit(data, tmp_path / "m.rnog", FitOptions(model="baseline", quiet=True))
    text = str(err.value)
    assert "60 held-out events (score 0.17 vs 0.166)" in text
    assert "1000 training events (score 0.45 vs 0.23)" in text and "not saved" in text
    assert not (tmp_path / "m.rnog").exists()
    result = fit(data, tmp_path / "m.rnog", FitOptions(model="baseline", quiet=True, force=True))
    assert (tmp_path / "m.rnog").exists()
    assert result.provenance["heldout_check"]["n_train_events"] == 1000


def test_the_final_check_sees_the_events_in_the_normalisation_the_calibration_left(
        monkeypatch, tmp_path):
    """A model without a spectral correction takes its power calibration on its
    normalisation; the held-out check after it compares its events with the training and
    held-out events in that new normalisation (in volts: the recorded events)."""
    from rnognoise.fitting import parts
    from rnognoise.fitting.options import FitOptions
    from rnognoise.io import TraceSet
    from rnognoise.train import fit

    seen = {}
    real_check = parts.heldout_check

    def spy(model, baseline, val, fs, **kw):
        seen.update(model=model, val=val.clone(), train=kw["train"].clone())
        return real_check(model, baseline, val, fs, **kw)

    monkeypatch.setattr(parts, "heldout_check", spy)
    rng = np.random.default_rng(3)
    volts = (rng.standard_normal((240, 2, 256)) * [[0.02], [0.05]] + [[0.001], [-0.002]]
             ).astype(np.float32)
    result = fit(TraceSet(volts, 3.2e9, [0, 1]), tmp_path / "m.rnog",
                 FitOptions(model="wgan-gp", model_options={"generator": "conv"}, steps=2,
                            quiet=True, force=True))
    factor = np.asarray(result.provenance["power_calibration"])
    assert np.abs(factor - 1).max() > 0.05  # the calibration moved the scale
    model = seen["model"]
    scale = model.norm_scale.numpy()[None, :, None]
    offset = model.norm_offset.numpy()[None, :, None]
    recorded = volts.reshape(len(volts), -1)
    for events in (seen["val"], seen["train"]):
        back = (events.numpy() * scale + offset).reshape(len(events), -1)
        nearest = np.abs(back[:, None, :64] - recorded[None, :, :64]).max(-1).min(-1)
        assert nearest.max() < 1e-5  # every event is a recorded one, in volts
