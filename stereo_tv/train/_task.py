"""The task protocol: what a training script tells the engine about its problem.

A task is any object with ``training_step`` and ``validate``; :class:`Task` is a base class
that supplies the optional hooks. The engine moves every batch to the device before calling
the task (tensors inside tuples, lists and dicts), wraps ``training_step`` in autocast when
mixed precision is on, and calls ``validate`` in eval mode under ``torch.inference_mode()``.

Example (a denoising task):
    >>> import torch
    >>> class Denoise(Task):
    ...     def training_step(self, model, batch):
    ...         clean = batch
    ...         noisy = clean + 0.1 * torch.randn_like(clean)
    ...         loss = torch.mean((model(noisy) - clean) ** 2)
    ...         return loss, {"mse": loss.detach()}
    ...     def validate(self, model, loader):
    ...         errs = [torch.mean((model(x) - x) ** 2).item() for x in loader]
    ...         return {"psnr": -10 * torch.log10(torch.tensor(errs).mean()).item()}
    >>> loss, logs = Denoise().training_step(torch.nn.Identity(), torch.zeros(2, 1, 3, 5))
    >>> round(loss.item(), 6) > 0
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

__all__ = ["Task"]


class Task:
    """Base class for tasks; subclass and implement the two required methods.

    Required:
        training_step(model, batch) -> (loss, logs): ``loss`` is a 0-dim tensor to minimise;
            ``logs`` a flat dict of floats or 0-dim tensors (averaged over the epoch and logged
            as ``train/<key>``). ``model`` may be wrapped in DistributedDataParallel: call it,
            don't reach into it (use ``model.module`` only if you must).
        validate(model, loader) -> dict: flat dict of floats with dataset-prefixed keys, e.g.
            ``{"set12/psnr": 29.1, "set12/ssim": 0.83}``. ``loader`` yields batches already on
            the model's device. When the engine gets several validation sets (a dict
            ``name -> Dataset``) it calls ``validate`` once per set and prefixes keys that
            have no ``/`` with ``<name>/``.

    Optional hooks (defaults below):
        log_images(writer, model, batch, step): add images to the TensorBoard ``writer``
            (a ``SummaryWriter``); ``batch`` is the first validation batch (or the first
            training batch when there is no validation set), on the device. Called under
            ``torch.inference_mode()`` every ``--log-images-every`` epochs, on rank 0 only.
        solver_quantities(model) -> dict[str, Tensor]: the learned solver quantities to
            histogram (step sizes, neighbour weights, smoothing, kappa). Default: every
            trainable parameter, by its dotted name.
        param_groups(model, lr) -> list of Adam parameter groups (dicts with ``params`` and
            optionally ``lr``), or None for one group with ``lr``. The learning-rate schedule
            and backtracking scale every group's rate by the same factor.
    """

    def training_step(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Compute the training loss of one batch; see the class docstring."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def validate(self, model: nn.Module, loader: Iterable[Any]) -> dict[str, float]:
        """Compute validation metrics over ``loader``; see the class docstring."""
        raise NotImplementedError(f"{type(self).__name__} must implement validate")

    def log_images(self, writer: Any, model: nn.Module, batch: Any, step: int) -> None:
        """Add images to TensorBoard; the default logs nothing."""

    def solver_quantities(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Tensors to histogram; the default is every trainable parameter."""
        return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def param_groups(self, model: nn.Module, lr: float) -> list[dict[str, Any]] | None:
        """Optimizer parameter groups; the default (None) is one group at ``lr``."""
        return None
