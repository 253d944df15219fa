"""Colour maps for disparity, depth, confidence and stereo error images.

Every function takes a 2-D map (numpy array or torch tensor; leading singleton dimensions such
as ``(1, 1, H, W)`` are squeezed) and returns a ``uint8`` **RGB** image ``(H, W, 3)``. Pixels
that are invalid (non-finite, or ``False`` in an optional ``valid`` mask) are black.

For ``cv2.imwrite`` convert to BGR first (``rgb[..., ::-1]``); for TensorBoard's ``add_image``
use ``dataformats="HWC"``.

* :func:`disparity_to_color` -- the KITTI devkit colour map (black, blue, red, magenta, green,
  cyan, yellow, white along increasing disparity) or OpenCV's turbo.
* :func:`error_to_color` -- the KITTI D1 error image: the end-point error is divided by the D1
  criterion (3 px or 5 % of the true disparity, whichever is larger), and the ratio is coloured
  in logarithmic bins, blue shades below 1 (correct) and orange to red above 1 (outliers).
* :func:`depth_to_color`, :func:`confidence_to_color` -- turbo (near is red) and grey / turbo.

Example:
    >>> import numpy as np
    >>> rgb = disparity_to_color(np.array([[0.0, 5.0], [10.0, np.nan]]), vmax=10)
    >>> rgb.shape, rgb.dtype
    ((2, 2, 3), dtype('uint8'))
    >>> rgb[0, 0].tolist(), rgb[1, 0].tolist(), rgb[1, 1].tolist()   # 0 and NaN black, max white
    ([0, 0, 0], [255, 255, 255], [0, 0, 0])
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "disparity_to_color",
    "error_to_color",
    "depth_to_color",
    "confidence_to_color",
    "KITTI_ERROR_BINS",
]

# KITTI devkit disparity colour map: node colours (RGB in [0, 1]) and the relative length of the
# segment that leads from each node to the next one (the devkit's fourth column).
_KITTI_NODES = np.array(
    [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1], [0, 1, 0], [0, 1, 1], [1, 1, 0], [1, 1, 1]],
    dtype=np.float64,
)
_KITTI_SEGMENTS = np.array([114, 185, 114, 174, 114, 185, 114], dtype=np.float64)

# KITTI D1 error image: (upper bound of error / criterion, RGB colour). A pixel whose ratio r
# satisfies bins[i-1].bound <= r < bins[i].bound gets bins[i].colour; r < 1 is a correct pixel.
KITTI_ERROR_BINS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.1875, (49, 54, 149)),
    (0.375, (69, 117, 180)),
    (0.75, (116, 173, 209)),
    (1.5, (171, 217, 233)),
    (3.0, (224, 243, 248)),
    (6.0, (254, 224, 144)),
    (12.0, (253, 174, 97)),
    (24.0, (244, 109, 67)),
    (48.0, (215, 48, 39)),
    (np.inf, (165, 0, 38)),
)
"""Log-spaced error bins; bounds are in units of the D1 criterion (1.0 = just at 3 px / 5 %).

Note: the 1.0 boundary falls inside the [0.75, 1.5) bin, as in the devkit; the colours are a
visual aid, while :func:`stereo_tv.metrics.stereo_metrics` gives the exact D1.
"""


def _as_map(x, name: str) -> np.ndarray:
    """2-D float64 numpy view of an array or tensor; squeezes leading singleton dimensions."""
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D map (H, W) (leading 1-dims allowed), "
                         f"got shape {tuple(np.shape(x))}")
    if x.dtype == bool:
        return x
    return x.astype(np.float64, copy=False)


def _valid_mask(x: np.ndarray, valid, name: str = "valid") -> np.ndarray:
    mask = np.isfinite(x)
    if valid is not None:
        v = _as_map(valid, name)
        if v.shape != x.shape:
            raise ValueError(f"{name} must have shape {x.shape}, got {v.shape}")
        mask &= v.astype(bool)
    return mask


def _normalise(x: np.ndarray, mask: np.ndarray, vmin: float | None, vmax: float | None):
    """Map x to [0, 1] with ``(x - vmin) / (vmax - vmin)``; automatic bounds use valid pixels."""
    if vmin is None:
        vmin = float(x[mask].min()) if mask.any() else 0.0
    if vmax is None:
        vmax = float(x[mask].max()) if mask.any() else 1.0
    scale = vmax - vmin
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    t = np.where(mask, x, vmin)
    return np.clip((t - vmin) / scale, 0.0, 1.0)


def _kitti_colors(t: np.ndarray) -> np.ndarray:
    """KITTI devkit colour of t in [0, 1]: piecewise-linear between the nodes, float RGB."""
    ends = np.cumsum(_KITTI_SEGMENTS) / _KITTI_SEGMENTS.sum()   # right end of each segment
    starts = np.concatenate([[0.0], ends[:-1]])
    k = np.minimum(np.searchsorted(ends, t, side="left"), len(_KITTI_SEGMENTS) - 1)
    s = ((t - starts[k]) / (ends[k] - starts[k]))[..., None]
    return _KITTI_NODES[k] * (1.0 - s) + _KITTI_NODES[k + 1] * s


def _turbo_colors(t: np.ndarray) -> np.ndarray:
    """OpenCV turbo colour of t in [0, 1] as uint8 RGB."""
    idx = np.round(t * 255.0).astype(np.uint8)
    bgr = cv2.applyColorMap(idx, cv2.COLORMAP_TURBO)
    return bgr[..., ::-1]


_KINDS = ("kitti", "turbo")


def disparity_to_color(disp, vmax: float | None = None, kind: str = "kitti",
                       vmin: float = 0.0, valid=None) -> np.ndarray:
    """Colour a disparity map.

    Args:
        disp: disparity ``(H, W)`` in pixels (numpy or torch; leading 1-dims are squeezed).
        vmax: disparity shown with the top colour (white for ``"kitti"``, dark red for
            ``"turbo"``); ``None`` takes the largest valid disparity, as the KITTI devkit does.
            Fix it to compare several maps (e.g. the ground truth's maximum).
        kind: ``"kitti"`` (devkit colour map) or ``"turbo"`` (``cv2.COLORMAP_TURBO``).
        vmin: disparity shown with the bottom colour (black for ``"kitti"``); ``None`` takes
            the smallest valid disparity.
        valid: optional boolean mask ``(H, W)``; ``False`` pixels are black. Non-finite
            pixels are always black. For KITTI ground truth pass ``valid=disp > 0``.

    Returns:
        ``uint8`` RGB image ``(H, W, 3)``.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    d = _as_map(disp, "disp")
    mask = _valid_mask(d, valid)
    t = _normalise(d, mask, vmin, vmax)
    if kind == "kitti":
        rgb = np.round(_kitti_colors(t) * 255.0).astype(np.uint8)
    else:
        rgb = np.ascontiguousarray(_turbo_colors(t))
    rgb[~mask] = 0
    return rgb


def _dilate(rgb: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0:
        return rgb
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(rgb, kernel)


def error_to_color(pred, gt, valid=None, abs_thresh: float = 3.0, rel_thresh: float = 0.05,
                   dilate: int = 0) -> np.ndarray:
    """KITTI D1 error image of a predicted disparity.

    The error ``e = |pred - gt|`` is divided by the D1 criterion, ``r = min(e / abs_thresh,
    e / (rel_thresh * |gt|))`` (a pixel is a D1 outlier when ``r > 1``), and ``r`` is coloured
    with :data:`KITTI_ERROR_BINS`: blues for ``r < 1``, yellow to dark red above.

    Args:
        pred: predicted disparity ``(H, W)``.
        gt: ground-truth disparity ``(H, W)``.
        valid: boolean mask ``(H, W)`` of pixels with ground truth; default ``gt > 0`` and
            finite (KITTI's convention). Pixels outside it are black. A valid pixel whose
            prediction is non-finite gets the worst colour.
        abs_thresh: absolute part of the criterion in pixels (3 for KITTI D1).
        rel_thresh: relative part of the criterion (0.05 for KITTI D1).
        dilate: optional dilation radius in pixels, to make sparse ground truth readable (the
            devkit uses 1 for its sparse LiDAR ground truth).

    Returns:
        ``uint8`` RGB image ``(H, W, 3)``.

    Example:
        >>> import numpy as np
        >>> gt = np.full((1, 3), 20.0)   # error 10 px is 10/3 = 3.3 criteria: bin [3, 6)
        >>> error_to_color(np.array([[20.0, 30.0, 20.0]]), gt, valid=gt * [[1, 1, 0]]).tolist()
        [[[49, 54, 149], [254, 224, 144], [0, 0, 0]]]
    """
    p = _as_map(pred, "pred")
    g = _as_map(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt must have the same shape, got {p.shape} and {g.shape}")
    mask = np.isfinite(g)
    if valid is None:
        mask &= g > 0
    else:
        mask = _valid_mask(g, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(p - g)
        err = np.where(np.isfinite(err), err, np.inf)
        ratio = np.minimum(err / abs_thresh, err / (rel_thresh * np.abs(g)))
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    bounds = np.array([b for b, _ in KITTI_ERROR_BINS])
    colours = np.array([c for _, c in KITTI_ERROR_BINS], dtype=np.uint8)
    k = np.minimum(np.searchsorted(bounds, ratio, side="right"), len(bounds) - 1)
    rgb = colours[k]
    rgb[~mask] = 0
    return _dilate(rgb, dilate)


def depth_to_color(depth, vmax: float | None = None, vmin: float | None = None,
                   valid=None) -> np.ndarray:
    """Colour a depth map with turbo, near red and far blue.

    Args:
        depth: depth ``(H, W)`` (any unit); non-finite or ``<= 0`` pixels are black.
        vmax: far limit (blue); default the largest valid depth.
        vmin: near limit (red); default the smallest valid depth.
        valid: optional extra boolean mask ``(H, W)``.

    Returns:
        ``uint8`` RGB image ``(H, W, 3)``.
    """
    z = _as_map(depth, "depth")
    mask = _valid_mask(z, valid) & (np.where(np.isfinite(z), z, 0) > 0)
    t = 1.0 - _normalise(z, mask, vmin, vmax)
    rgb = np.ascontiguousarray(_turbo_colors(t))
    rgb[~mask] = 0
    return rgb


def confidence_to_color(conf, kind: str = "gray") -> np.ndarray:
    """Colour a confidence map in ``[0, 1]`` (values are clipped); non-finite pixels black.

    Args:
        conf: confidence ``(H, W)``; 1 is certain.
        kind: ``"gray"`` (white = 1) or ``"turbo"`` (red = 1).

    Returns:
        ``uint8`` RGB image ``(H, W, 3)``.
    """
    if kind not in ("gray", "turbo"):
        raise ValueError(f"kind must be 'gray' or 'turbo', got {kind!r}")
    c = _as_map(conf, "conf")
    mask = np.isfinite(c)
    t = np.clip(np.where(mask, c, 0.0), 0.0, 1.0)
    if kind == "gray":
        g = np.round(t * 255.0).astype(np.uint8)
        rgb = np.repeat(g[..., None], 3, axis=2)
    else:
        rgb = np.ascontiguousarray(_turbo_colors(t))
    rgb[~mask] = 0
    return rgb
