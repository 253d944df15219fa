"""CUDA-only paths: mixed precision. Skips cleanly on machines without a GPU."""

from __future__ import annotations

import json

import pytest
import torch
from _engine_tiny import run_inprocess

from stereo_tv.train import load_checkpoint

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_mixed_precision_trains_and_resumes(tmp_path, amp):
    run_dir = tmp_path / amp
    assert run_inprocess(run_dir, "--device", "cuda", "--amp", amp, "--epochs", "2") == 0
    assert run_inprocess(run_dir, "--device", "cuda", "--amp", amp, "--epochs", "3",
                         "--resume") == 0
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["epoch"] == 3 and "cuda" in state["rng"][0]
    assert bool(state["scaler"]) == (amp == "fp16")  # GradScaler only for fp16
    losses = [json.loads(t)["train/loss"] for t in (run_dir / "metrics.jsonl").read_text()
              .splitlines() if json.loads(t)["event"] == "train"]
    assert len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))
