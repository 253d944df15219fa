"""Core speed: forward and forward+backward time and peak memory of the core games on one
481x321 grayscale image (BSD68 size; ``--height/--width`` for others), CPU.

``cs-sc-20`` / ``cs-tv-20`` are the CS-MRI models (:mod:`stereo_tv.mri`) on a radial 20% mask
of the image's size: the time covers the measurement and the reconstruction (at 256x256, one
CS-SC training step on one image).

Each (model, mode) pair runs in a fresh Python process so that its peak resident memory
(``ru_maxrss``) is its own: the reported memory is the peak increase over the process after
building the model and the input. Time is the median of ``--repeats`` runs after one warm-up.
``fwd`` runs under :func:`torch.inference_mode`; ``fwd+bwd`` backpropagates a mean-squared loss
to every parameter. glibc keeps freed blocks of a checkpointed backward pass in its heap, so a
``-ckpt`` model's peak shows its saving with ``MALLOC_MMAP_THRESHOLD_=65536`` (large blocks
returned at once; PyTorch's CUDA allocator reuses them anyway).

    OMP_NUM_THREADS=2 python benchmarks/core_speed.py [--threads 2] [--repeats 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from stereo_tv.cli import atomic_path, run_cli
from stereo_tv.core import PatchGame, PixelGame


class _MeasureAndReconstruct(nn.Module):
    """Image -> 20% radial k-space measurement -> a CS-MRI model's reconstruction."""

    def __init__(self, name: str, height: int, width: int):
        super().__init__()
        from stereo_tv.mri import build_model, radial_mask

        self.model = build_model(name, radial_mask(height, width, 0.2))

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.model(self.model.operator.forward(img))


MODELS = {  # name -> builder(height, width)
    "tv-asym-eg-24": lambda h, w: PixelGame("tv", iters=24, method="extragrad"),
    "tv-asym-gd-24": lambda h, w: PixelGame("tv", iters=24, method="gd"),
    "tv-sym-gd-24": lambda h, w: PixelGame("tv", iters=24, method="gd", symmetric=True,
                                           shared_weight=True),
    "nltv-eg-24": lambda h, w: PixelGame("nltv", iters=24, method="extragrad"),
    "nltv-eg-24-ckpt": lambda h, w: PixelGame("nltv", iters=24, method="extragrad",
                                              checkpoint=True),
    "sc-gd-24": lambda h, w: PatchGame(("l1",), num_atoms=256, patch_size=9, iters=24),
    "nlgroup-gd-24": lambda h, w: PatchGame(("group",), num_atoms=256, patch_size=9, iters=24),
    "nlgroup-gd-24-ckpt": lambda h, w: PatchGame(("group",), num_atoms=256, patch_size=9,
                                                 iters=24, checkpoint=True),
    "cs-tv-20": lambda h, w: _MeasureAndReconstruct("cs-tv", h, w),
    "cs-sc-20": lambda h, w: _MeasureAndReconstruct("cs-sc", h, w),
}
MODES = ("fwd", "fwd+bwd")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Time and peak memory of the core games, 481x321.")
    p.add_argument("--models", nargs="+", default=["tv-asym-eg-24", "nltv-eg-24"],
                   choices=sorted(MODELS))
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--height", type=int, default=321)
    p.add_argument("--width", type=int, default=481)
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--one", nargs=2, metavar=("MODEL", "MODE"), default=None,
                   help=argparse.SUPPRESS)      # internal: run one case, print one JSON line
    return p


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _run_one(args: argparse.Namespace) -> dict:
    name, mode = args.one
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MODELS[name](args.height, args.width)
    x = torch.rand(1, 1, args.height, args.width)

    def once() -> None:
        if mode == "fwd":
            with torch.inference_mode():
                model(x)
        else:
            model.zero_grad(set_to_none=True)
            (model(x) - x).square().mean().backward()

    base = _peak_mb()
    once()                                   # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return {"model": name, "mode": mode, "seconds": statistics.median(times),
            "min_seconds": min(times), "peak_mb": _peak_mb() - base,
            "params": sum(p.numel() for p in model.parameters())}


def main(args: argparse.Namespace) -> int:
    if args.one is not None:
        print(json.dumps(_run_one(args)))
        return 0
    rows = []
    for name in args.models:
        for mode in args.modes:
            cmd = [sys.executable, __file__, "--one", name, mode, "--threads", str(args.threads),
                   "--repeats", str(args.repeats), "--height", str(args.height),
                   "--width", str(args.width)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{args.height}x{args.width} grayscale, torch {torch.__version__}, "
          f"{args.threads} thread(s), {platform.processor() or platform.machine()}")
    print(f"{'model':18s} {'params':>7s} {'mode':8s} {'median s':>9s} {'min s':>7s} "
          f"{'peak MB':>8s}")
    for r in rows:
        print(f"{r['model']:18s} {r['params']:7d} {r['mode']:8s} {r['seconds']:9.3f} "
              f"{r['min_seconds']:7.3f} {r['peak_mb']:8.1f}")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
