"""Fixtures for the stereo tests: a random-weight PSMNet checkpoint and fake image pairs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import run_script as run_repo_script

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory) -> Path:
    """An official-format checkpoint ({"state_dict": {"module.*"}}) of a random PSMNet."""
    from thirdparty.psmnet import PSMNetStackHourglass

    torch.manual_seed(0)
    net = PSMNetStackHourglass(maxdisp=192)
    path = tmp_path_factory.mktemp("ckpt") / "random_psmnet.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def make_pair(height: int, width: int, shift: int = 4, seed: int = 0):
    """A textured uint8 RGB pair with constant disparity ``shift``: right(x) = left(x + shift)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width + shift, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (3, 3), 0)
    return np.ascontiguousarray(base[:, :width]), np.ascontiguousarray(base[:, shift:])


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def run_script(script: str, *args: str, env_extra: dict | None = None, timeout: int = 600):
    """Run ``scripts/<script>`` in a subprocess (two threads); returns the CompletedProcess."""
    return run_repo_script(Path("scripts") / script, *args, env_extra=env_extra,
                           timeout=timeout, threads=2)
