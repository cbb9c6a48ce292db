"""Reference runs: each pipeline reaches its known answer in its stated budget (slow).

Every test runs the command of the pipeline's row in the table of ``docs/pipelines.md``
(a step budget, so the result does not depend on how busy the machine is; one torch
thread) on the embedded data and checks the threshold written there. Run with
``pytest -m slow tests/test_pipelines_reference.py``; together they take about
20 minutes on a shared 2-core machine.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# "Kept or improved": the figures documented before these budgets were fixed (smoke-scale
# runs of the same length; docs/pipelines.md gives the runs that set them).
MNIST_GAN = {"score": 3.38, "cfd": 512.0, "classes": 6}
#: the CFD of 278 came from a 475-step time-budgeted run; the 480-step run gave 279
DCGAN = {"score": 6.65, "cfd": 300.0}
VAE = {"neg_elbo": 189.5, "score": 7.10, "cfd": 577.0}
AIRSHOWER_W1 = {"log10_total": 0.19, "n_triggered": 5.1, "log10_max": 0.22,
                "n_saturated": 0.36}


def _run(name: str, args: list[str], out: Path) -> dict:
    module = importlib.import_module(f"pipelines.{name}")
    assert module.main([*args, "--quiet", "--threads", "1", "--out", str(out)]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_pix2pix_beats_input_and_mean_target(tmp_path: Path) -> None:
    m = _run("pix2pix", ["--smoke", "--epochs", "2"], tmp_path)
    assert m["steps"] == 1200
    test, mean, copy = m["test"], m["baseline_mean_target"], m["baseline_input"]
    # clearly better than both trivial answers: a quarter less L1, SSIM 0.15 higher
    assert test["l1"] < 0.75 * min(mean["l1"], copy["l1"])
    assert test["ssim"] > max(mean["ssim"], copy["ssim"]) + 0.15


def test_srgan_at_or_above_bicubic(tmp_path: Path) -> None:
    m = _run("srgan", ["--smoke", "--epochs", "24"], tmp_path)
    assert m["steps"] == 1512 and m["pretrain_steps"] == 1210
    assert m["test"]["psnr_db"] >= m["baseline_bicubic"]["psnr_db"]
    assert m["test"]["ssim"] >= m["baseline_bicubic"]["ssim"]


def test_conditional_dcgan_follows_its_labels(tmp_path: Path) -> None:
    m = _run("cgan", ["--dataset", "mnist", "--smoke", "--epochs", "60"], tmp_path)
    assert m["training"]["steps"] == 1080
    assert m["conditional_accuracy"] >= 0.9
    assert m["classes_covered"] == 10 and not m["memorised"]


def test_acgan_follows_its_labels(tmp_path: Path) -> None:
    m = _run("cgan", ["--dataset", "fashion", "--variant", "acgan", "--smoke", "--epochs",
                      "14"], tmp_path)
    assert m["training"]["steps"] == 420
    assert m["conditional_accuracy"] >= 0.9
    assert m["classes_covered"] == 10 and not m["memorised"]


def test_cyclegan_translates_into_the_target_domain(tmp_path: Path) -> None:
    m = _run("cyclegan", ["--smoke", "--epochs", "3"], tmp_path)
    assert m["steps"] == 900
    dc = m["domain_classifier"]
    assert dc["accuracy_real_test"] >= 0.95 and dc["untranslated_A_classified_B"] <= 0.05
    assert dc["translated_A_to_B_classified_B"] >= 0.8
    assert dc["translated_B_to_A_classified_A"] >= 0.8
    # the cycle is reported and closes better than a blank guess (L1 of a mid-grey image
    # against these images is above 0.2)
    assert m["cycle_A"]["l1"] < 0.1 and m["cycle_B"]["l1"] < 0.15


def test_mnist_gan_keeps_its_figures(tmp_path: Path) -> None:
    m = _run("mnist_gan", ["--smoke", "--epochs", "40"], tmp_path)
    assert m["training"]["steps"] == 1160
    assert m["classifier_score"] >= MNIST_GAN["score"] and m["cfd"] <= MNIST_GAN["cfd"]
    assert m["classes_covered"] >= MNIST_GAN["classes"] and not m["memorised"]


def test_fashion_dcgan_keeps_its_figures(tmp_path: Path) -> None:
    m = _run("fashion_dcgan", ["--smoke", "--epochs", "20"], tmp_path)
    assert m["training"]["steps"] == 480
    assert m["classifier_score"] >= DCGAN["score"] and m["cfd"] <= DCGAN["cfd"]
    assert m["classes_covered"] == 10 and not m["memorised"]


def test_fashion_vae_keeps_its_figures(tmp_path: Path) -> None:
    m = _run("fashion_vae", ["--smoke", "--epochs", "19"], tmp_path)
    assert m["training"]["steps"] == 456
    assert m["best_val_neg_elbo"] <= VAE["neg_elbo"]
    assert m["classifier_score"] >= VAE["score"] and m["cfd"] <= VAE["cfd"]
    assert m["classes_covered"] == 10 and not m["memorised"]


def test_airshower_wgan_keeps_its_figures(tmp_path: Path) -> None:
    m = _run("airshower_wgan", ["--smoke", "--epochs", "60"], tmp_path)
    assert m["steps"] == 360
    w1 = m["w1_generated_vs_real"]
    for key, limit in AIRSHOWER_W1.items():
        assert w1[key] <= limit, key
    assert m["memorisation"]["memorised"] is False
