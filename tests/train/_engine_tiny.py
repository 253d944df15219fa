"""A tiny deterministic training script for the engine tests; also runs under torchrun.

    python tests/train/_engine_tiny.py --config configs/smoke_engine.yaml --run-dir /tmp/r
    python -m torch.distributed.run --nproc_per_node=2 tests/train/_engine_tiny.py ...

24 training samples of a noisy linear regression (4 steps per epoch at batch size 6), a small
MLP with a learned "step size" vector, and test hooks that kill the process or make the loss
diverge at a chosen training step.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from stereo_tv.cli import run_cli
from stereo_tv.train import Engine, Task, add_engine_args, seed_everything

N_TRAIN, N_VAL = 24, 8


class TinyModel(nn.Module):
    def __init__(self, width: int = 8, iters: int = 4):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 1))
        self.step_sizes = nn.Parameter(torch.full((iters,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * (2 * self.step_sizes.mean())


def tiny_data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[0.5], [-1.0], [2.0]]) + 0.1
    return TensorDataset(x, y)


class Jitter(Dataset):
    """Adds numpy- and random-module noise per sample, as data augmentation does in workers."""

    def __init__(self, base: Dataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int):
        x, y = self.base[i]
        noise = float(np.random.randn()) * 0.05 + random.uniform(-0.05, 0.05)
        return x + noise, y


class TinyTask(Task):
    """MSE regression; the input noise draws from torch's global RNG on purpose."""

    def __init__(self, steps_per_epoch: int, kill_at_step: int = 0, kill_signal: str = "SIGKILL",
                 diverge_at_epoch: int = 0, diverge: str = "nan"):
        self.steps_per_epoch = steps_per_epoch
        self.kill_at_step = kill_at_step
        self.kill_signal = kill_signal
        self.diverge_at_epoch = diverge_at_epoch
        self.diverge = diverge
        self.calls = 0

    def training_step(self, model, batch):
        x, y = batch
        self.calls += 1
        if self.calls == self.kill_at_step:
            os.kill(os.getpid(), getattr(signal, self.kill_signal))
        loss = torch.mean((model(x + 0.01 * torch.randn_like(x)) - y) ** 2)
        epoch = (self.calls - 1) // self.steps_per_epoch + 1
        if epoch == self.diverge_at_epoch:
            loss = loss * float("nan") if self.diverge == "nan" else loss * 1e3
        return loss, {"mse": loss.detach()}

    def validate(self, model, loader):
        errs = [torch.mean((model(x) - y) ** 2) for x, y in loader]
        return {"tiny/mse": torch.stack(errs).mean().item()}

    def log_images(self, writer, model, batch, step):
        x, _ = batch
        img = torch.sigmoid(model(x)).reshape(1, 1, -1).expand(1, 4, -1)
        writer.add_image("tiny/prediction", img, step)


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kill-at-step", type=int, default=0, help="signal self at this call")
    p.add_argument("--kill-signal", default="SIGKILL")
    p.add_argument("--diverge-at-epoch", type=int, default=0)
    p.add_argument("--diverge", choices=("nan", "scale"), default="nan")
    p.add_argument("--augment", action="store_true", help="random per-sample jitter")
    p.add_argument("--save-params", action="store_true",
                   help="each rank writes params_rank<R>.pt into the run dir at the end")
    return add_engine_args(p)


def main(args: argparse.Namespace) -> int:
    seed_everything(args.seed)
    model = TinyModel()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps = -(-N_TRAIN // (world * args.batch_size))
    task = TinyTask(steps, args.kill_at_step, args.kill_signal, args.diverge_at_epoch, args.diverge)
    train_set = tiny_data(N_TRAIN, 1234)
    if args.augment:
        train_set = Jitter(train_set)
    engine = Engine.from_args(model, task, train_set, tiny_data(N_VAL, 99), args)
    rank = engine.env.rank
    engine.run()
    if args.save_params:
        torch.save(model.state_dict(), Path(engine.run_dir) / f"params_rank{rank}.pt")
    return 0


REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "smoke_engine.yaml"


def run_inprocess(run_dir: Path, *argv: str) -> int:
    """Run this script in the calling process with the smoke config; returns the exit code."""
    args = ["--config", str(SMOKE), "--run-dir", str(run_dir), *argv]
    return run_cli(main, get_args_parser(), args)


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
