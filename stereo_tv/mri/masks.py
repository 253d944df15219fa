"""k-space sampling masks: the shipped pseudo-radial masks and a radial generator.

Convention (used everywhere in :mod:`stereo_tv.mri`): a mask is a boolean ``(H, W)`` tensor in
the *unshifted* FFT layout, the layout of ``torch.fft.fft2`` / ``numpy.fft.fft2``: the zero
frequency (DC) is at index ``[0, 0]``. A mask drawn the way it is usually displayed, with DC in
the middle (index ``[H // 2, W // 2]``), is "centred"; :func:`load_mask` takes ``centered=True``
for such a file and applies ``ifftshift``.

The standard masks of ADMM-Net / ISTA-Net (``mri/masks_mat/mask_XX.{mat,npy}`` and
``mri/masks/radial_XX.png`` in the shared data, see its ``SOURCES.md``) are stored in the
unshifted layout already: DC at ``[0, 0]``, sampling rates 10.2/20.2/30.2/40.1/50.0 %. They are
conjugate-symmetric (``m[k] == m[-k]``), which makes the real normal operator of
:class:`~stereo_tv.mri.MaskedFourier` equal to ``F^H P F``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_mask", "radial_mask", "sampling_rate", "symmetrize_mask", "find_shared_mask"]


def sampling_rate(mask: torch.Tensor) -> float:
    """Fraction of sampled k-space locations, in ``[0, 1]``.

    >>> sampling_rate(torch.tensor([[True, False], [False, False]]))
    0.25
    """
    return float(mask.to(torch.float64).mean())


def symmetrize_mask(mask: torch.Tensor) -> torch.Tensor:
    """Smallest conjugate-symmetric mask containing ``mask``: ``m[k] or m[-k]`` (unshifted layout).

    >>> symmetrize_mask(torch.tensor([[False, True, False]])).tolist()
    [[False, True, True]]
    """
    mirrored = torch.roll(torch.flip(mask, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))
    return mask | mirrored


def _read_mask_array(path: Path) -> np.ndarray:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
    elif suffix == ".mat":
        from scipy.io import loadmat

        data = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        arrays = [v for v in data.values() if isinstance(v, np.ndarray) and v.ndim == 2]
        if "mask_matrix" in data:
            arr = data["mask_matrix"]
        elif len(arrays) == 1:
            arr = arrays[0]
        else:
            raise ValueError(f"{path}: expected one 2-D array (e.g. 'mask_matrix'), "
                             f"found variables {sorted(data)}")
    else:
        import cv2

        arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError(f"{path}: not a readable image (.png/.npy/.mat masks are accepted)")
        if arr.ndim == 3:
            arr = arr[..., 0]
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise ValueError(f"{path}: a mask must be a 2-D array, got shape {arr.shape}")
    return arr


def load_mask(path: str | os.PathLike, centered: bool = False) -> torch.Tensor:
    """Read a sampling mask (``.png``, ``.npy`` or ``.mat``) as a bool ``(H, W)`` tensor.

    Non-zero entries are sampled. The result is in the unshifted layout (DC at ``[0, 0]``).

    Args:
        path: mask file. ``.mat`` files use the variable ``mask_matrix`` or their only 2-D array.
        centered: the file has DC at ``[H // 2, W // 2]`` (displayed layout); it is then
            ``ifftshift``-ed. The shipped ADMM-Net / ISTA-Net masks are *not* centred.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a 2-D mask.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    mask = torch.from_numpy(_read_mask_array(path) != 0)
    if centered:
        mask = torch.fft.ifftshift(mask, dim=(-2, -1))
    return mask


def find_shared_mask(rate: int, root: str | os.PathLike) -> Path:
    """Path of the standard pseudo-radial mask for ``rate`` percent under a shared data folder.

    Looks for ``mri/masks_mat/mask_{rate}.npy`` then ``mri/masks/radial_{rate}.png`` under
    ``root`` (the ``data`` folder described in ``SOURCES.md``); both are in the unshifted layout.
    """
    root = Path(root)
    for rel in (f"mri/masks_mat/mask_{rate}.npy", f"mri/masks/radial_{rate}.png"):
        if (root / rel).is_file():
            return root / rel
    raise FileNotFoundError(f"no standard {rate}% mask under {root} (looked for "
                            f"mri/masks_mat/mask_{rate}.npy, mri/masks/radial_{rate}.png)")


def _radial_lines(height: int, width: int, n_lines: int) -> np.ndarray:
    """Centred-layout mask of ``n_lines`` full lines through DC at evenly spaced angles."""
    cy, cx = height // 2, width // 2
    radius = math.hypot(height, width) / 2 + 1
    t = np.arange(-radius, radius + 0.25, 0.25)
    theta = np.arange(n_lines) * math.pi / n_lines
    rows = np.floor(cy + np.outer(np.sin(theta), t) + 0.5).astype(np.int64).ravel()
    cols = np.floor(cx + np.outer(np.cos(theta), t) + 0.5).astype(np.int64).ravel()
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    mask = np.zeros((height, width), dtype=bool)
    mask[rows[keep], cols[keep]] = True
    return mask


def radial_mask(height: int, width: int, rate: float) -> torch.Tensor:
    """Pseudo-radial sampling mask with sampling rate as close as possible to ``rate``.

    Full lines through the zero frequency at angles ``i * pi / n`` (``i = 0..n-1``), rasterised
    to the nearest pixel, made conjugate-symmetric (:func:`symmetrize_mask`); the number of
    lines ``n`` is the one whose rate is closest to ``rate`` (the rate grows with ``n``; one
    line adds about ``max(H, W)`` samples, so for 256 x 256 the result is within ~0.3 % of
    the request). Deterministic.

    Args:
        height, width: image size.
        rate: requested fraction of sampled locations, in ``(0, 1]`` (``1`` samples everything).

    Returns:
        bool ``(H, W)`` tensor, unshifted layout (DC at ``[0, 0]``).

    Example:
        >>> m = radial_mask(64, 48, 0.3)
        >>> abs(sampling_rate(m) - 0.3) < 0.02, bool(m[0, 0])
        (True, True)
    """
    if height < 1 or width < 1:
        raise ValueError(f"mask size must be positive, got {height}x{width}")
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be a fraction in (0, 1], got {rate}")
    if rate == 1:
        return torch.ones(height, width, dtype=torch.bool)

    def build(n: int) -> torch.Tensor:
        centred = torch.from_numpy(_radial_lines(height, width, n))
        return symmetrize_mask(torch.fft.ifftshift(centred, dim=(-2, -1)))

    lo, hi = 1, 8 * max(height, width)
    while lo < hi:  # smallest n with rate(n) >= rate
        mid = (lo + hi) // 2
        if sampling_rate(build(mid)) >= rate:
            hi = mid
        else:
            lo = mid + 1
    candidates = [build(n) for n in {max(lo - 1, 1), lo}]
    return min(candidates, key=lambda m: abs(sampling_rate(m) - rate))
