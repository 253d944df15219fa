"""Unrolled gradient and extra-gradient solvers for convex games (paper Sec. 3.2-3.3).

The games look for a zero of the simultaneous gradient ``H(Z) = [grad_{z_j} h_j(Z)]_j``
(eq. 6). A *field* is a callable ``field(z, t, half) -> H_t(z)`` that may use learned,
iteration-dependent parameters (``half`` is 0 for a gradient step and for the extrapolation of
extra-gradient, 1 for its update). An optional ``prox(v, step, t, half)`` handles a non-smooth
term with a cheap proximal operator (weighted l1), giving proximal (extra-)gradient steps.

* gradient (eq. 7):        ``Z_{t+1} = prox(Z_t - eta_t H_t(Z_t))``
* extra-gradient (eq. 8):  ``Z_{t+1/2} = prox(Z_t - eta_{t,0} H_{t,0}(Z_t))``,
                           ``Z_{t+1}   = prox(Z_t - eta_{t,1} H_{t,1}(Z_{t+1/2}))``

Step-size condition: for an ``L``-Lipschitz, ``mu``-strongly monotone ``H`` the gradient method
converges for ``eta < 2 mu / L^2``; extra-gradient only needs monotonicity and ``eta < 1 / L``
(Korpelevich). The games initialise ``eta`` below ``1 / L`` and then learn it.

Barzilai-Borwein (Sec. 3.3): :func:`barzilai_borwein_step` gives per-patch steps for the
dictionary data term.

``checkpoint=True`` wraps each iteration in :func:`torch.utils.checkpoint.checkpoint`, trading a
second forward pass for not storing the iteration's intermediate tensors (training memory
``O(K)`` images instead of ``O(K * terms)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.checkpoint import checkpoint as _checkpoint

__all__ = [
    "gradient_descent",
    "extragradient",
    "barzilai_borwein_step",
    "maybe_checkpoint",
]

Field = Callable[[torch.Tensor, int, int], torch.Tensor]
Prox = Callable[[torch.Tensor, torch.Tensor, int, int], torch.Tensor]


def maybe_checkpoint(fn: Callable, *args, enabled: bool = True):
    """``fn(*args)``, through activation checkpointing when ``enabled`` and autograd is on."""
    if enabled and torch.is_grad_enabled():
        return _checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def _step(step: torch.Tensor | Sequence, t: int, half: int) -> torch.Tensor:
    s = step[t]
    return s[half] if torch.is_tensor(s) and s.dim() > 0 else s


def gradient_descent(
    z0: torch.Tensor,
    field: Field,
    steps: torch.Tensor,
    prox: Prox | None = None,
    return_all: bool = False,
    checkpoint: bool = False,
) -> torch.Tensor | list[torch.Tensor]:
    """Unrolled (proximal) gradient method, eq. (7), for ``K = len(steps)`` iterations.

    Args:
        z0: initial iterate.
        field: ``field(z, t, 0) -> H_t(z)``.
        steps: ``(K,)`` (or ``(K, 1)``) positive steps ``eta_t``.
        prox: optional ``prox(v, eta, t, 0)``.
        return_all: return ``[z_0, ..., z_K]``.
        checkpoint: checkpoint each iteration.
    """
    def iteration(z: torch.Tensor, t: int) -> torch.Tensor:
        eta = _step(steps, t, 0)
        z = z - eta * field(z, t, 0)
        return prox(z, eta, t, 0) if prox is not None else z

    z = z0
    iterates = [z]
    for t in range(len(steps)):
        z = maybe_checkpoint(iteration, z, t, enabled=checkpoint)
        iterates.append(z)
    return iterates if return_all else z


def extragradient(
    z0: torch.Tensor,
    field: Field,
    steps: torch.Tensor,
    prox: Prox | None = None,
    return_all: bool = False,
    checkpoint: bool = False,
) -> torch.Tensor | list[torch.Tensor]:
    """Unrolled (proximal) extra-gradient method, eq. (8).

    Args:
        z0: initial iterate.
        field: ``field(z, t, half) -> H_{t,half}(z)``.
        steps: ``(K, 2)`` positive steps ``eta_{t,0}`` (extrapolation), ``eta_{t,1}`` (update).
        prox, return_all, checkpoint: as in :func:`gradient_descent`.
    """
    def iteration(z: torch.Tensor, t: int) -> torch.Tensor:
        eta0, eta1 = _step(steps, t, 0), _step(steps, t, 1)
        z_half = z - eta0 * field(z, t, 0)
        if prox is not None:
            z_half = prox(z_half, eta0, t, 0)
        z_next = z - eta1 * field(z_half, t, 1)
        return prox(z_next, eta1, t, 1) if prox is not None else z_next

    z = z0
    iterates = [z]
    for t in range(len(steps)):
        z = maybe_checkpoint(iteration, z, t, enabled=checkpoint)
        iterates.append(z)
    return iterates if return_all else z


def barzilai_borwein_step(
    s: torch.Tensor, D: torch.Tensor, C: torch.Tensor | None = None, fallback: float = 1.0
) -> torch.Tensor:
    """Per-patch Barzilai-Borwein step for the dictionary data term (Sec. 3.3).

    For ``h_j = 1/2 ||D z_j - P_j x||^2`` the curvature along ``s_j = z_j^t - z_j^{t-1}`` is
    ``||D^T D s_j|| / ||D s_j||``-like; the (BB2) step is its inverse,

        ``eta_j = ||D s_j||^2 / ||C^T D s_j||^2``   (``C = D`` when tied),

    and ``fallback`` where ``s_j = 0`` (first iteration, converged patches).

    Args:
        s: ``(B, p, Hc, Wc)`` code differences.
        D, C: ``(q, p)`` dictionaries.

    Returns:
        ``(B, 1, Hc, Wc)`` steps.
    """
    C = D if C is None else C
    q, p = D.shape
    Ds = torch.nn.functional.conv2d(s, D.view(q, p, 1, 1))
    CtDs = torch.nn.functional.conv2d(Ds, C.t().reshape(p, q, 1, 1))
    num = Ds.square().sum(1, keepdim=True)
    den = CtDs.square().sum(1, keepdim=True)
    tiny = torch.finfo(s.dtype).tiny ** 0.5
    ok = den > tiny
    return torch.where(ok, num / den.clamp_min(tiny), torch.full_like(num, fallback))
