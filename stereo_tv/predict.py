"""Disparity of an image pair with any stereo model: padding, normalization, memory checks.

:func:`predict_disparity` follows the PSMNet release's test protocol: RGB -> ``ToTensor`` ->
ImageNet normalization, zero padding at the top and on the right up to a multiple of 16, one
forward in ``torch.inference_mode``, then the crop back to the input size. The model runs on the
device and dtype of its parameters.

:func:`load_stereo_model` builds the model for the command lines: PSMNet from a checkpoint,
optionally wrapped by a refinement head through ``RefinedStereo(backbone, refine)`` of
:mod:`stereo_tv.refine` (``tv_iters > 0`` or a given ``refine`` module).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stereo_tv.cli import UserError
from stereo_tv.data.transforms import image_to_tensor

__all__ = ["predict_disparity", "predict_tensor", "pad_to_multiple", "as_rgb_pair",
           "check_pair_size", "check_memory", "available_memory", "resolve_weights",
           "load_stereo_model", "WEIGHTS_ENV"]

WEIGHTS_ENV = "STEREO_TV_PSMNET"


def pad_to_multiple(x: torch.Tensor, multiple: int = 16) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad (B, C, H, W) at the top and on the right to multiples of ``multiple``.

    Returns the padded tensor and ``(top, right)``; crop back with ``y[..., top:, :W]``.

    >>> y, pads = pad_to_multiple(torch.ones(1, 3, 370, 1226))
    >>> tuple(y.shape), pads
    ((1, 3, 384, 1232), (14, 6))
    """
    h, w = x.shape[-2:]
    top, right = (-h) % multiple, (-w) % multiple
    if top or right:
        x = F.pad(x, (0, right, top, 0))
    return x, (top, right)


def _backbone(model: nn.Module) -> nn.Module:
    return getattr(model, "backbone", model)


def check_pair_size(model: nn.Module, height: int, width: int) -> None:
    """UserError unless a ``height x width`` pair, once padded, is big enough for ``model``."""
    net = _backbone(model)
    multiple = getattr(net, "size_multiple", 16)
    min_size = getattr(net, "min_size", 0)
    hp, wp = height + (-height) % multiple, width + (-width) % multiple
    if hp < min_size or wp < min_size:
        smallest = min_size - multiple + 1
        raise UserError(f"image {width}x{height} is too small for {type(net).__name__}: it needs "
                        f"at least {smallest}x{smallest} pixels (padded to {min_size}x{min_size})")


def available_memory(device: torch.device) -> int | None:
    """Free bytes on ``device``: CUDA free memory, or ``MemAvailable`` of the host for CPU."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        try:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def check_memory(model: nn.Module, height: int, width: int, batch: int, device: torch.device,
                 limit: int | None = None) -> None:
    """UserError before an inference forward whose estimated peak memory exceeds ``limit`` bytes.

    ``limit`` defaults to the free memory of ``device``. Only models that expose
    ``memory_bytes(height, width, batch, training=False)`` (PSMNet) are checked.
    """
    estimate_fn = getattr(_backbone(model), "memory_bytes", None)
    if estimate_fn is None:
        return
    need = estimate_fn(height, width, batch, training=False)
    limit = available_memory(device) if limit is None else limit
    if limit is not None and need > limit:
        raise UserError(f"a {width}x{height} pair needs about {need / 2**30:.1f} GiB on {device} "
                        f"but only {limit / 2**30:.1f} GiB are free; use --max-size (or a "
                        f"smaller maxdisp) to shrink it")


def _model_device(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(iter(model.parameters()), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.float32)


def predict_tensor(model: nn.Module, left: torch.Tensor, right: torch.Tensor,
                   return_confidence: bool = False, memory_limit: int | None = None):
    """Run ``model`` in eval mode on normalized ``(B, 3, H, W)`` pairs of any size.

    Pads to the model's ``size_multiple`` (16), checks size and memory, crops back.

    Returns:
        disparity ``(B, 1, H, W)``, or ``(disparity, confidence)``.
    """
    if left.ndim != 4 or left.shape != right.shape:
        raise UserError(f"left and right must be equal (B, 3, H, W) tensors, got "
                        f"{tuple(left.shape)} and {tuple(right.shape)}")
    b, _, h, w = left.shape
    net = _backbone(model)
    check_pair_size(model, h, w)
    left_p, (top, _) = pad_to_multiple(left, getattr(net, "size_multiple", 16))
    right_p, _ = pad_to_multiple(right, getattr(net, "size_multiple", 16))
    device, dtype = _model_device(model)
    check_memory(model, left_p.shape[-2], left_p.shape[-1], b, device, memory_limit)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(left_p.to(device, dtype), right_p.to(device, dtype),
                        **({"return_confidence": True} if return_confidence else {}))
    finally:
        model.train(was_training)
    if return_confidence:
        disp, conf = out
        return disp[..., top:, :w], conf[..., top:, :w]
    return out[..., top:, :w]


def as_rgb_pair(left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a uint8 pair and make both RGB ``(H, W, 3)``: gray is replicated (with a warning),
    alpha dropped."""
    out = []
    for name, img in (("left", left), ("right", right)):
        img = np.asarray(img)
        if img.dtype != np.uint8:
            raise UserError(f"{name} image must be uint8, got {img.dtype}")
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[..., 0]
        if img.ndim == 2:
            warnings.warn(f"{name} image is grayscale; replicating it to 3 channels (the "
                          "network was trained on colour images)", UserWarning, stacklevel=3)
            img = np.repeat(img[..., None], 3, axis=2)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
        elif img.ndim != 3 or img.shape[2] != 3:
            raise UserError(f"{name} image must be (H, W), (H, W, 3) or (H, W, 4), got "
                            f"{img.shape}")
        out.append(np.ascontiguousarray(img))
    if out[0].shape != out[1].shape:
        raise UserError(f"left and right images differ in size: {out[0].shape[1]}x"
                        f"{out[0].shape[0]} vs {out[1].shape[1]}x{out[1].shape[0]}")
    return out[0], out[1]


def predict_disparity(model: nn.Module, left: np.ndarray, right: np.ndarray, *,
                      max_size: int | None = None, return_confidence: bool = False,
                      memory_limit: int | None = None):
    """Disparity of the left image of a rectified uint8 pair.

    Args:
        model: stereo model, ``model(left, right) -> (B, 1, H, W)`` (e.g. PSMNet).
        left, right: uint8 ``(H, W, 3)`` RGB; ``(H, W)`` gray is replicated to 3 channels with
            a warning and RGBA loses its alpha.
        max_size: if the longer side exceeds it, both images are downscaled to it (area
            interpolation), and the disparity is upscaled back (bilinear) and multiplied by
            the horizontal scale.
        return_confidence: also return the model's confidence map (PSMNet: max probability).
        memory_limit: bytes allowed for the forward; default the free memory of the device.

    Returns:
        float32 ``(H, W)`` disparity in pixels of the input, or ``(disparity, confidence)``.

    Raises:
        UserError: sizes differ, image too small for the model, or not enough memory.
    """
    left, right = as_rgb_pair(left, right)
    h, w = left.shape[:2]
    if max_size is not None and max(h, w) > max_size:
        scale = max_size / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        try:
            check_pair_size(model, size[1], size[0])
        except UserError as exc:
            raise UserError(f"max_size {max_size} shrinks the {w}x{h} pair to {size[0]}x"
                            f"{size[1]}: {exc}") from None
        left = cv2.resize(left, size, interpolation=cv2.INTER_AREA)
        right = cv2.resize(right, size, interpolation=cv2.INTER_AREA)
    out = predict_tensor(model, image_to_tensor(left)[None], image_to_tensor(right)[None],
                         return_confidence=return_confidence, memory_limit=memory_limit)
    disp, conf = out if return_confidence else (out, None)
    disp = disp[0, 0].float().cpu().numpy()
    if disp.shape != (h, w):
        sx = w / disp.shape[1]
        disp = cv2.resize(disp, (w, h), interpolation=cv2.INTER_LINEAR) * sx
    disp = disp.astype(np.float32)
    if conf is None:
        return disp
    conf = conf[0, 0].float().cpu().numpy()
    if conf.shape != (h, w):
        conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
    return disp, conf.astype(np.float32)


def resolve_weights(weights: str | os.PathLike | None) -> Path:
    """``weights`` if given, else ``$STEREO_TV_PSMNET``; UserError when neither is set."""
    weights = weights or os.environ.get(WEIGHTS_ENV)
    if not weights:
        raise UserError(f"no PSMNet weights: pass --weights CKPT or set {WEIGHTS_ENV}")
    return Path(weights)


def load_stereo_model(weights: str | os.PathLike, maxdisp: int = 192, tv_iters: int = 0,
                      refine: nn.Module | str | os.PathLike | None = None) -> nn.Module:
    """PSMNet from ``weights`` (eval mode, CPU), optionally wrapped by a refinement head.

    ``refine`` is a module (any ``refine(disp, image=, confidence=)``), a head file or a shipped
    head name (``stereo_tv.refine.shipped_heads()``). Without it, ``tv_iters > 0`` picks the
    shipped PSMNet head with that many iterations (``shipped_head_for``; UserError listing the
    shipped heads when there is none). The result is ``RefinedStereo(backbone, head)``.
    """
    from stereo_tv.models import PSMNet
    from stereo_tv.refine import RefinedStereo, load_head, shipped_head_for

    model = PSMNet.from_checkpoint(weights, maxdisp=maxdisp)
    if refine is None and tv_iters <= 0:
        return model
    if refine is None:
        refine = shipped_head_for("psmnet", tv_iters)
    if not isinstance(refine, nn.Module):
        refine = load_head(refine)
    return RefinedStereo(model, refine, freeze_backbone=True).eval()
