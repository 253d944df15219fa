"""Evaluation under the noise protocol: per-image PSNR / SSIM / seconds and their means."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from stereo_tv.denoising._data import NoisyImages
from stereo_tv.denoising._metrics import psnr, ssim

__all__ = ["evaluate"]


@torch.inference_mode()
def evaluate(model: nn.Module, dataset: NoisyImages, device: torch.device | str = "cpu",
             verbose: bool = False) -> dict:
    """Denoise every image of ``dataset`` (seeded noise) and score it against the clean one.

    PSNR and SSIM are computed on the output clipped to [0, 1] (see :func:`psnr`); ``seconds``
    is the model's forward time alone. Returns ``{"images": [{"name", "psnr", "ssim",
    "seconds"}], "mean": {"psnr", "ssim", "seconds"}}``.
    """
    device = torch.device(device)
    model = model.to(device).eval()
    rows = []
    for i in range(len(dataset)):
        noisy, clean, name = dataset[i]
        x = noisy[None].to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        z = out[0, 0].double().cpu().numpy()
        c = clean[0].double().numpy()
        row = {"name": name, "psnr": psnr(z, c), "ssim": ssim(z, c), "seconds": sec}
        rows.append(row)
        if verbose:
            print(f"{name:>16s}  psnr {row['psnr']:7.3f}  ssim {row['ssim']:.4f}  "
                  f"{sec:7.3f} s", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim", "seconds")}
    return {"images": rows, "mean": mean}
