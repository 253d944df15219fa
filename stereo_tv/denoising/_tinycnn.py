"""Tiny CNN baselines (paper Table 3 / A4: "Tiny CNN", 326 and 1200 parameters).

The paper gives only the parameter counts. Ours is a residual (DnCNN-style) stack of 3x3
convolutions with ReLU between them that predicts the noise: ``z = x - f(x)``.

* ``tinycnn-326``:  widths 1 -> 5 -> 5 -> 1, all biases: 50 + 230 + 46 = 326 parameters;
* ``tinycnn-1200``: widths 1 -> 10 -> 11 -> 1, no bias on the last layer: 100 + 1001 + 99 = 1200.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TinyCNN"]


class TinyCNN(nn.Module):
    """Residual CNN denoiser ``z = x - f(x)``, ``f`` a stack of 3x3 conv + ReLU.

    Args:
        widths: hidden channel counts, e.g. ``(5, 5)``.
        channels: image channels (input = output).
        last_bias: whether the last convolution has a bias.

    Shapes: ``x`` (B, channels, H, W) -> (B, channels, H, W).

    >>> sum(p.numel() for p in TinyCNN((5, 5)).parameters())
    326
    >>> sum(p.numel() for p in TinyCNN((10, 11), last_bias=False).parameters())
    1200
    """

    def __init__(self, widths: tuple[int, ...] = (5, 5), channels: int = 1,
                 last_bias: bool = True):
        super().__init__()
        sizes = (channels, *widths, channels)
        self.widths = tuple(widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1, padding_mode="reflect",
                      bias=last_bias or i < len(sizes) - 2)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))
        nn.init.zeros_(self.convs[-1].weight)  # starts as the identity map z = x
        if self.convs[-1].bias is not None:
            nn.init.zeros_(self.convs[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x
        for i, conv in enumerate(self.convs):
            r = conv(r)
            if i < len(self.convs) - 1:
                r = torch.relu(r)
        return x - r

    def extra_repr(self) -> str:
        return f"widths={self.widths}"
