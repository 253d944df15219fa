"""The same model gives the same output and gradients on CUDA as on the CPU (float64).

Covers every path the shipped and trained models take: grid and non-local pixel games
(the k-NN graph search included), patch games (sparse coding, non-local groups, TV and
variance terms) and the Fourier data term of CS-MRI. Skips on machines without a GPU.
"""

from __future__ import annotations

import pytest
import torch

from stereo_tv.denoising import build_model
from stereo_tv.mri import build_model as build_mri_model
from stereo_tv.mri import radial_mask

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _outputs_and_grads(model: torch.nn.Module, x: torch.Tensor, device: str):
    model = model.to(device)
    model.zero_grad()
    out = model(x.to(device))
    out.square().sum().backward()
    grads = {k: p.grad.detach().cpu() for k, p in model.named_parameters() if p.grad is not None}
    return out.detach().cpu(), grads


def _assert_same(model: torch.nn.Module, x: torch.Tensor) -> None:
    ref, ref_grads = _outputs_and_grads(model, x, "cpu")
    out, grads = _outputs_and_grads(model, x, "cuda")
    torch.testing.assert_close(out, ref, rtol=1e-8, atol=1e-10)
    assert grads.keys() == ref_grads.keys() and grads
    for key in grads:
        torch.testing.assert_close(grads[key], ref_grads[key], rtol=1e-6, atol=1e-9,
                                   msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize("name", ["tv-asym-eg", "lap-sym", "nltv-eg", "nltv-eg-kappas",
                                  "sc", "sc-tv-var", "nlgroup-var-tv"])
def test_denoiser_matches_cpu(name):
    torch.manual_seed(0)
    model = build_model(name, 25.0, iters=3).double()
    x = torch.rand(2, 1, 22, 26, dtype=torch.float64)
    _assert_same(model, x)


@pytest.mark.parametrize("name", ["cs-tv", "cs-sc"])
def test_cs_mri_matches_cpu(name):
    torch.manual_seed(0)
    mask = radial_mask(24, 24, 0.3)
    kwargs = {"iters": 3} if name == "cs-tv" else {"iters": 3, "patch_size": 5, "num_atoms": 32}
    model = build_mri_model(name, mask, **kwargs).double()
    image = torch.rand(2, 1, 24, 24, dtype=torch.float64)
    x = model.operator.measure(image)
    _assert_same(model, x)
