"""Classical TV baseline: finite-difference adjoint, known values, it beats zero-filling."""

from __future__ import annotations

import pytest
import torch

from stereo_tv.mri import MaskedFourier, psnr, radial_mask, tv_reconstruct, zero_filled
from stereo_tv.mri.classical import ClassicalTV, grad2d, grad2d_adjoint


def _phantom(h: int = 48, w: int = 40) -> torch.Tensor:
    img = torch.full((1, 1, h, w), 0.2)
    img[..., 8:30, 6:22] = 0.8
    img[..., 20:40, 18:34] = 0.5
    return img


def test_grad2d_adjoint_float64():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 1, 9, 7, generator=g, dtype=torch.float64)
    p = torch.randn(2, 1, 2, 9, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close((grad2d(z) * p).sum(), (z * grad2d_adjoint(p)).sum())


def test_grad_of_constant_is_zero_and_ramp_known():
    assert grad2d(torch.full((1, 1, 5, 4), 0.3)).abs().max() == 0
    ramp = torch.arange(4.0).expand(1, 1, 3, 4)
    assert grad2d(ramp)[0, 0, 1].tolist() == [[1.0, 1.0, 1.0, 0.0]] * 3


def test_fully_sampled_is_fixed_point():
    img = _phantom()
    op = MaskedFourier(torch.ones(48, 40, dtype=torch.bool))
    out = tv_reconstruct(op(img), op, lam=0.0, iters=5)
    torch.testing.assert_close(out, img, atol=1e-5, rtol=0)


def test_tv_beats_zero_filling_on_phantom():
    img = _phantom()
    op = MaskedFourier(radial_mask(48, 40, 0.25))
    x = op(img)
    zf = psnr(zero_filled(x, op.mask).clamp(0, 1), img)
    tv = psnr(ClassicalTV(lam=1e-3, iters=150)(x, op).clamp(0, 1), img)
    assert float(tv) > float(zf) + 3


def test_bad_steps_rejected():
    op = MaskedFourier(torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="tau"):
        tv_reconstruct(op(torch.rand(1, 1, 4, 4)), op, lam=1e-3, tau=0.0)
