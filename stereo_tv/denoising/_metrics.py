"""Image quality metrics for denoising: PSNR on the clipped output, SSIM from scikit-image."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["psnr", "ssim", "batch_psnr"]


def psnr(pred: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of ``pred`` (clipped to ``[0, 1]``) against ``clean``, peak value 1.

    >>> round(psnr(np.full((4, 4), 0.1), np.zeros((4, 4))), 6)
    20.0
    """
    pred = np.clip(np.asarray(pred, dtype=np.float64), 0.0, 1.0)
    clean = np.asarray(clean, dtype=np.float64)
    if pred.shape != clean.shape:
        raise ValueError(f"shapes differ: pred {pred.shape} vs clean {clean.shape}")
    mse = float(np.mean((pred - clean) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def ssim(pred: np.ndarray, clean: np.ndarray) -> float:
    """SSIM (``skimage.metrics.structural_similarity``, data range 1) of clipped ``pred``.

    The default 7x7 window shrinks to the largest odd size that fits images smaller than 7.
    scikit-image is imported here, not at module load: ``import stereo_tv`` (which exports
    :func:`stereo_tv.denoise`) should not pay for it.
    """
    from skimage.metrics import structural_similarity

    pred = np.clip(np.asarray(pred, dtype=np.float64), 0.0, 1.0)
    clean = np.asarray(clean, dtype=np.float64)
    channel_axis = -1 if pred.ndim == 3 else None
    side = min(pred.shape[:2])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return float("nan")
    return float(structural_similarity(pred, clean, data_range=1.0, channel_axis=channel_axis,
                                       win_size=win))


def batch_psnr(pred: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) of clipped ``pred`` (B,C,H,W) against ``clean``; returns (B,)."""
    mse = (pred.clamp(0, 1) - clean).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))
