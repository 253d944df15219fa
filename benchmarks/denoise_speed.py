"""Denoising speed: seconds per 481x321 grayscale image (BSD68 size) for our models, BM3D and
scikit-image TV-Chambolle, timed in one run on the same machine and the same noisy image.

The image is Set12 ``01.png`` resized to 481x321 (bicubic) when the shared data is present,
otherwise :func:`stereo_tv.denoising.synthetic_image` at that size; the noise follows the
protocol (seeded, sigma on the 0-255 scale). Each method runs once to warm up, then
``--repeats`` times; the median is reported with its ratio to BM3D.

    OMP_NUM_THREADS=1 python benchmarks/denoise_speed.py --sigma 25 [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from stereo_tv.cli import atomic_path, run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import (
    add_noise,
    apply_denoiser,
    build_model,
    load_denoiser,
    psnr,
    read_image,
    shipped_models,
    shipped_sigmas,
    synthetic_image,
)

SET12 = shared_root() / "data" / "denoise" / "Set12" / "01.png"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Seconds per 481x321 image for each denoiser.")
    p.add_argument("--sigma", type=float, default=25.0)
    p.add_argument("--models", nargs="+", default=shipped_models(),
                   help="our models (default: every shipped one; shipped weights at --sigma, "
                        "else the untrained model)")
    p.add_argument("--image", default=str(SET12), help="image to resize to 481x321")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--bm3d-repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--json", default=None, help="write the results here")
    return p


def _time(fn, repeats: int) -> tuple[float, np.ndarray]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if Path(args.image).is_file():
        clean = cv2.resize(read_image(args.image), (481, 321), interpolation=cv2.INTER_CUBIC)
        source = f"{args.image} resized to 481x321"
    else:
        clean = synthetic_image(321, 481)
        source = "synthetic_image(321, 481)"
    clean = np.clip(clean, 0, 1).astype(np.float32)
    noisy = add_noise(clean, args.sigma, "speed.png")

    nets = {}
    for name in args.models:
        if args.sigma in shipped_sigmas(name):
            nets[name] = (load_denoiser(name, args.sigma), args.repeats)
        else:
            nets[f"{name} (untrained)"] = (build_model(name, args.sigma), args.repeats)
    nets["tv-chambolle (skimage)"] = (build_model("tv-chambolle", args.sigma), args.repeats)
    nets["bm3d"] = (build_model("bm3d", args.sigma), args.bm3d_repeats)

    rows = []
    for label, (net, repeats) in nets.items():
        sec, out = _time(lambda net=net: apply_denoiser(net, noisy), repeats)
        rows.append({"method": label, "seconds": sec, "psnr": psnr(out, clean)})
        print(f"  {label:28s} {sec:8.3f} s   psnr {rows[-1]['psnr']:.2f}", flush=True)
    bm3d = next(r["seconds"] for r in rows if r["method"] == "bm3d")
    print(f"\nsigma {args.sigma:g}, {source}, torch threads {args.threads}, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'method':30s} {'s/image':>9s} {'PSNR':>7s} {'BM3D / method':>14s}")
    for r in rows:
        r["speedup_vs_bm3d"] = bm3d / r["seconds"]
        print(f"{r['method']:30s} {r['seconds']:9.3f} {r['psnr']:7.2f} "
              f"{r['speedup_vs_bm3d']:13.1f}x")
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps({"sigma": args.sigma, "image": source,
                                       "threads": args.threads, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
