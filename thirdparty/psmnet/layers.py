"""Building blocks of PSMNet (Chang & Chen, CVPR 2018): feature extractor, cost volume, regression.

Written from the paper (Sec. 3, Table 1) and from the official checkpoint's key / shape list, so
that attribute names and tensor shapes match the released weights. Sizes below use
``H, W`` for the input and ``D`` for ``maxdisp``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "convbn",
    "convbn_3d",
    "BasicBlock",
    "FeatureExtraction",
    "build_concat_volume",
    "disparity_regression",
    "DisparityRegression",
    "upsample_cost",
]


def convbn(in_planes: int, out_planes: int, kernel_size: int, stride: int, pad: int,
           dilation: int) -> nn.Sequential:
    """2-D convolution without bias followed by batch norm; a dilated conv pads by its dilation."""
    padding = dilation if dilation > 1 else pad
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, padding=padding,
                  dilation=dilation, bias=False),
        nn.BatchNorm2d(out_planes),
    )


def convbn_3d(in_planes: int, out_planes: int, kernel_size: int, stride: int,
              pad: int) -> nn.Sequential:
    """3-D convolution without bias followed by batch norm."""
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, kernel_size, stride=stride, padding=pad, bias=False),
        nn.BatchNorm3d(out_planes),
    )


class BasicBlock(nn.Module):
    """Residual block of the feature CNN (paper Table 1, conv1_x ... conv4_x).

    Unlike ResNet, PSMNet applies no ReLU after the residual sum; the checkpoints depend on it.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None,
                 pad: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Sequential(convbn(inplanes, planes, 3, stride, pad, dilation),
                                   nn.ReLU(inplace=True))
        self.conv2 = convbn(planes, planes, 3, 1, pad, dilation)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class FeatureExtraction(nn.Module):
    """Residual CNN + spatial pyramid pooling (SPP) module: (B,3,H,W) -> (B,32,H/4,W/4).

    Pooling windows are 64, 32, 16 and 8 at quarter resolution, so the padded input must be at
    least 256 pixels high and wide. The pooled maps are upsampled bilinearly back to quarter
    resolution with ``align_corners`` (True reproduces the released weights).
    """

    def __init__(self, align_corners: bool = True):
        super().__init__()
        self.align_corners = align_corners
        self.inplanes = 32
        self.firstconv = nn.Sequential(
            convbn(3, 32, 3, 2, 1, 1), nn.ReLU(inplace=True),
            convbn(32, 32, 3, 1, 1, 1), nn.ReLU(inplace=True),
            convbn(32, 32, 3, 1, 1, 1), nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_layer(32, 3, stride=1, pad=1, dilation=1)
        self.layer2 = self._make_layer(64, 16, stride=2, pad=1, dilation=1)
        self.layer3 = self._make_layer(128, 3, stride=1, pad=1, dilation=1)
        self.layer4 = self._make_layer(128, 3, stride=1, pad=1, dilation=2)
        self.branch1 = self._make_branch(64)
        self.branch2 = self._make_branch(32)
        self.branch3 = self._make_branch(16)
        self.branch4 = self._make_branch(8)
        self.lastconv = nn.Sequential(
            convbn(320, 128, 3, 1, 1, 1), nn.ReLU(inplace=True),
            nn.Conv2d(128, 32, kernel_size=1, padding=0, stride=1, bias=False),
        )

    @staticmethod
    def _make_branch(window: int) -> nn.Sequential:
        return nn.Sequential(nn.AvgPool2d((window, window), stride=(window, window)),
                             convbn(128, 32, 1, 1, 0, 1), nn.ReLU(inplace=True))

    def _make_layer(self, planes: int, blocks: int, stride: int, pad: int,
                    dilation: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, pad, dilation)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, 1, None, pad, dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.firstconv(x)
        out = self.layer1(out)
        raw = self.layer2(out)
        skip = self.layer4(self.layer3(raw))
        size = skip.shape[-2:]
        pyramid = [
            F.interpolate(branch(skip), size=size, mode="bilinear",
                          align_corners=self.align_corners)
            for branch in (self.branch4, self.branch3, self.branch2, self.branch1)
        ]
        return self.lastconv(torch.cat([raw, skip, *pyramid], dim=1))

    def extra_repr(self) -> str:
        return f"align_corners={self.align_corners}"


def build_concat_volume(ref: torch.Tensor, target: torch.Tensor, levels: int) -> torch.Tensor:
    """Concatenation cost volume (paper Sec. 3.3): (B,C,h,w) x 2 -> (B,2C,levels,h,w).

    Slice ``d`` holds the left features and the right features shifted right by ``d`` pixels;
    columns ``x < d`` (no match inside the image) stay zero.
    """
    b, c, h, w = ref.shape
    cost = ref.new_zeros(b, 2 * c, levels, h, w)
    for d in range(levels):
        cost[:, :c, d, :, d:] = ref[:, :, :, d:]
        cost[:, c:, d, :, d:] = target[:, :, :, : w - d]
    return cost


def upsample_cost(cost: torch.Tensor, maxdisp: int, size: tuple[int, int],
                  align_corners: bool) -> torch.Tensor:
    """(B,1,D/4,H/4,W/4) logits -> (B,D,H,W) by trilinear interpolation."""
    out = F.interpolate(cost, size=(maxdisp, *size), mode="trilinear",
                        align_corners=align_corners)
    return out.squeeze(1)


def disparity_regression(prob: torch.Tensor) -> torch.Tensor:
    """Soft argmin (paper Eq. 1): (B,D,H,W) probabilities -> (B,H,W) disparity sum_d d * p_d.

    The disparity values are built on the input's device and dtype, never on a fixed device.
    """
    values = torch.arange(prob.shape[1], device=prob.device, dtype=prob.dtype)
    return torch.einsum("bdhw,d->bhw", prob, values)


class DisparityRegression(nn.Module):
    """Module form of :func:`disparity_regression` (no parameters)."""

    def __init__(self, maxdisp: int):
        super().__init__()
        self.maxdisp = maxdisp

    def forward(self, prob: torch.Tensor) -> torch.Tensor:
        return disparity_regression(prob)

    def extra_repr(self) -> str:
        return f"maxdisp={self.maxdisp}"
