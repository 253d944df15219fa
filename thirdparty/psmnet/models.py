"""The two PSMNet variants of the paper: stacked hourglass (Sec. 3.4, Fig. 1) and basic.

Both map a normalized pair (B,3,H,W) with H, W multiples of 16 (at least 256) to disparity.
Attribute names follow the official checkpoints (``feature_extraction``, ``dres0`` ...,
``classif1..3`` / ``classify``) so that those load with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .layers import (
    FeatureExtraction,
    build_concat_volume,
    convbn_3d,
    disparity_regression,
    upsample_cost,
)

__all__ = ["Hourglass", "PSMNetStackHourglass", "PSMNetBasic"]


class Hourglass(nn.Module):
    """3-D encoder-decoder (paper Table 1, 3Dstack_x): two stride-2 convs, two deconvs.

    ``forward(x, presqu, postsqu)`` returns ``(out, pre, post)``: ``pre`` and ``post`` are the
    1/8-resolution intermediate maps that the next hourglass re-uses as skip connections.
    """

    def __init__(self, inplanes: int):
        super().__init__()
        c = inplanes * 2
        self.conv1 = nn.Sequential(convbn_3d(inplanes, c, 3, 2, 1), nn.ReLU(inplace=True))
        self.conv2 = convbn_3d(c, c, 3, 1, 1)
        self.conv3 = nn.Sequential(convbn_3d(c, c, 3, 2, 1), nn.ReLU(inplace=True))
        self.conv4 = nn.Sequential(convbn_3d(c, c, 3, 1, 1), nn.ReLU(inplace=True))
        self.conv5 = nn.Sequential(
            nn.ConvTranspose3d(c, c, 3, padding=1, output_padding=1, stride=2, bias=False),
            nn.BatchNorm3d(c),
        )
        self.conv6 = nn.Sequential(
            nn.ConvTranspose3d(c, inplanes, 3, padding=1, output_padding=1, stride=2, bias=False),
            nn.BatchNorm3d(inplanes),
        )

    def forward(self, x: torch.Tensor, presqu: torch.Tensor | None,
                postsqu: torch.Tensor | None):
        out = self.conv1(x)                                   # 1/8
        pre = self.conv2(out)
        pre = F.relu(pre if postsqu is None else pre + postsqu)
        out = self.conv4(self.conv3(pre))                     # 1/16
        skip = pre if presqu is None else presqu
        post = F.relu(self.conv5(out) + skip)                 # 1/8
        out = self.conv6(post)                                # 1/4
        return out, pre, post


def _init_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class _PSMNetBase(nn.Module):
    """Shared parts: features, cost volume, full-resolution soft-argmin regression."""

    min_size = 256
    size_multiple = 16

    def __init__(self, maxdisp: int, align_corners: bool, use_checkpoint: bool,
                 disp_multiple: int):
        super().__init__()
        if maxdisp <= 0 or maxdisp % disp_multiple:
            raise ValueError(f"maxdisp must be a positive multiple of {disp_multiple}, "
                             f"got {maxdisp}")
        self.maxdisp = maxdisp
        self.align_corners = align_corners
        self.use_checkpoint = use_checkpoint
        self.feature_extraction = FeatureExtraction(align_corners=align_corners)
        self.dres0 = nn.Sequential(convbn_3d(64, 32, 3, 1, 1), nn.ReLU(inplace=True),
                                   convbn_3d(32, 32, 3, 1, 1), nn.ReLU(inplace=True))
        self.dres1 = nn.Sequential(convbn_3d(32, 32, 3, 1, 1), nn.ReLU(inplace=True),
                                   convbn_3d(32, 32, 3, 1, 1))

    def _maybe_checkpoint(self, fn, *args):
        if self.use_checkpoint and self.training and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def _cost_volume(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        ref = self.feature_extraction(left)
        target = self.feature_extraction(right)
        cost = build_concat_volume(ref, target, self.maxdisp // 4)
        del ref, target
        cost0 = self.dres0(cost)
        del cost
        return self.dres1(cost0) + cost0

    def _regress(self, cost: torch.Tensor, size: tuple[int, int]):
        logits = upsample_cost(cost, self.maxdisp, size, self.align_corners)
        if torch.is_grad_enabled():
            prob = F.softmax(logits, dim=1)
        else:  # inference: the same softmax, computed in place to hold one (B,D,H,W) volume
            prob = logits.sub_(logits.amax(dim=1, keepdim=True)).exp_()
            prob.div_(prob.sum(dim=1, keepdim=True))
        del logits
        return disparity_regression(prob), prob

    def extra_repr(self) -> str:
        return (f"maxdisp={self.maxdisp}, align_corners={self.align_corners}, "
                f"use_checkpoint={self.use_checkpoint}")


class PSMNetStackHourglass(_PSMNetBase):
    """PSMNet with three stacked hourglasses and intermediate supervision (paper Fig. 1).

    Args:
        maxdisp: number of disparity levels D (a multiple of 16); 192 for the release.
        align_corners: of the bilinear / trilinear upsampling; True reproduces the release.
        use_checkpoint: recompute the 3-D hourglasses in backward to save memory in training.

    ``forward(left, right)`` in training mode returns three (B,H,W) disparities (for the
    0.5 / 0.7 / 1.0 weighted smooth-L1 loss); in eval mode only the last one. With
    ``return_prob=True`` it returns ``(result, prob)``, prob (B,D,H,W) of the last output.
    """

    def __init__(self, maxdisp: int = 192, align_corners: bool = True,
                 use_checkpoint: bool = False):
        super().__init__(maxdisp, align_corners, use_checkpoint, disp_multiple=16)
        self.dres2 = Hourglass(32)
        self.dres3 = Hourglass(32)
        self.dres4 = Hourglass(32)
        self.classif1 = self._make_classifier()
        self.classif2 = self._make_classifier()
        self.classif3 = self._make_classifier()
        _init_weights(self)

    @staticmethod
    def _make_classifier() -> nn.Sequential:
        return nn.Sequential(convbn_3d(32, 32, 3, 1, 1), nn.ReLU(inplace=True),
                             nn.Conv3d(32, 1, kernel_size=3, padding=1, stride=1, bias=False))

    def forward(self, left: torch.Tensor, right: torch.Tensor, return_prob: bool = False):
        size = left.shape[-2:]
        cost0 = self._cost_volume(left, right)
        out1, pre1, post1 = self._maybe_checkpoint(self.dres2, cost0, None, None)
        out1 = out1 + cost0
        cost1 = self.classif1(out1)
        out2, _, post2 = self._maybe_checkpoint(self.dres3, out1, pre1, post1)
        del out1, post1
        out2 = out2 + cost0
        cost2 = self.classif2(out2) + cost1
        # The release feeds the first hourglass's `pre` (not the second's) to the third one.
        out3, _, _ = self._maybe_checkpoint(self.dres4, out2, pre1, post2)
        del out2, pre1, post2
        out3 = out3 + cost0
        del cost0
        cost3 = self.classif3(out3) + cost2
        del out3
        if self.training:
            disp1, _ = self._regress(cost1, size)
            disp2, _ = self._regress(cost2, size)
            disp3, prob = self._regress(cost3, size)
            result = (disp1, disp2, disp3)
        else:
            del cost1, cost2
            result, prob = self._regress(cost3, size)
        return (result, prob) if return_prob else result


class PSMNetBasic(_PSMNetBase):
    """Basic PSMNet: a plain stack of 3-D residual blocks, one output (paper Table 1).

    Args and outputs as :class:`PSMNetStackHourglass`, except that training mode returns a
    single (B,H,W) disparity. ``maxdisp`` must be a multiple of 4.
    """

    def __init__(self, maxdisp: int = 192, align_corners: bool = True,
                 use_checkpoint: bool = False):
        super().__init__(maxdisp, align_corners, use_checkpoint, disp_multiple=4)
        self.dres2 = self._make_residual()
        self.dres3 = self._make_residual()
        self.dres4 = self._make_residual()
        self.classify = nn.Sequential(convbn_3d(32, 32, 3, 1, 1), nn.ReLU(inplace=True),
                                      nn.Conv3d(32, 1, kernel_size=3, padding=1, stride=1,
                                                bias=False))
        _init_weights(self)

    @staticmethod
    def _make_residual() -> nn.Sequential:
        return nn.Sequential(convbn_3d(32, 32, 3, 1, 1), nn.ReLU(inplace=True),
                             convbn_3d(32, 32, 3, 1, 1))

    def forward(self, left: torch.Tensor, right: torch.Tensor, return_prob: bool = False):
        size = left.shape[-2:]
        cost0 = self._cost_volume(left, right)
        for block in (self.dres2, self.dres3, self.dres4):
            cost0 = self._maybe_checkpoint(block, cost0) + cost0
        disp, prob = self._regress(self.classify(cost0), size)
        return (disp, prob) if return_prob else disp
