"""Disparity of one rectified stereo pair with PSMNet (optionally refined by the TV head).

    python scripts/predict.py --left L.png --right R.png [--weights CKPT] [--out DIR]
                              [--device cpu|cuda] [--max-size N] [--tv-iters N]

Writes ``<name>_disp.npy`` (float32 pixels), ``<name>_disp.png`` (16-bit KITTI format, value =
disparity * 256) and ``<name>_disp_color.png`` into ``--out`` and prints the timing. The weights
come from ``--weights`` or ``$STEREO_TV_PSMNET``. Bad input gives one ``error: ...`` line on
stderr, exit status 2, and no output file.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np
import torch

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.io import read_image, write_image, write_kitti_disp
from stereo_tv.predict import (
    WEIGHTS_ENV,
    as_rgb_pair,
    check_pair_size,
    load_stereo_model,
    predict_disparity,
    resolve_weights,
)
from stereo_tv.viz.pointcloud import add_camera_args


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--left", required=True, help="left image (PNG/JPEG ...)")
    p.add_argument("--right", required=True, help="right image, same size")
    p.add_argument("--weights", default=None,
                   help=f"PSMNet checkpoint (default: ${WEIGHTS_ENV})")
    p.add_argument("--out", default="outputs/predict", help="output folder")
    p.add_argument("--name", default=None, help="output file stem (default: left file stem)")
    p.add_argument("--device", default=None, choices=["cpu", "cuda"],
                   help="default: cuda when available, else cpu")
    p.add_argument("--maxdisp", type=int, default=192, help="disparity levels (multiple of 16)")
    p.add_argument("--max-size", type=int, default=None,
                   help="downscale so the longer side is at most N pixels, then rescale")
    p.add_argument("--tv-iters", type=int, default=0,
                   help="refine with N iterations of the TV head (0: backbone only)")
    p.add_argument("--head", default=None,
                   help="TV head file or shipped name (default with --tv-iters N: the shipped "
                        "PSMNet head with N iterations)")
    p.add_argument("--confidence", action="store_true",
                   help="also write <name>_conf.npy (max softmax probability)")
    p.add_argument("--vmax", type=float, default=None, help="colour-map range (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--pointcloud", default=None, help="also write a coloured point cloud (.ply)")
    p.add_argument("--render", default=None, help="with --pointcloud: a PNG picture of it")
    p.add_argument("--max-depth", type=float, default=None, help="point-cloud depth clip")
    add_camera_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    from stereo_tv.viz.colormap import disparity_to_color

    if args.pointcloud and not args.pointcloud.lower().endswith(".ply"):
        raise UserError(f"--pointcloud must end in .ply, got {args.pointcloud}")
    if args.render and not args.pointcloud:
        raise UserError("--render needs --pointcloud")
    if args.pointcloud and not (args.calib or args.focal or args.q):
        raise UserError("--pointcloud needs a camera: --calib FILE, --focal F --baseline B, "
                        "or --q Q.npy")
    if args.threads:
        torch.set_num_threads(args.threads)
    left, right = as_rgb_pair(read_image(args.left), read_image(args.right))
    weights = resolve_weights(args.weights)
    device = pick_device(args.device)
    model = load_stereo_model(weights, maxdisp=args.maxdisp, tv_iters=args.tv_iters,
                              refine=args.head)
    h, w = left.shape[:2]
    if args.max_size is None or max(h, w) <= args.max_size:
        check_pair_size(model, h, w)
    model = model.to(device)

    start = time.perf_counter()
    out = predict_disparity(model, left, right, max_size=args.max_size,
                            return_confidence=args.confidence)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    disp, conf = out if args.confidence else (out, None)
    color = disparity_to_color(disp, vmax=args.vmax)

    out_dir = Path(args.out)
    stem = args.name or Path(args.left).stem
    paths = {"npy": out_dir / f"{stem}_disp.npy", "png": out_dir / f"{stem}_disp.png",
             "color": out_dir / f"{stem}_disp_color.png"}
    if conf is not None:
        paths["conf"] = out_dir / f"{stem}_conf.npy"
    with contextlib.ExitStack() as stack:
        tmp = {k: stack.enter_context(atomic_path(p)) for k, p in paths.items()}
        np.save(tmp["npy"], disp)
        write_kitti_disp(tmp["png"], disp)
        write_image(tmp["color"], color)
        if conf is not None:
            np.save(tmp["conf"], conf)
    print(f"disparity {w}x{h}: {disp.min():.2f} to {disp.max():.2f} px, "
          f"{seconds:.2f} s on {device} ({type(model).__name__}, maxdisp {args.maxdisp})")
    for path in paths.values():
        print(f"wrote {path}")
    if args.pointcloud:
        _write_pointcloud(args, disp, left)
    return 0


def _write_pointcloud(args: argparse.Namespace, disp: np.ndarray, left: np.ndarray) -> None:
    from stereo_tv.viz.pointcloud import camera_from_args, save_pointcloud

    try:
        camera = camera_from_args(args, disp.shape)
        info = save_pointcloud(disp, left, camera, args.pointcloud, args.render,
                               max_depth=args.max_depth)
    except (ValueError, RuntimeError) as exc:
        raise UserError(f"point cloud: {exc}") from None
    print(f"wrote {info['points']} points to {info['ply']}")
    if info["render"]:
        print(f"rendered {info['render']} with the {info['renderer']} renderer")


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
