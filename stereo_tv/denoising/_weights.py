"""Small weight files for denoisers: export, load, shipped weights and their self-check.

A weight file is a ``torch.save`` dict (loadable with ``weights_only=True``)::

    {"format": "stereo_tv.denoise/1", "model": "tv-asym-eg", "sigma": 25.0,
     "config": {...build_model keyword overrides...}, "state_dict": {...},
     "val": {"set12/psnr": ...}, "check": {"image": "synthetic-v1", "psnr": ...},
     "train": {...command, seconds, epochs...}}

``check`` holds the PSNR that the model reaches on :func:`synthetic_image` with the seeded noise
of the protocol; tests reload the file and reproduce it.

Shipped weights live in ``stereo_tv/weights/denoise/<model>_sigma<S>.pt``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stereo_tv.cli import UserError, atomic_path, foreign_format, load_torch_file
from stereo_tv.denoising._metrics import psnr
from stereo_tv.denoising._noise import add_noise

__all__ = ["FORMAT", "SHIPPED_DIR", "shipped_path", "shipped_sigmas", "shipped_models",
           "synthetic_image", "check_psnr", "save_weights", "read_weights", "load_weights",
           "WeightsError", "training_summary"]

FORMAT = "stereo_tv.denoise/1"
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "weights" / "denoise"
SYNTHETIC = "synthetic-v1"


class WeightsError(UserError):
    """A weight file is corrupt, or a model has no weights for the requested sigma."""


def shipped_path(model: str, sigma: float) -> Path:
    """Path of the shipped weights of ``model`` at ``sigma`` (it may not exist)."""
    return SHIPPED_DIR / f"{model}_sigma{float(sigma):g}.pt"


def shipped_sigmas(model: str) -> list[float]:
    """Noise levels with shipped weights for ``model``, sorted."""
    prefix = f"{model}_sigma"
    out = []
    for p in SHIPPED_DIR.glob(f"{prefix}*.pt"):
        try:
            out.append(float(p.stem[len(prefix):]))
        except ValueError:
            continue
    return sorted(out)


def shipped_models() -> list[str]:
    """Names of the models with at least one shipped weight file, sorted."""
    return sorted({p.stem.rsplit("_sigma", 1)[0] for p in SHIPPED_DIR.glob("*_sigma*.pt")})


def synthetic_image(h: int = 61, w: int = 47) -> np.ndarray:
    """Deterministic float32 test image in [0, 1]: a ramp, a disk, a square and stripes.

    >>> x = synthetic_image(); x.shape, bool(x.min() >= 0), bool(x.max() <= 1)
    ((61, 47), True, True)
    """
    i, j = np.mgrid[0:h, 0:w].astype(np.float64)
    x = 0.2 + 0.5 * j / max(w - 1, 1)
    x[(i - 0.35 * h) ** 2 + (j - 0.3 * w) ** 2 < (0.2 * min(h, w)) ** 2] = 0.9
    x[int(0.6 * h):int(0.85 * h), int(0.5 * w):int(0.85 * w)] = 0.1
    stripes = (i > 0.1 * h) & (i < 0.3 * h) & (j > 0.6 * w)
    x[stripes] = 0.5 + 0.3 * np.sign(np.sin(j[stripes] * 1.3))
    return x.clip(0, 1).astype(np.float32)


@torch.inference_mode()
def check_psnr(model: nn.Module, sigma: float) -> float:
    """PSNR of ``model`` on :func:`synthetic_image` with the protocol's seeded noise."""
    x = synthetic_image()
    y = add_noise(x, sigma, SYNTHETIC)
    p = next(iter(model.parameters()), None)
    t = torch.from_numpy(y)[None, None]
    if p is not None:
        t = t.to(p)
    z = model(t)[0, 0].double().cpu().numpy()
    return psnr(z, x)


def _plain(value: Any) -> Any:
    """Builtin types only (what ``torch.load(weights_only=True)`` accepts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, torch.Tensor)):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def save_weights(path: str | os.PathLike, model: nn.Module, name: str, sigma: float,
                 config: dict[str, Any] | None = None, val: dict[str, float] | None = None,
                 train: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the weight file of ``model`` atomically (float32 tensors on CPU) and return it."""
    model = model.eval()
    state = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype)
             for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "model": name, "sigma": float(sigma),
            "config": _plain(config or {}), "state_dict": state, "val": _plain(val or {}),
            "check": {"image": SYNTHETIC, "psnr": float(check_psnr(model, sigma))},
            "train": _plain(train or {})}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return blob


def read_weights(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a weight file; raises :class:`WeightsError` with a one-line reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    blob = load_torch_file(path, "weights file", WeightsError)
    if (foreign := foreign_format(blob, FORMAT, path, "a denoising one")) is not None:
        raise WeightsError(foreign)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise WeightsError(f"corrupt weights file {path}: not a {FORMAT} weight file")
    for key in ("model", "sigma", "state_dict"):
        if key not in blob:
            raise WeightsError(f"corrupt weights file {path}: missing '{key}'")
    return blob


def load_weights(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model named in the weight file and load its state; returns (model, blob)."""
    from stereo_tv.denoising._zoo import build_model
    blob = read_weights(path)
    model = build_model(blob["model"], blob["sigma"], **blob.get("config", {}))
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise WeightsError(f"corrupt weights file {path}: state does not fit "
                           f"'{blob['model']}': {first[:200]}") from None
    return model.eval(), blob


def training_summary(blob: dict[str, Any]) -> dict[str, Any]:
    """The training record of a weight file, summed over its warm-start chain.

    Returns ``epochs`` (the exported epoch of each stage, first stage first), ``cpu_minutes`` and
    ``gpu_minutes`` (training seconds of the stages whose command ran with ``--device cuda``
    count as GPU time) and ``last_run`` (the run directory of the last stage).
    """
    stages = []
    rec = blob.get("train") or {}
    while rec:
        stages.append(rec)
        rec = rec.get("warm_start") or {}
    stages.reverse()
    cpu = sum(float(s.get("seconds") or 0) for s in stages
              if "--device cuda" not in str(s.get("command", "")))
    gpu = sum(float(s.get("seconds") or 0) for s in stages
              if "--device cuda" in str(s.get("command", "")))
    return {"epochs": [int(s.get("epochs") or 0) for s in stages], "cpu_minutes": cpu / 60,
            "gpu_minutes": gpu / 60, "last_run": stages[-1].get("run_dir") if stages else None}
