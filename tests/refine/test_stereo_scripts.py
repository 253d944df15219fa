"""finetune_kitti.py / train_sceneflow.py on fake data trees (real file names), in-process."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import load_script

from stereo_tv.cli import run_cli
from stereo_tv.io import write_kitti_disp, write_pfm
from stereo_tv.refine import load_head

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "configs" / "stereo" / "smoke.yaml"


def _script(name: str):
    return load_script(REPO / "scripts" / f"{name}.py")


def _pair(h: int, w: int, shift: int, seed: int):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (h, w + shift, 3), dtype=np.uint8), (3, 3), 0)
    return np.ascontiguousarray(base[:, shift:]), np.ascontiguousarray(base[:, :w])


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


@pytest.fixture
def fake_kitti2015(tmp_path) -> Path:
    """training/{image_2,image_3,disp_occ_0,disp_noc_0}/{000000,000001,000160}_10.png, 72x136."""
    root = tmp_path / "kitti2015"
    for i, name in enumerate(("000000_10", "000001_10", "000160_10")):
        left, right = _pair(72, 136, shift=4 + i, seed=i)
        _write(root / "training" / "image_2" / f"{name}.png", left)
        _write(root / "training" / "image_3" / f"{name}.png", right)
        disp = np.full((72, 136), 4.0 + i, np.float32)
        disp[:8] = 0.0                                       # no ground truth at the top
        for sub in ("disp_occ_0", "disp_noc_0"):
            (root / "training" / sub).mkdir(parents=True, exist_ok=True)
            write_kitti_disp(root / "training" / sub / f"{name}.png", disp)
    return root


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_smoke_config_trains_two_steps_checkpoints_and_resumes(fake_kitti2015, tmp_path):
    script = _script("finetune_kitti")
    run = tmp_path / "run"
    argv = ["--config", str(SMOKE), "--data", str(fake_kitti2015), "--run-dir", str(run)]
    assert run_cli(script.main, script.get_args_parser(), argv) == 0
    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 1 and ckpt["step"] == 2
    assert any(k.startswith("refine.game.") for k in ckpt["model"])
    assert (run / "config.yaml").is_file() and any((run / "tb").iterdir())
    val = [r for r in _records(run) if r["event"] == "val"][-1]
    assert {"kitti2015/d1", "kitti2015/bad3", "kitti2015/raw_epe"} <= set(val)

    head = tmp_path / "head.pt"
    argv += ["--epochs", "2", "--resume", "--export-head", str(head)]
    assert run_cli(script.main, script.get_args_parser(), argv) == 0
    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["step"] == 4
    assert load_head(head).config["iters"] == 4


def test_cached_route_trains_the_head_alone(fake_kitti2015, tmp_path, capsys):
    script = _script("finetune_kitti")
    run, cache = tmp_path / "run", tmp_path / "cache"
    argv = ["--config", str(SMOKE), "--data", str(fake_kitti2015), "--run-dir", str(run),
            "--backbone", "sgbm", "--freeze-backbone", "--cache-dir", str(cache)]
    assert run_cli(script.main, script.get_args_parser(), argv) == 0
    files = sorted(cache.rglob("*.pt"))
    assert len(files) == 3 and files[0].parent.name.startswith("sgbm-")
    entry = torch.load(files[0], weights_only=True)
    assert entry["disp"].shape == (72, 136) and entry["conf"].shape == (72, 136)
    ckpt = torch.load(run / "checkpoints" / "last.pt", map_location="cpu", weights_only=True)
    assert all(k.startswith(("game.", "log_conf")) for k in ckpt["model"])   # the head only
    stamp = [f.stat().st_mtime_ns for f in files]
    run2 = tmp_path / "run2"
    argv[argv.index(str(run))] = str(run2)
    argv += ["--train-split", "all", "--holdout", "000160_10"]              # leave one out
    assert run_cli(script.main, script.get_args_parser(), argv) == 0
    assert [f.stat().st_mtime_ns for f in files] == stamp                    # cache reused
    assert "4 training samples" in capsys.readouterr().out                 # 2 frames x 2


def test_frame_list_and_sceneflow_recipe(tmp_path):
    """A YAML frame list mixing a SceneFlow tree and a single frame; gt >= maxdisp is masked."""
    sf = tmp_path / "flyingthings3d"
    for seq, frame in (("TRAIN/A/0000", "0006"), ("TEST/A/0000", "0007")):
        left, right = _pair(64, 128, shift=3, seed=1)
        _write(sf / "frames_cleanpass" / seq / "left" / f"{frame}.png", left)
        _write(sf / "frames_cleanpass" / seq / "right" / f"{frame}.png", right)
        disp = np.full((64, 128), 3.0, np.float32)
        disp[:, :10] = 500.0                                  # beyond maxdisp: ignored
        (sf / "disparity" / seq / "left").mkdir(parents=True, exist_ok=True)
        write_pfm(sf / "disparity" / seq / "left" / f"{frame}.pfm", disp)
    frames = tmp_path / "frames.yaml"
    frames.write_text(
        "- {dataset: sceneflow, root: flyingthings3d, frames: [TRAIN/A/0000/0006]}\n"
        "- {name: single, left: flyingthings3d/frames_cleanpass/TEST/A/0000/left/0007.png,\n"
        "   right: flyingthings3d/frames_cleanpass/TEST/A/0000/right/0007.png,\n"
        "   disp: flyingthings3d/disparity/TEST/A/0000/left/0007.pfm}\n")
    script = _script("train_sceneflow")
    run = tmp_path / "run"
    argv = ["--config", str(SMOKE), "--dataset", "list", "--data", str(frames),
            "--run-dir", str(run), "--best-metric", "list/epe"]
    assert run_cli(script.main, script.get_args_parser(), argv) == 0
    val = [r for r in _records(run) if r["event"] == "val"][-1]
    assert val["list/epe"] < 16                                # the 500 px pixels do not count


def test_bad_options_are_one_line_errors(fake_kitti2015, tmp_path, capsys, monkeypatch):
    script = _script("finetune_kitti")
    base = ["--config", str(SMOKE), "--run-dir", str(tmp_path / "r")]
    assert run_cli(script.main, script.get_args_parser(), [*base, "--data", str(
        fake_kitti2015), "--cache-dir", str(tmp_path)]) == 2
    assert "--cache-dir needs --freeze-backbone" in capsys.readouterr().err
    assert run_cli(script.main, script.get_args_parser(), base) == 2
    assert "--data is required" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {dataset: kitti2015, root: nowhere, colour: red}\n")
    assert run_cli(script.main, script.get_args_parser(),
                   [*base, "--dataset", "list", "--data", str(bad)]) == 2
    assert "unknown keys ['colour']" in capsys.readouterr().err
    # a bad engine option fails before the backbone is built and any run directory is made
    def slow_set_up(*args, **kwargs):
        raise AssertionError("the backbone was built before the options were checked")

    monkeypatch.setattr("stereo_tv.stereo_train.build_backbone", slow_set_up)
    assert run_cli(script.main, script.get_args_parser(),
                   [*base, "--data", str(fake_kitti2015), "--ema", "1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --ema must be in [0, 1) (0 = off), got 1.0"
    assert not (tmp_path / "r").exists()
