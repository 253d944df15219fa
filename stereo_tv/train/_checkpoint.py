"""Engine checkpoints: atomic writes, safe CPU loads, one-line errors naming the file.

An engine checkpoint is a dict ``{model, optimizer, scheduler, scaler, backtrack, epoch,
batch_in_epoch, step, best, config, rng, world_size, version}``; ``model`` is the unwrapped
model's state dict (no DDP ``module.`` prefix). Only tensors, numbers, strings and containers
are stored, so it loads with ``torch.load(..., weights_only=True)``.

Example:
    >>> import tempfile, pathlib, torch
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "w.pt"
    >>> save_checkpoint(path, {"model": torch.nn.Linear(2, 1).state_dict()})
    >>> m = load_model_weights(torch.nn.Linear(2, 1), path)
    >>> path.write_bytes(b"not a checkpoint") and None
    >>> try:
    ...     load_checkpoint(path)
    ... except Exception as exc:
    ...     print(type(exc).__name__, "w.pt" in str(exc))
    UserError True
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stereo_tv.cli import UserError, atomic_path, load_torch_file

__all__ = ["save_checkpoint", "load_checkpoint", "load_model_weights", "load_state_into",
           "get_rng_state", "set_rng_state", "run_directory", "resume_path", "resumed_config",
           "check_resumed"]


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, ``os.replace``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())


def run_directory(run_dir: str | os.PathLike | None, name: str | None) -> Path:
    """A run's folder: ``--run-dir``, else ``runs/<--name>``."""
    return Path(run_dir) if run_dir else Path("runs") / (name or "")


def resume_path(run_dir: str | os.PathLike, resume: str | None) -> Path | None:
    """The checkpoint ``--resume`` continues from: ``None`` without it, the run's
    ``checkpoints/last.pt`` for ``auto`` / ``last``, else the given path."""
    if resume is None:
        return None
    if resume in ("auto", "last"):
        return Path(run_dir) / "checkpoints" / "last.pt"
    return Path(resume)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint dict onto the CPU.

    Raises:
        UserError: the file is missing, truncated, corrupt or not a dict; the message names it.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    state = load_torch_file(path, "checkpoint",
                            hint="; delete it or point --resume at another file")
    if not isinstance(state, dict):
        raise UserError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    return state


def resumed_config(run_dir: str | os.PathLike | None, name: str | None,
                   resume: str | None) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint a ``--resume``d run continues from and the options it recorded (the
    engine stores the command's resolved options under ``"config"``); ``None`` without
    ``--resume``. Scripts rebuild or check their model from this record, so a resumed run
    keeps its model when the command line or the defaults change.

    Raises:
        UserError: the checkpoint is missing or unreadable.
    """
    path = resume_path(run_directory(run_dir, name), resume)
    if path is None:
        return None
    return path, dict(load_checkpoint(path).get("config") or {})


def check_resumed(path: Path, recorded: dict[str, Any], now: dict[str, Any]) -> None:
    """Raise a one-line :class:`UserError` when ``now`` (option -> today's value) differs from
    the options the checkpoint at ``path`` recorded; options it did not record are skipped."""
    diff = [f"--{k.replace('_', '-')} {recorded[k]} (now {v})" for k, v in now.items()
            if k in recorded and recorded[k] != v]
    if diff:
        raise UserError(f"--resume {path}: the run was started with {', '.join(diff)}; resume "
                        f"with the same options, or start a new --run-dir")


def _strip_prefix(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_model_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load weights into ``model`` from a run checkpoint or a bare state dict.

    Accepts an engine checkpoint (weights under ``"model"``), a ``{"state_dict": ...}`` dict or
    a bare state dict; a DDP ``module.`` prefix is removed.

    Args:
        model: the model to fill (any device; tensors are copied onto it).
        path: the checkpoint file, e.g. ``runs/tv/checkpoints/best.pt``.
        strict: require exactly the model's keys (shapes must always match).

    Returns:
        ``model``, for chaining.

    Raises:
        UserError: unreadable file, or keys/shapes that do not fit ``model`` (the message names
            the file and the first offending keys).
    """
    return load_state_into(model, load_checkpoint(path), path, strict)


def load_state_into(model: nn.Module, state: dict[str, Any], path: str | os.PathLike,
                    strict: bool = True) -> nn.Module:
    """:func:`load_model_weights` for a checkpoint dict already read from ``path``."""
    for key in ("model", "state_dict"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    state = _strip_prefix(state, "module.")
    own = model.state_dict()
    bad_shape = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
                 if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if bad_shape:
        raise UserError(f"checkpoint {path} does not fit {type(model).__name__}: shape "
                        f"mismatch for {', '.join(bad_shape[:3])}")
    if strict and (missing or unexpected):
        raise UserError(f"checkpoint {path} does not fit {type(model).__name__}: missing keys "
                        f"{missing[:5]}, unexpected keys {unexpected[:5]}")
    model.load_state_dict(state, strict=strict)
    return model


def get_rng_state() -> dict[str, Any]:
    """The python, numpy, torch and CUDA (current device) RNG states, as checkpointable values."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`get_rng_state`."""
    random.setstate(_as_tuple(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
