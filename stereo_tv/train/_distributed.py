"""Device choice and plain torch DDP under ``torchrun``.

``torchrun --nproc_per_node=N script.py`` sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``;
when ``WORLD_SIZE > 1`` :func:`init_distributed` joins the process group (NCCL on CUDA, gloo
on CPU) and gives each process ``cuda:LOCAL_RANK`` (or the CPU). Without those variables the
same script runs as a single process.

Example:
    >>> env = init_distributed("cpu")      # no torchrun variables: one process
    >>> env.world_size, env.is_main, str(env.device)
    (1, True, 'cpu')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from stereo_tv.cli import pick_device

__all__ = ["DistEnv", "init_distributed"]


@dataclass(frozen=True)
class DistEnv:
    """Where this process runs: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that logs and writes checkpoints."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Sum a few floats over all processes (identity on one process)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any process."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def gather(self, obj: object) -> list[object]:
        """Every process's ``obj`` (nested containers of tensors and plain values), in rank order.

        CPU tensors travel as numpy arrays: pickled tensors do not survive
        ``all_gather_object`` in every torch version.
        """
        if not self.distributed:
            return [obj]
        out: list[object] = [None] * self.world_size
        dist.all_gather_object(out, _map(obj, torch.Tensor, lambda t: _Array(t.cpu().numpy())))
        return [_map(o, _Array, lambda a: torch.from_numpy(a.array)) for o in out]


class _Array:
    """A numpy array standing in for a tensor while it travels between processes."""

    def __init__(self, array):
        self.array = array


def _map(obj: object, kind: type, fn) -> object:
    if isinstance(obj, kind):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map(v, kind, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_map(v, kind, fn) for v in obj)
    return obj


def _pick_device(device: str, local_rank: int) -> torch.device:
    dev = pick_device(device)
    if dev.type == "cpu" or dev.index is not None:
        return dev
    return torch.device("cuda", local_rank % torch.cuda.device_count())


def init_distributed(device: str = "auto") -> DistEnv:
    """Pick the device and, under torchrun with ``WORLD_SIZE > 1``, join the process group.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Returns:
        The :class:`DistEnv` of this process. An already initialised process group is reused.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _pick_device(device, local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            dist.init_process_group("nccl", device_id=dev)
        else:
            dist.init_process_group("gloo")
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistEnv(rank=rank, local_rank=local_rank, world_size=world_size, device=dev)
