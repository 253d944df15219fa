"""Neighbour differences on the pixel grid and their exact adjoints (paper Sec. 3.1, grid graph).

A neighbour offset ``o = (dy, dx)`` links pixel ``j`` to ``j + o``. The neighbour difference is

    ``(D_o z)_j = z_{j+o} - z_j``

and is defined only where ``j + o`` lies inside the image: terms with an out-of-image neighbour
are absent (no padding value can create a false edge at the border). Two equivalent layouts:

* edge layout (:func:`edge_diff`): one tensor ``(..., H - |dy|, W - |dx|)`` indexed by ``j``
  over the pixels whose neighbour exists. This is what the fast TV path uses.
* dense layout (:func:`neighbour_diff`): ``(B, C, O, H, W)`` for all ``O`` offsets at once, with
  zeros where the neighbour is outside (``border_mask`` is 0 there).

Offsets are ordered so that the first half are "forward" offsets and offset ``i + O/2`` is the
mirror ``-o`` of offset ``i`` (:func:`mirror_index`)::

    connectivity 4: (0, 1), (1, 0), (0, -1), (-1, 0)
    connectivity 8: (0, 1), (1, 0), (1, 1), (1, -1), (0, -1), (-1, 0), (-1, -1), (-1, 1)

Example:
    >>> z = torch.tensor([[[[0.0, 1.0, 3.0]]]])          # (1, 1, 1, 3)
    >>> edge_diff(z, (0, 1))
    tensor([[[[1., 2.]]]])
    >>> neighbour_diff(z, grid_offsets(4))[0, 0, :, 0]   # right, down, left, up
    tensor([[ 1.,  2.,  0.],
            [ 0.,  0.,  0.],
            [ 0., -1., -2.],
            [ 0.,  0.,  0.]])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "grid_offsets",
    "mirror_index",
    "edge_diff",
    "edge_diff_adjoint",
    "place_edges",
    "neighbour_diff",
    "neighbour_diff_adjoint",
    "border_mask",
]

Offset = tuple[int, int]

_FORWARD = {4: ((0, 1), (1, 0)), 8: ((0, 1), (1, 0), (1, 1), (1, -1))}


def grid_offsets(connectivity: int = 8) -> tuple[Offset, ...]:
    """Neighbour offsets ``(dy, dx)``: forward half first, then their mirrors in the same order.

    >>> grid_offsets(4)
    ((0, 1), (1, 0), (0, -1), (-1, 0))
    """
    if connectivity not in _FORWARD:
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    fwd = _FORWARD[connectivity]
    return fwd + tuple((-dy, -dx) for dy, dx in fwd)


def mirror_index(n: int) -> list[int]:
    """Index of ``-o`` for each of the ``n`` offsets of :func:`grid_offsets`.

    >>> mirror_index(4)
    [2, 3, 0, 1]
    """
    return [(i + n // 2) % n for i in range(n)]


def _src(offset: Offset, h: int, w: int) -> tuple[slice, slice]:
    """Rows/cols of the pixels ``j`` whose neighbour ``j + offset`` is inside an ``h x w`` image."""
    dy, dx = offset
    return slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx))


def _dst(offset: Offset, h: int, w: int) -> tuple[slice, slice]:
    """Rows/cols of the neighbours ``j + offset`` (same shape as :func:`_src`)."""
    dy, dx = offset
    return slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx))


def edge_diff(z: torch.Tensor, offset: Offset) -> torch.Tensor:
    """``z_{j+o} - z_j`` over the pixels ``j`` whose neighbour exists.

    Args:
        z: ``(..., H, W)``.
        offset: ``(dy, dx)``.

    Returns:
        ``(..., H - |dy|, W - |dx|)`` (empty along a dimension smaller than the offset).
    """
    h, w = z.shape[-2:]
    (sr, sc), (dr, dc) = _src(offset, h, w), _dst(offset, h, w)
    return z[..., dr, dc] - z[..., sr, sc]


def place_edges(e: torch.Tensor, offset: Offset, h: int, w: int, at: str = "src") -> torch.Tensor:
    """Zero-pad an edge-layout tensor back to ``(..., h, w)``, at ``j`` (``"src"``) or ``j+o``
    (``"dst"``)."""
    dy, dx = offset
    if at == "src":
        top, left = max(0, -dy), max(0, -dx)
    elif at == "dst":
        top, left = max(0, dy), max(0, dx)
    else:
        raise ValueError(f"at must be 'src' or 'dst', got {at!r}")
    bottom, right = h - top - e.shape[-2], w - left - e.shape[-1]
    return F.pad(e, (left, right, top, bottom))


def edge_diff_adjoint(e: torch.Tensor, offset: Offset, h: int, w: int) -> torch.Tensor:
    """Adjoint of :func:`edge_diff`: ``(..., H-|dy|, W-|dx|) -> (..., h, w)``."""
    return place_edges(e, offset, h, w, "dst") - place_edges(e, offset, h, w, "src")


def neighbour_diff(z: torch.Tensor, offsets: tuple[Offset, ...]) -> torch.Tensor:
    """Dense ``(D_o z)_j`` for all offsets: ``(B, C, H, W) -> (B, C, O, H, W)``, 0 where ``j + o``
    is outside the image."""
    h, w = z.shape[-2:]
    return torch.stack([place_edges(edge_diff(z, o), o, h, w, "src") for o in offsets], dim=-3)


def neighbour_diff_adjoint(u: torch.Tensor, offsets: tuple[Offset, ...]) -> torch.Tensor:
    """Adjoint of :func:`neighbour_diff`: ``(B, C, O, H, W) -> (B, C, H, W)``.

    Entries of ``u`` at out-of-image terms are ignored (the forward map never produces them).
    """
    h, w = u.shape[-2:]
    out = torch.zeros_like(u[..., 0, :, :])
    for i, o in enumerate(offsets):
        sr, sc = _src(o, h, w)
        out = out + edge_diff_adjoint(u[..., i, sr, sc], o, h, w)
    return out


def border_mask(offsets: tuple[Offset, ...], h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """``(O, h, w)`` mask, 1 where the neighbour ``j + o`` is inside the image, dtype/device of
    ``like``."""
    ones = torch.ones(h, w, dtype=like.dtype, device=like.device)
    return torch.stack([place_edges(ones[_src(o, h, w)], o, h, w, "src") for o in offsets])
