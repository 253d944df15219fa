"""Classical stereo backbone: OpenCV's semi-global block matching behind the learned-model API.

:class:`SGBMBackbone` takes the same input as the learned backbones (ImageNet-normalised float
images ``(B, 3, H, W)``) and returns the same output (a dense disparity ``(B, 1, H, W)``), so a
TV refinement head can sit on top of it unchanged. It has no parameters and no gradients.

Semi-global matching (Hirschmueller, PAMI 2008) minimises, along several scan-line directions,
a pixel matching cost plus a smoothness cost of ``P1`` for disparity changes of one pixel and
``P2`` for larger jumps. OpenCV's matcher then rejects ambiguous pixels (uniqueness ratio),
small isolated blobs (speckle filter) and, optionally, left-right inconsistent pixels; those
holes are filled here (:func:`fill_invalid`) so the output is dense, and their positions give
the confidence map.

The functional core works on numpy arrays: :func:`sgbm_disparity`, :func:`fill_invalid`,
:func:`left_right_check`.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

__all__ = ["SGBMBackbone", "sgbm_disparity", "fill_invalid", "left_right_check",
           "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MODES = {
    "sgbm": cv2.StereoSGBM_MODE_SGBM,          # 5 directions, single pass
    "sgbm_3way": cv2.StereoSGBM_MODE_SGBM_3WAY,  # 5 directions, faster, multi-threaded
    "hh": cv2.StereoSGBM_MODE_HH,              # full 8 directions, more memory
    "hh4": cv2.StereoSGBM_MODE_HH4,            # 4 directions
}
_FILLS = ("background", "inpaint", "none")


def _check_uint8_pair(left: np.ndarray, right: np.ndarray) -> None:
    if left.dtype != np.uint8 or right.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {left.dtype} and {right.dtype}")
    if left.shape != right.shape or left.ndim not in (2, 3):
        raise ValueError("images must be (H, W) or (H, W, C) with equal shapes, got "
                         f"{left.shape} and {right.shape}")


def sgbm_disparity(left: np.ndarray, right: np.ndarray, maxdisp: int = 192,
                   min_disp: int = 0, block_size: int = 5, p1: int | None = None,
                   p2: int | None = None, uniqueness_ratio: int = 10,
                   speckle_window_size: int = 100, speckle_range: int = 2,
                   disp12_max_diff: int = -1, pre_filter_cap: int = 63,
                   mode: str = "sgbm_3way") -> np.ndarray:
    """Disparity of the left image by OpenCV StereoSGBM; rejected pixels are NaN.

    Args:
        left, right: rectified uint8 images ``(H, W)`` or ``(H, W, C)`` (C = 1 or 3).
        maxdisp: disparity search range; rounded up to a multiple of 16 (OpenCV's rule).
        min_disp: smallest disparity searched.
        block_size: odd matching window side (3 to 11 is usual).
        p1, p2: smoothness penalties for disparity changes of 1 px and of more than 1 px;
            default ``8 * C * block_size**2`` and ``32 * C * block_size**2`` (``p2 > p1``).
        uniqueness_ratio: percent margin by which the best cost must beat the second best.
        speckle_window_size: largest blob (pixels) of a different disparity removed as noise;
            0 disables the speckle filter.
        speckle_range: largest disparity variation inside a connected blob, in pixels.
        disp12_max_diff: OpenCV's own left-right check tolerance in pixels; -1 disables it.
        pre_filter_cap: clip of the x-derivative pre-filter.
        mode: one of ``"sgbm"``, ``"sgbm_3way"``, ``"hh"``, ``"hh4"`` (scan directions).

    Returns:
        float32 disparity ``(H, W)`` in pixels, NaN where the matcher gave no answer.
    """
    _check_uint8_pair(left, right)
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
    if block_size < 1 or block_size % 2 == 0:
        raise ValueError(f"block_size must be a positive odd integer, got {block_size}")
    if maxdisp < 1:
        raise ValueError(f"maxdisp must be >= 1, got {maxdisp}")
    channels = 1 if left.ndim == 2 else left.shape[2]
    num_disp = int(-(-maxdisp // 16) * 16)
    p1 = 8 * channels * block_size**2 if p1 is None else p1
    p2 = 32 * channels * block_size**2 if p2 is None else p2
    matcher = cv2.StereoSGBM_create(
        minDisparity=int(min_disp), numDisparities=num_disp, blockSize=int(block_size),
        P1=int(p1), P2=int(p2), disp12MaxDiff=int(disp12_max_diff),
        preFilterCap=int(pre_filter_cap), uniquenessRatio=int(uniqueness_ratio),
        speckleWindowSize=int(speckle_window_size), speckleRange=int(speckle_range),
        mode=_MODES[mode],
    )
    raw = matcher.compute(left, right)  # int16, fixed point with 4 fractional bits
    disp = raw.astype(np.float32) / 16.0
    disp[raw < min_disp * 16] = np.nan   # OpenCV marks rejections with (min_disp - 1) * 16
    return disp


def _right_disparity(left, right, **kwargs) -> np.ndarray:
    """Disparity of the right image: match the mirrored pair with the right image as reference."""
    flipped = sgbm_disparity(np.ascontiguousarray(right[:, ::-1]),
                             np.ascontiguousarray(left[:, ::-1]), **kwargs)
    return flipped[:, ::-1]


def left_right_check(disp_left: np.ndarray, disp_right: np.ndarray) -> np.ndarray:
    """Left-right difference ``|dL(x) - dR(x - dL(x))|`` per left pixel (``inf`` if no match).

    Args:
        disp_left: disparity of the left image ``(H, W)``.
        disp_right: disparity of the right image ``(H, W)`` (positive, same convention).

    Returns:
        float32 ``(H, W)``; ``inf`` where ``dL`` is non-finite, ``x - dL`` leaves the image, or
        ``dR`` there is non-finite.

    Example:
        >>> d = np.full((1, 4), 1.0, dtype=np.float32)
        >>> left_right_check(d, d).tolist()
        [[inf, 0.0, 0.0, 0.0]]
    """
    h, w = disp_left.shape
    x = np.arange(w, dtype=np.float32)[None, :]
    xr = np.round(x - np.where(np.isfinite(disp_left), disp_left, np.inf))
    inside = (xr >= 0) & (xr <= w - 1)
    xr_i = np.where(inside, xr, 0).astype(np.int64)
    dr = np.take_along_axis(disp_right, xr_i, axis=1)
    diff = np.abs(disp_left - dr)
    return np.where(inside & np.isfinite(diff), diff, np.inf).astype(np.float32)


def _last_valid_index(valid: np.ndarray) -> np.ndarray:
    """Index of the nearest valid pixel at or left of each pixel along rows (-1 if none)."""
    w = valid.shape[1]
    idx = np.where(valid, np.arange(w)[None, :], -1)
    return np.maximum.accumulate(idx, axis=1)


def fill_invalid(disp: np.ndarray, invalid: np.ndarray | None = None,
                 method: str = "background") -> np.ndarray:
    """Fill holes of a disparity map so it is dense.

    Args:
        disp: disparity ``(H, W)``.
        invalid: boolean holes ``(H, W)``; default the non-finite pixels.
        method: ``"background"``: along each row, the smaller of the nearest valid
            disparities to the left and to the right (holes in stereo are mostly occlusions,
            which belong to the farther surface); a row without any valid pixel takes the
            median of all valid pixels. ``"inpaint"``: ``cv2.inpaint`` (Telea), smooth.
            ``"none"``: holes become 0.

    Returns:
        float32 ``(H, W)`` with every pixel finite (all zeros when nothing is valid).

    Example:
        >>> fill_invalid(np.array([[5.0, np.nan, np.nan, 2.0, np.nan]])).tolist()
        [[5.0, 2.0, 2.0, 2.0, 2.0]]
    """
    if method not in _FILLS:
        raise ValueError(f"method must be one of {_FILLS}, got {method!r}")
    d = np.asarray(disp, dtype=np.float32)
    holes = ~np.isfinite(d) if invalid is None else (np.asarray(invalid, bool) | ~np.isfinite(d))
    out = np.where(holes, 0.0, d).astype(np.float32)
    valid = ~holes
    if method == "none" or not holes.any():
        return out
    if not valid.any():
        return np.zeros_like(out)
    if method == "inpaint":
        return cv2.inpaint(out, holes.astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32)
    left_i = _last_valid_index(valid)
    right_i = (d.shape[1] - 1) - _last_valid_index(valid[:, ::-1])[:, ::-1]
    rows = np.arange(d.shape[0])[:, None]
    from_left = np.where(left_i >= 0, out[rows, np.maximum(left_i, 0)], np.inf)
    right_ok = right_i <= d.shape[1] - 1
    from_right = np.where(right_ok, out[rows, np.minimum(right_i, d.shape[1] - 1)], np.inf)
    filled = np.minimum(from_left, from_right)
    filled = np.where(np.isfinite(filled), filled, np.median(out[valid]))
    return np.where(holes, filled, out).astype(np.float32)


class SGBMBackbone(nn.Module):
    """OpenCV StereoSGBM as a stereo backbone: ``model(left, right) -> (B, 1, H, W)``.

    Inputs are ImageNet-normalised float images, as for the learned backbones; they are turned
    back into uint8 RGB, matched by :func:`sgbm_disparity`, and holes are filled by
    :func:`fill_invalid`. The output follows the input's device and dtype. No gradients flow.

    Args:
        maxdisp: disparity search range (rounded up to a multiple of 16 inside OpenCV).
        block_size: odd matching window side.
        p1, p2: SGM smoothness penalties (default ``8*3*block_size**2``, ``32*3*block_size**2``).
        uniqueness_ratio: percent margin of the best over the second best cost.
        speckle_window_size, speckle_range: speckle filter (0 disables it).
        mode: ``"sgbm"``, ``"sgbm_3way"``, ``"hh"`` or ``"hh4"``.
        lr_check: if > 0, also match right-to-left and reject left pixels whose left-right
            difference exceeds this many pixels before filling (doubles the cost).
        fill: hole filling, ``"background"`` (default), ``"inpaint"`` or ``"none"`` (zeros).
        mean, std: normalisation to undo (ImageNet's by default).

    Confidence (``return_confidence=True``): ``exp(-|dL - dR(x - dL)|)`` from a left-right
    check (computed even when ``lr_check`` is 0), and 0 on every filled hole; 1 means the
    matcher answered and both directions agree exactly.

    Example:
        >>> m = SGBMBackbone(maxdisp=16, block_size=3)
        >>> m(torch.zeros(1, 3, 9, 40), torch.zeros(1, 3, 9, 40)).shape
        torch.Size([1, 1, 9, 40])
    """

    size_multiple = 1   # any image size works: no padding needed (see stereo_tv.predict)
    min_size = 1

    def __init__(self, maxdisp: int = 192, block_size: int = 5, p1: int | None = None,
                 p2: int | None = None, uniqueness_ratio: int = 10,
                 speckle_window_size: int = 100, speckle_range: int = 2,
                 mode: str = "sgbm_3way", lr_check: float = 0.0, fill: str = "background",
                 mean: tuple[float, float, float] = IMAGENET_MEAN,
                 std: tuple[float, float, float] = IMAGENET_STD):
        super().__init__()
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}")
        if fill not in _FILLS:
            raise ValueError(f"fill must be one of {_FILLS}, got {fill!r}")
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(f"block_size must be a positive odd integer, got {block_size}")
        self.maxdisp = int(maxdisp)
        self.block_size = int(block_size)
        self.p1, self.p2 = p1, p2
        self.uniqueness_ratio = int(uniqueness_ratio)
        self.speckle_window_size = int(speckle_window_size)
        self.speckle_range = int(speckle_range)
        self.mode = mode
        self.lr_check = float(lr_check)
        self.fill = fill
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        return (f"maxdisp={self.maxdisp}, block_size={self.block_size}, mode={self.mode!r}, "
                f"uniqueness_ratio={self.uniqueness_ratio}, lr_check={self.lr_check}, "
                f"fill={self.fill!r}")

    def _sgbm_kwargs(self) -> dict:
        return dict(maxdisp=self.maxdisp, block_size=self.block_size, p1=self.p1, p2=self.p2,
                    uniqueness_ratio=self.uniqueness_ratio,
                    speckle_window_size=self.speckle_window_size,
                    speckle_range=self.speckle_range, mode=self.mode)

    def _to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """(B, 3, H, W) normalised -> (B, H, W, 3) uint8 RGB."""
        mean = self.mean.to(device=x.device, dtype=torch.float32)
        std = self.std.to(device=x.device, dtype=torch.float32)
        u = (x.float() * std + mean).mul(255.0).round().clamp(0, 255)
        return np.ascontiguousarray(u.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())

    def match(self, left: np.ndarray, right: np.ndarray,
              confidence: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Dense disparity and confidence of one uint8 pair ``(H, W, 3)``, float32 ``(H, W)``.

        Without ``confidence`` (and ``lr_check == 0``) the confidence is just the 0/1 validity.
        """
        kwargs = self._sgbm_kwargs()
        disp = sgbm_disparity(left, right, **kwargs)
        diff = None
        if self.lr_check > 0 or confidence:
            diff = left_right_check(disp, _right_disparity(left, right, **kwargs))
        holes = ~np.isfinite(disp)
        if self.lr_check > 0:
            holes |= diff > self.lr_check
        dense = fill_invalid(disp, holes, self.fill)
        conf = np.where(holes, 0.0, np.exp(-diff)).astype(np.float32) if diff is not None \
            else (~holes).astype(np.float32)
        return dense, conf

    @torch.no_grad()
    def forward(self, left: torch.Tensor, right: torch.Tensor,
                return_confidence: bool = False):
        """Disparity of the left view.

        Args:
            left, right: ImageNet-normalised images ``(B, 3, H, W)``.
            return_confidence: also return the confidence ``(B, 1, H, W)`` in ``[0, 1]``.

        Returns:
            disparity ``(B, 1, H, W)`` (dense, pixels), or ``(disparity, confidence)``.
        """
        if left.ndim != 4 or left.shape[1] != 3 or left.shape != right.shape:
            raise ValueError("left and right must be (B, 3, H, W) with equal shapes, got "
                             f"{tuple(left.shape)} and {tuple(right.shape)}")
        lefts, rights = self._to_uint8(left), self._to_uint8(right)
        pairs = [self.match(lu, ru, return_confidence) for lu, ru in zip(lefts, rights)]
        dtype = left.dtype if left.is_floating_point() else torch.float32
        disp = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None])
        disp = disp.to(device=left.device, dtype=dtype)
        if not return_confidence:
            return disp
        conf = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None])
        return disp, conf.to(device=left.device, dtype=dtype)
