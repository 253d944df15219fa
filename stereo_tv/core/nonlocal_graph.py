"""Non-local similarity graph and its gather / scatter operators (paper Sec. 3.1, NLTV / group).

For every position ``j`` of a grid we keep the ``k`` most similar other positions ``n(j, r)``,
``r = 1..k``, inside a ``window x window`` search window, for the patch distance

    ``d_jk = || diag(kappa) (P_j y - P_k y) ||^2 = sum_p kappa_p^2 (y_{j+p} - y_{k+p})^2``

computed on the current estimate ``y``, and the normalised weights ``a_jk = softmax_k(-d_jk)``.

Two grids are supported (``mode``):

* ``"same"``: one position per pixel, patches centred on it (``y`` replicate-padded by
  ``patch // 2``); used by the pixel games (NLTV, non-local Laplacian).
* ``"valid"``: one position per ``patch x patch`` patch fully inside ``y`` (top-left corner at
  ``(i, j)``, grid ``(H - patch + 1, W - patch + 1)``); used by the patch games.

The neighbour search computes the distances to every offset of the window (a depthwise
convolution of squared differences with ``kappa^2``) and keeps the ``k`` smallest by ``topk``
(a dense window, ``k >= window^2 - 1``, keeps every offset in the window's order, so that
every graph of one image has the same neighbour lists and :func:`blend_graphs` need not
sort them; with ``k = window^2 - 1`` those lists depend on the grid size only and are cached
for the last few sizes).
Gradients flow through the kept distances, hence the weights, not through the arg-min indices.
:func:`nonlocal_graph` picks one of three ways to get the differentiable distances:

* autograd off (inference): the search's own distances, in blocks of rows (memory
  ``O(k * H * W)`` plus a fixed block, never ``O(window^2 * H * W)``);
* autograd on, at most :data:`GRAPH_GRAD_MAX_ELEMS` candidate distances: one block whose
  all-offsets volume autograd keeps for the backward pass;
* autograd on, larger: :func:`knn_search` without autograd, then :func:`patch_distance`, a
  custom autograd function that recomputes its intermediate values in the backward pass
  (memory ``O(k * H * W)`` as well, about 3x slower on a CPU).

Neighbour indices are flat indices into the grid, ``(B, k, Hg, Wg)`` ``int64``. A position with
fewer than ``k`` valid candidates (tiny images) gets its own index and ``valid = False`` there;
its weight is 0.

Example:
    >>> y = torch.tensor([[[[0.0, 1.0, 3.0, 7.0]]]])
    >>> nbr, valid = knn_search(y, torch.ones(1), k=1, window=3, patch=1)
    >>> nbr[0, 0, 0].tolist()                                  # nearest other pixel
    [1, 0, 1, 2]
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

__all__ = [
    "pad_for_patches",
    "window_offsets",
    "knn_search",
    "patch_distance",
    "softmax_weights",
    "nonlocal_graph",
    "blend_graphs",
    "nl_gather",
    "nl_gather_adjoint",
    "nl_diff",
    "nl_diff_adjoint",
]


#: Above this many candidate distances (offsets x batch x channels x pixels), a graph built
#: with autograd on uses :func:`patch_distance` (memory ``O(k * H * W)``, recomputed in the
#: backward pass) instead of keeping every window offset's distance map for the backward pass
#: (~3x faster on a CPU, about two such volumes of memory: 1 GiB at the limit in float32).
GRAPH_GRAD_MAX_ELEMS = 1 << 27
#: Distances held at once by a search without autograd (``offsets * rows * Wg``).
BLOCK_ELEMS = 1 << 22
#: Largest dense neighbour list (``offsets * Hg * Wg`` entries, int64: 128 MiB) kept in the
#: per-size cache; larger grids build theirs for each graph.
DENSE_CACHE_MAX_ELEMS = 1 << 24


def pad_for_patches(y: torch.Tensor, patch: int, mode: str) -> torch.Tensor:
    """The image whose ``patch x patch`` windows are the patches ``P_j y`` of the grid."""
    if mode == "same":
        r = patch // 2
        return F.pad(y, (r, patch - 1 - r, r, patch - 1 - r), mode="replicate") if patch > 1 else y
    if mode == "valid":
        return y
    raise ValueError(f"mode must be 'same' or 'valid', got {mode!r}")


def window_offsets(window: int) -> list[tuple[int, int]]:
    """The ``window^2 - 1`` offsets ``(dy, dx)`` of a search window, row by row: the order of
    a dense window's neighbour lists."""
    r = window // 2
    return [(dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if (dy, dx) != (0, 0)]


def knn_search(
    y: torch.Tensor,
    kappa: torch.Tensor,
    k: int,
    window: int,
    patch: int,
    mode: str = "same",
    block_elems: int = BLOCK_ELEMS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` nearest other positions of every grid position (no gradient).

    The grid is processed in blocks of rows; for each block the distances to all
    ``window^2 - 1`` offsets are computed at once (a depthwise convolution of the squared
    differences with ``kappa^2``) and reduced by ``topk``. Peak extra memory is about
    ``3 * block_elems`` values.

    Args:
        y: ``(B, C, H, W)`` current estimate.
        kappa: ``(C * patch * patch,)`` or ``(patch * patch,)`` (shared by the channels).
        k: neighbours kept per position.
        window: odd search window side; candidates are the ``window^2 - 1`` offsets.
        patch: patch side (odd for centred ``"same"`` patches; even sides lean up-left).
        mode: ``"same"`` or ``"valid"`` (see the module docstring).
        block_elems: distances held at once (``offsets * rows * Wg``).

    Returns:
        ``nbr`` ``(B, k, Hg, Wg)`` int64 flat grid indices and ``valid`` ``(B, k, Hg, Wg)`` bool.
        For a dense window (``k = window^2 - 1``) both are views of tensors cached per grid
        size: read them, clone them before writing.
    """
    with torch.no_grad():
        nbr, valid, _ = _search(y, kappa, k, window, patch, mode, block_elems)
    return nbr, valid


def _search(
    y: torch.Tensor,
    kappa: torch.Tensor,
    k: int,
    window: int,
    patch: int,
    mode: str,
    block_elems: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`knn_search` that also returns the kept distances ``(B, k, Hg, Wg)``.

    The distances are differentiable in ``y`` and ``kappa`` when autograd is on (the
    selection itself is not); missing neighbours get distance 0 and ``valid = False``. They are
    computed in ``y``'s dtype, with autocast off (AMP would otherwise convolve in half
    precision).
    """
    with torch.autocast(y.device.type, enabled=False):
        return _search_blocks(y, kappa, k, window, patch, mode, block_elems)


def _dense_lists(hg: int, wg: int, window: int,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A dense window's neighbour lists ``(1, n, Hg, Wg)`` and their ``valid`` mask, which
    depend on the grid's size only: cached for the last few sizes of at most
    :data:`DENSE_CACHE_MAX_ELEMS` entries (every graph of an image, and every batch of one crop
    size, then shares them; callers must not write into them), built afresh for larger grids,
    whose lists would otherwise stay in memory. Offsets outside the grid point at the position
    itself, with ``valid = False``."""
    if (window * window - 1) * hg * wg <= DENSE_CACHE_MAX_ELEMS:
        return _dense_lists_cached(hg, wg, window, device)
    return _build_dense_lists(hg, wg, window, device)


@functools.lru_cache(maxsize=4)
def _dense_lists_cached(hg: int, wg: int, window: int,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return _build_dense_lists(hg, wg, window, device)


def _build_dense_lists(hg: int, wg: int, window: int,
                       device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.tensor(window_offsets(window), device=device)
    dy, dx = offsets[:, 0].view(-1, 1, 1), offsets[:, 1].view(-1, 1, 1)
    rows = torch.arange(hg, device=device).view(1, -1, 1)
    cols = torch.arange(wg, device=device).view(1, 1, -1)
    valid = (rows + dy >= 0) & (rows + dy < hg) & (cols + dx >= 0) & (cols + dx < wg)
    own = rows * wg + cols
    nbr = torch.where(valid, own + dy * wg + dx, own)
    return nbr.unsqueeze(0), valid.unsqueeze(0)


def _offset_distances(ypad: torch.Tensor, big: torch.Tensor, kap2: torch.Tensor,
                      offsets: list[tuple[int, int]], r0: int, r1: int, patch: int,
                      pad: int) -> torch.Tensor:
    """``(B, m, r1 - r0, Wg)`` squared patch distances of grid rows ``r0:r1`` to their
    neighbours at the ``m`` ``offsets``: a depthwise convolution of the squared differences
    with ``kap2`` ``(C, s, s)``; ``big`` is ``ypad`` padded by ``pad`` on each side."""
    b, c, _, wp = ypad.shape
    m, wg, h_in = len(offsets), wp - patch + 1, r1 - r0 + patch - 1
    ref = ypad[..., r0:r0 + h_in, :].unsqueeze(1)                          # (B, 1, C, h_in, Wp)
    shifted = torch.stack([big[..., pad + r0 + oy:pad + r0 + oy + h_in, pad + ox:pad + ox + wp]
                           for oy, ox in offsets], dim=1)                  # (B, m, C, h_in, Wp)
    e = (shifted - ref).square().view(b, m * c, h_in, wp)
    weight = kap2.unsqueeze(1).repeat(m, 1, 1, 1)                          # (m*C, 1, s, s)
    return _depthwise_conv(e, weight).view(b, m, c, r1 - r0, wg).sum(2)


def _dense_distances(ypad: torch.Tensor, big: torch.Tensor, kap2: torch.Tensor,
                     offsets: list[tuple[int, int]], r0: int, r1: int, patch: int,
                     pad: int) -> torch.Tensor:
    """:func:`_offset_distances` for every offset of a dense window, from the first half only.

    The window's order puts ``-o`` at ``n - 1 - r`` when ``o`` is at ``r``, and a distance is
    symmetric: ``d_{-o}(j) = d_o(j - o)``. So the first half's distances are computed on rows
    ``r0 - pad:r1 + pad`` and the second half's are shifted copies of them. Where ``j - o`` is
    off the grid the copy is 0; those neighbours are missing (``valid = False``) anyway.
    """
    hg, wg = ypad.shape[-2] - patch + 1, ypad.shape[-1] - patch + 1
    half = len(offsets) // 2
    a, e = max(0, r0 - pad), min(hg, r1 + pad)
    dh = _offset_distances(ypad, big, kap2, offsets[:half], a, e, patch, pad)
    # rows r0 - pad .. r1 + pad and columns -pad .. Wg + pad of the first half's distances
    ext = F.pad(dh, (pad, pad, a - (r0 - pad), r1 + pad - e))
    rows = r1 - r0
    mirror = [ext[:, q, pad - oy:pad - oy + rows, pad - ox:pad - ox + wg]
              for q, (oy, ox) in reversed(list(enumerate(offsets[:half])))]
    return torch.cat([dh[:, :, r0 - a:r1 - a], torch.stack(mirror, dim=1)], dim=1)


def _search_blocks(y: torch.Tensor, kappa: torch.Tensor, k: int, window: int, patch: int,
                   mode: str, block_elems: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ypad = pad_for_patches(y, patch, mode)
    b, c, hp, wp = ypad.shape
    hg, wg = hp - patch + 1, wp - patch + 1
    if hg < 1 or wg < 1:
        raise ValueError(f"image {tuple(y.shape[-2:])} is smaller than the {patch}x{patch} patch")
    offsets = window_offsets(window)
    n = len(offsets)
    kap2 = _kappa_map(kappa, c, patch).square().to(y.dtype)                # (C, s, s)
    r = window // 2
    big = F.pad(ypad, (r, r, r, r), mode="replicate") if r > 0 else ypad
    dy = torch.tensor([o[0] for o in offsets], device=y.device).view(n, 1, 1)
    dx = torch.tensor([o[1] for o in offsets], device=y.device).view(n, 1, 1)
    cols = torch.arange(wg, device=y.device).view(1, 1, wg)
    col_ok = (cols + dx >= 0) & (cols + dx < wg)                           # (n, 1, Wg)
    rows = max(1, block_elems // max(1, n * wg))
    dense = k >= n              # every offset kept, in the window's order: geometry only
    if dense:
        nbr, valid = _dense_lists(hg, wg, window, y.device)                # (1, n, Hg, Wg)
    else:
        nbr = torch.empty(b, k, hg, wg, dtype=torch.long, device=y.device)
        valid = torch.zeros(b, k, hg, wg, dtype=torch.bool, device=y.device)
    dist = []
    for r0 in range(0, hg, rows):
        r1 = min(hg, r0 + rows)
        if dense:
            d = _dense_distances(ypad, big, kap2, offsets, r0, r1, patch, r)
            dist.append(d * valid[:, :, r0:r1])
            continue
        d = _offset_distances(ypad, big, kap2, offsets, r0, r1, patch, r)
        rr = torch.arange(r0, r1, device=y.device).view(1, -1, 1)
        inside = ((rr + dy >= 0) & (rr + dy < hg)) & col_ok                # (n, rows, Wg)
        own = rr * wg + cols                                               # (1, rows, Wg)
        with torch.no_grad():
            best_d, best_o = d.masked_fill(~inside, float("inf")).topk(k, dim=1, largest=False)
        ok = torch.isfinite(best_d)                                        # (B, k, rows, Wg)
        dist.append(d.gather(1, best_o) * ok)
        idx = own + dy.view(-1)[best_o] * wg + dx.view(-1)[best_o]
        nbr[:, :, r0:r1] = torch.where(ok, idx, own.expand_as(idx))
        valid[:, :, r0:r1] = ok
    d = torch.cat(dist, dim=2) if len(dist) > 1 else dist[0]
    if not dense:
        return nbr, valid, d
    nbr, valid = nbr.expand(b, -1, -1, -1), valid.expand(b, -1, -1, -1)
    if k > n:                                         # fewer candidates than k: self, invalid
        own = torch.arange(hg * wg, device=y.device).view(1, 1, hg, wg).expand(b, k - n, -1, -1)
        nbr = torch.cat([nbr, own], dim=1)
        valid = torch.cat([valid, torch.zeros_like(own, dtype=torch.bool)], dim=1)
        d = torch.cat([d, d.new_zeros(b, k - n, hg, wg)], dim=1)
    return nbr, valid, d


class _DepthwiseConvCPU(torch.autograd.Function):
    """``F.conv2d(x, w, groups=x.shape[1])`` whose weight gradient is one big-kernel convolution.

    On a CPU, the generic depthwise weight gradient takes ~7x the forward's time for the
    all-offsets distance volume; correlating each channel of ``x`` with its output gradient as a
    ``(Hg, Wg)`` kernel gives the same numbers in about the forward's time.
    """

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return F.conv2d(x, w, groups=x.shape[1])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        b, ch, h, wd = x.shape
        grad_x = F.conv_transpose2d(g, w, groups=ch) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            kern = g.reshape(b * ch, 1, *g.shape[-2:])
            grad_w = F.conv2d(x.reshape(1, b * ch, h, wd), kern, groups=b * ch)
            grad_w = grad_w.view(b, ch, *w.shape[-2:]).sum(0).unsqueeze(1)
        return grad_x, grad_w


def _depthwise_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    if x.device.type == "cpu" and torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        return _DepthwiseConvCPU.apply(x, w)
    return F.conv2d(x, w, groups=x.shape[1])


def _kappa_map(kappa: torch.Tensor, c: int, patch: int) -> torch.Tensor:
    n = patch * patch
    if kappa.numel() == n:
        return kappa.view(1, patch, patch).expand(c, patch, patch)
    if kappa.numel() == c * n:
        return kappa.view(c, patch, patch)
    raise ValueError(f"kappa has {kappa.numel()} entries; expected {n} or {c * n} "
                     f"for {c} channel(s) and {patch}x{patch} patches")


class _PatchDistance(torch.autograd.Function):
    """``d[b, r, j] = sum_{c, p} kappa2[c, p] (ypad[b, c, j + p] - ypad[b, c, n(j, r) + p])^2``."""

    @staticmethod
    def forward(ctx, ypad, kap2, nbr):
        b, c, hp, wp = ypad.shape
        s = kap2.shape[-1]
        k, hg, wg = nbr.shape[1:]
        ctx.save_for_backward(ypad, kap2, nbr)
        idx = nbr.reshape(b, 1, k * hg * wg).expand(b, c, -1)
        d = ypad.new_zeros(b, k, hg * wg)
        for py in range(s):
            for px in range(s):
                yp = ypad[..., py:py + hg, px:px + wg].reshape(b, c, 1, hg * wg)
                yn = yp.reshape(b, c, -1).gather(2, idx).view(b, c, k, hg * wg)
                d += ((yn - yp).square() * kap2[:, py, px].view(1, c, 1, 1)).sum(1)
        return d.view(b, k, hg, wg)

    @staticmethod
    def backward(ctx, g):
        ypad, kap2, nbr = ctx.saved_tensors
        b, c, hp, wp = ypad.shape
        s = kap2.shape[-1]
        k, hg, wg = nbr.shape[1:]
        n = hg * wg
        idx = nbr.reshape(b, 1, k * n).expand(b, c, -1)
        g = g.reshape(b, 1, k, n)
        grad_y = torch.zeros_like(ypad) if ctx.needs_input_grad[0] else None
        grad_k = torch.zeros_like(kap2) if ctx.needs_input_grad[1] else None
        for py in range(s):
            for px in range(s):
                yp = ypad[..., py:py + hg, px:px + wg].reshape(b, c, 1, n)
                yn = yp.reshape(b, c, n).gather(2, idx).view(b, c, k, n)
                diff = yn - yp                                        # (B, C, k, N)
                if grad_k is not None:
                    grad_k[:, py, px] = (g * diff.square()).sum(dim=(0, 2, 3))
                if grad_y is not None:
                    t = 2.0 * kap2[:, py, px].view(1, c, 1, 1) * g * diff
                    acc = -t.sum(2)
                    acc = acc.scatter_add(2, idx, t.reshape(b, c, k * n))
                    grad_y[..., py:py + hg, px:px + wg] += acc.view(b, c, hg, wg)
        return grad_y, grad_k, None


def patch_distance(
    y: torch.Tensor, kappa: torch.Tensor, nbr: torch.Tensor, patch: int, mode: str = "same"
) -> torch.Tensor:
    """Differentiable ``d_jk`` for given neighbours.

    Args:
        y: ``(B, C, H, W)``.
        kappa: ``(patch^2,)`` or ``(C * patch^2,)``.
        nbr: ``(B, k, Hg, Wg)`` flat grid indices (from :func:`knn_search`).
        patch, mode: as in :func:`knn_search`.

    Returns:
        ``(B, k, Hg, Wg)`` distances; gradients flow to ``y`` and ``kappa``.
    """
    ypad = pad_for_patches(y, patch, mode)
    kap2 = _kappa_map(kappa, y.shape[1], patch).square()
    return _PatchDistance.apply(ypad, kap2, nbr)


#: Distance forms of :func:`nonlocal_graph`.
DISTANCES = ("squared", "norm")
#: Added under the square root of the ``"norm"`` distance.
NORM_EPS = 1e-12


def softmax_weights(d: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``a_jr = exp(-d_jr) / sum_{valid l} exp(-d_jl)`` over dim 1; 0 where not ``valid``."""
    shift = d.detach().masked_fill(~valid, float("inf")).amin(dim=1, keepdim=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    e = torch.exp(-(d - shift).masked_fill(~valid, 0.0)) * valid
    return e / e.sum(dim=1, keepdim=True).clamp_min(torch.finfo(d.dtype).tiny)


def nonlocal_graph(
    y: torch.Tensor,
    kappa: torch.Tensor,
    k: int = 9,
    window: int = 15,
    patch: int = 5,
    mode: str = "same",
    include_self: bool = False,
    distance: str = "squared",
    self_distance: torch.Tensor | float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Neighbours and softmax weights of the non-local graph of ``y``.

    Args:
        y: ``(B, C, H, W)`` current estimate.
        kappa: learned patch-distance weights ``(patch^2,)`` or ``(C * patch^2,)``.
        k: neighbours per position (besides itself).
        window, patch, mode: see :func:`knn_search`.
        include_self: put the position itself at rank 0 (distance 0, or ``self_distance``)
            so that ``k + 1`` neighbours are returned (the group of the non-local group
            penalty).
        distance: ``"squared"`` softmax weights of ``d_jk`` as above, or ``"norm"`` of its
            square root ``||diag(kappa) (P_j y - P_k y)||_2`` (the paper's text). The
            neighbours are the same (``topk`` does not change under the square root).
        self_distance: None, or normalise over the ``k`` neighbours and the position itself
            at this distance ``d_jj`` (0 for its own patch; a scalar, differentiable),
            ``a_jk = exp(-d_jk) / (exp(-d_jj) + sum_l exp(-d_jl))``, but return only the ``k``
            others. Their weights then sum to less than 1, the less the more the position
            stands out from its neighbourhood (an edge or a texture keeps its own value). The
            pixel games' NLTV with ``j`` in ``N_j``: its own term ``a_jj |z_j - z_j|`` is 0.
            With ``include_self`` the position is returned too, at this distance (a learned
            self weight of the group penalty: a very negative ``d_jj`` makes each group the
            patch alone).

    Returns:
        ``nbr`` ``(B, k[+1], Hg, Wg)`` int64 and weights ``a`` of the same shape, summing to 1
        over dim 1 (0 for missing neighbours; less than 1 with ``self_distance`` and without
        ``include_self``); ``a`` is differentiable in ``y``, ``kappa`` and ``self_distance``.
        A dense window's ``nbr`` (``k = window^2 - 1``, without ``include_self``) is a view of
        lists cached per grid size, as in :func:`knn_search`: clone it before writing.
    """
    if window % 2 != 1 or window < 1 or patch < 1:
        raise ValueError(f"window must be odd and patch >= 1, got {window} and {patch}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got '{distance}'")
    needs_grad = torch.is_grad_enabled() and (y.requires_grad or kappa.requires_grad)
    candidates = len(window_offsets(window)) * y.numel()
    if not needs_grad:
        with torch.no_grad():
            nbr, valid, d = _search(y, kappa, k, window, patch, mode, BLOCK_ELEMS)
    elif candidates <= GRAPH_GRAD_MAX_ELEMS:
        nbr, valid, d = _search(y, kappa, k, window, patch, mode, candidates)
    else:
        nbr, valid = knn_search(y, kappa, k, window, patch, mode)
        d = patch_distance(y, kappa, nbr, patch, mode)
    if distance == "norm":
        # eps keeps the square root's gradient finite where two patches are equal (there the
        # squared distance's own gradient is 0 as well)
        d = torch.sqrt(d.clamp_min(0.0) + NORM_EPS)
    if self_distance is not None and not include_self:
        own = torch.zeros_like(d[:, :1]) + self_distance
        a = softmax_weights(torch.cat([own, d], dim=1),
                            torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1))
        return nbr, a[:, 1:]
    if include_self:
        own = torch.arange(nbr[0, 0].numel(), device=nbr.device).view(1, 1, *nbr.shape[2:])
        nbr = torch.cat([own.expand(nbr.shape[0], 1, -1, -1), nbr], dim=1)
        valid = torch.cat([torch.ones_like(valid[:, :1]), valid], dim=1)
        own_d = torch.zeros_like(d[:, :1])
        d = torch.cat([own_d if self_distance is None else own_d + self_distance, d], dim=1)
    return nbr, softmax_weights(d, valid)


def blend_graphs(old: tuple[torch.Tensor, torch.Tensor], new: tuple[torch.Tensor, torch.Tensor],
                 w: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """The graph ``(1 - w) a_old + w a_new`` (a rebuilt graph blended with the previous one,
    the similarity update of the same authors' GroupSC code; ``w = 1`` is the new graph).

    Both graphs are ``(nbr, a)`` pairs of :func:`nonlocal_graph`. Where the neighbour lists are
    equal (a dense window) the result keeps them; where every position has the same neighbour
    set in both in another order (an unchanged top-k), the result keeps ``k`` neighbours,
    sorted by index; otherwise it holds both lists (``2k`` neighbours, a repeated
    one counted twice, which the linear NLTV / Laplacian terms sum; entries with one index,
    such as a border's missing neighbours, are interchangeable for the same reason).
    Differentiable in both weights and in ``w``.
    """
    (nbr0, a0), (nbr1, a1) = old, new
    if nbr0.shape == nbr1.shape:
        same_view = nbr0.data_ptr() == nbr1.data_ptr() and nbr0.stride() == nbr1.stride()
        if same_view or torch.equal(nbr0, nbr1):      # a dense window: the same lists
            return nbr0, torch.lerp(a0, a1, w)
        s0, i0 = nbr0.sort(dim=1, stable=True)
        s1, i1 = nbr1.sort(dim=1, stable=True)
        if torch.equal(s0, s1):
            return s0, torch.lerp(a0.gather(1, i0), a1.gather(1, i1), w)
    return torch.cat([nbr0, nbr1], dim=1), torch.cat([(1 - w) * a0, w * a1], dim=1)


def nl_gather(z: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """``(G z)[b, c, r, j] = z[b, c, n(j, r)]``: ``(B, C, Hg, Wg) -> (B, C, k, Hg, Wg)``."""
    b, c, h, w = z.shape
    k = nbr.shape[1]
    idx = nbr.reshape(b, 1, k * h * w).expand(b, c, -1)
    return z.reshape(b, c, h * w).gather(2, idx).view(b, c, k, h, w)


def nl_gather_adjoint(u: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`nl_gather` (scatter-add): ``(B, C, k, Hg, Wg) -> (B, C, Hg, Wg)``."""
    b, c, k, h, w = u.shape
    idx = nbr.reshape(b, 1, k * h * w).expand(b, c, -1)
    out = u.new_zeros(b, c, h * w).scatter_add(2, idx, u.reshape(b, c, k * h * w))
    return out.view(b, c, h, w)


def nl_diff(z: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Non-local differences ``z_{n(j, r)} - z_j``: ``(B, C, H, W) -> (B, C, k, H, W)``."""
    return nl_gather(z, nbr) - z.unsqueeze(2)


def nl_diff_adjoint(u: torch.Tensor, nbr: torch.Tensor) -> torch.Tensor:
    """Adjoint of :func:`nl_diff`: ``(B, C, k, H, W) -> (B, C, H, W)``."""
    return nl_gather_adjoint(u, nbr) - u.sum(2)
