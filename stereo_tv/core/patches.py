"""Patch extraction ``P_j`` and patch averaging (paper eq. 3), with exact adjoints.

Patches are all ``s x s`` windows fully inside a ``(H, W)`` image (stride 1), so the code grid
is ``(H - s + 1, W - s + 1)`` for any image size ``>= s``; no size needs to be a multiple of
anything. Patch maps use a channel layout: ``(B, q, Hc, Wc)`` with ``q = C * s * s`` ordered like
:func:`torch.nn.functional.unfold` (channel, row, column).

Averaging divides the sum of the overlapping patch estimates by the number of patches covering
each pixel (``s^2`` inside, fewer near the border), i.e. eq. (3) with the border effects handled:

    ``yhat = (sum_j P_j^T r_j) / count``,  ``count = sum_j P_j^T 1``.

Example (averaging the patches of an image gives it back):
    >>> x = torch.arange(20.0).view(1, 1, 4, 5)
    >>> torch.allclose(patch_average(extract_patches(x, 3), 3, (4, 5)), x)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "extract_patches",
    "extract_patches_adjoint",
    "patch_coverage",
    "patch_average",
    "patch_average_adjoint",
]


def extract_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """``[P_j x]_j``: ``(B, C, H, W) -> (B, C*s*s, H-s+1, W-s+1)``."""
    b, c, h, w = x.shape
    return F.unfold(x, patch).view(b, c * patch * patch, h - patch + 1, w - patch + 1)


def extract_patches_adjoint(p: torch.Tensor, patch: int, size: tuple[int, int]) -> torch.Tensor:
    """``sum_j P_j^T p_j`` (overlap-add): ``(B, q, Hc, Wc) -> (B, q / s^2, H, W)``."""
    return F.fold(p.flatten(2), size, patch)


def patch_coverage(size: tuple[int, int], patch: int, like: torch.Tensor) -> torch.Tensor:
    """``(1, 1, H, W)`` number of patches covering each pixel (dtype/device of ``like``)."""
    h, w = size
    ones = torch.ones(1, patch * patch, (h - patch + 1) * (w - patch + 1),
                      dtype=like.dtype, device=like.device)
    return F.fold(ones, size, patch)


def patch_average(p: torch.Tensor, patch: int, size: tuple[int, int],
                  coverage: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (3): overlap-add of patch estimates divided by the coverage, ``(B, C, H, W)``."""
    cov = patch_coverage(size, patch, p) if coverage is None else coverage
    return extract_patches_adjoint(p, patch, size) / cov


def patch_average_adjoint(y: torch.Tensor, patch: int,
                          coverage: torch.Tensor | None = None) -> torch.Tensor:
    """Adjoint of :func:`patch_average`: ``P_j (y / count)``, ``(B, C, H, W) -> (B, q, Hc, Wc)``."""
    cov = patch_coverage(tuple(y.shape[-2:]), patch, y) if coverage is None else coverage
    return extract_patches(y / cov, patch)
