"""Two CPU processes under torchrun (gloo): one checkpoint, identical parameters on both ranks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from _engine_tiny import REPO, SMOKE

from stereo_tv.train import load_checkpoint

TINY = Path(__file__).with_name("_engine_tiny.py")


def test_torchrun_two_processes_gloo(tmp_path):
    run_dir = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(TINY), "--config", str(SMOKE), "--run-dir", str(run_dir), "--epochs", "2",
           "--save-params"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["best.pt", "last.pt"]
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert state["step"] == 4  # 24 samples / (2 ranks x batch 6) = 2 steps per epoch
    rank0 = torch.load(run_dir / "params_rank0.pt")
    rank1 = torch.load(run_dir / "params_rank1.pt")
    for key, value in state["model"].items():
        assert torch.equal(rank0[key], value) and torch.equal(rank1[key], value), key
    lines = [json.loads(t) for t in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines if r["event"] == "train"] == [1, 2]  # rank 0 logs alone
