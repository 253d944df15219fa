"""Denoising quality: mean PSNR / SSIM of the shipped models (and classical baselines) on a
folder of images, for every noise level, under the noise protocol (seeded noise, unclipped
input, PSNR on the clipped output). Prints one markdown table per metric.

    OMP_NUM_THREADS=1 python benchmarks/denoise_psnr.py                      # Set12, 5/15/25/50
    OMP_NUM_THREADS=1 python benchmarks/denoise_psnr.py --data ../shared/data/denoise/Train400 \\
        --every 25 --baselines tv-chambolle bm3d                            # a BSD-like proxy

Train400 is the training set: scores on it are in-sample and only serve to relate Set12 to the
BSD68 scale of the paper (BM3D is known there: 28.57 dB at sigma 25).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from stereo_tv.cli import UserError, atomic_path, run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import (
    NoisyImages,
    evaluate,
    load_denoiser,
    shipped_models,
    shipped_sigmas,
)

DATA = shared_root() / "data" / "denoise"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(DATA / "Set12"), help="folder of clean images")
    p.add_argument("--every", type=int, default=1, help="every N-th image only")
    p.add_argument("--sigmas", type=float, nargs="+", default=[5, 15, 25, 50])
    p.add_argument("--models", nargs="*", default=shipped_models(),
                   help="models with shipped weights to score")
    p.add_argument("--baselines", nargs="*", default=["tv-chambolle"],
                   help="classical methods to score too (tv-chambolle, bm3d)")
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("--json", default=None, help="also write the results here")
    return p


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        raise UserError(f"no such image folder: {args.data}")
    results: dict[str, dict[str, dict]] = {}
    for sigma in args.sigmas:
        data = NoisyImages(args.data, sigma, every=args.every)
        if len(data) == 0:
            raise UserError(f"no images in {args.data}")
        for name in [*args.models, *args.baselines]:
            if name in args.models and float(sigma) not in shipped_sigmas(name):
                continue
            net = load_denoiser(name, sigma)     # shipped weights, or the classical method
            mean = evaluate(net, data)["mean"]
            results.setdefault(name, {})[f"{sigma:g}"] = mean
            print(f"sigma {sigma:>4g}  {name:<14s} psnr {mean['psnr']:7.3f}  ssim "
                  f"{mean['ssim']:.4f}  {mean['seconds']:7.3f} s/image", flush=True)
    cols = [f"{s:g}" for s in args.sigmas]
    print(f"\n{Path(args.data).name} (every {args.every}: {len(data)} images), "
          f"{platform.processor() or platform.machine()}, torch threads "
          f"{torch.get_num_threads()}")
    for metric in ("psnr", "ssim"):
        print(f"\n| {metric.upper()} | " + " | ".join(f"sigma {c}" for c in cols) + " |")
        print("| --- |" + " --- |" * len(cols))
        for name, row in results.items():
            cells = [f"{row[c][metric]:.{2 if metric == 'psnr' else 4}f}" if c in row else "-"
                     for c in cols]
            print(f"| {name} | " + " | ".join(cells) + " |")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"data": args.data, "every": args.every,
                                             "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
