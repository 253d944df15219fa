"""CS-MRI baselines vs. our models on the ChestTrain validation split, in one run.

For each sampling rate (standard pseudo-radial masks of the shared data), prints the mean PSNR
and seconds per image of

* zero-filling (``A^T x``),
* classical isotropic TV (Chambolle-Pock, ``--tv-iters`` iterations), with its weight ``lam``
  picked from ``--tv-lams`` by the mean PSNR on the first ``--tune-count`` validation images
  (tuned on the evaluation split itself: the most favourable setting for the baseline),
* our CS-TV and CS-SC with the shipped weights (``stereo_tv/weights/mri``), when they exist,
* and any ``--weights FILE`` (e.g. a training run's export), each at its own rate.

PSNR on [0, 1] images, peak 1, reconstruction clipped to [0, 1]. Example::

    OMP_NUM_THREADS=1 python benchmarks/mri_baselines.py --json runs/mri_baselines.json
"""

from __future__ import annotations

import argparse
import json

import torch

from stereo_tv.cli import UserError, atomic_path, run_cli
from stereo_tv.config import shared_root
from stereo_tv.mri import (
    ClassicalTV,
    MaskedFourier,
    MRIImages,
    chest_split,
    evaluate_reconstructor,
    load_mask,
    load_pretrained,
    summarize,
)
from stereo_tv.mri.masks import find_shared_mask
from stereo_tv.mri.pretrained import available_weights, load_weights

SHARED = shared_root()


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="CS-MRI baselines on the ChestTrain validation split")
    p.add_argument("--data", default=str(SHARED / "data" / "mri" / "ChestTrain" /
                                         "chest_train_float32.npy"),
                   help="ChestTrain (PNG folder or stacked npy); its fixed val split is used")
    p.add_argument("--rates", type=int, nargs="+", default=[20, 30, 40, 50])
    p.add_argument("--tv-lams", type=float, nargs="+",
                   default=[6.25e-5, 1.25e-4, 2.5e-4, 5e-4, 1e-3, 2e-3, 4e-3])
    p.add_argument("--tv-iters", type=int, default=200)
    p.add_argument("--tune-count", type=int, default=5,
                   help="validation images used to pick the TV weight (0 = all)")
    p.add_argument("--limit", type=int, default=0, help="first N validation images only")
    p.add_argument("--weights", nargs="*", default=[],
                   help="also score these weight files, each at the rate it was trained for")
    p.add_argument("--json", default=None, help="write all rows here")
    return p


def evaluate_rate(rate: int, val: list[dict], args: argparse.Namespace,
                  extra: dict[str, torch.nn.Module]) -> list[dict]:
    operator = MaskedFourier(load_mask(find_shared_mask(rate, SHARED / "data")))
    rows = []

    def add(method: str, per_image: list[dict], **extra) -> None:
        rows.append({"rate": rate, "method": method, **summarize(per_image), **extra})
        print(f"{rate:>3d}%  {method:<12s} {rows[-1]['psnr']:7.2f} dB  "
              f"{rows[-1]['seconds']:7.3f} s/image" +
              "".join(f"  {k}={v}" for k, v in extra.items()), flush=True)

    add("zero-filled", evaluate_reconstructor(lambda x, op: op.adjoint(x), val, operator))
    tune = val[:args.tune_count] if args.tune_count else val
    tuned = []
    for lam in args.tv_lams:
        tv = ClassicalTV(lam=lam, iters=args.tv_iters)
        tuned.append((lam, summarize(evaluate_reconstructor(tv, tune, operator))["psnr"]))
    lam = max(tuned, key=lambda t: t[1])[0]
    tv = ClassicalTV(lam=lam, iters=args.tv_iters)
    add("tv", evaluate_reconstructor(tv, val, operator), lam=lam, iters=args.tv_iters,
        tuning={f"{lam_:g}": round(v, 3) for lam_, v in tuned})
    shipped = available_weights()
    for name in ("cs-tv", "cs-sc"):
        if rate in shipped.get(name, []):
            model = load_pretrained(name, rate)
            add(name, evaluate_reconstructor(lambda x, op, m=model: m(x, op), val, operator),
                params=sum(p.numel() for p in model.parameters()))
        else:
            print(f"{rate:>3d}%  {name:<12s} (no shipped weights)", flush=True)
    for path, model in extra.items():
        if model.meta["rate"] == rate:
            add(model.meta["model"], evaluate_reconstructor(
                lambda x, op, m=model: m(x, op), val, operator), weights=path)
    return rows


@torch.no_grad()
def main(args: argparse.Namespace) -> int:
    data = MRIImages(args.data)
    try:
        _, val_idx = chest_split(data.names)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if args.limit:
        val_idx = val_idx[:args.limit]
    val = [data[i] for i in val_idx]
    try:
        extra = {path: load_weights(path) for path in args.weights}
    except FileNotFoundError as exc:
        raise UserError(str(exc)) from None
    print(f"ChestTrain validation split: {len(val)} images, {torch.get_num_threads()} thread(s)")
    rows = [row for rate in args.rates for row in evaluate_rate(rate, val, args, extra)]
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
