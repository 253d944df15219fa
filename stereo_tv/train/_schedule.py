"""Per-epoch step-decay learning-rate schedules (paper App. B, PSMNet) with a backtracking scale.

The learning rate after ``e`` scheduler steps (epochs) is the closed form

    lr_e = lr_0 * gamma ** n(e) * scale,

where ``n(e)`` counts the decays reached by epoch ``e`` (``e // every`` for a periodic
schedule, the number of milestones ``<= e`` otherwise) and ``scale`` is the product of the
backtracking reductions (:meth:`StepDecayLR.scale_lr`). Everything is in the state dict, so a
resumed run continues on exactly the same curve.

Example (the paper's schedule, 6e-4 times 0.35 every 80 epochs):
    >>> import torch
    >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=6e-4)
    >>> sched = build_scheduler(opt, "paper")
    >>> for _ in range(80):
    ...     opt.step()
    ...     sched.step()
    >>> round(sched.get_last_lr()[0], 8)
    0.00021
"""

from __future__ import annotations

import bisect

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["StepDecayLR", "SCHEDULES", "build_scheduler"]


class StepDecayLR(LRScheduler):
    """Step decay ``lr_0 * gamma ** n(e) * scale``, stepped once per epoch.

    Args:
        optimizer: the wrapped optimizer; each group's initial ``lr`` is its ``lr_0``.
        gamma: multiplicative decay, ``0 < gamma <= 1``.
        every: decay period in epochs (``n(e) = e // every``), or ``None``.
        milestones: epochs at which to decay (used when ``every`` is ``None``).
        last_epoch: as in ``torch.optim.lr_scheduler``.
    """

    def __init__(self, optimizer: Optimizer, *, gamma: float = 1.0, every: int | None = None,
                 milestones: list[int] | tuple[int, ...] = (), last_epoch: int = -1):
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if every is not None and every < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every}")
        self.gamma = float(gamma)
        self.every = every
        self.milestones = sorted(int(m) for m in milestones)
        self.scale = 1.0
        super().__init__(optimizer, last_epoch)

    def decays(self, epoch: int) -> int:
        """Number of decays ``n(e)`` applied at epoch ``epoch``."""
        if self.every is not None:
            return max(epoch, 0) // self.every
        return bisect.bisect_right(self.milestones, epoch)

    def get_lr(self) -> list[float]:
        factor = self.gamma ** self.decays(self.last_epoch) * self.scale
        return [base * factor for base in self.base_lrs]

    def scale_lr(self, factor: float) -> None:
        """Multiply the current and all future learning rates by ``factor`` (backtracking)."""
        self.scale *= float(factor)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def extra_repr(self) -> str:
        when = f"every={self.every}" if self.every is not None else f"milestones={self.milestones}"
        return f"gamma={self.gamma}, {when}, scale={self.scale}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


# name -> (default gamma, uses the period `every` (True) or the `milestones` (False))
SCHEDULES: dict[str, tuple[float, bool | None]] = {
    "paper": (0.35, True),      # App. B: x0.35 every 80 epochs
    "psmnet": (0.1, False),     # PSMNet: 1e-3, then 1e-4 after epoch 200
    "constant": (1.0, None),
}


def build_scheduler(optimizer: Optimizer, name: str, *, every: int = 80,
                    milestones: list[int] | tuple[int, ...] = (200,),
                    gamma: float | None = None) -> StepDecayLR:
    """Build the named schedule; ``gamma=None`` takes the schedule's default.

    Raises:
        ValueError: for an unknown ``name`` (the message lists the valid names).
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown lr schedule '{name}'; valid: {', '.join(SCHEDULES)}")
    default_gamma, periodic = SCHEDULES[name]
    if periodic is None:
        return StepDecayLR(optimizer, gamma=1.0)
    gamma = default_gamma if gamma is None else gamma
    if periodic:
        return StepDecayLR(optimizer, gamma=gamma, every=every)
    return StepDecayLR(optimizer, gamma=gamma, milestones=milestones)
