"""Seeding and data loading for the engine: same seed, same batches, on any number of ranks.

Shuffling uses a ``DistributedSampler`` (also with one process), whose order is a function of
``(seed, epoch)`` only; workers are seeded from a per-epoch generator, so a run resumed at an
epoch boundary sees exactly the batches of an uninterrupted run. Resuming in the middle of an
epoch skips the batches already done (exact with ``--workers 0``; with workers, per-sample
random augmentation may differ because batches land on other workers).
"""

from __future__ import annotations

import itertools
import random
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["seed_everything", "derive_seed", "seed_worker", "SkipSampler", "to_device",
           "batch_len", "DeviceLoader"]


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (CPU and every CUDA device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(*keys: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers (seed, rank, epoch, ...)."""
    return int(np.random.SeedSequence([abs(int(k)) for k in keys]).generate_state(2, np.uint64)[0]
               >> np.uint64(1))


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: seed numpy and ``random`` from the worker's torch seed.

    Workers also ignore SIGINT/SIGTERM: the main process handles them (saves a checkpoint)
    and then shuts its workers down.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


class SkipSampler(Sampler):
    """Wraps a ``DistributedSampler``; skips the first ``skip`` indices of the epoch."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.skip = skip

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.sampler) - self.skip, 0)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) tuple / list / dict onto ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def batch_len(batch: Any) -> int:
    """Number of samples in a batch: the leading size of its first tensor (1 if none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    values = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(values, (list, tuple)) or isinstance(batch, Mapping):
        for v in values:
            if isinstance(v, (torch.Tensor, list, tuple, Mapping)):
                return batch_len(v)
    return 1


class DeviceLoader:
    """Iterates a ``DataLoader`` and moves each batch onto ``device``."""

    def __init__(self, loader: torch.utils.data.DataLoader, device: torch.device):
        self.loader = loader
        self.device = device

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)
