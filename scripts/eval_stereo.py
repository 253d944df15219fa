"""Evaluate PSMNet (optionally + TV head) on a stereo dataset with ground truth.

    python scripts/eval_stereo.py --dataset kitti2015|kitti2012|sceneflow|middlebury|folder
                                  --root DIR [--split all|train|val] --weights CKPT
                                  [--json OUT] [--save-kitti DIR]

Prints one row per frame and the mean (each frame weighs the same) of EPE (px), D1, bad-1,
bad-2, bad-3 (percent) and seconds. ``--json`` writes
``{"frames": [{"name", "epe", "d1", "bad1", "bad2", "bad3", "seconds"}], "mean": {...}}``.
``--save-kitti`` writes each prediction as a 16-bit KITTI PNG. SceneFlow follows PSMNet's
protocol: only pixels with ground truth below ``--maxdisp`` count.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.data import DATASETS, build_dataset
from stereo_tv.io import write_kitti_disp
from stereo_tv.metrics import METRIC_NAMES, mean_metrics, stereo_metrics
from stereo_tv.predict import (
    WEIGHTS_ENV,
    load_stereo_model,
    predict_disparity,
    resolve_weights,
)

COLUMNS = (*METRIC_NAMES, "seconds")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=list(DATASETS))
    p.add_argument("--root", required=True, help="dataset folder")
    p.add_argument("--split", default="all", choices=["all", "train", "val"])
    p.add_argument("--weights", default=None,
                   help=f"PSMNet checkpoint (default: ${WEIGHTS_ENV})")
    p.add_argument("--json", default=None, help="write per-frame and mean results here")
    p.add_argument("--save-kitti", default=None, help="folder for 16-bit KITTI PNG predictions")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"],
                   help="default: cuda when available, else cpu")
    p.add_argument("--maxdisp", type=int, default=192, help="disparity levels (multiple of 16)")
    p.add_argument("--max-size", type=int, default=None,
                   help="downscale so the longer side is at most N pixels, then rescale")
    p.add_argument("--mask", default="all", choices=["all", "noc"],
                   help="KITTI: all pixels with GT (disp_occ) or non-occluded ones (disp_noc)")
    p.add_argument("--pass", dest="pass_", default="clean", choices=["clean", "final"],
                   help="SceneFlow rendering pass")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N frames")
    p.add_argument("--tv-iters", type=int, default=0,
                   help="refine with N iterations of the TV head (0: backbone only)")
    p.add_argument("--head", default=None,
                   help="TV head file or shipped name (default with --tv-iters N: the shipped "
                        "PSMNet head with N iterations)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    return p


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _fmt(value: float, width: int) -> str:
    return f"{value:>{width}.3f}" if not math.isnan(value) else f"{'nan':>{width}}"


def format_table(frames: list[dict], mean: dict) -> str:
    """Fixed-width table of the per-frame rows and the mean row."""
    width = max([len("mean"), *(len(f["name"]) for f in frames)])
    head = f"{'frame':<{width}}" + "".join(f"{c:>9}" for c in COLUMNS)
    rows = [head, "-" * len(head)]
    for row in [*frames, {"name": "mean", **mean}]:
        rows.append(f"{row['name']:<{width}}" + "".join(_fmt(row[c], 9) for c in COLUMNS))
    return "\n".join(rows)


def _dataset_kwargs(args: argparse.Namespace) -> dict:
    return {"pass_": args.pass_} if args.dataset == "sceneflow" else {}


def evaluate(model: torch.nn.Module, dataset, args: argparse.Namespace) -> list[dict]:
    """Per-frame metrics (and seconds) of ``model`` on ``dataset``."""
    rows = []
    count = len(dataset) if args.limit is None else min(args.limit, len(dataset))
    device = next(model.parameters()).device
    for i in range(count):
        sample = dataset.load(i)
        left = np.round(sample["left"] * 255).astype(np.uint8)
        right = np.round(sample["right"] * 255).astype(np.uint8)
        start = time.perf_counter()
        disp = predict_disparity(model, left, right, max_size=args.max_size)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        valid = sample["noc"] if args.mask == "noc" else sample["valid"]
        if args.dataset == "sceneflow":
            valid = valid & (sample["disp"] < args.maxdisp)
        row = {"name": sample["name"], **stereo_metrics(disp, sample["disp"], valid),
               "seconds": seconds}
        rows.append(row)
        if args.save_kitti:
            path = Path(args.save_kitti) / f"{sample['name'].replace('/', '_')}.png"
            with atomic_path(path) as tmp:
                write_kitti_disp(tmp, disp)
        print(f"[{i + 1}/{count}] {row['name']}: EPE {row['epe']:.3f} px, D1 {row['d1']:.2f} %, "
              f"{seconds:.1f} s", flush=True)
    return rows


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    dataset = build_dataset(args.dataset, args.root, split=args.split, **_dataset_kwargs(args))
    if not dataset.has_gt:
        raise UserError(f"{args.dataset} frames in {args.root} have no ground truth to "
                        f"evaluate against")
    if args.mask == "noc" and not dataset.has_noc:
        raise UserError(f"--mask noc needs non-occluded ground truth, which {args.root} lacks")
    for frame in dataset.frames:
        for path in (frame.left, frame.right, frame.disp):
            if not path.is_file():
                raise FileNotFoundError(f"file not found: {path}")
    weights = resolve_weights(args.weights)
    device = pick_device(args.device)
    model = load_stereo_model(weights, maxdisp=args.maxdisp, tv_iters=args.tv_iters,
                              refine=args.head).to(device)

    rows = evaluate(model, dataset, args)
    mean = mean_metrics([{k: r[k] for k in COLUMNS} for r in rows])
    print(format_table(rows, mean))
    print("EPE in px; D1 (KITTI: >3 px and >5 %) and bad-N (>N px) in percent of valid pixels")
    if args.json:
        with atomic_path(args.json) as tmp:
            result = {"dataset": args.dataset, "split": args.split, "weights": str(weights),
                      "frames": rows, "mean": mean}
            tmp.write_text(json.dumps(_json_safe(result), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
