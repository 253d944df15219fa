"""The denoising task for the training engine :mod:`stereo_tv.train`.

Training loss: ``"mse"`` is the paper's (eq. 4), the mean squared error over the batch;
``"psnr"`` is the geometric mean over the crops of their MSE, ``exp(mean_i log mse_i)``, which
ranks models exactly as the mean per-image PSNR used for evaluation does (minimizing it
maximizes the mean PSNR of the crops). With MSE, textured crops dominate the loss: on our CPU
budget the MSE-trained TV models improved the pooled MSE of Train400 images but lowered their
mean PSNR and the Set12 mean PSNR (sigma 25, 8 epochs: Train400 pooled +0.10 dB, mean -0.04 dB,
Set12 -0.08 dB).
``weight="coverage"`` (patch models) weights each pixel's squared error by ``(n / n_max)^2``,
``n`` the number of patches covering it in the crop (the training loss of the authors' GroupSC
code, bruno-31/groupsc, read, not copied: their crops are 56x56, where half the pixels lie in the
8-pixel border band that few patches cover, while a test image is mostly interior); the loss is
then the weighted mean, so its scale stays that of the MSE.
Validation: mean PSNR (output clipped to [0, 1]) and SSIM over fixed-noise images, keys
``psnr`` and ``ssim`` (the engine prefixes them with the validation set's name, e.g.
``set12/psnr``, the best-checkpoint metric).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from stereo_tv.core.patches import patch_coverage
from stereo_tv.denoising._metrics import batch_psnr, ssim
from stereo_tv.train import Task

__all__ = ["DenoiseTask", "coverage_weight", "relative_lr_groups"]


def relative_lr_groups(model: nn.Module, lr: float, log_factor: float = 2.0,
                       floor: float = 0.02) -> list[dict[str, Any]]:
    """Adam parameter groups with learning rates relative to each quantity's scale.

    Parameters stored as logarithms (``log_step``, ``log_alpha``: names starting with ``log_``)
    get ``lr * log_factor``, a relative change per step; the others (neighbour weights, kappa,
    convolutions) get ``lr`` times their initial RMS value (at least ``floor``), so a weight of
    0.05 and a kappa of 1 both move by about the same fraction per step. With one global
    learning rate, the small TV weights of an unrolled solver jitter by several percent per
    step while its step sizes and smoothing barely move. A non-local game's graph filter
    (``graph_filter``, which starts at the identity, RMS ``1 / side``) is scaled by its largest
    entry instead, so its off-centre taps move as fast as a kappa of 1.
    """
    groups = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.split(".")[-1].startswith("log_"):
            scale = log_factor
        elif name.split(".")[-1] == "graph_filter":
            scale = max(float(p.detach().float().abs().max()), floor)
        else:
            scale = max(float(p.detach().float().pow(2).mean().sqrt()), floor)
        groups.append({"params": [p], "lr": lr * scale, "name": name})
    return groups


def coverage_weight(model: nn.Module, size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
    """``(1, 1, H, W)`` pixel weights ``(n / n_max)^2``, ``n`` the patches of ``model`` covering
    each pixel of an ``H x W`` image.

    >>> class Game(nn.Module):
    ...     patch_size = 3
    >>> coverage_weight(Game(), (3, 5), torch.zeros(1))[0, 0, 1]
    tensor([0.1111, 0.4444, 1.0000, 0.4444, 0.1111])
    """
    s = getattr(getattr(model, "module", model), "patch_size", None)   # DDP wraps the model
    if s is None:
        raise ValueError(f"the coverage loss weight needs a patch model, got "
                         f"{type(model).__name__}")
    if min(size) < s:
        raise ValueError(f"the coverage loss weight needs crops of at least the patch size {s}, "
                         f"got {size}")
    cov = patch_coverage(size, s, like)
    return (cov / cov.max()).square()


class DenoiseTask(Task):
    """Supervised denoising: batches are ``(noisy, clean)`` or ``(noisy, clean, names)``.

    Args:
        loss: ``"mse"`` (paper eq. 4) or ``"psnr"`` (geometric-mean MSE over crops).
        with_ssim: also compute SSIM at validation (scikit-image, a little slower).
        relative_lr: Adam learning rates relative to each quantity's scale
            (:func:`relative_lr_groups`); otherwise one rate for every parameter.
        weight: ``"none"``, or ``"coverage"``: each pixel's squared error weighted by its
            squared patch coverage relative to the crop's largest (models with a
            ``patch_size``; a model without one is an error at the first step).
    """

    LOSSES = ("mse", "psnr")
    WEIGHTS = ("none", "coverage")

    def __init__(self, loss: str = "mse", with_ssim: bool = True, relative_lr: bool = False,
                 weight: str = "none"):
        if loss not in self.LOSSES:
            raise ValueError(f"unknown loss '{loss}'; valid: {', '.join(self.LOSSES)}")
        if weight not in self.WEIGHTS:
            raise ValueError(f"unknown loss weight '{weight}'; valid: {', '.join(self.WEIGHTS)}")
        self.loss = loss
        self.with_ssim = with_ssim
        self.relative_lr = relative_lr
        self.weight = weight

    def param_groups(self, model: nn.Module, lr: float) -> list[dict[str, Any]] | None:
        """:func:`relative_lr_groups` when ``relative_lr``, else the engine's single group."""
        return relative_lr_groups(model, lr) if self.relative_lr else None

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        noisy, clean = batch[0], batch[1]
        out = model(noisy)
        err = (out - clean).square()
        if self.weight == "coverage":
            w = coverage_weight(model, tuple(clean.shape[-2:]), clean)
            mse = (err * w).flatten(1).sum(1) / (w.sum() * clean.shape[1])
        else:
            mse = err.flatten(1).mean(1)
        if self.loss == "mse":
            loss = mse.mean()
        else:
            loss = mse.clamp_min(1e-10).log().mean().exp()
        return loss, {"psnr": batch_psnr(out.detach(), clean).mean(), "mse": mse.detach().mean()}

    def validate(self, model: nn.Module, loader: Iterable[Any]) -> dict[str, float]:
        psnrs, ssims = [], []
        for batch in loader:
            noisy, clean = batch[0], batch[1]
            out = model(noisy)
            psnrs.extend(batch_psnr(out.double(), clean.double()).tolist())
            if self.with_ssim:
                for o, c in zip(out, clean):
                    ssims.append(ssim(o[0].double().cpu().numpy(), c[0].double().cpu().numpy()))
        logs = {"psnr": sum(psnrs) / max(len(psnrs), 1)}
        if ssims:
            logs["ssim"] = sum(ssims) / len(ssims)
        return logs

    def log_images(self, writer: Any, model: nn.Module, batch: Any, step: int) -> None:
        noisy, clean = batch[0][:1], batch[1][:1]
        out = model(noisy).clamp(0, 1)
        writer.add_images("val/noisy_output_clean",
                          torch.cat([noisy.clamp(0, 1), out, clean]), step)
