"""Adversarial and variational losses, one implementation each.

All losses return scalar tensors (means over the batch) and are written so that the
optimiser *minimises* them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "bce_discriminator_loss",
    "gaussian_kl",
    "gradient_penalty",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "nonsaturating_generator_loss",
    "wasserstein_critic_loss",
    "wasserstein_generator_loss",
]


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss of a Wasserstein GAN, ``E[D(fake)] - E[D(real)]``.

    References
    ----------
    M. Arjovsky, S. Chintala, L. Bottou, "Wasserstein GAN", arXiv:1701.07875.
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of a Wasserstein GAN, ``-E[D(fake)]``."""
    return -fake_scores.mean()


def gradient_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, *args: torch.Tensor,
                     weight: float = 10.0) -> torch.Tensor:
    """Two-sided gradient penalty of WGAN-GP on random interpolates of real and fake.

    ``weight * E[(||grad_x D(x_hat)||_2 - 1)^2]`` with ``x_hat = eps*real + (1-eps)*fake``
    and ``eps ~ U(0, 1)`` per sample.

    Parameters
    ----------
    critic : callable
        ``critic(x, *args) -> scores``; extra ``args`` (e.g. class labels) are passed on.
    real, fake : torch.Tensor
        Batches of the same shape ``(batch, ...)``; ``fake`` should be detached.
    weight : float
        Penalty coefficient lambda (10 in the paper).

    Returns
    -------
    torch.Tensor
        Scalar penalty.

    References
    ----------
    I. Gulrajani et al., "Improved Training of Wasserstein GANs", arXiv:1704.00028.
    """
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, device=real.device, dtype=real.dtype)
    mixed = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(mixed, *args)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * ((norm - 1.0) ** 2).mean()


def bce_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the original GAN (binary cross-entropy on logits).

    References
    ----------
    I. Goodfellow et al., "Generative Adversarial Nets", arXiv:1406.2661.
    """
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def nonsaturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``-E[log D(G(z))]`` (Goodfellow et al. 2014)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def lsgan_discriminator_loss(real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN discriminator loss, ``0.5 (E[(D(x)-1)^2] + E[D(G(z))^2])``.

    References
    ----------
    X. Mao et al., "Least Squares Generative Adversarial Networks", arXiv:1611.04076.
    """
    return 0.5 * (((real_out - 1.0) ** 2).mean() + (fake_out ** 2).mean())


def lsgan_generator_loss(fake_out: torch.Tensor) -> torch.Tensor:
    """Least-squares GAN generator loss, ``E[(D(G(z))-1)^2]``."""
    return ((fake_out - 1.0) ** 2).mean()


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, 1)``, summed over latent
    dimensions and averaged over the batch.

    References
    ----------
    D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", arXiv:1312.6114.
    """
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())
    return kl.flatten(1).sum(dim=1).mean()
