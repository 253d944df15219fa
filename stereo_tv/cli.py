"""Shared command-line plumbing: one-line errors and a non-zero exit for bad input.

Every script ends with ``raise SystemExit(run_cli(main, get_args_parser()))``. Errors that
describe bad user input (:class:`UserError`, missing files, bad configs) print one line on
stderr, ``error: ...``, and exit with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stereo_tv.config import ConfigError, parse_config

if TYPE_CHECKING:
    import torch

__all__ = ["UserError", "run_cli", "atomic_path", "load_torch_file", "pick_device"]


class UserError(ValueError):
    """Bad input from the user: a file, a size, a checkpoint or an option. One-line message."""


_USER_ERRORS = (UserError, ConfigError, FileNotFoundError, IsADirectoryError, PermissionError)


def run_cli(main: Callable[[argparse.Namespace], int | None],
            parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` (with ``--config`` support), run ``main`` and map user errors to exit 2."""
    try:
        args = parse_config(parser, argv)
        code = main(args)
    except _USER_ERRORS as exc:
        msg = str(exc)
        if isinstance(exc, FileNotFoundError) and exc.filename and str(exc.filename) not in msg:
            msg = f"{msg}: {exc.filename}"
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


class atomic_path:  # noqa: N801 - used as a context manager, reads like a function
    """Context manager giving a temporary path that is renamed onto ``path`` only on success.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "x.txt").read_text()
    'hi'
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp{os.getpid()}{self.path.suffix}")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None and self.tmp.exists():
            os.replace(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()
        return False


def load_torch_file(path: str | os.PathLike, what: str, error: type[Exception] = UserError,
                    hint: str = "") -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with a one-line error.

    Any failure to unpickle (truncated zip, foreign pickle, not a PyTorch file) raises
    ``error("<what> <path> is corrupt or not a PyTorch file (<reason>)<hint>")``. Callers check
    that the file exists first, each with its own message.
    """
    import torch

    # torch warns before it fails on a foreign pickle (its protocol): held back, so that a bad
    # file prints one line, and replayed when the load succeeds
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
            reason = _load_failure(exc)
            raise error(f"{what} {path} is corrupt or not a PyTorch file ({reason}){hint}") \
                from None
    for w in caught:
        # each one once per process: catch_warnings resets Python's per-place registries, so
        # without this set a "default" filter would show it at every load
        key = (str(w.message), w.category, w.filename, w.lineno)
        if key not in _REPLAYED_WARNINGS:
            _REPLAYED_WARNINGS.add(key)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return blob


_REPLAYED_WARNINGS: set[tuple] = set()


def _load_failure(exc: Exception) -> str:
    """A short reason for ``torch.load``'s failure: its first sentence, without torch's advice
    to load with ``weights_only=False`` (a file of ours never needs that)."""
    text = str(exc).strip()
    if isinstance(exc, KeyError) or not text:   # the unpickler met a byte that is no opcode
        return "neither a PyTorch archive nor a pickle"
    if text.startswith("Weights only load failed"):
        detail = text.partition("WeightsUnpickler error:")[2].strip().splitlines()
        found = f": {detail[0][:100]}" if detail and detail[0] else ""
        return f"a pickle of Python objects, not of tensors{found}"
    return text.splitlines()[0].split(". ")[0][:160]


def foreign_format(blob: Any, expected: str, path: str | os.PathLike, what: str) -> str | None:
    """The one-line message for a stereo_tv file of another kind (its ``"format"`` a string other
    than ``expected``, e.g. a denoising weight file given to the MRI tools), else None.

    >>> foreign_format({"format": "stereo_tv.a/1", "model": "m"}, "stereo_tv.b/1", "w", "a b one")
    "w: a a weights file (stereo_tv.a/1, model 'm'), not a b one (stereo_tv.b/1)"
    """
    fmt = blob.get("format") if isinstance(blob, dict) else None
    if not isinstance(fmt, str) or fmt == expected:
        return None
    kind = fmt.split("/")[0].removeprefix("stereo_tv.")
    model = f", model '{blob['model']}'" if "model" in blob else ""
    return f"{path}: a {kind} weights file ({fmt}{model}), not {what} ({expected})"


def pick_device(name: str | None = "auto") -> torch.device:
    """The ``torch.device`` for a ``--device`` option: ``auto`` / ``None``, ``cpu``, ``cuda``
    or ``cuda:N``. ``auto`` takes CUDA when torch sees a GPU; asking for CUDA without one is a
    :class:`UserError` (one line, exit 2), not a silent CPU run or a torch traceback."""
    import torch

    name = "auto" if name is None else str(name)
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"--device must be auto, cpu, cuda or cuda:N, got '{name}'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name} asks for CUDA, but torch sees no GPU; use --device cpu")
    return torch.device(name)
