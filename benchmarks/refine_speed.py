"""Speed and accuracy of the TV refinement head next to its backbone.

    # speed: head time / peak memory at 12 and 24 iterations vs PSMNet on a KITTI-size frame
    python benchmarks/refine_speed.py --weights ../shared/weights/psmnet_kitti2015.tar \
        [--left ../shared/data/kitti2015/testing/image_2/000000_10.png] [--threads 1]
    # accuracy: every frame of a frame list, bare backbone vs shipped heads (cached backbone)
    python benchmarks/refine_speed.py --table --frames configs/stereo/shared_frames.yaml \
        --weights ../shared/weights/psmnet_kitti2015.tar --cache-dir cache/stereo \
        --heads psmnet_tv12 psmnet_tv24 psmnet_tv24_extra psmnet_tv24_extra_guided

Speed: the backbone runs once on the pair (``stereo_tv.predict.predict_tensor``, padded to a
multiple of 16); each head runs ``--repeats`` times on the backbone's ``(1, 1, H, W)`` output
and the median is kept. Peak memory is the growth of the resident set while
running one head forward (inference) or forward + backward (training), sampled from
``/proc/self/statm`` on CPU, or ``torch.cuda.max_memory_allocated`` on CUDA.

Table: the backbone's outputs come from the cache of ``scripts/finetune_kitti.py`` (the same
key, computed here when missing). Seconds are the backbone's time recorded in the cache plus
the head's time measured here. Pixels with ground truth at or above ``--maxdisp`` are ignored
(SceneFlow protocol; no other frame has such pixels).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import threading
import time
from pathlib import Path

import torch

from stereo_tv.cli import UserError, atomic_path, pick_device, run_cli
from stereo_tv.config import shared_root
from stereo_tv.data import StereoDataset
from stereo_tv.data.transforms import image_to_tensor
from stereo_tv.io import read_image
from stereo_tv.metrics import mean_metrics, stereo_metrics
from stereo_tv.predict import as_rgb_pair, predict_tensor
from stereo_tv.refine import TVRefine, load_head, read_head
from stereo_tv.stereo_train import backbone_cache_key, build_backbone, build_cache, read_frame_list

HEADS = {
    "TV 12 (gd)": dict(iters=12, method="gd"),
    "TV 24 (gd)": dict(iters=24, method="gd"),
    "TV 24 extra": dict(iters=24, method="extragrad"),
    "TV 24 extra guided": dict(iters=24, method="extragrad", guided=True),
    "TV 24 extra guided+conf": dict(iters=24, method="extragrad", guided=True,
                                    confidence=True),
}
COLUMNS = ("epe", "d1", "bad3", "seconds")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", action="store_true", help="accuracy table instead of speed")
    p.add_argument("--backbone", default="psmnet", choices=["psmnet", "timm", "sgbm"])
    p.add_argument("--weights", default=None, help="backbone checkpoint")
    p.add_argument("--maxdisp", type=int, default=192)
    p.add_argument("--left", default=str(shared_root() / "data" / "kitti2015" / "testing" /
                                         "image_2" / "000000_10.png"),
                   help="speed: left image of the pair (a KITTI 2015 frame, 1242x375)")
    p.add_argument("--right", default=None, help="speed: right image (default: image_3)")
    p.add_argument("--repeats", type=int, default=5, help="speed: head runs (median)")
    p.add_argument("--no-memory", action="store_true", help="speed: skip the memory probes")
    p.add_argument("--frames", default="configs/stereo/shared_frames.yaml",
                   help="table: frame list (YAML, see stereo_tv.stereo_train)")
    p.add_argument("--cache-dir", default="cache/stereo", help="table: backbone output cache")
    p.add_argument("--heads", nargs="*", default=[], help="table: head names or files")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--json", default=None, help="write the results here")
    return p


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_head(head: torch.nn.Module, disp, image, conf, repeats: int) -> float:
    """Median seconds of ``head(disp, image=, confidence=)`` under ``inference_mode``."""
    times = []
    with torch.inference_mode():
        head(disp, image=image, confidence=conf)                      # warm-up
        for _ in range(repeats):
            _sync(disp.device)
            start = time.perf_counter()
            head(disp, image=image, confidence=conf)
            _sync(disp.device)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _fixed_mmap_threshold() -> None:
    """Make glibc mmap every block >= 128 KiB and unmap it on free (no dynamic threshold), so
    the resident set follows the live tensors."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)   # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass


def peak_rss_growth(fn, interval: float = 2e-4) -> int:
    """Peak growth (bytes) of the resident set while ``fn()`` runs, sampled by a thread from
    ``/proc/self/statm`` (Linux; tensors of 128 KiB or more are mmapped, see
    :func:`_fixed_mmap_threshold`)."""
    _fixed_mmap_threshold()
    stop, peak = threading.Event(), [0]
    base = _rss()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        stop.set()
        thread.join()
    return max(peak[0], _rss()) - base


def head_memory(cfg: dict, size: tuple[int, int], train: bool, device: torch.device) -> int:
    """Peak extra memory (bytes) of one head forward (+ backward when ``train``): CUDA's
    ``max_memory_allocated``, or the resident-set growth on CPU (:func:`peak_rss_growth`)."""
    head = TVRefine(**cfg).to(device)
    h, w = size
    disp = 5 + 40 * torch.rand(1, 1, h, w, device=device)
    image, conf = torch.randn(1, 3, h, w, device=device), torch.rand(1, 1, h, w, device=device)

    def run():
        with torch.inference_mode(not train):
            out = head(disp, image=image, confidence=conf)
            if train:
                out.mean().backward()
        _sync(device)

    if device.type != "cuda":
        if not Path("/proc/self/statm").is_file():
            return -1
        return peak_rss_growth(run)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    run()
    return torch.cuda.max_memory_allocated(device) - base


def speed(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    right = args.right or args.left.replace("image_2", "image_3")
    left_img, right_img = as_rgb_pair(read_image(args.left), read_image(right))
    left = image_to_tensor(left_img)[None].to(device)
    right_t = image_to_tensor(right_img)[None].to(device)
    h, w = left.shape[-2:]
    backbone = build_backbone(args.backbone, args.weights, args.maxdisp).to(device).eval()
    print(f"{args.backbone} on {w}x{h} ({Path(args.left).name}), {torch.get_num_threads()} "
          f"thread(s), {device}", flush=True)
    _sync(device)
    start = time.perf_counter()
    disp, conf = predict_tensor(backbone, left, right_t, return_confidence=True)
    _sync(device)
    backbone_s = time.perf_counter() - start
    print(f"backbone: {backbone_s:.2f} s", flush=True)
    rows = []
    for label, cfg in HEADS.items():
        head = TVRefine(**cfg).to(device)
        seconds = time_head(head, disp, left, conf, args.repeats)
        row = {"head": label, "params": sum(p.numel() for p in head.parameters()),
               "seconds": seconds, "percent_of_backbone": 100 * seconds / backbone_s}
        if not args.no_memory:
            row["infer_mib"] = head_memory(cfg, (h, w), False, device) / 2**20
            row["train_mib"] = head_memory(cfg, (h, w), True, device) / 2**20
        rows.append(row)
        mem = (f", peak +{row['infer_mib']:.0f} MiB inference, +{row['train_mib']:.0f} MiB "
               f"forward+backward" if "infer_mib" in row else "")
        print(f"{label:26s} {row['params']:4d} params  {seconds:7.3f} s  "
              f"{row['percent_of_backbone']:5.2f} % of the backbone{mem}", flush=True)
    return {"device": str(device), "threads": torch.get_num_threads(), "size": [h, w],
            "backbone": args.backbone, "backbone_seconds": backbone_s, "heads": rows}


def _label(name: str) -> str:
    cfg = read_head(name)["config"]
    extra = " extra" if cfg["method"] == "extragrad" else " (gd)"
    flags = "".join(f" {k}" for k in ("guided", "confidence") if cfg.get(k))
    return f"TV {cfg['iters']}{extra}{flags}"


def table(args: argparse.Namespace) -> dict:
    frames = StereoDataset(read_frame_list(args.frames))
    backbone = build_backbone(args.backbone, args.weights, args.maxdisp).eval()
    key = backbone_cache_key(backbone, args.backbone, args.weights, args.maxdisp)
    cache = build_cache(backbone, frames, args.cache_dir, key, confidence=True)
    heads = {_label(h): load_head(h) for h in args.heads}
    rows: dict[str, list[dict]] = {args.backbone: [], **{label: [] for label in heads}}
    for i, path in enumerate(cache):
        sample = frames.load(i)
        entry = torch.load(path, map_location="cpu", weights_only=True)
        disp, conf = entry["disp"][None, None], entry["conf"][None, None]
        gt = torch.from_numpy(sample["disp"])
        valid = torch.from_numpy(sample["valid"]) & (gt < args.maxdisp)
        left = image_to_tensor(sample["left"])[None]
        rows[args.backbone].append({"name": sample["name"], **stereo_metrics(disp[0, 0], gt,
                                                                            valid),
                                    "seconds": entry["seconds"]})
        for label, head in heads.items():
            with torch.inference_mode():
                start = time.perf_counter()
                out = head(disp, image=left, confidence=conf)
                seconds = time.perf_counter() - start
            rows[label].append({"name": sample["name"], **stereo_metrics(out[0, 0], gt, valid),
                                "seconds": entry["seconds"] + seconds, "head_seconds": seconds})
    print(f"{'model':28s} {'frame':30s}" + "".join(f"{c:>9s}" for c in COLUMNS))
    means = {}
    for label, frame_rows in rows.items():
        for r in frame_rows:
            print(f"{label:28s} {r['name']:30s}" + "".join(f"{r[c]:9.3f}" for c in COLUMNS))
        means[label] = mean_metrics([{c: r[c] for c in (*COLUMNS, "bad1", "bad2")}
                                     for r in frame_rows])
    print(f"\nmean over {len(cache)} frames (each frame weighs the same)")
    print(f"{'model':28s}" + "".join(f"{c:>9s}" for c in COLUMNS))
    for label, m in means.items():
        print(f"{label:28s}" + "".join(f"{m[c]:9.3f}" for c in COLUMNS))
    return {"frames": args.frames, "backbone": args.backbone, "rows": rows, "mean": means}


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.table and not args.heads:
        raise UserError("--table needs --heads (names from stereo_tv.refine.shipped_heads())")
    result = table(args) if args.table else speed(args)
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(result, indent=2, default=lambda v: None if (
                isinstance(v, float) and math.isnan(v)) else str(v)) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
