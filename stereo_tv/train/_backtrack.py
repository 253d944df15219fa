"""Backtracking for unrolled solvers (paper Sec. 3.3 and App. B).

Unrolled optimisation can diverge during training. Every ``every`` epochs the mean training
loss ``L_e`` is compared with ``L_ref``, the loss at the last accepted check:

* ``L_e`` finite and ``L_e <= factor * L_ref`` (or no reference yet): accept; snapshot the
  model and optimizer, ``L_ref <- L_e``;
* otherwise: restore the snapshot and multiply the learning rate by ``lr_decay`` (0.8 in the
  paper's App. B).

A NaN or infinite loss triggers a restore at any epoch, not only at checks, since the
parameters are then already broken. The caller applies the learning-rate reduction (the
engine uses :meth:`stereo_tv.train.StepDecayLR.scale_lr`).

Example:
    >>> import torch
    >>> m = torch.nn.Linear(1, 1)
    >>> opt = torch.optim.SGD(m.parameters(), lr=0.1)
    >>> bt = Backtracker(every=1, factor=2.0, lr_decay=0.8)
    >>> bt.update(0, 1.0, m, opt) is None          # first check: accepted, snapshot taken
    True
    >>> w = m.weight.detach().clone()
    >>> with torch.no_grad():
    ...     _ = m.weight.add_(5.0)
    >>> event = bt.update(1, 3.0, m, opt)          # 3.0 > 2 * 1.0: restore
    >>> event["loss"], event["ref_loss"], torch.equal(m.weight, w)
    (3.0, 1.0, True)
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

__all__ = ["Backtracker"]


def _clone_state(state: Any) -> Any:
    """Deep copy of a (nested) state dict with detached tensor clones."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        return {k: _clone_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_clone_state(v) for v in state)
    return copy.deepcopy(state)


class Backtracker:
    """Divergence monitor with model/optimizer snapshots.

    Args:
        every: check period in epochs; 0 disables backtracking (``update`` then only
            raises on a non-finite loss).
        factor: restore when the loss exceeds ``factor`` times the reference loss.
        lr_decay: learning-rate multiplier the caller applies on each restore.
    """

    def __init__(self, every: int = 10, factor: float = 2.0, lr_decay: float = 0.8):
        if every < 0:
            raise ValueError(f"every must be >= 0 epochs, got {every}")
        if factor <= 1.0:
            raise ValueError(f"factor must be > 1, got {factor}")
        if not 0.0 < lr_decay <= 1.0:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
        self.every = every
        self.factor = factor
        self.lr_decay = lr_decay
        self.ref_loss: float | None = None
        self.snapshot: dict[str, Any] | None = None
        self.events = 0

    @property
    def enabled(self) -> bool:
        return self.every > 0

    def take_snapshot(self, model: nn.Module, optimizer: Optimizer,
                      loss: float | None = None) -> None:
        """Remember the current model and optimizer (and the loss that was accepted)."""
        self.snapshot = {"model": _clone_state(model.state_dict()),
                         "optimizer": _clone_state(optimizer.state_dict())}
        self.ref_loss = loss

    def update(self, epoch: int, loss: float, model: nn.Module,
               optimizer: Optimizer) -> dict[str, Any] | None:
        """Check the mean training loss of 0-based ``epoch``; restore if it diverged.

        Returns:
            ``None``, or an event dict ``{"epoch", "loss", "ref_loss", "lr_decay"}`` after a
            restore (the caller must then reduce the learning rate by ``lr_decay``).

        Raises:
            FloatingPointError: the loss is NaN/inf and backtracking is off (or has no
                snapshot), so training cannot recover.
        """
        finite = math.isfinite(loss)
        if not self.enabled:
            if not finite:
                raise FloatingPointError(
                    f"training loss is {loss} at epoch {epoch + 1}; "
                    "enable backtracking (--backtrack-every) or lower the lr")
            return None
        due = (epoch + 1) % self.every == 0
        diverged = not finite or (
            due and self.ref_loss is not None and loss > self.factor * self.ref_loss)
        if diverged:
            if self.snapshot is None:
                raise FloatingPointError(
                    f"training loss is {loss} at epoch {epoch + 1} and no snapshot exists")
            model.load_state_dict(self.snapshot["model"])
            optimizer.load_state_dict(self.snapshot["optimizer"])
            self.events += 1
            return {"epoch": epoch + 1, "loss": loss, "ref_loss": self.ref_loss,
                    "lr_decay": self.lr_decay}
        if due:
            self.take_snapshot(model, optimizer, loss)
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"ref_loss": self.ref_loss, "snapshot": self.snapshot, "events": self.events}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ref_loss = state["ref_loss"]
        self.snapshot = state["snapshot"]
        self.events = int(state["events"])
