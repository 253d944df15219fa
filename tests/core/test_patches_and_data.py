"""Patch extraction / averaging, dictionaries and data terms: exact adjoints and known values."""

import numpy as np
import pytest
import torch

from stereo_tv.core.data_terms import (
    apply_dictionary,
    apply_dictionary_adjoint,
    dictionary_data_grad,
    normalize_dictionary,
    operator_data_grad,
    patch_operator_data_grad,
    pixel_data_grad,
)
from stereo_tv.core.patches import (
    extract_patches,
    extract_patches_adjoint,
    patch_average,
    patch_average_adjoint,
    patch_coverage,
)

from ._adjoint import assert_adjoint

D64 = torch.float64


@pytest.mark.parametrize("size,patch,channels", [((9, 7), 3, 1), ((10, 13), 4, 2), ((5, 5), 5, 1)])
def test_patch_operators_are_adjoint(size, patch, channels):
    x = torch.randn(2, channels, *size, dtype=D64)
    p = torch.randn_like(extract_patches(x, patch))
    assert_adjoint(lambda a: extract_patches(a, patch),
                   lambda b: extract_patches_adjoint(b, patch, size), x, p)
    assert_adjoint(lambda b: patch_average(b, patch, size),
                   lambda a: patch_average_adjoint(a, patch), p, x)


def test_coverage_and_average_of_extracted_patches():
    cov = patch_coverage((9, 7), 3, torch.zeros(1))
    assert cov[0, 0, 4, 3] == 9 and cov[0, 0, 0, 0] == 1 and cov[0, 0, 0, 3] == 3
    x = torch.rand(2, 2, 9, 7, dtype=D64)
    torch.testing.assert_close(patch_average(extract_patches(x, 3), 3, (9, 7)), x)


def test_dictionary_adjoint_and_normalisation():
    D = torch.randn(12, 20, dtype=D64)
    Z = torch.randn(2, 20, 5, 4, dtype=D64)
    R = torch.randn(2, 12, 5, 4, dtype=D64)
    assert_adjoint(lambda z: apply_dictionary(D, z), lambda r: apply_dictionary_adjoint(D, r), Z, R)
    Dn = normalize_dictionary(D)
    assert float(torch.linalg.matrix_norm(Dn, 2)) == pytest.approx(1.0)
    assert np.allclose(Dn.numpy(), D.numpy() / np.linalg.norm(D.numpy(), 2))


def test_dictionary_adjoint_accumulates_in_place():
    """``out=`` / ``alpha=``: ``out += alpha D^T r`` in the given tensor (batched product)."""
    D = torch.randn(18, 7, dtype=torch.float64)
    R = torch.randn(2, 18, 5, 4, dtype=torch.float64)
    base = torch.randn(2, 7, 5, 4, dtype=torch.float64)
    out = base.clone()
    res = apply_dictionary_adjoint(D, R, out=out, alpha=-0.5)
    assert res is out
    torch.testing.assert_close(out, base - 0.5 * apply_dictionary_adjoint(D, R))
    torch.testing.assert_close(apply_dictionary_adjoint(D, R, alpha=3.0),
                               3.0 * apply_dictionary_adjoint(D, R))
    strided = base.clone().transpose(2, 3).contiguous().transpose(2, 3)   # not contiguous
    res = apply_dictionary_adjoint(D, R, out=strided, alpha=-0.5)
    assert res is strided
    torch.testing.assert_close(strided, base - 0.5 * apply_dictionary_adjoint(D, R))


def test_data_gradients_are_gradients():
    x = torch.rand(2, 1, 9, 7, dtype=D64)
    z = torch.rand_like(x).requires_grad_()
    w = torch.rand(2, 1, 9, 7, dtype=D64)
    (g,) = torch.autograd.grad(0.5 * (w * (z - x).square()).sum(), z)
    torch.testing.assert_close(pixel_data_grad(z.detach(), x, w), g)
    # tied dictionary: C^T(DZ - X) is the gradient of 1/2 ||D Z - X||^2
    D = torch.randn(9, 6, dtype=D64)
    Z = torch.randn(2, 6, 7, 5, dtype=D64, requires_grad=True)
    X = extract_patches(x, 3)
    (gz,) = torch.autograd.grad(0.5 * (apply_dictionary(D, Z) - X).square().sum(), Z)
    torch.testing.assert_close(dictionary_data_grad(Z.detach(), X, D), gz)


class _Blur:
    """A real linear operator (horizontal 2-tap average) with its adjoint."""

    def forward(self, z):
        return 0.5 * (z[..., 1:] + z[..., :-1])

    def adjoint(self, y):
        return 0.5 * (torch.nn.functional.pad(y, (1, 0)) + torch.nn.functional.pad(y, (0, 1)))


def test_operator_gradients_are_gradients():
    A = _Blur()
    z = torch.rand(1, 1, 9, 7, dtype=D64)
    assert_adjoint(A.forward, A.adjoint, z, torch.rand(1, 1, 9, 6, dtype=D64))
    x = torch.rand(1, 1, 9, 6, dtype=D64)
    zz = z.clone().requires_grad_()
    (g,) = torch.autograd.grad(0.5 * (A.forward(zz) - x).square().sum(), zz)
    torch.testing.assert_close(operator_data_grad(z, x, A), g)
    # codes through the patch average: gradient of 1/2 ||A avg(D Z) - x||^2 (tied C = D)
    D = torch.randn(9, 5, dtype=D64)
    Z = torch.randn(1, 5, 7, 5, dtype=D64, requires_grad=True)
    yhat = patch_average(apply_dictionary(D, Z), 3, (9, 7))
    (gz,) = torch.autograd.grad(0.5 * (A.forward(yhat) - x).square().sum(), Z)
    torch.testing.assert_close(patch_operator_data_grad(Z.detach(), x, A, D, D, 3, (9, 7)), gz)
