"""Moreau-Yosida smoothing: closed forms against the definition, gradients, gradcheck."""

import pytest
import torch
from scipy.optimize import minimize_scalar

from stereo_tv.core.smoothing import (
    MoreauL1,
    group_soft_threshold,
    moreau_l1,
    moreau_l1_grad,
    moreau_l2,
    moreau_l2_grad,
    soft_threshold,
)

from ._adjoint import assert_same_vjp


def test_soft_threshold_known_values():
    u = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0])
    assert torch.equal(soft_threshold(u, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 2.0]))


def test_soft_threshold_gradients_match_the_textbook_form():
    """Per-channel tensor thresholds: values and gradients (in ``u`` and ``tau``) equal
    ``sign(u) max(|u| - tau, 0)``; float64 gradcheck away from the kinks."""
    u = torch.randn(2, 5, 4, 3, dtype=torch.float64, requires_grad=True)
    tau = (0.2 + torch.rand(1, 5, 1, 1, dtype=torch.float64)).requires_grad_()
    with torch.no_grad():                        # keep |u| - tau away from 0 for gradcheck
        u.add_(torch.sign(u) * 0.1 * ((u.abs() - tau).abs() < 0.05))
    assert_same_vjp(soft_threshold(u, tau), torch.sign(u) * torch.relu(u.abs() - tau), (u, tau))
    assert torch.autograd.gradcheck(soft_threshold, (u, tau))
    # per-patch steps times per-channel thresholds (the patch games' BB step), and no grad in tau
    tau_full = (tau * (0.5 + torch.rand(2, 1, 4, 3, dtype=torch.float64))).detach()
    u_full = u.detach()
    u_full = u_full + torch.sign(u_full) * 0.1 * ((u_full.abs() - tau_full).abs() < 0.05)
    assert torch.autograd.gradcheck(soft_threshold, (u_full.requires_grad_(),
                                                     tau_full.requires_grad_()))
    assert_same_vjp(soft_threshold(u, tau.detach()),
                    torch.sign(u) * torch.relu(u.abs() - tau.detach()), (u,))


@pytest.mark.parametrize("u", [-2.0, -0.05, 0.0, 0.3, 1.7])
def test_moreau_l1_matches_definition(u):
    alpha = 4.0
    ref = minimize_scalar(lambda v: abs(v) + alpha / 2 * (v - u) ** 2, bounds=(-5, 5),
                          method="bounded", options={"xatol": 1e-12})
    val = moreau_l1(torch.tensor(u, dtype=torch.float64), torch.tensor(alpha, dtype=torch.float64))
    assert float(val) == pytest.approx(ref.fun, abs=1e-8)
    grad = moreau_l1_grad(torch.tensor(u), torch.tensor(alpha))
    assert float(grad) == pytest.approx(alpha * (u - ref.x), abs=1e-4)


def test_moreau_l2_matches_group_prox():
    u = torch.randn(3, 4, 5, dtype=torch.float64)
    alpha = torch.tensor(2.0, dtype=torch.float64)
    prox = group_soft_threshold(u, 1.0 / alpha, dim=1)
    torch.testing.assert_close(moreau_l2_grad(u, alpha, dim=1), alpha * (u - prox))
    # envelope value = phi(prox) + alpha/2 ||prox - u||^2 at the minimiser
    env = prox.norm(dim=1, keepdim=True) + alpha / 2 * (prox - u).square().sum(1, keepdim=True)
    torch.testing.assert_close(moreau_l2(u, alpha, dim=1), env)


def test_gradients_are_gradients_of_the_envelopes():
    u = torch.randn(40, 3, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(1.5, dtype=torch.float64)
    (g1,) = torch.autograd.grad(moreau_l1(u, alpha).sum(), u)
    torch.testing.assert_close(g1, moreau_l1_grad(u.detach(), alpha))
    (g2,) = torch.autograd.grad(moreau_l2(u, alpha, dim=1).sum(), u)
    torch.testing.assert_close(g2, moreau_l2_grad(u.detach(), alpha, dim=1))


def test_gradcheck_smoothed_gradients():
    u = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(moreau_l1_grad, (u, alpha))
    assert torch.autograd.gradcheck(lambda a, b: moreau_l2_grad(a, b, dim=1), (u, alpha))
    assert torch.autograd.gradcheck(lambda a, b: moreau_l1(a, b), (u, alpha))


def test_module_equals_function_and_is_positive():
    m = MoreauL1(iters=3, init_alpha=5.0)
    u = torch.randn(7)
    torch.testing.assert_close(m(u, 2), moreau_l1_grad(u, torch.tensor(5.0)))
    assert "params=3" in repr(m)
    with pytest.raises(ValueError, match="init_alpha"):
        MoreauL1(init_alpha=0.0)
