"""Priors on patch codes ``Z = [z_j]`` (paper Sec. 3.1 table): weighted l1, non-local group
regularisation and variance reduction.

Codes are maps ``(B, p, Hc, Wc)``: ``z_j`` is the ``p``-vector at grid position ``j``. As in
:mod:`.priors`, the ``*_grad`` functions return every player's partial gradient
``d psi_j / d z_j``.

* Weighted l1, ``psi_j = sum_l lambda_l |z_j[l]|``: handled exactly by its prox
  (:func:`weighted_l1_prox`, soft-thresholding at ``eta * lambda``, the ISTA step).
* Non-local group, ``psi_j = sum_l lambda_l Phi_alpha(u_j[l])`` with
  ``u_j[l] = (sqrt(a_jr) z_{n(j,r)}[l])_r`` over the group of ``j`` (itself at rank 0 and its
  ``k`` neighbours) and ``Phi_alpha`` the smoothed l2 norm. Player ``j`` only controls the
  entry ``r = 0`` of its own group, so
  ``d psi_j / d z_j[l] = lambda_l a_j0 z_j[l] min(alpha, 1 / ||u_j[l]||)``.
  ``symmetric=True`` gives the gradient of the potential ``1/2 sum_i psi_i``
  (:func:`nl_group_potential`), summing over every group that contains ``z_j``.
* Variance reduction, ``psi_j = mu ||W z_j - P_j yhat||^2`` with ``yhat = avg(W Z)`` (eq. 3);
  ``yhat`` depends on ``z_j`` through the pixels of patch ``j``, each with weight
  ``1 / count``, so ``d psi_j / d z_j = 2 mu W^T ((1 - 1 / count_j) * (W z_j - P_j yhat))``.

Example (soft-thresholding with per-atom thresholds):
    >>> z = torch.tensor([1.0, -1.0]).view(1, 2, 1, 1)
    >>> weighted_l1_prox(z, torch.tensor([0.5, 2.0]), 1.0).flatten()
    tensor([0.5000, -0.0000])
"""

from __future__ import annotations

import torch

from .data_terms import apply_dictionary, apply_dictionary_adjoint
from .patches import extract_patches, patch_average, patch_coverage
from .smoothing import _l2_envelope, _l2_scale, soft_threshold

__all__ = ["weighted_l1_prox", "nl_group_grad", "nl_group_shrink", "nl_group_potential",
           "variance_grad", "variance_own_share"]

#: floor of the squared group norm in :func:`nl_group_shrink` (a zero group stays zero, with
#: finite gradients)
_SHRINK_EPS = 1e-20


def weighted_l1_prox(Z: torch.Tensor, lam: torch.Tensor, step: torch.Tensor | float,
                     scratch: torch.Tensor | None = None) -> torch.Tensor:
    """``prox_{step * sum_l lam_l |.|}(Z)``: soft-threshold channel ``l`` at ``step * lam_l``.

    Args:
        Z: ``(B, p, Hc, Wc)``.
        lam: ``(p,)`` non-negative thresholds.
        step: step size (scalar, or ``(B, 1, Hc, Wc)`` per-patch steps).
        scratch: a tensor like ``Z`` (inference only, no autograd): ``Z`` is overwritten with
            the result and ``scratch`` holds the clamp, so no code-sized tensor is allocated.
    """
    tau = step * lam.view(1, -1, 1, 1)
    if scratch is not None:
        return Z.sub_(torch.clamp(Z, -tau, tau, out=scratch))
    return soft_threshold(Z, tau)


def _gather_rank(Z: torch.Tensor, nbr: torch.Tensor, r: int,
                 out: torch.Tensor | None = None) -> torch.Tensor:
    """``Z`` at the rank-``r`` neighbours, ``(B, p, Hc, Wc)``; ``out`` (no autograd): written
    there instead of a new tensor."""
    b, p, h, w = Z.shape
    idx = nbr[:, r].reshape(b, 1, h * w).expand(b, p, h * w)
    flat = Z.reshape(b, p, h * w)
    if out is not None:
        torch.gather(flat, 2, idx, out=out.view(b, p, h * w))
        return out
    return flat.gather(2, idx).view(b, p, h, w)


def _scatter_rank(U: torch.Tensor, nbr: torch.Tensor, r: int) -> torch.Tensor:
    b, p, h, w = U.shape
    idx = nbr[:, r].reshape(b, 1, h * w).expand(b, p, h * w)
    return U.new_zeros(b, p, h * w).scatter_add(2, idx, U.reshape(b, p, h * w)).view(b, p, h, w)


def _group_sq_norms(Z: torch.Tensor, nbr: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``||u_j[l]||^2 = sum_r a_jr z_{n(j,r)}[l]^2``, ``(B, p, Hc, Wc)`` (loop over ranks to keep
    memory at ``O(p Hc Wc)``)."""
    Z2 = Z.square()
    if torch.is_grad_enabled() and (Z.requires_grad or a.requires_grad):
        sq = torch.zeros_like(Z)
        for r in range(nbr.shape[1]):
            sq = sq + a[:, r:r + 1] * _gather_rank(Z2, nbr, r)
        return sq
    # inference: one gather buffer, accumulated in place (code-sized allocations are slow)
    sq, buf = torch.zeros_like(Z), torch.empty_like(Z)
    for r in range(nbr.shape[1]):
        sq.addcmul_(_gather_rank(Z2, nbr, r, out=buf), a[:, r:r + 1])
    return sq


def nl_group_grad(
    Z: torch.Tensor,
    nbr: torch.Tensor,
    a: torch.Tensor,
    lam: torch.Tensor,
    alpha: torch.Tensor | float,
    symmetric: bool = False,
) -> torch.Tensor:
    """Players' gradients of the smoothed non-local group penalty.

    Args:
        Z: ``(B, p, Hc, Wc)`` codes.
        nbr: ``(B, k+1, Hc, Wc)`` groups, position itself at rank 0
            (:func:`.nonlocal_graph.nonlocal_graph` with ``include_self=True``).
        a: ``(B, k+1, Hc, Wc)`` weights.
        lam: ``(p,)`` per-atom strengths.
        alpha: Moreau-Yosida parameter.
        symmetric: gradient of the potential ``1/2 sum_i psi_i`` instead of the own partials.
    """
    m = _l2_scale(_group_sq_norms(Z, nbr, a), alpha)          # min(alpha, 1 / ||u_j[l]||)
    lam = lam.view(1, -1, 1, 1)
    if not symmetric:
        return lam * a[:, :1] * Z * m
    acc = torch.zeros_like(Z)
    for r in range(nbr.shape[1]):
        acc = acc + _scatter_rank(a[:, r:r + 1] * m, nbr, r)
    return 0.5 * lam * Z * acc


def nl_group_shrink(V: torch.Tensor, nbr: torch.Tensor, a: torch.Tensor, lam: torch.Tensor,
                    step: torch.Tensor | float, inplace: bool = False) -> torch.Tensor:
    """Group soft-thresholding ``v_j[l] max(0, 1 - step lam_l / ||u_j[l]||)`` with
    ``||u_j[l]||^2 = sum_r a_jr v_{n(j,r)}[l]^2`` (the group's codes after the gradient step).

    The non-local group penalty's update of the same authors' GroupSC code: not its exact prox
    (the groups overlap), but where each group is the patch alone (``a_jj = 1``) it is the
    weighted-l1 prox, so the game is then sparse coding exactly.

    Args:
        V: ``(B, p, Hc, Wc)`` codes after the gradient step.
        nbr, a: groups and weights, position itself at rank 0 (as :func:`nl_group_grad`).
        lam: ``(p,)`` non-negative strengths.
        step: step size (scalar, or ``(B, 1, Hc, Wc)`` per-patch steps).
        inplace: inference only (no autograd): ``V`` is overwritten with the result, so no
            code-sized tensor besides the group norms is allocated.
    """
    tau = step * lam.view(1, -1, 1, 1)
    sq = _group_sq_norms(V, nbr, a)
    if not inplace:
        return V * torch.relu(1.0 - tau * torch.rsqrt(sq.clamp_min(_SHRINK_EPS)))
    scale = sq.clamp_min_(_SHRINK_EPS).rsqrt_().mul_(tau).neg_().add_(1.0).relu_()
    return V.mul_(scale)


def nl_group_potential(
    Z: torch.Tensor, nbr: torch.Tensor, a: torch.Tensor, lam: torch.Tensor,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """``1/2 sum_i sum_l lam_l Phi_alpha(u_i[l])`` per batch element, ``(B,)``."""
    env = _l2_envelope(_group_sq_norms(Z, nbr, a), alpha)
    return 0.5 * (lam.view(1, -1, 1, 1) * env).flatten(1).sum(1)


def variance_grad(Z: torch.Tensor, W: torch.Tensor, patch: int, size: tuple[int, int],
                  coverage: torch.Tensor | None = None, *, own: torch.Tensor | None = None,
                  scale: torch.Tensor | float | None = None,
                  out: torch.Tensor | None = None,
                  offset: torch.Tensor | None = None) -> torch.Tensor:
    """Players' gradients of ``||W z_j - P_j yhat||^2`` (``yhat = avg(W Z)``), without ``mu``.

    Args:
        Z: ``(B, p, Hc, Wc)`` codes.
        W: ``(q, p)`` reconstruction dictionary.
        patch: patch side ``s``.
        size: image size ``(H, W)`` with ``Hc = H - s + 1``.
        coverage: optional precomputed :func:`.patches.patch_coverage`.
        own: optional precomputed :func:`variance_own_share` (constant for one image size).
        scale: multiply the gradient by this (e.g. ``mu``); applied to the ``q``-channel
            residual, cheaper than to the ``p``-channel result.
        out: add the result to this tensor in place and return it. Without autograd the
            intermediate residual is also overwritten in place: every code-sized allocation
            costs page faults on a CPU (this made SC + variance 2.3x slower than SC).
        offset: ``(B, q, Hc, Wc)`` constant added to every patch estimate: the penalty is then
            ``||W z_j + o_j - P_j yhat||^2`` with ``yhat = avg(W Z + O)`` (the patch means of a
            game that codes centred patches).
    """
    cov = patch_coverage(size, patch, Z) if coverage is None else coverage
    own = variance_own_share(cov, patch, W.shape[0] // (patch * patch)) if own is None else own
    R = apply_dictionary(W, Z)                                    # (B, q, Hc, Wc)
    if offset is not None:
        R = R + offset
    yhat = patch_average(R, patch, size, cov)
    if torch.is_grad_enabled():
        resid = (R - extract_patches(yhat, patch)) * own
        resid = resid * (2.0 if scale is None else 2.0 * scale)
        g = apply_dictionary_adjoint(W, resid)
        return g if out is None else out + g
    resid = R.sub_(extract_patches(yhat, patch)).mul_(own)
    alpha = 2.0 if scale is None else 2.0 * float(scale)
    return apply_dictionary_adjoint(W, resid, out=out, alpha=alpha)


def variance_own_share(coverage: torch.Tensor, patch: int, channels: int = 1) -> torch.Tensor:
    """``1 - P_j (1 / count)``, ``(1, channels * patch^2, Hc, Wc)``: the share of each pixel of
    patch ``j`` that the other patches covering it hold in ``yhat`` (the factor of
    :func:`variance_grad`)."""
    inv = (1.0 / coverage).expand(1, channels, *coverage.shape[-2:])
    return 1.0 - extract_patches(inv, patch)
