"""Time-locked modes: additive random structure at fixed sample positions.

A stationary model has a covariance that depends only on the lag between two samples.
Recorded traces can carry more: a random constant per digitizer block and event, a fixed
pedestal pattern with a random amplitude per event, glitches or baseline ramps at fixed
positions, structure shared by several channels at fixed times. All of these add a
non-stationary, low-rank term to the covariance of the trace (channels concatenated,
``C*T`` values). :class:`TimeLockedModes` finds that term without being told its shape
and adds it to the model's output as ``sum_k z_k u_k`` with fixed patterns ``u_k`` and
independent ``z_k ~ N(0, s_k^2)`` per event.

Method
------
1. *Whitening.* Each channel is whitened with the model's stationary spectrum,
   ``w(x) = irfft(rfft(x) / sqrt(P))`` with ``P(f)`` the model's mean periodogram (floored
   at ``1e-3`` of its median). The model then has roughly unit variance in every
   direction, so that a direction's variance is comparable across frequencies. ``w`` is a
   symmetric circulant operator per channel, so the projection of a whitened trace on a
   direction ``v`` is the raw trace's projection on ``w(v)``: only one half of the data is
   ever whitened.
2. *Candidates, from one half.* The data events are split (seeded) into halves ``A`` and
   ``B``, the model's samples into ``M1`` and ``M2``. The leading right-singular vectors of
   the whitened, mean-removed ``A`` (randomised SVD, Halko et al. 2011) span the candidate
   subspace; within it the directions are rotated to the generalised eigenvectors of the
   ``A`` and ``M1`` covariances, which orders them by the ratio of data to model variance
   (the model's own non-stationary structure is not mistaken for excess).
3. *Test, on the other half.* For each candidate, the variance of the ``B`` projections is
   compared to that of the ``M2`` projections. Nothing in step 2 saw ``B`` or ``M2``, so
   under the null "the data are like the model" their ratio follows an F distribution;
   non-Gaussian projections are allowed for by the usual kurtosis correction of the
   degrees of freedom, ``d = 2 (n - 1) / (kappa - 1)`` with ``kappa >= 3`` the model
   projections' kurtosis (Box 1953). A candidate is kept at one-sided ``p < alpha / q``
   (Bonferroni over the ``q`` candidates), at most ``max_modes`` of them, most significant
   first.
4. *Strengths, from the other half.* The kept directions are orthonormalised and their
   excess covariance ``Cov_B - Cov_M2`` (``K x K``) is diagonalised; its positive
   eigenvalues are the ``s_k^2`` and its eigenvectors the final directions ``v_k``. ``B``
   is used rather than all data because ``A``'s variance along its own leading singular
   vectors is inflated by the selection (by about ``C*T / n_A`` in whitened units, far
   more than a weak mode's variance when ``C*T`` exceeds the number of events); ``B`` sees
   only the mild selection of the test itself.
5. *Denoising.* A direction estimated from ``n`` events carries an error spread evenly
   over all ``C*T`` whitened dimensions, about ``C*T / n`` in total; unwhitened, that is
   in-band noise as strong as the model's own, which would add power the data do not
   have. A Wiener filter per channel and frequency, against the error level that
   perturbation theory predicts, removes it where the modes have no power of their own;
   the filtered directions are re-orthonormalised and step 4 is repeated on them.
6. *Raw-domain check.* A mode must also hold sample by sample: over the samples its
   pattern ``u_k`` covers (weights ``u_k^2 / |u_k|^2``), the excess of ``B``'s variance
   over ``M2``'s must reach what the mode adds there, ``s_k^2 sum u_k^4 / |u_k|^2``,
   within two standard errors; a mode whose added raw variance the data do not have is
   dropped. This catches a model that lacks a *correlation* rather than a variance: a circular background correlates the last and first samples,
   recorded traces do not; whitening turns that break into a large variance excess, but an
   added mode can only add raw variance (on the real station-24 sample it had put 2.5
   times the data's standard deviation on the first samples).
7. *Sampling.* ``u_k = w^{-1}(v_k)`` (multiply the spectrum by ``sqrt(P)``) is stored as
   a ``(max_modes, C*T)`` buffer, and one ``(n, K) @ (K, C*T)`` product adds the modes.

Limits: the part is low-rank by construction. Structure with more independent degrees of
freedom than ``max_modes`` (for instance one independent offset per 128-sample block in
24 channels of 2048 samples, 384 of them) is captured only in its strongest
``max_modes`` directions.

References
----------
N. Halko, P.-G. Martinsson, J. A. Tropp, "Finding structure with randomness",
SIAM Review 53 (2011) 217 (randomised SVD).
G. E. P. Box, "Non-normality and tests on variances", Biometrika 40 (1953) 318
(kurtosis-corrected degrees of freedom of a variance ratio).
"""

from __future__ import annotations

import math

import torch
from scipy import stats
from torch import nn

__all__ = ["TimeLockedModes"]


class TimeLockedModes(nn.Module):
    """Additive modes locked to sample positions, with random Gaussian amplitudes.

    Parameters
    ----------
    n_channels, n_samples : int
        Layout ``C``, ``T`` of the traces.
    sampling_rate : float
        Sampling rate in Hz (kept for the interface; the method needs no frequencies).
    max_modes : int
        Most modes kept (size of the ``basis`` buffer).
    n_candidates : int
        Candidate directions tested (``q``; fewer when the sample is small).
    alpha : float
        Family-wise false-detection probability of the test over all candidates.
    denoise : bool
        Wiener-filter the fitted directions against their estimation noise.
    """

    def __init__(self, n_channels: int, n_samples: int, sampling_rate: float,
                 max_modes: int = 96, n_candidates: int = 128, alpha: float = 0.01,
                 denoise: bool = True) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.n_samples = n_samples
        self.sampling_rate = float(sampling_rate)
        self.max_modes = max_modes
        self.n_candidates = n_candidates
        self.alpha = alpha
        self.denoise = denoise
        self.register_buffer("active", torch.zeros(()))
        self.register_buffer("n_modes", torch.zeros((), dtype=torch.int64))
        self.register_buffer("basis", torch.zeros(max_modes, n_channels * n_samples))
        self.register_buffer("sigma", torch.zeros(max_modes))

    @property
    def is_active(self) -> bool:
        """Whether the part adds anything."""
        return bool(self.active > 0) and int(self.n_modes) > 0

    # -- fitting ---------------------------------------------------------------------------

    def _filter(self, x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """Multiply each channel's spectrum of ``x (..., C, T)`` by ``gain (C, F)``."""
        spec = torch.fft.rfft(x, dim=-1, norm="ortho") * gain
        return torch.fft.irfft(spec, n=self.n_samples, dim=-1, norm="ortho")

    @staticmethod
    def _cov(p: torch.Tensor) -> torch.Tensor:
        p = p - p.mean(0)
        return p.T @ p / max(len(p) - 1, 1)

    @staticmethod
    def _right_singular(x: torch.Tensor, q: int, gen: torch.Generator, niter: int = 2
                        ) -> torch.Tensor:
        """Leading ``q`` right-singular vectors of ``x (r, d)`` (randomised range finder
        with ``niter`` power iterations, Halko et al. 2011, Alg. 4.4), as ``(d, q)``."""
        r, d = x.shape
        width = min(q + 8, r, d)
        omega = torch.randn(d, width, generator=gen).to(x)
        y = torch.linalg.qr(x @ omega).Q                                # (r, width)
        for _ in range(niter):
            y = torch.linalg.qr(x @ torch.linalg.qr(x.T @ y).Q).Q
        _, _, vh = torch.linalg.svd(y.T @ x, full_matrices=False)      # (width, d)
        return vh[:q].T

    @staticmethod
    def _sample_variance(rows: torch.Tensor, idx: torch.Tensor, dev: torch.device
                         ) -> torch.Tensor:
        """Variance over the events ``idx`` of every value of ``rows (n, C*T)``."""
        total = torch.zeros(rows.shape[1], dtype=torch.float64, device=dev)
        square = torch.zeros_like(total)
        for i in idx.split(1024):
            x = rows[i.to(rows.device)].to(dev).double()
            total += x.sum(0)
            square += x.square().sum(0)
        mean = total / len(idx)
        return (square / len(idx) - mean.square()) * len(idx) / max(len(idx) - 1, 1)

    @staticmethod
    def _positive_eig(excess: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Positive eigenvalues of a symmetric excess covariance, largest first, with their
        eigenvectors as columns; None when there is none."""
        lam, rot = torch.linalg.eigh(excess)
        pos = lam > 0
        if not bool(pos.any()):
            return None
        return lam[pos].flip(0), rot[:, pos].flip(-1)

    @staticmethod
    def _clean_inverse_sqrt(cov: torch.Tensor, n: int) -> torch.Tensor:
        """``cov^{-1/2}`` with the eigenvalues inside the Marchenko-Pastur bulk set to the
        median eigenvalue.

        A sample covariance of ``n`` white vectors in ``q`` dimensions has eigenvalues
        spread up to ``(1 + sqrt(q / n))^2`` times the true variance, with random
        eigenvectors; inverting it as is would mix every candidate direction with all the
        others by about ``n^{-1/2}`` each. Only eigenvalues above twice the bulk's edge
        are kept (eigenvalue clipping, Laloux et al., Phys. Rev. Lett. 83 (1999) 1467); the
        margin allows for the whitened model's variance differing between directions
        (lower where the spectrum was floored), which alone can pass the plain edge.
        """
        lam, vec = torch.linalg.eigh(cov)
        level = lam.median().clamp_min(1e-30)
        edge = 2.0 * level * (1.0 + math.sqrt(len(lam) / n)) ** 2
        lam = torch.where(lam > edge, lam, level)
        return (vec * lam.rsqrt()) @ vec.T

    @staticmethod
    def _denoise(d: torch.Tensor, lam: torch.Tensor, n: int, width: int = 9) -> torch.Tensor:
        """Wiener-filter whitened unit directions ``d (K, C, T)`` with variances ``lam``
        estimated from ``n`` events.

        A direction estimated from ``n`` events with excess variance ``l`` (in units of
        the whitened noise) carries an error spread evenly over all dimensions, about
        ``(1 + l) / (n l^2)`` per dimension (first-order perturbation of the sample
        covariance's eigenvectors); weighted by ``l`` and summed over the modes this is
        the noise floor ``N`` of the modes' joint power ``P(c, f) = sum_k l_k |d_k(f)|^2``.
        Every direction is multiplied by ``max(0, 1 - N / P)`` per channel and frequency
        (``P`` smoothed over ``width`` bins), which removes the error where the modes
        have no power of their own.
        """
        spec = torch.fft.rfft(d, dim=-1, norm="ortho")                 # (K, C, F)
        lam = lam.to(spec.real)
        power = (lam[:, None, None] * spec.abs().pow(2)).sum(0)         # (C, F)
        kernel = torch.ones(1, 1, width, dtype=power.dtype, device=power.device) / width
        smooth = nn.functional.conv1d(power[:, None], kernel, padding=width // 2)[:, 0]
        noise = ((1.0 + lam) / (n * lam)).sum()
        gain = (1.0 - noise / smooth.clamp_min(1e-30)).clamp(0.0, 1.0)
        return torch.fft.irfft(spec * gain, n=d.shape[-1], dim=-1, norm="ortho")

    def fit(self, data: torch.Tensor, model: torch.Tensor, *, seed: int = 0
            ) -> dict[str, float]:
        """Fit the modes the data show and the model lacks.

        Parameters
        ----------
        data : torch.Tensor
            Training traces ``(n, C, T)``.
        model : torch.Tensor
            Traces ``(m, C, T)`` drawn from the current generator without this part.
        seed : int
            Seed of the split into halves.

        Returns
        -------
        dict
            ``n_modes``, ``n_candidates``, ``excess_variance`` (variance the modes add per
            sample, mean over samples and channels), ``largest_ratio`` (largest
            data-to-model variance ratio among the tested directions, on the test half)
            and ``min_p`` (smallest p-value, uncorrected).
        """
        self.active.zero_()
        self.n_modes.zero_()
        self.basis.zero_()
        self.sigma.zero_()
        info: dict[str, float] = {"n_modes": 0, "n_candidates": 0, "excess_variance": 0.0,
                                  "largest_ratio": 0.0, "min_p": 1.0,
                                  "raw_rejected": 0}
        n, m = len(data), len(model)
        c, t = self.n_channels, self.n_samples
        if n < 8 or m < 16 or self.max_modes == 0:
            return info
        dev = data.device
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        perm_d = torch.randperm(n, generator=gen).to(dev)
        perm_m = torch.randperm(m, generator=gen).to(model.device)
        ia, ib = perm_d[: n // 2], perm_d[n // 2:]
        im1, im2 = perm_m[: m // 2], perm_m[m // 2:]
        flat = data.reshape(n, c * t)
        mflat = model.reshape(m, c * t)

        # 1. whitening filter from the model's mean periodogram (M1 only)
        with torch.no_grad():
            psd = torch.zeros(c, t // 2 + 1, dtype=torch.float64, device=dev)
            for chunk in im1.split(256):
                spec = torch.fft.rfft(model[chunk.to(model.device)].to(dev).float(), dim=-1,
                                      norm="ortho")
                psd += spec.abs().pow(2).sum(0).double()
            psd /= len(im1)
            floor = 1e-3 * psd.median(-1, keepdim=True).values
            psd = torch.maximum(psd, floor.clamp_min(1e-30)).float()
            white, colour = psd.rsqrt(), psd.sqrt()

            # 2. candidate subspace from the whitened half A
            xa = self._filter(data[ia].float(), white).reshape(len(ia), c * t)
            xa -= xa.mean(0)
            q = min(self.n_candidates, len(ia) - 1, len(im1) // 4, c * t)
            if q < 1:
                return info
            v = self._right_singular(xa, q, gen)                         # (CT, q)
            del xa
            g = self._filter(v.T.reshape(q, c, t), white).reshape(q, c * t).T  # w(v)

            def project(rows: torch.Tensor, idx: torch.Tensor, g: torch.Tensor = g
                        ) -> torch.Tensor:
                """Projections ``(len(idx), K)`` of the events ``idx`` of ``rows`` on ``g``."""
                out = [rows[i.to(rows.device)].to(dev).float() @ g for i in idx.split(1024)]
                return torch.cat(out).double()

            pa, pm1 = project(flat, ia), project(mflat, im1)
            pb, pm2 = project(flat, ib), project(mflat, im2)

            # rotate to the generalised eigenvectors of Cov_A against a cleaned Cov_M1
            inv_sqrt = self._clean_inverse_sqrt(self._cov(pm1), len(im1))
            _, w = torch.linalg.eigh(inv_sqrt @ self._cov(pa) @ inv_sqrt)
            coef = inv_sqrt @ w.flip(-1)                                 # (q, q) columns
            coef = coef / coef.norm(dim=0, keepdim=True)

            # 3. test each candidate on B against M2
            rb, rm2 = pb @ coef, pm2 @ coef
            var_b, var_m = rb.var(0), rm2.var(0)
            cm = rm2 - rm2.mean(0)
            kurt = (cm.pow(4).mean(0) / cm.pow(2).mean(0).pow(2)).clamp_min(3.0)
            d1 = (2.0 * (len(ib) - 1) / (kurt - 1.0)).cpu().numpy()
            d2 = (2.0 * (len(im2) - 1) / (kurt - 1.0)).cpu().numpy()
            ratio = (var_b / var_m).cpu().numpy()
            pval = stats.f.sf(ratio, d1, d2)
            info["n_candidates"] = int(q)
            info["largest_ratio"] = float(ratio.max())
            info["min_p"] = float(pval.min())
            order = [int(i) for i in pval.argsort() if pval[i] < self.alpha / q]
            keep = order[: self.max_modes]
            if not keep:
                return info

            # 4. orthonormalise, diagonalise the excess covariance on B against M2
            qmat = torch.linalg.qr(coef[:, keep]).Q                     # V @ qmat orthonormal
            found = self._positive_eig(self._cov(pb @ qmat) - self._cov(pm2 @ qmat))
            if found is None:
                return info
            lam, rot = found
            k = len(lam)
            directions = (v.double() @ (qmat @ rot)).float()            # (CT, K), whitened
            if self.denoise:
                # 5. Wiener filter against the directions' estimation noise, re-estimate
                d = self._denoise(directions.T.reshape(k, c, t), lam, len(ia))
                d = torch.linalg.qr(d.reshape(k, c * t).T.double()).Q.float()   # (CT, K)
                g2 = self._filter(d.T.reshape(k, c, t), white).reshape(k, c * t).T
                found = self._positive_eig(self._cov(project(flat, ib, g2))
                                           - self._cov(project(mflat, im2, g2)))
                if found is None:
                    return info
                lam, rot = found
                k = len(lam)
                directions = (d.double() @ rot).float()
            basis = self._filter(directions.T.reshape(k, c, t), colour).reshape(k, c * t)

            # 6. the excess each mode puts on the samples it covers, in the raw domain: a
            # model lacking a *correlation* (across the wrap of a circular background,
            # which recorded traces do not have) shows an excess variance when whitened,
            # raw or projected, but an added mode adds raw variance at those samples
            square = basis.double().square()
            weight = square / square.sum(1, keepdim=True)
            var_b = self._sample_variance(flat, ib, dev)                 # (CT,)
            var_m = self._sample_variance(mflat, im2, dev)
            seen_d, seen_m = weight @ var_b, weight @ var_m              # (K,)
            predicted = lam * (weight * square).sum(1)
            error = (seen_d * math.sqrt(2.0 / (len(ib) - 1))
                     + seen_m * math.sqrt(2.0 / (len(im2) - 1)))
            consistent = (seen_d - seen_m) >= predicted - 2.0 * error
            info["raw_rejected"] = int((~consistent).sum())
            if not bool(consistent.any()):
                return info
            basis, lam = basis[consistent], lam[consistent]
            k = len(lam)

        self.basis[:k] = basis.to(self.basis)
        self.sigma[:k] = lam.sqrt().to(self.sigma)
        self.n_modes.fill_(k)
        self.active.fill_(1.0)
        added = (self.sigma[:k, None].pow(2) * self.basis[:k].pow(2)).sum(0).mean()
        info.update(n_modes=k, excess_variance=float(added))
        return info

    # -- sampling --------------------------------------------------------------------------

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Add the modes with fresh amplitudes to ``x (n, C, T)``.

        Draws ``n * n_modes`` normal numbers from ``generator``; returns ``x`` itself when
        inactive.
        """
        if not self.is_active:
            return x
        k = int(self.n_modes)
        n = x.shape[0]
        z = torch.randn(n, k, generator=generator, device=x.device, dtype=x.dtype)
        basis = self.basis[:k].to(device=x.device, dtype=x.dtype)
        z = z * self.sigma[:k].to(device=x.device, dtype=x.dtype)
        if x.requires_grad and torch.is_grad_enabled():
            return x + (z @ basis).reshape(x.shape)
        flat = x.reshape(n, -1)
        if flat.data_ptr() != x.data_ptr() or not x.is_contiguous():
            return x + (z @ basis).reshape(x.shape)
        flat.addmm_(z, basis)
        return x
