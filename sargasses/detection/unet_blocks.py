"""mfai's UNet rewritten for CPU inference: its first level runs on 2 x 2 blocks of pixels, with the same result.

The first level of a thin UNet (4 channels at full resolution for the default model) is most of its cost on a CPU,
and mostly waste: ONNX Runtime computes convolutions on blocks of 16 channels, so a 4-channel layer computes 16 and
then converts its output back to 4 channels for the next layer (docs/performance.md). Here every tensor of that
level is held as 2 x 2 blocks of pixels (space-to-depth: 4 channels at H x W become 16 at H/2 x W/2), and each of
its layers becomes an ordinary layer on that grid:

- a 3x3 convolution C -> O: a 3x3 convolution 4C -> 4O on the block grid (a pixel's neighbours lie in its own
  block or the next one); the first one, on the input image, is a 4x4 convolution of stride 2;
- the 2x2 max pool to the second level: the maximum over each block's 4 pixels;
- the up-convolution (2x2, stride 2) from the second level: a 1x1 convolution onto the block grid;
- the final 1x1 convolution: 1x1 on the block grid, then the blocks back to pixels (DepthToSpace).

Zero padding falls on the same pixels, so the output is the original's up to float rounding; `rewritten` checks
that on a sample and returns None where it does not hold. Block channels are ordered c * 4 + 2 * a + b (channel c,
row a and column b inside the block), as torch's pixel_shuffle orders them.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

TOLERANCE = 1e-4  # largest probability difference accepted between the rewrite and the original (float rounding)


def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A convolution followed by batch norm (eval mode) as one convolution's weight and bias."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    weight = conv.weight * scale[:, None, None, None]
    bias = norm.bias - norm.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    return weight, bias


def _blocked_3x3(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, 3, 3) weight -> (4O, 4C, 3, 3) weight of the same convolution on the 2x2 block grid.

    Output pixel (a', b') of block (i, j) reads pixel (2i + a' + dy, 2j + b' + dx), which is pixel (a, b) of block
    (i + ky - 1, j + kx - 1) with dy = 2 (ky - 1) + a - a'."""
    o, c = weight.shape[:2]
    out = weight.new_zeros(o, 4, c, 4, 3, 3)
    for a2, b2, a, b in itertools.product(range(2), repeat=4):  # output pixel, input pixel in their blocks
        for ky, kx in itertools.product(range(3), repeat=2):  # input block, relative to the output's
            dy, dx = 2 * (ky - 1) + a - a2, 2 * (kx - 1) + b - b2
            if -1 <= dy <= 1 and -1 <= dx <= 1:
                out[:, 2 * a2 + b2, :, 2 * a + b, ky, kx] = weight[:, :, dy + 1, dx + 1]
    return out.reshape(4 * o, 4 * c, 3, 3)


def _strided_4x4(weight: torch.Tensor) -> torch.Tensor:
    """(O, C, 3, 3) weight -> (4O, C, 4, 4) weight of a stride-2 convolution (padding 1) from pixels to blocks:
    output pixel (a, b) of block (i, j) reads rows 2i + a - 1 .. 2i + a + 1, taps a .. a + 2 of the 4x4 window."""
    o, c = weight.shape[:2]
    out = weight.new_zeros(o, 4, c, 4, 4)
    for a in range(2):
        for b in range(2):
            out[:, 2 * a + b, :, a : a + 3, b : b + 3] = weight
    return out.reshape(4 * o, c, 4, 4)


def _repeat(bias: torch.Tensor) -> torch.Tensor:
    return bias.repeat_interleave(4)


class BlockedUNet(nn.Module):
    """An mfai UNet whose first level works on 2x2 pixel blocks (see the module docstring); the rest is the
    network's own layers. Takes (B, C, H, W) with H and W multiples of 32, returns the same logits."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        enc1, dec1 = unet.encoder1, unet.decoder1
        w1, b1 = _fold(enc1[0], enc1[1])
        w2, b2 = _fold(enc1[3], enc1[4])
        w3, b3 = _fold(dec1[0], dec1[1])
        w4, b4 = _fold(dec1[3], dec1[4])
        self.enc1_first = nn.Conv2d(w1.shape[1], 4 * w1.shape[0], 4, stride=2, padding=1)
        self.enc1_second = nn.Conv2d(4 * w2.shape[1], 4 * w2.shape[0], 3, padding=1)
        self.dec1_first = nn.Conv2d(4 * w3.shape[1], 4 * w3.shape[0], 3, padding=1)
        self.dec1_second = nn.Conv2d(4 * w4.shape[1], 4 * w4.shape[0], 3, padding=1)
        for conv, w, b, make in (
            (self.enc1_first, w1, b1, _strided_4x4),
            (self.enc1_second, w2, b2, _blocked_3x3),
            (self.dec1_first, w3, b3, _blocked_3x3),
            (self.dec1_second, w4, b4, _blocked_3x3),
        ):
            conv.weight.data = make(w.detach())
            conv.bias.data = _repeat(b.detach())
        up = unet.upconv1  # ConvTranspose2d(C, O, 2, stride 2): weight (C, O, 2, 2)
        c, o = up.weight.shape[:2]
        self.up1 = nn.Conv2d(c, 4 * o, 1)
        self.up1.weight.data = up.weight.detach().permute(1, 2, 3, 0).reshape(4 * o, c, 1, 1).clone()
        self.up1.bias.data = _repeat(up.bias.detach())
        final = unet.conv  # 1x1, O_in -> K
        k, f = final.weight.shape[:2]
        weight = final.weight.new_zeros(k, 4, f, 4)
        for s in range(4):
            weight[:, s, :, s] = final.weight[:, :, 0, 0]
        self.final = nn.Conv2d(4 * f, 4 * k, 1)
        self.final.weight.data = weight.reshape(4 * k, 4 * f, 1, 1).detach()
        self.final.bias.data = _repeat(final.bias.detach())
        self.features = w1.shape[0]
        self.unet = unet

    def _pool(self, blocks: torch.Tensor) -> torch.Tensor:
        """The 2x2 max pool: the largest of each block's 4 pixels, channel by channel."""
        b, _, h, w = blocks.shape
        return blocks.reshape(b, self.features, 4, h, w).amax(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.unet
        enc1 = F.relu(self.enc1_second(F.relu(self.enc1_first(x))))
        enc2 = u.encoder2(self._pool(enc1))
        enc3 = u.encoder3(u.max_pool(enc2))
        enc4 = u.encoder4(u.max_pool(enc3))
        bottleneck = u.bottleneck(u.max_pool(enc4))
        dec4 = u.decoder4(torch.cat((u.upconv4(bottleneck), enc4), dim=1))
        dec3 = u.decoder3(torch.cat((u.upconv3(dec4), enc3), dim=1))
        dec2 = u.decoder2(torch.cat((u.upconv2(dec3), enc2), dim=1))
        dec1 = torch.cat((self.up1(dec2), enc1), dim=1)
        dec1 = F.relu(self.dec1_second(F.relu(self.dec1_first(dec1))))
        return F.pixel_shuffle(self.final(dec1), 2)


def rewritten(module: Any, band_count: int) -> Any | None:
    """A copy of the probability module whose UNet runs on 2x2 blocks, or None when its network is not an mfai
    UNet or the rewrite does not give the same probabilities on a sample (checked here, every time)."""
    import copy

    from mfai.pytorch.models.unet import UNet

    network = getattr(module, "network", None)
    if type(network) is not UNet:
        return None
    fast = copy.deepcopy(module).eval()
    fast.network = BlockedUNet(fast.network).eval()
    generator = torch.Generator().manual_seed(0)
    sample = torch.rand(2, band_count, 96, 64, generator=generator) * 0.2
    with torch.inference_mode():
        same = (fast(sample) - module(sample)).abs().max().item() <= TOLERANCE
    return fast if same else None
