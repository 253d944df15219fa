"""Non-local pixel games: how much of their quality is the graph's. Scores a shipped NLTV /
non-local Laplacian model with its graph built as trained (on the current estimate), and, with
the same learned numbers, on the clean image (an oracle no denoiser has), on the clean image for
the first build only, and on the shipped tv-asym-eg output for the first build only. Prints one
markdown table (mean PSNR over the images, dB).

    OMP_NUM_THREADS=1 python benchmarks/nl_graph.py --model nltv-eg --sigmas 5 25 --limit 4

The oracle rows bound what a better similarity (a better first estimate, other patch sizes or
windows) could give these weights; they are not a method.
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import torch

from stereo_tv.cli import UserError, run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import NoisyImages, load_weights, shipped_sigmas
from stereo_tv.denoising._weights import shipped_path

DATA = shared_root() / "data" / "denoise" / "Set12"
GUIDES = ("estimate (as trained)", "clean image (oracle)", "clean image, first build only",
          "tv-asym-eg output, first build only")
REFERENCE = "(reference: tv-asym-eg alone, no graph)"


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="nltv-eg", help="a shipped non-local pixel model")
    p.add_argument("--sigmas", type=float, nargs="+", default=[5, 25])
    p.add_argument("--data", default=str(DATA), help="folder of clean images")
    p.add_argument("--limit", type=int, default=4, help="first N images")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def _psnr(z: torch.Tensor, x: torch.Tensor) -> float:
    return -10.0 * math.log10(float((z.clamp(0, 1) - x).square().mean()))


@torch.inference_mode()
def score(model, tv, data: NoisyImages, guide: str) -> float:
    """Mean PSNR of ``model`` on ``data`` with its graph built on ``guide`` (one of GUIDES)."""
    build = type(model).build_graph
    vals = []
    for i in range(len(data)):
        y, x, _ = data[i]
        y, x = y[None], x[None]
        if guide == GUIDES[0]:
            first = None
        elif guide == GUIDES[3]:
            first = tv(y)
        else:
            first = x
        every = guide == GUIDES[1]

        def graph(z, t, first=first, every=every):
            use = first if first is not None and (every or t == 0) else z
            return build(model, use, t)

        model.build_graph = graph
        try:
            vals.append(_psnr(model(y), x))
        finally:
            del model.build_graph                  # back to the class method
    return sum(vals) / len(vals)


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        raise UserError(f"no such image folder: {args.data}")
    rows = {g: [] for g in (*GUIDES, REFERENCE)}
    for sigma in args.sigmas:
        if sigma not in shipped_sigmas(args.model) or sigma not in shipped_sigmas("tv-asym-eg"):
            raise UserError(f"no shipped {args.model} / tv-asym-eg weights for sigma {sigma:g}")
        model, _ = load_weights(shipped_path(args.model, sigma))
        if getattr(model, "graph", None) != "nonlocal":
            raise UserError(f"'{args.model}' has no non-local graph")
        tv, _ = load_weights(shipped_path("tv-asym-eg", sigma))
        data = NoisyImages(args.data, sigma, limit=args.limit)
        for g in GUIDES:
            rows[g].append(score(model, tv, data, g))
        with torch.inference_mode():
            rows[REFERENCE].append(
                sum(_psnr(tv(data[i][0][None]), data[i][1][None]) for i in range(len(data)))
                / len(data))
    print(f"{args.model}, graph built on ... ({len(data)} images of {args.data}; "
          f"{platform.processor() or platform.machine()}, {args.threads} thread(s))\n")
    print("| graph built on | " + " | ".join(f"sigma {s:g}" for s in args.sigmas) + " |")
    print("| --- |" + " --- |" * len(args.sigmas))
    for g, vals in rows.items():
        print(f"| {g} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
