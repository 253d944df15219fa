"""The compressed-sensing MRI forward model ``A = P F`` and its adjoint (paper Sec. 4, eq. 9).

``F`` is the orthonormal 2-D DFT (``torch.fft.fft2(..., norm="ortho")``, so ``||F z|| = ||z||``)
and ``P`` the diagonal 0/1 sampling matrix of a mask in the unshifted layout (DC at ``[0, 0]``,
see :mod:`stereo_tv.mri.masks`).

Real / complex handling:
    Images ``z`` are real ``(B, C, H, W)`` tensors (values in ``[0, 1]`` for the shipped models).
    Measurements ``y = P F z`` are complex ``(B, C, H, W)`` tensors that keep the full k-space
    grid with zeros at the unsampled locations. ``A`` maps the real space ``R^n`` to
    ``C^n`` seen as the *real* vector space ``R^{2n}``, with inner product
    ``<u, v> = Re(sum(conj(u) * v))``. Its adjoint for that inner product is

        ``A^T y = Re(F^H P y)``,

    the real part of the zero-filled inverse FFT; ``<A z, y> = <z, A^T y>`` holds exactly (tested
    in float64). ``A^T A z = Re(F^H P F z)``, whose operator norm is at most 1, so the data term
    ``(1/2) ||A z - x||^2`` has a 1-Lipschitz gradient ``A^T (A z - x)``. For a
    conjugate-symmetric mask (the standard radial masks) ``A^T A = F^H P F``.

Example:
    >>> mask = torch.ones(4, 5, dtype=torch.bool)          # fully sampled: A^T A = identity
    >>> op = MaskedFourier(mask)
    >>> z = torch.rand(1, 1, 4, 5)
    >>> torch.allclose(op.adjoint(op(z)), z, atol=1e-6)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["masked_fft", "masked_fft_adjoint", "MaskedFourier", "CanvasOperator",
           "add_kspace_noise", "zero_filled"]


def masked_fft(z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``A z = P F z``: orthonormal 2-D FFT over the last two dims, zeroed off the mask.

    Args:
        z: real or complex ``(..., H, W)``.
        mask: bool ``(H, W)``, unshifted layout.

    Returns:
        complex ``(..., H, W)``.
    """
    k = torch.fft.fft2(z, norm="ortho")
    return k * mask.to(k.real.dtype)


def masked_fft_adjoint(y: torch.Tensor, mask: torch.Tensor, real: bool = True) -> torch.Tensor:
    """``A^T y = Re(F^H P y)`` (``real=True``), or the complex ``F^H P y`` (``real=False``).

    Args:
        y: complex ``(..., H, W)`` k-space (full grid).
        mask: bool ``(H, W)``, unshifted layout.
        real: return the real part (the adjoint of :func:`masked_fft` on real images).
    """
    z = torch.fft.ifft2(y * mask.to(y.real.dtype), norm="ortho")
    return z.real if real else z


def zero_filled(y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero-filled reconstruction ``Re(F^H P y)`` (the usual initial estimate).

    >>> img = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])
    >>> only_dc = torch.tensor([[True, False], [False, False]])
    >>> zero_filled(masked_fft(img, only_dc), only_dc)   # keeps only the mean
    tensor([[[[0.5000, 0.5000],
              [0.5000, 0.5000]]]])
    """
    return masked_fft_adjoint(y, mask, real=True)


def add_kspace_noise(y: torch.Tensor, mask: torch.Tensor, sigma: float,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Add circular complex Gaussian noise of std ``sigma`` to the sampled coefficients.

    Real and imaginary parts are i.i.d. ``N(0, sigma^2 / 2)``, so ``E|n_k|^2 = sigma^2``; with
    the orthonormal FFT this matches white image-domain noise of std ``sigma`` (on a [0, 1]
    scale) restricted to the sampled frequencies. Unsampled entries stay exactly zero.
    """
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return y
    real_dtype = y.real.dtype
    shape = (2, *y.shape)
    n = torch.randn(shape, generator=generator, dtype=real_dtype, device=y.device)
    noise = torch.complex(n[0], n[1]) * (sigma / 2 ** 0.5)
    return y + noise * mask.to(real_dtype)


class MaskedFourier(nn.Module):
    """Operator object ``A = P F`` for the core games (``.forward(z)`` / ``.adjoint(y)``).

    The mask is a (non-trainable) buffer, so it moves with ``.to(device)`` and is saved in the
    model's ``state_dict``. :meth:`forward` and :meth:`adjoint` run inside solver loops and do
    not check shapes; :meth:`measure` is the checked entry point.

    Args:
        mask: bool ``(H, W)`` sampling mask, unshifted layout (DC at ``[0, 0]``).
    """

    lipschitz = 1.0  # ||A^T A|| <= 1: step sizes <= 1 are safe for (1/2)||Az - x||^2

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        if mask.dim() != 2:
            raise ValueError(f"mask must be (H, W), got shape {tuple(mask.shape)}")
        self.register_buffer("mask", mask.to(torch.bool).clone())

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the images this operator acts on."""
        return tuple(self.mask.shape)

    @property
    def rate(self) -> float:
        """Sampling rate in ``[0, 1]``."""
        return float(self.mask.to(torch.float64).mean())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``A z``: real ``(B, C, H, W)`` -> complex ``(B, C, H, W)``."""
        return masked_fft(z, self.mask)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``A^T y = Re(F^H P y)``: complex ``(B, C, H, W)`` -> real ``(B, C, H, W)``."""
        return masked_fft_adjoint(y, self.mask, real=True)

    def normal(self, z: torch.Tensor) -> torch.Tensor:
        """``A^T A z``."""
        return self.adjoint(self.forward(z))

    def check_image(self, z: torch.Tensor, name: str = "image") -> None:
        """Raise ``ValueError`` unless ``z`` is ``(B, C, H, W)`` with the mask's ``(H, W)``."""
        if z.dim() != 4 or tuple(z.shape[-2:]) != self.shape:
            raise ValueError(f"{name} of shape {tuple(z.shape)} does not match the "
                             f"{self.shape[0]}x{self.shape[1]} mask; expected (B, C, "
                             f"{self.shape[0]}, {self.shape[1]})")

    def measure(self, image: torch.Tensor, sigma: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Simulated measurement ``P F image + noise`` with a shape check.

        Args:
            image: real ``(B, C, H, W)`` matching the mask size.
            sigma: std of the complex Gaussian noise (:func:`add_kspace_noise`), 0 for none.
        """
        self.check_image(image)
        if image.is_complex():
            raise ValueError("image must be real; complex images are not supported")
        return add_kspace_noise(self.forward(image), self.mask, sigma, generator)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rate={self.rate:.4f}"


class CanvasOperator:
    """``A' = A o crop``: an operator on a canvas padded by ``pad`` pixels on every side.

    ``forward(z)`` crops the ``(H + 2 pad, W + 2 pad)`` canvas to the image and applies ``A``;
    ``adjoint(y) = pad0(A^T y)`` zero-pads (the exact adjoint of the crop). Used by CS-SC: with
    ``pad = s - 1`` every image pixel is covered by ``s^2`` patches of the canvas, so the patch
    average has the same norm ``1 / s`` everywhere (no low-coverage border pixels that would
    force a step size ``s^2`` times smaller), and the data term never sees the margin.

    Args:
        operator: the image-domain operator (``.forward`` / ``.adjoint``).
        pad: margin in pixels (>= 0).
    """

    def __init__(self, operator, pad: int):
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.operator = operator
        self.pad = pad

    def crop(self, z: torch.Tensor) -> torch.Tensor:
        """The image part of a canvas ``(..., H + 2 pad, W + 2 pad)``."""
        p = self.pad
        return z[..., p:z.shape[-2] - p, p:z.shape[-1] - p]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.operator.forward(self.crop(z))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        p = self.pad
        return F.pad(self.operator.adjoint(y), (p, p, p, p))
