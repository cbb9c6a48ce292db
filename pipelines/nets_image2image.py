"""Networks of the image-to-image pipelines: U-Net, ResNet generator, PatchGAN, SRGAN nets.

All generators map images in ``[-1, 1]`` to images in ``[-1, 1]`` (tanh output). The
defaults are the published configurations; the pipelines' ``--smoke`` runs shrink the
widths and depths only.

References
----------
P. Isola, J.-Y. Zhu, T. Zhou, A. A. Efros, "Image-to-Image Translation with Conditional
Adversarial Networks", CVPR 2017, arXiv:1611.07004 (U-Net, PatchGAN).
J.-Y. Zhu, T. Park, P. Isola, A. A. Efros, "Unpaired Image-to-Image Translation using
Cycle-Consistent Adversarial Networks", ICCV 2017, arXiv:1703.10593 (ResNet generator,
image pool).
J. Johnson, A. Alahi, L. Fei-Fei, "Perceptual Losses for Real-Time Style Transfer and
Super-Resolution", ECCV 2016, arXiv:1603.08155 (the ResNet generator's design).
C. Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network", CVPR 2017, arXiv:1609.04802 (SRResNet generator, SRGAN discriminator).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ImagePool",
    "PatchDiscriminator",
    "ResnetGenerator",
    "SRDiscriminator",
    "SRGenerator",
    "UNetGenerator",
    "init_weights",
    "make_norm",
    "translate",
]


def make_norm(kind: str, channels: int) -> nn.Module:
    """``"batch"``, ``"instance"`` (no affine, no running stats, as in CycleGAN) or ``"none"``."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; valid: batch, instance, none")


def init_weights(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Initialise convolutions with N(0, std) and norm scales with N(1, std), biases 0.

    The initialisation of pix2pix and CycleGAN (after DCGAN). Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


@torch.no_grad()
def translate(gen: nn.Module, images: np.ndarray, *, chunk: int = 32) -> np.ndarray:
    """Apply a generator to images in [0, 1] (evaluation mode); returns images in [0, 1].

    The images are scaled to [-1, 1] for the network and its output back to [0, 1]
    (clipped), ``chunk`` images at a time; the generator's training mode is restored.

    Parameters
    ----------
    gen : torch.nn.Module
        Generator of images in [-1, 1].
    images : numpy.ndarray
        ``(N, C, H, W)`` float32 in [0, 1].
    chunk : int
        Images per forward pass.

    Returns
    -------
    numpy.ndarray
        The generated images, ``(N, C', H', W')`` in [0, 1].
    """
    was_training = gen.training
    gen.eval()
    out = [((gen(torch.from_numpy(images[s:s + chunk]) * 2.0 - 1.0) + 1.0) / 2.0)
           .clamp(0.0, 1.0).numpy() for s in range(0, len(images), chunk)]
    gen.train(was_training)
    return np.concatenate(out)


class UNetGenerator(nn.Module):
    """U-Net encoder-decoder with skip connections (pix2pix generator).

    ``num_downs`` stride-2 4x4 convolutions halve the image down to
    ``size / 2**num_downs``; with 256x256 images and ``num_downs=8`` this is the paper's
    1x1 bottleneck: encoder C64-C128-C256-C512-C512-C512-C512-C512, decoder
    CD512-CD512-CD512-C512-C256-C128-C64 (D: dropout 0.5), LeakyReLU(0.2) in the encoder,
    ReLU in the decoder, no norm on the first encoder layer and the bottleneck.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels.
    num_downs : int
        Number of down-sampling steps; image sides must be divisible by ``2**num_downs``.
    ngf : int
        Filters of the first layer (64 in the paper); later layers have up to ``8*ngf``.
    norm : str
        ``"batch"`` (paper), ``"instance"`` or ``"none"``.
    dropout : bool
        Dropout 0.5 in the decoder layers between two ``8*ngf`` layers (the paper's noise).

    Examples
    --------
    >>> net = UNetGenerator(3, 3, num_downs=5, ngf=4)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, num_downs: int = 8,
                 ngf: int = 64, norm: str = "batch", dropout: bool = True) -> None:
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be >= 2, got {num_downs}")
        self.num_downs = num_downs
        ch = [ngf * min(2 ** i, 8) for i in range(num_downs)]
        bias = norm != "batch"
        last = num_downs - 1
        down: list[nn.Module] = []
        up: list[nn.Module] = []
        for i in range(num_downs):
            src = in_channels if i == 0 else ch[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(src, ch[i], 4, 2, 1, bias=bias or i in (0, last)))
            if 0 < i < last:
                layers.append(make_norm(norm, ch[i]))
            down.append(nn.Sequential(*layers))
        for i in range(num_downs):
            src = ch[i] if i == last else 2 * ch[i]
            if i == 0:
                up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(src, out_channels, 4, 2, 1),
                                        nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(src, ch[i - 1], 4, 2, 1, bias=bias),
                      make_norm(norm, ch[i - 1])]
            if dropout and i < last and ch[i] == ch[i - 1] == 8 * ngf:
                layers.append(nn.Dropout(0.5))
            up.append(nn.Sequential(*layers))
        self.down = nn.ModuleList(down)
        self.up = nn.ModuleList(up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        h = self.up[-1](skips[-1])
        for i in range(self.num_downs - 2, -1, -1):
            h = self.up[i](torch.cat([skips[i], h], dim=1))
        return h


class _ResnetBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        bias = norm != "batch"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(norm, channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
            make_norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """ResNet generator of CycleGAN: c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3.

    Parameters
    ----------
    in_channels, out_channels : int
        Image channels.
    ngf : int
        Filters of the first layer (64 in the paper).
    n_blocks : int
        Residual blocks (9 for 256x256 images, 6 for 128x128 in the paper).
    n_downsampling : int
        Stride-2 convolutions (2 in the paper); sides must be divisible by ``2**n``.
    norm : str
        ``"instance"`` (paper), ``"batch"`` or ``"none"``.

    Examples
    --------
    >>> net = ResnetGenerator(3, 3, ngf=4, n_blocks=1)
    >>> net(torch.zeros(1, 3, 16, 16)).shape
    torch.Size([1, 3, 16, 16])
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 n_blocks: int = 9, n_downsampling: int = 2, norm: str = "instance") -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3),
                                   nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   make_norm(norm, ngf), nn.ReLU()]
        ch = ngf
        for _ in range(n_downsampling):
            layers += [nn.Conv2d(ch, 2 * ch, 3, 2, 1, bias=bias), make_norm(norm, 2 * ch),
                       nn.ReLU()]
            ch *= 2
        layers += [_ResnetBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias),
                       make_norm(norm, ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: one real/fake logit per overlapping image patch.

    With ``n_layers=3`` the receptive field is 70x70 pixels (the paper's default):
    C64-C128-C256-C512 (4x4 convolutions, stride 2 except the last, LeakyReLU 0.2, no norm on
    the first) and a final 4x4 convolution to one channel.

    Parameters
    ----------
    in_channels : int
        Channels of the input (for pix2pix: input and output image concatenated).
    ndf : int
        Filters of the first layer (64 in the paper).
    n_layers : int
        Stride-2 layers; the receptive field is 70 px for 3, 34 px for 2, 16 px for 1.
    norm : str
        ``"batch"`` (pix2pix), ``"instance"`` (CycleGAN) or ``"none"``.

    Examples
    --------
    >>> PatchDiscriminator(6, ndf=4, n_layers=2)(torch.zeros(1, 6, 32, 32)).shape
    torch.Size([1, 1, 6, 6])
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3,
                 norm: str = "batch") -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1),
                                   nn.LeakyReLU(0.2)]
        ch = ndf
        for n in range(1, n_layers + 1):
            nxt = ndf * min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ch, nxt, 4, stride, 1, bias=bias), make_norm(norm, nxt),
                       nn.LeakyReLU(0.2)]
            ch = nxt
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _SRResidualBlock(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width),
                                  nn.PReLU(width), nn.Conv2d(width, width, 3, 1, 1),
                                  nn.BatchNorm2d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRGenerator(nn.Module):
    """SRResNet generator of SRGAN: residual blocks and pixel-shuffle (sub-pixel) upsampling.

    k9n64 + PReLU; ``n_blocks`` x (k3n64, BN, PReLU, k3n64, BN, skip); k3n64 + BN + global
    skip; ``log2(scale)`` x (k3n256, pixel shuffle x2, PReLU); k9n3. A tanh maps the output
    to ``[-1, 1]``. With ``bicubic_skip`` the tanh is dropped and the network's output is
    added to the bicubic upsampling of its input (residual learning as in VDSR, Kim et al.
    2016): it starts at bicubic quality and learns only the missing detail.

    Parameters
    ----------
    channels : int
        Image channels.
    width : int
        Feature maps (64 in the paper).
    n_blocks : int
        Residual blocks (16 in the paper).
    scale : int
        Upscaling factor, a power of two (4 in the paper).
    bicubic_skip : bool
        Add the bicubic upsampling of the input to the output (no tanh); same parameters.

    Examples
    --------
    >>> SRGenerator(3, width=8, n_blocks=1, scale=4)(torch.zeros(1, 3, 8, 8)).shape
    torch.Size([1, 3, 32, 32])
    """

    def __init__(self, channels: int = 3, width: int = 64, n_blocks: int = 16,
                 scale: int = 4, *, bicubic_skip: bool = False) -> None:
        super().__init__()
        n_up = int(round(math.log2(scale)))
        if scale < 2 or 2 ** n_up != scale:
            raise ValueError(f"scale must be a power of two >= 2, got {scale}")
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, 1, 4), nn.PReLU(width))
        self.body = nn.Sequential(*[_SRResidualBlock(width) for _ in range(n_blocks)],
                                  nn.Conv2d(width, width, 3, 1, 1), nn.BatchNorm2d(width))
        ups: list[nn.Module] = []
        for _ in range(n_up):
            ups += [nn.Conv2d(width, 4 * width, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(width)]
        self.scale = scale
        self.bicubic_skip = bicubic_skip
        last: list[nn.Module] = [] if bicubic_skip else [nn.Tanh()]
        self.tail = nn.Sequential(*ups, nn.Conv2d(width, channels, 9, 1, 4), *last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        out = self.tail(h + self.body(h))
        if self.bicubic_skip:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="bicubic",
                                      align_corners=False)
        return out


class SRDiscriminator(nn.Module):
    """SRGAN discriminator: eight 3x3 conv layers (64-64-128-128-256-256-512-512 filters,
    stride 2 on every second), LeakyReLU 0.2, BN, then Dense(1024), LeakyReLU, Dense(1).

    The paper's 96x96 crops reach the dense layers as 6x6 maps; an adaptive average pool to
    ``pool x pool`` makes the net accept other sizes (it is the identity at ``size/16 == pool``).
    Returns logits (the paper's sigmoid is inside the loss).

    Parameters
    ----------
    channels : int
        Image channels.
    width : int
        Filters of the first layer (64 in the paper).
    pool : int
        Side of the feature map fed to the dense layer (6 for 96x96 inputs).
    hidden : int
        Units of the dense layer (1024 in the paper).

    Examples
    --------
    >>> SRDiscriminator(3, width=4, pool=2, hidden=8)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 1])
    """

    def __init__(self, channels: int = 3, width: int = 64, pool: int = 6,
                 hidden: int = 1024) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2)]
        ch = width
        for i, mult in enumerate([1, 2, 2, 4, 4, 8, 8]):
            nxt = width * mult
            stride = 2 if i % 2 == 0 else 1
            layers += [nn.Conv2d(ch, nxt, 3, stride, 1), nn.BatchNorm2d(nxt), nn.LeakyReLU(0.2)]
            ch = nxt
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(pool))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(ch * pool * pool, hidden),
                                  nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ImagePool(nn.Module):
    """History of generated images (Shrivastava et al. 2017, used by CycleGAN with size 50).

    Until the pool is full every image is stored and returned; afterwards each image is, with
    probability 1/2, swapped for a random stored one (which is returned instead). The pool
    is a buffer, so it is checkpointed with the module and a resumed run continues exactly.

    Parameters
    ----------
    size : int
        Images kept (50 in CycleGAN; 0 disables the pool).
    shape : tuple of int
        Shape ``(channels, height, width)`` of one image.
    """

    def __init__(self, size: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros((max(size, 1), *shape)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def query(self, images: torch.Tensor, generator: torch.Generator | None = None,
              ) -> torch.Tensor:
        """Return a batch drawn from the pool after offering it ``images`` (detached)."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for img in images:
            n = int(self.count)
            if n < self.size:
                self.images[n] = img
                self.count += 1
                out.append(img)
            elif torch.rand((), generator=generator).item() < 0.5:
                j = int(torch.randint(self.size, (), generator=generator))
                out.append(self.images[j].clone())
                self.images[j] = img
            else:
                out.append(img)
        return torch.stack(out)
