"""Moreau-Yosida smoothing of the l1 and group-l2 norms (paper Sec. 3.2).

For a norm ``phi`` and ``alpha > 0`` the Moreau envelope is

    ``Phi_alpha(u) = min_v phi(v) + alpha/2 ||v - u||^2``,

a differentiable function whose gradient is ``alpha * (u - prox_{phi/alpha}(u))`` and is
``alpha``-Lipschitz. Both are in closed form here:

* l1 (elementwise): ``prox`` is soft-thresholding at ``1/alpha``, the gradient is
  ``clamp(alpha * u, -1, 1)`` and the envelope is the Huber function.
* l2 of a group (one ``dim``): ``prox`` is group soft-thresholding, the gradient is
  ``u * min(alpha, 1 / ||u||)``.

``alpha`` is a tensor broadcastable to ``u`` (learned per iteration by the games, kept positive
by an ``exp`` parametrisation, see :class:`MoreauL1`). Large ``alpha`` approximates the norm
closely; small ``alpha`` smooths more.

Example:
    >>> u = torch.tensor([-2.0, -0.1, 0.0, 0.1, 2.0])
    >>> moreau_l1_grad(u, torch.tensor(5.0))
    tensor([-1.0000, -0.5000,  0.0000,  0.5000,  1.0000])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "soft_threshold",
    "group_soft_threshold",
    "moreau_l1",
    "moreau_l1_grad",
    "moreau_l2",
    "moreau_l2_grad",
    "MoreauL1",
]


class _SoftThreshold(torch.autograd.Function):
    """``u - clamp(u, -tau, tau)`` with a hand-written backward.

    Autograd's ``clamp`` backward with tensor bounds builds six masks and three ``where``s per
    call; it took 40% of a CS-SC training step on a CPU. Here one saved output ``out`` gives
    both gradients: ``d/du = [out != 0]`` and ``d/dtau = -sign(out)`` (both 0 at ``|u| = tau``,
    like ``clamp``'s), reduced to ``tau``'s broadcast shape.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        out = u - torch.clamp(u, -tau, tau)
        ctx.save_for_backward(out)
        ctx.tau_shape = tau.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (out,) = ctx.saved_tensors
        grad_u = grad_tau = None
        if ctx.needs_input_grad[0]:
            grad_u = grad.masked_fill(out == 0, 0.0)
        if ctx.needs_input_grad[1]:
            grad_tau = -(grad * out.sign()).sum_to_size(ctx.tau_shape)
        return grad_u, grad_tau


def soft_threshold(u: torch.Tensor, tau: torch.Tensor | float) -> torch.Tensor:
    """``prox_{tau |.|_1}(u) = sign(u) max(|u| - tau, 0)``, elementwise, for ``tau >= 0``.

    Computed as ``u - clamp(u, -tau, tau)`` (a quarter of the time of the four-operation form
    on a CPU; the patch models apply it to every code at every step), with a hand-written
    backward when a tensor ``tau`` needs gradients (same values and gradients as the textbook
    form, tested; 3x faster than autograd's). ``tau`` broadcasts to ``u`` and is not larger.

    >>> soft_threshold(torch.tensor([-3.0, 0.5, 2.0]), 1.0)
    tensor([-2.,  0.,  1.])
    """
    if torch.is_tensor(tau) and torch.is_grad_enabled() and (u.requires_grad
                                                            or tau.requires_grad):
        return _SoftThreshold.apply(u, tau)
    return u - torch.clamp(u, -tau, tau)


def group_soft_threshold(u: torch.Tensor, tau: torch.Tensor | float, dim: int) -> torch.Tensor:
    """``prox_{tau ||.||_2}(u) = u * max(0, 1 - tau / ||u||)`` with the norm taken over ``dim``.

    >>> group_soft_threshold(torch.tensor([[3.0, 4.0]]), 2.5, dim=1)
    tensor([[1.5000, 2.0000]])
    """
    norm = u.norm(dim=dim, keepdim=True)
    # max(norm, tau) leaves the values unchanged and keeps the derivative finite at u = 0
    floor = torch.maximum(norm, tau) if torch.is_tensor(tau) else norm.clamp_min(tau)
    return u * torch.relu(1.0 - tau / floor)


def moreau_l1(u: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Elementwise Moreau envelope of ``|.|`` (Huber): ``alpha u^2 / 2`` if ``|u| <= 1/alpha``,
    else ``|u| - 1 / (2 alpha)``. Same shape as ``u``."""
    a = u.abs()
    return torch.where(a * alpha <= 1.0, 0.5 * alpha * u * u, a - 0.5 / alpha)


def moreau_l1_grad(u: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Gradient of :func:`moreau_l1`:
    ``alpha (u - prox_{|.|/alpha}(u)) = clamp(alpha u, -1, 1)``."""
    return F.hardtanh(alpha * u)               # clamp(alpha u, -1, 1)


def moreau_l2(u: torch.Tensor, alpha: torch.Tensor, dim: int) -> torch.Tensor:
    """Moreau envelope of the l2 norm over ``dim`` (kept): ``alpha ||u||^2 / 2`` if
    ``||u|| <= 1/alpha``, else ``||u|| - 1 / (2 alpha)``."""
    sq = (u * u).sum(dim=dim, keepdim=True)
    return _l2_envelope(sq, alpha)


def _l2_envelope(sq: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """Moreau envelope of the l2 norm from the squared norm ``sq``; the square root is taken
    of ``max(sq, 1/alpha^2)`` only (the branch where it is used), so gradients stay finite at 0.
    """
    inv_a2 = 1.0 / (alpha * alpha)
    big = torch.maximum(sq, inv_a2) if torch.is_tensor(alpha) else sq.clamp_min(inv_a2)
    return torch.where(sq * alpha * alpha <= 1.0, 0.5 * alpha * sq, big.sqrt() - 0.5 / alpha)


def _l2_scale(sq: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``min(alpha, 1 / sqrt(sq)) = 1 / sqrt(max(sq, 1/alpha^2))`` (finite gradients at 0)."""
    inv_a2 = 1.0 / (alpha * alpha)
    return torch.rsqrt(torch.maximum(sq, inv_a2) if torch.is_tensor(alpha)
                       else sq.clamp_min(inv_a2))


def moreau_l2_grad(u: torch.Tensor, alpha: torch.Tensor | float, dim: int) -> torch.Tensor:
    """Gradient of :func:`moreau_l2`: ``alpha (u - prox_{||.||/alpha}(u)) = u min(alpha, 1/||u||)``.

    >>> moreau_l2_grad(torch.tensor([[3.0, 4.0]]), torch.tensor(1.0), dim=1)   # ||u|| = 5 > 1
    tensor([[0.6000, 0.8000]])
    """
    return u * _l2_scale((u * u).sum(dim=dim, keepdim=True), alpha)


class MoreauL1(nn.Module):
    """Smoothed l1 with a learned ``alpha = exp(log_alpha)`` per iteration.

    Args:
        iters: number of iterations (one ``alpha`` each).
        init_alpha: initial ``alpha > 0``.

    ``forward(u, t)`` returns ``moreau_l1_grad(u, alpha_t)``.
    """

    def __init__(self, iters: int = 1, init_alpha: float = 10.0):
        super().__init__()
        if init_alpha <= 0:
            raise ValueError(f"init_alpha must be > 0, got {init_alpha}")
        self.log_alpha = nn.Parameter(torch.full((iters,), math.log(init_alpha)))

    def alpha(self, t: int) -> torch.Tensor:
        return self.log_alpha[t].exp()

    def forward(self, u: torch.Tensor, t: int = 0) -> torch.Tensor:
        return moreau_l1_grad(u, self.alpha(t))

    def extra_repr(self) -> str:
        return f"iters={self.log_alpha.numel()}, params={self.log_alpha.numel()}"
