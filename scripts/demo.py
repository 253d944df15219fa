"""Demo: stereo on the Middlebury Motorcycle pair -> metrics, figure, point cloud and its picture.

    python scripts/demo.py [--out outputs/demo] [--weights PSMNET.tar] [--scale 0.5]

The pair and its ground truth ship with scikit-image (``skimage.data.stereo_motorcycle``, a
quarter-size Middlebury 2014 image, so the demo runs offline). The backbone is OpenCV's SGBM,
or PSMNet when ``--weights`` / ``$STEREO_TV_PSMNET`` names a checkpoint. Writes into ``--out``:
``figure.png`` (left image, disparities, D1 error maps, metrics), ``metrics.json``,
``pointcloud.ply`` and ``pointcloud.png`` (open3d render, or the numpy fallback).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.metrics import stereo_metrics
from stereo_tv.models.classical import SGBMBackbone
from stereo_tv.predict import WEIGHTS_ENV, predict_disparity
from stereo_tv.refine import RefinedStereo, load_head
from stereo_tv.viz.camera import StereoCamera
from stereo_tv.viz.figure import save_figure, stereo_figure
from stereo_tv.viz.pointcloud import View, save_pointcloud

# Calibration of the scikit-image pair (its docstring): pixels, baseline in metres.
MOTORCYCLE = StereoCamera(f=994.978, cx=311.193, cy=254.877, baseline=0.193001, doffs=31.086)
SHOWN = ("epe", "d1", "bad2")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="outputs/demo", help="output folder")
    p.add_argument("--weights", default=None,
                   help=f"PSMNet checkpoint (default ${WEIGHTS_ENV}; none: OpenCV SGBM)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"], help="PSMNet device")
    p.add_argument("--scale", type=float, default=1.0, help="downscale the pair (e.g. 0.25)")
    p.add_argument("--max-depth", type=float, default=None, help="point cloud clip (metres)")
    p.add_argument("--renderer", default="auto", choices=["auto", "open3d", "numpy"])
    p.add_argument("--head", default=None,
                   help="TV head: shipped name or .pt path (default: the one trained for the "
                        "backbone); 'none' shows the backbone alone")
    return p


def default_head(backbone_name: str) -> str:
    """The shipped head trained for the demo's backbone."""
    return "sgbm_tv24_extra_guided" if backbone_name == "SGBM" else "psmnet_tv24_extra"


def load_pair(scale: float):
    """Left, right (uint8 RGB), ground truth (NaN = none) and camera, resized by ``scale``."""
    from skimage.data import stereo_motorcycle

    left, right, gt = stereo_motorcycle()
    gt = np.where(np.isfinite(gt), gt, np.nan).astype(np.float32)
    if scale != 1.0:
        size = (round(left.shape[1] * scale), round(left.shape[0] * scale))
        left, right = (cv2.resize(im, size, interpolation=cv2.INTER_AREA) for im in (left, right))
        gt = cv2.resize(gt, size, interpolation=cv2.INTER_NEAREST) * scale
    return left, right, gt, MOTORCYCLE.scaled(scale)


def build_backbone(args):
    weights = args.weights or os.environ.get(WEIGHTS_ENV)
    if not weights:
        maxdisp = max(16, int(np.ceil(72 * args.scale / 16)) * 16)  # gt reaches 60 px at 1.0
        return SGBMBackbone(maxdisp=maxdisp, block_size=5), "SGBM"
    from stereo_tv.models import PSMNet

    model = PSMNet.from_checkpoint(weights, maxdisp=192)
    return model.to(pick_device(args.device)), f"PSMNet ({Path(weights).name})"


def main(args: argparse.Namespace) -> int:
    if args.scale <= 0 or args.scale > 1:
        raise UserError(f"--scale must be in (0, 1], got {args.scale}")
    out = Path(args.out)
    left, right, gt, camera = load_pair(args.scale)
    valid = np.isfinite(gt)
    backbone, name = build_backbone(args)
    results = {"raw": predict_disparity(backbone, left, right)}

    if args.head != "none":
        head = load_head(args.head or default_head(name))
        refined = RefinedStereo(backbone, head, freeze_backbone=True).eval()
        start = time.perf_counter()
        results["refined"] = predict_disparity(refined, left, right)
        print(f"TV head {args.head or default_head(name)} ({head.iters} iterations, "
              f"{sum(p.numel() for p in head.parameters())} parameters): backbone + head "
              f"{time.perf_counter() - start:.2f} s")

    metrics = {k: {m: v for m, v in stereo_metrics(d, np.nan_to_num(gt), valid).items()
                   if m in SHOWN} for k, d in results.items()}
    print(f"Motorcycle {left.shape[1]}x{left.shape[0]}, backbone {name}")
    for k, m in metrics.items():
        print(f"  {k:8s} " + "  ".join(f"{key} {val:6.2f}" for key, val in m.items()))
    fig = stereo_figure(left, results, gt=gt, valid=valid, metrics=metrics,
                        title=f"Middlebury Motorcycle, {name}")
    save_figure(fig, out / "figure.png")
    final = results.get("refined", results["raw"])
    info = save_pointcloud(final, left, camera, out / "pointcloud.ply", out / "pointcloud.png",
                           max_depth=args.max_depth, view=View(), backend=args.renderer)
    note = f" ({info['renderer_note']})" if info["renderer_note"] else ""
    print(f"wrote {out / 'figure.png'}, {info['points']} points to {info['ply']}, "
          f"{info['render']} with the {info['renderer']} renderer{note}")
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps({"backbone": name, "scale": args.scale, **metrics}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
