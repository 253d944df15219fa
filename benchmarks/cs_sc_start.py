"""Untrained CS-SC from zero codes vs from the least-squares codes of the zero-filled image.

CS-SC's codes start at ``Z_0 = 0`` (``code_init "zero"``, before session 9) or at the
minimum-norm codes of ``A^T x`` (``"lsq"``, the default: ``avg(D Z_0) = A^T x``), each with the
ISTA step ``patch^2`` (``1 / L``) or ``1.8 patch^2`` (the default). Prints the mean PSNR of the
untrained model (overcomplete-DCT dictionary, default l1 weight) and of zero-filling on the
first ``--val`` ChestTrain validation images. Example (about 3 minutes on a 2-core CPU)::

    OMP_NUM_THREADS=2 python benchmarks/cs_sc_start.py --rate 20 --val 3
"""

from __future__ import annotations

import argparse
import time

import torch

from stereo_tv.cli import UserError, run_cli
from stereo_tv.config import shared_root
from stereo_tv.mri import MRIImages, build_model, chest_split, load_mask, psnr, zero_filled
from stereo_tv.mri.dictionary import overcomplete_dct
from stereo_tv.mri.masks import find_shared_mask

STARTS = [("zero", 1.0), ("zero", 1.8), ("lsq", 1.0), ("lsq", 1.8)]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(shared_root() / "data" / "mri" / "ChestTrain"
                                         / "chest_train_float32.npy"))
    p.add_argument("--rate", type=int, default=20, help="standard mask, percent")
    p.add_argument("--val", type=int, default=3, help="validation images scored")
    return p


def run(args: argparse.Namespace) -> tuple[float, list[tuple[str, float, float, float]]]:
    """Zero-filled PSNR and rows ``(code_init, step / patch^2, PSNR, seconds)``."""
    try:
        data = MRIImages(args.data)
        _, val_idx = chest_split(data.names)
        mask = load_mask(find_shared_mask(args.rate, shared_root() / "data"))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"--data {args.data}: {exc}") from None
    images = torch.stack([torch.as_tensor(data[i]["image"]) for i in val_idx[:args.val]])
    rows = []
    zf_psnr = None
    for code_init, step in STARTS:
        model = build_model("cs-sc", mask, dictionary=overcomplete_dct(9, 256),
                            code_init=code_init, init_step=step * 81.0)
        x = model.operator.measure(images)
        start = time.perf_counter()
        with torch.no_grad():
            out = model(x).clamp(0, 1)
        seconds = time.perf_counter() - start
        if zf_psnr is None:
            zf_psnr = float(psnr(zero_filled(x, model.operator.mask).clamp(0, 1), images).mean())
        rows.append((code_init, step, float(psnr(out, images).mean()), seconds))
        print(f"{code_init} codes, step {step:g} patch^2: {rows[-1][2]:.2f} dB", flush=True)
    return zf_psnr, rows


def main(args: argparse.Namespace) -> int:
    zf_psnr, rows = run(args)
    print(f"\nUntrained CS-SC at {args.rate}%, DCT dictionary, l1 weight 1e-2 at scale 100; "
          f"mean PSNR on {args.val} validation images (zero-filled {zf_psnr:.2f} dB)\n")
    print("| codes start | ISTA step | PSNR (dB) | seconds |")
    print("| --- | --- | --- | --- |")
    for code_init, step, value, seconds in rows:
        print(f"| {code_init} | {step:g} patch^2 | {value:.2f} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
