"""What a run leaves behind for people: ``metrics.jsonl``, TensorBoard events and stdout lines.

Only rank 0 logs; on other ranks :class:`RunLog` is built with ``enabled=False`` and every
method does nothing.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from stereo_tv.cli import atomic_path

__all__ = ["RunLog"]


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


class RunLog:
    """Appends JSON lines to ``run_dir/metrics.jsonl`` and writes TensorBoard to ``run_dir/tb``.

    Args:
        run_dir: the run directory.
        enabled: False on ranks other than 0.
        purge_step: on resume, the global step of the checkpoint; TensorBoard hides events
            written after it by the interrupted run.
    """

    def __init__(self, run_dir: Path, enabled: bool = True, purge_step: int | None = None):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.purge_step = purge_step
        self._writer = None
        self.t0 = time.time()

    @property
    def writer(self):
        """The ``SummaryWriter`` (created on first use), or None when disabled."""
        if not self.enabled:
            return None
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tb"),
                                         purge_step=self.purge_step)
        return self._writer

    def print(self, msg: str) -> None:
        if self.enabled:
            print(msg, flush=True)

    def record(self, event: str, **fields: Any) -> None:
        """Append one line ``{"event": event, "time": seconds since start, **fields}``."""
        if not self.enabled:
            return
        line = {"event": event, "time": round(time.time() - self.t0, 3)}
        line.update({k: _plain(v) for k, v in fields.items()})
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    def truncate(self, epochs_done: int) -> None:
        """Drop lines of epochs after ``epochs_done`` (left by a killed run) before resuming."""
        path = self.run_dir / "metrics.jsonl"
        if not self.enabled or not path.is_file():
            return
        kept = []
        for text in path.read_text().splitlines():
            try:
                rec = json.loads(text)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            if rec.get("epoch", 0) <= epochs_done:
                kept.append(text)
        with atomic_path(path) as tmp:
            tmp.write_text("".join(t + "\n" for t in kept))

    def scalars(self, values: dict[str, Any], step: int, prefix: str = "") -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            value = _plain(value)
            if isinstance(value, (int, float)) and math.isfinite(value):
                self.writer.add_scalar(prefix + key, value, step)

    def histograms(self, tensors: dict[str, torch.Tensor], step: int,
                   prefix: str = "solver/") -> None:
        """Histogram each tensor; single numbers become scalars."""
        if self.writer is None:
            return
        for key, value in tensors.items():
            value = value.detach().float().cpu()
            if not torch.isfinite(value).all():
                continue
            if value.numel() == 1:
                self.writer.add_scalar(prefix + key, value.item(), step)
            elif value.numel() > 1:
                self.writer.add_histogram(prefix + key, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
