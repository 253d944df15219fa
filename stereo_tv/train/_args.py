"""The engine's command-line options, shared by every training script.

A script adds its own options (data, model, task) and calls :func:`add_engine_args` once; the
resulting namespace goes to :meth:`stereo_tv.train.Engine.from_args` (or
:meth:`EngineConfig.from_args`). YAML configs set the same keys (``lr_schedule: paper``).

Example:
    >>> import argparse
    >>> p = add_engine_args(argparse.ArgumentParser())
    >>> a = p.parse_args(["--name", "tv", "--epochs", "3", "--resume"])
    >>> a.epochs, a.resume, a.lr_schedule
    (3, 'auto', 'paper')
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from typing import Any

from stereo_tv.cli import UserError

__all__ = ["EngineConfig", "add_engine_args"]


@dataclass
class EngineConfig:
    """The engine's options; field names are the ``dest`` names of :func:`add_engine_args`."""

    name: str = "run"
    run_dir: str | None = None
    seed: int = 0
    device: str = "auto"
    workers: int = 4
    resume: str | None = None
    eval_only: bool = False
    epochs: int = 300
    batch_size: int = 32
    val_batch_size: int = 1
    lr: float = 6e-4
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    clip_grad: float = 0.0
    ema: float = 0.0
    amp: str = "none"
    max_steps_per_epoch: int = 0
    lr_schedule: str = "paper"
    lr_every: int = 80
    lr_milestones: list[int] = field(default_factory=lambda: [200])
    lr_gamma: float | None = None
    val_every: int = 1
    val_start: bool = False
    best_metric: str | None = None
    best_mode: str = "max"
    backtrack_every: int = 10
    backtrack_factor: float = 2.0
    backtrack_lr_decay: float = 0.8
    log_images_every: int = 10

    @classmethod
    def from_args(cls, args: argparse.Namespace | dict[str, Any]) -> EngineConfig:
        """Take the engine's keys from a namespace or dict (other keys are ignored)."""
        values = vars(args) if isinstance(args, argparse.Namespace) else dict(args)
        names = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in names})
        config.check()
        return config

    def check(self) -> None:
        """Raise :class:`UserError` for an option value that makes no sense."""
        # --epochs 0 with --val-start: a run of its starting weights alone
        positive = ("batch_size", "val_batch_size", "lr_every",
                    *(() if self.val_start else ("epochs",)))
        non_negative = ("epochs", "workers", "seed", "max_steps_per_epoch", "val_every",
                        "backtrack_every", "log_images_every", "clip_grad", "weight_decay")
        for key in positive:
            if getattr(self, key) < 1:
                raise UserError(f"--{key.replace('_', '-')} must be >= 1, got {getattr(self, key)}")
        for key in non_negative:
            if getattr(self, key) < 0:
                raise UserError(f"--{key.replace('_', '-')} must be >= 0, got {getattr(self, key)}")
        choices = {"device": ("auto", "cpu", "cuda"), "amp": ("none", "fp16", "bf16"),
                   "lr_schedule": ("paper", "psmnet", "constant"), "best_mode": ("min", "max")}
        for key, valid in choices.items():
            if getattr(self, key) not in valid:
                raise UserError(f"--{key.replace('_', '-')} must be one of {', '.join(valid)}, "
                                f"got '{getattr(self, key)}'")
        if not self.name and not self.run_dir:
            raise UserError("give a run --name (or a --run-dir)")
        if not self.lr > 0:
            raise UserError(f"--lr must be > 0, got {self.lr}")
        if not self.adam_eps > 0:
            raise UserError(f"--adam-eps must be > 0, got {self.adam_eps}")
        if not 0 <= self.ema < 1:
            raise UserError(f"--ema must be in [0, 1) (0 = off), got {self.ema}")
        if self.lr_gamma is not None and not 0 < self.lr_gamma <= 1:
            raise UserError(f"--lr-gamma must be in (0, 1], got {self.lr_gamma}")
        if self.backtrack_factor <= 1:
            raise UserError(f"--backtrack-factor must be > 1, got {self.backtrack_factor}")
        if not 0 < self.backtrack_lr_decay <= 1:
            raise UserError("--backtrack-lr-decay must be in (0, 1], "
                            f"got {self.backtrack_lr_decay}")
        if self.resume is True:  # YAML "resume: true"
            self.resume = "auto"
        if self.resume is False:
            self.resume = None
        if isinstance(self.resume, os.PathLike):
            self.resume = os.fspath(self.resume)
        if isinstance(self.lr_milestones, int):
            self.lr_milestones = [self.lr_milestones]


_D = EngineConfig()


def add_engine_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the shared training options to ``parser`` (in an "engine" group) and return it.

    Options (dest names in brackets are the YAML keys):

    * run: ``--name`` [name], ``--run-dir`` [run_dir] (default ``runs/<name>``), ``--seed``,
      ``--device {auto,cpu,cuda}``, ``--workers``, ``--resume [PATH]`` (bare flag: the run
      directory's ``checkpoints/last.pt``), ``--eval-only``.
    * optimisation: ``--epochs``, ``--batch-size``, ``--val-batch-size``, ``--lr``,
      ``--weight-decay``, ``--adam-eps`` (Adam's epsilon; torch's 1e-8 by default),
      ``--clip-grad`` (max global grad norm, 0 = off), ``--ema`` (decay of an exponential moving
      average of the weights, per step, 0 = off: validation, ``best.pt`` and ``"model"`` in
      checkpoints then hold the averaged weights),
      ``--amp {none,fp16,bf16}`` (CUDA only; a no-op on CPU), ``--max-steps-per-epoch``.
    * learning-rate schedule (stepped once per epoch): ``--lr-schedule {paper,psmnet,constant}``;
      ``paper`` multiplies by ``--lr-gamma`` (default 0.35) every ``--lr-every`` (80) epochs;
      ``psmnet`` multiplies by ``--lr-gamma`` (default 0.1) at each of ``--lr-milestones``
      (200), i.e. 1e-3 then 1e-4.
    * validation: ``--val-every`` (epochs, 0 = never), ``--val-start`` (also the starting
      weights, as epoch 0; ``--epochs 0`` is then allowed), ``--best-metric`` (a key returned
      by the task's ``validate``, e.g. ``set12/psnr``), ``--best-mode {min,max}``.
    * backtracking (paper Sec. 3.3 / App. B): ``--backtrack-every`` (epochs, 0 = off),
      ``--backtrack-factor`` (restore when the epoch loss exceeds factor x the last accepted
      loss, or is NaN/inf), ``--backtrack-lr-decay`` (lr multiplier on restore, 0.8).
    * logging: ``--log-images-every`` (epochs between image and histogram logs, 0 = never).
    """
    g = parser.add_argument_group("engine")
    g.add_argument("--name", default=_D.name, help="run name; the run directory is runs/<name>")
    g.add_argument("--run-dir", default=None, help="run directory (default: runs/<name>)")
    g.add_argument("--seed", type=int, default=_D.seed, help="seed for every RNG, workers included")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=_D.device)
    g.add_argument("--workers", type=int, default=_D.workers, help="data-loader worker processes")
    g.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                   help="continue from PATH, or (bare flag) from <run-dir>/checkpoints/last.pt")
    g.add_argument("--eval-only", action="store_true",
                   help="only validate: weights from --resume PATH, else best.pt, else last.pt")

    g.add_argument("--epochs", type=int, default=_D.epochs)
    g.add_argument("--batch-size", type=int, default=_D.batch_size)
    g.add_argument("--val-batch-size", type=int, default=_D.val_batch_size)
    g.add_argument("--lr", type=float, default=_D.lr, help="initial Adam learning rate")
    g.add_argument("--weight-decay", type=float, default=_D.weight_decay)
    g.add_argument("--adam-eps", type=float, default=_D.adam_eps,
                   help="Adam's epsilon (torch's default 1e-8). It is relative to the gradients' "
                        "scale, so it depends on how the loss is normalised")
    g.add_argument("--clip-grad", type=float, default=_D.clip_grad,
                   help="clip the global gradient norm to this value (0 = off)")
    g.add_argument("--ema", type=float, default=_D.ema, metavar="DECAY",
                   help="keep an exponential moving average of the weights (decay per step, e.g. "
                        "0.999; 0 = off). Validation, best.pt and exports use the average")
    g.add_argument("--amp", choices=("none", "fp16", "bf16"), default=_D.amp,
                   help="mixed precision on CUDA (fp16 uses a GradScaler); no-op on CPU")
    g.add_argument("--max-steps-per-epoch", type=int, default=_D.max_steps_per_epoch,
                   help="stop each epoch after this many steps (0 = whole epoch; smoke runs)")

    g.add_argument("--lr-schedule", choices=("paper", "psmnet", "constant"),
                   default=_D.lr_schedule)
    g.add_argument("--lr-every", type=int, default=_D.lr_every,
                   help="'paper': decay period in epochs")
    g.add_argument("--lr-milestones", type=int, nargs="+", default=list(_D.lr_milestones),
                   help="'psmnet': epochs at which the lr is multiplied by --lr-gamma")
    g.add_argument("--lr-gamma", type=float, default=None,
                   help="decay factor (default 0.35 for 'paper', 0.1 for 'psmnet')")

    g.add_argument("--val-every", type=int, default=_D.val_every,
                   help="validate every N epochs (0 = never)")
    g.add_argument("--val-start", action="store_true",
                   help="validate the starting weights before the first epoch (a fresh run: "
                        "epoch 0, saved as best.pt and last.pt), so a fine-tuning run never "
                        "exports worse than its start; with --epochs 0 the run is its start")
    g.add_argument("--best-metric", default=None,
                   help="validation key that picks best.pt (e.g. set12/psnr); none = no best.pt")
    g.add_argument("--best-mode", choices=("min", "max"), default=_D.best_mode)

    g.add_argument("--backtrack-every", type=int, default=_D.backtrack_every,
                   help="compare the training loss every N epochs (0 = no backtracking)")
    g.add_argument("--backtrack-factor", type=float, default=_D.backtrack_factor,
                   help="restore the last snapshot when the loss grows by more than this factor")
    g.add_argument("--backtrack-lr-decay", type=float, default=_D.backtrack_lr_decay,
                   help="multiply the lr by this on each restore")

    g.add_argument("--log-images-every", type=int, default=_D.log_images_every,
                   help="epochs between TensorBoard images and histograms (0 = never)")
    return parser
