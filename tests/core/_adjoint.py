"""Shared helper: float64 adjointness check <A u, v> = <u, A^T v>."""

from __future__ import annotations

import torch


def assert_adjoint(forward, adjoint, u: torch.Tensor, v: torch.Tensor, tol: float = 1e-10) -> None:
    """Check ``<forward(u), v> == <u, adjoint(v)>`` to a relative ``tol`` (float64 inputs)."""
    lhs = (forward(u) * v).sum()
    rhs = (u * adjoint(v)).sum()
    scale = forward(u).norm() * v.norm() + 1e-30
    assert abs(float(lhs - rhs)) <= tol * float(scale), (float(lhs), float(rhs))
