"""Stereo error metrics: end-point error, KITTI D1 and bad-N pixel rates.

With ``e = |pred - gt|`` over the valid pixels:

* ``epe``: mean of ``e`` in pixels.
* ``bad-N`` (N = 1, 2, 3): percentage of pixels with ``e > N``. ``bad-3`` is the "3-px error"
  of the PSMNet paper (its KITTI 2012 / SceneFlow tables).
* ``d1``: KITTI 2015's outlier rate, percentage of pixels with ``e > 3`` **and**
  ``e > 0.05 * gt``. The relative test forgives 3-5 % errors on near objects, so
  ``d1 <= bad3`` always, and they are equal where every ground-truth disparity is below 60 px.

Every frame gets its own percentages; :func:`mean_metrics` averages frames with equal weight
(per-frame mean, as PSMNet's evaluation loop does; the KITTI server's pixel-pooled average can
differ slightly).

Example (errors 0, 1, 4 and 4 px on gt 10, 10, 10, 100; the last is only 4 % of its gt):
    >>> import numpy as np
    >>> m = stereo_metrics(np.array([10., 11., 14., 104.]), np.array([10., 10., 10., 100.]))
    >>> m["epe"], m["bad1"], m["bad3"], m["d1"]
    (2.25, 50.0, 50.0, 25.0)
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["stereo_metrics", "end_point_error", "bad_pixel_rate", "d1_error", "mean_metrics",
           "METRIC_NAMES"]

METRIC_NAMES = ("epe", "d1", "bad1", "bad2", "bad3")


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    return x.detach()


def _errors(pred, gt, valid) -> tuple[torch.Tensor, torch.Tensor]:
    pred = _as_tensor(pred, "pred").to(torch.float64)
    gt = _as_tensor(gt, "gt").to(torch.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt shapes differ: {tuple(pred.shape)} vs {tuple(gt.shape)}")
    if valid is None:
        mask = torch.isfinite(gt) & (gt > 0)
    else:
        mask = _as_tensor(valid, "valid").to(device=gt.device, dtype=torch.bool)
        if mask.shape != gt.shape:
            raise ValueError(f"valid must have the shape of gt {tuple(gt.shape)}, got "
                             f"{tuple(mask.shape)}")
    gt = gt[mask]
    return (pred.to(gt.device)[mask] - gt).abs(), gt


def _percent(hits: torch.Tensor) -> float:
    return 100.0 * hits.double().mean().item() if hits.numel() else math.nan


def end_point_error(pred, gt, valid=None) -> float:
    """Mean absolute disparity error in pixels over ``valid`` (NaN when nothing is valid)."""
    err, _ = _errors(pred, gt, valid)
    return err.mean().item() if err.numel() else math.nan


def bad_pixel_rate(pred, gt, valid=None, threshold: float = 3.0) -> float:
    """Percentage of valid pixels whose error exceeds ``threshold`` pixels."""
    err, _ = _errors(pred, gt, valid)
    return _percent(err > threshold)


def d1_error(pred, gt, valid=None, abs_thresh: float = 3.0, rel_thresh: float = 0.05) -> float:
    """KITTI D1: percentage of valid pixels with error > 3 px and > 5 % of the true disparity."""
    err, gt = _errors(pred, gt, valid)
    return _percent((err > abs_thresh) & (err > rel_thresh * gt.abs()))


def stereo_metrics(pred, gt, valid=None) -> dict[str, float]:
    """EPE (px) and D1, bad-1, bad-2, bad-3 (percent) of one prediction.

    Args:
        pred: predicted disparity, numpy array or tensor of any shape, e.g. (H, W) or (B,1,H,W).
        gt: ground truth, same shape.
        valid: bool mask, same shape; default ``isfinite(gt) & (gt > 0)``.

    Returns:
        ``{"epe", "d1", "bad1", "bad2", "bad3"}`` as floats; NaN when no pixel is valid.
    """
    err, gt = _errors(pred, gt, valid)
    return {
        "epe": err.mean().item() if err.numel() else math.nan,
        "d1": _percent((err > 3.0) & (err > 0.05 * gt.abs())),
        "bad1": _percent(err > 1.0),
        "bad2": _percent(err > 2.0),
        "bad3": _percent(err > 3.0),
    }


def mean_metrics(frames: list[dict[str, float]]) -> dict[str, float]:
    """Per-key mean over frames (each frame weighs the same); NaN entries are skipped."""
    keys = [k for k in frames[0] if isinstance(frames[0][k], (int, float))] if frames else []
    out = {}
    for key in keys:
        values = [f[key] for f in frames if not math.isnan(f[key])]
        out[key] = sum(values) / len(values) if values else math.nan
    return out
