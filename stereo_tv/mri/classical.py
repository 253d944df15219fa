"""Classical (non-learned) TV reconstruction for CS-MRI, the baseline of paper Table 4 ("TV").

Solves

    min_z  (1/2) ||A z - x||^2 + lam * TV(z),   TV(z) = sum_j ||(D z)_j||_2   (isotropic),

over real images ``z``, with ``A = P F`` (:class:`~stereo_tv.mri.MaskedFourier`) and ``D``
forward differences with a zero difference across the last row / column (Neumann boundary),
by the Chambolle-Pock primal-dual method (theta = 1):

    p_{t+1}    = proj_{||.||_2 <= lam}(p_t + sigma * D zbar_t)
    z_{t+1}    = prox_{tau G}(z_t - tau * D^T p_{t+1}),   G(z) = (1/2) ||A z - x||^2
    zbar_{t+1} = 2 z_{t+1} - z_t

with ``tau * sigma * ||D||^2 <= 1`` (``||D||^2 <= 8``; default ``tau = 16``, ``sigma = 1/128``,
which converges in ~100-200 iterations on 256 x 256 radial CS). The prox of the data term is
exact: for real ``z``, ``A^T A = F^H P_s F`` with ``P_s = (P + P(-k)) / 2`` the symmetrised
mask, so ``prox_{tau G}(v) = F^H [F(v + tau A^T x) / (1 + tau P_s)]`` (real for real inputs).
Initialisation: the zero-filled image ``A^T x``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["grad2d", "grad2d_adjoint", "tv_reconstruct", "ClassicalTV"]


def grad2d(z: torch.Tensor) -> torch.Tensor:
    """Forward differences ``D z``: ``(..., H, W)`` -> ``(..., 2, H, W)`` (rows, then columns).

    The last row (column) of the vertical (horizontal) difference is 0.

    >>> grad2d(torch.tensor([[0.0, 1.0, 3.0]]))[..., 1, :, :]
    tensor([[1., 2., 0.]])
    """
    dy = torch.zeros_like(z)
    dx = torch.zeros_like(z)
    dy[..., :-1, :] = z[..., 1:, :] - z[..., :-1, :]
    dx[..., :-1] = z[..., 1:] - z[..., :-1]
    return torch.stack((dy, dx), dim=-3)


def grad2d_adjoint(p: torch.Tensor) -> torch.Tensor:
    """``D^T p`` (minus the divergence): ``(..., 2, H, W)`` -> ``(..., H, W)``."""
    py, px = p[..., 0, :, :], p[..., 1, :, :]
    out = torch.zeros_like(py)
    out[..., :-1, :] -= py[..., :-1, :]
    out[..., 1:, :] += py[..., :-1, :]
    out[..., :-1] -= px[..., :-1]
    out[..., 1:] += px[..., :-1]
    return out


def _symmetric_weight(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    m = mask.to(dtype)
    return (m + torch.roll(torch.flip(m, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))) / 2


def tv_reconstruct(x: torch.Tensor, operator, lam: float, iters: int = 200,
                   tau: float = 16.0, init: torch.Tensor | None = None) -> torch.Tensor:
    """Isotropic-TV reconstruction by Chambolle-Pock (module docstring).

    Args:
        x: complex measurement ``(B, C, H, W)`` (full k-space grid, zeros off the mask).
        operator: a :class:`~stereo_tv.mri.MaskedFourier` (its ``mask`` gives the exact prox).
        lam: TV weight (on [0, 1] images; ~1e-3 to 1e-2 for noiseless radial CS).
        iters: number of iterations.
        tau: primal step; the dual step is ``sigma = 1 / (8 tau)``.
        init: starting image, default the zero-filled ``A^T x``.

    Returns:
        real ``(B, C, H, W)``.
    """
    if tau <= 0 or lam < 0:
        raise ValueError(f"need tau > 0 and lam >= 0, got tau={tau}, lam={lam}")
    sigma = 1.0 / (8.0 * tau)
    aty = operator.adjoint(x)
    denom = 1 + tau * _symmetric_weight(operator.mask, aty.dtype)
    z = aty.clone() if init is None else init.clone()
    z_bar = z
    p = torch.zeros_like(grad2d(z))
    for _ in range(iters):
        p = p + sigma * grad2d(z_bar)
        p = p / torch.clamp(p.pow(2).sum(dim=-3, keepdim=True).sqrt() / max(lam, 1e-30), min=1.0)
        v = z - tau * grad2d_adjoint(p) + tau * aty
        z_next = torch.fft.ifft2(torch.fft.fft2(v) / denom).real
        z_bar = 2 * z_next - z
        z = z_next
    return z


class ClassicalTV(nn.Module):
    """Module wrapper of :func:`tv_reconstruct`: ``model(x, operator) -> (B, C, H, W)``.

    No learnable parameters; ``lam`` is tuned on a validation set
    (``benchmarks/mri_baselines.py``).
    """

    def __init__(self, lam: float = 3e-3, iters: int = 200, tau: float = 16.0):
        super().__init__()
        self.lam = lam
        self.iters = iters
        self.tau = tau

    def forward(self, x: torch.Tensor, operator) -> torch.Tensor:
        return tv_reconstruct(x, operator, self.lam, self.iters, self.tau)

    def extra_repr(self) -> str:
        return f"lam={self.lam:g}, iters={self.iters}, tau={self.tau:g}"
