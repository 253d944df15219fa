"""``denoise(img, sigma, model)``: denoise a NumPy image with a shipped model."""

from __future__ import annotations

import functools
import os

import numpy as np
import torch
from torch import nn

from stereo_tv.denoising._weights import WeightsError, load_weights, shipped_path, shipped_sigmas
from stereo_tv.denoising._zoo import build_model, model_family

__all__ = ["denoise", "load_denoiser", "apply_denoiser"]


@functools.lru_cache(maxsize=16)
def _shipped(model: str, sigma: float) -> nn.Module:
    return load_weights(shipped_path(model, sigma))[0]


def load_denoiser(model: str = "tv-asym-eg", sigma: float = 25.0,
                  weights: str | os.PathLike | None = None) -> nn.Module:
    """The denoiser to use: from ``weights`` if given, else the shipped weights of ``model``.

    Classical models (``tv-chambolle``, ``bm3d``) need no weights. Raises
    :class:`~stereo_tv.denoising._weights.WeightsError` when ``model`` has no shipped weights
    for ``sigma`` (the message lists the available noise levels).
    """
    if weights is not None:
        return load_weights(weights)[0]
    if model_family(model) == "classical":
        return build_model(model, sigma)
    available = shipped_sigmas(model)
    if float(sigma) not in available:
        have = ", ".join(f"{s:g}" for s in available) or "none"
        raise WeightsError(f"no shipped weights for model '{model}' at sigma={float(sigma):g}; "
                           f"available sigmas: {have}")
    return _shipped(model, float(sigma))


@torch.inference_mode()
def apply_denoiser(net: nn.Module, img: np.ndarray) -> np.ndarray:
    """Run ``net`` on a float image (H, W) or (H, W, C), channel by channel; returns float32."""
    x = np.asarray(img, dtype=np.float32)
    chans = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
    p = next(iter(net.parameters()), None)
    t = torch.from_numpy(np.ascontiguousarray(chans))[:, None]
    if p is not None:
        t = t.to(p)
    out = torch.cat([net(c[None]) for c in t])[:, 0].float().cpu().numpy()
    return out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)


def denoise(img: np.ndarray, sigma: float, model: str = "tv-asym-eg") -> np.ndarray:
    """Denoise a grayscale image corrupted by Gaussian noise of level ``sigma``.

    Args:
        img: float array (H, W) in [0, 1] (a (H, W, C) array is denoised per channel).
        sigma: noise standard deviation on the 0-255 scale; a shipped model needs weights for
            exactly this value (see :func:`stereo_tv.denoise.shipped_sigmas`).
        model: a model name with shipped weights, or ``"tv-chambolle"`` / ``"bm3d"``.

    Returns:
        float32 array of the same shape (not clipped).

    Example:
        >>> import numpy as np
        >>> denoise(np.full((9, 7), 0.5), 25, model="tv-chambolle").round(3).max()
        np.float32(0.5)
    """
    x = np.asarray(img)
    if x.ndim not in (2, 3) or min(x.shape[:2]) < 1:
        raise ValueError(f"img must be (H, W) or (H, W, C), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"img must be a float array in [0, 1], got dtype {x.dtype}")
    return apply_denoiser(load_denoiser(model, sigma), x)
