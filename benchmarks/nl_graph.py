"""Non-local pixel games: how much of their quality is the graph's. Scores a shipped NLTV /
non-local Laplacian model with its graph built as trained (on the current estimate), and, with
the same learned numbers, on the clean image (an oracle no denoiser has), on the clean image for
the first build only, and on the shipped tv-asym-eg output for the first build only. Prints one
markdown table (mean PSNR over the images, dB).

    OMP_NUM_THREADS=1 python benchmarks/nl_graph.py --model nltv-eg --sigmas 5 25 --limit 4

The oracle rows bound what a better similarity (a better first estimate, other patch sizes or
windows) could give these weights; they are not a method. For a file with a learned graph blend
(``nl_blend``), two more rows set it by hand: the rebuilt graph replacing the first (the plain
game) and the first graph kept for every iteration. In the guide rows such a file keeps its
learned blend: each graph built on the guide is blended with the previous one, as in training.
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import torch

from stereo_tv.cli import UserError, run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import NoisyImages, load_weights, psnr, shipped_sigmas
from stereo_tv.denoising._weights import shipped_path

DATA = shared_root() / "data" / "denoise" / "Set12"
GUIDES = ("estimate (as trained)", "clean image (oracle)", "clean image, first build only",
          "tv-asym-eg output, first build only")
REFERENCE = "(reference: tv-asym-eg alone, no graph)"
#: blend logits set by hand (files with nl_blend): sigmoid(+-40) is 1 / 0 in float32
BLENDS = {"estimate, rebuilt graph replaces the first (blend +40)": 40.0,
          "estimate, first graph only (blend -40)": -40.0}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="nltv-eg", help="a shipped non-local pixel model")
    p.add_argument("--sigmas", type=float, nargs="+", default=[5, 25])
    p.add_argument("--data", default=str(DATA), help="folder of clean images")
    p.add_argument("--limit", type=int, default=4, help="first N images")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


@torch.inference_mode()
def score(model, data: NoisyImages, tv_out: list[torch.Tensor], guide: str) -> float:
    """Mean PSNR of ``model`` on ``data`` with its graph built on ``guide`` (one of GUIDES);
    ``tv_out`` holds tv-asym-eg's output for each image."""
    build = type(model).build_graph
    vals = []
    for i in range(len(data)):
        y, x, _ = data[i]
        first = {GUIDES[0]: None, GUIDES[3]: tv_out[i]}.get(guide, x[None])
        every = guide == GUIDES[1]

        def graph(z, t, first=first, every=every):
            use = first if first is not None and (every or t == 0) else z
            return build(model, use, t)

        model.build_graph = graph
        try:
            vals.append(psnr(model(y[None])[0].numpy(), x.numpy()))
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
        with torch.inference_mode():
            tv_out = [tv(data[i][0][None]) for i in range(len(data))]
        rows[REFERENCE].append(sum(psnr(z[0].numpy(), data[i][1].numpy())
                                   for i, z in enumerate(tv_out)) / len(data))
        for g in GUIDES:
            rows[g].append(score(model, data, tv_out, g))
        blend = getattr(model, "blend", None)      # the file's learned blend, if it has one
        for name, logit in BLENDS.items():
            value = float("nan")
            if blend is not None:
                with torch.no_grad():
                    model.blend.fill_(logit)       # the model is this sigma's: not restored
                value = score(model, data, tv_out, GUIDES[0])
            rows.setdefault(name, []).append(value)
    print(f"{args.model}, graph built on ... ({len(data)} images of {args.data}; "
          f"{platform.processor() or platform.machine()}, {args.threads} thread(s))\n")
    print("| graph built on | " + " | ".join(f"sigma {s:g}" for s in args.sigmas) + " |")
    print("| --- |" + " --- |" * len(args.sigmas))
    for g, vals in rows.items():
        if not all(math.isnan(v) for v in vals):     # the blend rows need a blended file
            print(f"| {g} | " + " | ".join(f"{v:.2f}" for v in vals) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
