"""A small cost-volume stereo network whose feature encoder is any ``timm`` model.

Pipeline (all at a quarter of the input resolution, then upsampled):

1. features ``f = proj(encoder(x))`` of both views: the encoder is
   ``timm.create_model(name, features_only=True, pretrained=False)`` cut at its stride-4 level
   (``feature_info.reduction() == 4``), ``proj`` a 3x3 + 1x1 convolution to ``features``
   channels;
2. group-wise correlation volume (:func:`groupwise_correlation`)
   ``C[b, g, d, y, x] = <f_L[g](y, x), f_R[g](y, x - d)> / (features / groups)`` for
   ``d < maxdisp / 4``;
3. a few 3-D convolutions turn it into matching logits ``(B, D/4, H/4, W/4)``;
4. soft-argmin (:func:`soft_argmin`) ``d = sum_d d softmax(logits)_d`` times 4, bilinear
   upsampling to ``(H, W)``. The confidence is the largest softmax probability.

Same interface as :class:`stereo_tv.models.PSMNet`: ImageNet-normalised ``(B, 3, H, W)``
images (``H`` and ``W`` multiples of 4) -> ``(B, 1, H, W)`` disparity in pixels, with
``return_confidence=True`` also a ``(B, 1, H, W)`` confidence in ``[0, 1]``.

Example:
    >>> net = TimmStereo("resnet10t", maxdisp=16).eval()
    >>> x = torch.zeros(1, 3, 32, 48)
    >>> net(x, x).shape
    torch.Size([1, 1, 32, 48])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["TimmStereo", "groupwise_correlation", "soft_argmin"]


def groupwise_correlation(left: torch.Tensor, right: torch.Tensor, max_disp: int,
                          groups: int) -> torch.Tensor:
    """Group-wise correlation volume ``(B, G, D, H, W)`` of features ``(B, C, H, W)``.

    ``C[:, g, d, y, x]`` is the mean over the channels of group ``g`` of
    ``left[y, x] * right[y, x - d]``; 0 where ``x - d < 0``.

    >>> f = torch.ones(1, 4, 1, 3)
    >>> groupwise_correlation(f, f, 2, 2)[0, 0, :, 0].tolist()
    [[1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    """
    b, c, h, w = left.shape
    if c % groups:
        raise ValueError(f"channels {c} must be divisible by groups {groups}")
    volume = left.new_zeros(b, groups, max_disp, h, w)
    for d in range(min(max_disp, w)):
        prod = left[..., d:] * right[..., : w - d]
        volume[:, :, d, :, d:] = prod.view(b, groups, c // groups, h, w - d).mean(2)
    return volume


def soft_argmin(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected disparity ``sum_d d p_d`` and confidence ``max_d p_d`` of logits ``(B, D, H, W)``,
    both ``(B, 1, H, W)``, with ``p = softmax(logits)`` over ``D``.

    >>> d, c = soft_argmin(torch.tensor([0.0, 0.0]).view(1, 2, 1, 1))
    >>> d.item(), c.item()
    (0.5, 0.5)
    """
    p = torch.softmax(logits, dim=1)
    levels = torch.arange(logits.shape[1], device=logits.device, dtype=p.dtype).view(1, -1, 1, 1)
    return (p * levels).sum(1, keepdim=True), p.amax(1, keepdim=True)


def _conv3d(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout),
                         nn.ReLU(inplace=True))


class TimmStereo(nn.Module):
    """Cost-volume stereo with a ``timm`` encoder (see the module docstring).

    Args:
        encoder: any ``timm`` model name with a stride-4 feature level, e.g. ``"resnet10t"``,
            ``"mobilenetv3_small_050"``, ``"resnet18"``.
        maxdisp: disparity range in pixels (multiple of 4).
        features: channels of the matching features.
        groups: correlation groups (divides ``features``).
        agg_channels: channels of the 3-D aggregation.
        agg_layers: 3-D convolution blocks before the logits.
        pretrained: load timm's pretrained encoder weights (needs a download; default False).
    """

    size_multiple = 4
    min_size = 4
    loss_weights = (1.0,)

    def __init__(self, encoder: str = "resnet10t", maxdisp: int = 192, features: int = 32,
                 groups: int = 8, agg_channels: int = 16, agg_layers: int = 2,
                 pretrained: bool = False):
        super().__init__()
        import timm

        if maxdisp < 4 or maxdisp % 4:
            raise ValueError(f"maxdisp must be a positive multiple of 4, got {maxdisp}")
        if features % groups:
            raise ValueError(f"features {features} must be divisible by groups {groups}")
        probe = timm.create_model(encoder, features_only=True, pretrained=False)
        reductions = list(probe.feature_info.reduction())
        if 4 not in reductions:
            raise ValueError(f"timm model {encoder!r} has no stride-4 feature level "
                             f"(reductions {reductions})")
        index = reductions.index(4)
        del probe
        self.encoder_name = encoder
        self.maxdisp = maxdisp
        self.groups = groups
        self.encoder = timm.create_model(encoder, features_only=True, pretrained=pretrained,
                                         out_indices=(index,))
        cin = self.encoder.feature_info.channels()[0]
        self.proj = nn.Sequential(nn.Conv2d(cin, features, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(features), nn.ReLU(inplace=True),
                                  nn.Conv2d(features, features, 1))
        blocks = [_conv3d(groups, agg_channels)]
        blocks += [_conv3d(agg_channels, agg_channels) for _ in range(agg_layers - 1)]
        self.aggregate = nn.Sequential(*blocks, nn.Conv3d(agg_channels, 1, 3, padding=1))

    def extra_repr(self) -> str:
        return f"encoder={self.encoder_name!r}, maxdisp={self.maxdisp}, groups={self.groups}"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Quarter-resolution matching features ``(B, features, H/4, W/4)``."""
        return self.proj(self.encoder(x)[0])

    def forward(self, left: torch.Tensor, right: torch.Tensor, return_confidence: bool = False):
        """Disparity ``(B, 1, H, W)`` of ImageNet-normalised ``(B, 3, H, W)`` images (and the
        confidence with ``return_confidence``)."""
        if left.dim() != 4 or left.shape[1] != 3 or left.shape != right.shape:
            raise ValueError("left and right must be equal (B, 3, H, W) tensors, got "
                             f"{tuple(left.shape)} and {tuple(right.shape)}")
        h, w = left.shape[-2:]
        if h % 4 or w % 4:
            raise ValueError(f"TimmStereo needs H and W multiples of 4, got {h}x{w}; pad with "
                             "stereo_tv.predict.pad_to_multiple")
        feats = self.features(torch.cat([left, right]))
        fl, fr = feats.chunk(2)
        volume = groupwise_correlation(fl, fr, self.maxdisp // 4, self.groups)
        logits = self.aggregate(volume).squeeze(1)
        disp, conf = soft_argmin(logits)
        disp = F.interpolate(disp * 4.0, size=(h, w), mode="bilinear", align_corners=False)
        if not return_confidence:
            return disp
        conf = F.interpolate(conf, size=(h, w), mode="bilinear", align_corners=False)
        return disp, conf
