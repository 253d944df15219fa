"""Image normalization and joint (left, right, disparity, mask) augmentation for stereo.

Normalization is the PSMNet / ImageNet one: ``ToTensor`` (uint8 -> [0, 1]) then
``(x - mean) / std`` with ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225).

:class:`JointAugment` draws its parameters once per sample from a ``numpy`` generator, so a
random crop cuts the same window out of the left and right images, the disparity and the mask,
and one colour jitter applies to both views (a photometric change that keeps them matching).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "image_to_tensor", "tensor_to_image",
           "JointAugment"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8 RGB ``(H, W, 3)`` (or float in [0, 1]) -> normalized float32 ``(3, H, W)``.

    >>> x = image_to_tensor(np.full((1, 1, 3), 255, np.uint8))  # (1 - mean) / std
    >>> [round(v, 3) for v in x.flatten().tolist()]
    [2.249, 2.429, 2.64]
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be RGB (H, W, 3), got shape {image.shape}")
    x = image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image.astype(np.float32)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    std = np.asarray(IMAGENET_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(((x - mean) / std).transpose(2, 0, 1)))


def tensor_to_image(x: torch.Tensor) -> np.ndarray:
    """Inverse of :func:`image_to_tensor`: normalized ``(3, H, W)`` -> uint8 ``(H, W, 3)``."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    rgb = (x * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)
    return rgb.permute(1, 2, 0).cpu().numpy()


def _gray(x: np.ndarray) -> np.ndarray:
    return (x @ np.asarray([0.299, 0.587, 0.114], np.float32))[..., None]


class JointAugment:
    """Random crop of ``crop = (h, w)`` on all maps, plus one colour jitter for both views.

    Args:
        crop: output size ``(h, w)``; ``None`` keeps the full frame. PSMNet trains on 256x512.
        brightness, contrast, saturation: jitter strengths ``s``; each factor is drawn from
            ``U(1 - s, 1 + s)`` (0 disables it), applied in that order, then clipped to [0, 1].
        gamma: ``(lo, hi)`` range of a gamma exponent, ``(1, 1)`` disables it.

    ``__call__(sample, rng)`` takes float32 images in [0, 1], ``(H, W, 3)``, a disparity and a
    mask ``(H, W)`` (either may be None) and a ``numpy.random.Generator``; it returns the same
    keys, cropped and jittered. Every random number comes from ``rng``.
    """

    def __init__(self, crop: tuple[int, int] | None = (256, 512), brightness: float = 0.2,
                 contrast: float = 0.2, saturation: float = 0.2,
                 gamma: tuple[float, float] = (1.0, 1.0)):
        self.crop = tuple(crop) if crop is not None else None
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.gamma = tuple(gamma)

    def __repr__(self) -> str:
        return (f"JointAugment(crop={self.crop}, brightness={self.brightness}, "
                f"contrast={self.contrast}, saturation={self.saturation}, gamma={self.gamma})")

    def draw(self, rng: np.random.Generator, height: int, width: int) -> dict:
        """Draw one sample's parameters: crop corner and jitter factors."""
        if self.crop is None:
            top, left, (ch, cw) = 0, 0, (height, width)
        else:
            ch, cw = self.crop
            if height < ch or width < cw:
                raise ValueError(f"crop {ch}x{cw} is larger than the image {height}x{width}")
            top = int(rng.integers(0, height - ch + 1))
            left = int(rng.integers(0, width - cw + 1))
        return {
            "box": (top, left, ch, cw),
            "brightness": float(rng.uniform(1 - self.brightness, 1 + self.brightness)),
            "contrast": float(rng.uniform(1 - self.contrast, 1 + self.contrast)),
            "saturation": float(rng.uniform(1 - self.saturation, 1 + self.saturation)),
            "gamma": float(rng.uniform(*self.gamma)),
        }

    @staticmethod
    def jitter(x: np.ndarray, p: dict) -> np.ndarray:
        """Apply brightness, contrast, saturation and gamma factors ``p`` to (H, W, 3) in [0, 1]."""
        x = x * p["brightness"]
        x = (x - x.mean()) * p["contrast"] + x.mean()
        g = _gray(x)
        x = (x - g) * p["saturation"] + g
        x = np.clip(x, 0.0, 1.0)
        if p["gamma"] != 1.0:
            x = x ** p["gamma"]
        return x.astype(np.float32)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        h, w = sample["left"].shape[:2]
        p = self.draw(rng, h, w)
        top, left, ch, cw = p["box"]
        out = dict(sample)
        for key in ("left", "right", "disp", "valid", "noc"):
            if out.get(key) is not None:
                out[key] = np.ascontiguousarray(out[key][top:top + ch, left:left + cw])
        out["left"] = self.jitter(out["left"], p)
        out["right"] = self.jitter(out["right"], p)
        return out
