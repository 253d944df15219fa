"""Per-image evaluation of a CS-MRI reconstructor: simulate ``x = A y``, reconstruct, PSNR.

PSNR is computed on ``[0, 1]`` images with peak 1, after clipping the reconstruction to
``[0, 1]`` (the ground truth is in that range). Times are wall-clock seconds per image for the
reconstruction alone (measurement simulation excluded), after one untimed warm-up call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import torch

from stereo_tv.mri.data import mean_psnr, psnr
from stereo_tv.mri.operator import MaskedFourier

__all__ = ["evaluate_reconstructor", "summarize"]

Reconstructor = Callable[[torch.Tensor, MaskedFourier], torch.Tensor]


@torch.inference_mode()
def evaluate_reconstructor(reconstruct: Reconstructor, dataset: Iterable[dict],
                           operator: MaskedFourier, sigma: float = 0.0,
                           seed: int = 0) -> list[dict]:
    """Run ``reconstruct(x, operator) -> (1, 1, H, W)`` on every item of ``dataset``.

    Args:
        reconstruct: maps a complex measurement ``(1, 1, H, W)`` and the operator to an image.
        dataset: items ``{"image": (1, H, W), "name": str}`` (e.g. :class:`MRIImages`).
        operator: the sampling operator (its device and the images' dtype are used).
        sigma: std of the complex k-space noise (0: noiseless).
        seed: seed of the noise, so that every method sees the same measurements.

    Returns:
        one ``{"name", "psnr", "seconds"}`` dict per image.
    """
    device = operator.mask.device
    generator = torch.Generator(device=device).manual_seed(seed)
    rows, warm = [], False
    for item in dataset:
        image = item["image"].to(device)[None]
        x = operator.measure(image, sigma=sigma, generator=generator)
        if not warm:
            reconstruct(x, operator)
            warm = True
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        recon = reconstruct(x, operator)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - t0
        value = float(psnr(recon.clamp(0, 1), image)[0])
        rows.append({"name": item["name"], "psnr": value, "seconds": seconds})
    return rows


def summarize(rows: list[dict]) -> dict:
    """``{"psnr": mean PSNR, "seconds": mean seconds, "count": n}``."""
    return {"psnr": mean_psnr([r["psnr"] for r in rows]),
            "seconds": sum(r["seconds"] for r in rows) / max(len(rows), 1),
            "count": len(rows)}
