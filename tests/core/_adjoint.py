"""Shared float64 checks: adjointness <A u, v> = <u, A^T v>, equal vector-Jacobian products."""

from __future__ import annotations

import torch


def assert_adjoint(forward, adjoint, u: torch.Tensor, v: torch.Tensor, tol: float = 1e-10) -> None:
    """Check ``<forward(u), v> == <u, adjoint(v)>`` to a relative ``tol`` (float64 inputs)."""
    lhs = (forward(u) * v).sum()
    rhs = (u * adjoint(v)).sum()
    scale = forward(u).norm() * v.norm() + 1e-30
    assert abs(float(lhs - rhs)) <= tol * float(scale), (float(lhs), float(rhs))


def assert_same_vjp(out: torch.Tensor, ref: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> None:
    """Two computations of the same quantity from ``inputs`` agree in value and in their
    gradients along one random direction ``w`` (``d<out, w> / d inputs``)."""
    torch.testing.assert_close(out, ref)
    w = torch.randn_like(out)
    grads = torch.autograd.grad((out * w).sum(), inputs)
    grads_ref = torch.autograd.grad((ref * w).sum(), inputs)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref)
