"""RefinedStereo around PSMNet, the timm cost-volume net and minimal backbones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stereo_tv.models import PSMNet
from stereo_tv.models.timm_stereo import TimmStereo
from stereo_tv.refine import RefinedStereo, TVRefine


def _pair(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randn(b, 3, h, w, generator=g)


class Flat(nn.Module):
    """A backbone that returns (B, H, W): the mean of the left image, shifted to be positive."""

    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor(10.0))

    def forward(self, left, right):
        return left.mean(1) + self.bias


def test_backbone_returning_bhw_and_no_confidence():
    model = RefinedStereo(Flat(), TVRefine(iters=3)).eval()
    left, right = _pair(2, 9, 7)
    out = model(left, right)
    assert out.shape == (2, 1, 9, 7)
    assert torch.allclose(out, (left.mean(1, keepdim=True) + 10), atol=0.05)
    model.train()
    raw, refined = model(left, right)
    assert raw.shape == refined.shape == (2, 1, 9, 7)
    with pytest.raises(ValueError, match="no return_confidence argument"):
        RefinedStereo(Flat(), TVRefine(iters=3, confidence=True))


@pytest.fixture(scope="module")
def timm_net():
    torch.manual_seed(0)
    return TimmStereo("resnet10t", maxdisp=16, features=16, groups=4, agg_channels=8)


def test_timm_backbone_eval_is_close_to_bare_backbone_at_init(timm_net):
    model = RefinedStereo(timm_net, TVRefine(iters=24, guided=True, confidence=True)).eval()
    left, right = _pair(1, 32, 48)
    with torch.inference_mode():
        bare = timm_net(left, right)
        refined, conf = model(left, right, return_confidence=True)
    assert refined.shape == conf.shape == (1, 1, 32, 48)
    assert float((refined - bare).abs().max()) < 0.01 * float(bare.max() - bare.min()) + 1e-3


def test_timm_backbone_training_outputs_and_gradients(timm_net):
    model = RefinedStereo(timm_net, TVRefine(iters=4, guided=True, confidence=True)).train()
    left, right = _pair(2, 32, 48, seed=1)
    outs = model(left, right)
    assert isinstance(outs, tuple) and len(outs) == 2
    assert all(o.shape == (2, 1, 32, 48) for o in outs)
    sum(o.mean() for o in outs).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    timm_net.zero_grad(set_to_none=True)


def test_frozen_backbone_trains_only_the_head():
    torch.manual_seed(0)
    net = TimmStereo("mobilenetv3_small_050", maxdisp=16, features=16, groups=4,
                     agg_channels=8)
    model = RefinedStereo(net, TVRefine(iters=3), freeze_backbone=True).train()
    assert not net.training and all(not p.requires_grad for p in net.parameters())
    left, right = _pair(2, 32, 48)
    raw, refined = model(left, right)
    assert not raw.requires_grad and refined.requires_grad
    refined.mean().backward()
    assert all(p.grad is not None for p in model.refine.parameters())
    assert not net.training


@pytest.fixture(scope="module")
def psmnet_outputs():
    """A random PSMNet (maxdisp 16) at its smallest size, bare and wrapped, in eval mode."""
    torch.manual_seed(0)
    backbone = PSMNet(maxdisp=16).eval()
    model = RefinedStereo(backbone, TVRefine(iters=24, guided=True, confidence=True)).eval()
    left, right = _pair(1, 256, 256)
    with torch.inference_mode():
        (bare,), conf = model.backbone_disparity(left, right, confidence=True)
        refined = model.refine(bare, image=left, confidence=conf)
        wrapped = model(left, right)
    return model, bare, conf, refined, wrapped


def test_psmnet_wrapped_eval_matches_backbone_then_head(psmnet_outputs):
    model, bare, conf, refined, wrapped = psmnet_outputs
    assert wrapped.shape == bare.shape == conf.shape == (1, 1, 256, 256)
    assert torch.allclose(wrapped, refined, atol=1e-5)
    assert float((wrapped - bare).abs().max()) < 0.01 * float(bare.max() - bare.min()) + 1e-3
    assert model.size_multiple == 16 and model.min_size == 256


@pytest.mark.slow
def test_psmnet_training_returns_three_outputs_plus_refined():
    torch.manual_seed(0)
    model = RefinedStereo(PSMNet(maxdisp=16), TVRefine(iters=2)).train()
    left, right = _pair(2, 256, 256)  # batch 2: PSMNet's pooling branch needs it in training
    outs = model(left, right)
    assert len(outs) == 4 and all(o.shape == (2, 1, 256, 256) for o in outs)
    outs[-1].mean().backward()
    assert model.refine.game.log_step.grad is not None
