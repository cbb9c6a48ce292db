"""Reference image pipelines built on the shared training core of rnognoise.

The noise-modelling method of rnognoise was first tried on images. These pipelines keep
those experiments runnable and tested, on well-known problems with known answers, and
exercise :mod:`rnognoise.core` (losses, training loop, checkpoints) outside the noise
models. Each pipeline is a module run as ``python -m pipelines.NAME``:

MNIST / Fashion-MNIST family
    - :mod:`pipelines.mnist_gan` — fully connected GAN (Goodfellow et al. 2014) on MNIST.
    - :mod:`pipelines.fashion_dcgan` — DCGAN (Radford et al. 2015) on Fashion-MNIST.
    - :mod:`pipelines.fashion_vae` — convolutional VAE (Kingma & Welling 2013) on
      Fashion-MNIST.
    - :mod:`pipelines.cgan` — conditional DCGAN and AC-GAN (Odena et al. 2017) on MNIST or
      Fashion-MNIST.

Paired, unpaired and physics family
    - :mod:`pipelines.airshower_wgan` — WGAN-GP on simulated cosmic-ray air-shower
      footprints (simulator in :mod:`pipelines.airshower_sim`).
    - :mod:`pipelines.pix2pix` — U-Net + PatchGAN on paired images (Isola et al. 2017).
    - :mod:`pipelines.cyclegan` — CycleGAN on unpaired image folders (Zhu et al. 2017).
    - :mod:`pipelines.srgan` — super-resolution GAN (Ledig et al. 2017).

Shared pieces
    - :mod:`pipelines.cli` — command-line skeleton (shared options, one-line errors).
    - :mod:`pipelines.batches` — deterministic batch selection and step counts.
    - :mod:`pipelines.outputs` — PNG image grids, loss curves, ``metrics.json``.
    - :mod:`pipelines.run` — the course of a run: open it, train, write its outputs.
    - :mod:`pipelines.mnist_family` — data, GAN training and evaluation shared by the
      MNIST / Fashion-MNIST pipelines.
    - :mod:`pipelines.data` — IDX (MNIST) reader, embedded default data sets, image-folder
      loaders and procedural paired/unpaired/super-resolution data (one module each).
    - :mod:`pipelines.evaluation` — metrics of generated images.
"""

from __future__ import annotations

__all__: list[str] = []
