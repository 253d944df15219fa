"""The non-local group game started from a shipped ``sc`` file: PSNR of the source and of the
converted game on centre crops, for several own distances, with group soft-thresholding
(``group_prox``, the shipped ``nlgroup`` files) or the paper's smoothed group norm.

    OMP_NUM_THREADS=1 python benchmarks/group_start.py --sigmas 25 --self -8 -2.5 0
    OMP_NUM_THREADS=1 python benchmarks/group_start.py --sigmas 25 --smoothed --self -8

Crops: the centre ``--crop`` square of every ``--every``-th image of ``--data`` (default: 8
Train400 images), noise by the protocol of ``stereo_tv.denoising``. With ``--smoothed`` the
game keeps the l1 strengths and sets each iteration's Moreau alpha to ``1 / (eta mean(lambda))``
(the threshold of its prox), so at a very negative own distance it is the smoothed sparse coding.
Prints one markdown table (dB).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from stereo_tv.cli import run_cli
from stereo_tv.config import shared_root
from stereo_tv.denoising import build_model, psnr
from stereo_tv.denoising._data import list_images, read_image
from stereo_tv.denoising._init import rescale_to_sigma
from stereo_tv.denoising._noise import add_noise
from stereo_tv.denoising._weights import load_weights, shipped_path


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(shared_root() / "data" / "denoise" / "Train400"))
    p.add_argument("--every", type=int, default=50, help="every N-th image")
    p.add_argument("--crop", type=int, default=128, help="side of the centre crop")
    p.add_argument("--sigmas", type=float, nargs="+", default=[25.0])
    p.add_argument("--self", type=float, nargs="+", default=[-2.5], dest="self_dist",
                   help="own distances of the converted game")
    p.add_argument("--smoothed", action="store_true",
                   help="the paper's smoothed group norm instead of group soft-thresholding")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def _crops(paths, sigma: float, crop: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for path in paths:
        x = read_image(path)
        h, w = x.shape
        t, left = max((h - crop) // 2, 0), max((w - crop) // 2, 0)
        x = x[t:t + crop, left:left + crop]
        out.append((x, add_noise(x, sigma, path.name)))
    return out


@torch.no_grad()
def _score(model: torch.nn.Module, pairs) -> float:
    return float(np.mean([psnr(np.clip(model(torch.from_numpy(y).float()[None, None])[0, 0]
                                       .numpy(), 0, 1), x) for x, y in pairs]))


def _converted(src: torch.nn.Module, sigma_src: float, sigma: float, own: float,
               smoothed: bool) -> torch.nn.Module:
    game = build_model("nlgroup", sigma, nl_self=True, group_prox=not smoothed)
    rescale_to_sigma(game, src, sigma_src, sigma)
    with torch.no_grad():
        game.self_dist.fill_(own)
        if smoothed:       # alpha = 1 / (eta mean(lambda)): the prox's threshold, per iteration
            eta = game.log_step.exp()
            lam = game.group_weight.clamp_min(1e-6).mean(1, keepdim=True)
            game.log_group_alpha.copy_(-(eta * lam).log().expand_as(game.log_group_alpha))
    return game.eval()


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    paths = list_images(args.data)[::args.every]
    kind = "smoothed group norm" if args.smoothed else "group soft-thresholding"
    rows = []
    for sigma in args.sigmas:
        src, blob = load_weights(shipped_path("sc", sigma))
        pairs = _crops(paths, sigma, args.crop)
        t0 = time.time()
        row = [f"{sigma:g}", f"{_score(src, pairs):.3f}"]
        for own in args.self_dist:
            game = _converted(src, blob["sigma"], sigma, own, args.smoothed)
            row.append(f"{_score(game, pairs):.3f}")
        rows.append(row)
        print(f"sigma {sigma:g}: {time.time() - t0:.0f} s", flush=True)
    print(f"\n{len(paths)} {args.crop}x{args.crop} crops of {args.data}, nlgroup from the sc file "
          f"({kind}), torch threads {args.threads}\n")
    print("| sigma | sc | " + " | ".join(f"own distance {s:g}" for s in args.self_dist) + " |")
    print("| --- " * (2 + len(args.self_dist)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
