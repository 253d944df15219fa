"""Pairwise priors on a grid or a non-local graph: TV, Laplacian, NLTV, non-local Laplacian.

Player ``j`` of the game (paper eq. 2) owns the variable ``z_j`` and the regulariser

    ``psi_j(Z) = sum_{k in N_j} a_jk phi(z_j - z_k)``,   ``phi = |.|`` (TV) or ``(.)^2`` (Laplacian)

(per channel), with ``|.|`` replaced by its Moreau envelope (:mod:`.smoothing`). The functions
``*_game_grad`` return every player's *partial* gradient ``d psi_j / d z_j``, stacked into an
image; this is the prior part of the simultaneous gradient ``H(Z)`` of eq. (6), not the gradient
of one global objective:

    ``H_j = sum_{k in N_j} a_jk phi'(z_j - z_k)``.

* Grid graph (:func:`grid_game_grad`): ``N_j`` are the in-image neighbours ``j + o``,
  ``a_jk = a_o`` (times an optional edge factor shared by both ends of an edge, e.g. an
  edge-aware guide weight). ``a_o != a_{-o}`` gives a non-cooperative game; ``a_o = a_{-o}``
  a potential game (Appendix A.2) whose potential is :func:`grid_potential` and then
  ``grid_game_grad == grad grid_potential`` exactly.
* Non-local graph (:func:`nonlocal_game_grad`): ``N_j`` and ``a_jk`` come from
  :func:`.nonlocal_graph.nonlocal_graph`; softmax weights are not symmetric, so the plain game is
  non-cooperative. ``symmetric=True`` returns instead the gradient of the potential
  ``V = 1/2 sum_j psi_j`` (:func:`nonlocal_potential`), i.e. the game with the symmetrised
  weights ``(a_jk + a_kj) / 2``; on a grid with ``a_o = a_{-o}`` both definitions coincide.

Both gradients are custom autograd functions with hand-written backward passes that recompute
the differences instead of storing them (only ``z`` is saved per call), which keeps unrolled
training memory at about one image per half-step; they are checked by float64 ``gradcheck``.

Example (TV of a constant image is 0, and a constant is an equilibrium):
    >>> z = torch.full((1, 1, 3, 4), 0.7)
    >>> w = torch.ones(8)
    >>> float(grid_potential(z, w, grid_offsets(8), "l1").sum())
    0.0
    >>> float(grid_game_grad(z, w, grid_offsets(8), "l1", alpha=torch.tensor(10.0)).abs().max())
    0.0
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .grid import _dst, _src, edge_diff, grid_offsets
from .nonlocal_graph import nl_diff, nl_diff_adjoint, nl_gather, nl_gather_adjoint, window_offsets
from .smoothing import moreau_l1, moreau_l1_grad

__all__ = [
    "penalty_grad",
    "penalty_value",
    "guide_edge_weights",
    "grid_game_grad",
    "grid_potential",
    "nonlocal_game_grad",
    "nonlocal_potential",
]

PENALTIES = ("l1", "l2")


def penalty_grad(e: torch.Tensor, penalty: str, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """``phi'(e)``: ``clamp(alpha e, -1, 1)`` (smoothed l1) or ``2 e`` (squared l2)."""
    if penalty == "l1":
        if alpha is None:
            raise ValueError("the l1 penalty needs a smoothing alpha > 0")
        return moreau_l1_grad(e, alpha)
    if penalty == "l2":
        return 2.0 * e
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")


def penalty_value(e: torch.Tensor, penalty: str, alpha: torch.Tensor | None = None) -> torch.Tensor:
    """``phi(e)``: Huber (smoothed l1; exact ``|e|`` when ``alpha`` is None) or ``e^2``."""
    if penalty == "l1":
        return e.abs() if alpha is None else moreau_l1(e, alpha)
    if penalty == "l2":
        return e * e
    raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")


def guide_edge_weights(
    guide: torch.Tensor, kappa: torch.Tensor, offsets: tuple[tuple[int, int], ...]
) -> tuple[torch.Tensor, ...]:
    """Edge-aware factors ``exp(-||kappa * (I_{j+o} - I_j)||_2)`` for the forward offsets.

    Args:
        guide: ``(B, G, H, W)`` guide image ``I``.
        kappa: ``(G,)`` learned per-channel scales.
        offsets: all offsets (:func:`.grid.grid_offsets`); factors are returned for the first
            half, each shared with its mirror (the factor is symmetric in ``j`` and ``j + o``).

    Returns:
        one ``(B, 1, H - |dy|, W - |dx|)`` tensor per forward offset (edge layout).
    """
    k = kappa.view(1, -1, 1, 1)
    eps = 1e-12
    return tuple(
        torch.exp(-((k * edge_diff(guide, o)).square().sum(1, keepdim=True) + eps).sqrt())
        for o in offsets[: len(offsets) // 2]
    )


def grid_game_grad(
    z: torch.Tensor,
    weight: torch.Tensor,
    offsets: tuple[tuple[int, int], ...],
    penalty: str = "l1",
    alpha: torch.Tensor | None = None,
    edge_weight: tuple[torch.Tensor, ...] | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Players' partial gradients ``H_j = sum_o a_o(j) phi'(z_j - z_{j+o})`` on the grid.

    Each edge ``(j, j+o)`` is visited once: ``c = phi'(z_{j+o} - z_j)`` (times the edge factor)
    enters player ``j`` as ``-a_o c`` and player ``j + o`` as ``+a_{-o} c``. Out-of-image
    neighbours contribute nothing.

    Args:
        z: ``(B, C, H, W)``.
        weight: ``(O,)`` per-offset weights ``a_o``, ordered like ``offsets``
            (``a_{-o}`` is ``weight[i + O/2]``).
        offsets: :func:`.grid.grid_offsets` (forward half first).
        penalty: ``"l1"`` (TV, needs ``alpha``) or ``"l2"`` (Laplacian).
        alpha: Moreau-Yosida parameter (scalar tensor) for ``"l1"``.
        edge_weight: optional factors from :func:`guide_edge_weights`.
        out: optional ``(B, C, H, W)`` tensor the gradient is added to in place (e.g. the data
            gradient; saves an allocation and an addition per step).

    Returns:
        ``(B, C, H, W)`` (``out`` when given).
    """
    if penalty == "l1" and alpha is None:
        raise ValueError("the l1 penalty needs a smoothing alpha > 0")
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    edge = tuple(edge_weight) if edge_weight is not None else ()
    weight = torch.as_tensor(weight, dtype=z.dtype, device=z.device)
    if alpha is not None and not torch.is_tensor(alpha):
        alpha = torch.tensor(float(alpha), dtype=z.dtype, device=z.device)
    return _GridGameGrad.apply(tuple(offsets), penalty, z, weight, alpha, out, *edge)


class _GridGameGrad(torch.autograd.Function):
    """:func:`grid_game_grad` with a hand-written backward.

    Forward, per forward offset ``o`` (edge layout, ``s = alpha z`` for l1, ``s = z`` for l2):
    ``e = s_{j+o} - s_j``, ``c = hardtanh(e)`` (l1) or ``e`` (l2), ``cw = c * edge``,
    ``g_j -= k a_o cw``, ``g_{j+o} += k a_{-o} cw`` (``k = 1`` for l1, 2 for l2).
    The backward recomputes ``e`` instead of storing it (memory: only ``z`` is saved) and uses
    in-place slice updates, which autograd would otherwise record as copy-heavy nodes.
    """

    @staticmethod
    def forward(ctx, offsets, penalty, z, weight, alpha, out, *edge):
        l1 = penalty == "l1"
        zs = alpha * z if l1 else z
        a = weight if l1 else 2.0 * weight
        h, w = z.shape[-2:]
        half = len(offsets) // 2
        if out is None:
            g = torch.zeros_like(z)
        else:
            g = out
            ctx.mark_dirty(out)
        for i in range(half):
            o = offsets[i]
            c = edge_diff(zs, o)
            if l1:
                c = F.hardtanh(c)
            if edge:
                c = c * edge[i]
            (sr, sc), (dr, dc) = _src(o, h, w), _dst(o, h, w)
            g[..., sr, sc].addcmul_(c, -a[i])        # player j:      a_o    phi'(z_j - z_{j+o})
            g[..., dr, dc].addcmul_(c, a[i + half])  # player j + o:  a_{-o} phi'(z_{j+o} - z_j)
        ctx.offsets, ctx.penalty, ctx.has_out = offsets, penalty, out is not None
        ctx.save_for_backward(z, weight, alpha if l1 else None, *edge)
        return g

    @staticmethod
    def backward(ctx, grad):
        z, weight, alpha, *edge = ctx.saved_tensors
        offsets, l1 = ctx.offsets, ctx.penalty == "l1"
        zs = alpha * z if l1 else z
        k = 1.0 if l1 else 2.0
        h, w = z.shape[-2:]
        half = len(offsets) // 2
        need_z = ctx.needs_input_grad[2] or (l1 and ctx.needs_input_grad[4])
        grad_s = torch.zeros_like(z) if need_z else None
        grad_w = torch.zeros_like(weight) if ctx.needs_input_grad[3] else None
        grad_edge = [None] * len(edge)
        for i in range(half):
            o = offsets[i]
            (sr, sc), (dr, dc) = _src(o, h, w), _dst(o, h, w)
            e = edge_diff(zs, o)
            c = F.hardtanh(e) if l1 else e
            gs, gd = grad[..., sr, sc], grad[..., dr, dc]
            gc = gd * (k * weight[i + half]) - gs * (k * weight[i])     # dL/d cw
            cw = c * edge[i] if edge else c
            if grad_w is not None:
                grad_w[i] = -k * (gs * cw).sum()
                grad_w[i + half] = k * (gd * cw).sum()
            if edge:
                if ctx.needs_input_grad[6 + i]:
                    ge = gc * c
                    grad_edge[i] = ge.sum_to_size(edge[i].shape)
                gc = gc * edge[i]
            if grad_s is not None:
                if l1:
                    gc = torch.ops.aten.hardtanh_backward(gc, e, -1.0, 1.0)
                grad_s[..., dr, dc] += gc
                grad_s[..., sr, sc] -= gc
        grad_z = grad_alpha = None
        if grad_s is not None:
            grad_z = alpha * grad_s if l1 else grad_s
            if l1 and ctx.needs_input_grad[4]:
                grad_alpha = (grad_s * z).sum().reshape(alpha.shape)
        grad_out = grad if ctx.has_out else None
        return (None, None, grad_z, grad_w, grad_alpha, grad_out, *grad_edge)


def grid_potential(
    z: torch.Tensor,
    weight: torch.Tensor,
    offsets: tuple[tuple[int, int], ...] | None = None,
    penalty: str = "l1",
    alpha: torch.Tensor | None = None,
    edge_weight: tuple[torch.Tensor, ...] | None = None,
) -> torch.Tensor:
    """``V(z) = 1/2 sum_j sum_o a_o(j) phi(z_{j+o} - z_j)`` per batch element, ``(B,)``.

    With ``a_o = a_{-o}`` every edge is counted twice with the same weight, so ``V`` is the
    usual weighted anisotropic TV / Laplacian and ``grad V == grid_game_grad``. With
    ``alpha=None`` the l1 penalty is exact (no smoothing).
    """
    offsets = grid_offsets(8) if offsets is None else offsets
    half = len(offsets) // 2
    total = z.new_zeros(z.shape[0])
    for i in range(half):
        v = penalty_value(edge_diff(z, offsets[i]), penalty, alpha)
        if edge_weight is not None:
            v = v * edge_weight[i]
        total = total + 0.5 * (weight[i] + weight[i + half]) * v.flatten(1).sum(1)
    return total


def nonlocal_game_grad(
    z: torch.Tensor,
    nbr: torch.Tensor,
    a: torch.Tensor,
    penalty: str = "l1",
    alpha: torch.Tensor | None = None,
    symmetric: bool = False,
    strength: torch.Tensor | float = 1.0,
    window: int | None = None,
) -> torch.Tensor:
    """Players' partial gradients on the non-local graph (NLTV / non-local Laplacian).

    ``H_j = sum_r a_jr phi'(z_j - z_{n(j, r)})``; with ``symmetric=True`` the gradient of
    :func:`nonlocal_potential`, ``1/2 D^T (a * phi'(D z))`` (``D`` = :func:`.nl_diff`).

    Args:
        z: ``(B, C, H, W)``.
        nbr: ``(B, k, H, W)`` flat neighbour indices.
        a: ``(B, k, H, W)`` weights.
        penalty, alpha: as in :func:`grid_game_grad`.
        symmetric: potential-game variant.
        strength: scalar prior strength ``lambda`` multiplying ``a`` (kept separate so that the
            graph weights, shared by many iterations, are not copied per iteration).
        window: the graph is a dense ``window x window`` window (``k = window^2 - 1``), its
            lists in the window's order, as :func:`.nonlocal_graph.nonlocal_graph` returns
            them. On a CPU the differences are then taken by shifting the image, offset by
            offset, instead of gathering all ``k`` of them: the same numbers, about twice as
            fast there (``nbr`` is not read; ``a`` must be 0 at the missing neighbours). Other
            devices keep the gathered path: a few large kernels per call instead of about ten
            small ones per neighbour.
    """
    if penalty == "l1" and alpha is None:
        raise ValueError("the l1 penalty needs a smoothing alpha > 0")
    if penalty not in PENALTIES:
        raise ValueError(f"penalty must be one of {PENALTIES}, got {penalty!r}")
    if alpha is not None and not torch.is_tensor(alpha):
        alpha = torch.tensor(float(alpha), dtype=z.dtype, device=z.device)
    strength = torch.as_tensor(strength, dtype=z.dtype, device=z.device)
    if window is not None and z.device.type == "cpu":
        offsets = window_offsets(window)
        if a.shape[1] != len(offsets):
            raise ValueError(f"a dense {window}x{window} window has {len(offsets)} neighbours, "
                             f"the weights {a.shape[1]}")
        return _DenseWindowGameGrad.apply(tuple(offsets), penalty, symmetric, z, a, alpha,
                                          strength)
    return _NonlocalGameGrad.apply(penalty, symmetric, z, nbr, a, alpha, strength)


class _DenseWindowGameGrad(torch.autograd.Function):
    """:func:`nonlocal_game_grad` on a dense window, one pair of mirrored offsets at a time.

    Offset ``o`` (neighbour ``r``) visits the pixels ``j`` whose ``j + o`` is inside the image
    (grid slices, as :func:`grid_game_grad`), so no ``(B, C, k, H, W)`` tensor is made and a
    missing neighbour contributes nothing (its weight's gradient is 0, as on the gathered path,
    whose missing neighbour is the pixel itself). The window's order puts ``-o`` at ``k - 1 -
    r``, and ``e_{-o}`` at ``j + o`` is ``-e_o`` at ``j``: each pair computes its difference
    and its clip once. Same forward and backward formulas as :class:`_NonlocalGameGrad`."""

    @staticmethod
    def forward(ctx, offsets, penalty, symmetric, z, a, alpha, strength):
        l1 = penalty == "l1"
        zs = alpha * z if l1 else z
        h, w = z.shape[-2:]
        n = len(offsets)
        out = torch.zeros_like(z)
        for r in range(n // 2):
            q, o = n - 1 - r, offsets[r]
            (sr, sc), (dr, dc) = _src(o, h, w), _dst(o, h, w)
            e = zs[..., dr, dc] - zs[..., sr, sc]            # e_o at j, -e_{-o} at j + o
            t = F.hardtanh(e) if l1 else e
            a_r, a_q = a[:, r:r + 1, sr, sc], a[:, q:q + 1, dr, dc]
            if symmetric:           # u_o(j) - u_{-o}(j + o) leaves j and reaches j + o
                s = (a_r + a_q) * t
                out[..., sr, sc] -= s
                out[..., dr, dc] += s
            else:                   # j's own partial from o, and j + o's from -o
                out[..., sr, sc].addcmul_(a_r, t, value=-1.0)
                out[..., dr, dc].addcmul_(a_q, t)
        m = strength if l1 else 2.0 * strength
        ctx.offsets, ctx.penalty, ctx.symmetric = offsets, penalty, symmetric
        ctx.save_for_backward(z, a, alpha if l1 else None, strength)
        return out * (0.5 * m if symmetric else m)

    @staticmethod
    def backward(ctx, grad):
        z, a, alpha, strength = ctx.saved_tensors
        l1 = ctx.penalty == "l1"
        m = strength if l1 else 2.0 * strength
        zs = alpha * z if l1 else z
        h, w = z.shape[-2:]
        n = len(ctx.offsets)
        want_a, want_strength = ctx.needs_input_grad[4], ctx.needs_input_grad[6]
        want_s = ctx.needs_input_grad[3] or (l1 and ctx.needs_input_grad[5])
        grad_a = torch.zeros_like(a) if want_a or want_strength else None
        grad_s = torch.zeros_like(z) if want_s else None
        one = z.shape[1] == 1

        def put(r, rows, cols, x, t):
            """grad_a[:, r] on (rows, cols) = the channel sum of x * t."""
            if one:
                torch.mul(x, t, out=grad_a[:, r:r + 1, rows, cols])
            else:
                grad_a[:, r, rows, cols] = (x * t).sum(1)

        for r in range(n // 2):
            q, o = n - 1 - r, ctx.offsets[r]
            (sr, sc), (dr, dc) = _src(o, h, w), _dst(o, h, w)
            e = zs[..., dr, dc] - zs[..., sr, sc]
            t = (F.hardtanh(e) if l1 else e) if grad_a is not None else None
            g_src, g_dst = grad[..., sr, sc], grad[..., dr, dc]
            a_r, a_q = a[:, r:r + 1, sr, sc], a[:, q:q + 1, dr, dc]
            if ctx.symmetric:
                # dL/du of (j, o) is 1/2 (grad(j + o) - grad(j)), that of (j + o, -o) its
                # negative: both weights get the same gradient
                g = (g_dst - g_src).mul_(0.5)
                if grad_a is not None:
                    put(r, sr, sc, g, t)
                    grad_a[:, q, dr, dc] = grad_a[:, r, sr, sc]
                gc = g.mul_(a_r + a_q) if grad_s is not None else None
            else:
                # dL/du of (j, o) is -grad(j), that of (j + o, -o) -grad(j + o); the first
                # half's weight gradients are negated after the loop
                if grad_a is not None:
                    put(r, sr, sc, g_src, t)
                    put(q, dr, dc, g_dst, t)
                gc = (a_q * g_dst).addcmul_(a_r, g_src, value=-1.0) if grad_s is not None \
                    else None
            if gc is not None:
                if l1:
                    gc = torch.ops.aten.hardtanh_backward(gc, e, -1.0, 1.0)
                grad_s[..., dr, dc] += gc
                grad_s[..., sr, sc] -= gc
        if grad_a is not None and not ctx.symmetric:
            grad_a[:, :n // 2].neg_()
        grad_z = grad_alpha = grad_strength = None
        if want_strength:
            grad_strength = ((1.0 if l1 else 2.0) * (grad_a * a).sum()).reshape(strength.shape)
        if grad_s is not None:
            grad_s = m * grad_s
            grad_z = alpha * grad_s if l1 else grad_s
            if l1 and ctx.needs_input_grad[5]:
                grad_alpha = (grad_s * z).sum().reshape(alpha.shape)
        if want_a:
            grad_a = m * grad_a
        else:
            grad_a = None
        return None, None, None, grad_z, grad_a, grad_alpha, grad_strength


class _NonlocalGameGrad(torch.autograd.Function):
    """:func:`nonlocal_game_grad` with a hand-written backward that recomputes the ``k``
    differences per pixel instead of storing them: autograd would keep about four
    ``(B, C, k, H, W)`` tensors per call (about 1 GB for 48 half-steps on a 481x321 image with
    ``k = 9``); this keeps only ``z`` (``a`` and ``nbr`` are shared by the iterations).

    Forward (``s = alpha z`` for l1, ``z`` for l2; ``m = lambda`` for l1, ``2 lambda`` for
    l2): ``e = D s`` (:func:`.nl_diff`), ``u = m a phi'(e)``, ``H = -sum_r u`` (own partials)
    or ``1/2 D^T u`` (symmetric).
    """

    @staticmethod
    def forward(ctx, penalty, symmetric, z, nbr, a, alpha, strength):
        l1 = penalty == "l1"
        zs = alpha * z if l1 else z
        e = nl_diff(zs, nbr)
        c = F.hardtanh(e) if l1 else e
        m = strength if l1 else 2.0 * strength
        u = a.unsqueeze(1) * c                      # m is applied on the (B, C, H, W) sums
        if symmetric:
            out = (0.5 * m) * (nl_gather_adjoint(u, nbr) - u.sum(2))
        else:
            out = -m * u.sum(2)
        ctx.penalty, ctx.symmetric = penalty, symmetric
        ctx.save_for_backward(z, nbr, a, alpha if l1 else None, strength)
        return out

    @staticmethod
    def backward(ctx, grad):
        z, nbr, a, alpha, strength = ctx.saved_tensors
        l1 = ctx.penalty == "l1"
        m = strength if l1 else 2.0 * strength
        zs = alpha * z if l1 else z
        e = nl_diff(zs, nbr)
        c = F.hardtanh(e) if l1 else e
        G = -grad.unsqueeze(2)                                   # dL/du, (B, C, k|1, H, W)
        if ctx.symmetric:
            G = 0.5 * (G + nl_gather(grad, nbr))
        grad_a = grad_z = grad_alpha = grad_strength = None
        if ctx.needs_input_grad[4] or ctx.needs_input_grad[6]:
            gac = (G * c).sum(1)                                 # dL/d(m a), (B, k, H, W)
            if ctx.needs_input_grad[4]:
                grad_a = m * gac
            if ctx.needs_input_grad[6]:
                grad_strength = ((1.0 if l1 else 2.0) * (gac * a).sum()).reshape(strength.shape)
        if ctx.needs_input_grad[2] or (l1 and ctx.needs_input_grad[5]):
            gc = a.unsqueeze(1) * G
            if l1:
                gc = torch.ops.aten.hardtanh_backward(gc, e, -1.0, 1.0)
            grad_s = m * nl_diff_adjoint(gc, nbr)           # linear in gc: m applied after
            grad_z = alpha * grad_s if l1 else grad_s
            if l1 and ctx.needs_input_grad[5]:
                grad_alpha = (grad_s * z).sum().reshape(alpha.shape)
        return None, None, grad_z, None, grad_a, grad_alpha, grad_strength


def nonlocal_potential(
    z: torch.Tensor,
    nbr: torch.Tensor,
    a: torch.Tensor,
    penalty: str = "l1",
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """``V(z) = 1/2 sum_j sum_r a_jr phi(z_{n(j, r)} - z_j)`` per batch element, ``(B,)``."""
    v = a.unsqueeze(1) * penalty_value(nl_diff(z, nbr), penalty, alpha)
    return 0.5 * v.flatten(1).sum(1)
