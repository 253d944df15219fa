"""PSMNet forward time and peak memory on a KITTI-size frame, on CPU (and CUDA if present).

    python benchmarks/stereo_speed.py [--weights CKPT] [--sizes 375x1242,256x512]
                                      [--maxdisp 192] [--repeats 1] [--threads N]

Each (device, size) runs in a fresh subprocess so that its peak resident set size (RSS) is its
own. Printed per row: padded input size, median forward seconds (``predict_disparity``: padding,
normalization, ``torch.inference_mode``), peak RSS of the process, the RSS before the forward
(torch + weights), CUDA peak allocation, and the estimate used by the memory guard. Without
weights (``--weights`` or ``$STEREO_TV_PSMNET``) a random PSMNet is timed: same cost.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

from stereo_tv.cli import UserError, run_cli
from stereo_tv.models import PSMNet, psmnet_memory_bytes
from stereo_tv.predict import WEIGHTS_ENV, predict_disparity


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", default=None, help=f"checkpoint (default ${WEIGHTS_ENV})")
    p.add_argument("--sizes", default="375x1242", help="comma-separated HxW list")
    p.add_argument("--maxdisp", type=int, default=192)
    p.add_argument("--repeats", type=int, default=1, help="timed forwards per row (median)")
    p.add_argument("--devices", default=None, help="cpu,cuda (default: cpu, plus cuda if present)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--json", default=None, help="also write the rows as JSON")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"bad size {text!r}; use HxW, e.g. 375x1242") from None
    return h, w


def run_worker(args: argparse.Namespace) -> dict:
    """One (device, size) measurement in this process."""
    device_name, size = args.worker.split(":")
    h, w = _parse_size(size)
    device = torch.device(device_name)
    weights = args.weights or os.environ.get(WEIGHTS_ENV)
    model = PSMNet.from_checkpoint(weights, args.maxdisp) if weights else \
        PSMNet(maxdisp=args.maxdisp).eval()
    model = model.to(device)
    rng = np.random.default_rng(0)
    left = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    right = np.roll(left, -8, axis=1)
    rss_before = _rss_mb()
    if device.type == "cuda":
        predict_disparity(model, left, right)  # warm-up: cuDNN autotuning, allocator
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        predict_disparity(model, left, right)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    hp, wp = h + (-h) % 16, w + (-w) % 16
    return {
        "device": device_name, "size": f"{h}x{w}", "padded": f"{hp}x{wp}",
        "maxdisp": args.maxdisp, "weights": bool(weights), "threads": torch.get_num_threads(),
        "seconds": statistics.median(times), "peak_rss_mb": _rss_mb(),
        "rss_before_mb": rss_before,
        "cuda_peak_mb": torch.cuda.max_memory_allocated(device) / 2**20
        if device.type == "cuda" else None,
        "estimate_mb": psmnet_memory_bytes(hp, wp, args.maxdisp) / 2**20,
    }


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.worker:
        print(json.dumps(run_worker(args)))
        return 0
    devices = args.devices.split(",") if args.devices else \
        ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        _parse_size(size)
    rows = []
    for device in devices:
        for size in sizes:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", f"{device}:{size}",
                   "--maxdisp", str(args.maxdisp), "--repeats", str(args.repeats)]
            if args.weights:
                cmd += ["--weights", args.weights]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
                print(f"{device} {size}: failed: {tail[0]}", file=sys.stderr)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    head = (f"{'device':<6} {'input':>9} {'padded':>9} {'D':>4} {'thr':>3} {'seconds':>8} "
            f"{'peak RSS MB':>11} {'RSS before':>10} {'CUDA peak MB':>12} {'estimate MB':>11}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['device']:<6} {r['size']:>9} {r['padded']:>9} {r['maxdisp']:>4} "
              f"{r['threads']:>3} {r['seconds']:>8.2f} {r['peak_rss_mb']:>11.0f} "
              f"{r['rss_before_mb']:>10.0f} {_fmt(r['cuda_peak_mb'], '12.0f'):>12} "
              f"{r['estimate_mb']:>11.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(run_cli(main, get_args_parser()))
