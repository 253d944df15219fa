"""MaskedFourier: adjointness (float64, real inner product), exact cases, noise, shape checks."""

from __future__ import annotations

import math

import pytest
import torch

from stereo_tv.mri import (
    MaskedFourier,
    add_kspace_noise,
    masked_fft,
    psnr,
    radial_mask,
    zero_filled,
)
from stereo_tv.mri.masks import symmetrize_mask


def _inner_real(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """<u, v> = Re(sum conj(u) v): C^n seen as the real vector space R^2n."""
    return (torch.conj(u) * v).real.sum()


@pytest.mark.parametrize("symmetric", [True, False])
def test_adjoint_float64(symmetric):
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(9, 7, generator=g) < 0.4
    if symmetric:
        mask = symmetrize_mask(mask)
    op = MaskedFourier(mask)
    z = torch.randn(2, 1, 9, 7, generator=g, dtype=torch.float64)
    y = torch.complex(torch.randn(2, 1, 9, 7, generator=g, dtype=torch.float64),
                      torch.randn(2, 1, 9, 7, generator=g, dtype=torch.float64))
    lhs = _inner_real(op(z), y)
    rhs = (z * op.adjoint(y)).sum()
    assert op.adjoint(y).dtype == torch.float64
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_normal_operator_is_contraction():
    g = torch.Generator().manual_seed(2)
    op = MaskedFourier(torch.rand(8, 11, generator=g) < 0.5)
    z = torch.randn(1, 1, 8, 11, generator=g, dtype=torch.float64)
    assert op.normal(z).norm() <= z.norm() * (1 + 1e-12)


def test_fully_sampled_reconstructs_exactly():
    op = MaskedFourier(torch.ones(9, 7, dtype=torch.bool))
    z = torch.rand(3, 1, 9, 7)
    torch.testing.assert_close(zero_filled(op.measure(z), op.mask), z, atol=1e-6, rtol=0)
    assert math.isinf(float(psnr(z, z)[0]))


def test_zero_filled_psnr_matches_hand_computation():
    # 2x2 image, only DC sampled: the zero-filled image is the mean 0.5 everywhere,
    # the error is +-0.5 at every pixel, mse 0.25, PSNR = 10 log10(1 / 0.25) = 6.0206 dB
    img = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    mask = torch.tensor([[True, False], [False, False]])
    zf = zero_filled(masked_fft(img, mask), mask)
    torch.testing.assert_close(zf, torch.full_like(img, 0.5))
    assert float(psnr(zf, img)[0]) == pytest.approx(10 * math.log10(4.0), abs=1e-5)


def test_measurement_zero_off_mask_and_batch_equals_singles():
    op = MaskedFourier(radial_mask(16, 12, 0.3))
    z = torch.rand(3, 1, 16, 12)
    y = op.measure(z)
    assert y.is_complex() and y.shape == z.shape
    assert torch.all(y[..., ~op.mask] == 0)
    singles = torch.cat([op.measure(z[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(y, singles)


def test_noise_statistics_and_unsampled_entries():
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[:, :32] = True
    y = torch.zeros(4, 1, 64, 64, dtype=torch.complex128)
    noisy = add_kspace_noise(y, mask, 0.1, torch.Generator().manual_seed(0))
    n = noisy[..., mask]
    assert float(n.abs().pow(2).mean()) == pytest.approx(0.01, rel=0.05)   # E|n|^2 = sigma^2
    assert float(n.real.var()) == pytest.approx(0.005, rel=0.1)            # sigma^2 / 2 each
    assert torch.all(noisy[..., ~mask] == 0)
    assert add_kspace_noise(y, mask, 0.0) is y


def test_measure_rejects_size_mismatch():
    op = MaskedFourier(torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="does not match the 8x8 mask"):
        op.measure(torch.rand(1, 1, 8, 9))
    with pytest.raises(ValueError, match="mask must be"):
        MaskedFourier(torch.ones(2, 8, 8, dtype=torch.bool))


def test_mask_is_buffer_in_state_dict():
    op = MaskedFourier(radial_mask(8, 8, 0.5))
    assert "mask" in op.state_dict() and not list(op.parameters())


def test_canvas_operator_adjoint_float64():
    from stereo_tv.mri import CanvasOperator

    g = torch.Generator().manual_seed(3)
    canvas = CanvasOperator(MaskedFourier(torch.rand(9, 7, generator=g) < 0.5), pad=2)
    z = torch.randn(1, 1, 13, 11, generator=g, dtype=torch.float64)
    y = torch.complex(torch.randn(1, 1, 9, 7, generator=g, dtype=torch.float64),
                      torch.randn(1, 1, 9, 7, generator=g, dtype=torch.float64))
    torch.testing.assert_close(_inner_real(canvas.forward(z), y),
                               (z * canvas.adjoint(y)).sum(), rtol=1e-12, atol=1e-12)
    assert canvas.adjoint(y).shape == (1, 1, 13, 11) and canvas.crop(z).shape == (1, 1, 9, 7)
