"""One side-by-side stereo figure drawn with OpenCV (no matplotlib needed).

:func:`stereo_figure` lays out::

    | left image      | ground truth       | <name 1> disparity  | <name 2> disparity  | ...
    | (metrics table) | error colour key   | <name 1> D1 errors  | <name 2> D1 errors  | ...

All disparities share one colour range (the ground truth's, else the first prediction's), so
they compare at a glance; each panel has a title, and each error map the metrics of its
prediction. The second row only appears with a ground truth. Building blocks:
:func:`titled` (title bar + text lines above an image), :func:`grid` and :func:`save_figure`.

Example:
    >>> import numpy as np
    >>> left = np.zeros((30, 40, 3), np.uint8)
    >>> fig = stereo_figure(left, {"raw": np.ones((30, 40))}, panel_width=80)
    >>> fig.dtype, fig.shape[2]
    (dtype('uint8'), 3)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from stereo_tv.cli import atomic_path
from stereo_tv.viz.colormap import KITTI_ERROR_BINS, disparity_to_color, error_to_color

__all__ = ["stereo_figure", "titled", "grid", "error_legend", "format_metrics", "save_figure"]

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def format_metrics(metrics: Mapping[str, float]) -> str:
    """One line such as ``"EPE 1.92 px  D1 8.1%  bad2 10.2%"`` (``epe`` in pixels, every
    other key as a percentage)."""
    parts = []
    for key, value in metrics.items():
        if key == "epe":
            parts.append(f"EPE {value:.2f} px")
        else:
            parts.append(f"{key.upper() if key == 'd1' else key} {value:.1f}%")
    return "  ".join(parts)


def _text_height(scale: float) -> int:
    (_, h), base = cv2.getTextSize("Ag", _FONT, scale, 1)
    return h + base


def titled(image: np.ndarray, title: str, lines: Sequence[str] = (),
           scale: float | None = None) -> np.ndarray:
    """Image with a white bar above it holding ``title`` (and smaller text ``lines``).

    Args:
        image: uint8 RGB ``(H, W, 3)``.
        title: bold first line; lines: further lines, smaller.
        scale: font scale; default grows with the image width.

    Returns:
        uint8 RGB ``(H + bar, W, 3)``.
    """
    h, w = image.shape[:2]
    scale = max(0.35, w / 700.0) if scale is None else scale
    small = 0.8 * scale
    gap = max(4, int(6 * scale))
    heights = [_text_height(scale)] + [_text_height(small)] * len(lines)
    bar = np.full((sum(heights) + gap * (len(heights) + 1), w, 3), 255, np.uint8)
    y = gap
    for i, (text, th) in enumerate(zip([title, *lines], heights)):
        s = scale if i == 0 else small
        y += th
        cv2.putText(bar, text, (gap, y - gap // 2), _FONT, s, (0, 0, 0),
                    2 if i == 0 and s >= 0.6 else 1, cv2.LINE_AA)
        y += gap
    return np.concatenate([bar, image], axis=0)


def grid(cells: Sequence[Sequence[np.ndarray | None]], pad: int = 6,
         background: int = 255) -> np.ndarray:
    """Tile rows of images (``None`` = empty cell) top-aligned in columns, with padding."""
    ncols = max(len(r) for r in cells)
    col_w = [max((r[c].shape[1] for r in cells if c < len(r) and r[c] is not None), default=0)
             for c in range(ncols)]
    rows = []
    for r in cells:
        row_h = max(c.shape[0] for c in r if c is not None)
        canvas = np.full((row_h, sum(col_w) + pad * (ncols + 1), 3), background, np.uint8)
        x = pad
        for c in range(ncols):
            img = r[c] if c < len(r) else None
            if img is not None:
                canvas[:img.shape[0], x:x + img.shape[1]] = img
            x += col_w[c] + pad
        rows.append(canvas)
    width = max(r.shape[1] for r in rows)
    sep = np.full((pad, width, 3), background, np.uint8)
    out = [sep]
    for r in rows:
        out += [r, sep]
    return np.concatenate(out, axis=0)


def error_legend(width: int, height: int) -> np.ndarray:
    """Key of :func:`stereo_tv.viz.colormap.error_to_color`: one swatch per bin, labelled
    with its upper bound in units of the D1 criterion (3 px / 5 %)."""
    img = np.full((height, width, 3), 255, np.uint8)
    n = len(KITTI_ERROR_BINS)
    row = height // n
    scale = max(0.3, min(row / 40.0, width / 900.0))
    low = 0.0
    for i, (upper, colour) in enumerate(KITTI_ERROR_BINS):
        y0 = i * row
        cv2.rectangle(img, (4, y0 + 2), (4 + width // 5, y0 + row - 2), colour, -1)
        label = f"{low:g} - {upper:g}" if np.isfinite(upper) else f"> {low:g}"
        cv2.putText(img, label, (8 + width // 5, y0 + row - 4), _FONT, scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
        low = upper
    return img


def _metrics_panel(metrics: Mapping[str, Mapping[str, float]], width: int,
                   height: int) -> np.ndarray:
    img = np.full((height, width, 3), 255, np.uint8)
    scale = max(0.35, width / 700.0)
    step = int(_text_height(scale) * 1.6)
    y = step
    for name, m in metrics.items():
        cv2.putText(img, name, (6, y), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
        y += step
        for key, value in m.items():
            text = f"{key}: {value:.2f}" + (" px" if key == "epe" else " %")
            cv2.putText(img, text, (6 + step, y), _FONT, 0.85 * scale, (60, 60, 60), 1,
                        cv2.LINE_AA)
            y += int(step * 0.85)
        y += step // 3
    return img


def _resize(img: np.ndarray, width: int | None) -> np.ndarray:
    if width is None or img.shape[1] == width:
        return img
    height = max(1, round(img.shape[0] * width / img.shape[1]))
    interp = cv2.INTER_AREA if width < img.shape[1] else cv2.INTER_NEAREST
    return cv2.resize(img, (width, height), interpolation=interp)


def stereo_figure(left: np.ndarray, disparities: Mapping[str, np.ndarray], gt=None,
                  valid=None, metrics: Mapping[str, Mapping[str, float]] | None = None,
                  vmax: float | None = None, kind: str = "kitti",
                  panel_width: int | None = 480, title: str | None = None) -> np.ndarray:
    """Side-by-side figure of a stereo result.

    Args:
        left: left image, uint8 RGB ``(H, W, 3)`` or grey ``(H, W)``.
        disparities: ``{name: disparity (H, W)}`` in display order, e.g. raw then refined.
        gt: optional ground truth ``(H, W)``; adds a GT panel and a row of error maps.
        valid: ground-truth mask (default ``isfinite(gt) & (gt > 0)``).
        metrics: optional ``{name: {"epe": ..., "d1": ...}}`` printed under each error map
            and in a table under the left image.
        vmax: disparity at the top colour; default the largest valid ground truth, else the
            largest disparity of the first prediction.
        kind: disparity colour map, ``"kitti"`` or ``"turbo"``.
        panel_width: every panel is resized to this width (``None`` keeps the input size).
        title: optional line above the whole figure.

    Returns:
        uint8 RGB image.
    """
    left = np.asarray(left)
    if left.ndim == 2:
        left = np.repeat(left[..., None], 3, axis=2)
    if left.ndim != 3 or left.shape[2] != 3 or left.dtype != np.uint8:
        raise ValueError(f"left must be uint8 (H, W, 3) or (H, W), got {left.dtype} "
                         f"{left.shape}")
    if not disparities:
        raise ValueError("disparities must hold at least one {name: disparity}")
    shape = left.shape[:2]
    for name, d in disparities.items():
        if np.shape(d)[-2:] != shape:
            raise ValueError(f"disparity {name!r} has shape {np.shape(d)}, expected {shape}")
    metrics = dict(metrics or {})
    if gt is not None:
        gt = np.asarray(gt, dtype=np.float64)
        if gt.shape != shape:
            raise ValueError(f"gt has shape {gt.shape}, expected {shape}")
        valid = (np.isfinite(gt) & (gt > 0)) if valid is None else np.asarray(valid, bool)
        if vmax is None and valid.any():
            vmax = float(gt[valid].max())
    if vmax is None:
        first = np.asarray(next(iter(disparities.values())), dtype=np.float64)
        finite = first[np.isfinite(first)]
        vmax = float(finite.max()) if finite.size else 1.0

    def panel(img, name, lines=()):
        return titled(_resize(img, panel_width), name, lines)

    top = [panel(left, "left image")]
    bottom = [None]
    if gt is not None:
        top.append(panel(disparity_to_color(gt, vmax=vmax, kind=kind, valid=valid),
                         "ground truth"))
        w = top[-1].shape[1]
        bottom.append(titled(error_legend(w, min(top[-1].shape[0], int(w * 0.6))),
                             "error key", ["error / D1 criterion (3 px or 5 %)"]))
    for name, d in disparities.items():
        top.append(panel(disparity_to_color(d, vmax=vmax, kind=kind), f"{name} disparity"))
        if gt is not None:
            lines = [format_metrics(metrics[name])] if name in metrics else []
            bottom.append(panel(error_to_color(d, gt, valid), f"{name} errors (D1 map)", lines))
    if metrics and gt is not None:
        body = _metrics_panel(metrics, top[0].shape[1], top[0].shape[0])
        bottom[0] = titled(body, "metrics", ["over pixels with ground truth"])
    rows = [top] if gt is None else [top, bottom]
    fig = grid(rows)
    if title:
        fig = titled(fig, title, scale=max(0.5, min(1.0, fig.shape[1] / 1800)))
    return fig


def save_figure(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB figure (PNG / JPEG by suffix) atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"could not write figure {path}")
    return path
