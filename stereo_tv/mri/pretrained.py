"""Shipped CS-MRI weights: find, load and export the small weight files.

A weight file (``stereo_tv/weights/mri/{model}_{rate}.pt``, e.g. ``cs_tv_20.pt``) is a plain
dict, loadable with ``torch.load(..., weights_only=True)``::

    {"format": "stereo_tv.mri/1", "model": "cs-tv", "rate": 20,
     "kwargs": {...game options...}, "state_dict": {...}, "meta": {...}}

The state dict contains ``operator.mask``, the sampling mask the model was trained with, so a
file is self-contained. ``meta`` records the training command, epochs, time and validation
PSNR; the README next to the files repeats them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from stereo_tv.cli import UserError, atomic_path, foreign_format, load_torch_file
from stereo_tv.mri.models import CSReconstruction, build_model, complete_record

__all__ = ["WEIGHTS_DIR", "FORMAT", "weights_path", "available_weights", "load_pretrained",
           "load_weights", "export_weights"]

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights" / "mri"
FORMAT = "stereo_tv.mri/1"


def weights_path(model: str, rate: int, root: str | os.PathLike = WEIGHTS_DIR) -> Path:
    """``root / "{model with _}_{rate}.pt"``, e.g. ``cs_tv_20.pt``."""
    return Path(root) / f"{model.replace('-', '_')}_{int(rate)}.pt"


def available_weights(root: str | os.PathLike = WEIGHTS_DIR) -> dict[str, list[int]]:
    """Shipped ``{model: [rates]}``, e.g. ``{"cs-tv": [20, 30, 40, 50]}``."""
    found: dict[str, list[int]] = {}
    for path in sorted(Path(root).glob("*_*.pt")):
        stem, _, rate = path.stem.rpartition("_")
        if rate.isdigit():
            found.setdefault(stem.replace("_", "-"), []).append(int(rate))
    return {k: sorted(v) for k, v in found.items()}


def _describe(found: dict[str, list[int]]) -> str:
    return "; ".join(f"{m}: {', '.join(map(str, r))}%" for m, r in found.items()) or "none"


def load_pretrained(model: str = "cs-tv", rate: int = 20,
                    root: str | os.PathLike = WEIGHTS_DIR) -> CSReconstruction:
    """The shipped ``model`` for sampling rate ``rate`` percent, in eval mode, on CPU.

    Raises:
        UserError: no shipped weights for that model and rate (the message lists those
            available).
    """
    path = weights_path(model, rate, root)
    if not path.is_file():
        raise UserError(f"no shipped {model} weights for rate {rate}%; available: "
                        f"{_describe(available_weights(root))}")
    return load_weights(path)


def _from_engine_checkpoint(state: dict, path: Path) -> tuple[str, dict, dict, int | None]:
    config = state.get("config") or {}
    if "model" not in config or "model_kwargs" not in config:
        raise UserError(f"{path}: engine checkpoint without the MRI model options "
                        "(was it written by scripts/fmri_cs.py train?)")
    return config["model"], dict(config["model_kwargs"]), state["model"], config.get("rate")


def load_weights(path: str | os.PathLike) -> CSReconstruction:
    """Load an exported weight file or a ``scripts/fmri_cs.py train`` engine checkpoint.

    The model is rebuilt from the recorded name and options, with the stored mask, and put in
    eval mode. ``model.meta`` holds the file's metadata (``rate`` included).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    state = load_torch_file(path, "weights file")
    if not isinstance(state, dict):
        raise UserError(f"{path}: not a stereo_tv MRI weights file")
    if (foreign := foreign_format(state, FORMAT, path, "an MRI one")) is not None:
        raise UserError(foreign)
    if state.get("format") == FORMAT:
        name, kwargs, weights, rate = (state["model"], dict(state["kwargs"]),
                                       state["state_dict"], state.get("rate"))
        meta = dict(state.get("meta") or {})
    elif "model" in state and "config" in state:
        name, kwargs, weights, rate = _from_engine_checkpoint(state, path)
        meta = {"checkpoint": str(path), "epoch": state.get("epoch")}
    else:
        raise UserError(f"{path}: not a stereo_tv MRI weights file (no 'format' or 'config')")
    if "operator.mask" not in weights:
        raise UserError(f"{path}: the weights carry no sampling mask ('operator.mask')")
    model = build_model(name, weights["operator.mask"], **complete_record(name, kwargs))
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0][:300]
        raise UserError(f"{path}: weights do not fit model {name}: {first}") from None
    model.meta = {**meta, "rate": rate, "model": name, "kwargs": kwargs, "path": str(path)}
    return model.eval()


def export_weights(model: CSReconstruction, path: str | os.PathLike, *, rate: int | None,
                   kwargs: dict[str, Any] | None = None,
                   meta: dict[str, Any] | None = None) -> Path:
    """Write ``model`` as a small self-contained weight file (atomically).

    ``kwargs`` (the options to rebuild it) default to ``model.options``.
    """
    state = {
        "format": FORMAT,
        "model": model.name,
        "rate": rate,
        "kwargs": dict(model.options if kwargs is None else kwargs),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": dict(meta or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)
